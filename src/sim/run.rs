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
//!   decline) come from one more generator of their own.
//! - The engine is driven only through its public commands, exactly as the server drives it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Exp1, LogNormal};

use super::report::{Measurements, SimReport};
use super::scenario::{HandleTime, Scenario};
use crate::core::{
    Applied, CancelReason, Command, ContactId, ContactState, CoreError, Engine, EngineConfig,
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
    /// An agent's answer to an offer: accept (true) or decline.
    Answer(ContactId, usize, bool),
    Completion(ContactId),
    ShiftStart(usize),
    ShiftEnd(usize),
    BackToReady(usize),
    WarmUpEnd,
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

/// What a contact brought with it when it arrived.
struct Pending {
    /// Handle time before the answering group's factor.
    work_secs: f64,
    /// Resolved when below the answering group's resolution rate.
    resolve_draw: f64,
}

struct SimAgent {
    id: Arc<str>,
    group: usize,
    /// Past the end of the shift: logs off when the last contact is done.
    leaving: bool,
}

/// The draws of one traffic stream.
struct Stream {
    rng: ChaCha8Rng,
    handle: Handle,
    patience: Option<Exp<f64>>,
}

enum Handle {
    Exponential(Exp<f64>),
    LogNormal(LogNormal<f64>),
}

impl Handle {
    fn new(h: HandleTime) -> anyhow::Result<Handle> {
        Ok(match h {
            HandleTime::Exponential { mean_secs } => {
                Handle::Exponential(Exp::new(1.0 / mean_secs)?)
            }
            HandleTime::LogNormal { mean_secs, sd_secs } => {
                // The log-normal with this mean and standard deviation.
                let sigma2 = (1.0 + (sd_secs / mean_secs).powi(2)).ln();
                Handle::LogNormal(LogNormal::new(
                    mean_secs.ln() - sigma2 / 2.0,
                    sigma2.sqrt(),
                )?)
            }
        })
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Handle::Exponential(d) => d.sample(rng),
            Handle::LogNormal(d) => d.sample(rng),
        }
    }
}

/// When the scenario's `k`-th interval ends (k = 1: the first).
fn interval_end(scenario: &Scenario, k: u64) -> Millis {
    START + ms(k as f64 * scenario.interval_secs)
}

