//! The command log on NATS JetStream (`serve --nats URL`): the same records as the file journal,
//! kept in a replicated JetStream stream, so the log outlives the machine routerd runs on.
//!
//! Layout:
//! - the stream `NAME` (default `ROUTERD`, subject `NAME.log`, file storage, `replicas` copies):
//!   one message per commit batch (split when a batch is larger than the server's largest
//!   message), its payload the batch's records framed `len: u32 LE | record`, its header
//!   `Routerd-Position` the position of its first record;
//! - the object store bucket `NAME_SNAPSHOTS`, one object per snapshot (`snapshot-POSITION`:
//!   `RTRDSNP1 | position: u64 | next_sequence: u64 | image`), and the key `snapshot` in the
//!   lease's bucket naming the newest (`POSITION OBJECT`). Storing one writes its object, moves
//!   the pointer forward by compare-and-swap (never back: a deposed writer's late snapshot is
//!   dropped), then purges the stream below the first message after it and deletes the object
//!   it replaced. (A stream whose pointer is missing is read from the object `latest`, where the
//!   first builds kept their one snapshot.)
//!
//! **Fenced appends.** Every message is published with `Nats-Expected-Last-Sequence` (the stream
//! sequence this writer last appended, or found at the end of the stream when it opened) and a
//! `Nats-Msg-Id`. If any other writer appended in between, the server refuses the publish: the
//! batch and every later one fail, the engine stops (the log is fail-stop), and nothing it did
//! after that point is published or answered. A deposed writer can never append.
//!
//! **An acknowledgement that does not come** (none within [`ACK_TIMEOUT`], the connection
//! lost, or the stream without a leader for a moment because a NATS node died) does not stop
//! the log: the writer asks the stream what is at the message's sequence — this message (only
//! the acknowledgement was lost), another writer's (deposed: the log stops), or nothing yet
//! (sent again, same id, same fence) — for up to [`CONFIRM_PATIENCE`]. Messages after it that
//! its loss made the fence refuse are confirmed the same way. The server checks the fence
//! before its duplicate window (a test pins this), so the stream's contents decide, never the
//! window. Meanwhile the lease keeps its own time: a writer cut off from the servers for a
//! lease stops whatever its confirmations are doing.
//!
//! **Pipelined, with group commit.** Up to [`MESSAGES_IN_FLIGHT`] messages are published ahead of
//! their acknowledgements, each expecting the sequence the one before it takes; batches that
//! arrive meanwhile go out together in the next message (never across a snapshot's boundary).
//! Acknowledgements are awaited in order, and each batch's release runs once the server
//! acknowledged its message (stored on a quorum of the stream's replicas; with the servers'
//! `jetstream { sync_interval: always }` that means synced to disk on a quorum).
//!
//! Cost: one publish and one acknowledgement per batch, on a runtime of its own (one thread,
//! `routerd-nats`); the engine thread only hands batches over. The reader methods
//! ([`LogStore`]) block their caller (recovery and the snapshotter run on threads of their own).
//!
//! **The lease.** Only the holder of the lease (the key `leader` in the key-value bucket
//! `NAME_LEASE`) opens the log for writing. It renews the lease every third of
//! [`JetStreamConfig::lease`] by revision compare-and-swap; a renewal refused (another routerd
//! took the lease) or none succeeding for a whole lease makes it stop at once: the process exits
//! (code 3) without answering or publishing anything more. A routerd that finds the lease held
//! waits one lease to see whether it is renewed: if it is, it refuses to start (or, as a
//! standby, goes on waiting); if it is not, it takes the lease by compare-and-swap and recovers.
//! A clean stop deletes the lease, so a standby takes over at once. The fenced appends hold
//! whatever the clocks do; the lease only bounds how long a deposed leader keeps running.
//!
//! A standby follows the log while it waits: between its looks at the lease (every quarter
//! lease) the runtime brings a copy of the engine, and the event buffer, up to the end of the
//! stream, so taking over replays only the last few batches.
//!
//! While it waits, the standby's listeners answer as a standby, naming the leader the lease
//! records (the runtime's leadership module; this layer does not know it).
//!
//! The standby also stores snapshots as it follows, once the newest is `snapshot_every`
//! records behind, so the leader's snapshotter takes none while a standby keeps up. Two
//! writers of snapshots are safe: the pointer only moves forward.
//!
//! Known limit: the standby follows by reading at each look (every quarter lease), not by a
//! push consumer, so it is up to a quarter lease behind.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;

use super::{Batch, CommandLog, LogError, LogStore, Position, ReadEnd, Release, Snapshot, record};
use crate::core::{Command, Millis};

