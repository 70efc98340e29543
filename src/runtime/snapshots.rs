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
//! On the JetStream journal a standby stores snapshots as it follows the log; while the newest
//! it stored is less than one interval behind a due snapshot, this thread takes none (and drops
//! its follower, so its next snapshot starts from the standby's). With no standby it takes them
//! all, as on the file journal.
//!
//! Cost: memory for a second engine, and CPU to apply every record a second time (in bursts,
//! one per snapshot interval), on another core when there is one. The follower is quiet
//! ([`Engine::set_quiet`]): it builds no events and records no candidates, which the live
//! engine does for every decision.

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
    every: u64,
    due: flume::Receiver<SnapshotDue>,
    busy: Arc<AtomicBool>,
) {
    yield_to_routing();
    prepare(&*store);
    let mut follower: Option<Follower> = None;
    while let Ok(due) = due.recv() {
        let started = Instant::now();
        // A standby stores snapshots as it follows the log: none is needed here while its
        // newest is less than one interval behind. (The follower is dropped: the next snapshot
        // this thread takes starts from the standby's, not from records long behind it.)
        if let Some(stored) = store.shared_snapshot_position()
            && stored + every > due.position
        {
            tracing::debug!(
                position = due.position,
                stored,
                "a snapshot is stored recently enough (by a standby); none taken"
            );
            follower = None;
            busy.store(false, Ordering::Release);
            continue;
        }
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
    // Rebuilt without a bus, the follower is quiet: it builds no events.
    debug_assert!(!f.engine.emits_events());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command_log::ReadEnd;
    use crate::command_log::file::FileStore;
    use crate::core::Command;
    use crate::core::Millis;

    /// A file store that reports `shared` as the newest snapshot some other process stored.
    struct Followed {
        files: FileStore,
        shared: Option<Position>,
    }

    impl LogStore for Followed {
        fn latest_snapshot(&self) -> Result<Option<Snapshot>, LogError> {
            self.files.latest_snapshot()
        }
        fn read(
            &self,
            from: Position,
            to: Option<Position>,
            each: &mut dyn FnMut(Position, Millis, Command) -> Result<(), LogError>,
        ) -> Result<ReadEnd, LogError> {
            self.files.read(from, to, each)
        }
        fn store_snapshot(&self, snapshot: &Snapshot) -> Result<(), LogError> {
            self.files.store_snapshot(snapshot)
        }
        fn shared_snapshot_position(&self) -> Option<Position> {
            self.shared
        }
    }

    /// Runs the snapshotter on `store` for one snapshot due at position 0.
    fn one_due(store: Arc<Followed>) {
        let (tx, due) = flume::unbounded();
        let busy = Arc::new(AtomicBool::new(true));
        tx.send(SnapshotDue {
            position: 0,
            next_sequence: 1,
        })
        .unwrap();
        drop(tx);
        run(store, EngineConfig::default(), 10, due, busy.clone());
        assert!(!busy.load(Ordering::Acquire), "the engine may ask again");
    }

    #[test]
    fn the_leader_takes_no_snapshot_while_a_standby_keeps_one_recent() {
        let dir = tempfile::tempdir().unwrap();
        let recent = Arc::new(Followed {
            files: FileStore::open(dir.path()).unwrap(),
            shared: Some(0),
        });
        one_due(recent.clone());
        assert!(recent.latest_snapshot().unwrap().is_none());
        // Alone (no standby storing any), it takes them.
        let alone = Arc::new(Followed {
            files: FileStore::open(dir.path()).unwrap(),
            shared: None,
        });
        one_due(alone.clone());
        assert_eq!(alone.latest_snapshot().unwrap().unwrap().position, 0);
    }
}
