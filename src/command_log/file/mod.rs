//! The file journal: the command log in a local data directory, the default.
//!
//! [`FileStore`] owns the directory (reading, snapshots, compaction); [`FileLog`] is the writer:
//! a thread that takes batches from the engine thread over a bounded channel, writes them (all
//! that queued up while it was busy: group commit), syncs them by policy, and runs their
//! releases in order.
//!
//! Invariants:
//! - one writer per data directory: the server holds [`DirLock`] from before recovery reads the
//!   directory until its writer closes, and repair takes it too;
//! - a batch is released only after its records are handed to the operating system — and, with
//!   `fsync_interval = 0`, synced to disk — after every earlier batch: nothing anyone was told can
//!   be lost by a crash of the process (or, synced, of the machine);
//! - records are numbered from 0 without gaps across segment files `journal-<first>.log`;
//! - `snapshot-<n>.snap` holds the engine after records `0..n` and the next event sequence; a
//!   segment or snapshot is removed only once a later snapshot is durable, and only when all its
//!   records precede that snapshot (segments are rotated where snapshots will be taken);
//! - a torn last record is cut off with a warning; damage with records after it stops start-up
//!   with an error naming the file and offset. In the last segment, writes never synced may
//!   have reached preallocated space sector by sector in any order: zeros where a record should
//!   start, or a record with a sector of zeros, is a torn tail there too (everything after it
//!   was never acknowledged). The price: a sector zeroed by the disk itself in the last segment
//!   reads as a torn tail, not as corruption;
//! - a write or sync that fails fails its batch and every later one (fail-stop: the engine stops
//!   rather than acknowledge what it could not keep).
//!
//! Preallocation: a new segment is, when one is ready, a file of [`SPARE_BYTES`] zeros written
//! and synced beforehand (`journal-spare.tmp`, made by the snapshotter after each snapshot and at
//! start-up) and renamed into place; records overwrite the zeros, so a sync flushes data only —
//! no file size or block allocation for the file system to journal. On this machine that took
//! 25–35 % off each fdatasync, and `routerd loadgen` with the journal synced before every reply
//! sustained 0.79–0.82 of the memory-only rate against 0.73–0.79 without (interleaved runs).
//! Zeros after the last record read as unused space; a segment that outgrows its preallocation
//! is appended to as before. Disk: up to [`SPARE_BYTES`] per segment, plus the spare. Off with
//! `FileConfig::preallocate` (`[journal] preallocate = false`).
//!
//! Cost: the engine thread only encodes records and sends a batch; framing, checksums, writes
//! and syncs happen on the writer thread. One sync per group of batches, each timed and counted
//! into [`SyncMetrics`] (two histogram observations).

pub mod repair;
mod segment;
mod snapshot;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Batch, CommandLog, LogError, LogStore, Position, ReadEnd, Release, Snapshot, record};
use crate::core::{Command, Millis};

pub use segment::MAGIC as SEGMENT_MAGIC;

/// Batches that may wait for the writer before `append` waits too.
const IN_FLIGHT: usize = 256;

/// The size of a preallocated segment: at the default snapshot interval (100,000 records of
/// typically 30–60 bytes) a segment fits in it; 16 MiB measured no better.
pub const SPARE_BYTES: usize = 8 << 20;
/// The next segment, zero-filled and synced; and the file it is written as until it is whole.
const SPARE: &str = "journal-spare.tmp";
const SPARE_PARTIAL: &str = "journal-spare.partial";
/// The file whose lock a data directory's one writer holds (see [`DirLock`]).
pub const LOCK: &str = "routerd.lock";

/// An exclusive hold on a data directory: one writer at a time. A second `routerd serve` on
/// the same directory, or `routerd journal repair` while a server runs there, is refused
/// ([`LogError::InUse`]) instead of writing under it. Held until dropped; the operating system
/// drops it with the process (a killed server leaves nothing to clean up). An advisory lock
/// (`flock`): it binds routerd processes, not other programs, and on a network file system it is
/// only as good as that file system's locks.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of `dir` (created if missing), or says who has it.
    pub fn acquire(dir: &Path) -> Result<DirLock, LogError> {
        fs::create_dir_all(dir).map_err(LogError::io(dir))?;
        let path = dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(LogError::io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(LogError::InUse {
                dir: dir.to_path_buf(),
            }),
            Err(fs::TryLockError::Error(e)) => Err(LogError::io(&path)(e)),
        }
    }
}

