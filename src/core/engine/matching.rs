//! Matching: a waiting contact finds an agent, a freed agent finds contacts, and contacts enter
//! and leave the waiting index. Making, ending and releasing offers is in [`super::lifecycle`].
//!
//! Agent side: the best eligible agent on the whole floor, without walking it (see
//! [`super::search`]); within the strategy's `band` of the best, the longest idle wins.
//!
//! Contact side: the agent looks at the head of each group of waiting contacts it can serve
//! (heads are each group's best, see [`crate::core::strategy`]) and at contacts reserved for it.
//!
//! Alternatives: a contact may be served under its requirements or any of its alternative sets
//! (the queue's, its own, those its widen steps added): an agent is eligible when it meets one,
//! scores by the best set it meets ([`Engine::best_terms`]), and the decision names that set.
//! Waiting groups are keyed by all of a contact's sets.
//!
//! Preferred agents: a contact names agents it prefers at enqueue, with scores (the customer's
//! account manager), or else prefers the agent who handled its customer or conversation
//! recently (affinity, score 100), or the agent a transfer named. While its wait lasts (named at
//! enqueue, or the queue's `affinity_wait_secs`, or the transfer's) it is offered only to them —
//! the free one with the highest score, then the longest idle — held out of the groups under
//! each of them in `reserved`; then it is routed as any other, the strategy's `affinity` term
//! weighing `score / 100`. An agent who declines it is no longer waited for; when none is left
//! who could take it, the wait ends at once.

use super::*;

impl Engine {
    /// A waiting contact looks for the best eligible agent; offers it if one fits.
    pub(super) fn route_contact(&mut self, id: ContactId, trigger: Trigger) {
        let now = self.now;
        let Some(contact) = self.contacts.get(&id) else {
            return;
        };
        // A callback held for its time is not offered until then.
        if contact.state != ContactState::Waiting || contact.held_until > 0 {
            return;
        }
        let Some(slot) = self.queue_ids.get(&*contact.queue).copied() else {
            return;
        };
        let strategy = self.queues[slot]
            .as_ref()
            .expect("queue present")
            .strategy
            .clone();
        if contact.held_for_preferred(now) && self.route_to_preferred(id, trigger, &strategy) {
            return;
        }
        self.available.set_period(self.period(now), &self.agents);
        self.available.build(strategy.walk.order, &self.agents);
        let held = self.holds_against(slot);
        let found = self.search_agents(id, &strategy, &held);
        #[cfg(test)]
        if strategy.window == 0 {
            let chosen = found.as_ref().map(|f| f.chosen[0].0);
            assert_eq!(
                chosen,
                self.scan_floor(id, &strategy, &held),
                "the search and a scan of the floor chose differently for contact {id}"
            );
        }
        let Some(found) = found else {
            // Nobody has room: an agent whose only work is interruptible by it, if any.
            if let Some((key, terms, score, matched)) =
                self.find_interruptible(id, &strategy, &held)
            {
                let agent = self.agent(key);
                let candidates = vec![Candidate {
                    agent: agent.spec.id.clone(),
                    contact: id,
                    score,
                    idle_ms: now.saturating_sub(agent.idle_since),
                    terms: Terms::Agent(terms),
                }];
                let considered = self.interruptible_agents.len() as u32;
                let (side, excluded) = (Side::AgentChosen, Exclusions::default());
                self.offer(
                    id, key, trigger, strategy, side, candidates, considered, excluded, matched,
                );
                return;
            }
            if !held.is_empty() {
                self.arm_release(slot);
            }
            return;
        };
        let (key, matched) = (found.chosen[0].0, found.alternative);
        let considered = found.considered;
        if !self.emits_events() {
            // A quiet engine records no candidates nor exclusions: they are for the decision.
            let (side, excluded) = (Side::AgentChosen, Exclusions::default());
            self.offer(
                id,
                key,
                trigger,
                strategy,
                side,
                Vec::new(),
                considered,
                excluded,
                matched,
            );
            return;
        }
        let rarest = {
            let contact = &self.contacts[&id];
            let by_room = contact.cost == self.config.costs.cost(contact.channel);
            let channel = by_room.then_some(contact.channel);
            self.available.rarest(&contact.requirements, channel)
        };
        let unavailable = match rarest {
            None => self.unavailable_on_floor,
            Some((skill, _)) => self
                .unavailable_by_skill
                .get(skill as usize)
                .copied()
                .unwrap_or([0; Unavailable::COUNT]),
        };
        let mut excluded = found.excluded;
        excluded.not_ready = unavailable[Unavailable::NotReady as usize];
        excluded.wrap_up = unavailable[Unavailable::WrapUp as usize];
        excluded.no_capacity += unavailable[Unavailable::Full as usize];
        let candidates = found
            .chosen
            .iter()
            .map(|&(key, score, terms)| {
                let agent = self.agent(key);
                Candidate {
                    agent: agent.spec.id.clone(),
                    contact: id,
                    score,
                    idle_ms: now.saturating_sub(agent.idle_since),
                    terms: Terms::Agent(terms),
                }
            })
            .collect();
        let side = Side::AgentChosen;
        self.offer(
            id, key, trigger, strategy, side, candidates, considered, excluded, matched,
        );
    }

