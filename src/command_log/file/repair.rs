//! `routerd journal repair`: a journal damaged in its middle (a record that fails its checksum
//! with data after it, say a disk fault) keeps what precedes the damage.
//!
//! The server refuses to start on such a journal (it cannot tell what the damaged record held,
//! so it will not guess). Repair reads the journal from its first segment to the first damaged
//! record, then — after copying what it removes into `damaged-<time>/` in the data directory —
//! cuts the damaged segment at that record and moves the segments and snapshots after it
//! aside. The next start recovers every record before the damage; the records from it on are
//! lost to the server (they are in the backup, for forensics).
//!
//! It takes the data directory's lock first: while a server runs there it refuses and changes
//! nothing.
//!
//! Only damage is repaired: a journal with a gap (a missing segment) or an I/O error is left
//! untouched and the error is reported. A torn end (a crash mid-write) needs no repair: the
//! server trims it at start.

use std::fs;
use std::path::{Path, PathBuf};

use super::{DirLock, FileStore, list, segment, snapshot};
use crate::command_log::{LogError, LogStore, Position};

/// What a repair found and did.
#[derive(Debug, PartialEq)]
pub enum Repair {
    /// Nothing damaged: `records` read back whole.
    Sound { records: Position },
    Repaired {
        /// The damaged segment, cut at `offset`.
        segment: PathBuf,
        offset: u64,
        /// Records kept: positions before this one.
        kept_until: Position,
        /// Where the damaged segment's copy and the moved files are.
        backup: PathBuf,
        /// Later segments and snapshots moved into the backup.
        moved: Vec<PathBuf>,
    },
}

/// Repairs the journal in `dir` (see the module's doc). `now_ms` names the backup. A directory a
/// running server holds is refused ([`LogError::InUse`]): nothing is read or changed.
pub fn repair(dir: &Path, now_ms: u64) -> Result<Repair, LogError> {
    let _lock = DirLock::acquire(dir)?;
    let store = FileStore::open(dir)?;
    let segments = store.segments()?;
    let Some(&(first, _)) = segments.first() else {
        return Ok(Repair::Sound { records: 0 });
    };
    let mut kept_until = first;
    let read = store.read(first, None, &mut |position, _, _| {
        kept_until = position + 1;
        Ok(())
    });
    let (path, offset) = match read {
        Ok(end) => {
            return Ok(Repair::Sound {
                records: end.position,
            });
        }
        Err(LogError::Corrupt { path, offset, .. }) => (path, offset as u64),
        Err(other) => return Err(other),
    };
    let backup = dir.join(format!("damaged-{now_ms}"));
    fs::create_dir_all(&backup).map_err(LogError::io(&backup))?;
    let name = path.file_name().expect("a segment file name");
    fs::copy(&path, backup.join(name)).map_err(LogError::io(&path))?;
    let mut moved = Vec::new();
    let damaged_start = segments
        .iter()
        .find(|(_, p)| *p == path)
        .map(|(start, _)| *start)
        .expect("the damaged segment is one of the journal's");
    for (start, later) in &segments {
        if *start > damaged_start {
            moved.push(later.clone());
        }
    }
    for (at, snap) in list(dir, snapshot::parse_name).map_err(LogError::io(dir))? {
        if at > kept_until {
            moved.push(snap);
        }
    }
    for file in &moved {
        let name = file.file_name().expect("a file name");
        fs::rename(file, backup.join(name)).map_err(LogError::io(file))?;
    }
    // A cut inside the header would leave no segment: keep at least the header.
    let keep = offset.max(segment::HEADER_LEN as u64);
    let segment_file = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(LogError::io(&path))?;
    segment_file.set_len(keep).map_err(LogError::io(&path))?;
    segment_file.sync_all().map_err(LogError::io(&path))?;
    snapshot::sync_dir(dir).map_err(LogError::io(dir))?;
    Ok(Repair::Repaired {
        segment: path,
        offset: keep,
        kept_until,
        backup,
        moved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command_log::file::FileLog;
    use crate::command_log::file::tests::{batch, config, read_all};
    use crate::command_log::{CommandLog, ReadEnd, Release};

    #[test]
    fn a_damaged_record_in_the_middle_is_cut_off_after_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let mut log = FileLog::open(&store, config(dir.path()), &ReadEnd::default()).unwrap();
        let noop = || -> Release { Box::new(|r| assert!(r.is_ok())) };
        log.append(batch(0..4, true), noop());
        log.append(batch(4..10, true), noop());
        log.append(batch(10..12, false), noop());
        Box::new(log).close().unwrap();
        let segments = store.segments().unwrap();
        assert_eq!(
            segments.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![0, 4, 10]
        );
        // A snapshot after the damage-to-be: the cut leaves it without its records.
        snapshot::write(dir.path(), 10, 1, b"image").unwrap();
        let middle = &store.segments().unwrap()[1].1;
        let mut bytes = fs::read(middle).unwrap();
        // Records of this batch are equal-sized: flip a byte inside the third (record 6).
        let record = (bytes.len() - segment::HEADER_LEN) / 6;
        let at = segment::HEADER_LEN + 2 * record + record / 2;
        bytes[at] ^= 0x55;
        fs::write(middle, &bytes).unwrap();
        assert!(matches!(
            store.read(0, None, &mut |_, _, _| Ok(())),
            Err(LogError::Corrupt { .. })
        ));

        let repaired = repair(dir.path(), 42).unwrap();
        let Repair::Repaired {
            kept_until,
            backup,
            moved,
            ..
        } = repaired
        else {
            panic!("{repaired:?}")
        };
        assert_eq!(kept_until, 6);
        assert_eq!(backup, dir.path().join("damaged-42"));
        assert_eq!(
            moved.len(),
            2,
            "the segment and the snapshot after the damage"
        );
        assert!(backup.join(moved[1].file_name().unwrap()).exists());
        assert!(backup.join(middle.file_name().unwrap()).exists());
        // Records 0-5 read back whole; the journal continues after them.
        let (ids, end) = read_all(&store, 0);
        assert_eq!(ids, (0..6).collect::<Vec<_>>());
        let mut log = FileLog::open(&store, config(dir.path()), &end).unwrap();
        log.append(batch(6..7, false), noop());
        Box::new(log).close().unwrap();
        assert_eq!(read_all(&store, 0).0, (0..7).collect::<Vec<_>>());
        // Repairing again finds nothing to do.
        assert_eq!(
            repair(dir.path(), 43).unwrap(),
            Repair::Sound { records: 7 }
        );
    }
}