/// Where the log lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JetStreamConfig {
    /// Server URLs (`nats://127.0.0.1:4222`); any one of the cluster is enough to connect.
    pub urls: Vec<String>,
    /// The stream's name; the subject is `NAME.log` and the snapshots' bucket `NAME_SNAPSHOTS`.
    pub stream: String,
    /// Copies of each message (1 for development, 3 for a cluster that survives a node).
    pub replicas: usize,
    /// How long the leader's lease lasts without a renewal (renewed every third of it).
    pub lease: Duration,
    /// Wait for the lease to lapse (a standby) instead of refusing to start while another
    /// routerd holds it.
    pub standby: bool,
    /// What this routerd calls itself in the lease (its gRPC address), for the logs.
    pub node: String,
    /// Keep every message: a snapshot does not purge the records it covers (for `routerd
    /// replay`; `[journal] keep_history`).
    pub keep_history: bool,
}

const POSITION: &str = "Routerd-Position";
const LEASE_KEY: &str = "leader";
const SNAPSHOT_MAGIC: &[u8; 8] = b"RTRDSNP1";
/// The object the first builds kept their only snapshot in (read when no pointer exists).
const SNAPSHOT_OBJECT: &str = "latest";
/// The key, in the lease's bucket, naming the newest snapshot: `POSITION OBJECT`.
const SNAPSHOT_KEY: &str = "snapshot";
/// How long one request to the servers may take before the log gives up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the writer waits for an append's acknowledgement before it looks in the stream for
/// the message (see `confirm`): short, so a stream electing a new leader (its old one's node
/// died) delays routing by about the election, not by [`REQUEST_TIMEOUT`].
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long start-up keeps trying to open the stream.
const OPEN_PATIENCE: Duration = Duration::from_secs(60);

fn failed(what: impl std::fmt::Display) -> LogError {
    LogError::Stopped(format!("NATS JetStream: {what}"))
}

/// The connection, shared by the store and the writer.
struct Shared {
    runtime: tokio::runtime::Runtime,
    /// The writer's: waits [`ACK_TIMEOUT`] for acknowledgements (the stream, bucket and lease
    /// handles were made before, with [`REQUEST_TIMEOUT`]).
    publisher: jetstream::Context,
    stream: stream::Stream,
    snapshots: object_store::ObjectStore,
    lease: async_nats::jetstream::kv::Store,
    subject: String,
    /// Largest message the servers take.
    max_payload: usize,
    /// Stream sequence of the message that starts at each position read (for purging).
    starts: Mutex<BTreeMap<Position, u64>>,
    /// The stream's last sequence when recovery finished reading (the writer appends after it).
    last_sequence: Mutex<u64>,
    /// A snapshot leaves the records it covers in the stream.
    keep_history: bool,
}

/// The reader side ([`LogStore`]); [`JetStreamLog::open`] makes the writer from it.
#[derive(Clone)]
pub struct JetStreamStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for JetStreamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamStore")
            .field("subject", &self.shared.subject)
            .finish_non_exhaustive()
    }
}

impl JetStreamStore {
    /// Connects and creates the stream and the snapshots' bucket if they are missing.
    pub fn open(config: &JetStreamConfig) -> Result<JetStreamStore, LogError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("routerd-nats")
            .enable_all()
            .build()
            .map_err(|e| failed(format!("starting its runtime: {e}")))?;
        // A cluster that is still electing its leaders (all of it starting at once, after a
        // power cut) refuses or times out: try again for a while before giving up.
        let (context, stream, snapshots, lease, max_payload) =
            patiently("opening the JetStream journal", || {
                runtime.block_on(connect(config))
            })?;
        let mut publisher = context;
        publisher.set_timeout(ACK_TIMEOUT);
        Ok(JetStreamStore {
            shared: Arc::new(Shared {
                runtime,
                publisher,
                stream,
                snapshots,
                lease,
                subject: format!("{}.log", config.stream),
                max_payload,
                starts: Mutex::new(BTreeMap::new()),
                last_sequence: Mutex::new(0),
                keep_history: config.keep_history,
            }),
        })
    }
}

/// The lease, held: renewed on the store's runtime until the log closes.
pub struct Held {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

impl JetStreamStore {
    /// Takes the lease: at once when nobody holds it; after one lease without a renewal when
    /// someone held it; as a standby, whenever its holder stops renewing. Refuses (not a
    /// standby) when the holder renews it. A standby calls `look` between its looks at the
    /// lease with the holder's value (to keep a copy of the state up with the log, and to say
    /// whom it follows), and with `None` before it takes a lapsed lease over; `look` answering
    /// `false` ends the wait with [`LogError::Stopped`].
    pub fn take_lease(
        &self,
        config: &JetStreamConfig,
        look: &mut dyn FnMut(Option<&str>) -> bool,
    ) -> Result<Held, LogError> {
        let shared = self.shared.clone();
        // Unique to this process, so a renewal that timed out but landed is recognised as ours.
        let value = Bytes::from(format!(
            "{} (process {}, {:08x})",
            config.node,
            std::process::id(),
            rand::random::<u32>()
        ));
        let revision = take(&shared, value.clone(), config, look)?;
        tracing::info!(node = %config.node, "holding the journal's lease");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let kv = shared.lease.clone();
        let lease = config.lease;
        let renewer = shared
            .runtime
            .spawn(renew(kv, value, revision, lease, stopped));
        Ok(Held {
            stop: Some(stop),
            renewer: Some(renewer),
        })
    }

