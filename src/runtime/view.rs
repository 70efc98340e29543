//! Read views: what the engine publishes after each batch — queue figures and agent states — so
//! every read RPC (and, later, every HTTP endpoint) reads a view, never the engine.
//!
//! The engine thread keeps a [`FloorView`] up to date from the engine's changes
//! ([`crate::core::Engine::take_changes`]: only the agents and queues a batch touched) and hands
//! each batch's view to the batch's release, which publishes it once the batch is durable, in
//! order — so a view never shows what a restart could take back, and a caller that got its reply
//! reads a view that includes its change. Readers take the current view with one atomic load and
//! keep it as long as they like; the writer never waits for them.
//!
//! Cost: persistent collections (`imbl`), so a new view shares everything that did not change:
//! O(changed agents and queues × log n) per batch, O(1) per reader. Figures that run with time
//! (longest wait, occupancy) are kept as their starting points and computed at read time.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::core::{AgentView, Changes, CoreError, Millis, PresenceView, QueueSnapshot, SkillLevel};

/// Largest page [`FloorView::list_agents`] gives.
pub const MAX_PAGE: usize = 1_000;

/// Which agents to list, and from where.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentQuery {
    /// Continue after this agent id (the previous page's last).
    pub after: Option<String>,
    /// Agents per page, 1 to [`MAX_PAGE`].
    pub limit: usize,
    /// Only agents in one of these presences (empty: any).
    pub presences: Vec<PresenceKind>,
    /// Only agents whose skills meet this queue's required skills.
    pub queue: Option<String>,
    /// Only agents holding this skill at this level or above.
    pub skill: Option<SkillLevel>,
}

/// A presence, without its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceKind {
    Offline,
    Ready,
    NotReady,
    WrapUp,
}

impl PresenceKind {
    fn of(presence: &PresenceView) -> PresenceKind {
        match presence {
            PresenceView::Offline => PresenceKind::Offline,
            PresenceView::Ready => PresenceKind::Ready,
            PresenceView::NotReady(_) => PresenceKind::NotReady,
            PresenceView::WrapUp => PresenceKind::WrapUp,
        }
    }
}

/// One page of agents, and the id to continue after if there may be more.
#[derive(Clone, Debug)]
pub struct AgentPage {
    pub agents: Vec<Arc<AgentView>>,
    pub next_after: Option<Arc<str>>,
}

/// Every requirement met at its level, by skill name.
fn meets(skills: &[SkillLevel], required: &[SkillLevel]) -> bool {
    required.iter().all(|r| {
        skills
            .iter()
            .any(|s| s.skill == r.skill && s.level >= r.level)
    })
}

/// The floor as of one durable batch.
#[derive(Clone, Debug, Default)]
pub struct FloorView {
    /// Engine time at the end of the batch.
    pub at: Millis,
    /// The sequence number of the last event published with (or before) this view.
    pub last_sequence: u64,
    /// Logged-in agents, and of those ready (not busy, not in wrap-up).
    pub logged_in: u32,
    pub ready: u32,
    queues: imbl::OrdMap<Arc<str>, Arc<QueueSnapshot>>,
    /// By the engine's agent key (keys are dense and never reused).
    agents: imbl::Vector<Option<Arc<AgentView>>>,
    /// Agent id → key: the order agents are listed in.
    ids: imbl::OrdMap<Arc<str>, u32>,
}

impl FloorView {
    pub fn agent(&self, id: &str) -> Option<&Arc<AgentView>> {
        let key = *self.ids.get(id)?;
        self.agents.get(key as usize)?.as_ref()
    }

    /// Agents in id order, from just after `after` (from the first when `None`).
    pub fn agents_after<'a>(
        &'a self,
        after: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<AgentView>> + 'a {
        use std::ops::Bound;
        let start: Bound<&str> = match after {
            Some(id) => Bound::Excluded(id),
            None => Bound::Unbounded,
        };
        self.ids
            .range::<(Bound<&str>, Bound<&str>), str>((start, Bound::Unbounded))
            .filter_map(|(_, key)| self.agents.get(*key as usize)?.as_ref())
    }

    /// A page of agents in id order, filtered. A filter that matches few agents may walk far
    /// to fill a page; that is the reader's time, never the engine's.
    pub fn list_agents(&self, query: &AgentQuery) -> Result<AgentPage, CoreError> {
        let required = match &query.queue {
            Some(name) => Some(
                &self
                    .queue(name)
                    .ok_or_else(|| CoreError::UnknownQueue {
                        queue: name.clone(),
                    })?
                    .config
                    .required_skills,
            ),
            None => None,
        };
        let wanted = |a: &AgentView| {
            (query.presences.is_empty() || query.presences.contains(&PresenceKind::of(&a.presence)))
                && required.is_none_or(|r| meets(&a.spec.skills, r))
                && query
                    .skill
                    .as_ref()
                    .is_none_or(|s| meets(&a.spec.skills, std::slice::from_ref(s)))
        };
        let limit = query.limit.clamp(1, MAX_PAGE);
        let mut agents = Vec::with_capacity(limit.min(self.agent_count()));
        let mut walked = self.agents_after(query.after.as_deref());
        for agent in walked.by_ref() {
            if wanted(agent) {
                agents.push(agent.clone());
                if agents.len() == limit {
                    break;
                }
            }
        }
        let more = agents.len() == limit && walked.any(|a| wanted(a));
        let next_after = more
            .then(|| agents.last().map(|a| a.spec.id.clone()))
            .flatten();
        Ok(AgentPage { agents, next_after })
    }

    pub fn agent_count(&self) -> usize {
        self.ids.len()
    }

    pub fn queue(&self, name: &str) -> Option<&Arc<QueueSnapshot>> {
        self.queues.get(name)
    }

    /// Every queue, by name.
    pub fn queues(&self) -> impl Iterator<Item = &Arc<QueueSnapshot>> {
        self.queues.values()
    }

    /// The view after `changes`.
    pub fn apply(&mut self, changes: Changes) {
        for change in changes.agents {
            let key = change.key as usize;
            match change.view {
                Some(view) => {
                    while self.agents.len() <= key {
                        self.agents.push_back(None);
                    }
                    self.agents.set(key, Some(Arc::new(view)));
                    self.ids.insert(change.id, change.key);
                }
                None => {
                    if key < self.agents.len() {
                        self.agents.set(key, None);
                    }
                    self.ids.remove(&change.id);
                }
            }
        }
        for (name, queue) in changes.queues {
            match queue {
                Some(queue) => {
                    self.queues.insert(name, Arc::new(queue));
                }
                None => {
                    self.queues.remove(&name);
                }
            }
        }
    }
}

/// The published view: swapped in by each release, read by everyone.
pub struct Views {
    current: ArcSwap<FloorView>,
}

impl Views {
    pub fn new(first: FloorView) -> Views {
        Views {
            current: ArcSwap::from_pointee(first),
        }
    }

    pub fn current(&self) -> Arc<FloorView> {
        self.current.load_full()
    }

    pub(super) fn publish(&self, view: Arc<FloorView>) {
        self.current.store(view);
    }
}
