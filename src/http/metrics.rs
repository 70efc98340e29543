//! `GET /metrics`: Prometheus text exposition (OpenMetrics), with `prometheus-client`.
//!
//! Names are prefixed `routerd_`; times are seconds, shares ratios 0–1, counters end `_total`.
//! Labels are bounded: queue, state, never an agent, contact or customer id.
//!
//! - Per queue, from the read view at scrape time (so a scrape costs O(queues), never a request
//!   to the engine): `queue_waiting`, `queue_ringing`, `queue_oldest_wait_seconds`,
//!   `queue_agents{state}` (ready, busy, wrap_up, not_ready: agents able to serve the queue),
//!   the counters `queue_entered_total`, `queue_answered_total`, `queue_abandoned_total`,
//!   `queue_expired_total`, `queue_refused_total`, `queue_answered_within_threshold_total`,
//!   `queue_completed_total`, transfers, overflows, diversions and callbacks; its
//!   `queue_service_level_threshold_seconds` and `queue_service_level_target_ratio`.
//! - `queue_answer_wait_seconds` (histogram by queue; buckets at the usual service-level
//!   thresholds), so `sum(rate(..._bucket{le="20"}[15m])) / sum(rate(queue_entered_total[15m]))`
//!   is a service level over any window.
//! - `engine_batch_seconds` (time the engine thread spends on one batch: the decisions' cost)
//!   and `commit_seconds` (a batch from the log to durable), both histograms; for the file
//!   journal, `journal_sync_seconds` (one fdatasync) and `journal_records_per_sync` (the group
//!   commit's size), so an operator sees what the disk's sync costs routing.
//! - `grpc_calls_total{method, code}` (see [`crate::grpc::calls`] for what counts when).
//! - `http_requests_total{route, code}`: this listener's requests by route (the route's pattern,
//!   e.g. `/api/v1/agents`; `unknown` for a path no route serves, so a client cannot grow the
//!   series by inventing paths) and HTTP status code, counted when the response starts (an
//!   event stream when it opens); `http_request_seconds{route}`, a histogram of the time until
//!   then.
//! - `agents_logged_in`, `agents_ready`, `event_subscribers`, `event_sequence`, `build_info`.
//!
//! Counters run since the engine's figures began (they are engine state and survive restarts,
//! as a journaled server's do); Prometheus handles resets either way.

use std::fmt;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::AppState;
use crate::core::QueueSnapshot;
use crate::grpc::calls::CallCounts;
use crate::runtime::EngineHandle;
use crate::runtime::bus::Subscribers;

/// The content type of the OpenMetrics text format `prometheus-client` writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry every scrape encodes.
pub struct Exposition {
    registry: Arc<Registry>,
    /// This listener's requests (the router's counting layer adds to them).
    pub http_requests: HttpRequests,
    pub http_seconds: HttpSeconds,
}

/// One series of `routerd_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The matched route's pattern, or `unknown`.
    pub route: String,
    /// The HTTP status code, e.g. `200`.
    pub code: String,
}

/// HTTP requests by route and status code.
pub type HttpRequests = Family<HttpLabels, Counter>;

/// One series of `routerd_http_request_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

/// Time until the response starts, by route: 100 µs to about 3 s, doubling.
pub type HttpSeconds = Family<RouteLabel, Histogram, fn() -> Histogram>;

fn http_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

impl Exposition {
    pub fn new(
        handle: EngineHandle,
        subscribers: Subscribers,
        grpc_calls: CallCounts,
    ) -> Exposition {
        let mut registry = Registry::with_prefix("routerd");
        registry.register(
            "build",
            "The routerd build serving",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        // Histograms carry their unit in the name only: strict OpenMetrics parsers refuse a
        // `# UNIT` line on a histogram.
        let runtime = handle.metrics().clone();
        registry.register(
            "queue_answer_wait_seconds",
            "How long answered contacts waited, by queue",
            runtime.answer_wait_seconds,
        );
        registry.register(
            "engine_batch_seconds",
            "Time the engine thread spent applying one batch (commands, decisions, timers)",
            runtime.batch_seconds,
        );
        registry.register(
            "commit_seconds",
            "Time from a batch handed to the command log until it was durable and released",
            runtime.commit_seconds,
        );
        registry.register(
            "journal_sync_seconds",
            "Time one fdatasync of the file journal took (none on other logs)",
            runtime.journal.sync_seconds,
        );
        registry.register(
            "journal_records_per_sync",
            "Records one fdatasync of the file journal made durable",
            runtime.journal.records_per_sync,
        );
        let http_requests = HttpRequests::default();
        registry.register(
            "http_requests",
            "HTTP requests to this listener, by route and status code",
            http_requests.clone(),
        );
        let http_seconds = HttpSeconds::new_with_constructor(http_histogram as fn() -> Histogram);
        registry.register(
            "http_request_seconds",
            "Time from an HTTP request to the start of its response, by route",
            http_seconds.clone(),
        );
        registry.register_collector(Box::new(Floor {
            handle,
            subscribers,
            grpc_calls,
        }));
        Exposition {
            registry: Arc::new(registry),
            http_requests,
            http_seconds,
        }
    }

    /// The exposition text.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// `GET /metrics`.
pub(super) async fn scrape(State(shared): State<AppState>) -> Response {
    match shared.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be encoded",
        )
            .into_response(),
    }
}

/// The figures read from the view at each scrape.
struct Floor {
    handle: EngineHandle,
    subscribers: Subscribers,
    grpc_calls: CallCounts,
}

impl fmt::Debug for Floor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Floor").finish_non_exhaustive()
    }
}

