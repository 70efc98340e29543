//! Exception rules (overflow and the like): per queue, a trigger — a contact has waited N s,
//! or on its arrival the queue holds N contacts, no logged-in agent can serve it, or its
//! estimated wait exceeds N s — and an action — move it to another queue, set its priority,
//! replace its requirements, end it (`diverted`), or tell the frontend to offer the customer a
//! callback (published only: the customer decides, and the frontend calls RequestCallback).
//!
//! When rules are looked at:
//! - on arrival in a queue (enqueue, transfer in, move in), after routing found no agent: every
//!   rule of the queue in order, each firing at most once per visit;
//! - `waited` rules are deadlines (`Timer::Exception`), never polling: the earliest rule not yet
//!   fired is armed at `queued_at + secs`. A rule coming due while the contact rings at an agent
//!   waits: if the offer comes back, the rule fires then.
//!
//! After a firing the contact is routed again (new queue, priority or requirements); a move
//! checks the new queue's arrival rules. A move keeps the contact's `queued_at`, so its wait —
//! for service level, order, maximum wait, relaxation and `waited` rules — counts from when it
//! first entered the chain of queues. The source counts an `overflowed_out`, the target an
//! entry (`offered`) and an `overflowed_in`; `diverted` contacts are counted apart and kept out
//! of service level (see [`crate::core::stats::QueueCounters`]). Each firing is an
//! `ExceptionFired` event, is kept on the contact (`exceptions`) and shows in its decisions.
//!
//! Invariants: the move graph (queue → queues its rules move contacts to) is acyclic, every
//! target exists and accepts every channel its sources accept (checked when a queue is put;
//! deleting a target is refused), so moves end: a contact visits each queue of a chain at most
//! once per instant. Cost: O(rules) per arrival that found no agent (O(profiles) more for a
//! `no_agent` rule, O(waiting) more for an `estimated_wait` rule on a moved contact); O(queues ×
//! rules) per queue put.
//!
//! Known limits: a move to a full queue is not made (the firing says `applied = false`); the
//! contact's own requirements (as enqueued, or as last updated) go with it and meet the target
//! queue's defaults; its relaxation restarts under the target's steps (measured from
//! `queued_at`, so steps already due apply at once).

use super::*;
use crate::core::contact::Firing;
use crate::core::queue::{ExceptionAction, ExceptionRule, ExceptionTrigger};

/// What a firing did to the contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fired {
    /// Priority or requirements changed, or a move could not be made: same queue.
    Stayed,
    /// It is in another queue now.
    Moved,
    /// It ended (diverted).
    Ended,
}

impl Engine {
    /// Refuses a queue configuration whose moves would break the move graph: a target that does
    /// not exist or does not take every channel this queue takes, a cycle; and, for a queue
    /// that exists, a channel change that a queue moving contacts into it relies on.
    pub(super) fn check_moves(&self, config: &QueueConfig) -> Result<(), CoreError> {
        let name = &*config.name;
        for target in config.move_targets() {
            let Some(&slot) = self.queue_ids.get(target) else {
                return Err(CoreError::invalid(format!(
                    "queue {name:?} has an exception rule moving contacts to queue {target:?}, \
                     which does not exist (create it first)"
                )));
            };
            let to = &self.queues[slot].as_ref().expect("queue present").config;
            check_channels(config, to)?;
            if let Some(path) = self.path_to(target, name) {
                return Err(CoreError::invalid(format!(
                    "exception rules would move contacts in a cycle: {name} -> {}",
                    path.join(" -> ")
                )));
            }
        }
        for source in self.queues.iter().flatten() {
            if *source.config.name != *name && source.config.move_targets().any(|t| t == name) {
                check_channels(&source.config, config)?;
            }
        }
        Ok(())
    }

    /// The queues from `from` to `to` following existing queues' moves (with `from` first and
    /// `to` last), if `to` can be reached.
    fn path_to(&self, from: &str, to: &str) -> Option<Vec<String>> {
        if from == to {
            return Some(vec![to.to_string()]);
        }
        let slot = *self.queue_ids.get(from)?;
        let queue = self.queues[slot].as_ref()?;
        for next in queue.config.move_targets() {
            if let Some(mut path) = self.path_to(next, to) {
                path.insert(0, from.to_string());
                return Some(path);
            }
        }
        None
    }

    /// A queue other queues move contacts to cannot be deleted: the first such queue.
    pub(super) fn moved_to_by(&self, name: &str) -> Option<Arc<str>> {
        self.queues
            .iter()
            .flatten()
            .find(|q| q.config.move_targets().any(|t| t == name))
            .map(|q| q.config.name.clone())
    }

