//! Criterion benches of the routing core.
//!
//! `routing/decision/N`: one routing decision on a floor of N ready agents (N = 1k, 10k, 100k),
//! each with 3 of 100 skills at random levels 1–10. One iteration enqueues a voice contact that
//! requires one random skill at a random minimum level 1–5 — the engine finds the longest-idle
//! eligible agent through its skill index and offers it — then cancels the contact so the floor
//! returns to all-idle. The figure is the cost of that pair.
//!
//! `routing/agent_frees/N`: an agent becomes ready with a backlog of N waiting voice contacts
//! (N = 1k, 10k, 100k), each requiring one of 100 skills at a level 1–5 (so up to 500 groups of
//! waiting contacts). The engine looks at the head of each group the agent can serve and offers
//! it the best one; the agent then goes not ready, which returns the offer to its place. The
//! figure is the cost of that pair; it follows the number of groups, not the backlog.
//!
//! `routing/alternative/N`: as `decision` at N = 10k and 100k, each contact with an alternative
//! requirement set (another random skill at the same level): an agent meeting either is
//! eligible, so the search runs twice per set.
//!
//! `routing/decision_skills/S`: as `decision` at 10k agents, with S = 100 or 1,000 distinct skills
//! on the floor (each agent still holds 3).
//!
//! `routing/full_cycle/10000`: one contact's whole life on a 10k-agent floor — enqueue (offered to
//! the longest-idle eligible agent), accept, complete (no wrap-up, the agent is free again).
//!
//! `routing/state_churn/10000`: an agent goes not ready and back to ready on a 10k-agent floor
//! with nobody waiting (index removal and insertion, events).
//!
//! `strategy/<name>/N`: the `decision` cycle at N = 10k and 100k agents under each agent-side
//! strategy (a `weighted` mix of idle, performance and skill; `affinity` is longest-idle with a
//! 30 s affinity wait, every contact from one of 1,000 customers whose last contact an agent of
//! the floor handled). Every decision is exact: the best agent on the whole floor.
//!
//! `strategy/performance-learnt/N`: as `performance`, on a floor whose agents have each handled
//! four contacts first, resolving them at a rate of their own (0.3–0.95), so performance
//! estimates differ and the band of the best is a small part of the floor.
//!
//! `routing/blended/N`: the `decision` cycle on a floor where 90 % of the agents hold a chat (no
//! room for a call): the voice contact must find one of the idle 10 %.
//! `routing/voice_on_chat_floor/N`: every agent holds a chat; the voice contact finds nobody
//! and waits (then is cancelled). Compare both with `routing/decision/N` (an idle floor).
//!
//! `strategy/contact:<name>/10000`: the `agent_frees` cycle with 10k waiting contacts (priorities
//! 0–2, customer values 0–9) under each contact-side strategy.
//!
//! Run: `cargo bench --bench routing`.

use std::hint::black_box;

/// The allocator the `routerd` binary uses (`routerd::allocator`).
#[global_allocator]
static ALLOCATOR: routerd::allocator::Allocator = routerd::allocator::Allocator;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use routerd::core::strategy::{AGENT_STRATEGIES, CONTACT_STRATEGIES, WEIGHTED};
use routerd::core::{
    AgentSpec, Applied, CancelReason, Channel, Command, Engine, EngineConfig, Event, NewContact,
    Outcome, Presence, QueueConfig, SkillLevel,
};

/// Queue `q` routed by every agent-side strategy, by bench name.
fn agent_strategies() -> Vec<(String, QueueConfig)> {
    let mut out: Vec<(String, QueueConfig)> = AGENT_STRATEGIES
        .iter()
        .map(|name| {
            let mut q = QueueConfig::new("q");
            q.strategy = name.to_string();
            if *name == WEIGHTED {
                q.agent_weights = [
                    ("idle".into(), 0.01),
                    ("performance".into(), 1.0),
                    ("skill".into(), 0.1),
                ]
                .into();
            }
            (name.to_string(), q)
        })
        .collect();
    let mut affinity = QueueConfig::new("q");
    affinity.affinity_wait_secs = 30;
    out.push(("affinity".into(), affinity));
    out
}

/// Customers of the `affinity` bench.
const CUSTOMERS: u64 = 1_000;

/// Floor sizes, in agents.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const SKILLS: usize = 100;

/// A small deterministic generator (xorshift64*), so every run builds the same floor.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn floor(agents: usize, rng: &mut Rng) -> (Engine, Vec<String>) {
    floor_with(agents, SKILLS, &QueueConfig::new("q"), rng)
}

