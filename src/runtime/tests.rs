//! The runtime through its handle: what a run acknowledged, a restart brings back — the same
//! state and the same numbered events — from a clean stop, from a snapshot taken off the writer,
//! and from a torn tail; damage in the middle stops start-up with the offset. And the commit
//! pipeline itself, on a log that holds durability back: nothing leaves before its batch is
//! durable, and a log that fails stops the engine without a word leaking.

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::*;
use crate::command_log::file::SEGMENT_MAGIC;
use crate::command_log::{Batch, Position, Release};
use crate::core::CoreError;
use crate::core::stats::QueueCounters;
use crate::core::{
    AgentSpec, AgentView, Applied, Channel, ContactState, ContactView, Event, NewContact, Presence,
    SkillLevel,
};

const PATIENCE: Duration = Duration::from_secs(20);

fn journaled(dir: &Path, snapshot_every: u64) -> RuntimeConfig {
    RuntimeConfig {
        snapshot_every,
        ..RuntimeConfig::journaled(dir)
    }
}

/// What a run leaves behind, to compare with the next run.
#[derive(Debug, PartialEq)]
struct Seen {
    agents: Vec<AgentView>,
    contacts: Vec<Option<ContactView>>,
    counters: Vec<QueueCounters>,
    /// Every event the bus still holds: (sequence, event).
    events: Vec<(u64, Event)>,
}

/// Recovers and starts the engine without the start-up commands (settings, agents offline,
/// queues), so a restart shows exactly what recovery rebuilt.
fn start_bare(config: &RuntimeConfig) -> Result<Running, LogError> {
    let bus = Arc::new(EventBus::new(
        config.replay_buffer,
        config.subscriber_buffer,
    ));
    let journal = config.journal.clone().expect("a journaled configuration");
    let metrics = Arc::new(RuntimeMetrics::default());
    let (engine, log, store, last) = recover(
        journal,
        config.engine.clone(),
        0,
        &bus,
        None,
        metrics.journal.clone(),
    )?;
    Ok(
        launch(config, engine, log, Some((store, last)), bus, metrics)
            .expect("starts")
            .running,
    )
}

/// Recovers from the journal, applies `commands`, stops cleanly.
async fn run(config: &RuntimeConfig, commands: Vec<Command>) -> Seen {
    let running = start_bare(config).expect("recovers");
    let handle = running.handle;
    for command in commands {
        let _ = handle.apply(command).await;
    }
    let (agents, contacts, counters) = handle
        .query(|e| {
            let counters = e.queue_snapshots().into_iter().map(|q| q.counters);
            (
                // Occupancy runs up to the moment of the view, and the two runs look at
                // different moments; the clocks themselves travel in the image (the
                // core's image property test compares them).
                e.agent_views()
                    .into_iter()
                    .map(|mut a| {
                        a.occupancy = Default::default();
                        a
                    })
                    .collect(),
                (1..=8).map(|id| e.contact_view(id)).collect(),
                counters.collect(),
            )
        })
        .await
        .unwrap();
    let bus = handle.bus().clone();
    drop(handle);
    tokio::time::timeout(PATIENCE, running.stopped)
        .await
        .expect("stops in time")
        .expect("reports how it stopped")
        .expect("the journal closes cleanly");
    let from = match bus.subscribe(Some(1)) {
        Err(bus::SubscribeError::TooOld { oldest, .. }) => oldest,
        _ => 1,
    };
    let events = bus
        .subscribe(Some(from))
        .unwrap()
        .replay
        .iter()
        .map(|p| (p.sequence, p.event.clone()))
        .collect();
    Seen {
        agents,
        contacts,
        counters,
        events,
    }
}

/// A small floor: a queue, two agents (one ready), contacts waiting, offered and refused.
fn floor() -> Vec<Command> {
    let mut queue = QueueConfig::new("sales");
    queue.required_skills = vec![SkillLevel::new("sales", 2).unwrap()];
    queue.max_length = 2;
    let mut commands = vec![Command::PutQueue(Box::new(queue))];
    for id in ["ana", "bo"] {
        let spec = AgentSpec::new(id).with_skills(&[("sales", 5)]).unwrap();
        commands.push(Command::PutAgent(spec));
    }
    commands.push(Command::SetPresence {
        agent: "ana".into(),
        presence: Presence::Ready,
    });
    for _ in 0..4 {
        let mut contact = NewContact::new("sales", Channel::Voice);
        contact.context.insert("order".into(), "A-17".into());
        commands.push(Command::Enqueue(contact));
    }
    // Refused: an unknown agent (not journaled) and a queue that does not exist (journaled, as
    // every enqueue is, and refused again by replay).
    commands.push(Command::SetPresence {
        agent: "nobody".into(),
        presence: Presence::Ready,
    });
    commands.push(Command::Enqueue(NewContact::new("nowhere", Channel::Voice)));
    commands.push(Command::Accept {
        contact: 1,
        agent: "ana".into(),
    });
    commands
}

