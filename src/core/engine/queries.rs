//! Read-only views of the engine: agents, contacts, queues and their live figures.

use super::*;
use crate::core::ewt::WaitEstimator;
use crate::core::stats::OccupancyTotals;

impl Engine {
    pub fn agent_view(&self, id: &str) -> Option<AgentView> {
        let key = *self.agent_ids.get(id)?;
        Some(self.view_of(key))
    }

    /// An agent's occupancy clock up to now and the contacts it has handled, without building a
    /// whole view: what a report that samples the floor often (the simulator's intervals) needs.
    pub fn agent_clock(&self, id: &str) -> Option<(OccupancyTotals, u64)> {
        let key = *self.agent_ids.get(id)?;
        let agent = self.agent(key);
        Some((agent.occupancy.totals(self.now), agent.handled))
    }

    /// Every agent, ordered by id.
    pub fn agent_views(&self) -> Vec<AgentView> {
        let mut views: Vec<AgentView> = (0..self.agents.len() as AgentKey)
            .filter(|&key| self.agents[key as usize].is_some())
            .map(|key| self.view_of(key))
            .collect();
        views.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        views
    }

    /// Agents that are not offline or have a desktop session attached, in creation order.
    pub fn logged_in_agents(&self) -> Vec<String> {
        self.agents
            .iter()
            .flatten()
            .filter(|a| a.presence != Presence::Offline || a.session_attached)
            .map(|a| a.spec.id.to_string())
            .collect()
    }

    pub fn agent_count(&self) -> usize {
        self.agent_ids.len()
    }

    /// A live contact, or an ended one still in the history.
    pub fn contact_view(&self, id: ContactId) -> Option<ContactView> {
        match self.contacts.get(&id) {
            Some(c) => Some(c.view()),
            None => self.ended.get(&id).map(|v| (**v).clone()),
        }
    }

    /// Whom a live contact prefers, if anyone (an ended contact: `None`). O(preferred agents).
    pub fn preference_of(&self, id: ContactId) -> Option<Preference> {
        let contact = self.contacts.get(&id)?;
        if contact.preferred.is_empty() {
            return None;
        }
        let agents = contact
            .preferred
            .iter()
            .filter_map(|&(key, score)| {
                let agent = self.agents.get(key as usize)?.as_ref()?;
                Some(PreferredAgent {
                    agent: agent.spec.id.to_string(),
                    score: u32::from(score),
                })
            })
            .collect();
        let waiting = contact.state == ContactState::Waiting;
        Some(Preference {
            agents,
            until: if waiting && contact.held_for_preferred(self.now) {
                contact.affinity_until
            } else {
                0
            },
            recalled: contact.recalled,
        })
    }

    /// A waiting contact's 1-based position in its queue (higher priority first, then enqueue
    /// order) and its estimated wait under the queue's estimator (for the rest of its wait, as
    /// for a newcomer at that place). Walks the older contacts of its queue: a frontend query.
    pub fn queue_position(&self, id: ContactId) -> Option<(u32, Option<u64>)> {
        let (queue, position) = self.position_of(id)?;
        let estimator = queue.strategy.wait_estimator;
        Some((position, self.wait_estimate(queue, estimator, position)))
    }

    /// A waiting contact's position and its estimated wait under every estimator, in
    /// [`WaitEstimator::ALL`] order (the simulator scores them all).
    pub fn wait_estimates(&self, id: ContactId) -> Option<(u32, [Option<u64>; 4])> {
        let (queue, position) = self.position_of(id)?;
        let estimates = WaitEstimator::ALL.map(|e| self.wait_estimate(queue, e, position));
        Some((position, estimates))
    }

    /// The estimate of `estimator` for a contact at `position` in `queue`.
    pub(super) fn wait_estimate(
        &self,
        queue: &QueueState,
        estimator: WaitEstimator,
        position: u32,
    ) -> Option<u64> {
        let head_waited = queue
            .waiting
            .first()
            .map(|(queued_at, _)| self.now.saturating_sub(*queued_at));
        estimator.estimate(&queue.counters, position, head_waited, self.now)
    }

    /// A waiting contact's queue and 1-based position in it.
    fn position_of(&self, id: ContactId) -> Option<(&QueueState, u32)> {
        let contact = self.contacts.get(&id)?;
        if contact.state != ContactState::Waiting || contact.held_until > 0 {
            return None;
        }
        let slot = *self.queue_ids.get(&*contact.queue)?;
        let queue = self.queues[slot].as_ref()?;
        Some((
            queue,
            self.place_of(queue, contact.priority, (contact.queued_at, id)),
        ))
    }

    /// The 1-based place in `queue` of a contact of `priority` that entered it at `(queued_at,
    /// id)`: after every waiting contact of higher priority, and those of its own priority that
    /// entered before it. O(priorities + older contacts of the queue).
    pub(super) fn place_of(
        &self,
        queue: &QueueState,
        priority: u32,
        at: (Millis, ContactId),
    ) -> u32 {
        let ahead: u32 = queue
            .waiting_by_priority
            .range(priority.saturating_add(1)..)
            .map(|(_, n)| *n)
            .sum();
        let level = queue
            .waiting
            .range(..at)
            .filter(|(_, older)| {
                self.contacts
                    .get(older)
                    .is_some_and(|c| c.priority == priority)
            })
            .count() as u32;
        ahead + level + 1
    }

    /// A queue's counters since it was created, and its contacts not yet answered (waiting or
    /// being offered), without the staffing pass of [`Engine::queue_snapshots`].
    pub fn queue_counters(&self, name: &str) -> Option<(&QueueCounters, u32)> {
        let slot = *self.queue_ids.get(name)?;
        let queue = self.queues[slot].as_ref()?;
        Some((
            &queue.counters,
            queue.waiting.len() as u32 + queue.offered_now,
        ))
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

    /// Logged-in agents (not offline) and, of those, agents ready (not busy, not wrapping up).
    pub fn presence_counts(&self) -> (u32, u32) {
        let floor = &self.staffed_on_floor;
        (floor.iter().sum(), floor[StaffState::Ready as usize])
    }

    /// Every queue's live figures, ordered by queue name. O(queues): staffing is counted as
    /// agents change (see the `staffing` module).
    pub fn queue_snapshots(&self) -> Vec<QueueSnapshot> {
        let mut out: Vec<QueueSnapshot> = self
            .queues
            .iter()
            .enumerate()
            .filter(|(_, q)| q.is_some())
            .map(|(slot, _)| self.queue_snapshot(slot))
            .collect();
        out.sort_by(|a, b| a.config.name.cmp(&b.config.name));
        out
    }

    /// The live figures of the queue in `slot`.
    pub(super) fn queue_snapshot(&self, slot: usize) -> QueueSnapshot {
        let q = self.queues[slot].as_ref().expect("queue present");
        let oldest_enqueued_at = q.waiting.first().map(|(queued_at, _)| *queued_at);
        QueueSnapshot {
            config: q.config.clone(),
            waiting: q.waiting.len() as u32,
            offered_now: q.offered_now,
            oldest_enqueued_at,
            agents_ready: q.staffing[StaffState::Ready as usize],
            agents_busy: q.staffing[StaffState::Busy as usize],
            agents_not_ready: q.staffing[StaffState::NotReady as usize],
            agents_wrap_up: q.staffing[StaffState::WrapUp as usize],
            counters: q.counters.clone(),
            service_level: q.counters.service_level(),
            recent: q.rolling_sl,
            intervals: q.intervals.clone(),
        }
    }
}