/// One metric with a series per queue.
fn per_queue<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    (name, help, unit): (&str, &str, Option<&Unit>),
    queues: &[Arc<QueueSnapshot>],
    value: impl Fn(&QueueSnapshot) -> M,
) -> fmt::Result {
    let Some(first) = queues.first() else {
        return Ok(());
    };
    let kind = value(first).metric_type();
    let mut metric = encoder.encode_descriptor(name, help, unit, kind)?;
    for q in queues {
        let labels = [("queue", &*q.config.name)];
        value(q).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: impl Into<f64>,
) -> fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value.into()).encode(metric)
}

impl Collector for Floor {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let view = self.handle.view();
        let now = self.handle.now().max(view.at);
        let queues: Vec<Arc<QueueSnapshot>> = view.queues().cloned().collect();
        let e = &mut encoder;
        gauge(e, "agents_logged_in", "Agents logged in", view.logged_in)?;
        gauge(e, "agents_ready", "Agents ready with room", view.ready)?;
        gauge(
            e,
            "event_subscribers",
            "Event streams open (gRPC and HTTP)",
            self.subscribers.open() as f64,
        )?;
        gauge(
            e,
            "event_sequence",
            "Sequence number of the last published event",
            view.last_sequence as f64,
        )?;
        let g = |v: f64| ConstGauge::new(v);
        per_queue(
            e,
            ("queue_waiting", "Contacts waiting", None),
            &queues,
            |q| g(q.waiting.into()),
        )?;
        per_queue(
            e,
            ("queue_ringing", "Contacts offered to an agent now", None),
            &queues,
            |q| g(q.offered_now.into()),
        )?;
        per_queue(
            e,
            (
                "queue_oldest_wait",
                "How long the contact waiting longest has waited",
                Some(&Unit::Seconds),
            ),
            &queues,
            |q| g(q.longest_wait_ms(now) as f64 / 1000.0),
        )?;
        per_queue(
            e,
            (
                "queue_service_level_threshold",
                "The queue's service-level threshold",
                Some(&Unit::Seconds),
            ),
            &queues,
            |q| g(q.config.sl_threshold_secs.into()),
        )?;
        per_queue(
            e,
            (
                "queue_service_level_target",
                "The queue's service-level target, as a share",
                Some(&Unit::Ratios),
            ),
            &queues,
            |q| g(q.config.sl_target_percent / 100.0),
        )?;
        {
            let mut metric = e.encode_descriptor(
                "queue_agents",
                "Agents logged in who can serve the queue, by state",
                None,
                MetricType::Gauge,
            )?;
            for q in &queues {
                for (state, n) in [
                    ("ready", q.agents_ready),
                    ("busy", q.agents_busy),
                    ("wrap_up", q.agents_wrap_up),
                    ("not_ready", q.agents_not_ready),
                ] {
                    let labels = [("queue", &*q.config.name), ("state", state)];
                    ConstGauge::new(n as i64).encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        type Count = fn(&QueueSnapshot) -> u64;
        let counters: [(&str, &str, Count); 18] = [
            ("queue_entered", "Contacts that entered the queue", |q| {
                q.counters.offered
            }),
            (
                "queue_answered",
                "Contacts answered (an offer accepted)",
                |q| q.counters.answered,
            ),
            ("queue_abandoned", "Contacts abandoned while waiting", |q| {
                q.counters.abandoned
            }),
            (
                "queue_expired",
                "Contacts past the queue's maximum wait",
                |q| q.counters.expired,
            ),
            ("queue_refused", "Contacts refused at the door", |q| {
                q.counters.refused
            }),
            (
                "queue_answered_within_threshold",
                "Contacts answered within the service-level threshold",
                |q| q.counters.answered_within_threshold,
            ),
            (
                "queue_completed",
                "Contacts completed by their agent",
                |q| q.counters.completed,
            ),
            ("queue_transferred_out", "Contacts transferred away", |q| {
                q.counters.transferred_out
            }),
            ("queue_transferred_in", "Contacts transferred in", |q| {
                q.counters.transferred_in
            }),
            (
                "queue_overflowed_out",
                "Contacts moved away by an exception rule",
                |q| q.counters.overflowed_out,
            ),
            (
                "queue_overflowed_in",
                "Contacts moved in by an exception rule",
                |q| q.counters.overflowed_in,
            ),
            (
                "queue_diverted",
                "Contacts ended by an exception rule",
                |q| q.counters.diverted,
            ),
            ("queue_callbacks_requested", "Callbacks requested", |q| {
                q.counters.callbacks_requested
            }),
            (
                "queue_callbacks_reached",
                "Callbacks that reached the customer",
                |q| q.counters.callbacks_reached,
            ),
            (
                "queue_callbacks_unreached",
                "Callbacks ended without reaching the customer",
                |q| q.counters.callbacks_unreached,
            ),
            (
                "queue_bot_contained",
                "Contacts a bot completed without escalating",
                |q| q.counters.bot_contained,
            ),
            (
                "queue_bot_escalated",
                "Contacts a bot escalated to people",
                |q| q.counters.bot_escalated,
            ),
            (
                "queue_short_abandoned",
                "Contacts abandoned within the queue's short-abandon time",
                |q| q.counters.abandoned_short,
            ),
        ];
        for (name, help, count) in counters {
            per_queue(e, (name, help, None), &queues, |q| {
                ConstCounter::new(count(q))
            })?;
        }
        let calls = self.grpc_calls.samples();
        if !calls.is_empty() {
            let mut metric = e.encode_descriptor(
                "grpc_calls",
                "gRPC calls by method and status code (a stream counts when it opens)",
                None,
                MetricType::Counter,
            )?;
            for call in calls {
                let labels = [("method", call.method), ("code", call.code)];
                ConstCounter::new(call.calls).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
