//! The engine runtime: the engine thread (the single writer), the command log it commits to,
//! the snapshotter, desktop sessions and the event bus. It knows nothing of gRPC or HTTP:
//! listeners reach it only through its [`EngineHandle`].
//!
//! [`start`] recovers the engine from the command log (or starts it empty, memory only), starts
//! the engine thread and, with a file journal, the snapshotter; then journals the engine
//! settings, takes every agent that was logged in offline (their desktop sessions died with the
//! old process: offers they held go back to their queues), and applies the configured queues.

pub mod bus;
mod clock;
mod engine_thread;
mod handle;
pub mod leadership;
pub mod metrics;
pub mod recovery;
pub mod sessions;
mod snapshots;
pub mod view;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::oneshot;
use tracing::info;

use crate::command_log::file::{DirLock, FileConfig, FileLog, FileStore, SyncMetrics};
use crate::command_log::jetstream::{JetStreamConfig, JetStreamLog, JetStreamStore};
use crate::command_log::memory::MemoryLog;
use crate::command_log::{CommandLog, LogError, LogStore};
use crate::core::{Command, Engine, EngineConfig, QueueConfig};
pub use bus::EventBus;
pub use clock::Clock;
pub use engine_thread::BATCH;
use engine_thread::{EngineThread, Outlet, SnapshotPolicy};
pub use handle::{EngineHandle, RuntimeError};
pub use leadership::{Leadership, Standing};
pub use metrics::RuntimeMetrics;
pub use sessions::{SESSION_BUFFER, SessionMessage};
pub use view::FloorView;

/// Everything the runtime needs to start.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub engine: EngineConfig,
    /// Where the command log is kept; `None`: memory only, nothing survives a restart.
    pub journal: Option<Journal>,
    /// Records between snapshots (0: never).
    pub snapshot_every: u64,
    /// Events kept for resuming subscribers, and how far one may fall behind.
    pub replay_buffer: usize,
    pub subscriber_buffer: usize,
    /// Requests queued for the engine thread before callers wait.
    pub command_queue: usize,
    /// Queues created or brought back to this configuration at start-up.
    pub queues: Vec<QueueConfig>,
}

impl RuntimeConfig {
    /// Memory only, default settings, no queues: for tests and tools.
    pub fn ephemeral() -> RuntimeConfig {
        RuntimeConfig {
            engine: EngineConfig::default(),
            journal: None,
            snapshot_every: 0,
            replay_buffer: 100_000,
            subscriber_buffer: 4_096,
            command_queue: 8_192,
            queues: Vec::new(),
        }
    }

    /// With a file journal in `dir`, synced before every release.
    pub fn journaled(dir: impl Into<PathBuf>) -> RuntimeConfig {
        RuntimeConfig {
            journal: Some(Journal::File(FileConfig {
                dir: dir.into(),
                fsync_interval: std::time::Duration::ZERO,
                preallocate: true,
                keep_history: false,
            })),
            ..RuntimeConfig::ephemeral()
        }
    }
}

/// Where the command log is kept.
#[derive(Clone, Debug)]
pub enum Journal {
    /// Segments and snapshots in a data directory.
    File(FileConfig),
    /// A NATS JetStream stream, and snapshots in its object store.
    JetStream(JetStreamConfig),
}

/// A running engine: its handle, and how it ended once every handle is gone (or its log
/// failed, which ends it early).
pub struct Running {
    pub handle: EngineHandle,
    pub stopped: oneshot::Receiver<Result<(), LogError>>,
}

/// Recovers and starts the engine runtime; see the module documentation.
pub async fn start(config: RuntimeConfig) -> anyhow::Result<Running> {
    start_as(config, None).await
}

/// [`start`], reporting to `standing` (if any) whom a standby follows while it waits for the
/// journal's lease, and giving up the wait (an error) once `standing` is cancelled.
pub async fn start_as(
    config: RuntimeConfig,
    standing: Option<Standing>,
) -> anyhow::Result<Running> {
    config
        .engine
        .validate()
        .map_err(|e| anyhow::anyhow!("[routing]: {e}"))?;
    let bus = Arc::new(EventBus::new(
        config.replay_buffer,
        config.subscriber_buffer,
    ));
    let metrics = Arc::new(RuntimeMetrics::default());
    let running = match &config.journal {
        None => {
            info!("memory only (journal.ephemeral): nothing survives a restart");
            let engine = Engine::new(config.engine.clone());
            launch(
                &config,
                engine,
                Box::new(MemoryLog::default()),
                None,
                bus,
                metrics,
            )?
        }
        Some(journal) => {
            let (journal, engine_config, bus2) =
                (journal.clone(), config.engine.clone(), bus.clone());
            let every = config.snapshot_every;
            let syncs = metrics.journal.clone();
            let (engine, log, store, last) = tokio::task::spawn_blocking(move || {
                recover(
                    journal,
                    engine_config,
                    every,
                    &bus2,
                    standing.as_ref(),
                    syncs,
                )
            })
            .await??;
            launch(&config, engine, log, Some((store, last)), bus, metrics)?
        }
    };
    bring_up(&running.running.handle, &config, running.logged_in.clone()).await?;
    Ok(running.running)
}