    /// Stops renewing and lets the lease go (a clean stop: a standby takes over at once).
    fn release(&self, held: &mut Held) {
        if let Some(stop) = held.stop.take() {
            let _ = stop.send(());
        }
        if let Some(renewer) = held.renewer.take() {
            let _ = self.shared.runtime.block_on(renewer);
        }
    }
}

fn take(
    shared: &Shared,
    value: Bytes,
    config: &JetStreamConfig,
    look: &mut dyn FnMut(Option<&str>) -> bool,
) -> Result<u64, LogError> {
    let kv = &shared.lease;
    let poll = config.lease / 4;
    // The lease's bucket may be electing a leader (a node slow or restarting: "no responders"):
    // a read tries again for a while, as opening the journal does, rather than stop start-up.
    let entry = |what: &str| {
        patiently(what, || {
            shared
                .runtime
                .block_on(kv.entry(LEASE_KEY))
                .map_err(|e| e.to_string())
        })
    };
    loop {
        let Some(found) = entry("reading the lease")? else {
            match shared.runtime.block_on(kv.create(LEASE_KEY, value.clone())) {
                Ok(revision) => return Ok(revision),
                Err(_) => continue,
            }
        };
        if found.operation == async_nats::jetstream::kv::Operation::Put {
            // Held: watch it for one lease.
            let holder = String::from_utf8_lossy(&found.value).into_owned();
            tracing::info!(%holder, "the journal's lease is held; waiting one lease to see it renewed");
            let since = std::time::Instant::now();
            let mut renewed = false;
            while since.elapsed() < config.lease {
                let step = std::time::Instant::now();
                if config.standby && !look(Some(&holder)) {
                    return Err(LogError::StoodDown);
                }
                std::thread::sleep(poll.saturating_sub(step.elapsed()));
                let now = entry("reading the lease")?;
                if now.map(|e| e.revision) != Some(found.revision) {
                    renewed = true;
                    break;
                }
            }
            if renewed {
                if !config.standby {
                    return Err(LogError::Leased(format!(
                        "another routerd ({holder}) holds the journal's lease; start this one \
                         with --standby to take over when it stops"
                    )));
                }
                continue;
            }
            tracing::warn!(%holder, "the journal's lease lapsed; taking it over");
            if config.standby && !look(None) {
                return Err(LogError::StoodDown);
            }
        }
        match shared
            .runtime
            .block_on(kv.update(LEASE_KEY, value.clone(), found.revision))
        {
            Ok(revision) => return Ok(revision),
            // Someone else took it first: watch the new holder.
            Err(e) if e.kind() == async_nats::jetstream::kv::UpdateErrorKind::WrongLastRevision => {
                continue;
            }
            Err(e) => return Err(failed(format!("taking the lease: {e}"))),
        }
    }
}

/// Renews the lease every third of it until told to stop (then deletes it). Losing it stops
/// the process at once.
async fn renew(
    kv: async_nats::jetstream::kv::Store,
    value: Bytes,
    mut revision: u64,
    lease: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut last_renewed = tokio::time::Instant::now();
    let mut every = tokio::time::interval(lease / 3);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => {
                let _ = kv.delete_expect_revision(LEASE_KEY, Some(revision)).await;
                return;
            }
            // The lease runs out on this side first: a standby takes it only after watching
            // it unrenewed for a whole lease, which starts after the last renewal.
            _ = tokio::time::sleep_until(last_renewed + lease) => {
                fenced("the journal's lease was not renewed within its time");
            }
            _ = every.tick() => {}
        }
        // A process frozen past its lease (SIGSTOP, a long pause) sees its lease gone here.
        if last_renewed.elapsed() >= lease {
            fenced("the journal's lease was not renewed within its time");
        }
        // Measured from before the request: the server may hold it a while.
        let asked = tokio::time::Instant::now();
        let renewal = kv.update(LEASE_KEY, value.clone(), revision);
        match tokio::time::timeout(lease / 3, renewal).await {
            Ok(Ok(next)) => {
                revision = next;
                last_renewed = asked;
            }
            Ok(Err(e))
                if e.kind() == async_nats::jetstream::kv::UpdateErrorKind::WrongLastRevision =>
            {
                // Ours still, if an earlier renewal that timed out landed after all.
                match kv.entry(LEASE_KEY).await {
                    Ok(Some(entry))
                        if entry.value == value
                            && entry.operation == async_nats::jetstream::kv::Operation::Put =>
                    {
                        revision = entry.revision;
                    }
                    _ => fenced("another routerd took the journal's lease"),
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "renewing the journal's lease failed; trying again")
            }
            Err(_) => tracing::warn!("renewing the journal's lease timed out; trying again"),
        }
    }
}