/// How the file journal writes.
#[derive(Clone, Debug)]
pub struct FileConfig {
    pub dir: PathBuf,
    /// Zero: sync before a batch is released (one sync per group of batches). Otherwise: written
    /// to the operating system before release and synced at most this long after.
    pub fsync_interval: Duration,
    /// Start new segments as preallocated, zero-filled files (see the module documentation).
    pub preallocate: bool,
    /// Keep every segment, even those a snapshot makes redundant (for `routerd replay`).
    pub keep_history: bool,
}

/// The data directory, for reading the log and storing snapshots.
#[derive(Clone, Debug)]
pub struct FileStore {
    dir: PathBuf,
    /// Whether [`FileStore::prepare_spare`] writes a spare segment.
    preallocate: bool,
    /// Whether a snapshot leaves the segments before it in place.
    keep_history: bool,
}

impl FileStore {
    /// Opens (creating if need be) the data directory, removing half-written snapshots.
    pub fn open(dir: &Path) -> Result<FileStore, LogError> {
        fs::create_dir_all(dir).map_err(LogError::io(dir))?;
        for stale in fs::read_dir(dir).map_err(LogError::io(dir))?.flatten() {
            let name = stale.file_name();
            if name.to_string_lossy().ends_with(".snap.tmp") || name == SPARE_PARTIAL {
                let _ = fs::remove_file(stale.path());
            }
        }
        Ok(FileStore {
            dir: dir.to_path_buf(),
            preallocate: true,
            keep_history: false,
        })
    }

    /// Opens an existing data directory to read it, and nothing else: no file is created or
    /// removed (a running server's directory may be read this way).
    pub fn open_read_only(dir: &Path) -> Result<FileStore, LogError> {
        let meta = fs::metadata(dir).map_err(LogError::io(dir))?;
        if !meta.is_dir() {
            return Err(LogError::Io {
                path: dir.to_path_buf(),
                source: io::Error::other("not a directory"),
            });
        }
        Ok(FileStore {
            dir: dir.to_path_buf(),
            preallocate: false,
            keep_history: true,
        })
    }

    /// Whether snapshots leave the segments before them in place (off by default).
    pub fn keeping_history(mut self, keep: bool) -> FileStore {
        self.keep_history = keep;
        self
    }

    /// The position of the first record the directory holds (0 unless compacted; `None`: no
    /// segment).
    pub fn first_position(&self) -> Result<Option<Position>, LogError> {
        Ok(self.segments()?.first().map(|(start, _)| *start))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the spare segment is prepared (on unless turned off; a reader never writes one).
    pub fn preallocating(mut self, preallocate: bool) -> FileStore {
        self.preallocate = preallocate;
        self
    }

    /// Writes the spare segment (zeros, synced 256 KiB at a time so no one sync holds up
    /// the writer's for long) unless one is ready.
    pub fn prepare_spare(&self) -> io::Result<()> {
        let spare = self.dir.join(SPARE);
        if !self.preallocate || spare.exists() {
            return Ok(());
        }
        let partial = self.dir.join(SPARE_PARTIAL);
        let mut file = File::create(&partial)?;
        let zeros = vec![0; 256 << 10];
        for _ in 0..SPARE_BYTES / zeros.len() {
            file.write_all(&zeros)?;
            file.sync_data()?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&partial, &spare)?;
        snapshot::sync_dir(&self.dir)
    }

    fn segments(&self) -> Result<Vec<(Position, PathBuf)>, LogError> {
        list(&self.dir, segment::parse_name).map_err(LogError::io(&self.dir))
    }
}

impl LogStore for FileStore {
    fn latest_snapshot(&self) -> Result<Option<Snapshot>, LogError> {
        let snapshots = list(&self.dir, snapshot::parse_name).map_err(LogError::io(&self.dir))?;
        for (index, path) in snapshots.into_iter().rev() {
            let bytes = fs::read(&path).map_err(LogError::io(&path))?;
            match snapshot::decode(&bytes) {
                Ok(snap) if snap.index == index => {
                    return Ok(Some(Snapshot {
                        position: index,
                        next_sequence: snap.next_sequence,
                        image: snap.image.to_vec(),
                    }));
                }
                Ok(snap) => tracing::warn!(
                    path = %path.display(),
                    "skipping a snapshot whose header says record {}",
                    snap.index
                ),
                Err(what) => {
                    tracing::warn!(path = %path.display(), %what, "skipping a damaged snapshot")
                }
            }
        }
        Ok(None)
    }

