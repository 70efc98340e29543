//! A recording: the journal's commands read through an engine, as recovery reads them, and
//! what they show kept per contact and per agent (see the module above for how a replay uses
//! it), with the recorded figures.
//!
//! Invariants: records are applied in journal order at their own times, refused ones refused
//! again (a journal keeps refused enqueues, which count); the recorded figures are measured on
//! that engine, interval by interval from the first record, with the same code a replay uses.
//! Cost: two passes over the journal (the first only names the queues and agents); memory per
//! contact is its contents and legs, not its records.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use anyhow::bail;

use super::patience::Patience;
use super::{Source, Tally};
use crate::core::{
    Applied, AttemptResult, CancelReason, Command, ContactId, ContactState, Engine, EngineConfig,
    EventBody, Millis, NewContact, Outcome, QueueConfig,
};
use crate::sim::SimReport;
use crate::sim::report::{Heading, Layout, Measurements};

/// An agent's answer to one offer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Answer {
    /// From the offer to the answer (for `NoAnswer`: to the offer's timeout).
    pub delay_ms: u64,
    pub kind: AnswerKind,
    /// The answer's place in the journal ([`UNRECORDED`] for no answer).
    pub position: u64,
}

/// The place in the journal of what no record holds.
pub const UNRECORDED: u64 = u64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerKind {
    Accept,
    Reject,
    /// The offer timed out, or was taken back, unanswered.
    NoAnswer,
}

/// How a leg of handling ended.
#[derive(Clone, Debug, PartialEq)]
pub enum LegEnd {
    Complete(Outcome),
    /// A blind transfer (or a consult that ended in one), to this queue.
    Transfer {
        queue: String,
        required_skills: Vec<crate::core::SkillLevel>,
        reason: String,
        to_agent: Option<crate::core::NamedAgent>,
    },
    /// A callback attempt that did not reach the customer.
    Attempt(AttemptResult),
    /// Still under way when the recording ends.
    Open,
}

/// One agent's handling of a contact, from accepting it to letting it go.
#[derive(Clone, Debug)]
pub struct Leg {
    pub agent: Arc<str>,
    pub queue: Arc<str>,
    pub accepted_at: Millis,
    /// For a leg still open at the end, how long it had lasted by then.
    pub duration_ms: u64,
    /// Callback attempts that reached the customer, by offset from the acceptance.
    pub reached_at: Vec<u64>,
    pub end: LegEnd,
    /// The place in the journal of the command that ended it ([`UNRECORDED`] while open).
    pub end_position: u64,
}

/// One contact, as the recording shows it.
#[derive(Clone, Debug)]
pub struct RecordedContact {
    pub arrived: Millis,
    pub new: NewContact,
    /// Its id in the recording (`None`: refused at the door).
    pub id: Option<ContactId>,
    /// The wait after which the customer abandoned, if they did in their first wait.
    pub abandoned_after: Option<u64>,
    /// The place in the journal of that abandonment.
    pub abandon_position: u64,
    /// How long the customer is known to have been willing to wait (their first wait).
    pub waited_at_least: u64,
    /// The customer's own acts (withdrawal, callback request, update; an abandonment after a
    /// transfer), at their recorded times and places in the journal.
    pub acts: Vec<(Millis, u64, Command)>,
    pub legs: Vec<Leg>,
    /// The recorded answers to offers of this contact, by agent, in order.
    pub answers: Vec<(Arc<str>, Answer)>,
}

/// Something that happened, in recorded order.
#[derive(Clone, Debug)]
pub enum Recorded {
    /// A command that shaped the floor (queue, agent, presence, session, settings); boxed, so
    /// that the many arrivals do not each take a command's room.
    Floor(Box<Command>),
    /// The arrival of the contact with this index.
    Arrival(usize),
}