/// Self-fencing: a routerd that lost the lease stops at once, answering and publishing nothing
/// more (its appends would be refused anyway).
fn fenced(why: &str) -> ! {
    tracing::error!("{why}: stopping at once");
    eprintln!("routerd: {why}: stopping at once");
    std::process::exit(3)
}

async fn connect(
    config: &JetStreamConfig,
) -> Result<
    (
        jetstream::Context,
        stream::Stream,
        object_store::ObjectStore,
        async_nats::jetstream::kv::Store,
        usize,
    ),
    String,
> {
    let addrs = config
        .urls
        .iter()
        .map(|u| u.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a server URL does not parse: {e}"))?;
    let client = async_nats::ConnectOptions::new()
        .name("routerd")
        .request_timeout(Some(REQUEST_TIMEOUT))
        .connect(addrs)
        .await
        .map_err(|e| format!("connecting to {}: {e}", config.urls.join(",")))?;
    let max_payload = client.server_info().max_payload;
    let mut context = jetstream::new(client);
    context.set_timeout(REQUEST_TIMEOUT);
    let stream = context
        .get_or_create_stream(stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.log", config.stream)],
            storage: stream::StorageType::File,
            num_replicas: config.replicas,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("opening the stream {}: {e}", config.stream))?;
    let bucket = format!("{}_SNAPSHOTS", config.stream);
    let snapshots = match context.get_object_store(&bucket).await {
        Ok(store) => store,
        Err(_) => context
            .create_object_store(object_store::Config {
                bucket: bucket.clone(),
                num_replicas: config.replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("opening the snapshots' bucket {bucket}: {e}"))?,
    };
    let bucket = format!("{}_LEASE", config.stream);
    let lease = match context.get_key_value(&bucket).await {
        Ok(store) => store,
        Err(_) => context
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: bucket.clone(),
                history: 1,
                num_replicas: config.replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("opening the lease's bucket {bucket}: {e}"))?,
    };
    Ok((context, stream, snapshots, lease, max_payload))
}

/// Runs `attempt` until it succeeds or [`OPEN_PATIENCE`] has passed (with a warning each time),
/// for reads that nothing has depended on yet.
fn patiently<T>(what: &str, mut attempt: impl FnMut() -> Result<T, String>) -> Result<T, LogError> {
    let deadline = std::time::Instant::now() + OPEN_PATIENCE;
    loop {
        match attempt() {
            Ok(done) => return Ok(done),
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "{what}: trying again");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(failed(format!("{what}: {e}"))),
        }
    }
}

/// The records of one message's payload.
fn records(payload: &[u8]) -> impl Iterator<Item = Result<&[u8], LogError>> {
    let mut rest = payload;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.len() < 4 {
            return Some(Err(failed("a log message ends inside a record's length")));
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if rest.len() < 4 + len {
            return Some(Err(failed("a log message ends inside a record")));
        }
        let record = &rest[4..4 + len];
        rest = &rest[4 + len..];
        Some(Ok(record))
    })
}

fn position_of(message: &async_nats::Message) -> Result<Position, LogError> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(POSITION))
        .and_then(|v| v.as_str().parse().ok())
        .ok_or_else(|| {
            failed(format!(
                "a message on {} has no {POSITION}",
                message.subject
            ))
        })
}

