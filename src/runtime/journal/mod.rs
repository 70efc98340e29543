//! The journal: what makes the routing state survive a restart.
//!
//! It owns the data directory. The engine task appends every command the engine *accepted*, with
//! the time it was applied at; recovery loads the latest snapshot and re-applies the records
//! after it. Commands, not events, are journaled: the core is deterministic (deadlines fire at
//! their own time, not when the task woke), so the same commands at the same times rebuild the
//! same state *and* regenerate the same events with the same sequence numbers — supervisors
//! resume their streams across a restart — while the log stays a fraction of the event volume.
//! Refused commands change nothing and are not written, except enqueues: a contact refused at a
//! full queue counts in the queue's figures, and replaying the refusal counts it again.
//!
//! Invariants:
//! - a command's record is handed to the operating system — and, with `fsync_interval_ms = 0`,
//!   synced to disk — before any event it caused is published or its caller is answered: nothing
//!   anyone was told can be lost by a crash of the process (or, synced, of the machine);
//! - records are numbered from 0 without gaps across segment files `journal-<first>.log`;
//! - `snapshot-<n>.snap` holds the engine after records `0..n` and the next event sequence; a
//!   segment or snapshot is removed only once a later snapshot is durable;
//! - a torn last record is cut off with a warning; damage with records after it stops start-up
//!   with an error naming the file and offset.

mod segment;
mod snapshot;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::bus::EventBus;
use crate::core::{Command, Engine, EngineConfig, Event, Millis};

/// Where and how the journal writes.
#[derive(Clone, Debug)]
pub struct JournalConfig {
    pub dir: PathBuf,
    /// Zero: sync before every reply (group commit per batch). Otherwise: written to the
    /// operating system before every reply and synced at most this long after.
    pub fsync_interval: Duration,
    /// Take a snapshot once this many records were written since the last one (0: never).
    pub snapshot_every: u64,
}

/// Why the journal could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "journal {path} is damaged at byte offset {offset}: {what}; refusing to start (move the file away to start from what precedes it)"
    )]
    Corrupt {
        path: PathBuf,
        offset: usize,
        what: String,
    },
    #[error("journal records {from}..{to} are missing (no segment holds them)")]
    Gap { from: u64, to: u64 },
    #[error("snapshot {path} does not load: {what}")]
    Snapshot { path: PathBuf, what: String },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What recovery found and did.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// The snapshot recovery started from (its record index), if any.
    pub snapshot: Option<u64>,
    /// Records re-applied after the snapshot.
    pub replayed: u64,
    /// Replayed records other than enqueues the engine refused (none, unless the journal was
    /// written by a build that routes differently).
    pub refused: u64,
    /// Bytes cut off the end of the last segment, and why.
    pub cut: Option<(u64, String)>,
    pub elapsed: Duration,
}

/// Where a rollback returns the write buffer to.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    len: usize,
    pending: u64,
}

/// The open journal: the writer side, owned by the engine task.
pub struct Journal {
    config: JournalConfig,
    path: PathBuf,
    file: File,
    next_index: u64,
    last_snapshot: u64,
    buffer: Vec<u8>,
    pending: u64,
    /// Written but not yet synced, since this instant.
    unsynced_since: Option<Instant>,
    snapshot_writer: Option<JoinHandle<io::Result<()>>>,
}

impl Journal {
    /// The position to [`Journal::rollback`] to if the command about to be appended is refused.
    pub fn mark(&self) -> Mark {
        Mark {
            len: self.buffer.len(),
            pending: self.pending,
        }
    }

    /// Buffers a command applied at `at`; written by the next [`Journal::commit`].
    pub fn append(&mut self, at: Millis, command: &Command) {
        segment::encode(&mut self.buffer, at, command);
        self.pending += 1;
    }

    pub fn rollback(&mut self, mark: Mark) {
        self.buffer.truncate(mark.len);
        self.pending = mark.pending;
    }

    /// Records written since start-up or recovery, in total.
    pub fn next_index(&self) -> u64 {
        self.next_index + self.pending
    }

