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
//! Run: `cargo bench --bench routing`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use routerd::core::{
    AgentSpec, Applied, CancelReason, Channel, Command, Engine, EngineConfig, Event, NewContact,
    Presence, QueueConfig, SkillLevel,
};

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
    let mut engine = Engine::new(EngineConfig::default());
    engine
        .apply(Command::PutQueue(QueueConfig::new("q")), 0)
        .unwrap();
    let names: Vec<String> = (0..SKILLS).map(|i| format!("skill-{i}")).collect();
    for a in 0..agents {
        let mut spec = AgentSpec::new(&format!("agent-{a}"));
        while spec.skills.len() < 3 {
            let skill = &names[rng.below(SKILLS as u64) as usize];
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
        let (mut engine, skills) = floor(size, &mut rng);
        let mut now = 1_000_000u64;
        let mut events: Vec<Event> = Vec::with_capacity(64);
        let mut offered = 0u64;
        let mut tried = 0u64;
        group.bench_function(BenchmarkId::new("decision", size), |b| {
            b.iter(|| {
                now += 1;
                let mut contact = NewContact::new("q", Channel::Voice);
                let skill = &skills[rng.below(SKILLS as u64) as usize];
                let level = 1 + rng.below(5) as u32;
                contact.required_skills = vec![SkillLevel::new(skill, level).unwrap()];
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
        // Almost every contact finds an agent: the bench measures decisions, not empty searches.
        assert!(offered * 10 >= tried * 9, "{offered} of {tried} offered");
    }
    group.finish();
}

/// Backlog sizes, in waiting contacts.
const BACKLOGS: [usize; 3] = [1_000, 10_000, 100_000];

fn agent_frees(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(1));
    for &backlog in &BACKLOGS {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut engine = Engine::new(EngineConfig::default());
        engine
            .apply(Command::PutQueue(QueueConfig::new("q")), 0)
            .unwrap();
        let skills: Vec<String> = (0..SKILLS).map(|i| format!("skill-{i}")).collect();
        for _ in 0..backlog {
            let mut contact = NewContact::new("q", Channel::Voice);
            let skill = &skills[rng.below(SKILLS as u64) as usize];
            contact.required_skills =
                vec![SkillLevel::new(skill, 1 + rng.below(5) as u32).unwrap()];
            contact.priority = rng.below(3) as u32;
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
        group.bench_function(BenchmarkId::new("agent_frees", backlog), |b| {
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
                assert!(
                    events
                        .iter()
                        .any(|e| matches!(e.body, routerd::core::EventBody::Decision(_))),
                    "the agent was offered a contact"
                );
                events.clear();
            })
        });
        assert_eq!(engine.waiting_count(), backlog);
    }
    group.finish();
}

criterion_group!(benches, decision, agent_frees);
criterion_main!(benches);
