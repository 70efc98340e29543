//! The discrete-event loop: generated customers and simulated agent desktops around the real
//! engine, on virtual time.
//!
//! Invariants:
//! - Determinism: every draw comes from ChaCha8 generators seeded by the scenario, happenings at
//!   the same millisecond run in the order they were scheduled, and nothing iterates a hash map
//!   to decide anything; the same scenario gives the same report, byte for byte.
//! - Common random numbers: each traffic has its own generator, and everything about a contact
//!   (arrival, patience, value, work content, whether it will be resolved) is drawn when it
//!   arrives. So runs of one scenario under different strategies meet the same customers, and
//!   differences between them are the strategies', not the dice's. Agents' answers (accept or
//!   decline) come from one more generator of their own. A conversation that can come back
//!   (a traffic with `repeat`) has a generator of its own too, so its k-th repeat's delay,
//!   patience and work are the same under every strategy; whether it comes back at all depends
//!   on whether it was resolved, which is the strategy's doing.
//! - A traffic with `transfer` or `callback` draws, per contact and after everything else,
//!   whether (and for a transfer, the second agent's work); a traffic without them draws
//!   nothing more, so adding them to one traffic changes no other contact.
//! - A repeat carries the same customer id and conversation id as the contact before it, and a
//!   conversation comes back at most [`MAX_REPEATS`] times.
//! - The engine is driven only through its public commands, exactly as the server drives it.

mod customers;
mod desks;

use customers::{Conversation, ConversationKey, Pending};
use desks::SimAgent;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Exp1};

use super::draws::{
    Draws, Handle, Stream, conversation_rng, desk_rng, next_arrival, pick_value, traffic_rng,
};
use super::report::{Layout, Measurements, SimReport};
use super::scenario::{MAX_REPEATS, Scenario};
use crate::core::{
    AgentKind, Applied, CancelReason, Command, ContactId, ContactState, CoreError, Engine,
    EventBody, Millis, NewContact, Outcome, Presence, PresenceView,
};

/// Virtual time starts here (ms), so no timestamp is zero.
pub(super) const START: Millis = 1_000;

/// An agent the engine set not ready for missed offers makes themselves ready again after this.
const BACK_TO_READY_SECS: f64 = 30.0;
const END_OF_SHIFT: &str = "end-of-shift";

fn ms(secs: f64) -> Millis {
    (secs * 1000.0).round() as Millis
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    Arrival(usize),
    Patience(ContactId),
    /// A customer still waiting asks to be called back.
    CallbackOptIn(ContactId),
    /// An agent's answer to an offer: accept (true) or decline.
    Answer(ContactId, usize, bool),
    Completion(ContactId),
    ShiftStart(usize),
    ShiftEnd(usize),
    BackToReady(usize),
    WarmUpEnd,
    /// A conversation's customer comes back (traffic that started it, its number there).
    Repeat(usize, u64),
    /// The scenario's k-th interval ends (scheduled whether or not the report shows
    /// intervals, so asking for them changes nothing else).
    IntervalEnd(u64),
}

/// Scheduled happenings, earliest first, then in scheduling order.
#[derive(Default)]
struct Calendar {
    heap: BinaryHeap<Reverse<(Millis, u64, Happening)>>,
    next: u64,
}

impl Calendar {
    fn push(&mut self, at: Millis, what: Happening) {
        self.heap.push(Reverse((at, self.next, what)));
        self.next += 1;
    }
}

/// When the scenario's `k`-th interval ends (k = 1: the first).
fn interval_end(scenario: &Scenario, k: u64) -> Millis {
    START + ms(k as f64 * scenario.interval_secs)
}

struct Run<'a> {
    scenario: &'a Scenario,
    engine: Engine,
    calendar: Calendar,
    streams: Vec<Stream>,
    /// Agents' answers to offers.
    desk: ChaCha8Rng,
    agents: Vec<SimAgent>,
    agent_index: HashMap<Arc<str>, usize>,
    pending: HashMap<ContactId, Pending>,
    queue_index: HashMap<Arc<str>, usize>,
    /// Each traffic's first contacts so far (numbering its conversations).
    first_contacts: Vec<u64>,
    /// Each traffic's customer base (index into the scenario's).
    bases: Vec<Option<usize>>,
    conversations: HashMap<ConversationKey, Conversation>,
    measurements: Measurements,
    /// Every command the engine kept, with its time, as a journal keeps them (when recording).
    recorded: Option<Vec<(Millis, Command)>>,
    /// The commands that set the floor up, kept for a recording that starts after them.
    setup: Vec<(Millis, Command)>,
    /// Per agent, contacts whose work came due while an interruption paused them, with the
    /// work they still need: they finish that long after the interruption ends.
    paused_due: HashMap<usize, Vec<(ContactId, u64)>>,
}