    fn read(
        &self,
        from: Position,
        to: Option<Position>,
        each: &mut dyn FnMut(Position, Millis, Command) -> Result<(), LogError>,
    ) -> Result<ReadEnd, LogError> {
        if to == Some(from) {
            return Ok(ReadEnd {
                position: from,
                ..ReadEnd::default()
            });
        }
        let segments = self.segments()?;
        let first = segments
            .iter()
            .rposition(|(start, _)| *start <= from)
            .unwrap_or(0);
        let segments = &segments[first.min(segments.len())..];
        let mut index = segments.first().map_or(from, |(start, _)| *start);
        if index > from {
            return Err(LogError::Gap { from, to: index });
        }
        let mut end = ReadEnd::default();
        for (i, (start, path)) in segments.iter().enumerate() {
            if to.is_some_and(|to| index >= to) {
                break;
            }
            if *start != index {
                return Err(LogError::Gap {
                    from: index,
                    to: *start,
                });
            }
            let last = i + 1 == segments.len();
            let bytes = fs::read(path).map_err(LogError::io(path))?;
            let read = read_segment(path, &bytes, &mut index, from, to, last, each)?;
            if read.cut.is_some() {
                end.cut = read.cut;
            }
            end.unused = read.unused;
        }
        if index < from || to.is_some_and(|to| index < to) {
            return Err(LogError::Gap {
                from: index,
                to: to.unwrap_or(from).max(from),
            });
        }
        end.position = index;
        Ok(end)
    }

    fn store_snapshot(&self, snap: &Snapshot) -> Result<(), LogError> {
        snapshot::write(&self.dir, snap.position, snap.next_sequence, &snap.image)
            .map_err(LogError::io(&self.dir))?;
        remove_before(&self.dir, snap.position, !self.keep_history).map_err(LogError::io(&self.dir))
    }

