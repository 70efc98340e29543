//! The replay loop: a recording's traffic through a fresh engine, under a [`Change`], on
//! virtual time — the floor's commands at their recorded times, the customers arriving as
//! recorded, and their patience, the agents' answers and handling modelled as the module above
//! describes.
//!
//! Invariants: the engine is driven only through its commands, as the server drives it; every
//! draw comes from the contact's own generator (seeded by its place in the recording and the
//! replication's seed), so a change meets the same customers as the no-change replay; events are
//! read in order after every command and every deadline; at one millisecond, what mirrors a
//! record happens in the journal's order.
//!
//! Cost: one engine and a calendar of pending happenings per run; per contact, its live state
//! (a generator and its recorded answers) until it ends. 75–80k contacts/s on one core (README,
//! "What if?").

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::recording::{
    Answer, AnswerKind, LegEnd, Recorded, Recording, UNRECORDED, answers_for, answers_of,
};
use super::{Change, Tally};
use crate::core::{
    Applied, Command, ContactId, ContactState, Engine, EngineConfig, EventBody, Millis, Outcome,
};
use crate::sim::SimReport;
use crate::sim::report::Measurements;
use crate::sim::scenario::StrategyChoice;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    IntervalEnd,
    /// The recording's timeline entry with this index.
    Timeline(usize),
    /// The customer of the contact with this index hangs up if still waiting.
    Patience(usize),
    /// The customer's `k`-th recorded act.
    Act(usize, usize),
    /// An agent (by index) answers an offer: accept or reject.
    Answer(ContactId, usize, bool),
    /// The `k`-th leg of a contact ends.
    LegEnd(ContactId, u32),
    /// A callback attempt within the `k`-th leg reaches the customer.
    Reached(ContactId, u32),
}

/// A contact in the replay.
struct Live {
    index: usize,
    rng: ChaCha8Rng,
    legs: u32,
    /// Off the line (a callback) or past the first wait: the drawn patience no longer applies.
    patient: bool,
    /// The recorded answers to its offers, by agent, still to be given.
    answers: HashMap<Arc<str>, VecDeque<Answer>>,
    resolve_draw: f64,
}

struct Replay<'a> {
    rec: &'a Recording,
    engine: Engine,
    /// Earliest first; at the same millisecond, in the journal's order where the happening
    /// mirrors a record, then in scheduling order.
    calendar: BinaryHeap<Reverse<(Millis, u64, u64, Happening)>>,
    scheduled: u64,
    tally: Tally,
    agents: Vec<Arc<str>>,
    agent_index: HashMap<Arc<str>, usize>,
    /// Added agents, and the recorded agent each works like.
    like: HashMap<Arc<str>, Arc<str>>,
    added: Vec<(String, String)>,
    removed: HashSet<String>,
    strategy: Option<StrategyChoice>,
    settings: Vec<super::QueueSetting>,
    live: HashMap<ContactId, Live>,
    ids: Vec<Option<ContactId>>,
    floor_answers: Vec<Answer>,
    seed: u64,
    events: Vec<crate::core::Event>,
}

