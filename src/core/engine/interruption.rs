//! Interruptible work (Genesys "interruptible", Salesforce's primary and interruptible
//! capacity): a channel may be declared interruptible by others (`[routing] interruptible`,
//! default: email by voice and video). An agent whose only work is such contacts may be offered
//! a contact of an interrupting channel although it has no room for it; once the agent accepts,
//! the interrupted contacts are **paused** (their handle clock stops) until the interrupting
//! contact leaves the agent.
//!
//! **What may exceed what.** An agent may be *interrupted* — offered a contact `c` that does not
//! fit its room — only when it is ready, not wrapping up, not already interrupted, holds no
//! ringing offer, consult or external work, and holds at least one accepted contact, each of a
//! channel interruptible by `c`'s; `c` alone must fit its capacity and `c`'s channel limit. Then,
//! and only then, `load` may exceed `capacity`, by the cost of the interrupted contacts: `load −
//! (their costs) = c.cost ≤ capacity`. An interrupted agent takes nothing else until `c` leaves
//! it (it is out of the available index, counted as full).
//!
//! **Order.** Interruption is the last resort: a contact first looks for an agent with room (the
//! usual search); only when none fits does it look among the interruptible agents (the best
//! score by its queue's strategy, then the longest idle). An agent freed into an interruptible
//! state (it accepts an email and has no room left) looks at the waiting contacts it could be
//! interrupted by, as an agent with room does.
//!
//! **Pausing.** At the interrupting contact's accept, each contact the agent holds is paused
//! (`paused_since`); when the interrupting contact leaves the agent (completed, transferred,
//! returned, cancelled), each is resumed and its pause added to `paused_ms`. A contact completed
//! without a handle time of its own counts `answered → completed − paused` as handled.
//!
//! Cost: interruptible agents are kept in a set maintained with the agent index; a contact that
//! finds no agent with room scores every interruptible agent (linear in the set), and an agent
//! scans its own held contacts (bounded by its capacity) at each change.

use super::*;

impl Engine {
    /// Whether the channels of `channel` interrupt work of `work`.
    fn interrupts(&self, channel: Channel, work: Channel) -> bool {
        self.config
            .interruptible
            .get(&work)
            .is_some_and(|by| by.contains(&channel))
    }

    /// Whether the agent's state allows an interruption by some channel: ready, not wrapping
    /// up or interrupted, holding no offer, consult or external work, and at least one accepted
    /// contact, each of an interruptible channel.
    pub(super) fn could_be_interrupted(&self, agent: &Agent) -> bool {
        agent.presence == Presence::Ready
            && agent.wrap_up_until.is_none()
            && agent.interrupted_by.is_none()
            && agent.offers.is_empty()
            && agent.consults.is_empty()
            && agent.external.is_empty()
            && !agent.assigned.is_empty()
            && agent.assigned.iter().all(|id| {
                self.contacts
                    .get(id)
                    .is_some_and(|c| self.config.interruptible.contains_key(&c.channel))
            })
    }

    /// Whether a contact of `channel` costing `cost` may interrupt the agent's work.
    pub(super) fn may_interrupt(&self, agent: &Agent, channel: Channel, cost: u32) -> bool {
        cost <= agent.capacity
            && agent.per_channel[channel.index()] < agent.limits[channel.index()]
            && self.could_be_interrupted(agent)
            && agent
                .assigned
                .iter()
                .all(|id| self.interrupts(channel, self.contacts[id].channel))
    }

    /// Whether the agent may be offered a contact of `channel` costing `cost` now: with room
    /// while available, or by interrupting its work.
    pub(super) fn fits(&self, agent: &Agent, channel: Channel, cost: u32) -> bool {
        (agent.indexed_at.is_some() && agent.has_room(channel, cost))
            || (!self.interruptible_agents.is_empty() && self.may_interrupt(agent, channel, cost))
    }

    /// Keeps the agent's place in the interruptible set in step with its state.
    pub(super) fn sync_interruptible(&mut self, key: AgentKey) {
        let could = self
            .agents
            .get(key as usize)
            .and_then(Option::as_ref)
            .is_some_and(|a| self.could_be_interrupted(a));
        if could {
            self.interruptible_agents.insert(key);
        } else {
            self.interruptible_agents.remove(&key);
        }
    }

    /// The interruptible agent a waiting contact goes to when nobody has room: the best score
    /// by its queue's strategy, then the longest idle, then the lowest id; with its terms,
    /// score and requirement set.
    pub(super) fn find_interruptible(
        &self,
        id: ContactId,
        strategy: &Strategy,
        held: &[AgentKey],
    ) -> Option<(AgentKey, AgentTerms, f64, u32)> {
        let contact = &self.contacts[&id];
        let mut best: Option<(AgentKey, AgentTerms, f64, u32)> = None;
        for &key in &self.interruptible_agents {
            let agent = self.agent(key);
            if contact.excluded.contains(&key)
                || held.contains(&key)
                || agent.meets_one_of(contact.sets()).is_none()
                || !self.may_interrupt(agent, contact.channel, contact.cost)
            {
                continue;
            }
            let (terms, score, set) = self.best_terms(key, agent, contact, strategy);
            let better = best.as_ref().is_none_or(|(k, _, s, _)| {
                let other = self.agent(*k);
                score > *s
                    || (score == *s
                        && (agent.idle_since, &*agent.spec.id)
                            < (other.idle_since, &*other.spec.id))
            });
            if better {
                best = Some((key, terms, score, set));
            }
        }
        best
    }

    /// The interrupting contact was accepted: every other contact its agent holds pauses.
    pub(super) fn pause_interrupted(&mut self, key: AgentKey, by: ContactId) {
        let now = self.now;
        let held: Vec<ContactId> = self.agent(key).assigned.clone();
        for id in held.into_iter().filter(|id| *id != by) {
            let contact = self.contact_mut(id);
            if contact.paused_since.is_none() {
                contact.paused_since = Some(now);
            }
        }
    }

    /// The interrupting contact left its agent: the agent is no longer interrupted, and its
    /// paused contacts resume.
    pub(super) fn end_interruption(&mut self, key: AgentKey) {
        let now = self.now;
        let agent = self.agent_mut(key);
        agent.interrupted_by = None;
        let held = agent.assigned.clone();
        for id in held {
            let contact = self.contact_mut(id);
            if let Some(since) = contact.paused_since.take() {
                contact.paused_ms += now.saturating_sub(since);
            }
        }
    }
}