/// Files named `<prefix>…<suffix>`.
fn files(dir: &Path, prefix: &str, suffix: &str) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .count()
}

/// How recovery went, read from the files alone.
fn replayed_records(dir: &Path) -> (Option<Position>, u64) {
    let store = FileStore::open(dir).unwrap();
    let bus = EventBus::new(16, 16);
    let rebuilt = recovery::rebuild(&store, EngineConfig::default(), None, Some(&bus), true)
        .expect("rebuilds");
    (rebuilt.snapshot, rebuilt.replayed)
}

#[tokio::test]
async fn a_restart_brings_back_the_state_and_the_numbered_events() {
    let dir = tempfile::tempdir().unwrap();
    let config = journaled(dir.path(), 0);
    let before = run(&config, floor()).await;
    assert!(before.contacts[2].is_some() && before.contacts[3].is_none());
    assert_eq!(
        before.counters[0].refused, 1,
        "the fourth contact found the queue full"
    );
    // The floor's 10 kept commands (the refused enqueue included).
    assert_eq!(replayed_records(dir.path()), (None, 10));
    let after = run(&config, Vec::new()).await;
    assert_eq!(after, before);
}

#[tokio::test]
async fn snapshots_off_the_writer_bound_the_replay_and_retire_older_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = journaled(dir.path(), 4);
    let before = run(&config, floor()).await;
    assert_eq!(
        files(dir.path(), "snapshot-", ".snap"),
        1,
        "older snapshots retired"
    );
    assert_eq!(
        files(dir.path(), "journal-", ".log"),
        1,
        "covered segments retired"
    );
    let (snapshot, replayed) = replayed_records(dir.path());
    let at = snapshot.expect("a snapshot to start from");
    assert!((4..=10).contains(&at), "snapshot at {at}");
    assert_eq!(replayed, 10 - at);
    let after = run(&config, Vec::new()).await;
    // Events before the snapshot are not regenerated; those after carry their old numbers.
    let tail = &before.events[before.events.len() - after.events.len()..];
    assert_eq!(after.events, tail);
    assert_eq!(
        (after.agents, after.contacts),
        (before.agents, before.contacts)
    );
}

/// Where the records of a journal end: the file offset after the last one.
fn records_end(dir: &Path, segment: &Path) -> u64 {
    let store = FileStore::open(dir).unwrap();
    let end = store.read(0, None, &mut |_, _, _| Ok(())).unwrap();
    fs::metadata(segment).unwrap().len() - end.unused
}

#[tokio::test]
async fn a_torn_last_record_is_cut_off_and_the_journal_continues() {
    // In a preallocated segment (the crash leaves zeros after the torn write), and in one that
    // outgrew its preallocation (the torn write is the end of the file).
    for preallocated in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let config = journaled(dir.path(), 0);
        let before = run(&config, floor()).await;
        let segment = dir.path().join(format!("journal-{:020}.log", 0));
        let whole = records_end(dir.path(), &segment);
        assert!(
            fs::metadata(&segment).unwrap().len() > whole,
            "a new segment is preallocated"
        );
        if !preallocated {
            OpenOptions::new()
                .write(true)
                .open(&segment)
                .unwrap()
                .set_len(whole)
                .unwrap();
        }
        // A crash in the middle of writing one more record.
        let mut torn = Vec::new();
        let mut payload = Vec::new();
        let remove = Command::RemoveAgent { id: "bo".into() };
        crate::command_log::record::encode(&mut payload, 1, &remove);
        torn.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        torn.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        torn.extend_from_slice(&payload);
        let file = OpenOptions::new().write(true).open(&segment).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &torn[..torn.len() - 3], whole).unwrap();
        drop(file);
        let more = vec![Command::SetPresence {
            agent: "bo".into(),
            presence: Presence::Ready,
        }];
        let after = run(&config, more).await;
        assert_eq!(after.contacts[0], before.contacts[0]);
        assert!(records_end(dir.path(), &segment) > whole);
        // The record written after the cut is read back whole.
        let again = run(&config, Vec::new()).await;
        assert_eq!(again, after, "preallocated: {preallocated}");
    }
}