    fn prepare(&self) -> Result<(), LogError> {
        self.prepare_spare().map_err(LogError::io(&self.dir))
    }
}

/// Reads one segment's records into `each`, from `*index` (its first record) on; records before
/// `from` are passed over without decoding, and reading stops at `to`. Gives what was cut off a
/// torn end (only the last segment may end torn).
fn read_segment(
    path: &Path,
    bytes: &[u8],
    index: &mut Position,
    from: Position,
    to: Option<Position>,
    last: bool,
    each: &mut dyn FnMut(Position, Millis, Command) -> Result<(), LogError>,
) -> Result<ReadEnd, LogError> {
    let corrupt = |offset: usize, what: String| LogError::Corrupt {
        path: path.to_path_buf(),
        offset,
        what,
    };
    let mut end = ReadEnd::default();
    let mut offset = segment::HEADER_LEN;
    match segment::read_header(bytes) {
        Ok(named) if named == *index => {}
        Ok(named) => return Err(corrupt(8, format!("header names record {named}"))),
        // A crash while creating the newest segment (or before a spare's header was written
        // over its zeros): it starts again.
        Err(_)
            if last
                && (bytes.len() < segment::HEADER_LEN
                    || bytes[..segment::HEADER_LEN].iter().all(|b| *b == 0)) =>
        {
            end.cut = Some((bytes.len() as u64, "an incomplete segment header".into()));
            return Ok(end);
        }
        Err(what) => return Err(corrupt(0, what)),
    }
    loop {
        if to.is_some_and(|to| *index >= to) {
            return Ok(end);
        }
        match segment::read(bytes, offset) {
            segment::Read::Record { payload, next } => {
                if *index >= from {
                    let (at, command) = record::decode(payload).map_err(|what| {
                        corrupt(
                            offset,
                            format!(
                                "a record that passes its checksum but does not decode: {what}"
                            ),
                        )
                    })?;
                    each(*index, at, command)?;
                }
                *index += 1;
                offset = next;
            }
            segment::Read::End => return Ok(end),
            // Preallocated space: where the last segment continues; unused in an older one.
            segment::Read::Unused(bytes) => {
                if last {
                    end.unused = bytes as u64;
                }
                return Ok(end);
            }
            segment::Read::Torn(what) | segment::Read::Hole(what) if last => {
                end.cut = Some(((bytes.len() - offset) as u64, what));
                return Ok(end);
            }
            segment::Read::Torn(what)
            | segment::Read::Hole(what)
            | segment::Read::Corrupt(what) => {
                return Err(corrupt(offset, what));
            }
        }
    }
}

/// Removes snapshots older than `index` and, with `segments`, the segments whose records all
/// precede it.
fn remove_before(dir: &Path, index: Position, segments: bool) -> io::Result<()> {
    let found = if segments {
        list(dir, segment::parse_name)?
    } else {
        Vec::new()
    };
    // A segment's records run to the next segment's start: it may go once that start is <= index.
    for pair in found.windows(2) {
        if pair[1].0 <= index {
            fs::remove_file(&pair[0].1)?;
        }
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

/// The segment a (re)started journal writes first: preallocated (the spare made now, at
/// start-up, if none is ready) unless preallocation is off, when a spare left over is removed.
fn start_segment(
    store: &FileStore,
    config: &FileConfig,
    path: &Path,
    start: Position,
) -> Result<File, LogError> {
    if !config.preallocate {
        let _ = fs::remove_file(store.dir.join(SPARE));
        return create_segment(path, start);
    }
    new_segment(&store.dir, path, start, Some(store))
}

/// Starts the segment whose first record is `start` at `path`: the spare renamed into place
/// when one is ready (made first with `prepare`, at start-up only: never on the commit path),
/// else an empty file.
fn new_segment(
    dir: &Path,
    path: &Path,
    start: Position,
    prepare: Option<&FileStore>,
) -> Result<File, LogError> {
    if let Some(store) = prepare
        && let Err(e) = store.prepare_spare()
    {
        tracing::warn!(error = %e, "no preallocated journal segment: appending instead");
    }
    let spare = fs::rename(dir.join(SPARE), path).is_ok();
    open_segment(path, start, !spare)
}

fn create_segment(path: &Path, start: Position) -> Result<File, LogError> {
    open_segment(path, start, true)
}

/// Writes a segment's header at `path` (a new, empty file when `fresh`; else the spare just
/// renamed there, whose first zeros the header overwrites) and makes it and the directory entry
/// durable before any record in it is released. fdatasync covers a fresh file's new size.
fn open_segment(path: &Path, start: Position, fresh: bool) -> Result<File, LogError> {
    let mut file = OpenOptions::new()
        .create(fresh)
        .truncate(fresh)
        .write(true)
        .open(path)
        .map_err(LogError::io(path))?;
    file.write_all(&segment::header(start))
        .and_then(|()| file.sync_data())
        .map_err(LogError::io(path))?;
    if let Some(dir) = path.parent() {
        snapshot::sync_dir(dir).map_err(LogError::io(dir))?;
    }
    Ok(file)
}

enum ToWriter {
    Batch(Batch, Release),
}

/// The writer side of the file journal.
pub struct FileLog {
    end: Position,
    tx: Option<SyncSender<ToWriter>>,
    thread: Option<JoinHandle<Result<(), LogError>>>,
    /// The data directory's lock, held as long as the writer ([`FileLog::holding`]).
    lock: Option<DirLock>,
}

impl FileLog {
    /// Continues the log after `end` (what recovery read): the last segment, cut to its last
    /// whole record, or a new segment when there is none (or it was only a torn header).
    pub fn open(store: &FileStore, config: FileConfig, end: &ReadEnd) -> Result<FileLog, LogError> {
        FileLog::open_observed(store, config, end, SyncMetrics::default())
    }

    /// [`FileLog::open`], observing every sync into `metrics`.
    pub fn open_observed(
        store: &FileStore,
        config: FileConfig,
        end: &ReadEnd,
        metrics: SyncMetrics,
    ) -> Result<FileLog, LogError> {
        let last = store.segments()?.pop();
        let (path, file, start) = match last {
            Some((start, path)) => {
                let len = fs::metadata(&path).map_err(LogError::io(&path))?.len();
                let cut = end.cut.as_ref().map_or(0, |(bytes, _)| *bytes);
                let keep = len - cut - end.unused;
                if keep == 0 {
                    let file = start_segment(store, &config, &path, start)?;
                    (path, file, start)
                } else {
                    if let Some((bytes, what)) = &end.cut {
                        tracing::warn!(path = %path.display(), offset = keep, bytes, %what, "cutting off a torn journal tail");
                    }
                    let mut file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(LogError::io(&path))?;
                    if cut > 0 {
                        file.set_len(keep)
                            .and_then(|()| file.sync_all())
                            .map_err(LogError::io(&path))?;
                    }
                    // After the last record: the end of the file, or the start of its zeros.
                    io::Seek::seek(&mut file, io::SeekFrom::Start(keep))
                        .map_err(LogError::io(&path))?;
                    (path, file, start)
                }
            }
            None => {
                let path = store.dir.join(segment::file_name(end.position));
                let file = start_segment(store, &config, &path, end.position)?;
                (path, file, end.position)
            }
        };
        let writer = Writer {
            dir: store.dir.clone(),
            fsync_interval: config.fsync_interval,
            preallocate: config.preallocate,
            path,
            file,
            segment_start: start,
            next: end.position,
            unsynced_since: None,
            synced: end.position,
            failed: None,
            buffer: Vec::new(),
            metrics,
        };
        let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("routerd-journal".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| LogError::Stopped(format!("cannot start the journal writer: {e}")))?;
        Ok(FileLog {
            end: end.position,
            tx: Some(tx),
            thread: Some(thread),
            lock: None,
        })
    }

    /// Keeps the data directory's lock (taken before recovery read it) until the writer closes.
    pub fn holding(mut self, lock: DirLock) -> FileLog {
        self.lock = Some(lock);
        self
    }
}

impl CommandLog for FileLog {
    fn end(&self) -> Position {
        self.end
    }

    fn append(&mut self, batch: Batch, release: Release) {
        self.end += batch.records();
        let Some(tx) = &self.tx else {
            release(Err(&LogError::Stopped("the journal is closed".into())));
            return;
        };
        if let Err(mpsc::SendError(ToWriter::Batch(_, release))) =
            tx.send(ToWriter::Batch(batch, release))
        {
            release(Err(&LogError::Stopped("the journal writer is gone".into())));
        }
    }

    fn close(mut self: Box<Self>) -> Result<(), LogError> {
        drop(self.tx.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(LogError::Stopped("the journal writer panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for FileLog {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread's state.
struct Writer {
    dir: PathBuf,
    fsync_interval: Duration,
    preallocate: bool,
    path: PathBuf,
    file: File,
    segment_start: Position,
    /// The index of the next record written.
    next: Position,
    /// Written but not yet synced, since this instant.
    unsynced_since: Option<Instant>,
    /// The index of the first record not yet synced.
    synced: Position,
    /// The first failure: every later batch fails with it.
    failed: Option<LogError>,
    buffer: Vec<u8>,
    metrics: SyncMetrics,
}

/// What the writer measures about its syncs, for the metrics endpoint (clones share the same
/// series). Both are observed once per sync: the time one fdatasync took, and the records it
/// made durable — which, with `fsync_interval = 0`, is the group commit's size. What they showed
/// under `routerd loadgen` on the development machine is in the README ("Sizing"), with the
/// day each figure was taken: they depend on the disk and the load, so none is repeated here.
#[derive(Clone, Debug)]
pub struct SyncMetrics {
    pub sync_seconds: prometheus_client::metrics::histogram::Histogram,
    pub records_per_sync: prometheus_client::metrics::histogram::Histogram,
}

impl Default for SyncMetrics {
    fn default() -> SyncMetrics {
        use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
        SyncMetrics {
            // 10 µs to about 1.3 s, doubling (the runtime's latency buckets).
            sync_seconds: Histogram::new(exponential_buckets(0.000_01, 2.0, 18)),
            // 1 to 16,384 records, doubling.
            records_per_sync: Histogram::new(exponential_buckets(1.0, 2.0, 15)),
        }
    }
}

/// Most batches written under one write and one sync.
const GROUP: usize = 256;

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<ToWriter>) -> Result<(), LogError> {
        loop {
            let first = match self.sync_due() {
                Some(due) => match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                    Ok(message) => message,
                    Err(RecvTimeoutError::Timeout) => {
                        if let Err(e) = self.sync() {
                            self.fail(e);
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(message) => message,
                    Err(_) => break,
                },
            };
            let mut group = vec![first];
            while group.len() < GROUP {
                match rx.try_recv() {
                    Ok(message) => group.push(message),
                    Err(_) => break,
                }
            }
            self.commit(group);
        }
        if self.failed.is_none()
            && let Err(e) = self.sync()
        {
            self.fail(e);
        }
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Writes a group of batches (rotating where a batch asks), syncs by policy, releases them.
    fn commit(&mut self, group: Vec<ToWriter>) {
        let mut releases = Vec::with_capacity(group.len());
        for ToWriter::Batch(batch, release) in group {
            releases.push(release);
            if self.failed.is_some() {
                continue;
            }
            for record in batch.iter() {
                segment::frame(&mut self.buffer, record);
            }
            self.next += batch.records();
            if batch.rotate
                && let Err(e) = self.write().and_then(|()| self.rotate())
            {
                self.fail(e);
            }
        }
        if self.failed.is_none() {
            let written = self.write().and_then(|()| match self.sync_due() {
                Some(due) if due <= Instant::now() => self.sync(),
                _ => Ok(()),
            });
            if let Err(e) = written {
                self.fail(e);
            }
        }
        for release in releases {
            match &self.failed {
                None => release(Ok(())),
                Some(e) => release(Err(e)),
            }
        }
    }

    /// Hands the buffered records to the operating system.
    fn write(&mut self) -> Result<(), LogError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.buffer)
            .map_err(LogError::io(&self.path))?;
        self.buffer.clear();
        self.unsynced_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// When written records must be synced, if any are waiting.
    fn sync_due(&self) -> Option<Instant> {
        self.unsynced_since.map(|since| since + self.fsync_interval)
    }

    fn sync(&mut self) -> Result<(), LogError> {
        if self.unsynced_since.take().is_some() {
            let started = Instant::now();
            self.file.sync_data().map_err(LogError::io(&self.path))?;
            self.metrics
                .sync_seconds
                .observe(started.elapsed().as_secs_f64());
            self.metrics
                .records_per_sync
                .observe((self.next - self.synced) as f64);
            self.synced = self.next;
        }
        Ok(())
    }

    /// Syncs and starts a new segment at the next record, so a snapshot there covers whole
    /// segments.
    fn rotate(&mut self) -> Result<(), LogError> {
        self.sync()?;
        if self.next == self.segment_start {
            return Ok(());
        }
        let path = self.dir.join(segment::file_name(self.next));
        self.file = match self.preallocate {
            true => new_segment(&self.dir, &path, self.next, None)?,
            false => create_segment(&path, self.next)?,
        };
        self.path = path;
        self.segment_start = self.next;
        Ok(())
    }

    fn fail(&mut self, e: LogError) {
        tracing::error!(error = %e, "the journal cannot be written: routing stops");
        self.buffer.clear();
        self.failed = Some(e);
    }
}

#[cfg(test)]
mod tests;