impl LogStore for JetStreamStore {
    fn latest_snapshot(&self) -> Result<Option<Snapshot>, LogError> {
        let shared = &self.shared;
        let bytes = patiently("reading the latest snapshot", || {
            let (snapshots, kv) = (shared.snapshots.clone(), shared.lease.clone());
            // In a task of its own: async-nats's object reader panics when creating its
            // consumer times out (object_store/mod.rs, `.unwrap()`); a task turns that into an
            // error to retry.
            let task = shared.runtime.spawn(async move {
                let name = match pointer(&kv).await? {
                    Some((_, _, name)) => name,
                    None => SNAPSHOT_OBJECT.to_string(),
                };
                let mut object = match snapshots.get(&name).await {
                    Ok(object) => object,
                    Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e.to_string()),
                };
                let mut bytes = Vec::new();
                object
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Some(bytes))
            });
            shared
                .runtime
                .block_on(task)
                .map_err(|e| format!("the reader failed: {e}"))?
        })?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        if bytes.len() < 24 || &bytes[..8] != SNAPSHOT_MAGIC {
            tracing::warn!(
                "the latest snapshot in JetStream is not a routerd snapshot; replaying the whole log"
            );
            return Ok(None);
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        Ok(Some(Snapshot {
            position: u64_at(8),
            next_sequence: u64_at(16),
            image: bytes[24..].to_vec(),
        }))
    }

    fn read(
        &self,
        from: Position,
        to: Option<Position>,
        each: &mut dyn FnMut(Position, Millis, Command) -> Result<(), LogError>,
    ) -> Result<ReadEnd, LogError> {
        let shared = &self.shared;
        shared.runtime.block_on(async {
            let mut stream = shared.stream.clone();
            let state = stream
                .info()
                .await
                .map_err(|e| failed(format!("reading the stream's state: {e}")))?
                .state
                .clone();
            let mut end = from;
            if state.messages == 0 {
                *shared.last_sequence.lock() = state.last_sequence;
                return Ok(ReadEnd {
                    position: end,
                    ..ReadEnd::default()
                });
            }
            // Start at the message holding `from` when a read before told where it is.
            let start = shared
                .starts
                .lock()
                .range(..=from)
                .next_back()
                .map_or(state.first_sequence, |(_, seq)| *seq)
                .max(state.first_sequence);
            // Nothing has been read yet, so a failure here (a cluster electing leaders) can be
            // tried again.
            let mut tries = 0;
            let deadline = std::time::Instant::now() + OPEN_PATIENCE;
            let mut messages = loop {
                let opened = async {
                    stream
                        .create_consumer(consumer::pull::OrderedConfig {
                            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                                start_sequence: start,
                            },
                            ..Default::default()
                        })
                        .await
                        .map_err(|e| e.to_string())?
                        .messages()
                        .await
                        .map_err(|e| e.to_string())
                };
                match opened.await {
                    Ok(messages) => break messages,
                    Err(e) if std::time::Instant::now() < deadline => {
                        tries += 1;
                        tracing::warn!(error = %e, tries, "the JetStream journal cannot be read yet; trying again");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Err(e) => return Err(failed(format!("reading the log: {e}"))),
                }
            };
            // The position the next message must start at (none before the first).
            let mut next: Option<Position> = None;
            'messages: while let Some(message) = messages.next().await {
                let message = message.map_err(|e| failed(format!("reading the log: {e}")))?;
                let sequence = message
                    .info()
                    .map_err(|e| failed(format!("a log message without its sequence: {e}")))?
                    .stream_sequence;
                let start = position_of(&message)?;
                shared.starts.lock().insert(start, sequence);
                let expected = next.unwrap_or(start.min(from));
                if start != expected {
                    return Err(LogError::Gap {
                        from: expected,
                        to: start,
                    });
                }
                next = Some(start);
                for (position, record) in (start..).zip(records(&message.payload)) {
                    let record = record?;
                    next = Some(position + 1);
                    if to.is_some_and(|to| position >= to) {
                        break 'messages;
                    }
                    if position >= from {
                        let (at, command) = record::decode(record).map_err(|what| {
                            LogError::Corrupt {
                                path: shared.subject.clone().into(),
                                offset: sequence as usize,
                                what,
                            }
                        })?;
                        each(position, at, command)?;
                        end = position + 1;
                    }
                }
                if sequence >= state.last_sequence {
                    break;
                }
            }
            *shared.last_sequence.lock() = state.last_sequence;
            Ok(ReadEnd {
                position: end,
                ..ReadEnd::default()
            })
        })
    }

    fn shared_snapshot_position(&self) -> Option<Position> {
        let read = self.shared.runtime.block_on(pointer(&self.shared.lease));
        read.ok().flatten().map(|(_, position, _)| position)
    }

    fn store_snapshot(&self, snapshot: &Snapshot) -> Result<(), LogError> {
        let shared = &self.shared;
        let mut bytes = Vec::with_capacity(24 + snapshot.image.len());
        bytes.extend_from_slice(SNAPSHOT_MAGIC);
        bytes.extend_from_slice(&snapshot.position.to_le_bytes());
        bytes.extend_from_slice(&snapshot.next_sequence.to_le_bytes());
        bytes.extend_from_slice(&snapshot.image);
        shared.runtime.block_on(async {
            // Each snapshot is an object of its own; the pointer moves to it only forward (by
            // compare-and-swap), so a writer deposed mid-snapshot can never put an older
            // snapshot in front of a newer one whose purge its records did not survive.
            let name = format!("snapshot-{}", snapshot.position);
            shared
                .snapshots
                .put(name.as_str(), &mut bytes.as_slice())
                .await
                .map_err(|e| failed(format!("storing a snapshot: {e}")))?;
            let value = Bytes::from(format!("{} {name}", snapshot.position));
            let replaced = loop {
                let current = pointer(&shared.lease).await.map_err(failed)?;
                let moved = match &current {
                    Some((_, position, _)) if *position >= snapshot.position => {
                        tracing::info!(
                            position = snapshot.position,
                            newer = position,
                            "a newer snapshot is stored already; this one is dropped"
                        );
                        if *position > snapshot.position {
                            let _ = shared.snapshots.delete(name.as_str()).await;
                        }
                        return Ok(());
                    }
                    Some((revision, _, _)) => shared
                        .lease
                        .update(SNAPSHOT_KEY, value.clone(), *revision)
                        .await
                        .map(|_| ())
                        .map_err(|e| {
                            (e.kind() != kv::UpdateErrorKind::WrongLastRevision)
                                .then(|| e.to_string())
                        }),
                    None => shared
                        .lease
                        .create(SNAPSHOT_KEY, value.clone())
                        .await
                        .map(|_| ())
                        .map_err(|e| {
                            (e.kind() != kv::CreateErrorKind::AlreadyExists).then(|| e.to_string())
                        }),
                };
                match moved {
                    Ok(()) => break current.map(|(_, _, name)| name),
                    // Someone moved it meanwhile: look again.
                    Err(None) => continue,
                    Err(Some(e)) => {
                        return Err(failed(format!("moving the snapshot pointer: {e}")));
                    }
                }
            };
            // The snapshot it replaces is no longer needed (nor the first builds' object).
            for old in replaced.iter().map(String::as_str).chain([SNAPSHOT_OBJECT]) {
                if old != name {
                    let _ = shared.snapshots.delete(old).await;
                }
            }
            // The records before the snapshot are no longer needed. A snapshot is taken at a
            // batch's end and a message never spans two batches, so the last message starting
            // before its position ends there: purge it and every one before it.
            let last_covered = shared
                .starts
                .lock()
                .range(..snapshot.position)
                .next_back()
                .map(|(_, sequence)| *sequence);
            if let Some(sequence) = last_covered.filter(|_| !shared.keep_history) {
                shared
                    .stream
                    .purge()
                    .sequence(sequence + 1)
                    .await
                    .map_err(|e| failed(format!("purging the log before a snapshot: {e}")))?;
                shared.starts.lock().retain(|p, _| *p >= snapshot.position);
            }
            Ok(())
        })
    }
}