#[tokio::test]
async fn damage_before_the_last_record_stops_start_up_naming_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let config = journaled(dir.path(), 0);
    run(&config, floor()).await;
    let segment = dir.path().join(format!("journal-{:020}.log", 0));
    let mut bytes = fs::read(&segment).unwrap();
    assert_eq!(&bytes[..8], SEGMENT_MAGIC);
    bytes[16 + 10] ^= 0x40;
    fs::write(&segment, bytes).unwrap();
    let error = start_bare(&config).err().expect("refuses to start");
    assert!(
        matches!(error, LogError::Corrupt { offset: 16, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("offset 16"), "{error}");
}

#[tokio::test]
async fn a_missing_segment_is_a_gap_not_a_silent_loss() {
    let dir = tempfile::tempdir().unwrap();
    let config = journaled(dir.path(), 4);
    run(&config, floor()).await;
    // The snapshot is damaged and the records before it are gone: nothing to start from.
    for entry in fs::read_dir(dir.path()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("snapshot-") {
            fs::write(entry.path(), b"RTRDSNP1 damaged").unwrap();
        }
    }
    let error = start_bare(&config).err().expect("refuses to start");
    assert!(matches!(error, LogError::Gap { from: 0, .. }), "{error}");
}

#[tokio::test]
async fn the_past_replays_under_the_settings_it_ran_under() {
    let dir = tempfile::tempdir().unwrap();
    let config = |max_contacts: usize| {
        let mut c = RuntimeConfig::journaled(dir.path());
        c.engine.max_contacts = max_contacts;
        c.queues = vec![QueueConfig::new("general")];
        c
    };
    let enqueue = || Command::Enqueue(NewContact::new("general", Channel::Voice));
    let running = start(config(3)).await.unwrap();
    for _ in 0..3 {
        running
            .handle
            .apply(enqueue())
            .await
            .expect("under the limit of 3");
    }
    let refused = running.handle.apply(enqueue()).await;
    assert_eq!(
        refused,
        Err(RuntimeError::Core(CoreError::LiveContactLimit { limit: 3 }))
    );
    drop(running.handle);
    running.stopped.await.unwrap().unwrap();

    // Restarted with a lower limit: the three accepted contacts replay as they ran.
    let running = start(config(2)).await.unwrap();
    let waiting = running
        .handle
        .query(|e| {
            (1..=3)
                .map(|id| e.contact_view(id).map(|c| c.state))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert_eq!(waiting, vec![Some(ContactState::Waiting); 3]);
    // Today's limit applies from now on.
    let refused = running.handle.apply(enqueue()).await;
    assert_eq!(
        refused,
        Err(RuntimeError::Core(CoreError::LiveContactLimit { limit: 2 }))
    );
    drop(running.handle);
    running.stopped.await.unwrap().unwrap();
}

/// A log that holds every batch until the test says it is durable (or failed).
#[derive(Clone, Default)]
struct HeldLog {
    end: Arc<Mutex<Position>>,
    held: Arc<Mutex<Vec<(Batch, Release)>>>,
}

impl HeldLog {
    fn held(&self) -> usize {
        self.held.lock().len()
    }

    /// Waits until at least `n` batches are held.
    async fn wait_for(&self, n: usize) {
        tokio::time::timeout(PATIENCE, async {
            while self.held() < n {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .expect("the engine hands its batches over");
    }

    /// Makes the oldest held batch durable (or failed).
    fn release_first(&self, result: Result<(), &LogError>) -> Batch {
        let (batch, release) = self.held.lock().remove(0);
        release(result);
        batch
    }
}

impl CommandLog for HeldLog {
    fn end(&self) -> Position {
        *self.end.lock()
    }

    fn append(&mut self, batch: Batch, release: Release) {
        *self.end.lock() += batch.records();
        self.held.lock().push((batch, release));
    }

    fn close(self: Box<Self>) -> Result<(), LogError> {
        // Whatever is still held never became durable.
        let never = LogError::Stopped("closed before it was durable".into());
        for (_, release) in self.held.lock().drain(..) {
            release(Err(&never));
        }
        Ok(())
    }
}

fn held_runtime(log: &HeldLog) -> Running {
    let config = RuntimeConfig::ephemeral();
    let bus = Arc::new(EventBus::new(1_000, 1_000));
    let engine = Engine::new(config.engine.clone());
    let metrics = Arc::new(RuntimeMetrics::default());
    launch(&config, engine, Box::new(log.clone()), None, bus, metrics)
        .expect("starts")
        .running
}

/// Applies `command` on a task of its own, so the test can watch it wait.
fn spawn_apply(
    handle: &EngineHandle,
    command: Command,
) -> tokio::task::JoinHandle<Result<Applied, RuntimeError>> {
    let handle = handle.clone();
    tokio::spawn(async move { handle.apply(command).await })
}

#[tokio::test]
async fn nothing_leaves_before_its_batch_is_durable() {
    let log = HeldLog::default();
    let running = held_runtime(&log);
    let handle = running.handle.clone();
    let mut sub = handle.bus().subscribe(None).unwrap();
    let put = spawn_apply(&handle, Command::PutQueue(Box::new(QueueConfig::new("q"))));
    log.wait_for(1).await;
    // Applied, handed to the log, not durable: no reply, no event, and the engine goes on.
    let enqueue = spawn_apply(
        &handle,
        Command::Enqueue(NewContact::new("q", Channel::Chat)),
    );
    log.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!put.is_finished() && !enqueue.is_finished());
    assert_eq!(handle.bus().last_sequence(), 0);
    assert!(sub.live.try_recv().is_err());

    // The first batch becomes durable: its reply and its event, and nothing of the second.
    let first = log.release_first(Ok(()));
    assert_eq!(first.records(), 1);
    let applied = put.await.unwrap().expect("the queue is created");
    assert!(matches!(applied, Applied::Queue { created: true, .. }));
    assert_eq!(handle.bus().last_sequence(), 1);
    assert!(!enqueue.is_finished());

    // Then the second.
    log.release_first(Ok(()));
    let applied = enqueue.await.unwrap().expect("enqueued");
    assert!(matches!(applied, Applied::Enqueued { .. }));
    assert_eq!(handle.bus().last_sequence(), 2, "queued");
    drop(handle);
    drop(running.handle);
    let stopped = tokio::time::timeout(PATIENCE, running.stopped).await;
    stopped.expect("stops").unwrap().unwrap();
}

/// A deadline's events leave behind a record too: a batch whose events all came from a deadline
/// (here a maximum wait) carries a tick record, and nothing of it is published before that
/// record is durable. (A writer whose log was taken over can then not publish a timeout the log
/// does not hold: its tick is refused.)
#[tokio::test]
async fn events_from_a_deadline_leave_only_behind_a_durable_tick() {
    let log = HeldLog::default();
    let running = held_runtime(&log);
    let handle = running.handle.clone();
    let mut queue = QueueConfig::new("q");
    queue.max_wait_secs = 1;
    let put = spawn_apply(&handle, Command::PutQueue(Box::new(queue)));
    log.wait_for(1).await;
    log.release_first(Ok(()));
    put.await.unwrap().expect("the queue is created");
    let enqueue = spawn_apply(
        &handle,
        Command::Enqueue(NewContact::new("q", Channel::Chat)),
    );
    log.wait_for(1).await;
    log.release_first(Ok(()));
    enqueue.await.unwrap().expect("enqueued");
    let before = handle.bus().last_sequence();

    // A second later the contact expires: a batch of its own, holding one tick record.
    log.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        handle.bus().last_sequence(),
        before,
        "published before durable"
    );
    let tick = log.release_first(Ok(()));
    let records: Vec<_> = tick
        .iter()
        .map(|r| crate::command_log::record::decode(r).unwrap().1)
        .collect();
    assert_eq!(records, vec![Command::Tick]);
    assert!(
        handle.bus().last_sequence() > before,
        "the expiry is published"
    );
    drop(handle);
    drop(running.handle);
    let stopped = tokio::time::timeout(PATIENCE, running.stopped).await;
    stopped.expect("stops").unwrap().unwrap();
}

#[tokio::test]
async fn a_failed_batch_stops_the_engine_and_nothing_of_it_leaves() {
    let log = HeldLog::default();
    let running = held_runtime(&log);
    let handle = running.handle.clone();
    let put = spawn_apply(&handle, Command::PutQueue(Box::new(QueueConfig::new("q"))));
    log.wait_for(1).await;
    let disk_full = LogError::Stopped("disk full".into());
    log.release_first(Err(&disk_full));
    assert_eq!(put.await.unwrap(), Err(RuntimeError::Stopped));
    assert_eq!(handle.bus().last_sequence(), 0, "no event published");
    // The engine stops: later calls are refused, and it reports how it ended.
    tokio::time::timeout(PATIENCE, async {
        while handle
            .apply(Command::DeleteQueue { name: "q".into() })
            .await
            != Err(RuntimeError::Stopped)
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the engine stops taking commands");
    drop(handle);
    drop(running.handle);
    let ended = tokio::time::timeout(PATIENCE, running.stopped).await;
    assert!(ended.is_ok(), "the engine thread ends");
}

/// Whoever has seen an event reads a view that includes it: a supervisor that sees an offer
/// returned and then asks for the agent must not find the agent as it was before. A reader on
/// a thread of its own checks every event against the view it reads the moment the event
/// arrives, while a floor of enqueues, offers and returns runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_read_after_an_event_includes_that_event() {
    let running = start(RuntimeConfig::ephemeral()).await.expect("starts");
    let handle = running.handle.clone();
    let mut sub = handle.bus().subscribe(None).unwrap();
    let reader_handle = handle.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_stop = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut checked = 0u64;
        let deadline = std::time::Instant::now() + PATIENCE;
        while !reader_stop.load(std::sync::atomic::Ordering::Acquire)
            && std::time::Instant::now() < deadline
        {
            match sub.live.try_recv() {
                Ok(published) => {
                    let view = reader_handle.view().last_sequence;
                    assert!(
                        view >= published.sequence,
                        "event {} seen while the view is at {view}",
                        published.sequence
                    );
                    checked += 1;
                }
                Err(_) => std::hint::spin_loop(),
            }
        }
        checked
    });
    handle
        .apply(Command::PutQueue(Box::new(QueueConfig::new("q"))))
        .await
        .unwrap();
    for agent in ["a", "b", "c"] {
        handle
            .apply(Command::PutAgent(AgentSpec::new(agent)))
            .await
            .unwrap();
    }
    for round in 0..300 {
        let agent = ["a", "b", "c"][round % 3];
        let _ = handle
            .apply(Command::SetPresence {
                agent: agent.into(),
                presence: Presence::Ready,
            })
            .await;
        let _ = handle
            .apply(Command::Enqueue(NewContact::new("q", Channel::Chat)))
            .await;
        let _ = handle
            .apply(Command::SetPresence {
                agent: agent.into(),
                presence: Presence::Offline,
            })
            .await;
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    let checked = reader.join().expect("no event ran ahead of the view");
    assert!(
        checked > 300,
        "the reader saw the floor's events ({checked})"
    );
    drop(handle);
    drop(running.handle);
}

#[tokio::test]
async fn a_snapshot_this_build_cannot_load_is_passed_over_when_the_journal_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let config = journaled(dir.path(), 0);
    let before = run(&config, floor()).await;
    // Another build's image at the end of the journal, the records kept (keep_history).
    let store = FileStore::open(dir.path()).unwrap().keeping_history(true);
    let bogus = crate::command_log::Snapshot {
        position: 10,
        next_sequence: 99,
        image: b"an image of another build".to_vec(),
    };
    store.store_snapshot(&bogus).unwrap();
    let bus = EventBus::new(16, 16);
    let rebuilt = recovery::rebuild(&store, EngineConfig::default(), None, Some(&bus), true)
        .expect("rebuilt from the records");
    assert_eq!((rebuilt.snapshot, rebuilt.replayed), (None, 10));
    let after = run(&config, Vec::new()).await;
    assert_eq!(after, before);
}

/// Two servers on one data directory would interleave their writes: the second is refused
/// before it reads anything, and starts once the first has stopped.
#[tokio::test]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = journaled(dir.path(), 0);
    let first = start_bare(&config).expect("the first starts");
    let error = start_bare(&config).err().expect("the second is refused");
    assert!(matches!(error, LogError::InUse { .. }), "{error}");
    drop(first.handle);
    tokio::time::timeout(PATIENCE, first.stopped)
        .await
        .expect("stops in time")
        .expect("reports how it stopped")
        .expect("the journal closes cleanly");
    run(&config, floor()).await;
}