/// Runs a scenario to its end and reports its figures.
pub fn run(scenario: &Scenario) -> anyhow::Result<SimReport> {
    scenario.validate()?;
    let mut run = Run::new(scenario)?;
    let end = START + ms(scenario.warm_up_secs + scenario.duration_secs);
    run.drive(end)?;
    run.engine.advance(end);
    Ok(run.measurements.report(scenario, &run.engine))
}

/// Runs a scenario as [`run`] does, and gives every command the engine kept with its time, as
/// the server's journal would hold them (refused enqueues too: they count).
pub fn record(scenario: &Scenario) -> anyhow::Result<(SimReport, Vec<(Millis, Command)>)> {
    scenario.validate()?;
    let mut run = Run::new(scenario)?;
    run.recorded = Some(std::mem::take(&mut run.setup));
    let end = START + ms(scenario.warm_up_secs + scenario.duration_secs);
    run.drive(end)?;
    run.engine.advance(end);
    let records = run.recorded.take().unwrap_or_default();
    Ok((run.measurements.report(scenario, &run.engine), records))
}

impl<'a> Run<'a> {
    fn new(scenario: &'a Scenario) -> anyhow::Result<Run<'a>> {
        let mut engine = Engine::new(scenario.engine_config());
        // A journal written from the run starts under the settings it ran under.
        let mut setup = vec![(START, Command::Configure(scenario.engine_config()))];
        let mut queue_index = HashMap::new();
        for (i, queue) in scenario.queues.iter().enumerate() {
            let put = Command::PutQueue(Box::new(queue.clone()));
            setup.push((START, put.clone()));
            engine.apply(put, START)?;
            queue_index.insert(queue.name.clone(), i);
        }
        let mut calendar = Calendar::default();
        let mut agents = Vec::new();
        let mut agent_index = HashMap::new();
        for (g, group) in scenario.groups.iter().enumerate() {
            for i in 0..group.count {
                let spec = group.agent_spec(i);
                let id = spec.id.clone();
                setup.push((START, Command::PutAgent(spec.clone())));
                engine.apply(Command::PutAgent(spec), START)?;
                agent_index.insert(id.clone(), agents.len());
                agents.push(SimAgent {
                    id,
                    group: g,
                    leaving: false,
                });
            }
            let (from, until) = group.shift.unwrap_or((0.0, f64::INFINITY));
            calendar.push(START + ms(from), Happening::ShiftStart(g));
            if until.is_finite() {
                calendar.push(START + ms(until), Happening::ShiftEnd(g));
            }
        }
        let measure_from = START + ms(scenario.warm_up_secs);
        calendar.push(measure_from, Happening::WarmUpEnd);
        let first = (scenario.warm_up_secs / scenario.interval_secs).floor() as u64 + 1;
        calendar.push(interval_end(scenario, first), Happening::IntervalEnd(first));
        let mut streams = Vec::new();
        for (i, t) in scenario.traffic.iter().enumerate() {
            let rng = traffic_rng(scenario.seed, i);
            let patience = t
                .mean_patience_secs
                .map(|m| Exp::new(1.0 / m))
                .transpose()?;
            let mut stream = Stream {
                rng,
                handle: Handle::new(t.handle)?,
                patience,
            };
            if let Some(at) =
                next_arrival(0.0, &t.per_hour, scenario.interval_secs, &mut stream.rng)
            {
                calendar.push(START + ms(at), Happening::Arrival(i));
            }
            streams.push(stream);
        }
        let desk = desk_rng(scenario.seed);
        let ids = agents.iter().map(|a: &SimAgent| a.id.clone()).collect();
        let mut layout = Layout::new(
            scenario.queues.iter().map(|q| q.name.to_string()).collect(),
            ids,
            scenario
                .groups
                .iter()
                .map(|g| (g.name.clone(), g.count))
                .collect(),
            START,
        );
        layout.bots = scenario
            .groups
            .iter()
            .map(|g| g.kind == AgentKind::Bot)
            .collect();
        let measurements = Measurements::new(scenario.by_interval, layout);
        let bases = scenario
            .traffic
            .iter()
            .map(|t| {
                let base = t.customer_base.as_ref()?;
                scenario.customer_bases.iter().position(|b| b.name == *base)
            })
            .collect();
        Ok(Run {
            scenario,
            engine,
            calendar,
            streams,
            desk,
            agents,
            agent_index,
            pending: HashMap::new(),
            queue_index,
            first_contacts: vec![0; scenario.traffic.len()],
            bases,
            conversations: HashMap::new(),
            measurements,
            recorded: None,
            setup,
            paused_due: HashMap::new(),
        })
    }

    /// Applies a command, keeping it when recording (as a journal would: what the engine
    /// accepted, and enqueues even when refused).
    fn apply(&mut self, command: Command, at: Millis) -> Result<Applied, CoreError> {
        let Some(records) = &mut self.recorded else {
            return self.engine.apply(command, at);
        };
        let kept = command.clone();
        let result = self.engine.apply(command, at);
        if result.is_ok() || kept.counts_when_refused() {
            records.push((at, kept));
        }
        result
    }

    fn drive(&mut self, end: Millis) -> anyhow::Result<()> {
        loop {
            let next = self.calendar.heap.peek().map(|Reverse((at, _, _))| *at);
            // The engine's own deadlines (offer expiry, wrap-up, relaxation, affinity) first
            // when they fall earlier.
            if let Some(deadline) = self.engine.next_deadline()
                && next.is_none_or(|at| deadline < at)
                && deadline <= end
            {
                self.engine.advance(deadline);
                self.settle()?;
                continue;
            }
            let Some(Reverse((at, _, what))) = self.calendar.heap.pop() else {
                return Ok(());
            };
            if at > end {
                return Ok(());
            }
            self.happen(at, what)?;
            self.settle()?;
        }
    }

    fn happen(&mut self, at: Millis, what: Happening) -> anyhow::Result<()> {
        match what {
            Happening::Arrival(i) => self.arrive(at, i)?,
            // A transferred customer waits for the second agent; only the first wait in line
            // brings the question.
            Happening::CallbackOptIn(id) if self.pending.get(&id).is_some_and(|p| p.patient) => {}
            Happening::CallbackOptIn(id) => {
                let ask = Command::RequestCallback {
                    contact: id,
                    request: crate::core::CallbackRequest::default(),
                };
                // Answered (or ended) already: nothing to ask.
                if self.apply(ask, at).is_ok()
                    && let Some(p) = self.pending.get_mut(&id)
                {
                    p.patient = true;
                }
            }
            // A customer who asked for a callback is off the line, and a transferred one waits
            // for the second agent: neither hangs up.
            Happening::Patience(id) if self.pending.get(&id).is_some_and(|p| p.patient) => {}
            Happening::Patience(id) => {
                let abandon = Command::Cancel {
                    contact: id,
                    reason: CancelReason::Abandoned,
                };
                // Answered (or ended) already: the customer no longer waits.
                let _ = self.apply(abandon, at);
            }
            Happening::Answer(contact, agent, accept) => self.answer(at, contact, agent, accept),
            Happening::Completion(id) => self.complete(at, id)?,
            Happening::Repeat(traffic, number) => self.come_back(at, (traffic, number))?,
            Happening::ShiftStart(g) => {
                for a in self.group_agents(g) {
                    self.agents[a].leaving = false;
                    self.set_presence(a, Presence::Ready, at)?;
                }
            }
            Happening::ShiftEnd(g) => {
                for a in self.group_agents(g) {
                    let idle = self
                        .engine
                        .agent_view(&self.agents[a].id)
                        .is_some_and(|v| v.load == 0);
                    if idle {
                        self.set_presence(a, Presence::Offline, at)?;
                    } else {
                        self.agents[a].leaving = true;
                        self.set_presence(a, Presence::NotReady(END_OF_SHIFT.into()), at)?;
                    }
                }
            }
            Happening::BackToReady(a) => {
                let still_missed = self.engine.agent_view(&self.agents[a].id).is_some_and(
                    |v| matches!(&v.presence, PresenceView::NotReady(r) if r != END_OF_SHIFT),
                );
                if still_missed && !self.agents[a].leaving {
                    self.set_presence(a, Presence::Ready, at)?;
                }
            }
            Happening::WarmUpEnd => {
                self.engine.advance(at);
                self.measurements.start(&self.engine);
            }
            Happening::IntervalEnd(k) => {
                self.engine.advance(at);
                self.measurements.interval_ends(&self.engine);
                let next = interval_end(self.scenario, k + 1);
                self.calendar.push(next, Happening::IntervalEnd(k + 1));
            }
        }
        Ok(())
    }
}