/// A started engine thread, before the start-up commands.
struct Launched {
    running: Running,
    logged_in: Vec<String>,
}

/// Starts the engine thread on `engine` and `log` (and, with a store, the snapshotter, the last
/// snapshot being at the given position).
fn launch(
    config: &RuntimeConfig,
    engine: Engine,
    log: Box<dyn CommandLog>,
    store: Option<(Arc<dyn LogStore>, u64)>,
    bus: Arc<EventBus>,
    metrics: Arc<RuntimeMetrics>,
) -> anyhow::Result<Launched> {
    let (notices_tx, notices) = flume::unbounded();
    let busy = Arc::new(AtomicBool::new(false));
    let (snapshots, snapshotter, last_snapshot) = match store {
        Some((store, last)) => {
            let (due_tx, due) = flume::unbounded();
            let (engine_config, busy) = (config.engine.clone(), busy.clone());
            let every = config.snapshot_every;
            let thread = std::thread::Builder::new()
                .name("routerd-snapshots".into())
                .spawn(move || snapshots::run(store, engine_config, every, due, busy))?;
            (Some(due_tx), Some(thread), last)
        }
        None => (None, None, 0),
    };
    let mut engine = engine;
    let logged_in = engine.logged_in_agents();
    let clock = Clock::start_after(engine.now());
    let mut view = FloorView::default();
    view.apply(engine.all_changes());
    view.at = engine.now();
    view.last_sequence = bus.last_sequence();
    (view.logged_in, view.ready) = engine.presence_counts();
    let views = Arc::new(view::Views::new(view.clone()));
    let outlet = Arc::new(Outlet {
        bus: bus.clone(),
        views: views.clone(),
        notices: notices_tx,
        snapshots,
        metrics: metrics.clone(),
    });
    let policy = SnapshotPolicy {
        every: config.snapshot_every,
        last: last_snapshot,
        busy,
    };
    let next_sequence = bus.last_sequence() + 1;
    let thread = EngineThread::new(engine, clock, log, outlet, policy, next_sequence, view);
    let (tx, requests) = flume::bounded(config.command_queue.max(1));
    let (stopped_tx, stopped) = oneshot::channel();
    std::thread::Builder::new()
        .name("routerd-engine".into())
        .spawn(move || {
            let result = thread.run(&requests, notices);
            if let Err(e) = &result {
                tracing::error!(error = %e, "the engine stopped: its journal cannot be written");
            }
            // A snapshot being written is finished before the engine counts as stopped.
            if let Some(snapshotter) = snapshotter {
                let _ = snapshotter.join();
            }
            let _ = stopped_tx.send(result);
            engine_thread::refuse(requests);
        })?;
    let handle = EngineHandle {
        tx,
        bus,
        views,
        clock,
        metrics,
    };
    Ok(Launched {
        running: Running { handle, stopped },
        logged_in,
    })
}

/// The recovered engine, the log continuing after it, the store, and the last snapshot's
/// position.
type Recovered = (Engine, Box<dyn CommandLog>, Arc<dyn LogStore>, u64);