    /// A contact still waiting for its preferred agents: offered to the one free with the highest
    /// score (then the longest idle), else it keeps waiting (true, routing is done). If none of
    /// them can take it any more (each declined it, left, lacks the skills or the channel), the
    /// wait ends (false: route it to anyone).
    fn route_to_preferred(
        &mut self,
        id: ContactId,
        trigger: Trigger,
        strategy: &Arc<Strategy>,
    ) -> bool {
        let now = self.now;
        let contact = &self.contacts[&id];
        // Held only for agents who could take it once free: skills met, the channel allowed.
        let could = |key: AgentKey, a: &Agent| {
            !contact.excluded.contains(&key)
                && a.meets_one_of(contact.sets()).is_some()
                && a.capacity >= contact.cost
                && a.limits[contact.channel.index()] > 0
        };
        let mut waiting_for = 0;
        let mut free: Option<(u8, Millis, AgentKey)> = None;
        for &(key, score) in &contact.preferred {
            let Some(agent) = self.agents.get(key as usize).and_then(Option::as_ref) else {
                continue;
            };
            if !could(key, agent) {
                continue;
            }
            waiting_for += 1;
            if self.fits(agent, contact.channel, contact.cost)
                && free.is_none_or(|(s, idle, _)| {
                    (score, Reverse(agent.idle_since)) > (s, Reverse(idle))
                })
            {
                free = Some((score, agent.idle_since, key));
            }
        }
        if waiting_for == 0 {
            self.end_affinity_wait(id);
            return false;
        }
        if let Some((_, _, key)) = free {
            let agent = self.agent(key);
            let (terms, score, matched) = self.best_terms(key, agent, contact, strategy);
            let candidates = vec![Candidate {
                agent: agent.spec.id.clone(),
                contact: id,
                score,
                idle_ms: now.saturating_sub(agent.idle_since),
                terms: Terms::Agent(terms),
            }];
            let (side, excluded) = (Side::AgentChosen, Exclusions::default());
            let strategy = strategy.clone();
            self.offer(
                id, key, trigger, strategy, side, candidates, 1, excluded, matched,
            );
        }
        true
    }

    /// The contact stops waiting for its preferred agent (it may still score on `affinity`).
    pub(super) fn end_affinity_wait(&mut self, id: ContactId) {
        let contact = self.contact_mut(id);
        contact.affinity_until = 0;
        if let Some(timer) = contact.affinity_timer.take() {
            self.timers.remove(&timer);
        }
        if self.contacts[&id].reserved {
            self.remove_waiting(id);
            self.add_waiting(id);
        }
    }

