//! Does routing pause while a snapshot is taken? The runtime with a file journal (synced before
//! every release) is brought to 100,000 ready agents and 100,000 waiting contacts nobody can
//! take (the floor of `benches/recovery.rs`), then one caller sends round trips for a few
//! seconds — enqueue a contact to a one-agent probe queue (it is offered at once), withdraw it —
//! and every reply's latency is recorded. The same run is made twice in one process: once with
//! snapshots off, once with the first snapshot coming due a second into the window, so the
//! snapshotter rebuilds its follower engine from the whole journal, images it and writes it
//! while the caller is measured. The window when the snapshot was being written is read off
//! the data directory.
//!
//! What it shows: the engine thread never images (the follower does), so what remains of a
//! pause is the follower's CPU competing with the engine and journal threads for the cores.
//! Latencies include the journal's fdatasync, and a shared machine's disk stalls now and then
//! on its own (the "snapshots off" row shows how often): compare the two rows of one run, and
//! the count of round trips over 5 ms, never figures from different runs.
//!
//! Two things made a snapshot visible here, both fixed: the follower competing for the cores
//! (the snapshotter now runs at nice 19) and one sync of the whole image holding up the
//! journal's next fdatasync (the image is now synced a megabyte at a time).
//!
//! A third run takes the snapshot with journal segments not preallocated (`[journal]
//! preallocate = false`), to show what preallocation (and preparing the spare segment after each
//! snapshot) does to the same window.
//!
//! Run: `cargo bench --bench snapshot_pause` (about two minutes: three floors of 300,000 records).

/// The allocator the `routerd` binary uses (`routerd::allocator`).
#[global_allocator]
static ALLOCATOR: routerd::allocator::Allocator = routerd::allocator::Allocator;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use routerd::core::{
    AgentSpec, CancelReason, Channel, Command, NewContact, Presence, QueueConfig, SkillLevel,
};
use routerd::runtime::{self, EngineHandle, RuntimeConfig};

const FLOOR: usize = 100_000;
const WINDOW: Duration = Duration::from_secs(8);
/// The bound on a snapshot's pause; round trips slower than it are counted.
const SLOW: Duration = Duration::from_millis(5);
/// Round trips before the snapshot comes due (each writes two records).
const LEAD: u64 = 1_500;

fn skill(i: usize) -> String {
    format!("skill-{}", i % 100)
}

/// The floor as commands: the queue, 100,000 agents set ready, 100,000 contacts asking for a
/// level no agent has; and the probe queue with its one agent.
fn floor() -> Vec<Command> {
    let mut commands = Vec::with_capacity(3 * FLOOR + 4);
    let mut q = QueueConfig::new("q");
    q.offer_timeout_secs = 60;
    commands.push(Command::PutQueue(Box::new(q)));
    let mut probe = QueueConfig::new("probe");
    probe.required_skills = vec![SkillLevel::new("probe", 1).unwrap()];
    commands.push(Command::PutQueue(Box::new(probe)));
    let spec = AgentSpec::new("probe-agent")
        .with_skills(&[("probe", 5)])
        .unwrap();
    commands.push(Command::PutAgent(spec));
    commands.push(Command::SetPresence {
        agent: "probe-agent".into(),
        presence: Presence::Ready,
    });
    for a in 0..FLOOR {
        let spec = AgentSpec::new(&format!("agent-{a}"))
            .with_skills(&[(&skill(a), 5), (&skill(a + 1), 5), (&skill(a + 2), 5)])
            .unwrap();
        commands.push(Command::PutAgent(spec));
        commands.push(Command::SetPresence {
            agent: format!("agent-{a}"),
            presence: Presence::Ready,
        });
    }
    for n in 0..FLOOR {
        let mut contact = NewContact::new("q", Channel::Voice);
        contact.required_skills = vec![SkillLevel::new(&skill(n), 9).unwrap()];
        contact.context.insert("order".into(), format!("A-{n}"));
        commands.push(Command::Enqueue(contact));
    }
    commands
}

/// Latencies of the window, and when (since its start) a snapshot was being written.
struct Run {
    latencies: Vec<(Duration, Duration)>,
    writing: Option<(Duration, Duration)>,
}

async fn round_trip(handle: &EngineHandle) {
    let contact = NewContact::new("probe", Channel::Voice);
    let applied = handle.apply(Command::Enqueue(contact)).await.unwrap();
    let routerd::core::Applied::Enqueued { contact, .. } = applied else {
        panic!("enqueued")
    };
    let cancel = Command::Cancel {
        contact: contact.id,
        reason: CancelReason::Withdrawn,
    };
    handle.apply(cancel).await.unwrap();
}

