//! Consult (warm) transfers: the agent holding an assigned contact (the holder) brings in another
//! agent of a queue before handing the contact over.
//!
//! The consulted agent — the one named, or else the longest-idle available agent who can serve
//! the target queue — is chosen at once (a `Decision` with `TRIGGER_CONSULT_REQUESTED`, so its
//! desktop gets an offer) and holds the contact's capacity from then on, as the holder does. It
//! rings until the target queue's offer timeout; the consulted agent accepts (they talk; the
//! contact is still the holder's) or declines. The holder then ends the consult: handing the
//! contact over (the consulted agent holds it, the holder is freed and wraps up) or keeping it
//! (the consulted agent is freed). A consult also ends when its agent declines, lets it ring
//! out, or leaves (not ready while it rings, offline, removed); the contact stays with the
//! holder. While a consult is under way the holder can neither complete nor transfer the
//! contact.
//!
//! Statistics of a handed-over contact, as for a blind transfer: the source queue answered it
//! once and counts a transfer out; the target queue counts it as entered, as a transfer in, and
//! as answered after the consult rang (its service level measures from the consult).
//!
//! Invariants (checked by [`Engine::check_invariants`]): a contact with a consult is assigned;
//! its consulted agent lists it in `consults`, is not its holder, and carries its cost in its
//! load (a consult holds capacity on both agents); a ringing consult's agent is ready and its
//! timer pending. Cost: O(1) per step, but choosing the consulted agent for a queue scans the
//! floor, O(agents) (a consult is a rare, agent-initiated step).
//! Known limits: with no agent available in the queue right now, a consult is refused
//! (`NoAgentForConsult`) rather than waiting in the queue; no conference (three parties
//! staying on) and no consult of a contact that is only offered.

use super::*;
use crate::core::contact::{Consult, Transfer};
use crate::core::events::ConsultEnd;