    /// The agent's terms, score and requirement set (index in [`Contact::sets`]) for a contact:
    /// the best score over the sets the agent meets (the first set when it meets none).
    pub(super) fn best_terms(
        &self,
        key: AgentKey,
        agent: &Agent,
        contact: &Contact,
        strategy: &Strategy,
    ) -> (AgentTerms, f64, u32) {
        let mut best: Option<(AgentTerms, f64, u32)> = None;
        for (i, set) in contact.sets().enumerate() {
            if !agent.meets(set) {
                continue;
            }
            let terms = self.agent_terms(key, agent, contact, set, strategy);
            let score = strategy.agent_score(&terms);
            if best.as_ref().is_none_or(|b| score > b.1) {
                best = Some((terms, score, i as u32));
            }
        }
        best.unwrap_or_else(|| {
            let terms = self.agent_terms(key, agent, contact, &contact.requirements, strategy);
            (terms, strategy.agent_score(&terms), 0)
        })
    }

    /// The agent terms the strategy weighs for one (agent, contact) pair under the requirement
    /// set `set` (the skills `skill` and `performance` look at); the others are 0.
    pub(super) fn agent_terms(
        &self,
        key: AgentKey,
        agent: &Agent,
        contact: &Contact,
        set: &[(SkillId, u8)],
        strategy: &Strategy,
    ) -> AgentTerms {
        let now = self.now;
        let mut v = [0.0; AgentTerm::COUNT];
        let skills = || set.iter().map(|(s, _)| *s);
        for term in AgentTerm::ALL {
            if !strategy.uses(term) {
                continue;
            }
            v[term as usize] = match term {
                AgentTerm::Idle => strategy::secs(now.saturating_sub(agent.idle_since)),
                AgentTerm::SinceOffer => strategy::secs(now.saturating_sub(agent.last_offered_at)),
                AgentTerm::FreeCapacity => 1.0 - agent.load as f64 / agent.capacity.max(1) as f64,
                AgentTerm::FewestHandled => -(agent.handled_in(self.period(now)) as f64),
                AgentTerm::Skill => skills()
                    .map(|s| agent.level_of(s).unwrap_or(0) as f64)
                    .sum(),
                AgentTerm::Specialist => 1.0 / agent.skills.len().max(1) as f64,
                AgentTerm::Performance => agent.performance.for_skills(skills()),
                AgentTerm::Affinity => f64::from(contact.preference_for(key).unwrap_or(0)) / 100.0,
            };
        }
        AgentTerms(v)
    }

    /// The number of the `fewest-handled` period `now` falls in.
    pub(super) fn period(&self, now: Millis) -> u64 {
        now / (self.config.period_secs.max(1) as u64 * 1000)
    }

    /// An agent with room takes the best waiting contacts it can serve, while any fits:
    /// contacts held for it first, then the best group head.
    pub(super) fn route_agent(&mut self, key: AgentKey, trigger: Trigger) {
        let now = self.now;
        loop {
            let Some(agent) = self.agents.get(key as usize).and_then(Option::as_ref) else {
                return;
            };
            if agent.indexed_at.is_none() && !self.interruptible_agents.contains(&key) {
                return;
            }
            if self.offer_reserved(key, trigger) {
                continue;
            }
            let kept = self.kept_for(key);
            let (top, n, considered, held) = self.best_heads(key, &kept);
            for slot in held {
                self.arm_release(slot);
            }
            if n == 0 {
                return;
            }
            let agent = self.agent(key);
            // A quiet engine records no candidates (nor works out their service-level risks).
            let n = if self.emits_events() {
                n.min(CANDIDATES_RECORDED)
            } else {
                0
            };
            let strategy = self.queues[top[0].2]
                .as_ref()
                .expect("queue present")
                .strategy
                .clone();
            let candidates = top[..n]
                .iter()
                .map(|&(score, id, slot)| {
                    let c = &self.contacts[&id];
                    let queue = self.queues[slot].as_ref().expect("queue present");
                    let risk = if queue.strategy.uses_contact(ContactTerm::SlRisk) {
                        self.sl_risk(slot)
                    } else {
                        0.0
                    };
                    Candidate {
                        agent: agent.spec.id.clone(),
                        contact: id,
                        score,
                        idle_ms: now.saturating_sub(agent.idle_since),
                        terms: Terms::Contact(contact_facts(c).terms(now, risk)),
                    }
                })
                .collect();
            let (id, side) = (top[0].1, Side::ContactChosen);
            let excluded = Exclusions::default();
            let matched = agent.meets_one_of(self.contacts[&id].sets()).unwrap_or(0);
            self.offer(
                id, key, trigger, strategy, side, candidates, considered, excluded, matched,
            );
        }
    }

