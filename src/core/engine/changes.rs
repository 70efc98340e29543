//! What changed for the read view: the engine remembers which agents and queues changed since
//! the runtime last asked ([`Engine::take_changes`]), so publishing a view after a batch costs
//! the changes, not the floor.
//!
//! Every mutation of an agent goes through `agent_mut` or `sync_index`, and of a queue through
//! `queue_mut` or `restaff`, which mark it; the property tests check that a view kept by
//! applying the changes equals one built from scratch after every step.

use super::*;

/// Changed agent keys and queue slots, each once; the ids of those that went.
#[derive(Debug, Default)]
pub(super) struct Changed {
    pub agents: Vec<AgentKey>,
    pub queues: Vec<usize>,
    pub gone_agents: HashMap<AgentKey, Arc<str>>,
    pub gone_queues: HashMap<usize, Arc<str>>,
}

/// One agent as it is now, or gone.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentChange {
    /// The engine's key for the agent: stable for the agent's life, never reused.
    pub key: u32,
    pub id: Arc<str>,
    /// `None`: the agent was removed.
    pub view: Option<AgentView>,
}

/// What changed since the last [`Engine::take_changes`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub agents: Vec<AgentChange>,
    /// Queues by name, as they are now; `None`: deleted.
    pub queues: Vec<(Arc<str>, Option<QueueSnapshot>)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty() && self.queues.is_empty()
    }
}

impl Engine {
    /// The agents and queues changed since the last call, as they are now.
    pub fn take_changes(&mut self) -> Changes {
        let mut out = Changes::default();
        for key in std::mem::take(&mut self.changed.agents) {
            let change = match self.agents[key as usize].as_mut() {
                Some(agent) => {
                    agent.dirty = false;
                    let id = agent.spec.id.clone();
                    AgentChange {
                        key,
                        id,
                        view: Some(self.view_of(key)),
                    }
                }
                None => match self.changed.gone_agents.remove(&key) {
                    Some(id) => AgentChange {
                        key,
                        id,
                        view: None,
                    },
                    None => continue,
                },
            };
            out.agents.push(change);
        }
        for slot in std::mem::take(&mut self.changed.queues) {
            match self.queues[slot].as_mut() {
                Some(queue) => {
                    queue.dirty = false;
                    out.queues
                        .push((queue.config.name.clone(), Some(self.queue_snapshot(slot))));
                }
                None => {
                    if let Some(name) = self.changed.gone_queues.remove(&slot) {
                        out.queues.push((name, None));
                    }
                }
            }
        }
        out
    }

    /// An agent is removed (its key is never used again): the view forgets it.
    pub(super) fn changed_gone_agent(&mut self, key: AgentKey, id: Arc<str>, was_dirty: bool) {
        if !was_dirty {
            self.changed.agents.push(key);
        }
        self.changed.gone_agents.insert(key, id);
    }

    /// A queue is deleted (its slot is never used again): the view forgets it.
    pub(super) fn changed_gone_queue(&mut self, slot: usize, name: Arc<str>, was_dirty: bool) {
        if !was_dirty {
            self.changed.queues.push(slot);
        }
        self.changed.gone_queues.insert(slot, name);
    }

    /// Everything, as changes: what a read view starts from.
    pub fn all_changes(&mut self) -> Changes {
        for (key, agent) in self.agents.iter_mut().enumerate() {
            if let Some(agent) = agent
                && !agent.dirty
            {
                agent.dirty = true;
                self.changed.agents.push(key as AgentKey);
            }
        }
        for (slot, queue) in self.queues.iter_mut().enumerate() {
            if let Some(queue) = queue
                && !queue.dirty
            {
                queue.dirty = true;
                self.changed.queues.push(slot);
            }
        }
        self.take_changes()
    }
}
