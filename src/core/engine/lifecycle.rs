//! The contact lifecycle, in one place: the stages a contact goes through, the steps that move
//! it, and every function that takes a step. Commands (accept, reject, complete, cancel) and
//! timers (offer expiry, maximum wait) and routing (offers) all go through [`TRANSITIONS`]: a
//! command whose step the table does not allow from the contact's stage is refused with the
//! typed error [`Engine::allow`] names, and an internal step the table does not allow is an
//! engine bug, caught by a debug assertion (which the property tests run under).
//!
//! ```text
//!   Update, Overflow
//!          ┌─┐
//!          ▼ │      Offer                Accept
//!        Waiting ─────────▶ Offered ─────────▶ Assigned
//!         │ ▲ ▲                │  │               │  │
//!         │ │ └──── Return ────┘  │               │  │ Complete
//!         │ └───────────── Transfer ──────────────┘  │
//!         │ Cancel, Expire,       │ Cancel, Expire   │
//!         │ Divert                │                  │
//!         └──────────────▶  Ended ◀──────────────────┘
//!            (Abandoned, Cancelled, Expired, Diverted, Completed)
//! ```
//!
//! `Return`: the offer was declined, went unanswered, or its agent left (not ready, offline,
//! removed); the contact goes back to its place in the queue. `Expire` from `Offered`: an offer
//! that comes back after the queue's maximum wait passed ends the contact instead. `Transfer`:
//! the agent hands an assigned contact to a queue, or to a named agent with the queue as its
//! fallback (blind transfer); it waits there again, with its id, customer, context and
//! conversation, and a lineage entry saying from where and why.
//! `Overflow` and `Divert`: an exception rule of its queue acts on a waiting contact (see
//! [`super::exceptions`]): it moves it, changes its priority or requirements, or ends it.
//! `Callback`, `Retry`, `GiveUp`: a waiting customer asks to be called back; a failed call
//! puts it back to wait, or ends it unreached (see [`super::callbacks`]). `Consult`: its holder
//! brings in another agent, then hands it over or keeps it; it stays assigned throughout (see
//! [`super::consult`]).
//!
//! Adding a stage (a callback) means a row here and the function that takes it.
//! Cost: a linear look-up in a table of seventeen rows per command step; internal steps are checked
//! in debug builds only.

use super::*;
use crate::core::AttemptResult;

/// Where a contact is: the stage of its [`ContactState`], without the state's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    Waiting,
    Offered,
    Assigned,
    Ended,
}

impl Stage {
    pub(super) fn of(state: &ContactState) -> Stage {
        match state {
            ContactState::Waiting => Stage::Waiting,
            ContactState::Offered { .. } => Stage::Offered,
            ContactState::Assigned { .. } => Stage::Assigned,
            ContactState::Completed { .. }
            | ContactState::Abandoned
            | ContactState::Cancelled
            | ContactState::Expired
            | ContactState::Diverted
            | ContactState::Unreached => Stage::Ended,
        }
    }
}

/// An agent's answer to the engine, as [`Engine::repeated_answer`] recognises its repeats.
#[derive(Clone, Copy)]
pub(super) enum Answer<'a> {
    Accept,
    Reject,
    Complete(Outcome),
    /// To this queue, for this reason, to this named agent if any.
    Transfer(&'a str, &'a str, Option<&'a str>),
    /// A callback attempt, and how it went.
    Attempt(AttemptResult),
}

/// What can happen to a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Routing chose an agent for it.
    Offer,
    /// The agent took the offer (AcceptOffer).
    Accept,
    /// The offer came back: rejected, timed out, or its agent left.
    Return,
    /// Handled to the end (CompleteContact).
    Complete,
    /// The customer hung up, or the frontend withdrew it (CancelContact).
    Cancel,
    /// The queue's maximum wait passed.
    Expire,
    /// Its priority, value, requirements or context changed (UpdateContact): re-keyed in place.
    Update,
    /// Its agent handed it to a queue (blind transfer): it waits there again.
    Transfer,
    /// An exception rule moved it, or changed its priority or requirements: it waits still.
    Overflow,
    /// An exception rule ended it (`end`).
    Divert,
    /// The customer asked to be called back: it waits on as a callback.
    Callback,
    /// A callback attempt failed with attempts left: it waits for its retry.
    Retry,
    /// A callback's last attempt failed, or its window closed while it waited: unreached.
    GiveUp,
    /// Its holder consults another agent, or hands it over after one (it stays assigned).
    Consult,
}

