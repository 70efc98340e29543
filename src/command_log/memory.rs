//! The memory-only command log (`--ephemeral`): nothing is written, and every batch is
//! released at once, on the caller's thread, in order. Nothing survives a restart.

use super::{Batch, CommandLog, LogError, Position, Release};

/// Counts records, keeps none.
#[derive(Debug, Default)]
pub struct MemoryLog {
    end: Position,
}

impl CommandLog for MemoryLog {
    fn keeps_records(&self) -> bool {
        false
    }

    fn end(&self) -> Position {
        self.end
    }

    fn append(&mut self, batch: Batch, release: Release) {
        self.end += batch.records();
        release(Ok(()));
    }

    fn close(self: Box<Self>) -> Result<(), LogError> {
        Ok(())
    }
}
