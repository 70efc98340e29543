//! Callbacks: a waiting customer asks to be called back instead of holding the line.
//!
//! The contact keeps its id, context and its place — its `queued_at` still orders it among the
//! queue's contacts — and becomes a `callback` contact (the `callback` channel's cost), offered
//! like any other when its turn comes. A scheduled callback is held out of the waiting index
//! until its `not_before` (a deadline, `Timer::CallbackDue`); a window end
//! (`Timer::CallbackWindow`) ends it `Unreached` if it is still waiting then. The agent who
//! accepts it calls the customer and reports the attempt: `reached` (it goes on and completes
//! the contact), or `no answer` / `busy`: the agent is freed, and the contact waits again, held
//! for the queue's `callback_retry_seconds`, until the queue's `callback_attempts` failed
//! attempts (or its window) end it `Unreached`.
//!
//! Statistics: a callback request counts `callbacks_requested` and takes the contact out of the
//! queue's inbound service level (the customer left the line: never answered nor abandoned for
//! it, and its maximum wait no longer applies); a completed callback counts `callbacks_reached`,
//! an unreached one `callbacks_unreached`; a callback cancelled counts as withdrawn.
//!
//! Invariants (checked by [`Engine::check_invariants`]): a held contact is waiting, in no group
//! and no reservation, with its hold timer pending; every other waiting contact is indexed.
//! Cost: O(log n) per request, attempt or firing (the waiting index and the timers).
//! Known limits: an attempt report sent twice is refused the second time (`NotAssigned`) when
//! the first put the contact back to wait; a held callback has no position in the line.

use super::*;
use crate::core::contact::{Attempt, AttemptResult, Callback, CallbackRequest};

/// How far ahead a callback may be scheduled.
const MAX_SCHEDULE_MS: Millis = 30 * 86_400_000;

impl Engine {
    /// A waiting customer asks to be called back. Everything is checked before anything
    /// changes: the contact waits and is no callback yet, its queue takes `callback` contacts,
    /// the times are not in the past, at most 30 days ahead, and the window ends after it opens.
    pub(super) fn request_callback(
        &mut self,
        id: ContactId,
        request: CallbackRequest,
    ) -> Result<Applied, CoreError> {
        if request.number.len() > 64 || request.number.chars().any(char::is_control) {
            return Err(CoreError::invalid(
                "a callback number is at most 64 bytes, without control characters",
            ));
        }
        let contact = self.allow(id, lifecycle::Step::Callback)?;
        if contact.callback.is_some() {
            return Err(CoreError::AlreadyCallback { contact: id });
        }
        let now = self.now;
        let not_before = request.not_before.unwrap_or(now);
        if not_before < now {
            return Err(CoreError::invalid(format!(
                "callback time {not_before} ms is in the past (now is {now} ms)"
            )));
        }
        if let Some(end) = request.window_end
            && end <= not_before
        {
            return Err(CoreError::invalid(
                "a callback window must end after it opens (not_before, or now)",
            ));
        }
        if request.window_end.unwrap_or(not_before) > now + MAX_SCHEDULE_MS {
            return Err(CoreError::invalid(
                "a callback may be scheduled at most 30 days ahead",
            ));
        }
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_ref().expect("queue present");
        if !queue.config.accepts(Channel::Callback) {
            return Err(CoreError::invalid(format!(
                "queue {:?} does not accept callback contacts",
                queue.config.name
            )));
        }
        // Checked: from here on nothing fails.
        self.remove_waiting(id);
        let cost = self.cost_in(slot, Channel::Callback);
        let contact = self.contact_mut(id);
        contact.callback = Some(Arc::new(Callback {
            requested_at: now,
            not_before,
            window_end: request.window_end,
            number: request.number.into(),
            channel: contact.channel,
            attempts: Vec::new(),
        }));
        contact.channel = Channel::Callback;
        contact.cost = cost;
        contact.wait_expired = false;
        let wait_timer = contact.wait_timer.take();
        if let Some(timer) = wait_timer {
            self.timers.remove(&timer);
        }
        self.queue_mut(slot).counters.callbacks_requested += 1;
        if let Some(end) = request.window_end {
            let timer = self.add_timer(end, Timer::CallbackWindow(id));
            self.contact_mut(id).window_timer = Some(timer);
        }
        let view = self.contacts[&id].view();
        self.emit(EventBody::CallbackRequested { contact: view });
        if not_before > now {
            self.hold(id, not_before);
        } else {
            self.route_contact(id, Trigger::CallbackDue);
            if self.contacts[&id].state == ContactState::Waiting {
                self.add_waiting(id);
            }
        }
        Ok(Applied::Contact(
            self.contact_view(id).expect("a live contact"),
        ))
    }