    /// Writes the buffered records and syncs them as the policy says. On success every appended
    /// record survives a crash of the process.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.pending > 0 {
            self.file
                .write_all(&self.buffer)
                .map_err(io_error(&self.path))?;
            self.buffer.clear();
            self.next_index += self.pending;
            self.pending = 0;
            self.unsynced_since.get_or_insert_with(Instant::now);
        }
        match self.sync_due() {
            Some(due) if due <= Instant::now() => self.sync(),
            _ => Ok(()),
        }
    }

    /// When written records must be synced, if any are waiting.
    pub fn sync_due(&self) -> Option<Instant> {
        self.unsynced_since
            .map(|since| since + self.config.fsync_interval)
    }

    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.unsynced_since.take().is_some() {
            self.file.sync_data().map_err(io_error(&self.path))?;
        }
        Ok(())
    }

    /// Enough records since the last snapshot, and no snapshot still being written.
    pub fn wants_snapshot(&mut self) -> bool {
        if self.config.snapshot_every == 0
            || self.next_index() - self.last_snapshot < self.config.snapshot_every
        {
            return false;
        }
        match &self.snapshot_writer {
            Some(writer) if !writer.is_finished() => false,
            _ => {
                if let Some(writer) = self.snapshot_writer.take() {
                    match writer.join() {
                        Ok(Err(e)) => tracing::error!(error = %e, "writing a snapshot failed"),
                        Err(_) => tracing::error!("the snapshot writer panicked"),
                        Ok(Ok(())) => {}
                    }
                }
                true
            }
        }
    }

    /// Snapshots `engine` (whose events up to `next_sequence - 1` are published) after every
    /// committed record: starts a new segment here and writes the image on a background thread,
    /// which then removes the segments and snapshots it makes redundant.
    pub fn snapshot(&mut self, engine: &Engine, next_sequence: u64) -> Result<(), JournalError> {
        self.commit()?;
        self.sync()?;
        let index = self.next_index;
        let path = self.config.dir.join(segment::file_name(index));
        self.file = create_segment(&path, index)?;
        self.path = path;
        self.last_snapshot = index;
        let image = engine.image();
        let dir = self.config.dir.clone();
        self.snapshot_writer = Some(std::thread::spawn(move || {
            let started = Instant::now();
            snapshot::write(&dir, index, next_sequence, &image)?;
            remove_before(&dir, index)?;
            tracing::info!(
                index,
                bytes = image.len(),
                ms = started.elapsed().as_millis() as u64,
                "snapshot written"
            );
            Ok(())
        }));
        Ok(())
    }

    /// Writes and syncs everything, and waits for a snapshot being written.
    pub fn close(&mut self) -> Result<(), JournalError> {
        self.commit()?;
        self.sync()?;
        if let Some(writer) = self.snapshot_writer.take() {
            let _ = writer.join();
        }
        Ok(())
    }
}

fn create_segment(path: &Path, start: u64) -> Result<File, JournalError> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(&segment::header(start))
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))?;
    if let Some(dir) = path.parent() {
        snapshot::sync_dir(dir).map_err(io_error(dir))?;
    }
    Ok(file)
}

/// Removes segments whose records all precede `index`, and snapshots older than `index`.
fn remove_before(dir: &Path, index: u64) -> io::Result<()> {
    let mut segments = list(dir, segment::parse_name)?;
    segments.retain(|(start, _)| *start < index);
    for (_, path) in segments {
        fs::remove_file(path)?;
    }
    for (at, path) in list(dir, snapshot::parse_name)? {
        if at < index {
            fs::remove_file(path)?;
        }
    }
    snapshot::sync_dir(dir)
}

