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
//! - A repeat carries the same customer id and conversation id as the contact before it, and a
//!   conversation comes back at most [`MAX_REPEATS`] times.
//! - The engine is driven only through its public commands, exactly as the server drives it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Exp1};

use super::draws::{
    Draws, Handle, Stream, conversation_rng, desk_rng, next_arrival, pick_value, traffic_rng,
};
use super::report::{Measurements, SimReport};
use super::scenario::{MAX_REPEATS, Scenario};
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

/// What a contact brought with it when it arrived.
struct Pending {
    /// Handle time before the answering group's factor.
    work_secs: f64,
    /// Resolved when below the answering group's resolution rate.
    resolve_draw: f64,
    /// The traffic it belongs to (for a repeat, the one it came back as).
    traffic: usize,
    /// The conversation it belongs to, when its traffic's contacts can come back.
    conversation: Option<ConversationKey>,
    /// For a repeat: the agent who handled the contact before, and what meeting them changes.
    familiar: Option<Familiar>,
}

/// A conversation: the traffic that started it and its number among that traffic's contacts.
type ConversationKey = (usize, u64);

/// A conversation whose customer may come back.
struct Conversation {
    /// Every draw about its repeats (whether, when, patience, work, resolution).
    rng: ChaCha8Rng,
    id: Arc<str>,
    customer: Option<Arc<str>>,
    value: f64,
    repeats: u32,
    /// The repeat on its way: the traffic it comes back as, and who handled it last.
    next: Option<(usize, Familiar)>,
}

/// The agent a repeat would meet again, and what that changes.
#[derive(Clone)]
struct Familiar {
    agent: Arc<str>,
    handle_factor: f64,
    resolution_rate: Option<f64>,
}

