//! Read-only views of the engine: agents, contacts, queues and their live figures.

use super::*;

impl Engine {
    pub fn agent_view(&self, id: &str) -> Option<AgentView> {
        let key = *self.agent_ids.get(id)?;
        Some(self.agent(key).view())
    }

    /// Every agent, ordered by id.
    pub fn agent_views(&self) -> Vec<AgentView> {
        let mut views: Vec<AgentView> = self.agents.iter().flatten().map(Agent::view).collect();
        views.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        views
    }

    pub fn agent_count(&self) -> usize {
        self.agent_ids.len()
    }

    /// A live contact, or an ended one still in the history.
    pub fn contact_view(&self, id: ContactId) -> Option<ContactView> {
        match self.contacts.get(&id) {
            Some(c) => Some(c.view()),
            None => self.ended.get(&id).cloned(),
        }
    }

    pub fn queue_config(&self, name: &str) -> Option<QueueConfig> {
        let slot = *self.queue_ids.get(name)?;
        self.queues[slot].as_ref().map(|q| q.config.clone())
    }

    /// Every queue's configuration, ordered by name.
    pub fn queue_configs(&self) -> Vec<QueueConfig> {
        let mut configs: Vec<QueueConfig> = self
            .queues
            .iter()
            .flatten()
            .map(|q| q.config.clone())
            .collect();
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        configs
    }

    pub fn waiting_count(&self) -> usize {
        self.queues.iter().flatten().map(|q| q.waiting.len()).sum()
    }

    /// Every queue's live figures, ordered by queue name. Counting agents per queue walks the
    /// floor once per queue: a supervisor query, not a routing path.
    pub fn queue_snapshots(&self) -> Vec<QueueSnapshot> {
        let now = self.now;
        let mut out: Vec<QueueSnapshot> = self
            .queues
            .iter()
            .flatten()
            .map(|q| {
                let (mut ready, mut busy, mut not_ready, mut wrap) = (0, 0, 0, 0);
                for agent in self.agents.iter().flatten() {
                    if agent.presence == Presence::Offline || !agent.meets(&q.requirements) {
                        continue;
                    }
                    if agent.load > 0 {
                        busy += 1;
                    } else if matches!(agent.presence, Presence::NotReady(_)) {
                        not_ready += 1;
                    } else if agent.wrap_up_until.is_some() {
                        wrap += 1;
                    } else {
                        ready += 1;
                    }
                }
                let longest_wait_ms = q
                    .waiting
                    .first()
                    .and_then(|id| self.contacts.get(id))
                    .map_or(0, |c| now.saturating_sub(c.enqueued_at));
                QueueSnapshot {
                    config: q.config.clone(),
                    waiting: q.waiting.len() as u32,
                    offered_now: q.offered_now,
                    longest_wait_ms,
                    agents_ready: ready,
                    agents_busy: busy,
                    agents_not_ready: not_ready,
                    agents_wrap_up: wrap,
                    counters: q.counters.clone(),
                    service_level: q.counters.service_level(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.config.name.cmp(&b.config.name));
        out
    }
}