fn recover(
    journal: Journal,
    config: EngineConfig,
    snapshot_every: u64,
    bus: &EventBus,
    standing: Option<&Standing>,
    syncs: SyncMetrics,
) -> Result<Recovered, LogError> {
    match journal {
        Journal::File(file) => {
            // One writer per directory: taken before anything is read, cleaned or cut.
            let lock = DirLock::acquire(&file.dir)?;
            let store = FileStore::open(&file.dir)?
                .preallocating(file.preallocate)
                .keeping_history(file.keep_history);
            let rebuilt = rebuild(&store, config, bus, &file.dir.display().to_string())?;
            let log = FileLog::open_observed(&store, file, &rebuilt.end, syncs)?.holding(lock);
            let last = rebuilt.snapshot.unwrap_or(0);
            Ok((rebuilt.engine, Box::new(log), Arc::new(store), last))
        }
        Journal::JetStream(nats) => {
            let store = JetStreamStore::open(&nats)?;
            let from = format!("nats stream {}", nats.stream);
            // Only the lease holder writes: a standby waits here, following the log meanwhile
            // (its engine and the event buffer kept up), so that taking over replays only what
            // the last leader wrote since the standby last looked.
            let mut warm: Option<recovery::Rebuilt> = None;
            let held = store.take_lease(&nats, &mut |holder| {
                if let Some(standing) = standing {
                    standing.following(holder);
                    if standing.cancelled() {
                        return false;
                    }
                }
                if holder.is_none() {
                    return true;
                }
                let followed = match &mut warm {
                    None => recovery::rebuild(&store, config.clone(), None, Some(bus), false)
                        .map(|rebuilt| warm = Some(rebuilt)),
                    Some(rebuilt) => recovery::catch_up(&store, rebuilt, Some(bus)).map(|_| ()),
                };
                match followed {
                    Ok(()) => {
                        if let Some(rebuilt) = &warm {
                            snapshot_followed(&store, rebuilt, snapshot_every, bus);
                        }
                    }
                    Err(e) => {
                        // Behind a purge (the leader snapshotted past it), or the servers
                        // faltered: start again from the latest snapshot at the next look.
                        tracing::warn!(error = %e, "the standby lost its place in the log; rebuilding");
                        warm = None;
                        bus.reset();
                    }
                }
                true
            })?;
            let caught_up = warm.and_then(|mut rebuilt| {
                match recovery::catch_up(&store, &mut rebuilt, Some(bus)) {
                    Ok(tail) => {
                        info!(%from, replayed = tail, "took over from the log followed");
                        Some(rebuilt)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the followed log cannot be caught up; rebuilding");
                        bus.reset();
                        None
                    }
                }
            });
            let rebuilt = match caught_up {
                Some(rebuilt) => rebuilt,
                None => rebuild(&store, config, bus, &from)?,
            };
            let log = JetStreamLog::open(&store, &rebuilt.end, held)?;
            let last = rebuilt.snapshot.unwrap_or(0);
            Ok((rebuilt.engine, Box::new(log), Arc::new(store), last))
        }
    }
}

/// A standby stores a snapshot of the log it follows once the newest stored is `every`
/// records behind, so the leader need not (its snapshotter skips while this one keeps up). The
/// image is its own engine's, which replayed the log exactly to a message's end; one that
/// refused a record the leader kept is not the leader's engine, and stores nothing.
fn snapshot_followed(
    store: &dyn LogStore,
    rebuilt: &recovery::Rebuilt,
    every: u64,
    bus: &EventBus,
) {
    if every == 0 || rebuilt.refused > 0 {
        return;
    }
    let stored = store
        .shared_snapshot_position()
        .or(rebuilt.snapshot)
        .unwrap_or(0);
    let position = rebuilt.end.position;
    if position < stored + every {
        return;
    }
    let started = std::time::Instant::now();
    let snapshot = crate::command_log::Snapshot {
        position,
        next_sequence: bus.last_sequence() + 1,
        image: rebuilt.engine.image(),
    };
    match store.store_snapshot(&snapshot) {
        Ok(()) => info!(
            position,
            bytes = snapshot.image.len(),
            ms = started.elapsed().as_millis() as u64,
            "the standby stored a snapshot"
        ),
        Err(e) => tracing::warn!(error = %e, position, "the standby could not store a snapshot"),
    }
}

fn rebuild(
    store: &dyn LogStore,
    config: EngineConfig,
    bus: &EventBus,
    from: &str,
) -> Result<recovery::Rebuilt, LogError> {
    let rebuilt = recovery::rebuild(store, config, None, Some(bus), false)?;
    if rebuilt.refused > 0 {
        tracing::warn!(
            refused = rebuilt.refused,
            "replayed commands refused: the journal does not replay as it ran (written by another build?)"
        );
    }
    info!(
        from,
        snapshot = ?rebuilt.snapshot,
        replayed = rebuilt.replayed,
        ms = rebuilt.elapsed.as_millis() as u64,
        "routing state recovered"
    );
    Ok(rebuilt)
}

/// The start-up commands: today's settings (journaled, so commands from here on replay under
/// them and those before under theirs), agents offline, configured queues.
async fn bring_up(
    handle: &EngineHandle,
    config: &RuntimeConfig,
    logged_in: Vec<String>,
) -> anyhow::Result<()> {
    if config.journal.is_some() {
        handle
            .apply(Command::Configure(config.engine.clone()))
            .await?;
    }
    for agent in logged_in {
        handle
            .apply(Command::Session {
                agent,
                attached: false,
            })
            .await?;
    }
    for queue in &config.queues {
        let name = queue.name.clone();
        let lookup = name.clone();
        let current = handle
            .query(move |engine| engine.queue_config(&lookup))
            .await?;
        let unchanged = current.is_some_and(|mut c| {
            c.version = queue.version;
            c == *queue
        });
        if !unchanged {
            handle
                .apply(Command::PutQueue(Box::new(queue.clone())))
                .await
                .map_err(|e| anyhow::anyhow!("queue {name:?} in the configuration: {e}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod journal_fixture;
#[cfg(test)]
mod tests;