    /// Offers the agent a contact waiting for it (affinity) that it can take, if any.
    fn offer_reserved(&mut self, key: AgentKey, trigger: Trigger) -> bool {
        let now = self.now;
        let agent = self.agent(key);
        let held = self
            .reserved
            .range((key, 0)..=(key, ContactId::MAX))
            .map(|(_, id)| &self.contacts[id])
            .find(|c| {
                self.fits(agent, c.channel, c.cost)
                    && agent.meets_one_of(c.sets()).is_some()
                    && !c.excluded.contains(&key)
            });
        if let Some(contact) = held {
            let slot = self.queue_ids[&*contact.queue];
            let strategy = self.queues[slot].as_ref().expect("queue").strategy.clone();
            let (terms, score, matched) = self.best_terms(key, agent, contact, &strategy);
            let candidates = vec![Candidate {
                agent: agent.spec.id.clone(),
                contact: contact.id,
                score,
                idle_ms: now.saturating_sub(agent.idle_since),
                terms: Terms::Agent(terms),
            }];
            let (id, side) = (contact.id, Side::AgentChosen);
            let excluded = Exclusions::default();
            self.offer(
                id, key, trigger, strategy, side, candidates, 1, excluded, matched,
            );
            return true;
        }
        false
    }

    /// The heads of the waiting groups the agent can serve, scored by their queues' contact
    /// strategies: the best `CANDIDATES_RECORDED` (score, contact, queue slot), best first; how
    /// many were found; how many heads were looked at; and the queues whose heads the agent is
    /// held from, being `kept` for a reserving queue under more pressure.
    #[allow(clippy::type_complexity)]
    fn best_heads(
        &self,
        key: AgentKey,
        kept: &[(usize, f64)],
    ) -> (
        [(f64, ContactId, usize); CANDIDATES_RECORDED],
        usize,
        u32,
        Vec<usize>,
    ) {
        let now = self.now;
        let agent = self.agent(key);
        // The best heads, best first: (score, contact, queue slot).
        let mut top: [(f64, ContactId, usize); CANDIDATES_RECORDED] =
            [(f64::NEG_INFINITY, 0, 0); CANDIDATES_RECORDED];
        let mut n = 0;
        let mut considered = 0u32;
        let mut risks = [(usize::MAX, 0.0); 8];
        let mut next_risk = 0;
        let mut held = Vec::new();
        // Groups of one queue and channel come in runs: their cost is looked up once a run.
        let mut costed: Option<(usize, Channel, u32)> = None;
        for group in self.waiting.groups() {
            let cost = match costed {
                Some((queue, channel, cost))
                    if queue == group.queue && channel == group.channel =>
                {
                    cost
                }
                _ => {
                    let cost = self.cost_in(group.queue, group.channel);
                    costed = Some((group.queue, group.channel, cost));
                    cost
                }
            };
            if !self.fits(agent, group.channel, cost) || !group.served_by(agent) {
                continue;
            }
            if held.contains(&group.queue) {
                continue;
            }
            if self.held_from(group.queue, kept) {
                held.push(group.queue);
                continue;
            }
            let queue = self.queues[group.queue].as_ref().expect("queue present");
            let head = group
                .members
                .iter()
                .map(|(_, id)| &self.contacts[id])
                .find(|c| !c.excluded.contains(&key));
            let Some(contact) = head else { continue };
            considered += 1;
            let risk = if queue.strategy.uses_contact(ContactTerm::SlRisk) {
                // One risk per queue per pass: a queue's groups share it.
                match risks.iter().find(|(q, _)| *q == group.queue) {
                    Some(&(_, risk)) => risk,
                    None => {
                        let risk = self.sl_risk(group.queue);
                        risks[next_risk % risks.len()] = (group.queue, risk);
                        next_risk += 1;
                        risk
                    }
                }
            } else {
                0.0
            };
            let entry = (
                queue.strategy.contact_score(contact.rank, now, risk),
                contact.id,
                group.queue,
            );
            let better = |a: &(f64, ContactId, usize), b: &(f64, ContactId, usize)| {
                a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
            };
            let mut i = n.min(CANDIDATES_RECORDED);
            while i > 0 && better(&entry, &top[i - 1]) {
                if i < CANDIDATES_RECORDED {
                    top[i] = top[i - 1];
                }
                i -= 1;
            }
            if i < CANDIDATES_RECORDED {
                top[i] = entry;
                n += 1;
            }
        }
        (top, n, considered, held)
    }