impl Engine {
    /// The holder starts a consult. Everything is checked before anything changes: the contact
    /// is assigned to `agent` with no consult under way, the queue exists and takes its channel,
    /// and an agent can take the consult now.
    pub(super) fn consult(
        &mut self,
        id: ContactId,
        agent: &str,
        queue: &str,
        to_agent: Option<String>,
        reason: String,
    ) -> Result<Applied, CoreError> {
        if reason.len() > 128 || reason.chars().any(char::is_control) {
            return Err(CoreError::invalid(
                "a consult reason is at most 128 bytes, without control characters",
            ));
        }
        let key = self.holder_of(id, agent)?;
        let contact = &self.contacts[&id];
        if let Some(c) = &contact.consult {
            // A repeat of the request that started it answers with the contact.
            let same = *c.queue == *queue
                && to_agent.as_deref().is_none_or(|named| *c.agent == *named)
                && *c.reason == *reason;
            if same {
                return Ok(Applied::Contact(contact.view()));
            }
            return Err(CoreError::ConsultUnderWay { contact: id });
        }
        let slot = *self
            .queue_ids
            .get(queue)
            .ok_or_else(|| CoreError::UnknownQueue {
                queue: queue.into(),
            })?;
        let target = self.queues[slot].as_ref().expect("queue present");
        if !target.config.accepts(contact.channel) {
            return Err(CoreError::invalid(format!(
                "queue {queue:?} does not accept {} contacts",
                contact.channel
            )));
        }
        let (channel, cost) = (contact.channel, contact.cost);
        let free = |k: AgentKey, a: &Agent| {
            k != key && a.is_available() && a.has_room(channel, cost) && target.served_by(&a.skills)
        };
        let consulted = match &to_agent {
            Some(name) => {
                let k = self.agent_key(name)?;
                if k == key {
                    return Err(CoreError::invalid("an agent cannot consult itself"));
                }
                free(k, self.agent(k)).then_some(k)
            }
            None => self
                .agents
                .iter()
                .enumerate()
                .filter_map(|(k, a)| a.as_ref().map(|a| (k as AgentKey, a)))
                .filter(|(k, a)| free(*k, a))
                .min_by(|(_, a), (_, b)| {
                    (a.idle_since, &a.spec.id).cmp(&(b.idle_since, &b.spec.id))
                })
                .map(|(k, _)| k),
        };
        let Some(b) = consulted else {
            return Err(CoreError::NoAgentForConsult {
                queue: queue.into(),
                agent: to_agent,
            });
        };
        // Checked: from here on nothing fails.
        let now = self.now;
        let deadline = now + target.config.offer_timeout_secs as u64 * 1000;
        let strategy = target.strategy.clone();
        let target_name = target.config.name.clone();
        let timer = self.add_timer(deadline, Timer::ConsultExpiry(id));
        let history = contacts::history_of(self, &self.contacts[&id]);
        let b_idle = now.saturating_sub(self.agent(b).idle_since);
        let consulted = self.agent_mut(b);
        consulted.load += cost;
        consulted.per_channel[channel.index()] += 1;
        consulted.consults.push(id);
        consulted.idle_since = now;
        consulted.last_offered_at = now;
        let b_name = consulted.spec.id.clone();
        let by = self.contacts[&id].state.agent().cloned().expect("assigned");
        let contact = self.contact_mut(id);
        contact.consult = Some(Arc::new(Consult {
            queue: target_name.clone(),
            by,
            agent: b_name.clone(),
            reason: reason.into(),
            started_at: now,
            deadline,
            accepted_at: None,
        }));
        contact.consult_key = Some(b);
        contact.consult_timer = Some(timer);
        let decision = Decision {
            contact: id,
            agent: b_name.clone(),
            queue: target_name,
            strategy,
            side: Side::AgentChosen,
            trigger: Trigger::ConsultRequested,
            waited_ms: 0,
            candidates: vec![Candidate {
                agent: b_name,
                contact: id,
                score: 0.0,
                idle_ms: b_idle,
                terms: Terms::Agent(strategy::AgentTerms::default()),
            }],
            considered: 1,
            excluded: Exclusions::default(),
            relaxation_step: contact.relax_step,
            alternative: 0,
            preferred_met: None,
            history,
            offer_deadline: deadline,
            channel,
            priority: contact.priority,
            exceptions: contact.exceptions.clone(),
        };
        self.sync_index(b);
        self.emit(EventBody::Decision(decision));
        Ok(Applied::Contact(self.contacts[&id].view()))
    }

    /// The key of `agent`, holding contact `id` (assigned).
    fn holder_of(&self, id: ContactId, agent: &str) -> Result<AgentKey, CoreError> {
        self.live_contact(id)?;
        let key = self.agent_key(agent)?;
        let contact = self.allow(id, lifecycle::Step::Consult)?;
        if contact.agent_key != Some(key) {
            return Err(CoreError::AssignedToAnother { contact: id });
        }
        Ok(key)
    }

    /// An answer to an offer that is a consult's: `Some` when `agent` is consulted on contact
    /// `id` (accept or decline it), `None` otherwise (an ordinary offer's answer).
    pub(super) fn consult_answer(
        &mut self,
        id: ContactId,
        agent: &str,
        accept: bool,
    ) -> Option<Result<Applied, CoreError>> {
        // Most answers are to ordinary offers: no consult, no look-up of the agent.
        let consulted = self.contacts.get(&id)?.consult_key?;
        let key = *self.agent_ids.get(agent)?;
        let contact = &self.contacts[&id];
        if consulted != key {
            return None;
        }
        let accepted = contact.consult.as_ref()?.accepted_at.is_some();
        Some(match (accept, accepted) {
            // A repeat.
            (true, true) => Ok(Applied::Contact(contact.view())),
            (true, false) => {
                let now = self.now;
                let contact = self.contact_mut(id);
                Arc::make_mut(contact.consult.as_mut().expect("a consult")).accepted_at = Some(now);
                let timer = contact.consult_timer.take();
                if let Some(timer) = timer {
                    self.timers.remove(&timer);
                }
                let view = self.contacts[&id].view();
                self.agent_mut(key).missed_in_row = 0;
                self.emit(EventBody::ConsultAccepted {
                    contact: view.clone(),
                    agent: agent.into(),
                });
                Ok(Applied::Contact(view))
            }
            (false, false) => {
                self.end_consult_leg(id, ConsultEnd::Declined);
                Ok(Applied::Contact(self.contacts[&id].view()))
            }
            // Taken already: the holder ends it.
            (false, true) => Err(CoreError::NotOffered {
                contact: id,
                state: "consulting",
            }),
        })
    }

