//! Simulation on virtual time: the real [`crate::core::Engine`] — the same code the server runs —
//! driven by generated traffic, so a strategy can be judged before it is switched on.
//!
//! Owns a discrete-event loop over customer arrivals (Poisson per queue), handle-time ends
//! (exponential), customer patience (exponential, or none) and the engine's own deadlines.
//! Simulated agents accept every offer at once and complete after their handle time.
//!
//! Invariants: every random draw comes from one ChaCha8 generator seeded by the scenario, and
//! events at the same instant are processed in the order they were scheduled, so the same
//! scenario gives the same run, byte for byte. Statistics are the engine's own
//! ([`crate::core::QueueSnapshot`]): the simulator computes no figure of its own.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

use crate::core::{
    AgentSpec, Applied, CancelReason, Channel, Command, ContactId, CoreError, Engine, EngineConfig,
    Event, EventBody, Millis, NewContact, Outcome, Presence, QueueConfig, QueueSnapshot,
    SkillLevel,
};

/// Traffic offered to one queue.
#[derive(Clone, Debug)]
pub struct QueueTraffic {
    pub queue: QueueConfig,
    pub channel: Channel,
    /// Poisson arrival rate.
    pub arrivals_per_hour: f64,
    /// Mean of the exponential handle time.
    pub mean_handle_secs: f64,
    /// Mean of the exponential patience; `None`: customers never abandon.
    pub mean_patience_secs: Option<f64>,
    /// Skills each contact requires on top of the queue's.
    pub required_skills: Vec<SkillLevel>,
}

/// Identical agents.
#[derive(Clone, Debug)]
pub struct AgentGroup {
    pub name: String,
    pub count: usize,
    pub skills: Vec<SkillLevel>,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub duration_secs: u64,
    pub queues: Vec<QueueTraffic>,
    pub groups: Vec<AgentGroup>,
}

/// The engine's figures for each queue at the end of the run, in scenario order.
#[derive(Clone, Debug)]
pub struct SimReport {
    pub queues: Vec<QueueSnapshot>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    Arrival(usize),
    Completion(ContactId),
    Patience(ContactId),
}

/// Scheduled happenings, earliest first, then in scheduling order.
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

/// Virtual time starts here (ms), so no timestamp is zero.
const START: Millis = 1_000;

fn ms(secs: f64) -> Millis {
    (secs * 1000.0).round() as Millis
}