    /// A contact arrived in its queue (or a deadline of it came due) and is waiting, out of
    /// the waiting index: routes it (with `trigger`, when given), then fires the rules that
    /// apply — arrival rules when `arrived` — routing it again after each, until it is offered,
    /// ended, or no rule applies; then arms its next `waited` rule and indexes it if it still
    /// waits.
    pub(super) fn settle(&mut self, id: ContactId, trigger: Option<Trigger>, mut arrived: bool) {
        let mut trigger = trigger;
        loop {
            if let Some(trigger) = trigger {
                self.route_contact(id, trigger);
            }
            if self.contacts.get(&id).map(|c| &c.state) != Some(&ContactState::Waiting) {
                break;
            }
            let Some(rule) = self.next_rule(id, arrived) else {
                break;
            };
            match self.fire_rule(id, rule) {
                Fired::Ended => return,
                Fired::Moved => arrived = true,
                Fired::Stayed => {}
            }
            trigger = Some(Trigger::ExceptionFired);
        }
        // An offered contact needs no timer now: a returning offer arms it (`end_offer`).
        if self.contacts[&id].state == ContactState::Waiting {
            self.arm_exception(id);
            self.add_waiting(id);
        }
    }

    /// The first rule of the contact's queue, in order, that has not fired in this visit and
    /// applies now: a `waited` rule that is due, or (on arrival) an arrival rule that holds.
    fn next_rule(&self, id: ContactId, arrived: bool) -> Option<usize> {
        let contact = &self.contacts[&id];
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_ref().expect("queue present");
        queue
            .config
            .exceptions
            .iter()
            .enumerate()
            .find(|(i, rule)| {
                contact.exceptions_done & (1 << i) == 0
                    && match &rule.trigger {
                        ExceptionTrigger::Waited { secs } => {
                            contact.queued_at + *secs as u64 * 1000 <= self.now
                        }
                        trigger => arrived && self.holds_on_arrival(contact, queue, trigger),
                    }
            })
            .map(|(i, _)| i)
    }

    /// Whether an arrival trigger holds for a contact arriving (not yet indexed) in `queue`.
    fn holds_on_arrival(
        &self,
        contact: &Contact,
        queue: &QueueState,
        trigger: &ExceptionTrigger,
    ) -> bool {
        match trigger {
            ExceptionTrigger::Waited { .. } => false,
            ExceptionTrigger::LengthAtLeast { length } => queue.waiting.len() >= *length as usize,
            ExceptionTrigger::NoAgent => !self.logged_in_agent_meets(contact),
            ExceptionTrigger::EstimatedWaitOver { secs } => {
                let position =
                    self.place_of(queue, contact.priority, (contact.queued_at, contact.id));
                let estimator = queue.strategy.wait_estimator;
                self.wait_estimate(queue, estimator, position)
                    .is_none_or(|ms| ms > *secs as u64 * 1000)
            }
        }
    }

    /// Whether any logged-in agent (in any state) meets one of the contact's requirement sets:
    /// looked up by skill profile, not agent by agent.
    fn logged_in_agent_meets(&self, contact: &Contact) -> bool {
        self.profiles_staffed().any(|skills| {
            contact
                .sets()
                .any(|set| crate::core::agent::skills_meet(skills, set))
        })
    }

    /// Fires rule `i` of the contact's queue on the waiting (unindexed) contact: records the
    /// firing, publishes it, and takes the action.
    fn fire_rule(&mut self, id: ContactId, i: usize) -> Fired {
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_ref().expect("queue present");
        let ExceptionRule { trigger, action } = queue.config.exceptions[i].clone();
        let from = queue.config.name.clone();
        let step = match action {
            ExceptionAction::End { .. } => lifecycle::Step::Divert,
            _ => lifecycle::Step::Overflow,
        };
        self.enter(id, step);
        let (fired, applied) = match &action {
            ExceptionAction::MoveTo { queue: to } => match self.movable_to(id, to) {
                Some(plan) => {
                    self.move_contact(id, slot, plan);
                    (Fired::Moved, true)
                }
                None => (Fired::Stayed, false),
            },
            ExceptionAction::Priority { priority } => {
                let strategy = self.queues[slot].as_ref().expect("queue").strategy.clone();
                let contact = self.contact_mut(id);
                contact.priority = *priority;
                contact.rank = strategy.contact_key(&matching::contact_facts(contact));
                (Fired::Stayed, true)
            }
            ExceptionAction::Require { skills } => {
                let mut requirements = self.intern_requirements(skills);
                requirements.sort_unstable();
                let contact = self.contact_mut(id);
                contact.requirements = requirements;
                contact.required_skills = skills.clone().into();
                contact.own_skills = skills.clone().into();
                (Fired::Stayed, true)
            }
            ExceptionAction::End { .. } => (Fired::Ended, true),
            ExceptionAction::OfferCallback => (Fired::Stayed, true),
        };
        let firing = Firing {
            at: self.now,
            queue: from,
            rule: i as u32,
            trigger,
            action,
            applied,
        };
        let contact = self.contact_mut(id);
        if fired != Fired::Moved {
            contact.exceptions_done |= 1 << i;
        }
        let mut firings = contact.exceptions.to_vec();
        firings.push(firing.clone());
        contact.exceptions = firings.into();
        let view = contact.view();
        self.emit(EventBody::ExceptionFired {
            contact: view,
            firing,
        });
        if fired == Fired::Ended {
            self.queue_mut(slot).counters.diverted += 1;
            self.end_contact(id, ContactState::Diverted);
        }
        fired
    }

