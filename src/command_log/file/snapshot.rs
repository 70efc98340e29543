//! Snapshot files: the engine image after the first `index` journal records, with the event
//! sequence number that comes next, so recovery replays only the records after it.
//!
//! Layout: `RTRDSNP1 | index: u64 | next_sequence: u64 | len: u64 | crc32(image): u32 | image`.
//! Written to a temporary file, synced, then renamed into place: a snapshot file under its final
//! name is always whole; a damaged one is skipped for the one before it.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"RTRDSNP1";
const HEADER_LEN: usize = 36;

pub fn file_name(index: u64) -> String {
    format!("snapshot-{index:020}.snap")
}

pub fn parse_name(name: &str) -> Option<u64> {
    name.strip_prefix("snapshot-")?
        .strip_suffix(".snap")?
        .parse()
        .ok()
}

/// A decoded snapshot.
pub struct Snapshot<'a> {
    pub index: u64,
    pub next_sequence: u64,
    pub image: &'a [u8],
}

pub fn decode(bytes: &[u8]) -> Result<Snapshot<'_>, String> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err("not a routerd snapshot (bad header)".into());
    }
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let len = u64_at(24) as usize;
    let crc = u32::from_le_bytes(bytes[32..36].try_into().expect("4 bytes"));
    let image = &bytes[HEADER_LEN..];
    if image.len() != len {
        return Err(format!("image is {} bytes, header says {len}", image.len()));
    }
    if crc32fast::hash(image) != crc {
        return Err("image checksum mismatch".into());
    }
    Ok(Snapshot {
        index: u64_at(8),
        next_sequence: u64_at(16),
        image,
    })
}

/// The image is written and synced this many bytes at a time, so no one sync has much to flush:
/// on a file system that orders its commits (ext4), the journal's own fdatasync waits behind
/// whatever the snapshot left unflushed, and one sync of a whole 30 MB image stalled commits
/// (and so routing) for ~17 ms in `benches/snapshot_pause.rs`.
const SYNC_EVERY: usize = 1 << 20;

/// Writes a snapshot durably under its final name.
pub fn write(dir: &Path, index: u64, next_sequence: u64, image: &[u8]) -> io::Result<()> {
    let name = file_name(index);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(MAGIC)?;
    file.write_all(&index.to_le_bytes())?;
    file.write_all(&next_sequence.to_le_bytes())?;
    file.write_all(&(image.len() as u64).to_le_bytes())?;
    file.write_all(&crc32fast::hash(image).to_le_bytes())?;
    for chunk in image.chunks(SYNC_EVERY) {
        file.write_all(chunk)?;
        file.sync_data()?;
    }
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Makes file creations, renames and removals in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_reads_back_and_damage_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 42, 9, b"engine image").unwrap();
        let bytes = fs::read(dir.path().join(file_name(42))).unwrap();
        let snap = decode(&bytes).unwrap();
        assert_eq!((snap.index, snap.next_sequence), (42, 9));
        assert_eq!(snap.image, b"engine image");
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(decode(&bad).is_err());
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert_eq!(parse_name(&file_name(42)), Some(42));
    }
}