/// Runs a scenario to its end and reports the engine's figures.
pub fn run(scenario: &Scenario) -> Result<SimReport, CoreError> {
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    let mut engine = Engine::new(EngineConfig::default());
    for traffic in &scenario.queues {
        engine.apply(Command::PutQueue(Box::new(traffic.queue.clone())), START)?;
    }
    for group in &scenario.groups {
        for i in 0..group.count {
            let id = format!("{}-{i:04}", group.name);
            let mut spec = AgentSpec::new(&id);
            spec.skills = group.skills.clone();
            engine.apply(Command::PutAgent(spec), START)?;
            let ready = Command::SetPresence {
                agent: id,
                presence: Presence::Ready,
            };
            engine.apply(ready, START)?;
        }
    }
    let mut calendar = Calendar {
        heap: BinaryHeap::new(),
        next: 0,
    };
    let rate = |per_sec: f64| {
        Exp::new(per_sec).map_err(|e| CoreError::invalid(format!("a rate of {per_sec}/s: {e}")))
    };
    let mut interarrival = Vec::new();
    let mut handle = Vec::new();
    let mut patience = Vec::new();
    for q in &scenario.queues {
        interarrival.push(rate(q.arrivals_per_hour / 3600.0)?);
        handle.push(rate(1.0 / q.mean_handle_secs)?);
        patience.push(q.mean_patience_secs.map(|m| rate(1.0 / m)).transpose()?);
    }
    let dists = Dists { handle };
    for (i, gap) in interarrival.iter().enumerate() {
        calendar.push(START + ms(gap.sample(&mut rng)), Happening::Arrival(i));
    }
    let end = START + scenario.duration_secs * 1000;
    let mut events: Vec<Event> = Vec::new();
    let mut queue_of: std::collections::HashMap<ContactId, usize> = Default::default();
    loop {
        let next_happening = calendar.heap.peek().map(|Reverse((at, _, _))| *at);
        // The engine's own deadlines (offer expiry, relaxation, affinity) come first when due.
        if let Some(deadline) = engine.next_deadline()
            && next_happening.is_none_or(|at| deadline < at)
            && deadline <= end
        {
            engine.advance(deadline);
            settle(
                &mut engine,
                &mut events,
                &dists,
                &queue_of,
                &mut calendar,
                &mut rng,
            )?;
            continue;
        }
        let Some(Reverse((at, _, what))) = calendar.heap.pop() else {
            break;
        };
        if at > end {
            break;
        }
        match what {
            Happening::Arrival(i) => {
                let traffic = &scenario.queues[i];
                calendar.push(
                    at + ms(interarrival[i].sample(&mut rng)).max(1),
                    Happening::Arrival(i),
                );
                let mut contact = NewContact::new(&traffic.queue.name, traffic.channel);
                contact.required_skills = traffic.required_skills.clone();
                if let Ok(Applied::Enqueued { contact, .. }) =
                    engine.apply(Command::Enqueue(contact), at)
                {
                    queue_of.insert(contact.id, i);
                    if let Some(patience) = &patience[i] {
                        let after = ms(patience.sample(&mut rng));
                        calendar.push(at + after, Happening::Patience(contact.id));
                    }
                }
            }
            Happening::Completion(id) => {
                if let Some(view) = engine.contact_view(id)
                    && let Some(agent) = view.state.agent()
                {
                    let complete = Command::Complete {
                        contact: id,
                        agent: agent.to_string(),
                        outcome: Outcome {
                            resolved: true,
                            ..Outcome::default()
                        },
                    };
                    engine.apply(complete, at)?;
                }
            }
            Happening::Patience(id) => {
                let abandon = Command::Cancel {
                    contact: id,
                    reason: CancelReason::Abandoned,
                };
                // Answered already: the customer no longer waits, nothing to do.
                let _ = engine.apply(abandon, at);
            }
        }
        settle(
            &mut engine,
            &mut events,
            &dists,
            &queue_of,
            &mut calendar,
            &mut rng,
        )?;
    }
    let snapshots = engine.queue_snapshots();
    let queues = scenario
        .queues
        .iter()
        .filter_map(|t| {
            snapshots
                .iter()
                .find(|s| s.config.name == t.queue.name)
                .cloned()
        })
        .collect();
    Ok(SimReport { queues })
}

/// Per-queue distributions the simulated agents draw from.
struct Dists {
    handle: Vec<Exp<f64>>,
}

/// Simulated agents accept every offer at once; each accepted contact completes after an
/// exponential handle time.
fn settle(
    engine: &mut Engine,
    events: &mut Vec<Event>,
    dists: &Dists,
    queue_of: &std::collections::HashMap<ContactId, usize>,
    calendar: &mut Calendar,
    rng: &mut ChaCha8Rng,
) -> Result<(), CoreError> {
    loop {
        engine.drain_events(events);
        if events.is_empty() {
            return Ok(());
        }
        let now = engine.now();
        for event in std::mem::take(events) {
            if let EventBody::Decision(d) = event.body {
                let accept = Command::Accept {
                    contact: d.contact,
                    agent: d.agent.to_string(),
                };
                engine.apply(accept, now)?;
                let handle = dists.handle[queue_of[&d.contact]].sample(rng);
                calendar.push(now + ms(handle).max(1), Happening::Completion(d.contact));
            }
        }
    }
}

#[cfg(test)]
mod tests;