/// Replays `rec` under `change`, drawing from `seed`.
pub(super) fn run(
    rec: &Recording,
    change: &Change,
    seed: u64,
    by_interval: bool,
) -> anyhow::Result<SimReport> {
    let strategy = change
        .strategy
        .as_deref()
        .map(StrategyChoice::parse)
        .transpose()?;
    let removed: HashSet<String> = change.remove_agents.iter().cloned().collect();
    let mut agents: Vec<Arc<str>> = rec
        .agents
        .iter()
        .filter(|a| !removed.contains(&***a))
        .cloned()
        .collect();
    let mut like = HashMap::new();
    for (new, of) in &change.add_agents {
        let new: Arc<str> = new.as_str().into();
        agents.push(new.clone());
        like.insert(new, Arc::from(of.as_str()));
    }
    let agent_index = agents
        .iter()
        .enumerate()
        .map(|(i, a)| (a.clone(), i))
        .collect();
    let mut engine = Engine::new(EngineConfig::default());
    engine.advance(rec.start);
    let mut measurements = Measurements::new(by_interval, rec.layout(agents.clone()));
    measurements.start(&engine);
    let mut replay = Replay {
        rec,
        engine,
        calendar: BinaryHeap::new(),
        scheduled: 0,
        tally: Tally::new(measurements, &rec.queues),
        agents,
        agent_index,
        like,
        added: change.add_agents.clone(),
        removed,
        strategy,
        settings: change
            .queue_settings
            .iter()
            .map(|s| super::QueueSetting::parse(s))
            .collect::<anyhow::Result<_>>()?,
        live: HashMap::new(),
        ids: vec![None; rec.contacts.len()],
        floor_answers: rec.answers.values().flatten().copied().collect(),
        seed,
        events: Vec::new(),
    };
    replay
        .floor_answers
        .sort_by_key(|a| (a.delay_ms, a.kind as u8));
    let mut at = rec.start + rec.interval_ms;
    while at <= rec.end {
        replay.push(at, 0, Happening::IntervalEnd);
        at += rec.interval_ms;
    }
    for (i, (at, position, entry)) in rec.timeline.iter().enumerate() {
        replay.push(
            shifted(change, rec, *at, entry),
            *position,
            Happening::Timeline(i),
        );
    }
    replay.drive()?;
    replay.engine.advance(rec.end);
    replay.settle();
    let labels = match &replay.strategy {
        Some(choice) => {
            let mut queues = rec.queue_configs();
            choice.apply(&mut queues)?;
            Recording::strategy_labels(&queues)
        }
        None => Recording::strategy_labels(&rec.queue_configs()),
    };
    let heading = rec.heading(seed, labels);
    Ok(replay.tally.report(heading, &replay.engine))
}