/// What a journal recorded.
pub struct Recording {
    /// The name it goes by in reports.
    pub name: String,
    /// With each entry's time and place in the journal (a replay keeps that order among what
    /// happens at the same millisecond).
    pub timeline: Vec<(Millis, u64, Recorded)>,
    pub contacts: Vec<RecordedContact>,
    /// Queue names and agent ids, in order of first appearance.
    pub queues: Vec<String>,
    pub agents: Vec<Arc<str>>,
    /// Every queue's last configuration.
    pub configs: HashMap<String, QueueConfig>,
    /// Each agent's answers to offers.
    pub answers: HashMap<Arc<str>, Vec<Answer>>,
    /// Each agent's speed index (mean of leg duration ÷ its queue's mean; 1 unknown).
    pub speed: HashMap<Arc<str>, f64>,
    /// Each agent's share of completions resolved.
    pub resolution: HashMap<Arc<str>, f64>,
    /// The floor's share of completions resolved.
    pub floor_resolution: f64,
    /// Per queue, completed legs' (agent, duration), shortest first, to draw handling for
    /// contacts never handled (those longer than a bound are a suffix: found in O(log n)).
    pub handled: HashMap<Arc<str>, Vec<(Arc<str>, u64)>>,
    pub patience: HashMap<Arc<str>, Patience>,
    pub start: Millis,
    pub end: Millis,
    pub interval_ms: u64,
    pub records: u64,
    /// The recorded figures.
    pub report: SimReport,
}

impl Recording {
    pub fn has_agent(&self, id: &str) -> bool {
        self.agents.iter().any(|a| &**a == id)
    }

    /// One line on what was recorded.
    pub fn summary(&self) -> String {
        let answered = self.contacts.iter().filter(|c| !c.legs.is_empty()).count();
        format!(
            "journal {}: {} records, {} contacts ({} handled), {} agents, {} queues, {:.2} h from {}\n",
            self.name,
            self.records,
            self.contacts.len(),
            answered,
            self.agents.len(),
            self.queues.len(),
            (self.end - self.start) as f64 / 3_600_000.0,
            jiff::Timestamp::from_millisecond(self.start as i64)
                .map_or_else(|_| format!("{} ms", self.start), |t| t.to_string()),
        )
    }

    /// The comparison as JSON, with what was recorded and what each what-if changed.
    pub fn to_json(
        &self,
        changes: &[super::Change],
        comparison: &crate::sim::Comparison,
    ) -> anyhow::Result<String> {
        let mut out: serde_json::Value = serde_json::from_str(&comparison.to_json())?;
        let recorded = serde_json::json!({
            "journal": self.name,
            "records": self.records,
            "contacts": self.contacts.len(),
            "handled": self.contacts.iter().filter(|c| !c.legs.is_empty()).count(),
            "agents": self.agents.len(),
            "queues": self.queues,
            "from_ms": self.start,
            "to_ms": self.end,
        });
        let what_if: Vec<serde_json::Value> = changes
            .iter()
            .filter(|c| !c.is_none())
            .map(|c| serde_json::json!({ "column": c.label(), "change": c.describe() }))
            .collect();
        if let Some(map) = out.as_object_mut() {
            map.insert("recording".into(), recorded);
            map.insert("what_if".into(), what_if.into());
        }
        Ok(serde_json::to_string_pretty(&out)?)
    }

    /// Every queue's last configuration, in first-appearance order.
    pub fn queue_configs(&self) -> Vec<QueueConfig> {
        self.queues
            .iter()
            .filter_map(|q| self.configs.get(q).cloned())
            .collect()
    }

    /// The measuring layout: its queues, and `agents` as one group.
    pub(crate) fn layout(&self, agents: Vec<Arc<str>>) -> Layout {
        let count = agents.len();
        Layout::new(
            self.queues.clone(),
            agents,
            vec![("agents".into(), count)],
            self.start,
        )
    }

    pub(crate) fn heading(&self, seed: u64, strategy: String) -> Heading {
        Heading {
            scenario: self.name.clone(),
            seed,
            hours: hours(self.end - self.start),
            warm_up_minutes: 0.0,
            strategy,
        }
    }

    /// Each queue's strategy label, as the simulator writes it.
    pub(crate) fn strategy_labels(queues: &[QueueConfig]) -> String {
        let mut labels: Vec<String> = queues
            .iter()
            .map(|q| format!("{}/{}", q.strategy, q.contact_strategy))
            .collect();
        labels.dedup();
        labels.join(", ")
    }