/// The snapshot pointer: its revision, the snapshot's position and its object's name; `None`
/// when no snapshot was stored under a pointer yet.
async fn pointer(kv: &kv::Store) -> Result<Option<(u64, Position, String)>, String> {
    let entry = kv
        .entry(SNAPSHOT_KEY)
        .await
        .map_err(|e| format!("reading the snapshot pointer: {e}"))?;
    let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&entry.value);
    let parsed = text
        .split_once(' ')
        .and_then(|(position, name)| Some((position.parse().ok()?, name.to_string())));
    match parsed {
        Some((position, name)) => Ok(Some((entry.revision, position, name))),
        None => Err(format!(
            "the snapshot pointer {text:?} is not POSITION OBJECT"
        )),
    }
}

/// What the engine thread hands the writer: a batch, the position of its first record, and
/// what to run once it is acknowledged.
struct ToWriter(Batch, Position, Release);

/// The writer side ([`CommandLog`]).
pub struct JetStreamLog {
    end: Position,
    tx: Option<flume::Sender<ToWriter>>,
    done: Option<std::sync::mpsc::Receiver<Result<(), LogError>>>,
    /// The store (keeps the connection's runtime up while the writer runs).
    store: JetStreamStore,
    /// The lease, let go when the log closes.
    held: Held,
}

/// Batches handed over and not yet acknowledged before the engine thread waits.
const IN_FLIGHT: usize = 256;

impl JetStreamLog {
    /// Continues the log after `end` (what recovery read), appending after the stream's last
    /// message as recovery found it.
    pub fn open(
        store: &JetStreamStore,
        end: &ReadEnd,
        held: Held,
    ) -> Result<JetStreamLog, LogError> {
        let shared = store.shared.clone();
        let last = *shared.last_sequence.lock();
        let (tx, rx) = flume::bounded(IN_FLIGHT);
        let (done_tx, done) = std::sync::mpsc::sync_channel(1);
        let writer = shared.clone();
        shared.runtime.spawn(async move {
            let result = write(writer, rx, last).await;
            let _ = done_tx.send(result);
        });
        Ok(JetStreamLog {
            end: end.position,
            tx: Some(tx),
            done: Some(done),
            store: store.clone(),
            held,
        })
    }
}

/// A group's published messages' acknowledgements to await (none for empty batches, or ones
/// that failed already), its batches' releases in order, and its place among the messages in
/// flight.
type Pending = (
    Vec<(jetstream::context::PublishAckFuture, Outgoing)>,
    Vec<Release>,
    Option<tokio::sync::OwnedSemaphorePermit>,
);

/// One message as published: enough to find it in the stream, or to send it again.
struct Outgoing {
    payload: Bytes,
    /// The position of its first record (the `Routerd-Position` header).
    first: Position,
    /// The stream sequence it takes: it is published expecting `sequence - 1` last.
    sequence: u64,
    /// Its `Nats-Msg-Id`.
    id: String,
}

impl Outgoing {
    fn publish(&self) -> jetstream::message::PublishMessage {
        jetstream::message::PublishMessage::build()
            .payload(self.payload.clone())
            .header(POSITION, self.first.to_string().as_str())
            .message_id(self.id.as_str())
            .expected_last_sequence(self.sequence - 1)
    }
}

/// How long a message whose acknowledgement failed may take to be confirmed (found in the
/// stream, or sent again and acknowledged) before the log gives up.
const CONFIRM_PATIENCE: Duration = Duration::from_secs(30);

