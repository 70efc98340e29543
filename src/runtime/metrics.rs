//! What the runtime measures about itself, for the metrics endpoint: how long the engine thread
//! spends on a batch, how long a batch waits to become durable, and how long answered contacts
//! waited, per queue.
//!
//! Owned by the runtime and shared (cheap clones of the same histograms) with whoever exposes
//! them. The engine thread times its batches; the release path — which sees every event of
//! every durable batch, in order, exactly once — observes answer waits and commit latency, so
//! no observation is lost to a slow reader and none counts a batch a restart could take back.
//! The file journal's writer times its own syncs ([`SyncMetrics`]).
//!
//! Cost: one histogram observation per batch on the engine thread (a short uncontended lock);
//! one per answered contact on the release path. Label sets are bounded: the queue name only,
//! and a deleted queue's series is dropped.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::command_log::file::SyncMetrics;
use crate::core::{Event, EventBody};

/// Wait buckets, in seconds: the usual service-level thresholds (10, 15, 20, 30, 45, 60, 90,
/// 120, 180, 300 s) and a few around them, so `le="20"` over the count is the share answered
/// within 20 s over any window PromQL is asked for.
pub const WAIT_BUCKETS: [f64; 14] = [
    1.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1800.0,
];

/// Latency buckets, in seconds: 10 µs to about 1.3 s, doubling.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.000_01, 2.0, 18)
}

/// A queue's label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    pub queue: String,
}

fn wait_histogram() -> Histogram {
    Histogram::new(WAIT_BUCKETS)
}

/// The runtime's own measurements (clones share the same series).
#[derive(Clone, Debug)]
pub struct RuntimeMetrics {
    /// Time the engine thread spent applying one batch (its commands, the routing decisions
    /// they caused and the timers that fell due), until it handed the batch to the log.
    pub batch_seconds: Histogram,
    /// Time from handing a batch to the log until it was durable and released.
    pub commit_seconds: Histogram,
    /// How long each answered contact waited, by queue (the wait an offer accepted reports).
    pub answer_wait_seconds: Family<QueueLabel, Histogram, fn() -> Histogram>,
    /// The file journal's syncs (observed by its writer; empty on other logs).
    pub journal: SyncMetrics,
}

impl Default for RuntimeMetrics {
    fn default() -> Self {
        RuntimeMetrics {
            batch_seconds: Histogram::new(latency_buckets()),
            commit_seconds: Histogram::new(latency_buckets()),
            answer_wait_seconds: Family::new_with_constructor(wait_histogram),
            journal: SyncMetrics::default(),
        }
    }
}

impl RuntimeMetrics {
    /// Observes what a durable batch's events say: answer waits, deleted queues.
    pub fn observe_events(&self, events: &[Event]) {
        for event in events {
            match &event.body {
                EventBody::OfferAccepted {
                    queue, waited_ms, ..
                } => self
                    .answer_wait_seconds
                    .get_or_create(&QueueLabel {
                        queue: queue.to_string(),
                    })
                    .observe(*waited_ms as f64 / 1000.0),
                EventBody::QueueChanged {
                    queue,
                    deleted: true,
                } => {
                    self.answer_wait_seconds.remove(&QueueLabel {
                        queue: queue.name.to_string(),
                    });
                }
                _ => {}
            }
        }
    }

    pub fn observe_batch(&self, took: Duration) {
        self.batch_seconds.observe(took.as_secs_f64());
    }

    pub fn observe_commit(&self, took: Duration) {
        self.commit_seconds.observe(took.as_secs_f64());
    }
}

/// Shared by the engine thread and the release path.
pub type SharedMetrics = Arc<RuntimeMetrics>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::QueueConfig;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    fn text(metrics: &RuntimeMetrics) -> String {
        let mut registry = Registry::with_prefix("routerd");
        registry.register(
            "queue_answer_wait_seconds",
            "wait of answered contacts",
            metrics.answer_wait_seconds.clone(),
        );
        let mut out = String::new();
        encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn answer_waits_land_in_their_queue_buckets_and_a_deleted_queue_drops_its_series() {
        let metrics = RuntimeMetrics::default();
        let accepted = |queue: &str, waited_ms| Event {
            at: 0,
            body: EventBody::OfferAccepted {
                contact: 1,
                agent: "a".into(),
                queue: queue.into(),
                waited_ms,
            },
        };
        metrics.observe_events(&[
            accepted("sales", 12_000),
            accepted("sales", 25_000),
            accepted("billing", 3_000),
        ]);
        let out = text(&metrics);
        assert!(
            out.contains(r#"routerd_queue_answer_wait_seconds_bucket{le="20.0",queue="sales"} 1"#),
            "{out}"
        );
        assert!(out.contains(r#"routerd_queue_answer_wait_seconds_count{queue="sales"} 2"#));
        assert!(out.contains(r#"routerd_queue_answer_wait_seconds_count{queue="billing"} 1"#));
        let billing = QueueConfig::new("billing");
        metrics.observe_events(&[Event {
            at: 0,
            body: EventBody::QueueChanged {
                queue: billing,
                deleted: true,
            },
        }]);
        let out = text(&metrics);
        assert!(!out.contains(r#"queue="billing""#), "{out}");
        assert!(out.contains(r#"queue="sales""#));
    }
}