    /// Reads `source` and reconstructs what it recorded, measured by `interval_ms`.
    pub fn read(
        name: &str,
        source: &dyn Source,
        interval_ms: u64,
        by_interval: bool,
    ) -> anyhow::Result<Recording> {
        anyhow::ensure!(interval_ms > 0, "the interval must be longer than zero");
        // First pass: the queues and agents, to lay out the measurements.
        let mut queues: Vec<String> = Vec::new();
        let mut agents: Vec<Arc<str>> = Vec::new();
        let (mut start, mut end, mut records) = (None, 0, 0u64);
        source.each(&mut |at, command| {
            start.get_or_insert(at);
            end = end.max(at);
            records += 1;
            match &command {
                Command::PutQueue(q) if !queues.contains(&q.name.to_string()) => {
                    queues.push(q.name.to_string())
                }
                Command::PutAgent(spec) if !agents.contains(&spec.id) => {
                    agents.push(spec.id.clone())
                }
                _ => {}
            }
            Ok(())
        })?;
        let Some(start) = start else {
            bail!("the journal holds no record");
        };
        let mut reader = Reader::new(start, &queues, &agents, interval_ms, by_interval);
        source.each(&mut |at, command| reader.record(at, command))?;
        let mut rec = reader.finish(name, start, end, records, queues, agents, interval_ms);
        rec.derive();
        Ok(rec)
    }

    /// Speeds, resolution rates, handling pools and patience, from the contacts.
    fn derive(&mut self) {
        let mut by_queue: HashMap<Arc<str>, (f64, u64)> = HashMap::new();
        for leg in self.contacts.iter().flat_map(|c| &c.legs) {
            if matches!(leg.end, LegEnd::Complete(_)) {
                let e = by_queue.entry(leg.queue.clone()).or_default();
                e.0 += leg.duration_ms as f64;
                e.1 += 1;
                self.handled
                    .entry(leg.queue.clone())
                    .or_default()
                    .push((leg.agent.clone(), leg.duration_ms));
            }
        }
        for pool in self.handled.values_mut() {
            pool.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        }
        let mut per_agent: HashMap<Arc<str>, (f64, u64, u64, u64)> = HashMap::new();
        for leg in self.contacts.iter().flat_map(|c| &c.legs) {
            if let LegEnd::Complete(outcome) = &leg.end {
                let (sum, n) = by_queue[&leg.queue];
                let mean = sum / n as f64;
                let e = per_agent.entry(leg.agent.clone()).or_default();
                if mean > 0.0 {
                    e.0 += leg.duration_ms as f64 / mean;
                    e.1 += 1;
                }
                e.2 += 1;
                e.3 += u64::from(outcome.resolved);
            }
        }
        let (mut done, mut resolved) = (0, 0);
        for (agent, (ratio, n, completed, res)) in per_agent {
            if n > 0 {
                self.speed.insert(agent.clone(), ratio / n as f64);
            }
            self.resolution
                .insert(agent, res as f64 / completed.max(1) as f64);
            done += completed;
            resolved += res;
        }
        self.floor_resolution = if done == 0 {
            1.0
        } else {
            resolved as f64 / done as f64
        };
        let mut observations: HashMap<Arc<str>, Vec<(u64, bool)>> = HashMap::new();
        for c in &self.contacts {
            if c.id.is_none() {
                continue;
            }
            let q: Arc<str> = c.new.queue.as_str().into();
            let seen = match c.abandoned_after {
                Some(w) => (w, true),
                None => (c.waited_at_least, false),
            };
            observations.entry(q).or_default().push(seen);
        }
        self.patience = observations
            .into_iter()
            .map(|(q, mut obs)| (q, Patience::estimate(&mut obs)))
            .collect();
    }
}

/// The second pass: the engine, and what is being learnt from it.
struct Reader {
    engine: Engine,
    tally: Tally,
    next_interval: Millis,
    interval_ms: u64,
    timeline: Vec<(Millis, u64, Recorded)>,
    contacts: Vec<RecordedContact>,
    /// The place in the journal of the record being read.
    position: u64,
    by_id: HashMap<ContactId, usize>,
    /// Offers not yet answered: (contact, agent) → when offered.
    offers: HashMap<(ContactId, Arc<str>), Millis>,
    answers: HashMap<Arc<str>, Vec<Answer>>,
    /// Each contact's consult queue, while a consult is under way.
    consults: HashMap<ContactId, String>,
    configs: HashMap<String, QueueConfig>,
    events: Vec<crate::core::Event>,
    /// Contacts (by index) that reached a terminal state.
    ended: std::collections::HashSet<usize>,
}