    /// The agent holding a callback reports its attempt. Reached: nothing else changes (the
    /// agent completes the contact). Failed: the agent is freed; the contact waits again, held
    /// for the queue's retry delay, or ends `Unreached` after the queue's last attempt or past
    /// its window.
    ///
    /// A report that names its call (`attempt` > 0) is told from a repeat exactly: a call already
    /// reported, by this agent with this result, answers the contact as it is and changes
    /// nothing; any other call but the next is refused ([`CoreError::AttemptMismatch`]). One
    /// that does not (0) is taken as a repeat when [`Engine::repeated_answer`] recognises it.
    pub(super) fn callback_attempt(
        &mut self,
        id: ContactId,
        agent: &str,
        result: AttemptResult,
        attempt: u32,
    ) -> Result<Applied, CoreError> {
        if attempt > 0 {
            if let Some(view) = self.reported_call(id, agent, result, attempt)? {
                return Ok(Applied::Contact(view));
            }
        } else if let Some(view) =
            // A report the engine already took (a frontend retrying a lost answer) answers the
            // contact as it is now and changes nothing.
            self.repeated_answer(id, agent, lifecycle::Answer::Attempt(result))
        {
            return Ok(Applied::Contact(view));
        }
        self.live_contact(id)?;
        let key = self.agent_key(agent)?;
        let contact = self.allow(id, lifecycle::Step::Retry)?;
        if contact.agent_key != Some(key) {
            return Err(CoreError::AssignedToAnother { contact: id });
        }
        if contact.callback.is_none() {
            return Err(CoreError::NotCallback { contact: id });
        }
        if contact.consult.is_some() {
            return Err(CoreError::ConsultUnderWay { contact: id });
        }
        let now = self.now;
        let slot = self.queue_slot(id);
        let queue = &self.queues[slot].as_ref().expect("queue present").config;
        let (limit, retry_ms) = (
            queue.callback_attempts,
            queue.callback_retry_secs as u64 * 1000,
        );
        let agent_name = self.agent(key).spec.id.clone();
        let contact = self.contact_mut(id);
        let callback = Arc::make_mut(contact.callback.as_mut().expect("a callback"));
        callback.attempts.push(Attempt {
            at: now,
            agent: agent_name.clone(),
            result,
        });
        let failed = callback.failed_attempts();
        let window_closed = callback.window_end.is_some_and(|end| end <= now);
        if result == AttemptResult::Reached || failed >= limit || window_closed {
            // Published with the contact still assigned; a last failure ends it next.
            let view = contact.view();
            self.emit(EventBody::CallbackAttempted {
                contact: view,
                agent: agent_name,
            });
            if result == AttemptResult::Reached {
                return Ok(Applied::Contact(self.contacts[&id].view()));
            }
            self.give_up(id);
        } else {
            self.enter(id, lifecycle::Step::Retry);
            self.release(id);
            // Waiting again at its queue's current cost (it may have changed during the call).
            let cost = self.cost_in(self.queue_slot(id), self.contacts[&id].channel);
            let contact = self.contact_mut(id);
            contact.state = ContactState::Waiting;
            contact.cost = cost;
            contact.answered_at = None;
            self.hold(id, now + retry_ms);
            // Published waiting for its retry: the agent's desktop is told it left.
            let view = self.contacts[&id].view();
            self.emit(EventBody::CallbackAttempted {
                contact: view,
                agent: agent_name,
            });
        }
        self.agent_mut(key).idle_since = now;
        self.sync_index(key);
        self.route_agent(key, Trigger::CapacityFreed);
        Ok(Applied::Contact(
            self.contact_view(id).expect("a contact still known"),
        ))
    }