    /// Whether the contact can move to queue `to` now: the slot and the contact's effective
    /// requirements there, or `None` (the target is full, or gone, or its requirements with the
    /// contact's own exceed the skills limit).
    fn movable_to(&self, id: ContactId, to: &str) -> Option<(usize, Vec<SkillLevel>)> {
        let slot = *self.queue_ids.get(to)?;
        let target = self.queues[slot].as_ref()?;
        let contact = &self.contacts[&id];
        let full = target.config.max_length > 0
            && target.waiting.len() >= target.config.max_length as usize;
        if full || !target.config.accepts(contact.channel) {
            return None;
        }
        let named = self
            .effective_requirements(&target.config, &contact.own_skills)
            .ok()?;
        Some((slot, named))
    }

    /// Moves a waiting (unindexed) contact from queue `from` to the planned one: it keeps its
    /// id, customer, context, conversation, history, exclusions and `queued_at`; it takes the
    /// target's requirements (with its own), alternatives, contact ranking, maximum wait and
    /// relaxation (both from `queued_at`) and rules (none fired yet).
    fn move_contact(&mut self, id: ContactId, from: usize, (to, named): (usize, Vec<SkillLevel>)) {
        let source = self.queue_mut(from);
        source.live -= 1;
        source.counters.overflowed_out += 1;
        let target = self.queue_mut(to);
        target.live += 1;
        target.counters.offered += 1;
        target.counters.overflowed_in += 1;
        let Entry {
            queue: to_queue,
            requirements,
            alternatives,
            alternative_named,
            strategy,
            cost,
            max_wait,
            first_step,
        } = self.entry(id, to, &named);
        let contact = self.contact_mut(id);
        contact.cost = cost;
        let timers = [
            contact.wait_timer.take(),
            contact.relax_timer.take(),
            contact.affinity_timer.take(),
            contact.exception_timer.take(),
        ];
        contact.queue = to_queue;
        contact.requirements = requirements;
        contact.required_skills = named.into();
        contact.alternatives = alternatives;
        contact.alternative_skills = alternative_named.into();
        contact.preferred = Vec::new();
        contact.recalled = false;
        contact.affinity_until = 0;
        contact.relax_step = 0;
        contact.exceptions_done = 0;
        contact.wait_expired = false;
        contact.rank = strategy.contact_key(&matching::contact_facts(contact));
        let queued_at = contact.queued_at;
        for timer in timers.into_iter().flatten() {
            self.timers.remove(&timer);
        }
        self.start_timers_from(id, queued_at, max_wait, first_step);
    }

    /// The deadlines of a contact that entered its queue chain at `queued_at`: maximum wait and
    /// first relaxation step, from then (a deadline already past fires at the next advance).
    fn start_timers_from(
        &mut self,
        id: ContactId,
        queued_at: Millis,
        max_wait_secs: u32,
        first_step_secs: Option<u32>,
    ) {
        let now = self.now;
        if max_wait_secs > 0 {
            let at = (queued_at + max_wait_secs as u64 * 1000).max(now);
            let timer = self.add_timer(at, Timer::MaxWait(id));
            self.contact_mut(id).wait_timer = Some(timer);
        }
        if let Some(after) = first_step_secs {
            let at = (queued_at + after as u64 * 1000).max(now);
            let timer = self.add_timer(at, Timer::Relax(id));
            self.contact_mut(id).relax_timer = Some(timer);
        }
    }