/// `agents` ready agents, each with 3 of `skills` skills at random levels 1–10, and `queue`
/// (named `q`).
fn floor_with(
    agents: usize,
    skills: usize,
    queue: &QueueConfig,
    rng: &mut Rng,
) -> (Engine, Vec<String>) {
    let mut engine = Engine::new(EngineConfig::default());
    engine
        .apply(Command::PutQueue(Box::new(queue.clone())), 0)
        .unwrap();
    let names: Vec<String> = (0..skills).map(|i| format!("skill-{i}")).collect();
    for a in 0..agents {
        let mut spec = AgentSpec::new(&format!("agent-{a}"));
        while spec.skills.len() < 3 {
            let skill = &names[rng.below(skills as u64) as usize];
            if spec.skills.iter().all(|s| s.skill.as_str() != skill) {
                let level = 1 + rng.below(10) as u32;
                spec.skills.push(SkillLevel::new(skill, level).unwrap());
            }
        }
        engine.apply(Command::PutAgent(spec), 0).unwrap();
        engine
            .apply(
                Command::SetPresence {
                    agent: format!("agent-{a}"),
                    presence: Presence::Ready,
                },
                a as u64,
            )
            .unwrap();
    }
    let mut sink = Vec::new();
    engine.drain_events(&mut sink);
    (engine, names)
}

fn decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(1));
    for &size in &SIZES {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (engine, skills) = floor(size, &mut rng);
        decision_cycle(
            &mut group,
            BenchmarkId::new("decision", size),
            engine,
            skills,
            rng,
            false,
        );
    }
    // The same with an alternative requirement set on every contact.
    for size in STRATEGY_SIZES {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (engine, skills) = floor(size, &mut rng);
        let cycle = Cycle {
            with_customers: false,
            expect_offers: true,
            with_alternative: true,
        };
        let id = BenchmarkId::new("alternative", size);
        decision_cycle_with(&mut group, id, engine, skills, rng, cycle);
    }
    for skill_count in [100, 1_000] {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let defaults = QueueConfig::new("q");
        let (engine, skills) = floor_with(10_000, skill_count, &defaults, &mut rng);
        let id = BenchmarkId::new("decision_skills", skill_count);
        decision_cycle(&mut group, id, engine, skills, rng, false);
    }
    group.finish();
    let mut group = c.benchmark_group("strategy");
    group.throughput(Throughput::Elements(1));
    for size in STRATEGY_SIZES {
        for (name, strategy) in agent_strategies() {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            let (mut engine, skills) = floor_with(size, SKILLS, &strategy, &mut rng);
            if strategy.affinity_wait_secs > 0 {
                handle_one_contact_per_customer(&mut engine);
            }
            let id = BenchmarkId::new(name, size);
            let with_customers = strategy.affinity_wait_secs > 0;
            decision_cycle(&mut group, id, engine, skills, rng, with_customers);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut queue = QueueConfig::new("q");
        queue.strategy = "performance".into();
        let (mut engine, skills) = floor_with(size, SKILLS, &queue, &mut rng);
        learn_performance(&mut engine, size, &mut rng);
        let id = BenchmarkId::new("performance-learnt", size);
        decision_cycle(&mut group, id, engine, skills, rng, false);
    }
    for name in CONTACT_STRATEGIES {
        let mut queue = QueueConfig::new("q");
        queue.contact_strategy = name.to_string();
        if *name == WEIGHTED {
            queue.contact_weights = [("wait".into(), 1.0), ("value".into(), 5.0)].into();
        }
        agent_frees_with(&mut group, &format!("contact:{name}"), 10_000, &queue);
    }
    group.finish();
}

/// Floor sizes of the per-strategy benches.
const STRATEGY_SIZES: [usize; 2] = [10_000, 100_000];

/// Every agent handles four contacts of a `train` queue (longest idle, so each its share),
/// resolving each with a probability of its own between 0.3 and 0.95.
fn learn_performance(engine: &mut Engine, agents: usize, rng: &mut Rng) {
    let rates: Vec<u64> = (0..agents).map(|_| 30 + rng.below(66)).collect();
    engine
        .apply(Command::PutQueue(Box::new(QueueConfig::new("train"))), 1)
        .unwrap();
    for _ in 0..4 * agents {
        let contact = NewContact::new("train", Channel::Voice);
        let Ok(Applied::Enqueued { contact, .. }) = engine.apply(Command::Enqueue(contact), 1)
        else {
            panic!("enqueue failed")
        };
        let agent = contact.state.agent().expect("offered").to_string();
        let index: usize = agent["agent-".len()..].parse().expect("agent-N");
        let accept = Command::Accept {
            contact: contact.id,
            agent: agent.clone(),
        };
        engine.apply(accept, 1).unwrap();
        let outcome = Outcome {
            resolved: rng.below(100) < rates[index],
            ..Outcome::default()
        };
        let complete = Command::Complete {
            contact: contact.id,
            agent,
            outcome,
        };
        engine.apply(complete, 1).unwrap();
    }
    engine.drain_events(&mut Vec::new());
}