    /// For a report of call `attempt` (from 1): the contact as it is when that call was already
    /// reported by `agent` with `result` (a repeat); `None` when it is the next call; refused when
    /// it is neither. A contact the engine no longer knows is left to the caller to refuse.
    fn reported_call(
        &self,
        id: ContactId,
        agent: &str,
        result: AttemptResult,
        attempt: u32,
    ) -> Result<Option<ContactView>, CoreError> {
        let view = match self.contacts.get(&id) {
            Some(c) => match &c.callback {
                Some(callback) if attempt as usize <= callback.attempts.len() => c.view(),
                Some(callback) if attempt as usize == callback.attempts.len() + 1 => {
                    return Ok(None);
                }
                Some(callback) => {
                    return Err(CoreError::AttemptMismatch {
                        contact: id,
                        attempt,
                        made: callback.attempts.len() as u32,
                    });
                }
                None => return Err(CoreError::NotCallback { contact: id }),
            },
            None => match self.ended.get(&id) {
                Some(view) => (**view).clone(),
                None => return Ok(None),
            },
        };
        let Some(callback) = &view.callback else {
            return Err(CoreError::NotCallback { contact: id });
        };
        let made = callback.attempts.len() as u32;
        match callback.attempts.get(attempt as usize - 1) {
            Some(call) if *call.agent == *agent && call.result == result => Ok(Some(view)),
            _ => Err(CoreError::AttemptMismatch {
                contact: id,
                attempt,
                made,
            }),
        }
    }

    /// Holds a waiting callback (out of the index) until `until`.
    fn hold(&mut self, id: ContactId, until: Millis) {
        let timer = self.add_timer(until, Timer::CallbackDue(id));
        let contact = self.contact_mut(id);
        contact.held_until = until;
        if let Some(old) = contact.hold_timer.replace(timer) {
            self.timers.remove(&old);
        }
    }

    /// A held callback's time came: it takes its place in the line (ranked by its queue's
    /// strategy now) and is routed.
    pub(super) fn callback_due(&mut self, key: TimerKey, id: ContactId) {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return;
        };
        if contact.hold_timer != Some(key) {
            return;
        }
        contact.hold_timer = None;
        contact.held_until = 0;
        if contact.state != ContactState::Waiting {
            return;
        }
        let slot = self.queue_slot(id);
        let strategy = self.queues[slot].as_ref().expect("queue").strategy.clone();
        let contact = self.contact_mut(id);
        contact.rank = strategy.contact_key(&matching::contact_facts(contact));
        self.route_contact(id, Trigger::CallbackDue);
        if self.contacts[&id].state == ContactState::Waiting {
            self.add_waiting(id);
        }
    }

    /// A callback's window closed: if it still waits, nobody reached the customer in time.
    pub(super) fn callback_window_ended(&mut self, key: TimerKey, id: ContactId) {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return;
        };
        if contact.window_timer != Some(key) {
            return;
        }
        contact.window_timer = None;
        if contact.state == ContactState::Waiting {
            self.give_up(id);
        }
    }

    /// Ends a callback unreached.
    pub(super) fn give_up(&mut self, id: ContactId) {
        self.enter(id, lifecycle::Step::GiveUp);
        let slot = self.queue_slot(id);
        self.queue_mut(slot).counters.callbacks_unreached += 1;
        self.end_contact(id, ContactState::Unreached);
    }
}
