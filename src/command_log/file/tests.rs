//! The file journal on its own: batches written by the writer thread read back in order,
//! releases run in batch order once written, segments rotate where snapshots go, and a stored
//! snapshot retires exactly what it covers.

use std::sync::Arc;
use std::sync::mpsc;

use parking_lot::Mutex;

use super::*;
use crate::core::CancelReason;

fn cancel(contact: u64) -> Command {
    Command::Cancel {
        contact,
        reason: CancelReason::Abandoned,
    }
}

pub(super) fn batch(ids: std::ops::Range<u64>, rotate: bool) -> Batch {
    let mut b = Batch::default();
    for id in ids {
        b.push(1000 + id, &cancel(id));
    }
    b.rotate = rotate;
    b
}

pub(super) fn config(dir: &Path) -> FileConfig {
    FileConfig {
        dir: dir.to_path_buf(),
        fsync_interval: Duration::ZERO,
        preallocate: true,
        keep_history: false,
    }
}

pub(super) fn read_all(store: &FileStore, from: Position) -> (Vec<u64>, ReadEnd) {
    let mut ids = Vec::new();
    let end = store
        .read(from, None, &mut |position, at, command| {
            assert_eq!(command, cancel(position));
            assert_eq!(at, 1000 + position);
            ids.push(position);
            Ok(())
        })
        .unwrap();
    (ids, end)
}

#[test]
fn batches_are_released_in_order_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let mut log = FileLog::open(&store, config(dir.path()), &ReadEnd::default()).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (done, all_done) = mpsc::channel();
    for (i, range) in [0..3, 3..3, 3..7, 7..8].into_iter().enumerate() {
        let (order, done) = (order.clone(), done.clone());
        log.append(
            batch(range, false),
            Box::new(move |result| {
                assert!(result.is_ok());
                order.lock().push(i);
                done.send(()).unwrap();
            }),
        );
    }
    for _ in 0..4 {
        all_done.recv().unwrap();
    }
    assert_eq!(*order.lock(), vec![0, 1, 2, 3]);
    assert_eq!(log.end(), 8);
    Box::new(log).close().unwrap();
    let (ids, end) = read_all(&store, 0);
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    assert_eq!(end.position, 8);
    // From a position: the records before it are passed over; up to one: it stops there.
    assert_eq!(read_all(&store, 5).0, vec![5, 6, 7]);
    let mut seen = Vec::new();
    let end = store
        .read(2, Some(4), &mut |p, _, _| {
            seen.push(p);
            Ok(())
        })
        .unwrap();
    assert_eq!((seen, end.position), (vec![2, 3], 4));
}

#[test]
fn a_rotation_starts_a_segment_that_a_snapshot_there_leaves_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let mut log = FileLog::open(&store, config(dir.path()), &ReadEnd::default()).unwrap();
    let noop = || -> Release { Box::new(|r| assert!(r.is_ok())) };
    log.append(batch(0..4, true), noop());
    log.append(batch(4..6, false), noop());
    Box::new(log).close().unwrap();
    assert_eq!(store.segments().unwrap().len(), 2);
    let snap = Snapshot {
        position: 4,
        next_sequence: 9,
        image: b"image".to_vec(),
    };
    store.store_snapshot(&snap).unwrap();
    let segments = store.segments().unwrap();
    assert_eq!(segments.iter().map(|s| s.0).collect::<Vec<_>>(), vec![4]);
    assert_eq!(store.latest_snapshot().unwrap(), Some(snap));
    assert_eq!(read_all(&store, 4).0, vec![4, 5]);
    assert!(matches!(
        store.read(0, None, &mut |_, _, _| Ok(())),
        Err(LogError::Gap { from: 0, to: 4 })
    ));
    // Reopened, the log continues in the last segment.
    let end = read_all(&store, 4).1;
    let mut log = FileLog::open(&store, config(dir.path()), &end).unwrap();
    log.append(batch(6..7, false), noop());
    Box::new(log).close().unwrap();
    assert_eq!(read_all(&store, 4).0, vec![4, 5, 6]);
}

#[test]
fn with_a_sync_interval_batches_are_released_once_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let mut config = config(dir.path());
    config.fsync_interval = Duration::from_millis(50);
    let mut log = FileLog::open(&store, config, &ReadEnd::default()).unwrap();
    let (done, released) = mpsc::channel();
    log.append(
        batch(0..2, false),
        Box::new(move |r| {
            assert!(r.is_ok());
            done.send(()).unwrap();
        }),
    );
    released.recv().unwrap();
    // Released before the sync is due, and readable: the records are the system's.
    assert_eq!(read_all(&store, 0).0, vec![0, 1]);
    Box::new(log).close().unwrap();
}