impl Replay<'_> {
    /// Schedules `what` at `at`, placed among what happens then as the record at `position`
    /// was ([`UNRECORDED`]: after every record of that millisecond).
    fn push(&mut self, at: Millis, position: u64, what: Happening) {
        self.calendar
            .push(Reverse((at, position, self.scheduled, what)));
        self.scheduled += 1;
    }

    fn drive(&mut self) -> anyhow::Result<()> {
        let end = self.rec.end;
        loop {
            let next = self.calendar.peek().map(|Reverse((at, _, _, _))| *at);
            if let Some(deadline) = self.engine.next_deadline()
                && next.is_none_or(|at| deadline < at)
                && deadline <= end
            {
                self.engine.advance(deadline);
                self.settle();
                continue;
            }
            let Some(Reverse((at, _, _, what))) = self.calendar.pop() else {
                return Ok(());
            };
            if at > end {
                return Ok(());
            }
            self.engine.advance(at);
            self.settle();
            self.happen(at, what)?;
            self.settle();
        }
    }

    /// The recorded agent whose answers, speed and resolution `agent` has.
    fn recorded_as(&self, agent: &Arc<str>) -> Arc<str> {
        self.like.get(agent).unwrap_or(agent).clone()
    }

    fn speed(&self, agent: &str) -> f64 {
        self.rec.speed.get(agent).copied().unwrap_or(1.0)
    }

    fn resolution(&self, agent: &str) -> f64 {
        self.rec
            .resolution
            .get(agent)
            .copied()
            .unwrap_or(self.rec.floor_resolution)
    }

    fn happen(&mut self, at: Millis, what: Happening) -> anyhow::Result<()> {
        match what {
            Happening::IntervalEnd => self.tally.measurements.interval_ends(&self.engine),
            Happening::Timeline(i) => match &self.rec.timeline[i].2 {
                Recorded::Floor(command) => {
                    for command in self.floor(command) {
                        // Refused here, it changes nothing (an agent removed by the change, a
                        // presence the agent already has): the replay goes on, as the floor did.
                        self.tally.floor(&mut self.engine, command, at);
                    }
                }
                Recorded::Arrival(index) => self.arrive(at, *index),
            },
            Happening::Patience(index) => {
                let Some(id) = self.ids[index] else {
                    return Ok(());
                };
                let patient = self.live.get(&id).is_none_or(|l| l.patient);
                let waiting = self.engine.contact_view(id).is_some_and(|v| {
                    matches!(
                        v.state,
                        ContactState::Waiting | ContactState::Offered { .. }
                    )
                });
                if !patient && waiting {
                    let abandon = Command::Cancel {
                        contact: id,
                        reason: crate::core::CancelReason::Abandoned,
                    };
                    let _ = self.engine.apply(abandon, at);
                }
            }
            Happening::Act(index, k) => {
                let Some(id) = self.ids[index] else {
                    return Ok(());
                };
                let act = with_contact(&self.rec.contacts[index].acts[k].2, id);
                let callback = matches!(act, Command::RequestCallback { .. });
                if self.engine.apply(act, at).is_ok()
                    && callback
                    && let Some(l) = self.live.get_mut(&id)
                {
                    l.patient = true;
                }
            }
            Happening::Answer(contact, a, accept) => {
                let agent = self.agents[a].to_string();
                let command = if accept {
                    Command::Accept { contact, agent }
                } else {
                    Command::Reject { contact, agent }
                };
                // The customer may have hung up, or the offer timed out, meanwhile.
                let _ = self.engine.apply(command, at);
            }
            Happening::LegEnd(contact, leg) => self.end_leg(at, contact, leg),
            Happening::Reached(contact, leg) => {
                if let Some(agent) = self.holder(contact, leg) {
                    let attempt = Command::CallbackAttempt {
                        contact,
                        agent: agent.to_string(),
                        result: crate::core::AttemptResult::Reached,
                        attempt: 0,
                    };
                    let _ = self.engine.apply(attempt, at);
                }
            }
        }
        Ok(())
    }

    /// A floor command as the change has it: none, itself, or itself and its copies.
    fn floor(&self, command: &Command) -> Vec<Command> {
        let named = match command {
            Command::PutAgent(spec) => Some(&*spec.id),
            Command::RemoveAgent { id } => Some(id.as_str()),
            Command::SetPresence { agent, .. } | Command::Session { agent, .. } => {
                Some(agent.as_str())
            }
            Command::PutQueue(q) => {
                let mut q = (**q).clone();
                if let Some(choice) = &self.strategy
                    && choice.apply(std::slice::from_mut(&mut q)).is_err()
                {
                    // Checked against every queue's last configuration before the run; an
                    // earlier one the choice does not fit keeps its own strategy.
                    return vec![command.clone()];
                }
                let name = q.name.clone();
                for setting in self.settings.iter().filter(|s| *s.queue == *name) {
                    // Likewise: checked against the last configuration before the run.
                    if let Ok(changed) = setting.apply(&q) {
                        q = changed;
                    }
                }
                return vec![Command::PutQueue(Box::new(q))];
            }
            _ => None,
        };
        let Some(agent) = named else {
            return vec![command.clone()];
        };
        let mut out = Vec::new();
        if !self.removed.contains(agent) {
            out.push(command.clone());
        }
        for (new, of) in &self.added {
            if of == agent {
                out.push(renamed(command, new));
            }
        }
        out
    }

    fn arrive(&mut self, at: Millis, index: usize) {
        let c = &self.rec.contacts[index];
        let enqueued = self.engine.apply(Command::Enqueue(c.new.clone()), at);
        let Ok(Applied::Enqueued { contact, .. }) = enqueued else {
            return;
        };
        let id = contact.id;
        self.ids[index] = Some(id);
        self.tally
            .arrived(&self.engine, id, &c.new.queue, &c.new.conversation_id);
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let (u_patience, resolve_draw): (f64, f64) = (rng.random(), rng.random());
        let patience = match c.abandoned_after {
            Some(w) => Some(w),
            None => self
                .rec
                .patience
                .get(c.new.queue.as_str())
                .and_then(|p| p.draw_beyond(c.waited_at_least, 1.0 - u_patience)),
        };
        if let Some(p) = patience {
            self.push(at + p, c.abandon_position, Happening::Patience(index));
        }
        for (k, (when, position, _)) in c.acts.iter().enumerate() {
            self.push((*when).max(at), *position, Happening::Act(index, k));
        }
        self.live.insert(
            id,
            Live {
                index,
                rng,
                legs: 0,
                patient: false,
                answers: answers_for(c),
                resolve_draw,
            },
        );
    }

    /// The agent holding `contact` in its `leg`-th leg, if that is still so.
    fn holder(&self, contact: ContactId, leg: u32) -> Option<Arc<str>> {
        let live = self.live.get(&contact)?;
        if live.legs != leg + 1 {
            return None;
        }
        match self.engine.contact_view(contact)?.state {
            ContactState::Assigned { agent } => Some(agent),
            _ => None,
        }
    }

    fn start_leg(&mut self, now: Millis, contact: ContactId, agent: &Arc<str>, queue: &str) {
        let as_recorded = self.recorded_as(agent);
        let speed = self.speed(&as_recorded);
        let rec = self.rec;
        let Some(live) = self.live.get_mut(&contact) else {
            return;
        };
        live.legs += 1;
        live.patient = true;
        let k = live.legs - 1;
        let plan = rec.contacts[live.index].legs.get(k as usize);
        // A handled contact of the queue that lasted longer than `beyond`, at random.
        let drawn = |rng: &mut ChaCha8Rng, beyond: u64| -> Option<(Arc<str>, u64)> {
            let pool = rec.handled.get(queue)?;
            let from = pool.partition_point(|(_, d)| *d <= beyond);
            (from < pool.len()).then(|| pool[rng.random_range(from..pool.len())].clone())
        };
        let (recorded_agent, mut duration) = match plan {
            Some(leg) if leg.end != LegEnd::Open => (leg.agent.clone(), leg.duration_ms),
            // Still under way when the recording ended: longer than it had lasted (past the
            // end of the replay when no handled contact lasted longer).
            Some(leg) => drawn(&mut live.rng, leg.duration_ms)
                .unwrap_or_else(|| (leg.agent.clone(), leg.duration_ms + 1)),
            None => drawn(&mut live.rng, 0).unwrap_or_else(|| (agent.clone(), 0)),
        };
        let ratio_to = |a: &Arc<str>| speed / rec.speed.get(a).copied().unwrap_or(1.0);
        let ratio = ratio_to(&recorded_agent);
        duration = (duration as f64 * ratio).round() as u64;
        if let Some(leg) = plan.filter(|l| l.end == LegEnd::Open) {
            let lasted = (leg.duration_ms as f64 * ratio_to(&leg.agent)).round() as u64;
            duration = duration.max(lasted + 1);
        }
        let reached: Vec<u64> = plan.map_or(Vec::new(), |l| l.reached_at.clone());
        // The leg the recording had, by the same agent: in the journal's place among its peers.
        // A leg of zero milliseconds (accepted and completed in one) ends in that millisecond,
        // after its acceptance, and frees the agent for what follows it there, as it did.
        let position = plan
            .filter(|l| l.agent == recorded_agent && l.agent == as_recorded)
            .map_or(UNRECORDED, |l| l.end_position);
        self.push(now + duration, position, Happening::LegEnd(contact, k));
        for offset in reached {
            let when = now + (offset as f64 * ratio).round() as u64;
            self.push(
                when.min(now + duration),
                UNRECORDED,
                Happening::Reached(contact, k),
            );
        }
    }

    fn end_leg(&mut self, at: Millis, contact: ContactId, leg: u32) {
        let Some(agent) = self.holder(contact, leg) else {
            return;
        };
        let rec = self.rec;
        let live = &self.live[&contact];
        let plan = rec.contacts[live.index].legs.get(leg as usize);
        let as_recorded = self.recorded_as(&agent);
        let end = plan.map_or(LegEnd::Open, |l| l.end.clone());
        let command = match end {
            LegEnd::Transfer {
                queue,
                required_skills,
                reason,
                to_agent,
            } => Some(Command::Transfer {
                contact,
                agent: agent.to_string(),
                queue,
                required_skills,
                reason,
                to_agent,
            }),
            // The call the agent makes now: the what-if floor may have made other calls.
            LegEnd::Attempt(result) => Some(Command::CallbackAttempt {
                contact,
                agent: agent.to_string(),
                result,
                attempt: 0,
            }),
            LegEnd::Complete(_) | LegEnd::Open => None,
        };
        if let Some(command) = command
            && self.engine.apply(command, at).is_ok()
        {
            return;
        }
        // Completed as recorded, or (a transfer or attempt the engine refuses here) completed.
        let rate = self.resolution(&as_recorded);
        let resolved = match plan.map(|l| (&l.agent, &l.end)) {
            Some((a, LegEnd::Complete(outcome))) if *a == as_recorded => outcome.resolved,
            Some((a, LegEnd::Complete(outcome))) => {
                // A draw consistent with the recorded outcome under the recorded agent's rate.
                let first = self.resolution(a);
                let u = if outcome.resolved {
                    live.resolve_draw * first
                } else {
                    first + live.resolve_draw * (1.0 - first)
                };
                u < rate
            }
            _ => live.resolve_draw < rate,
        };
        let mut outcome = end_outcome(plan).copied().unwrap_or_default();
        outcome.resolved = resolved;
        if outcome.handle_secs > 0
            && let Some(l) = plan
        {
            let ratio = self.speed(&as_recorded) / self.speed(&l.agent);
            outcome.handle_secs = (f64::from(outcome.handle_secs) * ratio).round().max(1.0) as u32;
        }
        let view = self.engine.contact_view(contact);
        let complete = Command::Complete {
            contact,
            agent: agent.to_string(),
            outcome,
        };
        if self.engine.apply(complete, at).is_ok()
            && let Some(v) = view
        {
            self.tally
                .completed(contact, &v.queue, &v.conversation_id, &agent, resolved);
        }
    }

    /// What the engine just did: offers answered, acceptances started, all measured.
    fn settle(&mut self) {
        loop {
            self.engine.drain_events(&mut self.events);
            if self.events.is_empty() {
                return;
            }
            for event in std::mem::take(&mut self.events) {
                let now = event.at;
                self.tally.event(&self.engine, &event.body);
                match &event.body {
                    EventBody::Decision(d) => self.offered(now, d.contact, &d.agent),
                    EventBody::OfferAccepted {
                        contact,
                        agent,
                        queue,
                        ..
                    } => self.start_leg(now, *contact, agent, queue),
                    EventBody::ContactEnded { contact, .. } => {
                        self.live.remove(&contact.id);
                    }
                    _ => {}
                }
            }
        }
    }

    /// An offer to `agent`: the answer it recorded for this contact, or one of its answers.
    fn offered(&mut self, now: Millis, contact: ContactId, agent: &Arc<str>) {
        let Some(&a) = self.agent_index.get(agent) else {
            return;
        };
        let as_recorded = self.recorded_as(agent);
        let pool = answers_of(self.rec, &as_recorded, &self.floor_answers);
        let Some(live) = self.live.get_mut(&contact) else {
            return;
        };
        let answer = match live.answers.get_mut(agent).and_then(VecDeque::pop_front) {
            Some(answer) => answer,
            None if pool.is_empty() => Answer {
                delay_ms: 0,
                kind: AnswerKind::Accept,
                position: UNRECORDED,
            },
            // Another contact's answer: not this one's place in the journal.
            None => Answer {
                position: UNRECORDED,
                ..pool[live.rng.random_range(0..pool.len())]
            },
        };
        let accept = match answer.kind {
            AnswerKind::Accept => true,
            AnswerKind::Reject => false,
            // Left to time out, as it was.
            AnswerKind::NoAnswer => return,
        };
        self.push(
            now + answer.delay_ms,
            answer.position,
            Happening::Answer(contact, a, accept),
        );
    }
}