/// Makes sure `message` is in the stream at its sequence, after its acknowledgement failed
/// (`error`): a timeout, a connection lost, no stream leader for a moment (a node of the
/// cluster died), or a fence refused because a message before it was lost and sent again.
/// The stream itself says what happened: its message at that sequence is this one (it landed,
/// only the acknowledgement was lost: done), another writer's (deposed: an error), or none
/// yet (it was lost: sent again, with the same fence). The fence makes sending again safe —
/// it lands only right after this writer's previous message — and the server checks the fence
/// before its duplicate window, so the stream, not the window, decides.
async fn confirm(
    shared: &Shared,
    message: &Outgoing,
    error: jetstream::context::PublishError,
) -> Result<(), LogError> {
    use async_nats::jetstream::stream::RawMessageErrorKind;
    let deadline = tokio::time::Instant::now() + CONFIRM_PATIENCE;
    let mut last_error = error.to_string();
    tracing::warn!(
        sequence = message.sequence,
        error = %last_error,
        "an append was not acknowledged; looking for it in the stream"
    );
    loop {
        let found =
            tokio::time::timeout(ACK_TIMEOUT, shared.stream.get_raw_message(message.sequence))
                .await;
        let found = match found {
            Ok(found) => found,
            Err(_) => {
                last_error = "reading the stream timed out".into();
                continue_after(deadline, &last_error).await?;
                continue;
            }
        };
        match found {
            Ok(found) => {
                let id = found
                    .headers
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .map(|v| v.as_str().to_string());
                return if id.as_deref() == Some(message.id.as_str()) {
                    Ok(())
                } else {
                    Err(failed(format!(
                        "another writer appended at sequence {} ({last_error}); this one is \
                         deposed",
                        message.sequence
                    )))
                };
            }
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => {
                let sent = shared
                    .publisher
                    .send_publish(shared.subject.clone(), message.publish())
                    .await;
                match sent {
                    Ok(ack) => match ack.await {
                        Ok(ack) if ack.sequence == message.sequence => return Ok(()),
                        Ok(ack) => {
                            return Err(failed(format!(
                                "an append sent again landed at sequence {}, not {}",
                                ack.sequence, message.sequence
                            )));
                        }
                        Err(e) => last_error = e.to_string(),
                    },
                    Err(e) => last_error = e.to_string(),
                }
            }
            Err(e) => last_error = e.to_string(),
        }
        continue_after(deadline, &last_error).await?;
    }
}

/// Waits a moment before the next try at confirming an append, or gives up after `deadline`.
async fn continue_after(deadline: tokio::time::Instant, error: &str) -> Result<(), LogError> {
    if tokio::time::Instant::now() >= deadline {
        return Err(failed(format!(
            "an append was not acknowledged within {CONFIRM_PATIENCE:?}: {error}"
        )));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}

/// Messages published and not yet acknowledged at once. While they are in flight, the batches
/// that arrive wait and then go out together in the next message (group commit, as the file
/// journal does around its sync): with `sync_interval: always` the servers sync each message,
/// so fewer, larger messages carry more batches a second.
const MESSAGES_IN_FLIGHT: usize = 2;

async fn write(
    shared: Arc<Shared>,
    batches: flume::Receiver<ToWriter>,
    mut last: u64,
) -> Result<(), LogError> {
    let (acks_tx, acks_rx) = tokio::sync::mpsc::channel::<Pending>(IN_FLIGHT);
    let releaser = tokio::spawn(release_in_order(shared.clone(), acks_rx));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MESSAGES_IN_FLIGHT));
    let writer_id = format!("{:016x}", rand::random::<u64>());
    let mut failure: Option<String> = None;
    while let Ok(ToWriter(first, start, release)) = batches.recv_async().await {
        if let Some(what) = &failure {
            let _ = acks_tx
                .send((Vec::new(), vec![fail(release, what)], None))
                .await;
            continue;
        }
        let permit = in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| failed(format!("the writer's limit closed: {e}")))?;
        // Everything that queued up meanwhile goes in this group, up to a snapshot's
        // boundary: a message never spans one, so purging behind a snapshot cuts no batch.
        let mut group = first;
        let mut releases = vec![release];
        while !group.rotate && group.bytes.len() < shared.max_payload {
            let Ok(ToWriter(next, _, release)) = batches.try_recv() else {
                break;
            };
            let base = group.bytes.len();
            group.bytes.extend_from_slice(&next.bytes);
            group.ends.extend(next.ends.iter().map(|end| base + end));
            group.rotate = next.rotate;
            releases.push(release);
        }
        let mut futures = Vec::new();
        for (payload, first) in messages(&group, start, shared.max_payload) {
            let outgoing = Outgoing {
                payload,
                first,
                sequence: last + 1,
                id: format!("{writer_id}-{}", last + 1),
            };
            match shared
                .publisher
                .send_publish(shared.subject.clone(), outgoing.publish())
                .await
            {
                Ok(ack) => futures.push((ack, outgoing)),
                Err(e) => {
                    failure = Some(format!("publishing a batch: {e}"));
                    break;
                }
            }
            last += 1;
        }
        if let Some(what) = &failure {
            releases = releases.into_iter().map(|r| fail(r, what)).collect();
        }
        if acks_tx
            .send((futures, releases, Some(permit)))
            .await
            .is_err()
        {
            break;
        }
    }
    drop(acks_tx);
    let acked = releaser
        .await
        .map_err(|e| failed(format!("the releaser panicked: {e}")))?;
    match (failure, acked) {
        (_, Err(e)) => Err(e),
        (Some(what), Ok(())) => Err(failed(what)),
        (None, Ok(())) => Ok(()),
    }
}