/// Every transition a contact can make: (from, step, to). Nothing else moves a contact.
pub(super) const TRANSITIONS: &[(Stage, Step, Stage)] = &[
    (Stage::Waiting, Step::Offer, Stage::Offered),
    (Stage::Waiting, Step::Cancel, Stage::Ended),
    (Stage::Waiting, Step::Expire, Stage::Ended),
    (Stage::Waiting, Step::Update, Stage::Waiting),
    (Stage::Waiting, Step::Overflow, Stage::Waiting),
    (Stage::Waiting, Step::Divert, Stage::Ended),
    (Stage::Waiting, Step::Callback, Stage::Waiting),
    (Stage::Waiting, Step::GiveUp, Stage::Ended),
    (Stage::Assigned, Step::Retry, Stage::Waiting),
    (Stage::Assigned, Step::GiveUp, Stage::Ended),
    (Stage::Assigned, Step::Consult, Stage::Assigned),
    (Stage::Offered, Step::Accept, Stage::Assigned),
    (Stage::Offered, Step::Return, Stage::Waiting),
    (Stage::Offered, Step::Cancel, Stage::Ended),
    (Stage::Offered, Step::Expire, Stage::Ended),
    (Stage::Assigned, Step::Complete, Stage::Ended),
    (Stage::Assigned, Step::Transfer, Stage::Waiting),
];

/// Where `step` takes a contact at `from`, if the table allows it.
pub(super) fn next(from: Stage, step: Step) -> Option<Stage> {
    TRANSITIONS
        .iter()
        .find(|(f, s, _)| *f == from && *s == step)
        .map(|(_, _, to)| *to)
}

impl Engine {
    /// A command's step on contact `id`: the live contact if the table allows the step from its
    /// stage, else the error that says why (ended, unknown, not offered, not assigned, already
    /// accepted).
    pub(super) fn allow(&self, id: ContactId, step: Step) -> Result<&Contact, CoreError> {
        let contact = self.live_contact(id)?;
        if next(Stage::of(&contact.state), step).is_some() {
            return Ok(contact);
        }
        let state = state_name(&contact.state);
        Err(match step {
            Step::Accept | Step::Return => CoreError::NotOffered { contact: id, state },
            Step::Complete | Step::Transfer | Step::Retry | Step::Consult => {
                CoreError::NotAssigned { contact: id, state }
            }
            Step::Cancel => CoreError::AlreadyAccepted { contact: id },
            Step::Update | Step::Callback => CoreError::NotWaiting { contact: id, state },
            Step::Offer | Step::Expire | Step::Overflow | Step::Divert | Step::GiveUp => {
                CoreError::invalid(format!("contact {id} is {state}: it cannot be {step:?}ed"))
            }
        })
    }

    /// An internal step (routing, timers) on a live contact: the table must allow it. Checked
    /// in debug builds (the property tests); free in release builds.
    pub(super) fn enter(&self, id: ContactId, step: Step) {
        if cfg!(debug_assertions) {
            let from = Stage::of(&self.contacts[&id].state);
            assert!(
                next(from, step).is_some(),
                "contact {id}: {step:?} is not a transition from {from:?}"
            );
        }
    }