    /// Arms the contact's earliest `waited` rule not yet fired in this visit (replacing any
    /// armed one); a rule already due is armed at now.
    pub(super) fn arm_exception(&mut self, id: ContactId) {
        let Some(contact) = self.contacts.get(&id) else {
            return;
        };
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_ref().expect("queue present");
        if queue.config.exceptions.is_empty() && contact.exception_timer.is_none() {
            return;
        }
        let due = queue
            .config
            .exceptions
            .iter()
            .enumerate()
            .filter(|(i, _)| contact.exceptions_done & (1 << i) == 0)
            .filter_map(|(_, rule)| match rule.trigger {
                ExceptionTrigger::Waited { secs } => Some(contact.queued_at + secs as u64 * 1000),
                _ => None,
            })
            .min()
            .map(|at| at.max(self.now));
        let old = self.contact_mut(id).exception_timer.take();
        if let Some(old) = old {
            self.timers.remove(&old);
        }
        if let Some(at) = due {
            let timer = self.add_timer(at, Timer::Exception(id));
            self.contact_mut(id).exception_timer = Some(timer);
        }
    }

    /// A `waited` rule came due: a waiting contact takes it now; one ringing at an agent takes
    /// it if the offer comes back (the return arms it again); one assigned never does.
    pub(super) fn exception_came_due(&mut self, key: TimerKey, id: ContactId) {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return;
        };
        if contact.exception_timer != Some(key) {
            return;
        }
        contact.exception_timer = None;
        if contact.state == ContactState::Waiting {
            self.remove_waiting(id);
            self.settle(id, None, false);
        }
    }

    /// A queue's exception rules changed: its live contacts start its new rules afresh (a
    /// `waited` rule their wait already passed fires at the next advance).
    pub(super) fn restart_exceptions(&mut self, slot: usize) {
        let name = self.queues[slot]
            .as_ref()
            .expect("queue")
            .config
            .name
            .clone();
        let mut ids: Vec<ContactId> = self
            .contacts
            .values()
            .filter(|c| c.queue == name)
            .map(|c| c.id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            self.contact_mut(id).exceptions_done = 0;
            let state = &self.contacts[&id].state;
            if matches!(state, ContactState::Waiting | ContactState::Offered { .. }) {
                self.arm_exception(id);
            }
        }
    }
}

/// A queue moving contacts to `to` must not send it a channel `to` refuses.
fn check_channels(from: &QueueConfig, to: &QueueConfig) -> Result<(), CoreError> {
    let refused = if from.channels.is_empty() {
        (!to.channels.is_empty()).then(|| "every channel".to_string())
    } else {
        from.channels
            .iter()
            .find(|c| !to.accepts(**c))
            .map(|c| format!("{c}"))
    };
    match refused {
        Some(what) => Err(CoreError::invalid(format!(
            "queue {:?} has an exception rule moving contacts to queue {:?}, which does not \
             accept {what} that {:?} accepts",
            from.name, to.name, from.name
        ))),
        None => Ok(()),
    }
}

/// What a contact takes from a queue it enters by a transfer or a move.
pub(super) struct Entry {
    pub queue: Arc<str>,
    /// The named requirements, interned and sorted.
    pub requirements: Vec<(SkillId, u8)>,
    /// The queue's alternative sets and the contact's own, interned, and as named.
    pub alternatives: Vec<Vec<(SkillId, u8)>>,
    pub alternative_named: Vec<Vec<SkillLevel>>,
    /// Its contact ranking.
    pub strategy: Arc<Strategy>,
    /// What the contact costs there.
    pub cost: u32,
    /// Its maximum wait, none for a callback (its customer is off the line, as in its first
    /// queue).
    pub max_wait: u32,
    /// When its first relaxation step is due.
    pub first_step: Option<u32>,
}

impl Engine {
    /// The settings contact `id` takes from the queue in `slot` it enters with `named`
    /// requirements (its own merged with the queue's).
    pub(super) fn entry(&mut self, id: ContactId, slot: usize, named: &[SkillLevel]) -> Entry {
        let is_callback = self.contacts[&id].callback.is_some();
        let target = self.queues[slot].as_ref().expect("queue present");
        let queue = target.config.name.clone();
        let max_wait = if is_callback {
            0
        } else {
            target.config.max_wait_secs
        };
        let first_step = target.config.relaxation.first().map(|s| s.after_secs);
        let strategy = target.strategy.clone();
        let alternative_sets = target.config.alternatives.clone();
        let mut requirements = self.intern_requirements(named);
        requirements.sort_unstable();
        let mut alternatives = Vec::new();
        let mut alternative_named = Vec::new();
        let own_alternatives = self.contacts[&id].own_alternatives.to_vec();
        for set in alternative_sets.into_iter().chain(own_alternatives) {
            self.add_alternative(
                &requirements,
                &mut alternatives,
                &mut alternative_named,
                set,
            );
        }
        let cost = self.cost_in(slot, self.contacts[&id].channel);
        Entry {
            queue,
            requirements,
            alternatives,
            alternative_named,
            strategy,
            cost,
            max_wait,
            first_step,
        }
    }
}
