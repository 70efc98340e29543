//! Criterion bench of start-up recovery: `journal/recover/1000000` replays a journal of one
//! million records (no snapshot) into a fresh engine, the work a restart does when snapshots are
//! off or the last one is a million records old.
//!
//! The journal is a day on a 1,000-agent chat floor: the agents are created and set ready, then
//! contacts arrive (two in three with a little customer context), are offered at once, accepted
//! and completed — three records per contact, times advancing 50 ms per record. Each iteration
//! recovers from the same files into a new engine and event bus (events are regenerated and
//! numbered, as in a real start).
//!
//! `journal/follow/quiet/1000000`: the same replay as the snapshotter's follower does it, with no
//! bus: a quiet engine, which builds no events ([`routerd::core::Engine::set_quiet`]);
//! `journal/follow/emitting/1000000` builds every event and drops it, for comparison.
//!
//! `journal/image/100000` and `journal/load_image/100000`: taking a snapshot's engine image
//! (done by the snapshotter's follower engine, off the engine thread: routing does not pause for
//! it, see `benches/snapshot_pause.rs`) and loading it at start-up, for a floor of 100,000 agents
//! (3 of 100 skills each, all ready) with 100,000 waiting contacts (one skill each, at a level no
//! agent has, so none is offered).
//!
//! Run: `cargo bench --bench recovery` (a few minutes: ten recoveries after writing the journal).

/// The allocator the `routerd` binary uses (`routerd::allocator`).
#[global_allocator]
static ALLOCATOR: routerd::allocator::Allocator = routerd::allocator::Allocator;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use routerd::command_log::file::{FileConfig, FileLog, FileStore};
use routerd::command_log::{Batch, CommandLog, LogStore, ReadEnd};
use routerd::core::{
    AgentSpec, Applied, Channel, Command, Engine, EngineConfig, NewContact, Outcome, Presence,
    QueueConfig,
};
use routerd::runtime::EventBus;
use routerd::runtime::recovery;

const RECORDS: u64 = 1_000_000;
const AGENTS: usize = 1_000;

fn write_journal(config: &FileConfig) {
    let store = FileStore::open(&config.dir).expect("data directory");
    let mut log =
        FileLog::open(&store, config.clone(), &ReadEnd::default()).expect("fresh journal");
    let mut engine = Engine::new(EngineConfig::default());
    let mut batch = Batch::default();
    let mut now = 1_700_000_000_000;
    let mut apply = |command: Command, now: u64, log: &mut FileLog| {
        batch.push(now, &command);
        let applied = engine.apply(command, now).expect("accepted");
        engine.drain_events(&mut Vec::new());
        if batch.records() == 4096 {
            log.append(
                std::mem::take(&mut batch),
                Box::new(|r| r.expect("written")),
            );
        }
        applied
    };
    apply(
        Command::PutQueue(Box::new(QueueConfig::new("chat"))),
        now,
        &mut log,
    );
    for a in 0..AGENTS {
        let id = format!("agent-{a}");
        apply(Command::PutAgent(AgentSpec::new(&id)), now, &mut log);
        let ready = Command::SetPresence {
            agent: id,
            presence: Presence::Ready,
        };
        apply(ready, now, &mut log);
    }
    let mut n = 0u64;
    while (2 * AGENTS as u64 + 1) + 3 * n + 3 <= RECORDS {
        now += 50;
        let mut contact = NewContact::new("chat", Channel::Chat);
        contact.customer_id = format!("cust-{}", n % 50_000);
        if !n.is_multiple_of(3) {
            contact.context.insert("order".into(), format!("A-{n}"));
        }
        let Applied::Enqueued { contact, .. } = apply(Command::Enqueue(contact), now, &mut log)
        else {
            unreachable!()
        };
        let agent = contact.state.agent().expect("offered at once").to_string();
        now += 50;
        let accept = Command::Accept {
            contact: contact.id,
            agent: agent.clone(),
        };
        apply(accept, now, &mut log);
        now += 50;
        let complete = Command::Complete {
            contact: contact.id,
            agent,
            outcome: Outcome::default(),
        };
        apply(complete, now, &mut log);
        n += 1;
    }
    log.append(batch, Box::new(|r| r.expect("written")));
    Box::new(log).close().expect("closed");
}