#[test]
fn segments_are_preallocated_from_the_spare_and_continue_where_the_records_end() {
    for preallocate in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path())
            .unwrap()
            .preallocating(preallocate);
        let config = FileConfig {
            preallocate,
            ..config(dir.path())
        };
        let noop = || -> Release { Box::new(|r| assert!(r.is_ok())) };
        let mut log = FileLog::open(&store, config.clone(), &ReadEnd::default()).unwrap();
        log.append(batch(0..3, true), noop());
        Box::new(log).close().unwrap();
        let (first, second) = {
            let segments = store.segments().unwrap();
            assert_eq!(segments.len(), 2, "rotated");
            (segments[0].1.clone(), segments[1].1.clone())
        };
        let size = |p: &Path| fs::metadata(p).unwrap().len() as usize;
        // The first segment was made from a spare at start-up; the second had none ready (the
        // snapshotter makes it), so it grows as it is written.
        assert_eq!(size(&first) == SPARE_BYTES, preallocate);
        assert!(size(&second) < SPARE_BYTES);
        store.prepare_spare().unwrap();
        assert_eq!(dir.path().join(SPARE).exists(), preallocate);

        // Reopened: records go after the last one, not after the zeros, and read back.
        let (ids, end) = read_all(&store, 0);
        assert_eq!(ids, vec![0, 1, 2]);
        let mut log = FileLog::open(&store, config.clone(), &end).unwrap();
        log.append(batch(3..5, true), noop());
        log.append(batch(5..6, false), noop());
        Box::new(log).close().unwrap();
        assert_eq!(read_all(&store, 0).0, (0..6).collect::<Vec<_>>());
        let last = store.segments().unwrap().pop().unwrap().1;
        assert_eq!(size(&last) == SPARE_BYTES, preallocate, "the spare, used");
    }
}

#[test]
fn keeping_history_a_snapshot_removes_no_segment_and_a_reader_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap().keeping_history(true);
    let mut log = FileLog::open(&store, config(dir.path()), &ReadEnd::default()).unwrap();
    let noop = || -> Release { Box::new(|r| assert!(r.is_ok())) };
    log.append(batch(0..4, true), noop());
    log.append(batch(4..6, false), noop());
    Box::new(log).close().unwrap();
    let snap = Snapshot {
        position: 4,
        next_sequence: 9,
        image: b"image".to_vec(),
    };
    store.store_snapshot(&snap).unwrap();
    assert_eq!(store.first_position().unwrap(), Some(0));
    // A later snapshot retires the earlier one, still no segment.
    let later = Snapshot {
        position: 6,
        next_sequence: 12,
        image: b"later".to_vec(),
    };
    store.store_snapshot(&later).unwrap();
    assert_eq!(store.latest_snapshot().unwrap(), Some(later));
    let snapshots = list(dir.path(), snapshot::parse_name).unwrap();
    assert_eq!(snapshots.iter().map(|s| s.0).collect::<Vec<_>>(), vec![6]);
    assert_eq!(store.segments().unwrap().len(), 2);
    let listing = || {
        let mut names: Vec<(String, u64)> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        names.sort();
        names
    };
    let before = listing();
    let reader = FileStore::open_read_only(dir.path()).unwrap();
    assert_eq!(read_all(&reader, 0).0, (0..6).collect::<Vec<_>>());
    assert_eq!(listing(), before, "reading changed the directory");
    // A directory that is not there is an error, and is not created.
    let missing = dir.path().join("missing");
    assert!(FileStore::open_read_only(&missing).is_err());
    assert!(!missing.exists());
}

#[test]
fn one_writer_holds_a_data_directory_and_repair_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let held = DirLock::acquire(&data).expect("the first takes it (and makes the directory)");
    let second = DirLock::acquire(&data).unwrap_err();
    assert!(matches!(second, LogError::InUse { .. }), "{second}");
    assert!(second.to_string().contains("in use"), "{second}");
    // Repair refuses while a server holds it, and leaves everything as it was.
    let before: Vec<_> = fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let refused = repair::repair(&data, 1).unwrap_err();
    assert!(matches!(refused, LogError::InUse { .. }), "{refused}");
    let after: Vec<_> = fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(before, after);
    drop(held);
    let again = DirLock::acquire(&data).expect("free once the holder lets go");
    drop(again);
    assert_eq!(
        repair::repair(&data, 1).unwrap(),
        repair::Repair::Sound { records: 0 }
    );
}

/// The sync metrics as the metrics endpoint encodes them.
fn exposition(metrics: &SyncMetrics) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("sync_seconds", "", metrics.sync_seconds.clone());
    registry.register("records_per_sync", "", metrics.records_per_sync.clone());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

#[test]
fn every_sync_is_timed_and_counts_the_records_it_made_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let metrics = SyncMetrics::default();
    let mut log = FileLog::open_observed(
        &store,
        config(dir.path()),
        &ReadEnd::default(),
        metrics.clone(),
    )
    .unwrap();
    // Each batch waits for the one before it to be released, so each has a sync of its own.
    let append = |log: &mut FileLog, range| {
        let (done, released) = mpsc::channel();
        log.append(
            batch(range, false),
            Box::new(move |result| done.send(result.is_ok()).unwrap()),
        );
        assert!(released.recv().unwrap());
    };
    for range in [0..3, 3..4, 4..9] {
        append(&mut log, range);
    }
    // An empty batch writes nothing, so nothing is synced for it.
    append(&mut log, 9..9);
    Box::new(log).close().unwrap();
    let text = exposition(&metrics);
    for line in [
        "sync_seconds_count 3",
        "records_per_sync_count 3",
        "records_per_sync_sum 9.0",
        // One batch of 1 record, one of 3 (in the bucket up to 4), one of 5 (up to 8).
        r#"records_per_sync_bucket{le="1.0"} 1"#,
        r#"records_per_sync_bucket{le="4.0"} 2"#,
        r#"records_per_sync_bucket{le="8.0"} 3"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}