/// The next arrival after `t` (seconds) of a Poisson process whose rate per hour is `per_hour[k]`
/// in interval k (the last rate holds to the end): a unit exponential spent across intervals at
/// each interval's rate. `None` when the rate falls to 0 for good.
fn next_arrival(t: f64, per_hour: &[f64], interval: f64, rng: &mut ChaCha8Rng) -> Option<f64> {
    let mut budget: f64 = Exp1.sample(rng);
    let mut t = t;
    let mut k = (t / interval).floor() as usize;
    loop {
        let last = k + 1 >= per_hour.len();
        let rate = per_hour[k.min(per_hour.len() - 1)] / 3600.0;
        if last {
            return (rate > 0.0).then(|| t + budget / rate);
        }
        let end = (k + 1) as f64 * interval;
        if rate > 0.0 && t + budget / rate <= end {
            return Some(t + budget / rate);
        }
        budget -= (end - t).max(0.0) * rate;
        t = end;
        k += 1;
    }
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
    measurements: Measurements,
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

impl<'a> Run<'a> {
    fn new(scenario: &'a Scenario) -> anyhow::Result<Run<'a>> {
        let mut engine = Engine::new(EngineConfig::default());
        let mut queue_index = HashMap::new();
        for (i, queue) in scenario.queues.iter().enumerate() {
            engine.apply(Command::PutQueue(Box::new(queue.clone())), START)?;
            queue_index.insert(queue.name.clone(), i);
        }
        let mut calendar = Calendar::default();
        let mut agents = Vec::new();
        let mut agent_index = HashMap::new();
        for (g, group) in scenario.groups.iter().enumerate() {
            for i in 0..group.count {
                let spec = group.agent_spec(i);
                let id = spec.id.clone();
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
            let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
            rng.set_stream(i as u64 + 1);
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
        let desk = ChaCha8Rng::seed_from_u64(scenario.seed);
        let ids = agents.iter().map(|a: &SimAgent| a.id.clone()).collect();
        let measurements = Measurements::new(scenario.by_interval, ids);
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
            measurements,
        })
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
            Happening::Patience(id) => {
                let abandon = Command::Cancel {
                    contact: id,
                    reason: CancelReason::Abandoned,
                };
                // Answered (or ended) already: the customer no longer waits.
                let _ = self.engine.apply(abandon, at);
            }
            Happening::Answer(contact, agent, accept) => self.answer(at, contact, agent, accept),
            Happening::Completion(id) => self.complete(at, id)?,
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
                self.measurements.start(self.scenario, &self.engine);
            }
            Happening::IntervalEnd(k) => {
                self.engine.advance(at);
                self.measurements.interval_ends(self.scenario, &self.engine);
                let next = interval_end(self.scenario, k + 1);
                self.calendar.push(next, Happening::IntervalEnd(k + 1));
            }
        }
        Ok(())
    }

    fn group_agents(&self, g: usize) -> Vec<usize> {
        (0..self.agents.len())
            .filter(|&a| self.agents[a].group == g)
            .collect()
    }

    fn set_presence(&mut self, a: usize, presence: Presence, at: Millis) -> anyhow::Result<()> {
        let agent = self.agents[a].id.to_string();
        self.engine
            .apply(Command::SetPresence { agent, presence }, at)?;
        Ok(())
    }

    fn arrive(&mut self, at: Millis, i: usize) -> anyhow::Result<()> {
        let traffic = &self.scenario.traffic[i];
        let stream = &mut self.streams[i];
        let now_secs = (at - START) as f64 / 1000.0;
        if let Some(next) = next_arrival(
            now_secs,
            &traffic.per_hour,
            self.scenario.interval_secs,
            &mut stream.rng,
        ) {
            self.calendar
                .push((START + ms(next)).max(at + 1), Happening::Arrival(i));
        }
        let patience = stream.patience.map(|p| p.sample(&mut stream.rng));
        let value = pick_value(&traffic.value_mix, &mut stream.rng);
        let work_secs = stream.handle.sample(&mut stream.rng);
        let resolve_draw: f64 = stream.rng.random();
        let mut contact = NewContact::new(&traffic.queue, traffic.channel);
        contact.required_skills = traffic.required_skills.clone();
        contact.customer_value = value;
        let refused = |engine: &Engine| {
            engine
                .queue_counters(&traffic.queue)
                .map_or(0, |(c, _)| c.refused)
        };
        let refused_before = refused(&self.engine);
        match self.engine.apply(Command::Enqueue(contact), at) {
            Ok(Applied::Enqueued { contact, .. }) => {
                self.pending.insert(
                    contact.id,
                    Pending {
                        work_secs,
                        resolve_draw,
                    },
                );
                if let Some(after) = patience {
                    self.calendar
                        .push(at + ms(after), Happening::Patience(contact.id));
                }
                Ok(())
            }
            // Refused at the door (queue full): the engine counts it; nothing more to do.
            Err(CoreError::ResourceExhausted(_)) if refused(&self.engine) > refused_before => {
                Ok(())
            }
            // Anything else means the scenario let through what the engine refuses: say so
            // rather than lose the traffic.
            Err(e) => Err(anyhow::Error::from(e).context("the engine refused a simulated contact")),
            Ok(other) => anyhow::bail!("an enqueue answered {other:?}"),
        }
    }

    fn answer(&mut self, at: Millis, contact: ContactId, a: usize, accept: bool) {
        let agent = self.agents[a].id.to_string();
        let command = if accept {
            Command::Accept { contact, agent }
        } else {
            Command::Reject { contact, agent }
        };
        // The customer may have hung up, or the offer timed out, while the agent answered.
        let _ = self.engine.apply(command, at);
    }

    fn complete(&mut self, at: Millis, id: ContactId) -> anyhow::Result<()> {
        let Some(view) = self.engine.contact_view(id) else {
            return Ok(());
        };
        let Some(agent) = view.state.agent() else {
            return Ok(());
        };
        let a = self.agent_index[agent];
        let resolved = self.pending.get(&id).is_some_and(|p| {
            p.resolve_draw < self.scenario.groups[self.agents[a].group].resolution_rate
        });
        let complete = Command::Complete {
            contact: id,
            agent: agent.to_string(),
            outcome: Outcome {
                resolved,
                ..Outcome::default()
            },
        };
        self.engine.apply(complete, at)?;
        let done = self
            .engine
            .agent_view(&self.agents[a].id)
            .is_some_and(|v| v.load == 0);
        if self.agents[a].leaving && done {
            self.set_presence(a, Presence::Offline, at)?;
        }
        Ok(())
    }

    /// Plays the simulated desktops' part in what the engine just did, until it is quiet.
    fn settle(&mut self) -> anyhow::Result<()> {
        let mut events = Vec::new();
        loop {
            self.engine.drain_events(&mut events);
            if events.is_empty() {
                return Ok(());
            }
            let now = self.engine.now();
            for event in std::mem::take(&mut events) {
                match event.body {
                    EventBody::Decision(d) => {
                        let a = self.agent_index[&d.agent];
                        let group = &self.scenario.groups[self.agents[a].group];
                        let accept = self.desk.random::<f64>() < group.accept_probability;
                        let delay = ms(group.answer_delay_secs);
                        if delay == 0 {
                            self.answer(now, d.contact, a, accept);
                        } else {
                            let answer = Happening::Answer(d.contact, a, accept);
                            self.calendar.push(now + delay, answer);
                        }
                    }
                    EventBody::OfferAccepted {
                        contact,
                        agent,
                        queue,
                        waited_ms,
                    } => {
                        self.measurements.wait(self.queue_index[&queue], waited_ms);
                        let factor = self.scenario.groups
                            [self.agents[self.agent_index[&agent]].group]
                            .handle_factor;
                        let work = self.pending.get(&contact).map_or(0.0, |p| p.work_secs);
                        let handle = ms(work * factor).max(1);
                        self.calendar
                            .push(now + handle, Happening::Completion(contact));
                    }
                    EventBody::ContactEnded { contact, .. } => {
                        if contact.state == ContactState::Abandoned {
                            let waited = contact
                                .ended_at
                                .unwrap_or(now)
                                .saturating_sub(contact.enqueued_at);
                            self.measurements
                                .wait(self.queue_index[&*contact.queue], waited);
                        }
                        self.pending.remove(&contact.id);
                    }
                    EventBody::AgentStateChanged { agent } => {
                        if let PresenceView::NotReady(reason) = &agent.presence
                            && reason != END_OF_SHIFT
                            && let Some(&a) = self.agent_index.get(&agent.spec.id)
                        {
                            self.calendar
                                .push(now + ms(BACK_TO_READY_SECS), Happening::BackToReady(a));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A customer value drawn from the mix (0 when there is none).
fn pick_value(mix: &[(f64, f64)], rng: &mut ChaCha8Rng) -> f64 {
    let total: f64 = mix.iter().map(|(_, share)| share).sum();
    if mix.is_empty() || total <= 0.0 {
        return 0.0;
    }
    let mut x = rng.random::<f64>() * total;
    for (value, share) in mix {
        if x < *share {
            return *value;
        }
        x -= share;
    }
    mix[mix.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_follow_each_interval_rate() {
        // 0 per hour for the first hour, 3600 per hour (one a second) after.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rates = [0.0, 3600.0];
        let mut t = 0.0;
        let mut count = 0;
        while let Some(next) = next_arrival(t, &rates, 3600.0, &mut rng) {
            assert!(next >= 3600.0, "no arrival in a zero-rate interval: {next}");
            if next > 7200.0 {
                break;
            }
            t = next;
            count += 1;
        }
        // Poisson(3600): within 4 standard deviations.
        assert!((3360..=3840).contains(&count), "{count} arrivals");
        // A rate of 0 for good ends the arrivals.
        assert_eq!(next_arrival(10.0, &[5.0, 0.0], 60.0, &mut rng), None);
    }

    #[test]
    fn the_log_normal_has_the_mean_and_sd_asked_for() {
        let h = Handle::new(HandleTime::LogNormal {
            mean_secs: 300.0,
            sd_secs: 200.0,
        })
        .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let xs: Vec<f64> = (0..200_000).map(|_| h.sample(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!((mean - 300.0).abs() < 3.0, "mean {mean}");
        assert!((sd - 200.0).abs() < 6.0, "sd {sd}");
    }

    #[test]
    fn values_are_drawn_by_share() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mix = [(1.0, 3.0), (10.0, 1.0)];
        let high = (0..40_000)
            .filter(|_| pick_value(&mix, &mut rng) == 10.0)
            .count();
        assert!((9_500..=10_500).contains(&high), "{high} of 40000");
        assert_eq!(pick_value(&[], &mut rng), 0.0);
    }
}
