//! The command log: the ordered, durable record of every command the engine accepted, with its
//! time, from which the routing state and its numbered events are rebuilt exactly.
//!
//! Commands, not events, are logged: the core is deterministic (deadlines fire at their own time,
//! not when the runtime woke), so the same commands at the same times rebuild the same state
//! *and* regenerate the same events with the same sequence numbers, while the log stays a
//! fraction of the event volume.
//!
//! The seam has two sides:
//! - [`CommandLog`], the writer, owned by the engine thread: [`CommandLog::append`] hands over
//!   one batch of records and returns at once; the log makes batches durable *in order*, on a
//!   thread of its own, and runs each batch's [`Release`] once it and every batch before it are
//!   durable. That is the commit pipeline: the engine applies batch N+1 while batch N is being
//!   written and synced, and nothing a batch caused (events, replies, read views) leaves before
//!   the release runs. A write that fails fails every later batch too (fail-stop).
//! - [`LogStore`], the reader, used by recovery and by the snapshotter on their own threads:
//!   the latest snapshot, the records from a position, and storing a snapshot (which lets the
//!   log drop what precedes it).
//!
//! Implementations: [`file`](mod@file) (segments and snapshots in a data directory, the default) and
//! [`memory::MemoryLog`] (memory only: nothing is kept, every batch is "durable" at once), and
//! [`jetstream`] (a replicated NATS JetStream stream: the log of DESIGN.md's "beyond one
//! machine"; its standby is still to come).

pub mod file;
pub mod jetstream;
pub mod memory;
pub mod record;

use std::io;
use std::path::{Path, PathBuf};

use crate::core::{Command, Millis};

/// A place in the log: the number of records before it.
pub type Position = u64;

/// What runs once a batch is durable (`Ok`) or can never be (`Err`). Called exactly once, on the
/// log's thread, in batch order.
pub type Release = Box<dyn FnOnce(Result<(), &LogError>) + Send>;

/// One batch of records, encoded ([`record::encode`]) and back to back, with where each ends.
#[derive(Debug, Default)]
pub struct Batch {
    pub bytes: Vec<u8>,
    /// The end offset of each record in `bytes`.
    pub ends: Vec<usize>,
    /// Start a new segment after this batch (a snapshot will cover what precedes it).
    pub rotate: bool,
}

impl Batch {
    pub fn records(&self) -> u64 {
        self.ends.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Appends one record; see [`Batch::rollback`].
    pub fn push(&mut self, at: Millis, command: &Command) {
        record::encode(&mut self.bytes, at, command);
        self.ends.push(self.bytes.len());
    }

    /// Takes the last record out again (its command was refused and is not kept).
    pub fn rollback(&mut self) {
        self.ends.pop();
        self.bytes.truncate(self.ends.last().copied().unwrap_or(0));
    }

    /// Each record's bytes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(s, e)| &self.bytes[s..*e])
    }
}

/// The writer side of a command log.
pub trait CommandLog: Send {
    /// Whether the log keeps records at all (a memory-only log does not: the engine thread then
    /// skips encoding them).
    fn keeps_records(&self) -> bool {
        true
    }

    /// Where the next record appended will go.
    fn end(&self) -> Position;

    /// Hands `batch` over (possibly with no records: its release still waits for the batches
    /// before it) and returns at once, unless the log is far behind, when it waits for room
    /// (backpressure). `release` runs once the batch is durable.
    fn append(&mut self, batch: Batch, release: Release);

    /// Makes everything appended durable, runs every release, and stops the log's thread.
    fn close(self: Box<Self>) -> Result<(), LogError>;
}

/// The state after the first `position` records, as an engine image.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub position: Position,
    /// The sequence number of the first event that replaying the records from `position` gives.
    pub next_sequence: u64,
    pub image: Vec<u8>,
}