/// A release that reports `what` whatever it is given.
fn fail(release: Release, what: &str) -> Release {
    let what = what.to_string();
    Box::new(move |_| release(Err(&failed(what))))
}

/// Awaits each batch's acknowledgements in order (confirming in the stream any that failed)
/// and runs its release; after the first failure every later batch fails too.
async fn release_in_order(
    shared: Arc<Shared>,
    mut pending: tokio::sync::mpsc::Receiver<Pending>,
) -> Result<(), LogError> {
    let mut failure: Option<LogError> = None;
    while let Some((acks, releases, permit)) = pending.recv().await {
        if let Some(e) = &failure {
            for release in releases {
                release(Err(&e.again()));
            }
            continue;
        }
        let mut outcome = Ok(());
        for (ack, message) in acks {
            let acked = match ack.await {
                Ok(ack) if ack.sequence == message.sequence => Ok(()),
                Ok(ack) => Err(failed(format!(
                    "an append landed at sequence {}, not {}",
                    ack.sequence, message.sequence
                ))),
                Err(e) => confirm(&shared, &message, e).await,
            };
            if let Err(e) = acked {
                outcome = Err(e);
                break;
            }
        }
        drop(permit);
        match outcome {
            Ok(()) => releases.into_iter().for_each(|release| release(Ok(()))),
            Err(e) => {
                for release in releases {
                    release(Err(&e));
                }
                failure = Some(e);
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The batch's records framed into messages of at most `max_payload` bytes (a record larger
/// than that gets a message of its own, which the server will refuse), each with the position
/// of its first record.
fn messages(batch: &Batch, start: Position, max_payload: usize) -> Vec<(Bytes, Position)> {
    let mut out = Vec::new();
    let mut current = BytesMut::new();
    let mut first = start;
    for (i, record) in batch.iter().enumerate() {
        if !current.is_empty() && current.len() + 4 + record.len() > max_payload {
            out.push((std::mem::take(&mut current).freeze(), first));
            first = start + i as u64;
        }
        current.put_u32_le(record.len() as u32);
        current.put_slice(record);
    }
    if !current.is_empty() {
        out.push((current.freeze(), first));
    }
    out
}

impl CommandLog for JetStreamLog {
    fn end(&self) -> Position {
        self.end
    }

    fn append(&mut self, batch: Batch, release: Release) {
        let start = self.end;
        self.end += batch.records();
        let Some(tx) = &self.tx else {
            release(Err(&LogError::Stopped("the journal is closed".into())));
            return;
        };
        if let Err(flume::SendError(ToWriter(_, _, release))) =
            tx.send(ToWriter(batch, start, release))
        {
            release(Err(&failed("the writer stopped")));
        }
    }

    fn close(mut self: Box<Self>) -> Result<(), LogError> {
        self.tx = None;
        let result = match self.done.take() {
            Some(done) => done
                .recv()
                .unwrap_or_else(|_| Err(failed("the writer ended without a word"))),
            None => Ok(()),
        };
        // Everything is appended (or failed): let the lease go.
        self.store.release(&mut self.held);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::CancelReason;

    #[test]
    fn a_batch_splits_into_messages_that_fit_and_frame_each_record() {
        let mut batch = Batch::default();
        // Contacts 1 to 10: records of one length (0 would encode shorter).
        for contact in 1..=10 {
            batch.push(
                contact,
                &Command::Cancel {
                    contact,
                    reason: CancelReason::Abandoned,
                },
            );
        }
        let whole = messages(&batch, 100, usize::MAX);
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].1, 100);
        let framed: Vec<_> = records(&whole[0].0).map(Result::unwrap).collect();
        assert_eq!(framed, batch.iter().collect::<Vec<_>>());

        let record_len = batch.iter().next().unwrap().len() + 4;
        let split = messages(&batch, 100, record_len * 3);
        assert_eq!(
            split.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
            vec![100, 103, 106, 109]
        );
        let all: Vec<_> = split
            .iter()
            .flat_map(|(m, _)| records(m).map(Result::unwrap).map(<[u8]>::to_vec))
            .collect();
        assert_eq!(all, batch.iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
        assert!(records(&[1, 0, 0]).next().unwrap().is_err());
        assert!(records(&[5, 0, 0, 0, 1]).next().unwrap().is_err());
    }
}
