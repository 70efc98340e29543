//! Journal segments: files of numbered command records, each framed and checksummed.
//!
//! A segment is the header `RTRDJRN3` (the digit is the framing and payload format: 3 is a
//! protobuf `Record`, see [`crate::command_log::record`]; 2 and earlier were positional encodings
//! of the Rust types, which this build cannot read) + the index of its first record (u64
//! little-endian), then records `len: u32 | crc32(payload): u32 | payload`, then possibly zeros:
//! space preallocated for records not written yet (see [`super`]; no record has length 0, so
//! zeros where a frame would start are the end of the records). A record is whole or it is not
//! there: reading tells a torn tail (the last write cut short by a crash, followed by nothing or
//! by zeros: cut off with a warning) from corruption with records after it (start-up stops,
//! naming the offset).

#[cfg(test)]
use crate::command_log::record;
#[cfg(test)]
use crate::core::{Command, Millis};

pub const MAGIC: &[u8; 8] = b"RTRDJRN3";
pub const HEADER_LEN: usize = 16;
const FRAME: usize = 8;
/// No command comes near this (gRPC requests are limited far below it): a longer length is
/// corruption, not a write cut short.
pub const MAX_RECORD: usize = 64 << 20;

pub fn file_name(start: u64) -> String {
    format!("journal-{start:020}.log")
}

/// The first record index of a segment file, from its name.
pub fn parse_name(name: &str) -> Option<u64> {
    name.strip_prefix("journal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

pub fn header(start: u64) -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&start.to_le_bytes());
    h
}

/// The first record index a segment's header names.
pub fn read_header(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() >= 8 && bytes[..7] == MAGIC[..7] && bytes[..8] != MAGIC[..] {
        return Err(format!(
            "a journal segment of another format ({}; this build reads {})",
            String::from_utf8_lossy(&bytes[..8]),
            String::from_utf8_lossy(MAGIC)
        ));
    }
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err("not a routerd journal segment (bad header)".into());
    }
    Ok(u64::from_le_bytes(
        bytes[8..16].try_into().expect("8 bytes"),
    ))
}

/// Appends one record's payload to `out`, framed.
pub fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends one framed record of `(at, command)` to `out`.
#[cfg(test)]
pub fn encode(out: &mut Vec<u8>, at: Millis, command: &Command) {
    let mut payload = Vec::new();
    record::encode(&mut payload, at, command);
    frame(out, &payload);
}

/// What [`read`] found at an offset.
#[derive(Debug)]
pub enum Read<'a> {
    /// A whole record whose checksum matches; decode it with [`record::decode`].
    Record { payload: &'a [u8], next: usize },
    /// The end of the segment, exactly on a record boundary.
    End,
    /// Zeros from here to the end of the segment (this many bytes): preallocated space, the end
    /// of the records.
    Unused(usize),
    /// The last write was cut short: everything from here on is to be cut off.
    Torn(String),
    /// Zeros where a record should start, with data somewhere after them. In the last segment
    /// that is a crash's artefact in preallocated space (writes that were never synced reach
    /// the disk sector by sector, in any order); before it, corruption.
    Hole(String),
    /// A damaged record with data after it: not a crash artefact.
    Corrupt(String),
}

/// The disk's unit of atomic writes, as file systems assume it.
const SECTOR: usize = 512;

/// The least of a record's bytes in one sector that, all zeros, count as that sector never
/// written. A protobuf payload interleaves tags at least every 8 bytes outside strings, so a
/// run this long is not a record's own content (unless a string holds 16 NUL bytes).
const UNWRITTEN_RUN: usize = 16;

/// Whether the bytes `from..to` of a segment include a part, between sector boundaries (or the
/// range's own ends) and at least [`UNWRITTEN_RUN`] long, that is all zeros: the mark of a write
/// that reached the disk only in part.
fn has_unwritten_sector(bytes: &[u8], from: usize, to: usize) -> bool {
    let mut start = from;
    while start < to {
        let end = ((start / SECTOR + 1) * SECTOR).min(to);
        if end - start >= UNWRITTEN_RUN && bytes[start..end].iter().all(|b| *b == 0) {
            return true;
        }
        start = end;
    }
    false
}

