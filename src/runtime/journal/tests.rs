//! The journal through the real engine task: what a run acknowledged, a restart brings back —
//! the same state and the same numbered events — from a clean stop, from a snapshot, and from a
//! torn tail; damage in the middle stops start-up with the offset.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::core::stats::QueueCounters;
use crate::core::{
    AgentSpec, AgentView, Channel, ContactState, ContactView, NewContact, Presence, QueueConfig,
    SkillLevel,
};
use crate::runtime::engine_thread::{self, Clock};

fn config(dir: &Path, snapshot_every: u64) -> JournalConfig {
    JournalConfig {
        dir: dir.to_path_buf(),
        fsync_interval: Duration::ZERO,
        snapshot_every,
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

/// Recovers from `dir`, applies `commands` through the engine task, stops it cleanly.
async fn run(journal: &JournalConfig, commands: Vec<Command>) -> (Seen, RecoveryReport) {
    let bus = Arc::new(EventBus::new(100_000, 16));
    let opened = open(journal, EngineConfig::default(), &bus).expect("recovers");
    let clock = Clock::start_after(opened.engine.now());
    let (handle, task) =
        engine_thread::spawn(opened.engine, Some(opened.journal), bus.clone(), clock, 64);
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
    drop(handle);
    task.await.unwrap().expect("the journal closes cleanly");
    let from = match bus.subscribe(Some(1)) {
        Err(crate::runtime::bus::SubscribeError::TooOld { oldest, .. }) => oldest,
        _ => 1,
    };
    let events = bus
        .subscribe(Some(from))
        .unwrap()
        .replay
        .iter()
        .map(|p| (p.sequence, p.event.clone()))
        .collect();
    let seen = Seen {
        agents,
        contacts,
        counters,
        events,
    };
    (seen, opened.report)
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

fn files(dir: &Path, prefix: &str) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .count()
}

#[tokio::test]
async fn a_restart_brings_back_the_state_and_the_numbered_events() {
    let dir = tempfile::tempdir().unwrap();
    let journal = config(dir.path(), 0);
    let (before, report) = run(&journal, floor()).await;
    assert_eq!(report.replayed, 0);
    assert!(before.contacts[2].is_some() && before.contacts[3].is_none());
    assert_eq!(
        before.counters[0].refused, 1,
        "the fourth contact found the queue full"
    );
    let (after, report) = run(&journal, Vec::new()).await;
    assert_eq!(report.replayed, 10, "the refused enqueue is journaled too");
    assert_eq!(report.refused, 0);
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_snapshot_bounds_the_replay_and_retires_older_files() {
    let dir = tempfile::tempdir().unwrap();
    let journal = config(dir.path(), 4);
    let (before, _) = run(&journal, floor()).await;
    assert_eq!(files(dir.path(), "snapshot-"), 1, "older snapshots retired");
    assert_eq!(files(dir.path(), "journal-"), 1, "covered segments retired");
    let (after, report) = run(&journal, Vec::new()).await;
    // One every 4 records, unless the previous one was still being written.
    let at = report.snapshot.expect("recovered from a snapshot");
    assert!((4..=10).contains(&at), "snapshot at {at}");
    assert_eq!(report.replayed, 10 - at);
    // Events before the snapshot are not regenerated; those after carry their old numbers.
    let tail = &before.events[before.events.len() - after.events.len()..];
    assert_eq!(after.events, tail);
    assert_eq!(
        (after.agents, after.contacts),
        (before.agents, before.contacts)
    );
}

#[tokio::test]
async fn a_torn_last_record_is_cut_off_and_the_journal_continues() {
    let dir = tempfile::tempdir().unwrap();
    let journal = config(dir.path(), 0);
    let (before, _) = run(&journal, floor()).await;
    let segment = dir.path().join(segment::file_name(0));
    let whole = fs::metadata(&segment).unwrap().len();
    // A crash in the middle of writing one more record.
    let mut torn = Vec::new();
    segment::encode(&mut torn, 1, &Command::RemoveAgent { id: "bo".into() });
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&torn[..torn.len() - 3]).unwrap();
    drop(file);
    let more = vec![Command::SetPresence {
        agent: "bo".into(),
        presence: Presence::Ready,
    }];
    let (after, report) = run(&journal, more).await;
    assert_eq!(
        report.cut.as_ref().map(|c| c.0),
        Some(torn.len() as u64 - 3)
    );
    assert_eq!(after.contacts[0], before.contacts[0]);
    assert!(fs::metadata(&segment).unwrap().len() > whole);
    // The record written after the cut is read back whole.
    let (again, report) = run(&journal, Vec::new()).await;
    assert_eq!(report.cut, None);
    assert_eq!(again, after);
}

#[tokio::test]
async fn damage_before_the_last_record_stops_start_up_naming_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let journal = config(dir.path(), 0);
    run(&journal, floor()).await;
    let segment = dir.path().join(segment::file_name(0));
    let mut bytes = fs::read(&segment).unwrap();
    bytes[segment::HEADER_LEN + 10] ^= 0x40;
    fs::write(&segment, bytes).unwrap();
    let bus = EventBus::new(16, 16);
    let error = open(&journal, EngineConfig::default(), &bus)
        .err()
        .expect("refuses to start");
    assert!(
        matches!(error, JournalError::Corrupt { offset, .. } if offset == segment::HEADER_LEN),
        "{error}"
    );
    assert!(error.to_string().contains("offset 16"), "{error}");
}

#[tokio::test]
async fn a_missing_segment_is_a_gap_not_a_silent_loss() {
    let dir = tempfile::tempdir().unwrap();
    let journal = config(dir.path(), 4);
    run(&journal, floor()).await;
    // The snapshot is damaged and the records before it are gone: nothing to start from.
    for entry in fs::read_dir(dir.path()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("snapshot-") {
            fs::write(entry.path(), b"RTRDSNP1 damaged").unwrap();
        }
    }
    let bus = EventBus::new(16, 16);
    let error = open(&journal, EngineConfig::default(), &bus)
        .err()
        .expect("refuses to start");
    assert!(
        matches!(error, JournalError::Gap { from: 0, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn the_past_replays_under_the_settings_it_ran_under() {
    let dir = tempfile::tempdir().unwrap();
    let config = |max_contacts: usize| {
        let mut c = crate::config::Config::default();
        c.journal.dir = dir.path().to_path_buf();
        c.routing.max_contacts = max_contacts;
        c
    };
    let enqueue = || Command::Enqueue(NewContact::new("general", Channel::Voice));
    let (handle, task) = crate::runtime::start_engine(&config(3)).await.unwrap();
    for _ in 0..3 {
        handle.apply(enqueue()).await.expect("under the limit of 3");
    }
    assert!(
        handle.apply(enqueue()).await.is_err(),
        "a fourth is refused"
    );
    drop(handle);
    task.await.unwrap().unwrap();

    // Restarted with a lower limit: the three accepted contacts replay as they ran.
    let (handle, task) = crate::runtime::start_engine(&config(2)).await.unwrap();
    let waiting = handle
        .query(|e| {
            (1..=3)
                .map(|id| e.contact_view(id).map(|c| c.state))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert_eq!(waiting, vec![Some(ContactState::Waiting); 3]);
    // Today's limit applies from now on.
    let refused = handle
        .apply(enqueue())
        .await
        .expect_err("over today's limit of 2");
    assert!(
        refused.to_string().contains("live-contact limit (2)"),
        "{refused}"
    );
    drop(handle);
    task.await.unwrap().unwrap();
}
