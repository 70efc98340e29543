//! The event bus: numbers every engine event, keeps a replay buffer, and fans events out to
//! supervisor subscribers without ever waiting on them.
//!
//! Invariants: sequence numbers start at 1 and have no gaps, in the order the engine emitted the
//! events; a subscriber sees a gap-free run of them (replay, then live) or is told it lagged and
//! where to resume. Publishing costs the same whatever the number or speed of subscribers: live
//! fan-out is a `tokio::sync::broadcast` channel whose slow receivers lag instead of blocking.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::core::Event;

/// An event with its sequence number.
#[derive(Debug)]
pub struct Published {
    pub sequence: u64,
    pub event: Event,
    /// The event as supervisor streams send it, encoded by the first stream that sends it; every
    /// other stream sends the same bytes (fan-out costs a reference count, not an encoding).
    pub wire: OnceLock<Bytes>,
}

impl Published {
    /// The wire form, encoding it with `encode` if no stream has yet.
    pub fn wire(&self, encode: impl FnOnce(&Published) -> Bytes) -> Bytes {
        self.wire.get_or_init(|| encode(self)).clone()
    }
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("sequence {requested} is no longer in the replay buffer; the oldest kept is {oldest}")]
    TooOld { requested: u64, oldest: u64 },
    #[error("sequence {requested} is ahead of the next one to be published ({next})")]
    Ahead { requested: u64, next: u64 },
}

/// Counts open event streams (gRPC and HTTP alike) against the configured limit.
#[derive(Clone, Debug)]
pub struct Subscribers {
    open: Arc<AtomicUsize>,
    max: usize,
}

/// One open stream's place; given back when the stream is dropped.
pub struct Seat(Arc<AtomicUsize>);

impl Drop for Seat {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every seat is taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} supervisor streams are open: the max_subscribers limit")]
pub struct SeatsTaken(pub usize);

impl Subscribers {
    pub fn new(max: usize) -> Subscribers {
        Subscribers {
            open: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    pub fn take_seat(&self) -> Result<Seat, SeatsTaken> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Seat(self.open.clone())),
            Err(_) => Err(SeatsTaken(self.max)),
        }
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// A new subscriber's view: the replayed events, then the live receiver that continues exactly
/// after them.
pub struct Subscription {
    pub replay: Vec<Arc<Published>>,
    pub live: broadcast::Receiver<Arc<Published>>,
    /// The sequence number the subscriber expects next.
    pub next: u64,
}

struct Inner {
    next_sequence: u64,
    ring: VecDeque<Arc<Published>>,
    capacity: usize,
}

pub struct EventBus {
    inner: Mutex<Inner>,
    live: broadcast::Sender<Arc<Published>>,
}

impl EventBus {
    /// `replay` events are kept for resuming subscribers; each live subscriber may fall
    /// `subscriber_buffer` events behind before it is told it lagged.
    pub fn new(replay: usize, subscriber_buffer: usize) -> EventBus {
        let (live, _) = broadcast::channel(subscriber_buffer.max(1));
        EventBus {
            inner: Mutex::new(Inner {
                next_sequence: 1,
                ring: VecDeque::with_capacity(replay.min(1 << 16)),
                capacity: replay.max(1),
            }),
            live,
        }
    }

    /// Numbers and publishes a batch of events, in order.
    pub fn publish(&self, events: impl IntoIterator<Item = Event>) {
        let mut inner = self.inner.lock();
        for event in events {
            let published = Arc::new(Published {
                sequence: inner.next_sequence,
                event,
                wire: OnceLock::new(),
            });
            inner.next_sequence += 1;
            if inner.ring.len() == inner.capacity {
                inner.ring.pop_front();
            }
            inner.ring.push_back(published.clone());
            // No receivers is not an error: nobody is watching.
            let _ = self.live.send(published);
        }
    }

    /// Continues numbering after a recovered history: the next event published gets `next`.
    /// Only before the first publish (a restart recovering its journal calls it once).
    pub fn start_at(&self, next: u64) {
        let mut inner = self.inner.lock();
        assert!(
            inner.ring.is_empty() && inner.next_sequence == 1,
            "the bus already published"
        );
        inner.next_sequence = next.max(1);
    }

    /// Forgets everything published, to [`EventBus::start_at`] again: for a standby whose
    /// warm copy fell behind a purge and is rebuilt, before anyone can subscribe.
    pub fn reset(&self) {
        let mut inner = self.inner.lock();
        inner.ring.clear();
        inner.next_sequence = 1;
    }

    /// The sequence number of the last published event (0 before the first).
    pub fn last_sequence(&self) -> u64 {
        self.inner.lock().next_sequence - 1
    }

    /// Subscribes from `from` (replaying what the buffer still holds), or to live events only
    /// when `from` is `None`.
    pub fn subscribe(&self, from: Option<u64>) -> Result<Subscription, SubscribeError> {
        let inner = self.inner.lock();
        let next = inner.next_sequence;
        let live = self.live.subscribe();
        let Some(from) = from else {
            return Ok(Subscription {
                replay: Vec::new(),
                live,
                next,
            });
        };
        if from > next {
            return Err(SubscribeError::Ahead {
                requested: from,
                next,
            });
        }
        let oldest = inner.ring.front().map_or(next, |p| p.sequence);
        if from < oldest {
            return Err(SubscribeError::TooOld {
                requested: from,
                oldest,
            });
        }
        let skip = (from - oldest) as usize;
        let replay = inner.ring.iter().skip(skip).cloned().collect();
        Ok(Subscription { replay, live, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{EventBody, QueueConfig};

    fn event(i: u64) -> Event {
        Event {
            at: i,
            body: EventBody::QueueChanged {
                queue: QueueConfig::new(&format!("q{i}")),
                deleted: false,
            },
        }
    }

    #[tokio::test]
    async fn replay_then_live_without_gap() {
        let bus = EventBus::new(4, 16);
        bus.publish((1..=6).map(event));
        assert_eq!(bus.last_sequence(), 6);
        assert_eq!(
            bus.subscribe(Some(2)).err(),
            Some(SubscribeError::TooOld {
                requested: 2,
                oldest: 3
            })
        );
        assert!(matches!(
            bus.subscribe(Some(8)),
            Err(SubscribeError::Ahead { .. })
        ));
        let mut sub = bus.subscribe(Some(4)).unwrap();
        let replayed: Vec<u64> = sub.replay.iter().map(|p| p.sequence).collect();
        assert_eq!(replayed, vec![4, 5, 6]);
        assert_eq!(sub.next, 7);
        bus.publish([event(7)]);
        assert_eq!(sub.live.recv().await.unwrap().sequence, 7);
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_and_never_blocks_publishing() {
        let bus = EventBus::new(100, 2);
        let mut sub = bus.subscribe(None).unwrap();
        bus.publish((1..=10).map(event));
        assert!(matches!(
            sub.live.recv().await,
            Err(broadcast::error::RecvError::Lagged(8))
        ));
    }
}