/// Reads the record at `offset` of a segment's bytes.
pub fn read(bytes: &[u8], offset: usize) -> Read<'_> {
    let rest = &bytes[offset..];
    if rest.is_empty() {
        return Read::End;
    }
    if rest.len() < FRAME {
        if rest.iter().all(|b| *b == 0) {
            return Read::Unused(rest.len());
        }
        return Read::Torn(format!(
            "{} bytes of an incomplete record frame",
            rest.len()
        ));
    }
    let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..FRAME].try_into().expect("4 bytes"));
    if len == 0 {
        return if rest.iter().all(|b| *b == 0) {
            Read::Unused(rest.len())
        } else {
            Read::Hole("zeros where a record should start, with data after them".into())
        };
    }
    if len > MAX_RECORD {
        return Read::Corrupt(format!("a record length of {len} bytes"));
    }
    if FRAME + len > rest.len() {
        return Read::Torn(format!(
            "a record of {len} bytes with only {} written",
            rest.len() - FRAME
        ));
    }
    let payload = &rest[FRAME..FRAME + len];
    if crc32fast::hash(payload) != crc {
        // A write cut short in preallocated space leaves zeros after it, not the end of the
        // file; and a write whose sectors reached the disk in part leaves a sector of zeros.
        return if rest[FRAME + len..].iter().all(|b| *b == 0) {
            Read::Torn("a checksum mismatch in the last record".into())
        } else if has_unwritten_sector(bytes, offset, offset + FRAME + len) {
            Read::Torn("a record with an unwritten sector".into())
        } else {
            Read::Corrupt("a checksum mismatch".into())
        };
    }
    Read::Record {
        payload,
        next: offset + FRAME + len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::CancelReason;

    fn cancel(id: u64) -> Command {
        Command::Cancel {
            contact: id,
            reason: CancelReason::Abandoned,
        }
    }

    fn segment(records: u64) -> Vec<u8> {
        let mut bytes = header(7).to_vec();
        for i in 0..records {
            encode(&mut bytes, 1000 + i, &cancel(i));
        }
        bytes
    }

    fn records(bytes: &[u8]) -> (Vec<u64>, Read<'_>) {
        let mut offset = HEADER_LEN;
        let mut ids = Vec::new();
        loop {
            match read(bytes, offset) {
                Read::Record { payload, next } => {
                    let (at, command) = record::decode(payload).expect("decodes");
                    let Command::Cancel { contact, .. } = command else {
                        panic!("not what was written")
                    };
                    assert_eq!(at, 1000 + contact);
                    ids.push(contact);
                    offset = next;
                }
                other => return (ids, other),
            }
        }
    }

    #[test]
    fn records_read_back_in_order() {
        let bytes = segment(3);
        assert_eq!(read_header(&bytes), Ok(7));
        let (ids, end) = records(&bytes);
        assert_eq!(ids, vec![0, 1, 2]);
        assert!(matches!(end, Read::End));
    }

    #[test]
    fn a_write_cut_anywhere_in_the_last_record_is_a_torn_tail() {
        let whole = segment(3);
        let two = segment(2).len();
        for cut in two + 1..whole.len() {
            let (ids, end) = records(&whole[..cut]);
            assert_eq!(ids, vec![0, 1], "cut at {cut}");
            assert!(matches!(end, Read::Torn(_)), "cut at {cut}: {end:?}");
        }
        // The same cuts inside preallocated space: the rest of the record reads as zeros.
        for cut in two + 1..whole.len() {
            let mut zeroed = whole[..cut].to_vec();
            zeroed.resize(whole.len() + 100, 0);
            let (ids, end) = records(&zeroed);
            assert_eq!(ids, vec![0, 1], "cut at {cut} before zeros");
            assert!(
                matches!(end, Read::Torn(_)),
                "cut at {cut} before zeros: {end:?}"
            );
        }
    }

    #[test]
    fn zeros_after_the_last_record_are_unused_space_not_damage() {
        for spare in [1, 7, 8, 100, 4096] {
            let mut bytes = segment(3);
            bytes.resize(bytes.len() + spare, 0);
            let (ids, end) = records(&bytes);
            assert_eq!(ids, vec![0, 1, 2]);
            assert!(
                matches!(end, Read::Unused(n) if n == spare),
                "{spare}: {end:?}"
            );
        }
        // A flipped bit with a record after it is still corruption, zeros between or not.
        let mut bytes = segment(3);
        let two = segment(2).len();
        bytes[two + 9] ^= 1;
        bytes.resize(bytes.len() + 50, 0);
        bytes.extend_from_slice(&segment(1)[HEADER_LEN..]);
        assert!(matches!(records(&bytes).1, Read::Corrupt(_)));
        // Zeros where a record should start, with data later: a hole (torn only in the last
        // segment, which the caller knows).
        let mut bytes = segment(3);
        bytes.resize(bytes.len() + 50, 0);
        bytes.extend_from_slice(&segment(1)[HEADER_LEN..]);
        assert!(matches!(records(&bytes).1, Read::Hole(_)));
    }

    #[test]
    fn a_record_whose_sectors_reached_the_disk_in_part_is_torn() {
        // A long record spanning sectors; a later record after it.
        let mut bytes = header(7).to_vec();
        let long = Command::SetPresence {
            agent: "a".repeat(2000),
            presence: crate::core::Presence::Ready,
        };
        encode(&mut bytes, 1000, &long);
        let after = bytes.len();
        encode(&mut bytes, 1001, &cancel(1));
        // One sector of the long record never written.
        let mut torn = bytes.clone();
        torn[1024..1536].fill(0);
        assert!(matches!(read(&torn, HEADER_LEN), Read::Torn(_)));
        // One flipped bit there instead: corruption.
        let mut flipped = bytes.clone();
        flipped[1100] ^= 1;
        assert!(matches!(read(&flipped, HEADER_LEN), Read::Corrupt(_)));
        assert!(matches!(read(&bytes, HEADER_LEN), Read::Record { next, .. } if next == after));
    }

    #[test]
    fn a_flipped_bit_in_the_last_record_is_torn_but_earlier_it_is_corruption() {
        let whole = segment(3);
        let mut last = whole.clone();
        *last.last_mut().unwrap() ^= 1;
        assert!(matches!(records(&last).1, Read::Torn(_)));
        let mut middle = whole.clone();
        middle[HEADER_LEN + 9] ^= 1;
        let (ids, end) = records(&middle);
        assert!(ids.is_empty());
        assert!(matches!(end, Read::Corrupt(_)), "{end:?}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
            )),
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Reading damaged bytes never panics: every offset yields a record, the end, a torn
        /// tail or corruption, and records only ever move forward.
        #[test]
        fn damaged_segments_never_panic(
            flips in proptest::collection::vec((0usize..4096, 0u8..8), 0..6),
            cut in 0usize..4096,
        ) {
            let mut bytes = segment(12);
            for (at, bit) in flips {
                let at = at % bytes.len();
                bytes[at] ^= 1 << bit;
            }
            bytes.truncate(cut.max(HEADER_LEN).min(bytes.len()));
            let mut offset = HEADER_LEN;
            while let Read::Record { next, .. } = read(&bytes, offset) {
                proptest::prop_assert!(next > offset);
                offset = next;
            }
        }
    }
}