    /// A consult rang out unanswered: its agent is let go.
    pub(super) fn consult_expired(&mut self, key: TimerKey, id: ContactId) {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return;
        };
        if contact.consult_timer != Some(key) {
            return;
        }
        contact.consult_timer = None;
        self.end_consult_leg(id, ConsultEnd::TimedOut);
    }

    /// The holder ends its consult: hands the contact over (`transfer`, once the consulted
    /// agent accepted) or keeps it.
    pub(super) fn end_consult(
        &mut self,
        id: ContactId,
        agent: &str,
        transfer: bool,
    ) -> Result<Applied, CoreError> {
        let key = self.holder_of(id, agent)?;
        let Some(consult) = self.contacts[&id].consult.as_deref() else {
            return Err(CoreError::NoConsult { contact: id });
        };
        if !transfer {
            self.end_consult_leg(id, ConsultEnd::Cancelled);
        } else if consult.accepted_at.is_none() {
            return Err(CoreError::ConsultNotAccepted { contact: id });
        } else {
            self.hand_over(id, key);
        }
        Ok(Applied::Contact(
            self.contact_view(id).expect("a live contact"),
        ))
    }

    /// Lets a consult's agent go; the contact stays with its holder.
    pub(super) fn end_consult_leg(&mut self, id: ContactId, how: ConsultEnd) {
        let view = self.contacts[&id].view();
        let contact = self.contact_mut(id);
        let Some(b) = contact.consult_key.take() else {
            return;
        };
        contact.consult = None;
        let timer = contact.consult_timer.take();
        let (cost, channel) = (contact.cost, contact.channel);
        if let Some(timer) = timer {
            self.timers.remove(&timer);
        }
        let now = self.now;
        let consulted = self.agent_mut(b);
        consulted.load -= cost;
        consulted.per_channel[channel.index()] -= 1;
        consulted.consults.retain(|c| *c != id);
        consulted.idle_since = now;
        let name = consulted.spec.id.clone();
        self.sync_index(b);
        self.emit(EventBody::ConsultEnded {
            contact: view,
            agent: name,
            how,
        });
        self.route_agent(b, Trigger::CapacityFreed);
    }

    /// The holder hands the contact to the consulted agent, who took the consult: the contact
    /// is the consulted agent's in the target queue (as after a blind transfer there, answered
    /// when the consult was taken); the holder is freed and wraps up.
    fn hand_over(&mut self, id: ContactId, from: AgentKey) {
        let now = self.now;
        let before = self.contacts[&id].view();
        let consult = before.consult.clone().expect("a consult");
        let b = self.contacts[&id].consult_key.expect("a consulted agent");
        let from_slot = self.queue_slot(id);
        // The target queue may have been deleted meanwhile: the contact then stays in its own.
        let to_slot = self
            .queue_ids
            .get(&*consult.queue)
            .copied()
            .unwrap_or(from_slot);
        self.emit(EventBody::ConsultEnded {
            contact: before,
            agent: consult.agent.clone(),
            how: ConsultEnd::Transferred,
        });
        self.remember(
            id,
            Some(consult.by.clone()),
            InteractionOutcome::Transferred,
        );
        self.release(id);
        let source = self.queue_mut(from_slot);
        source.live -= 1;
        source.counters.transferred_out += 1;
        let wrap_ms = source.config.wrap_up_secs as u64 * 1000;
        let from_queue = source.config.name.clone();
        let accepted_at = consult.accepted_at.expect("accepted");
        let target = self.queue_mut(to_slot);
        target.live += 1;
        target.counters.offered += 1;
        target.counters.transferred_in += 1;
        let threshold = target.config.sl_threshold_secs as u64 * 1000;
        target.rolling_sl.mark(&target.counters, now);
        target.counters.record_answer(
            accepted_at.saturating_sub(consult.started_at),
            threshold,
            now,
        );
        let to_queue = target.config.name.clone();
        let strategy = target.strategy.clone();
        let target_config = target.config.clone();
        let named = self
            .effective_requirements(&target_config, &[])
            .unwrap_or_else(|_| target_config.required_skills.clone());
        let mut requirements = self.intern_requirements(&named);
        requirements.sort_unstable();
        let mut alternatives = Vec::new();
        let mut alternative_named = Vec::new();
        let own_alternatives = self.contacts[&id].own_alternatives.to_vec();
        for set in target_config
            .alternatives
            .into_iter()
            .chain(own_alternatives)
        {
            self.add_alternative(
                &requirements,
                &mut alternatives,
                &mut alternative_named,
                set,
            );
        }
        let consulted = self.agent_mut(b);
        consulted.consults.retain(|c| *c != id);
        consulted.assigned.push(id);
        let b_name = consulted.spec.id.clone();
        let contact = self.contact_mut(id);
        let timers = [
            contact.wait_timer.take(),
            contact.relax_timer.take(),
            contact.affinity_timer.take(),
            contact.exception_timer.take(),
            contact.consult_timer.take(),
        ];
        let mut transfers = contact.transfers.to_vec();
        transfers.push(Transfer {
            at: now,
            from_queue,
            from_agent: consult.by.clone(),
            to_queue: to_queue.clone(),
            reason: consult.reason.clone(),
            to_agent: Some(b_name.clone()),
            warm: true,
        });
        contact.transfers = transfers.into();
        contact.queue = to_queue;
        contact.state = ContactState::Assigned { agent: b_name };
        contact.agent_key = Some(b);
        contact.consult = None;
        contact.consult_key = None;
        contact.answered_at = Some(accepted_at);
        contact.queued_at = consult.started_at;
        contact.requirements = requirements;
        contact.required_skills = named.into();
        contact.own_skills = Vec::new().into();
        contact.alternatives = alternatives;
        contact.alternative_skills = alternative_named.into();
        contact.exceptions_done = 0;
        contact.relax_step = 0;
        contact.preferred = Vec::new();
        contact.recalled = false;
        contact.affinity_until = 0;
        contact.rank = strategy.contact_key(&matching::contact_facts(contact));
        for timer in timers.into_iter().flatten() {
            self.timers.remove(&timer);
        }
        self.sync_index(b);
        let view = self.contacts[&id].view();
        self.emit(EventBody::ContactTransferred {
            contact: view,
            agent: consult.by.clone(),
        });
        self.agent_mut(from).idle_since = now;
        self.wrap_up(from, wrap_ms);
        self.route_agent(from, Trigger::CapacityFreed);
    }

    /// An agent leaves: the consults it is brought into end — those still ringing when it
    /// stops being ready, every one when it goes offline or is removed (`all`).
    pub(super) fn drop_consults(&mut self, key: AgentKey, all: bool) {
        let consults = self.agent(key).consults.clone();
        for id in consults {
            let ringing = self.contacts[&id]
                .consult
                .as_ref()
                .is_some_and(|c| c.accepted_at.is_none());
            if all || ringing {
                self.end_consult_leg(id, ConsultEnd::AgentLeft);
            }
        }
    }
}