/// What a read found at the end of what it read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReadEnd {
    /// The position after the last record read.
    pub position: Position,
    /// Bytes cut off the end of the log (a write torn by a crash), and why.
    pub cut: Option<(u64, String)>,
    /// Preallocated bytes after the last record, where the log continues (0: none).
    pub unused: u64,
}

/// The reader side of a command log.
pub trait LogStore: Send + Sync {
    /// The latest snapshot that loads, if any; damaged ones are passed over with a warning.
    fn latest_snapshot(&self) -> Result<Option<Snapshot>, LogError>;

    /// Calls `each(position, at, command)` for every record from `from` to `to` (`None`: the
    /// end of the log), in order. Stops at the first error `each` returns.
    fn read(
        &self,
        from: Position,
        to: Option<Position>,
        each: &mut dyn FnMut(Position, Millis, Command) -> Result<(), LogError>,
    ) -> Result<ReadEnd, LogError>;

    /// Stores `snapshot` durably, then lets go of the records and snapshots it makes redundant.
    fn store_snapshot(&self, snapshot: &Snapshot) -> Result<(), LogError>;

    /// Readies, off the writer, what the log's next segment will need (the file journal: a
    /// preallocated file). The snapshotter calls it when it starts and after each snapshot.
    fn prepare(&self) -> Result<(), LogError> {
        Ok(())
    }

    /// The position of the newest snapshot stored, where another process may store them too
    /// (a standby following the JetStream log): the leader's snapshotter skips one that would
    /// add nothing. `None` where only this process stores snapshots.
    fn shared_snapshot_position(&self) -> Option<Position> {
        None
    }
}

/// Why the log could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("journal I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "journal {path} is damaged at byte offset {offset}: {what}; refusing to start. `routerd journal repair --data-dir DIR` keeps every record before the damage (it copies what it cuts into DIR/damaged-<time>/ first)"
    )]
    Corrupt {
        path: PathBuf,
        offset: usize,
        what: String,
    },
    #[error("journal records {from}..{to} are missing (no segment holds them)")]
    Gap { from: Position, to: Position },
    #[error("the snapshot at record {position} does not load: {what}")]
    Snapshot { position: Position, what: String },
    /// A replayed record the engine refused differently from when it ran.
    #[error("record {position} does not replay as it ran: {what}")]
    Diverged { position: Position, what: String },
    /// Another routerd leads the replicated log (it holds the lease).
    #[error("{0}")]
    Leased(String),
    /// A standby was told to stop while it waited for the lease: it never led.
    #[error("stopped while standing by for the journal's lease")]
    StoodDown,
    /// Another process holds the data directory (a running `routerd serve`).
    #[error(
        "the data directory {dir} is in use by another routerd (it holds {dir}/{lock}): stop it first, or give this one another directory",
        dir = dir.display(),
        lock = crate::command_log::file::LOCK
    )]
    InUse { dir: PathBuf },
    /// The log's thread is gone (it failed earlier, or panicked).
    #[error("the journal writer stopped: {0}")]
    Stopped(String),
}

impl LogError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> LogError + '_ {
        move |source| LogError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The same error, for a second release that must report it (io::Error is not Clone).
    pub fn again(&self) -> LogError {
        LogError::Stopped(self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::CancelReason;

    #[test]
    fn a_batch_keeps_its_records_apart_and_rolls_back_the_last() {
        let mut batch = Batch::default();
        let cancel = |contact| Command::Cancel {
            contact,
            reason: CancelReason::Abandoned,
        };
        batch.push(1, &cancel(1));
        batch.push(2, &cancel(2));
        batch.push(3, &cancel(3));
        batch.rollback();
        assert_eq!(batch.records(), 2);
        let decoded: Vec<_> = batch.iter().map(|r| record::decode(r).unwrap()).collect();
        assert_eq!(decoded, vec![(1, cancel(1)), (2, cancel(2))]);
        batch.rollback();
        batch.rollback();
        assert!(batch.is_empty() && batch.bytes.is_empty());
    }
}