    /// Puts a waiting contact in its group — or, while it waits for its preferred agent, in
    /// that agent's reserved contacts — and in its queue's counts.
    pub(super) fn add_waiting(&mut self, id: ContactId) {
        let now = self.now;
        let contact = self.contacts.get_mut(&id).expect("live contact");
        if contact.held_until > 0 {
            // A held callback takes its place when its time comes (`callbacks`).
            return;
        }
        let slot = *self
            .queue_ids
            .get(&*contact.queue)
            .expect("queue of live contact");
        if contact.held_for_preferred(now) {
            for &(pref, _) in &contact.preferred {
                self.reserved.insert((pref, id));
            }
            contact.reserved = true;
        } else {
            let group = self.waiting.insert(
                slot,
                contact.channel,
                (&contact.requirements, &contact.alternatives),
                (Reverse(rank_bits(contact.rank)), id),
            );
            contact.group = Some(group);
        }
        let priority = contact.priority;
        let contact_queued_at = contact.queued_at;
        let queue = self.queue_mut(slot);
        *queue.waiting_by_priority.entry(priority).or_default() += 1;
        queue.waiting.insert((contact_queued_at, id));
    }

    /// Takes a contact out of the waiting index and its queue's counts, if it is in them.
    pub(super) fn remove_waiting(&mut self, id: ContactId) {
        let contact = self.contacts.get_mut(&id).expect("live contact");
        if contact.reserved {
            contact.reserved = false;
            for &(pref, _) in &contact.preferred {
                self.reserved.remove(&(pref, id));
            }
        } else if let Some(group) = contact.group.take() {
            self.waiting
                .remove(group, (Reverse(rank_bits(contact.rank)), id));
        } else {
            return;
        }
        let (priority, queued_at) = (self.contacts[&id].priority, self.contacts[&id].queued_at);
        let slot = self.queue_slot(id);
        let queue = self.queue_mut(slot);
        if let Some(n) = queue.waiting_by_priority.get_mut(&priority) {
            *n -= 1;
            if *n == 0 {
                queue.waiting_by_priority.remove(&priority);
            }
        }
        queue.waiting.remove(&(queued_at, id));
    }
}

pub(super) fn contact_facts(contact: &Contact) -> ContactFacts {
    ContactFacts {
        enqueued_at: contact.queued_at,
        priority: contact.priority,
        customer_value: contact.customer_value,
        new_customer: contact.new_customer,
    }
}
