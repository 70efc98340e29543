//! Engine time from the wall clock, anchored once so it never goes backwards.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::core::Millis;

/// Milliseconds since the Unix epoch, from a monotonic clock anchored to the wall clock once.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    origin_ms: Millis,
}

impl Clock {
    /// A clock that starts no earlier than `earliest` (a recovered engine's time), so engine time
    /// never goes backwards across a restart even if the wall clock did.
    pub fn start_after(earliest: Millis) -> Clock {
        let origin_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis)
            .max(earliest);
        Clock {
            origin: Instant::now(),
            origin_ms,
        }
    }

    pub fn now(&self) -> Millis {
        self.origin_ms + self.origin.elapsed().as_millis() as Millis
    }

    /// The instant engine time `at` is reached.
    pub fn instant_at(&self, at: Millis) -> Instant {
        self.origin + Duration::from_millis(at.saturating_sub(self.origin_ms))
    }
}