fn recover(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = FileConfig {
        dir: dir.path().to_path_buf(),
        fsync_interval: Duration::from_secs(1),
        preallocate: false,
        keep_history: false,
    };
    write_journal(&config);
    let bytes: u64 = std::fs::read_dir(dir.path())
        .expect("data directory")
        .flatten()
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    eprintln!("journal: {RECORDS} records, {bytes} bytes");
    let store = FileStore::open(dir.path()).expect("data directory");
    let mut group = c.benchmark_group("journal/recover");
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function(BenchmarkId::from_parameter(RECORDS), |b| {
        b.iter(|| {
            let bus = EventBus::new(100_000, 16);
            let rebuilt =
                recovery::rebuild(&store, EngineConfig::default(), None, Some(&bus), false)
                    .expect("recovers");
            assert!(rebuilt.replayed + 3 >= RECORDS);
            rebuilt.engine
        })
    });
    group.finish();
    // The snapshotter's follower: the same replay with no bus, so the engine is quiet; and,
    // for comparison, a follower that builds every event and throws it away.
    let mut group = c.benchmark_group("journal/follow");
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function(BenchmarkId::new("quiet", RECORDS), |b| {
        b.iter(|| {
            let rebuilt = recovery::rebuild(&store, EngineConfig::default(), None, None, true)
                .expect("follows");
            assert!(rebuilt.replayed + 3 >= RECORDS);
            assert!(!rebuilt.engine.emits_events());
            rebuilt.engine
        })
    });
    group.bench_function(BenchmarkId::new("emitting", RECORDS), |b| {
        b.iter(|| {
            let mut engine = Engine::new(EngineConfig::default());
            let mut sink = Vec::new();
            let end = store
                .read(0, None, &mut |_, at, command| {
                    engine.apply(command, at).expect("kept");
                    engine.drain_events(&mut sink);
                    sink.clear();
                    Ok(())
                })
                .expect("follows");
            assert!(end.position + 3 >= RECORDS);
            engine
        })
    });
    group.finish();
}

/// 100,000 ready agents and 100,000 waiting contacts nobody can take.
pub fn big_floor() -> Engine {
    const FLOOR: usize = 100_000;
    let mut engine = Engine::new(EngineConfig::default());
    let mut q = QueueConfig::new("q");
    q.offer_timeout_secs = 60;
    engine.apply(Command::PutQueue(Box::new(q)), 0).unwrap();
    let skill = |i: usize| format!("skill-{}", i % 100);
    for a in 0..FLOOR {
        let spec = AgentSpec::new(&format!("agent-{a}"))
            .with_skills(&[(&skill(a), 5), (&skill(a + 1), 5), (&skill(a + 2), 5)])
            .unwrap();
        engine.apply(Command::PutAgent(spec), 0).unwrap();
        let ready = Command::SetPresence {
            agent: format!("agent-{a}"),
            presence: Presence::Ready,
        };
        engine.apply(ready, 0).unwrap();
    }
    for n in 0..FLOOR {
        let mut contact = NewContact::new("q", Channel::Voice);
        contact.required_skills = vec![routerd::core::SkillLevel::new(&skill(n), 9).unwrap()];
        contact.context.insert("order".into(), format!("A-{n}"));
        engine.apply(Command::Enqueue(contact), 1).unwrap();
    }
    engine.drain_events(&mut Vec::new());
    engine
}

fn images(c: &mut Criterion) {
    const FLOOR: u64 = 100_000;
    let engine = big_floor();
    let image = engine.image();
    eprintln!(
        "image: {FLOOR} agents and {FLOOR} waiting contacts, {} bytes",
        image.len()
    );
    let mut group = c.benchmark_group("journal");
    group.sample_size(10);
    group.throughput(Throughput::Elements(FLOOR));
    group.bench_function(BenchmarkId::new("image", FLOOR), |b| {
        b.iter(|| engine.image())
    });
    group.bench_function(BenchmarkId::new("load_image", FLOOR), |b| {
        b.iter(|| Engine::from_image(&image).unwrap())
    });
    group.finish();
}

criterion_group!(benches, images, recover);
criterion_main!(benches);