/// Gives one chat (accepted) to every agent but `idle_percent` % of them. The chat queue routes
/// to the least occupied agent, so no agent takes a second chat while another has none (by
/// longest idle, an agent who accepted a chat stays longest idle, and one agent was left free:
/// the voice bench then found it).
fn hold_chats(engine: &mut Engine, agents: usize, idle_percent: usize) {
    let mut chat = QueueConfig::new("chat");
    chat.strategy = "least-occupied".into();
    engine.apply(Command::PutQueue(Box::new(chat)), 1).unwrap();
    let holding = agents * (100 - idle_percent) / 100;
    for _ in 0..holding {
        let contact = NewContact::new("chat", Channel::Chat);
        let Ok(Applied::Enqueued { contact, .. }) = engine.apply(Command::Enqueue(contact), 1)
        else {
            panic!("enqueue failed")
        };
        let agent = contact.state.agent().expect("offered").to_string();
        engine
            .apply(
                Command::Accept {
                    contact: contact.id,
                    agent,
                },
                1,
            )
            .unwrap();
    }
    engine.drain_events(&mut Vec::new());
    let free = engine.agent_views().iter().filter(|a| a.load == 0).count();
    assert_eq!(free, agents - holding, "agents without a chat");
}

fn blended(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(1));
    for size in STRATEGY_SIZES {
        for (name, idle_percent) in [("blended", 10), ("voice_on_chat_floor", 0)] {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            let (mut engine, skills) = floor(size, &mut rng);
            hold_chats(&mut engine, size, idle_percent);
            let id = BenchmarkId::new(name, size);
            let cycle = Cycle {
                with_customers: false,
                expect_offers: idle_percent > 0,
                with_alternative: false,
            };
            decision_cycle_with(&mut group, id, engine, skills, rng, cycle);
        }
    }
    group.finish();
}

/// Each customer's first contact is accepted and completed by the agent it is offered to, so
/// the customers' next contacts have an agent to prefer.
fn handle_one_contact_per_customer(engine: &mut Engine) {
    for customer in 0..CUSTOMERS {
        let mut contact = NewContact::new("q", Channel::Voice);
        contact.customer_id = format!("customer-{customer}");
        let Ok(Applied::Enqueued { contact, .. }) = engine.apply(Command::Enqueue(contact), 1)
        else {
            panic!("enqueue failed")
        };
        let agent = contact.state.agent().expect("offered").to_string();
        let accept = Command::Accept {
            contact: contact.id,
            agent: agent.clone(),
        };
        engine.apply(accept, 1).unwrap();
        let complete = Command::Complete {
            contact: contact.id,
            agent,
            outcome: Outcome::default(),
        };
        engine.apply(complete, 1).unwrap();
    }
    engine.drain_events(&mut Vec::new());
}

/// How a decision cycle draws its contacts and what it expects.
#[derive(Clone, Copy)]
struct Cycle {
    with_customers: bool,
    /// Almost every contact finds an agent (else: none does).
    expect_offers: bool,
    /// Each contact also has an alternative requirement set: another random skill.
    with_alternative: bool,
}

/// Enqueue a contact requiring one random skill at a level 1–5, then cancel it.
fn decision_cycle(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    engine: Engine,
    skills: Vec<String>,
    rng: Rng,
    with_customers: bool,
) {
    let cycle = Cycle {
        with_customers,
        expect_offers: true,
        with_alternative: false,
    };
    decision_cycle_with(group, id, engine, skills, rng, cycle);
}

fn decision_cycle_with(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    mut engine: Engine,
    skills: Vec<String>,
    mut rng: Rng,
    cycle: Cycle,
) {
    let with_customers = cycle.with_customers;
    {
        let mut now = 1_000_000u64;
        let mut events: Vec<Event> = Vec::with_capacity(64);
        let mut offered = 0u64;
        let mut tried = 0u64;
        let skill_count = skills.len() as u64;
        group.bench_function(id, |b| {
            b.iter(|| {
                now += 1;
                let mut contact = NewContact::new("q", Channel::Voice);
                let skill = &skills[rng.below(skill_count) as usize];
                let level = 1 + rng.below(5) as u32;
                contact.required_skills = vec![SkillLevel::new(skill, level).unwrap()];
                if cycle.with_alternative {
                    let other = &skills[rng.below(skill_count) as usize];
                    contact.alternatives = vec![vec![SkillLevel::new(other, level).unwrap()]];
                }
                if with_customers {
                    contact.customer_id = format!("customer-{}", rng.below(CUSTOMERS));
                }
                let Ok(Applied::Enqueued {
                    contact, position, ..
                }) = engine.apply(Command::Enqueue(contact), now)
                else {
                    panic!("enqueue failed")
                };
                tried += 1;
                offered += u64::from(position == 0);
                engine
                    .apply(
                        Command::Cancel {
                            contact: black_box(contact.id),
                            reason: CancelReason::Withdrawn,
                        },
                        now,
                    )
                    .unwrap();
                engine.drain_events(&mut events);
                events.clear();
            })
        });
        if cycle.expect_offers {
            // Almost every contact finds an agent: the bench measures decisions, not empty
            // searches.
            assert!(offered * 10 >= tried * 9, "{offered} of {tried} offered");
        } else {
            assert_eq!(offered, 0, "no agent has room");
        }
    }
}