impl Reader {
    fn new(
        start: Millis,
        queues: &[String],
        agents: &[Arc<str>],
        interval_ms: u64,
        by_interval: bool,
    ) -> Reader {
        let mut engine = Engine::new(EngineConfig::default());
        engine.advance(start);
        let count = agents.len();
        let layout = Layout::new(
            queues.to_vec(),
            agents.to_vec(),
            vec![("agents".into(), count)],
            start,
        );
        let mut measurements = Measurements::new(by_interval, layout);
        measurements.start(&engine);
        Reader {
            engine,
            tally: Tally::new(measurements, queues),
            next_interval: start + interval_ms,
            interval_ms,
            timeline: Vec::new(),
            contacts: Vec::new(),
            position: 0,
            by_id: HashMap::new(),
            offers: HashMap::new(),
            answers: HashMap::new(),
            consults: HashMap::new(),
            configs: HashMap::new(),
            events: Vec::new(),
            ended: Default::default(),
        }
    }

    fn record(&mut self, at: Millis, command: Command) -> anyhow::Result<()> {
        let result = self.apply(at, command);
        self.position += 1;
        result
    }

    fn apply(&mut self, at: Millis, command: Command) -> anyhow::Result<()> {
        let position = self.position;
        while self.next_interval <= at {
            self.engine.advance(self.next_interval);
            self.settle();
            self.tally.measurements.interval_ends(&self.engine);
            self.next_interval += self.interval_ms;
        }
        // Deadlines due before this record fire first, and their events are read at their time.
        self.engine.advance(at);
        self.settle();
        match command {
            Command::Enqueue(new) => self.enqueue(at, new),
            Command::Tick => {}
            Command::Cancel { contact, reason } => {
                let kept = Command::Cancel { contact, reason };
                if self.engine.apply(kept.clone(), at).is_ok()
                    && let Some(&i) = self.by_id.get(&contact)
                    && reason == CancelReason::Withdrawn
                {
                    self.contacts[i].acts.push((at, position, kept));
                }
            }
            Command::RequestCallback { contact, .. } | Command::UpdateContact { contact, .. } => {
                let callback = matches!(command, Command::RequestCallback { .. });
                if self.engine.apply(command.clone(), at).is_ok()
                    && let Some(&i) = self.by_id.get(&contact)
                {
                    let c = &mut self.contacts[i];
                    if callback && c.legs.is_empty() && c.abandoned_after.is_none() {
                        c.waited_at_least = at.saturating_sub(c.arrived);
                    }
                    c.acts.push((at, position, command));
                }
            }
            Command::Accept { contact, ref agent } | Command::Reject { contact, ref agent } => {
                let accept = matches!(command, Command::Accept { .. });
                let agent: Arc<str> = agent.as_str().into();
                if self.engine.apply(command, at).is_ok() {
                    let kind = if accept {
                        AnswerKind::Accept
                    } else {
                        AnswerKind::Reject
                    };
                    self.answered(contact, &agent, at, kind);
                }
            }
            Command::Complete {
                contact,
                ref agent,
                ref outcome,
            } => {
                let (agent, outcome): (Arc<str>, Outcome) = (agent.as_str().into(), *outcome);
                let view = self.engine.contact_view(contact);
                if self.engine.apply(command, at).is_ok() {
                    if let Some(v) = view {
                        self.tally.completed(
                            contact,
                            &v.queue,
                            &v.conversation_id,
                            &agent,
                            outcome.resolved,
                        );
                    }
                    self.end_leg(contact, at, LegEnd::Complete(outcome));
                }
            }
            Command::Transfer {
                contact,
                ref queue,
                ref required_skills,
                ref reason,
                ref to_agent,
                ..
            } => {
                let end = LegEnd::Transfer {
                    queue: queue.clone(),
                    required_skills: required_skills.clone(),
                    reason: reason.clone(),
                    to_agent: to_agent.clone(),
                };
                if self.engine.apply(command, at).is_ok() {
                    self.end_leg(contact, at, end);
                }
            }
            // A bot's escalation ends its leg as a transfer does (a replay hands the contact on
            // as a transfer; the bot's summary does not move the figures).
            Command::Escalate {
                contact,
                ref queue,
                ref required_skills,
                ..
            } => {
                let end = LegEnd::Transfer {
                    queue: queue.clone(),
                    required_skills: required_skills.clone(),
                    reason: "escalated".into(),
                    to_agent: None,
                };
                if self.engine.apply(command, at).is_ok() {
                    self.end_leg(contact, at, end);
                }
            }
            Command::CallbackAttempt {
                contact, result, ..
            } => {
                if self.engine.apply(command, at).is_ok() {
                    if result == AttemptResult::Reached {
                        if let Some(leg) = self.open_leg(contact) {
                            leg.reached_at.push(at.saturating_sub(leg.accepted_at));
                        }
                    } else {
                        self.end_leg(contact, at, LegEnd::Attempt(result));
                    }
                }
            }
            Command::Consult {
                contact, ref queue, ..
            } => {
                let queue = queue.clone();
                if self.engine.apply(command, at).is_ok() {
                    self.consults.insert(contact, queue);
                }
            }
            Command::EndConsult {
                contact, transfer, ..
            } => {
                let queue = self.consults.remove(&contact);
                let holder = self.engine.contact_view(contact);
                if self.engine.apply(command, at).is_ok()
                    && transfer
                    && let (Some(queue), Some(before)) = (queue, holder)
                {
                    let end = LegEnd::Transfer {
                        queue,
                        required_skills: Vec::new(),
                        reason: "consult".into(),
                        to_agent: None,
                    };
                    self.end_leg(contact, at, end);
                    // The consulted agent now holds it: a leg that starts here.
                    let after = self.engine.contact_view(contact);
                    if let Some(agent) = after.as_ref().and_then(|v| v.state.agent()) {
                        let queue = after
                            .as_ref()
                            .map_or(before.queue.clone(), |v| v.queue.clone());
                        self.start_leg(contact, agent.clone(), queue, at);
                    }
                }
            }
            floor => {
                if let Command::PutQueue(q) = &floor {
                    self.configs.insert(q.name.to_string(), (**q).clone());
                }
                // A command the journal kept ran; one refused now was refused then too.
                if self.tally.floor(&mut self.engine, floor.clone(), at) {
                    self.timeline
                        .push((at, position, Recorded::Floor(Box::new(floor))));
                }
            }
        }
        self.settle();
        Ok(())
    }