fn end_outcome(plan: Option<&super::recording::Leg>) -> Option<&Outcome> {
    match &plan?.end {
        LegEnd::Complete(o) => Some(o),
        _ => None,
    }
}

/// A customer's act, aimed at the contact's id in this replay.
fn with_contact(act: &Command, id: ContactId) -> Command {
    let mut act = act.clone();
    match &mut act {
        Command::Cancel { contact, .. }
        | Command::RequestCallback { contact, .. }
        | Command::UpdateContact { contact, .. } => *contact = id,
        _ => {}
    }
    act
}

/// An agent's command, for another agent.
fn renamed(command: &Command, id: &str) -> Command {
    let mut command = command.clone();
    match &mut command {
        Command::PutAgent(spec) => {
            spec.id = id.into();
            spec.name = id.to_string();
        }
        Command::RemoveAgent { id: agent }
        | Command::SetPresence { agent, .. }
        | Command::Session { agent, .. } => *agent = id.to_string(),
        _ => {}
    }
    command
}

/// When a floor entry happens under `change`: an agent's presence or session change moves with
/// the agent's shift (not before the recording's start).
fn shifted(change: &Change, rec: &Recording, at: Millis, entry: &Recorded) -> Millis {
    let Recorded::Floor(command) = entry else {
        return at;
    };
    let (Command::SetPresence { agent, .. } | Command::Session { agent, .. }) = &**command else {
        return at;
    };
    let minutes: i64 = change
        .shifts
        .iter()
        .filter(|(agents, _)| super::names_agent(agents, agent))
        .map(|(_, m)| *m)
        .sum();
    let moved = at as i64 + minutes * 60_000;
    moved.max(rec.start as i64) as Millis
}