/// Backlog sizes, in waiting contacts.
const BACKLOGS: [usize; 4] = [0, 1_000, 10_000, 100_000];

fn agent_frees(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(1));
    for &backlog in &BACKLOGS {
        agent_frees_with(&mut group, "agent_frees", backlog, &QueueConfig::new("q"));
    }
    group.finish();
}

/// An agent becomes ready with `backlog` contacts waiting in `queue` (named `q`), takes the
/// best one, and goes not ready (the offer returns to its place).
fn agent_frees_with(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    backlog: usize,
    queue: &QueueConfig,
) {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut engine = Engine::new(EngineConfig::default());
    engine
        .apply(Command::PutQueue(Box::new(queue.clone())), 0)
        .unwrap();
    let skills: Vec<String> = (0..SKILLS).map(|i| format!("skill-{i}")).collect();
    for i in 0..backlog {
        let mut contact = NewContact::new("q", Channel::Voice);
        let skill = &skills[rng.below(SKILLS as u64) as usize];
        contact.required_skills = vec![SkillLevel::new(skill, 1 + rng.below(5) as u32).unwrap()];
        contact.priority = rng.below(3) as u32;
        contact.customer_value = rng.below(10) as f64;
        contact.customer_id = format!("customer-{i}");
        engine.apply(Command::Enqueue(contact), 0).unwrap();
    }
    let mut spec = AgentSpec::new("agent");
    for skill in &skills[..3] {
        spec.skills.push(SkillLevel::new(skill, 10).unwrap());
    }
    engine.apply(Command::PutAgent(spec), 0).unwrap();
    let mut events: Vec<Event> = Vec::with_capacity(64);
    engine.drain_events(&mut events);
    events.clear();
    let mut now = 1_000u64;
    group.bench_function(BenchmarkId::new(name, backlog), |b| {
        b.iter(|| {
            now += 1;
            for presence in [Presence::Ready, Presence::NotReady("bench".into())] {
                engine
                    .apply(
                        Command::SetPresence {
                            agent: "agent".into(),
                            presence,
                        },
                        now,
                    )
                    .unwrap();
            }
            engine.drain_events(&mut events);
            assert_eq!(
                events
                    .iter()
                    .any(|e| matches!(e.body, routerd::core::EventBody::Decision(_))),
                backlog > 0,
                "the agent is offered a contact exactly when some wait"
            );
            events.clear();
        })
    });
    assert_eq!(engine.waiting_count(), backlog);
}

fn full_cycle_and_churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(1));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut engine, skills) = floor(10_000, &mut rng);
    let mut now = 1_000_000u64;
    let mut events: Vec<Event> = Vec::with_capacity(64);
    group.bench_function(BenchmarkId::new("full_cycle", 10_000), |b| {
        b.iter(|| {
            now += 1;
            let mut contact = NewContact::new("q", Channel::Voice);
            let skill = &skills[rng.below(SKILLS as u64) as usize];
            contact.required_skills = vec![SkillLevel::new(skill, 1).unwrap()];
            let Ok(Applied::Enqueued { contact, .. }) =
                engine.apply(Command::Enqueue(contact), now)
            else {
                panic!("enqueue failed")
            };
            let agent = contact.state.agent().expect("offered at once").to_string();
            let id = contact.id;
            let accept = Command::Accept {
                contact: id,
                agent: agent.clone(),
            };
            engine.apply(accept, now).unwrap();
            let complete = Command::Complete {
                contact: id,
                agent,
                outcome: Outcome::default(),
            };
            engine.apply(complete, now).unwrap();
            engine.drain_events(&mut events);
            events.clear();
        })
    });
    let names: Vec<String> = (0..10_000).map(|a| format!("agent-{a}")).collect();
    group.bench_function(BenchmarkId::new("state_churn", 10_000), |b| {
        b.iter(|| {
            now += 1;
            let agent = names[rng.below(10_000) as usize].clone();
            for presence in [Presence::NotReady("lunch".into()), Presence::Ready] {
                let command = Command::SetPresence {
                    agent: agent.clone(),
                    presence,
                };
                engine.apply(command, now).unwrap();
            }
            engine.drain_events(&mut events);
            events.clear();
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    decision,
    blended,
    agent_frees,
    full_cycle_and_churn
);
criterion_main!(benches);