    /// Reserves a waiting contact for an agent until the queue's offer timeout.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn offer(
        &mut self,
        id: ContactId,
        key: AgentKey,
        trigger: Trigger,
        strategy: Arc<Strategy>,
        side: Side,
        candidates: Vec<Candidate>,
        considered: u32,
        excluded: Exclusions,
        alternative: u32,
    ) {
        self.enter(id, Step::Offer);
        let now = self.now;
        self.remove_waiting(id);
        let slot = self.queue_slot(id);
        let queue = self.queue_mut(slot);
        queue.offered_now += 1;
        let deadline = now + queue.config.offer_timeout_secs as u64 * 1000;
        let timer = self.add_timer(deadline, Timer::OfferExpiry(id));
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        let agent_name = agent.spec.id.clone();
        let emitting = self.emits_events();
        let history = emitting.then(|| contacts::history_of(self, &self.contacts[&id]));
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        let contact = self.contacts.get_mut(&id).expect("live contact");
        // No room for it: it interrupts the agent's interruptible work (see `interruption`).
        if !agent.has_room(contact.channel, contact.cost) {
            contact.interrupting = true;
            agent.interrupted_by = Some(id);
        }
        agent.load += contact.cost;
        agent.per_channel[contact.channel.index()] += 1;
        agent.offers.push(id);
        agent.idle_since = now;
        agent.last_offered_at = now;
        contact.state = ContactState::Offered {
            agent: agent_name.clone(),
            deadline,
        };
        contact.agent_key = Some(key);
        contact.offer_timer = Some(timer);
        let decision = emitting.then(|| Decision {
            contact: id,
            agent: agent_name,
            queue: contact.queue.clone(),
            strategy,
            side,
            trigger,
            waited_ms: now.saturating_sub(contact.queued_at),
            candidates,
            considered,
            excluded,
            relaxation_step: contact.relax_step,
            alternative,
            history: history.unwrap_or_default(),
            offer_deadline: deadline,
            channel: contact.channel,
            priority: contact.priority,
            exceptions: contact.exceptions.clone(),
            preferred_met: (!contact.preferred.is_empty())
                .then(|| contact.preference_for(key).is_some()),
        });
        self.sync_index(key);
        if let Some(decision) = decision {
            self.emit(EventBody::Decision(decision));
        }
    }

    pub(super) fn accept(&mut self, id: ContactId, agent: &str) -> Result<Applied, CoreError> {
        if let Some(answered) = self.consult_answer(id, agent, true) {
            return answered;
        }
        if let Some(view) = self.repeated_answer(id, agent, Answer::Accept) {
            return Ok(Applied::Contact(view));
        }
        let key = self.offered_to(id, agent, Step::Accept)?;
        let now = self.now;
        let contact = self.contacts.get_mut(&id).expect("live contact");
        let timer = contact.offer_timer.take();
        let exception_timer = contact.exception_timer.take();
        let agent_name = contact.state.agent().cloned().expect("offered has agent");
        contact.state = ContactState::Assigned {
            agent: agent_name.clone(),
        };
        contact.answered_at = Some(now);
        let is_callback = contact.callback.is_some();
        let waited = now.saturating_sub(contact.queued_at);
        let queue_name = contact.queue.clone();
        for timer in [timer, exception_timer].into_iter().flatten() {
            self.timers.remove(&timer);
        }
        let a = self.agent_mut(key);
        a.offers.retain(|c| *c != id);
        a.assigned.push(id);
        a.missed_in_row = 0;
        let slot = self.queue_slot(id);
        let queue = self.queue_mut(slot);
        queue.offered_now -= 1;
        let threshold = queue.config.sl_threshold_secs as u64 * 1000;
        // A callback left the line when it was asked for: its call is not an inbound answer.
        if !is_callback {
            queue.rolling_sl.mark(&queue.counters, now);
            queue.counters.record_answer(waited, threshold, now);
        }
        self.remember(id, Some(agent_name.clone()), InteractionOutcome::Handling);
        if self.contacts[&id].interrupting {
            self.pause_interrupted(key, id);
        }
        self.emit(EventBody::OfferAccepted {
            contact: id,
            agent: agent_name,
            queue: queue_name,
            waited_ms: waited,
        });
        // Holding no offer now, the agent's work may be interruptible: it looks at the waiting
        // contacts that could interrupt it.
        self.sync_index(key);
        if self.interruptible_agents.contains(&key) {
            self.route_agent(key, Trigger::WorkInterruptible);
        }
        Ok(Applied::Contact(self.contacts[&id].view()))
    }

    pub(super) fn reject(&mut self, id: ContactId, agent: &str) -> Result<Applied, CoreError> {
        if let Some(answered) = self.consult_answer(id, agent, false) {
            return answered;
        }
        if let Some(view) = self.repeated_answer(id, agent, Answer::Reject) {
            return Ok(Applied::Contact(view));
        }
        let key = self.offered_to(id, agent, Step::Return)?;
        self.end_offer(id, OfferEnd::Rejected);
        let view = self.contact_view(id).expect("contact known");
        self.route_contact(id, Trigger::ContactArrived);
        self.route_agent(key, Trigger::CapacityFreed);
        Ok(Applied::Contact(view))
    }

    /// The contact's view if `answer` by `agent` repeats one the engine already took, so a
    /// retried request gets the same result instead of an error, and nothing changes:
    /// - accept: the contact is assigned to this agent;
    /// - reject: the contact lives and will never be offered to this agent again (it rejected
    ///   it, or let the offer time out: either way the contact went back to its queue);
    /// - complete: this agent completed it with the same outcome (while the ended contact is
    ///   still in the engine's history of ended contacts);
    /// - transfer: its last transfer is this agent's, to the same queue for the same reason, and
    ///   this agent does not hold it now;
    /// - callback attempt: its last attempt is this agent's with the same result, and the agent
    ///   does not hold it for a newer attempt (a failure freed it; a reached call is held on).
    pub(super) fn repeated_answer(
        &self,
        id: ContactId,
        agent: &str,
        answer: Answer,
    ) -> Option<ContactView> {
        let key = *self.agent_ids.get(agent)?;
        if let Answer::Transfer(queue, reason, to_agent) = answer {
            let view = match self.contacts.get(&id) {
                Some(c) if c.agent_key == Some(key) => return None,
                Some(c) => c.view(),
                None => (**self.ended.get(&id)?).clone(),
            };
            let last = view.transfers.last()?;
            let same = *last.from_agent == *agent
                && *last.to_queue == *queue
                && *last.reason == *reason
                && last.to_agent.as_deref() == to_agent;
            return same.then_some(view);
        }
        if let Answer::Attempt(result) = answer {
            let view = match self.contacts.get(&id) {
                Some(c) => {
                    // Assigned to the agent, whose last report did not reach the customer: this
                    // report is about a new attempt (a failed one would have freed the agent).
                    let last = c.callback.as_ref()?.attempts.last()?;
                    let assigned = c.agent_key == Some(key)
                        && matches!(c.state, ContactState::Assigned { .. });
                    if assigned && last.result != AttemptResult::Reached {
                        return None;
                    }
                    c.view()
                }
                None => (**self.ended.get(&id)?).clone(),
            };
            let last = view.callback.as_ref()?.attempts.last()?;
            return (*last.agent == *agent && last.result == result).then_some(view);
        }
        match (answer, self.contacts.get(&id)) {
            (Answer::Accept, Some(c)) => (matches!(c.state, ContactState::Assigned { .. })
                && c.agent_key == Some(key))
            .then(|| c.view()),
            (Answer::Reject, Some(c)) => c.excluded.contains(&key).then(|| c.view()),
            (Answer::Complete(outcome), None) => {
                let view = self.ended.get(&id)?;
                match &view.state {
                    ContactState::Completed {
                        agent: by,
                        outcome: o,
                    } if **by == *agent && *o == outcome => Some((**view).clone()),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// An agent's answer to an offer (`step`: accept or return) is allowed: the contact is
    /// offered, to `agent`. Gives the agent's key.
    fn offered_to(&self, id: ContactId, agent: &str, step: Step) -> Result<AgentKey, CoreError> {
        self.live_contact(id)?;
        let key = self.agent_key(agent)?;
        let contact = self.allow(id, step)?;
        if contact.agent_key != Some(key) {
            return Err(CoreError::OfferedToAnother { contact: id });
        }
        Ok(key)
    }

    /// Ends an offer without acceptance; the contact goes back to its place in the queue (or
    /// expires, if its maximum wait passed meanwhile). Gives true if it is waiting again.
    pub(super) fn end_offer(&mut self, id: ContactId, how: OfferEnd) -> bool {
        let Some(contact) = self.contacts.get(&id) else {
            return false;
        };
        let ContactState::Offered { agent: name, .. } = &contact.state else {
            return false;
        };
        let name = name.clone();
        let Some(key) = contact.agent_key else {
            return false;
        };
        self.enter(id, Step::Return);
        let contact = self.contacts.get_mut(&id).expect("live contact");
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
        self.queue_mut(slot).offered_now -= 1;
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
        let now = self.now;
        // Back to waiting at its queue's current cost (it may have changed during the offer).
        let cost = self.cost_in(slot, self.contacts[&id].channel);
        let contact = self.contact_mut(id);
        if contact.wait_expired {
            self.expire(id);
            return false;
        }
        contact.state = ContactState::Waiting;
        contact.cost = cost;
        let window_closed = contact
            .callback
            .as_ref()
            .and_then(|c| c.window_end)
            .is_some_and(|end| end <= now);
        let rearm = contact.exception_timer.is_none();
        if window_closed {
            self.give_up(id);
            return false;
        }
        self.add_waiting(id);
        // A `waited` rule that came due while it rang fires now (at the next advance).
        if rearm
            && !self.queues[slot]
                .as_ref()
                .expect("queue")
                .config
                .exceptions
                .is_empty()
        {
            self.arm_exception(id);
        }
        true
    }

    pub(super) fn complete(
        &mut self,
        id: ContactId,
        agent: &str,
        outcome: Outcome,
    ) -> Result<Applied, CoreError> {
        outcome.validate()?;
        if let Some(view) = self.repeated_answer(id, agent, Answer::Complete(outcome)) {
            return Ok(Applied::Contact(view));
        }
        self.live_contact(id)?;
        let key = self.agent_key(agent)?;
        let contact = self.allow(id, Step::Complete)?;
        if contact.agent_key != Some(key) {
            return Err(CoreError::AssignedToAnother { contact: id });
        }
        if contact.consult.is_some() {
            return Err(CoreError::ConsultUnderWay { contact: id });
        }
        let now = self.now;
        // Time paused by an interruption is not handling.
        let paused = contact.paused_ms + contact.paused_since.map_or(0, |s| now.saturating_sub(s));
        let handle_ms = match outcome.handle_secs {
            0 => now
                .saturating_sub(contact.answered_at.unwrap_or(now))
                .saturating_sub(paused),
            secs => secs as u64 * 1000,
        };
        let agent_name = contact.state.agent().cloned().expect("assigned has agent");
        let is_callback = contact.callback.is_some();
        let by_bot = self.agent(key).is_bot();
        // Learnt against the skills of the set the agent met (the first such).
        let agent = self.agent(key);
        let set = contact
            .sets()
            .find(|set| agent.meets(set))
            .unwrap_or(&contact.requirements);
        let skills: Vec<SkillId> = set.iter().map(|(s, _)| *s).collect();
        let slot = self.queue_slot(id);
        let queue = self.queue_mut(slot);
        let mean_ms = queue
            .counters
            .total_handle_ms
            .checked_div(queue.counters.completed)
            .unwrap_or(0);
        queue.counters.completed += 1;
        queue.counters.total_handle_ms += handle_ms;
        if by_bot {
            queue.counters.bot_contained += 1;
        }
        if is_callback {
            queue.counters.callbacks_reached += 1;
        }
        let wrap_up = queue.config.wrap_up_secs as u64 * 1000;
        let quality =
            strategy::outcome_quality(outcome.resolved, outcome.satisfaction, handle_ms, mean_ms);
        self.remember(
            id,
            Some(agent_name.clone()),
            InteractionOutcome::Completed {
                resolved: outcome.resolved,
                satisfaction: outcome.satisfaction,
            },
        );
        self.end_contact(
            id,
            ContactState::Completed {
                agent: agent_name,
                outcome,
            },
        );
        let period = self.period(now);
        let agent = self.agent_mut(key);
        agent.handled += 1;
        agent.handled_in_period = (period, agent.handled_in(period) + 1);
        agent.performance.record(quality, skills.into_iter());
        agent.idle_since = now;
        self.wrap_up(key, wrap_up);
        self.route_agent(key, Trigger::CapacityFreed);
        Ok(Applied::Contact(
            self.contact_view(id).expect("ended contact kept"),
        ))
    }

    /// An agent let go of a contact: its wrap-up of `wrap_up` ms starts (extending one under
    /// way), and its place in the index follows.
    pub(super) fn wrap_up(&mut self, key: AgentKey, wrap_up: Millis) {
        let now = self.now;
        let agent = self.agent_mut(key);
        let mut wrapping = false;
        // A bot never wraps up.
        if wrap_up > 0 && !agent.is_bot() {
            let until = agent
                .wrap_up_until
                .map_or(now + wrap_up, |t| t.max(now + wrap_up));
            agent.wrap_up_until = Some(until);
            if let Some(old) = agent.wrap_timer.take() {
                self.timers.remove(&old);
            }
            let timer = self.add_timer(until, Timer::WrapUpEnd(key));
            self.agent_mut(key).wrap_timer = Some(timer);
            wrapping = true;
        }
        self.sync_index(key);
        if wrapping && self.emits_events() {
            let view = self.view_of(key);
            self.emit(EventBody::AgentStateChanged { agent: view });
        }
    }

    /// Blind transfer to a queue. The agent must hold the contact (assigned); the target queue
    /// must exist, take the contact's channel and have room. Everything is checked before
    /// anything changes. Then: the agent's interaction is recorded as `transferred` in the
    /// customer's history (the next agent sees it with the offer), the agent's capacity is freed
    /// and its wrap-up (the source queue's) starts; the source queue counts a transfer out (it
    /// answered the contact once), the target queue counts the contact as entered and as a
    /// transfer in. The contact keeps its id, customer, context, conversation and enqueue time;
    /// it takes the target queue's requirements (raised by `required`), alternatives, deadlines
    /// and relaxation from the start, its wait in the target queue counts from now, and it is
    /// never offered back to the agent who transferred it. It is routed at once. With a named
    /// agent (who must exist, not be the transferring agent, and be able to serve it there), it
    /// is held for that agent alone for the named wait, like an affinity hold: a decline, an
    /// offer timing out or the wait ending sends it to the target queue, its fallback.
    pub(super) fn transfer(
        &mut self,
        id: ContactId,
        agent: &str,
        to: &str,
        required: Vec<SkillLevel>,
        reason: String,
        target_agent: Option<crate::core::NamedAgent>,
    ) -> Result<Applied, CoreError> {
        if reason.len() > 128 || reason.chars().any(char::is_control) {
            return Err(CoreError::invalid(
                "a transfer reason is at most 128 bytes, without control characters",
            ));
        }
        crate::core::types::ensure_unique_skills(&required, "transfer")?;
        if let Some(n) = &target_agent {
            if !(1..=3600).contains(&n.wait_secs) {
                return Err(CoreError::invalid(
                    "the wait for a named agent must be 1-3600 seconds",
                ));
            }
            if n.agent == agent {
                return Err(CoreError::invalid(
                    "an agent cannot transfer a contact to itself",
                ));
            }
        }
        let to_agent = target_agent.as_ref().map(|n| n.agent.as_str());
        if let Some(view) = self.repeated_answer(id, agent, Answer::Transfer(to, &reason, to_agent))
        {
            return Ok(Applied::Contact(view));
        }
        self.live_contact(id)?;
        let key = self.agent_key(agent)?;
        let contact = self.allow(id, Step::Transfer)?;
        if contact.agent_key != Some(key) {
            return Err(CoreError::AssignedToAnother { contact: id });
        }
        if contact.consult.is_some() {
            return Err(CoreError::ConsultUnderWay { contact: id });
        }
        let channel = contact.channel;
        let to_slot = *self
            .queue_ids
            .get(to)
            .ok_or_else(|| CoreError::UnknownQueue { queue: to.into() })?;
        let target = &self.queues[to_slot].as_ref().expect("queue present").config;
        if !target.accepts(channel) {
            return Err(CoreError::invalid(format!(
                "queue {to:?} does not accept {channel} contacts"
            )));
        }
        let named = self.effective_requirements(target, &required)?;
        self.check_skill_names(&named)?;
        let named_agent = match &target_agent {
            Some(n) => Some((
                self.named_agent_for(id, &n.agent, target, &named)?,
                n.wait_secs as Millis * 1000,
            )),
            None => None,
        };
        let target = self.queues[to_slot].as_ref().expect("queue present");
        if target.config.max_length > 0 && target.waiting.len() >= target.config.max_length as usize
        {
            return Err(CoreError::QueueFull {
                queue: to.into(),
                max_length: target.config.max_length,
            });
        }
        // Checked: from here on nothing fails.
        let now = self.now;
        let from_slot = self.queue_slot(id);
        let from_agent = self.contacts[&id].state.agent().cloned().expect("assigned");
        // A bot's transfer is an escalation: to people, not contained.
        let by_bot = self.agent(key).is_bot();
        let outcome = if by_bot {
            InteractionOutcome::Escalated
        } else {
            InteractionOutcome::Transferred
        };
        self.remember(id, Some(from_agent.clone()), outcome);
        self.release(id);
        let source = self.queue_mut(from_slot);
        source.live -= 1;
        source.counters.transferred_out += 1;
        if by_bot {
            source.counters.bot_escalated += 1;
        }
        let wrap_ms = source.config.wrap_up_secs as u64 * 1000;
        let from_queue = source.config.name.clone();
        let target = self.queue_mut(to_slot);
        target.live += 1;
        target.counters.offered += 1;
        target.counters.transferred_in += 1;
        let super::exceptions::Entry {
            queue: to_queue,
            requirements,
            alternatives,
            alternative_named,
            strategy,
            cost,
            max_wait,
            first_step,
        } = self.entry(id, to_slot, &named);
        let contact = self.contacts.get_mut(&id).expect("live contact");
        contact.cost = cost;
        let timers = [
            contact.wait_timer.take(),
            contact.relax_timer.take(),
            contact.affinity_timer.take(),
            contact.exception_timer.take(),
        ];
        let mut transfers = contact.transfers.to_vec();
        transfers.push(crate::core::contact::Transfer {
            at: now,
            from_queue,
            from_agent: from_agent.clone(),
            to_queue: to_queue.clone(),
            reason: reason.into(),
            to_agent: target_agent.map(|n| n.agent.into()),
            warm: false,
        });
        contact.transfers = transfers.into();
        contact.queue = to_queue;
        contact.state = ContactState::Waiting;
        contact.answered_at = None;
        contact.queued_at = now;
        contact.requirements = requirements;
        contact.required_skills = named.into();
        contact.own_skills = required.into();
        contact.alternatives = alternatives;
        contact.alternative_skills = alternative_named.into();
        contact.exceptions_done = 0;
        contact.excluded = vec![key];
        contact.wait_expired = false;
        // To a named agent: held for that agent alone until the wait ends, or it declines
        // (the affinity hold, see `matching`); then the target queue is its fallback.
        contact.preferred = named_agent.map(|(k, _)| vec![(k, 100)]).unwrap_or_default();
        contact.recalled = false;
        let affinity_until = named_agent.map_or(0, |(_, wait)| now + wait);
        contact.affinity_until = affinity_until;
        contact.relax_step = 0;
        contact.rank = strategy.contact_key(&matching::contact_facts(contact));
        for timer in timers.into_iter().flatten() {
            self.timers.remove(&timer);
        }
        self.start_wait_timers(id, max_wait, first_step, affinity_until);
        let view = self.contacts[&id].view();
        self.emit(EventBody::ContactTransferred {
            contact: view,
            agent: from_agent,
        });
        self.agent_mut(key).idle_since = now;
        self.wrap_up(key, wrap_ms);
        self.settle(id, Some(Trigger::ContactTransferred), true);
        self.route_agent(key, Trigger::CapacityFreed);
        Ok(Applied::Contact(
            self.contact_view(id).expect("a live contact"),
        ))
    }

    /// The key of the agent a transfer names, if it can serve the contact in the target queue:
    /// it meets the contact's requirements there (`named`) or one of the queue's or the
    /// contact's alternatives, and takes the contact's channel.
    fn named_agent_for(
        &self,
        id: ContactId,
        agent: &str,
        target: &QueueConfig,
        named: &[SkillLevel],
    ) -> Result<AgentKey, CoreError> {
        let key = self.agent_key(agent)?;
        let a = self.agent(key);
        let contact = &self.contacts[&id];
        let meets = |set: &[SkillLevel]| {
            set.iter().all(|need| {
                a.spec
                    .skills
                    .iter()
                    .any(|have| have.skill == need.skill && have.level >= need.level)
            })
        };
        let skilled = meets(named)
            || target.alternatives.iter().any(|s| meets(s))
            || contact.own_alternatives.iter().any(|s| meets(s));
        let channel = a.capacity >= contact.cost && a.limits[contact.channel.index()] > 0;
        if !(skilled && channel) {
            return Err(CoreError::AgentCannotServe {
                agent: agent.into(),
                queue: target.name.to_string(),
            });
        }
        Ok(key)
    }

    pub(super) fn cancel(
        &mut self,
        id: ContactId,
        reason: CancelReason,
    ) -> Result<Applied, CoreError> {
        let contact = self.allow(id, Step::Cancel)?;
        let waited = self.now.saturating_sub(contact.queued_at);
        let is_callback = contact.callback.is_some();
        // The agent an offer was ringing at, freed by the cancel.
        let holder = contact.agent_key;
        let slot = self.queue_slot(id);
        let now = self.now;
        let queue = self.queue_mut(slot);
        let short = queue.config.short_abandon_secs as u64 * 1000;
        let terminal = match reason {
            // A callback's customer is not on the line: cancelling it withdraws it.
            _ if is_callback => {
                queue.counters.withdrawn += 1;
                ContactState::Cancelled
            }
            CancelReason::Abandoned => {
                queue.rolling_sl.mark(&queue.counters, now);
                queue.counters.record_abandon(waited, short);
                ContactState::Abandoned
            }
            CancelReason::Withdrawn => {
                queue.counters.withdrawn += 1;
                ContactState::Cancelled
            }
        };
        if holder.is_some() {
            queue.offered_now -= 1;
        }
        if terminal == ContactState::Abandoned {
            self.remember(id, None, InteractionOutcome::Abandoned);
        }
        let view = self.end_contact(id, terminal);
        if let Some(key) = holder {
            self.route_agent(key, Trigger::CapacityFreed);
        }
        Ok(Applied::Contact(view))
    }

    /// The queue's maximum wait passed (while waiting, or when an offer came back after it).
    pub(super) fn expire(&mut self, id: ContactId) {
        self.enter(id, Step::Expire);
        let slot = self.queue_slot(id);
        let now = self.now;
        let queue = self.queue_mut(slot);
        queue.rolling_sl.mark(&queue.counters, now);
        queue.counters.expired += 1;
        self.end_contact(id, ContactState::Expired);
    }

    /// Moves a contact to its terminal state and into the history.
    pub(super) fn end_contact(&mut self, id: ContactId, terminal: ContactState) -> ContactView {
        // No step ends a contact with a consult under way; were one added, its agent goes free.
        if self.contacts[&id].consult.is_some() {
            self.end_consult_leg(id, crate::core::events::ConsultEnd::Cancelled);
        }
        let now = self.now;
        if self.contacts[&id].state == ContactState::Waiting {
            self.remove_waiting(id);
        }
        let holder = self.contacts[&id].state.agent().cloned();
        self.release(id);
        let slot = self.queue_slot(id);
        self.queue_mut(slot).live -= 1;
        let mut contact = self.contacts.remove(&id).expect("live contact");
        let timers = [
            contact.offer_timer.take(),
            contact.wait_timer.take(),
            contact.relax_timer.take(),
            contact.affinity_timer.take(),
            contact.exception_timer.take(),
            contact.hold_timer.take(),
            contact.window_timer.take(),
        ];
        for timer in timers.into_iter().flatten() {
            self.timers.remove(&timer);
        }
        contact.held_until = 0;
        contact.state = terminal;
        let mut view = contact.view();
        view.ended_at = Some(now);
        self.ended.insert(id, Box::new(view.clone()));
        // The last one always stays: a command that ended it answers with its view.
        while self.ended.len() > self.config.ended_history.max(1) {
            self.ended.pop_first();
        }
        if self.emits_events() {
            self.emit(EventBody::ContactEnded {
                contact: view.clone(),
                agent: holder,
            });
        }
        view
    }

    /// Takes a contact off its agent (offer or assignment), freeing the capacity.
    pub(super) fn release(&mut self, id: ContactId) {
        let contact = self.contacts.get_mut(&id).expect("live contact");
        let Some(key) = contact.agent_key.take() else {
            return;
        };
        let (cost, channel) = (contact.cost, contact.channel);
        // Its pauses belonged to this agent's handling of it.
        contact.paused_since = None;
        contact.paused_ms = 0;
        if std::mem::take(&mut contact.interrupting) {
            self.end_interruption(key);
        }
        let agent = self.agent_mut(key);
        agent.load -= cost;
        agent.per_channel[channel.index()] -= 1;
        agent.offers.retain(|c| *c != id);
        agent.assigned.retain(|c| *c != id);
        self.sync_index(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_but_ended_has_a_way_out_and_ended_has_none() {
        for from in [Stage::Waiting, Stage::Offered, Stage::Assigned] {
            assert!(
                TRANSITIONS
                    .iter()
                    .any(|(f, _, to)| *f == from && *to == Stage::Ended),
                "{from:?} can end"
            );
        }
        assert!(TRANSITIONS.iter().all(|(f, _, _)| *f != Stage::Ended));
        // One row per (stage, step): the table is a function.
        for (i, (f, s, _)) in TRANSITIONS.iter().enumerate() {
            assert!(
                TRANSITIONS[i + 1..]
                    .iter()
                    .all(|(g, t, _)| (g, t) != (f, s))
            );
        }
        assert_eq!(
            next(Stage::Assigned, Step::Cancel),
            None,
            "accepted work is completed"
        );
        assert_eq!(
            next(Stage::Waiting, Step::Accept),
            None,
            "only offers are accepted"
        );
    }
}