/// Files in `dir` whose names parse to a number, sorted by it.
fn list(dir: &Path, parse: fn(&str) -> Option<u64>) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(n) = entry.file_name().to_str().and_then(parse) {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// What [`open`] hands back: the recovered engine, the journal to continue, and the report.
pub struct Opened {
    pub engine: Engine,
    pub journal: Journal,
    pub report: RecoveryReport,
}

/// Opens (creating if need be) the data directory and recovers: the latest whole snapshot, then
/// every later record re-applied in order. The events re-applying produces are published on
/// `bus` (which must not have published yet), numbered on from the snapshot's sequence: the same
/// numbers they had before the restart.
pub fn open(
    config: &JournalConfig,
    engine_config: EngineConfig,
    bus: &EventBus,
) -> Result<Opened, JournalError> {
    let started = Instant::now();
    let dir = &config.dir;
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut report = RecoveryReport::default();

    // The latest snapshot that loads; damaged ones are passed over with a warning.
    let mut engine = None;
    let mut base = 0;
    let mut next_sequence = 1;
    for (index, path) in list(dir, snapshot::parse_name)
        .map_err(io_error(dir))?
        .into_iter()
        .rev()
    {
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        let loaded = snapshot::decode(&bytes).and_then(|snap| {
            if snap.index != index {
                return Err(format!("its header says record {}", snap.index));
            }
            Engine::from_image(snap.image)
                .map(|e| (e, snap.next_sequence))
                .map_err(|e| e.to_string())
        });
        match loaded {
            Ok((e, seq)) => {
                engine = Some(e);
                base = index;
                next_sequence = seq;
                report.snapshot = Some(index);
                break;
            }
            Err(what) => {
                tracing::warn!(path = %path.display(), %what, "skipping a damaged snapshot")
            }
        }
    }
    let mut engine = engine.unwrap_or_else(|| Engine::new(engine_config));
    bus.start_at(next_sequence);
    let replayed = |events: &mut Vec<Event>| bus.publish(events.drain(..));

    // The segments holding records from `base` on.
    let segments = list(dir, segment::parse_name).map_err(io_error(dir))?;
    let first_needed = segments
        .iter()
        .rposition(|(start, _)| *start <= base)
        .unwrap_or(0);
    let segments = &segments[first_needed.min(segments.len())..];
    let mut index = segments.first().map_or(base, |(start, _)| *start);
    if index > base {
        return Err(JournalError::Gap {
            from: base,
            to: index,
        });
    }
    let mut events = Vec::new();
    let mut tail: Option<(PathBuf, u64)> = None;
    for (i, (start, path)) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if *start != index {
            return Err(JournalError::Gap {
                from: index,
                to: *start,
            });
        }
        let bytes = fs::read(path).map_err(io_error(path))?;
        let corrupt = |offset: usize, what: String| JournalError::Corrupt {
            path: path.clone(),
            offset,
            what,
        };
        let mut offset = segment::HEADER_LEN;
        match segment::read_header(&bytes) {
            Ok(named) if named == *start => {}
            Ok(named) => return Err(corrupt(8, format!("header names record {named}"))),
            // A crash while creating the newest segment: start it again.
            Err(_) if last && bytes.len() < segment::HEADER_LEN => {
                report.cut = Some((bytes.len() as u64, "an incomplete segment header".into()));
                offset = 0;
            }
            Err(what) => return Err(corrupt(0, what)),
        }
        while offset > 0 {
            match segment::read(&bytes, offset) {
                segment::Read::Record { at, command, next } => {
                    if index >= base {
                        // Kept refusals (Command::counts_when_refused) are refused again.
                        let counted = command.counts_when_refused();
                        if engine.apply(command, at).is_err() && !counted {
                            report.refused += 1;
                        }
                        report.replayed += 1;
                        engine.drain_events(&mut events);
                        if events.len() >= 4096 {
                            replayed(&mut events);
                        }
                    }
                    index += 1;
                    offset = next;
                }
                segment::Read::End => break,
                segment::Read::Torn(what) if last => {
                    report.cut = Some(((bytes.len() - offset) as u64, what));
                    break;
                }
                segment::Read::Torn(what) | segment::Read::Corrupt(what) => {
                    return Err(corrupt(offset, what));
                }
            }
        }
        if last {
            tail = Some((path.clone(), offset as u64));
        }
    }
    replayed(&mut events);
    if index < base {
        return Err(JournalError::Gap {
            from: index,
            to: base,
        });
    }

    // Continue the last segment (cut to its last whole record), or start the first one.
    let (path, file) = match tail {
        Some((path, len)) if len > 0 => {
            if let Some((bytes, what)) = &report.cut {
                tracing::warn!(path = %path.display(), offset = len, bytes, %what, "cutting off a torn journal tail");
            }
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_error(&path))?;
            file.set_len(len)
                .and_then(|()| file.sync_all())
                .map_err(io_error(&path))?;
            let mut file = file;
            io::Seek::seek(&mut file, io::SeekFrom::End(0)).map_err(io_error(&path))?;
            (path, file)
        }
        _ => {
            let path = dir.join(segment::file_name(index));
            let file = create_segment(&path, index)?;
            (path, file)
        }
    };
    for stale in fs::read_dir(dir).map_err(io_error(dir))?.flatten() {
        if stale.file_name().to_string_lossy().ends_with(".snap.tmp") {
            let _ = fs::remove_file(stale.path());
        }
    }
    report.elapsed = started.elapsed();
    Ok(Opened {
        engine,
        journal: Journal {
            config: config.clone(),
            path,
            file,
            next_index: index,
            last_snapshot: base,
            buffer: Vec::new(),
            pending: 0,
            unsynced_since: None,
            snapshot_writer: None,
        },
        report,
    })
}

#[cfg(test)]
mod tests;
