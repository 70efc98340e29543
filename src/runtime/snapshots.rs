//! The snapshotter: snapshots taken off the writer.
//!
//! A thread of its own keeps a follower engine: when a snapshot is due at position `p` (asked by
//! the engine thread once the batch ending at `p` is durable and the journal has started a new
//! segment there), it replays the records it has not yet applied, up to `p`, from the log —
//! the engine is deterministic, so the follower is then identical to the live engine at `p` —
//! takes the image, and stores the snapshot, which lets the log drop the segments and snapshots
//! before it. The live engine never pauses for an image.
//!
//! The first snapshot after start-up rebuilds the follower from the latest snapshot and the
//! records after it, as recovery did. A replay that refuses a record the live engine kept means
//! the follower is not the live engine: that snapshot is not stored (the log keeps everything),
//! the error is logged, and the next attempt rebuilds the follower from disk.
//!
//! Between snapshots it also readies the journal's next segment ([`LogStore::prepare`]).
//!
//! Cost: memory for a second engine, and CPU to apply every record a second time (in bursts,
//! one per snapshot interval), on another core when there is one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::recovery;
use crate::command_log::{LogError, LogStore, Position, Snapshot};
use crate::core::{Engine, EngineConfig};

/// A snapshot is due at `position`; replaying from it gives events from `next_sequence` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotDue {
    pub position: Position,
    pub next_sequence: u64,
}

/// The follower engine and the position it has applied records up to.
struct Follower {
    engine: Engine,
    position: Position,
}

/// Takes snapshots until `due` closes; clears `busy` after each.
pub fn run(
    store: Arc<dyn LogStore>,
    config: EngineConfig,
    due: flume::Receiver<SnapshotDue>,
    busy: Arc<AtomicBool>,
) {
    yield_to_routing();
    prepare(&*store);
    let mut follower: Option<Follower> = None;
    while let Ok(due) = due.recv() {
        let started = Instant::now();
        match take(&*store, &config, &mut follower, due) {
            Ok(bytes) => tracing::info!(
                position = due.position,
                bytes,
                ms = started.elapsed().as_millis() as u64,
                "snapshot written"
            ),
            Err(e) => {
                tracing::error!(error = %e, position = due.position, "taking a snapshot failed; the journal keeps every record");
                follower = None;
            }
        }
        prepare(&*store);
        busy.store(false, Ordering::Release);
    }
}

/// Readies the log's next segment; a failure only costs the preallocation.
fn prepare(store: &dyn LogStore) {
    if let Err(e) = store.prepare() {
        tracing::warn!(error = %e, "could not prepare the next journal segment");
    }
}

/// Lowers this thread's scheduling priority (nice 19, Linux; elsewhere nothing), so that on a
/// busy machine the engine and journal threads get the cores first and the follower catches
/// up in their idle time. The snapshot interval is the follower's slack: it only has to keep up
/// on average.
fn yield_to_routing() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; on Linux PRIO_PROCESS with a thread id
    // sets that thread's nice value only.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) != 0 {
            tracing::debug!("the snapshotter keeps its priority: setpriority refused");
        }
    }
}

/// Brings the follower to `due.position`, images it and stores the snapshot; gives its size.
fn take(
    store: &dyn LogStore,
    config: &EngineConfig,
    follower: &mut Option<Follower>,
    due: SnapshotDue,
) -> Result<usize, LogError> {
    let mut f = match follower.take() {
        Some(f) if f.position <= due.position => f,
        _ => {
            let rebuilt = recovery::rebuild(store, config.clone(), Some(due.position), None, true)?;
            Follower {
                engine: rebuilt.engine,
                position: rebuilt.end.position,
            }
        }
    };
    let mut sink = Vec::new();
    let end = store.read(
        f.position,
        Some(due.position),
        &mut |position, at, command| {
            let counted = command.counts_when_refused();
            if let Err(e) = f.engine.apply(command, at)
                && !counted
            {
                return Err(LogError::Diverged {
                    position,
                    what: e.to_string(),
                });
            }
            f.engine.drain_events(&mut sink);
            sink.clear();
            Ok(())
        },
    )?;
    f.position = end.position;
    let image = f.engine.image();
    let bytes = image.len();
    store.store_snapshot(&Snapshot {
        position: due.position,
        next_sequence: due.next_sequence,
        image,
    })?;
    *follower = Some(f);
    Ok(bytes)
}
