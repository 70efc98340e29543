//! Matching: a waiting contact finds an agent, a freed agent finds contacts; offers are made,
//! ended and released, and contacts enter and leave the waiting index.

use super::*;

impl Engine {
    /// A waiting contact looks for the best eligible agent; offers it if one fits.
    pub(super) fn route_contact(&mut self, id: ContactId, trigger: Trigger) {
        let now = self.now;
        let Some(contact) = self.contacts.get(&id) else {
            return;
        };
        if contact.state != ContactState::Waiting {
            return;
        }
        let Some(slot) = self.queue_ids.get(&*contact.queue).copied() else {
            return;
        };
        let strategy = &self.queues[slot].as_ref().expect("queue present").strategy;
        let facts = contact_facts(contact);
        let mut found = [(0 as AgentKey, 0f64); CANDIDATE_WINDOW];
        let mut n = 0;
        let mut considered = 0u32;
        let agents = &self.agents;
        self.available
            .visit_candidates(&contact.requirements, |key| {
                considered += 1;
                let Some(agent) = agents[key as usize].as_ref() else {
                    return ControlFlow::Continue(());
                };
                if !agent.has_room(contact.channel, contact.cost)
                    || !agent.meets(&contact.requirements)
                    || contact.excluded.contains(&key)
                {
                    return ControlFlow::Continue(());
                }
                found[n] = (key, strategy.agent_score(&agent_facts(agent), &facts, now));
                n += 1;
                if n == CANDIDATE_WINDOW {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
        if n == 0 {
            return;
        }
        // Stable: equal scores keep index order (longest idle, then agent id).
        found[..n].sort_by(|a, b| b.1.total_cmp(&a.1));
        let strategy_name = strategy.name();
        let candidates = found[..n]
            .iter()
            .map(|&(key, score)| {
                let agent = self.agent(key);
                Candidate {
                    agent: agent.spec.id.clone(),
                    score,
                    idle_ms: now.saturating_sub(agent.idle_since),
                }
            })
            .collect();
        self.offer(
            id,
            found[0].0,
            trigger,
            strategy_name,
            candidates,
            considered,
        );
    }

    /// An agent with room takes the best waiting contacts it can serve, while any fits.
    pub(super) fn route_agent(&mut self, key: AgentKey, trigger: Trigger) {
        let now = self.now;
        loop {
            let Some(agent) = self.agents.get(key as usize).and_then(Option::as_ref) else {
                return;
            };
            if agent.indexed_at.is_none() {
                return;
            }
            let mut best: Option<(f64, ContactId, usize)> = None;
            let mut considered = 0u32;
            for group in self.waiting.groups() {
                let cost = self.config.costs.cost(group.channel);
                if !agent.has_room(group.channel, cost) || !agent.meets(&group.requirements) {
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
                let score = queue.strategy.contact_score(&contact_facts(contact), now);
                if best.is_none_or(|(s, id, _)| score > s || (score == s && contact.id < id)) {
                    best = Some((score, contact.id, group.queue));
                }
            }
            let Some((_, id, slot)) = best else { return };
            let strategy = &self.queues[slot].as_ref().expect("queue present").strategy;
            let score = strategy.agent_score(
                &agent_facts(agent),
                &contact_facts(&self.contacts[&id]),
                now,
            );
            let candidates = vec![Candidate {
                agent: agent.spec.id.clone(),
                score,
                idle_ms: now.saturating_sub(agent.idle_since),
            }];
            let strategy_name = strategy.name();
            self.offer(id, key, trigger, strategy_name, candidates, considered);
        }
    }

    /// Reserves a waiting contact for an agent until the queue's offer timeout.
    pub(super) fn offer(
        &mut self,
        id: ContactId,
        key: AgentKey,
        trigger: Trigger,
        strategy: &'static str,
        candidates: Vec<Candidate>,
        considered: u32,
    ) {
        let now = self.now;
        self.remove_waiting(id);
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_mut().expect("queue present");
        queue.offered_now += 1;
        let deadline = now + queue.config.offer_timeout_secs as u64 * 1000;
        let timer = self.add_timer(deadline, Timer::OfferExpiry(id));
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        let agent_name = agent.spec.id.clone();
        let contact = self.contacts.get_mut(&id).expect("live contact");
        agent.load += contact.cost;
        agent.per_channel[contact.channel.index()] += 1;
        agent.offers.push(id);
        agent.idle_since = now;
        contact.state = ContactState::Offered {
            agent: agent_name.clone(),
            deadline,
        };
        contact.agent_key = Some(key);
        contact.offer_timer = Some(timer);
        let decision = Decision {
            contact: id,
            agent: agent_name,
            queue: contact.queue.clone(),
            strategy,
            trigger,
            waited_ms: now.saturating_sub(contact.enqueued_at),
            candidates,
            considered,
            offer_deadline: deadline,
            channel: contact.channel,
            priority: contact.priority,
        };
        self.sync_index(key);
        self.emit(EventBody::Decision(decision));
    }

    /// Ends an offer without acceptance; the contact goes back to its place in the queue (or
    /// expires, if its maximum wait passed meanwhile). Gives true if it is waiting again.
    pub(super) fn end_offer(&mut self, id: ContactId, how: OfferEnd) -> bool {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return false;
        };
        let ContactState::Offered { agent: name, .. } = &contact.state else {
            return false;
        };
        let name = name.clone();
        let Some(key) = contact.agent_key else {
            return false;
        };
        if let Some(timer) = contact.offer_timer.take() {
            self.timers.remove(&timer);
        }
        // An agent who declined or ignored the offer is never offered this contact again; one
        // who merely left (not ready, offline, removed) may be, once back.
        if matches!(how, OfferEnd::Rejected | OfferEnd::TimedOut) {
            contact.excluded.push(key);
        }
        let queue = contact.queue.clone();
        self.release(id);
        let slot = self.queue_slot(id);
        self.queues[slot]
            .as_mut()
            .expect("queue present")
            .offered_now -= 1;
        self.emit(match how {
            OfferEnd::Rejected => EventBody::OfferRejected {
                contact: id,
                agent: name,
                queue,
            },
            OfferEnd::TimedOut => EventBody::OfferTimedOut {
                contact: id,
                agent: name,
                queue,
            },
            OfferEnd::Returned(reason) => EventBody::OfferReturned {
                contact: id,
                agent: name,
                queue,
                reason,
            },
        });
        let contact = self.contact_mut(id);
        if contact.wait_expired {
            self.expire(id);
            return false;
        }
        contact.state = ContactState::Waiting;
        self.add_waiting(id);
        true
    }

    /// Takes a contact off its agent (offer or assignment), freeing the capacity.
    pub(super) fn release(&mut self, id: ContactId) {
        let contact = self.contacts.get_mut(&id).expect("live contact");
        let Some(key) = contact.agent_key.take() else {
            return;
        };
        let (cost, channel) = (contact.cost, contact.channel);
        let agent = self.agent_mut(key);
        agent.load -= cost;
        agent.per_channel[channel.index()] -= 1;
        agent.offers.retain(|c| *c != id);
        agent.assigned.retain(|c| *c != id);
        self.sync_index(key);
    }

    /// Moves a contact to its terminal state and into the history.
    pub(super) fn end_contact(&mut self, id: ContactId, terminal: ContactState) -> ContactView {
        let now = self.now;
        if self.contacts[&id].state == ContactState::Waiting {
            self.remove_waiting(id);
        }
        let holder = self.contacts[&id].state.agent().cloned();
        self.release(id);
        let slot = self.queue_slot(id);
        self.queues[slot].as_mut().expect("queue present").live -= 1;
        let mut contact = self.contacts.remove(&id).expect("live contact");
        for timer in [contact.offer_timer.take(), contact.wait_timer.take()]
            .into_iter()
            .flatten()
        {
            self.timers.remove(&timer);
        }
        contact.state = terminal;
        let mut view = contact.view();
        view.ended_at = Some(now);
        self.ended.insert(id, view.clone());
        while self.ended.len() > self.config.ended_history {
            self.ended.pop_first();
        }
        self.emit(EventBody::ContactEnded {
            contact: view.clone(),
            agent: holder,
        });
        view
    }

    pub(super) fn add_waiting(&mut self, id: ContactId) {
        let contact = self.contacts.get_mut(&id).expect("live contact");
        let slot = *self
            .queue_ids
            .get(&*contact.queue)
            .expect("queue of live contact");
        let group = self.waiting.insert(
            slot,
            contact.channel,
            &contact.requirements,
            (Reverse(contact.priority), id),
        );
        contact.group = Some(group);
        let priority = contact.priority;
        let queue = self.queues[slot].as_mut().expect("queue present");
        *queue.waiting_by_priority.entry(priority).or_default() += 1;
        queue.waiting.insert(id);
    }

    pub(super) fn remove_waiting(&mut self, id: ContactId) {
        let contact = self.contacts.get_mut(&id).expect("live contact");
        let Some(group) = contact.group.take() else {
            return;
        };
        let priority = contact.priority;
        self.waiting.remove(group, (Reverse(priority), id));
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_mut().expect("queue present");
        if let Some(n) = queue.waiting_by_priority.get_mut(&priority) {
            *n -= 1;
            if *n == 0 {
                queue.waiting_by_priority.remove(&priority);
            }
        }
        queue.waiting.remove(&id);
    }
}

pub(super) fn agent_facts(agent: &Agent) -> AgentFacts {
    AgentFacts {
        idle_since: agent.idle_since,
        load: agent.load,
        capacity: agent.capacity,
        handled: agent.handled,
    }
}

pub(super) fn contact_facts(contact: &Contact) -> ContactFacts {
    ContactFacts {
        sequence: contact.id,
        enqueued_at: contact.enqueued_at,
        priority: contact.priority,
        customer_value: contact.customer_value,
        channel: contact.channel,
    }
}
