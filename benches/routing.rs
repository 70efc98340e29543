//! Criterion benches of the routing core.
//!
//! `routing/decision/N`: one routing decision on a floor of N ready agents (N = 1k, 10k, 100k),
//! each with 3 of 100 skills at random levels 1–10. One iteration enqueues a voice contact that
//! requires one random skill at a random minimum level 1–5 — the engine finds the longest-idle
//! eligible agent through its skill index and offers it — then cancels the contact so the floor
//! returns to all-idle. The figure is the cost of that pair.
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

criterion_group!(benches, decision);
criterion_main!(benches);