struct SimAgent {
    id: Arc<str>,
    group: usize,
    /// Past the end of the shift: logs off when the last contact is done.
    leaving: bool,
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
        let measurements = Measurements::new(scenario.by_interval, ids, scenario.queues.len());
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
        // In this order: patience, value, work, resolution, then the customer.
        let patience = stream.patience.map(|p| p.sample(&mut stream.rng));
        let value = pick_value(&traffic.value_mix, &mut stream.rng);
        let draws = Draws {
            patience,
            work_secs: stream.handle.sample(&mut stream.rng),
            resolve_draw: stream.rng.random(),
        };
        let customer: Option<Arc<str>> = self.bases[i].map(|b| {
            let base = &self.scenario.customer_bases[b];
            let k = stream.rng.random_range(0..base.customers);
            format!("{}-{k}", base.name).into()
        });
        let number = self.first_contacts[i];
        self.first_contacts[i] += 1;
        let key = (i, number);
        let conversation = traffic.repeat.is_some().then(|| Conversation {
            rng: conversation_rng(self.scenario.seed, i, number),
            id: format!("conversation-{i}-{number}").into(),
            customer: customer.clone(),
            value,
            repeats: 0,
            next: None,
        });
        let linked = conversation.as_ref().map(|c| (key, c.id.clone()));
        let enqueued = self.enqueue(at, i, draws, value, customer, linked, None)?;
        if enqueued && let Some(c) = conversation {
            self.conversations.insert(key, c);
        }
        Ok(())
    }

    /// A conversation's customer comes back, as its planned repeat.
    fn come_back(&mut self, at: Millis, key: ConversationKey) -> anyhow::Result<()> {
        let Some(c) = self.conversations.get_mut(&key) else {
            return Ok(());
        };
        let Some((traffic, familiar)) = c.next.take() else {
            return Ok(());
        };
        let stream = &self.streams[traffic];
        let draws = Draws {
            patience: stream.patience.map(|p| p.sample(&mut c.rng)),
            work_secs: stream.handle.sample(&mut c.rng),
            resolve_draw: c.rng.random(),
        };
        let (value, customer, id) = (c.value, c.customer.clone(), c.id.clone());
        let linked = Some((key, id));
        if self.enqueue(at, traffic, draws, value, customer, linked, Some(familiar))? {
            let q = self.queue_index[self.scenario.traffic[traffic].queue.as_str()];
            self.measurements.returns(q).repeats += 1;
        } else {
            // Turned away at the door: the customer gives up.
            self.conversations.remove(&key);
        }
        Ok(())
    }

    /// Puts a contact of `traffic` to the engine, linked to its conversation (key and id) if it
    /// has one; false when the queue refused it at the door.
    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &mut self,
        at: Millis,
        traffic: usize,
        draws: Draws,
        value: f64,
        customer: Option<Arc<str>>,
        conversation: Option<(ConversationKey, Arc<str>)>,
        familiar: Option<Familiar>,
    ) -> anyhow::Result<bool> {
        let t = &self.scenario.traffic[traffic];
        let mut contact = NewContact::new(&t.queue, t.channel);
        contact.required_skills = t.required_skills.clone();
        contact.customer_value = value;
        if let Some(customer) = &customer {
            contact.customer_id = customer.to_string();
        }
        let key = conversation.as_ref().map(|(key, _)| *key);
        if let Some((_, id)) = &conversation {
            contact.conversation_id = id.to_string();
        }
        match self.engine.apply(Command::Enqueue(contact), at) {
            Ok(Applied::Enqueued { contact, .. }) => {
                self.pending.insert(
                    contact.id,
                    Pending {
                        work_secs: draws.work_secs,
                        resolve_draw: draws.resolve_draw,
                        traffic,
                        conversation: key,
                        familiar,
                    },
                );
                if let Some(after) = draws.patience {
                    self.calendar
                        .push(at + ms(after), Happening::Patience(contact.id));
                }
                Ok(true)
            }
            // Refused at the door (queue full): the engine counted it; nothing more to do.
            Err(CoreError::QueueFull { .. }) => Ok(false),
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
        let agent: Arc<str> = self.agents[a].id.clone();
        let group_rate = self.scenario.groups[self.agents[a].group].resolution_rate;
        let Some(p) = self.pending.get(&id) else {
            anyhow::bail!("contact {id} completes without a record of its arrival");
        };
        // Meeting the agent who handled the conversation before may change the odds.
        let rate = p
            .familiar
            .as_ref()
            .filter(|f| f.agent == agent)
            .and_then(|f| f.resolution_rate)
            .unwrap_or(group_rate);
        let resolved = p.resolve_draw < rate;
        let (traffic, conversation, first) = (p.traffic, p.conversation, p.familiar.is_none());
        if first {
            let q = self.queue_index[self.scenario.traffic[traffic].queue.as_str()];
            let returns = self.measurements.returns(q);
            returns.first_completed += 1;
            returns.first_resolved += u64::from(resolved);
        }
        if let Some(key) = conversation {
            self.plan_repeat(at, key, traffic, &agent, resolved);
        }
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

    /// A contact of `key`'s conversation, of `traffic`, ends with `agent`: unresolved, its
    /// customer may come back as the traffic's `repeat` says; otherwise the conversation ends.
    fn plan_repeat(
        &mut self,
        at: Millis,
        key: ConversationKey,
        traffic: usize,
        agent: &Arc<str>,
        resolved: bool,
    ) {
        let spec = self.scenario.traffic[traffic].repeat.as_ref();
        let Some(c) = self.conversations.get_mut(&key) else {
            return;
        };
        let again = match spec {
            Some(r) if !resolved && c.repeats < MAX_REPEATS => {
                let comes_back = c.rng.random::<f64>() < r.share;
                let after: f64 = Exp1.sample(&mut c.rng);
                comes_back.then_some((r, after * r.mean_after_secs))
            }
            _ => None,
        };
        let Some((r, after_secs)) = again else {
            self.conversations.remove(&key);
            return;
        };
        let target = self
            .scenario
            .traffic_for(&r.queue, r.channel)
            .expect("a validated scenario has traffic for every repeat");
        c.repeats += 1;
        c.next = Some((
            target,
            Familiar {
                agent: agent.clone(),
                handle_factor: r.familiar_handle_factor,
                resolution_rate: r.familiar_resolution_rate,
            },
        ));
        self.calendar
            .push(at + ms(after_secs).max(1), Happening::Repeat(key.0, key.1));
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
                        let q = self.queue_index[&queue];
                        self.measurements.wait(q, waited_ms);
                        let mut factor = self.scenario.groups
                            [self.agents[self.agent_index[&agent]].group]
                            .handle_factor;
                        let p = self.pending.get(&contact);
                        if let Some(f) = p.and_then(|p| p.familiar.as_ref()) {
                            let returns = self.measurements.returns(q);
                            returns.repeats_answered += 1;
                            if f.agent == agent {
                                returns.repeats_answered_familiar += 1;
                                factor *= f.handle_factor;
                            }
                        }
                        let work = p.map_or(0.0, |p| p.work_secs);
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
                        let ended = self.pending.remove(&contact.id);
                        // A customer who hung up (or was turned away) ends the conversation.
                        if !matches!(contact.state, ContactState::Completed { .. })
                            && let Some(key) = ended.and_then(|p| p.conversation)
                        {
                            self.conversations.remove(&key);
                        }
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