    fn enqueue(&mut self, at: Millis, new: NewContact) {
        let index = self.contacts.len();
        let id = match self.engine.apply(Command::Enqueue(new.clone()), at) {
            Ok(Applied::Enqueued { contact, .. }) => Some(contact.id),
            // A retry answered from the request window: the same contact, not a new one.
            Ok(_) => return,
            Err(_) => None,
        };
        if let Some(id) = id {
            self.by_id.insert(id, index);
            self.tally
                .arrived(&self.engine, id, &new.queue, &new.conversation_id);
        }
        self.contacts.push(RecordedContact {
            arrived: at,
            new,
            id,
            abandoned_after: None,
            abandon_position: UNRECORDED,
            waited_at_least: 0,
            acts: Vec::new(),
            legs: Vec::new(),
            answers: Vec::new(),
        });
        self.timeline
            .push((at, self.position, Recorded::Arrival(index)));
    }

    fn answered(&mut self, contact: ContactId, agent: &Arc<str>, at: Millis, kind: AnswerKind) {
        let Some(offered) = self.offers.remove(&(contact, agent.clone())) else {
            return;
        };
        let position = if kind == AnswerKind::NoAnswer {
            UNRECORDED
        } else {
            self.position
        };
        let answer = Answer {
            delay_ms: at.saturating_sub(offered),
            kind,
            position,
        };
        self.answers.entry(agent.clone()).or_default().push(answer);
        if let Some(&i) = self.by_id.get(&contact) {
            self.contacts[i].answers.push((agent.clone(), answer));
        }
    }

    fn open_leg(&mut self, contact: ContactId) -> Option<&mut Leg> {
        let &i = self.by_id.get(&contact)?;
        self.contacts[i]
            .legs
            .last_mut()
            .filter(|l| l.end == LegEnd::Open)
    }

    fn start_leg(&mut self, contact: ContactId, agent: Arc<str>, queue: Arc<str>, at: Millis) {
        if let Some(&i) = self.by_id.get(&contact) {
            self.contacts[i].legs.push(Leg {
                agent,
                queue,
                accepted_at: at,
                duration_ms: 0,
                reached_at: Vec::new(),
                end: LegEnd::Open,
                end_position: UNRECORDED,
            });
        }
    }

    fn end_leg(&mut self, contact: ContactId, at: Millis, end: LegEnd) {
        let position = self.position;
        if let Some(leg) = self.open_leg(contact) {
            leg.duration_ms = at.saturating_sub(leg.accepted_at);
            leg.end = end;
            leg.end_position = position;
        }
    }