async fn run(snapshots: bool, preallocate: bool) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let commands = floor();
    // Start-up journals the settings (one record) before the floor.
    let setup = commands.len() as u64 + 1;
    let mut config = RuntimeConfig {
        snapshot_every: if snapshots { setup + 2 * LEAD } else { 0 },
        ..RuntimeConfig::journaled(dir.path())
    };
    if let Some(runtime::Journal::File(journal)) = &mut config.journal {
        journal.preallocate = preallocate;
    }
    let running = runtime::start(config).await.unwrap();
    let handle = running.handle.clone();
    let mut commands = commands.into_iter().peekable();
    while commands.peek().is_some() {
        let chunk: Vec<Command> = commands.by_ref().take(1_000).collect();
        for result in handle.apply_many(chunk).await.unwrap() {
            result.unwrap();
        }
    }
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = watch_snapshot(dir.path().to_path_buf(), started, done.clone());
    let mut latencies = Vec::new();
    while started.elapsed() < WINDOW {
        let sent = Instant::now();
        round_trip(&handle).await;
        latencies.push((sent - started, sent.elapsed()));
    }
    done.store(true, Ordering::Release);
    let writing = watcher.join().unwrap();
    drop(handle);
    drop(running.handle);
    running.stopped.await.unwrap().unwrap();
    Run { latencies, writing }
}

/// Polls the data directory every 200 µs for the snapshot's temporary file (the image being
/// written) and its final name.
fn watch_snapshot(
    dir: std::path::PathBuf,
    started: Instant,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Option<(Duration, Duration)>> {
    std::thread::spawn(move || {
        let mut from = None;
        while !done.load(Ordering::Acquire) {
            let names = names(&dir);
            if from.is_none() && names.iter().any(|n| n.ends_with(".snap.tmp")) {
                from = Some(started.elapsed());
            }
            if names.iter().any(|n| n.ends_with(".snap")) {
                return Some((from.unwrap_or_default(), started.elapsed()));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        None
    })
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn row(label: &str, latencies: impl Iterator<Item = Duration>) {
    let mut sorted: Vec<Duration> = latencies.collect();
    if sorted.is_empty() {
        println!("{label:<34} (no round trips)");
        return;
    }
    sorted.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let slow = sorted.iter().filter(|&&l| l > SLOW).count();
    println!(
        "{label:<34} {:>7} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {slow:>7}",
        sorted.len(),
        ms(quantile(&sorted, 0.5)),
        ms(quantile(&sorted, 0.99)),
        ms(quantile(&sorted, 0.999)),
        ms(*sorted.last().unwrap()),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too, with nothing to do here.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let off = rt.block_on(run(false, true));
    let on = rt.block_on(run(true, true));
    let plain = rt.block_on(run(true, false));
    println!(
        "round trips (enqueue + withdraw, each synced) on {FLOOR} ready agents + {FLOOR} waiting, {} s each",
        WINDOW.as_secs()
    );
    println!(
        "{:<34} {:>7} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "", "count", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "> 5 ms"
    );
    row("snapshots off", off.latencies.iter().map(|l| l.1));
    for (label, run) in [
        ("snapshot due in the window", &on),
        ("the same, segments not preallocated", &plain),
    ] {
        row(label, run.latencies.iter().map(|l| l.1));
        report_snapshot(run);
    }
}

/// When the snapshot was written, the round trips while it was taken, the slowest five.
fn report_snapshot(run: &Run) {
    let Some((from, to)) = run.writing else {
        println!("  no snapshot was written within the window (make WINDOW longer)");
        return;
    };
    // Round trips sent from the moment the snapshot came due (LEAD round trips in) until the
    // file was in place: the follower's rebuild and image both fall in it.
    let due = run.latencies.get(LEAD as usize).map_or(from, |l| l.0);
    let during = run
        .latencies
        .iter()
        .filter(|(sent, _)| *sent >= due && *sent <= to)
        .map(|l| l.1);
    row("  while the snapshot was taken", during);
    let mut worst = run.latencies.clone();
    worst.sort_by_key(|l| std::cmp::Reverse(l.1));
    let worst: Vec<String> = worst
        .iter()
        .take(5)
        .map(|(sent, took)| {
            format!(
                "{:.1} ms at {:.2} s",
                took.as_secs_f64() * 1e3,
                sent.as_secs_f64()
            )
        })
        .collect();
    println!(
        "  due at {:.2} s, file written {:.2}–{:.2} s; slowest: {}",
        due.as_secs_f64(),
        from.as_secs_f64(),
        to.as_secs_f64(),
        worst.join(", ")
    );
}
