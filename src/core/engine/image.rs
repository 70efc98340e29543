//! Engine images: the whole routing state as bytes, for snapshots.
//!
//! An image holds everything the engine would otherwise rebuild by replaying its commands —
//! its configuration, agents, queues, waiting and live contacts with their timers, the
//! ended-contact history, the waiting index and counters (the agent index is rebuilt from the
//! agents on load) — but not undrained events (an image is taken
//! between batches, after they were published).
//!
//! Invariant: `Engine::from_image(&engine.image())` is the same engine: every later
//! command gives the same result and the same events. The format is postcard; images are only
//! read back by builds that share its version tag, which leads the bytes and is checked first.

use std::sync::Arc;

use super::Engine;
use crate::core::error::CoreError;
use crate::core::strategy::Strategy;

/// Bumped whenever a type inside an image changes shape.
const IMAGE_VERSION: u32 = 17;

impl Engine {
    /// The engine's state as bytes. Undrained events are not part of it: drain first.
    pub fn image(&self) -> Vec<u8> {
        debug_assert!(
            self.events.is_empty(),
            "drain events before taking an image"
        );
        let mut bytes = postcard::to_allocvec(&IMAGE_VERSION).expect("a u32 serialises");
        postcard::to_io(self, &mut bytes).expect("an engine serialises into memory");
        bytes
    }

    /// Rebuilds an engine from [`Engine::image`] bytes, with the configuration it had.
    pub fn from_image(bytes: &[u8]) -> Result<Engine, CoreError> {
        let bad = |e: postcard::Error| CoreError::invalid(format!("engine image: {e}"));
        let (version, rest) = postcard::take_from_bytes::<u32>(bytes).map_err(bad)?;
        if version != IMAGE_VERSION {
            return Err(CoreError::invalid(format!(
                "engine image version {version} is not {IMAGE_VERSION}, the version this build reads"
            )));
        }
        let mut engine: Engine = postcard::from_bytes(rest).map_err(bad)?;
        for (slot, queue) in engine.queues.iter_mut().enumerate() {
            let Some(queue) = queue else { continue };
            queue.strategy = Arc::new(Strategy::compile(&queue.config)?);
            if queue.strategy.reserve > 0 {
                engine.reserving.insert(slot);
            }
        }
        engine.reindex_all();
        Ok(engine)
    }
}