    /// Reads the engine's events: offers, acceptances, ends, measured as they come.
    fn settle(&mut self) {
        self.engine.drain_events(&mut self.events);
        for event in std::mem::take(&mut self.events) {
            // Deadlines fired by one advance each emit at their own time.
            let now = event.at;
            self.tally.event(&self.engine, &event.body);
            match event.body {
                EventBody::Decision(d) => {
                    self.offers.insert((d.contact, d.agent.clone()), now);
                }
                EventBody::OfferTimedOut { contact, agent, .. }
                | EventBody::OfferReturned { contact, agent, .. } => {
                    self.answered(contact, &agent, now, AnswerKind::NoAnswer);
                }
                EventBody::OfferAccepted {
                    contact,
                    agent,
                    queue,
                    waited_ms,
                } => {
                    if let Some(&i) = self.by_id.get(&contact) {
                        let c = &mut self.contacts[i];
                        if c.legs.is_empty() && c.waited_at_least == 0 {
                            c.waited_at_least = waited_ms;
                        }
                    }
                    self.start_leg(contact, agent, queue, now);
                }
                EventBody::ContactEnded { contact, .. } => {
                    let Some(&i) = self.by_id.get(&contact.id) else {
                        continue;
                    };
                    self.ended.insert(i);
                    let c = &mut self.contacts[i];
                    let waited = contact.ended_at.unwrap_or(now).saturating_sub(c.arrived);
                    let first_wait = c.legs.is_empty();
                    match contact.state {
                        ContactState::Abandoned if first_wait && contact.callback.is_none() => {
                            c.abandoned_after = Some(waited);
                            c.abandon_position = self.position;
                        }
                        ContactState::Abandoned => {
                            let cancel = Command::Cancel {
                                contact: contact.id,
                                reason: CancelReason::Abandoned,
                            };
                            c.acts.push((now, self.position, cancel));
                        }
                        _ if first_wait && c.waited_at_least == 0 => c.waited_at_least = waited,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        mut self,
        name: &str,
        start: Millis,
        end: Millis,
        records: u64,
        queues: Vec<String>,
        agents: Vec<Arc<str>>,
        interval_ms: u64,
    ) -> Recording {
        while self.next_interval <= end {
            self.engine.advance(self.next_interval);
            self.settle();
            self.tally.measurements.interval_ends(&self.engine);
            self.next_interval += self.interval_ms;
        }
        self.engine.advance(end);
        self.settle();
        // A leg still under way has lasted at least until the end; a customer still in their
        // first wait was willing to wait at least that long.
        for (i, c) in self.contacts.iter_mut().enumerate() {
            for leg in &mut c.legs {
                if leg.end == LegEnd::Open {
                    leg.duration_ms = end.saturating_sub(leg.accepted_at);
                }
            }
            if c.id.is_some() && c.legs.is_empty() && !self.ended.contains(&i) {
                c.waited_at_least = end.saturating_sub(c.arrived);
            }
        }
        let configs: Vec<QueueConfig> = queues
            .iter()
            .filter_map(|q| self.configs.get(q).cloned())
            .collect();
        let heading = Heading {
            scenario: name.to_string(),
            seed: 0,
            hours: hours(end - start),
            warm_up_minutes: 0.0,
            strategy: Recording::strategy_labels(&configs),
        };
        let report = self.tally.report(heading, &self.engine);
        Recording {
            name: name.to_string(),
            timeline: self.timeline,
            contacts: self.contacts,
            queues,
            agents,
            configs: self.configs,
            answers: self.answers,
            speed: HashMap::new(),
            resolution: HashMap::new(),
            floor_resolution: 1.0,
            handled: HashMap::new(),
            patience: HashMap::new(),
            start,
            end,
            interval_ms,
            records,
            report,
        }
    }
}

/// Answers an agent gave, by agent, for drawing: those recorded for `agent`, else the floor's.
pub(crate) fn answers_of<'a>(
    recording: &'a Recording,
    agent: &str,
    floor: &'a [Answer],
) -> &'a [Answer] {
    recording
        .answers
        .get(agent)
        .map(Vec::as_slice)
        .filter(|a| !a.is_empty())
        .unwrap_or(floor)
}

/// The recorded answers of `agent` to contact `c`, oldest first, to be used up in order.
pub(crate) fn answers_for(c: &RecordedContact) -> HashMap<Arc<str>, VecDeque<Answer>> {
    let mut out: HashMap<Arc<str>, VecDeque<Answer>> = HashMap::new();
    for (agent, answer) in &c.answers {
        out.entry(agent.clone()).or_default().push_back(*answer);
    }
    out
}

/// A span in hours, to four decimals (a third of a second).
fn hours(ms: u64) -> f64 {
    (ms as f64 / 360.0).round() / 10_000.0
}
