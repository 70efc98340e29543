//! The HTTP listener end to end: metrics parsed by an OpenMetrics parser and checked against the
//! gRPC snapshot, the JSON API, server-sent events with resume, tokens, drain.
//!
//! The client is a few lines of HTTP/1.1 over a TCP socket: enough for GETs and an event stream,
//! and it shows exactly what goes over the wire.

use std::net::SocketAddr;

use openmetrics_parser::{MetricNumber, OpenMetricsValue};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use routerd::access::{Role, TokenConfig};
use routerd::proto as pb;

use crate::common::{PATIENCE, TestServer, auto_answer, config};

/// A response: status, headers (lower-case names), body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

fn request_text(path: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(request_text(path, headers).as_bytes())
            .await
            .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        String::from_utf8(raw).expect("UTF-8")
    };
    let raw = tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("an answer in time");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked");
    Reply {
        status: status.parse().unwrap(),
        body: if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
        headers,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// One server-sent event.
#[derive(Debug, Default)]
struct Sse {
    id: Option<u64>,
    kind: String,
    data: String,
}

/// An open event stream.
struct EventStream {
    lines: BufReader<TcpStream>,
}

impl EventStream {
    async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> EventStream {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(request_text(path, headers).as_bytes())
            .await
            .unwrap();
        let mut lines = BufReader::new(stream);
        let mut status = String::new();
        lines.read_line(&mut status).await.unwrap();
        assert!(status.contains(" 200 "), "{status}");
        EventStream { lines }
    }

    /// The next event, heartbeats included; `None` when the stream ends. Chunk-size lines of
    /// the chunked encoding are not `field: value` lines, so they are passed over.
    async fn next(&mut self) -> Option<Sse> {
        let read = async {
            let mut event = Sse::default();
            let mut seen = false;
            loop {
                let mut line = String::new();
                if self.lines.read_line(&mut line).await.ok()? == 0 {
                    return None;
                }
                let line = line.trim_end_matches(['\r', '\n']);
                if let Some(v) = line.strip_prefix("id:") {
                    event.id = v.trim().parse().ok();
                    seen = true;
                } else if let Some(v) = line.strip_prefix("event:") {
                    event.kind = v.trim().to_string();
                    seen = true;
                } else if let Some(v) = line.strip_prefix("data:") {
                    event.data.push_str(v.trim());
                    seen = true;
                } else if line.is_empty() && seen {
                    return Some(event);
                }
            }
        };
        tokio::time::timeout(PATIENCE, read)
            .await
            .expect("an event in time")
    }

    /// The next event that is not a heartbeat.
    async fn next_event(&mut self) -> Option<Sse> {
        loop {
            let event = self.next().await?;
            if event.kind != "heartbeat" {
                return Some(event);
            }
        }
    }
}

/// The sample of `family` for these label values, as a number (a counter's or gauge's value,
/// a histogram's count).
fn sample(
    exposition: &openmetrics_parser::MetricsExposition<
        openmetrics_parser::OpenMetricsType,
        OpenMetricsValue,
    >,
    family: &str,
    labels: &[(&str, &str)],
) -> f64 {
    let family = exposition
        .families
        .get(family)
        .unwrap_or_else(|| panic!("no family {family}"));
    let labels = in_family_order(family.get_label_names(), labels);
    let sample = family
        .get_sample_by_label_values(&labels)
        .unwrap_or_else(|| panic!("no sample {labels:?}"));
    let number = |n: &MetricNumber| n.as_f64();
    match &sample.value {
        OpenMetricsValue::Counter(c) => number(&c.value),
        OpenMetricsValue::Gauge(g) => number(g),
        OpenMetricsValue::Histogram(h) => h.count.unwrap_or(0) as f64,
        other => panic!("unexpected value {other:?}"),
    }
}

/// The values of `labels` in the order the family lists its label names.
fn in_family_order(names: &[String], labels: &[(&str, &str)]) -> Vec<String> {
    names
        .iter()
        .map(|name| {
            labels
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| panic!("no value for label {name}"))
        })
        .collect()
}

fn histogram_bucket(
    exposition: &openmetrics_parser::MetricsExposition<
        openmetrics_parser::OpenMetricsType,
        OpenMetricsValue,
    >,
    family: &str,
    labels: &[(&str, &str)],
    upper_bound: f64,
) -> f64 {
    let labels = in_family_order(exposition.families[family].get_label_names(), labels);
    let sample = exposition.families[family]
        .get_sample_by_label_values(&labels)
        .expect("the histogram");
    match &sample.value {
        OpenMetricsValue::Histogram(h) => h
            .buckets
            .iter()
            .find(|b| b.upper_bound == upper_bound)
            .map(|b| b.count.as_f64())
            .expect("the bucket"),
        other => panic!("not a histogram: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_parse_as_openmetrics_and_agree_with_the_snapshot() {
    let mut server = TestServer::start().await;
    server
        .put_queue("sales", |q| q.offer_timeout_seconds = 300)
        .await;
    server.put_agent("a1", &[]).await;
    let desk = auto_answer(server.session("a1", true).await, |_| true, |_| false);
    // One answered by a1 (who then keeps it), two left waiting, one cancelled.
    let first = server.enqueue("sales", pb::Channel::Voice, &[]).await;
    let mut answered = false;
    for _ in 0..200 {
        if server.contact(first.contact_id).await.state == pb::ContactState::Assigned as i32 {
            answered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(answered, "a1 answers the first contact");
    server.enqueue("sales", pb::Channel::Voice, &[]).await;
    server.enqueue("sales", pb::Channel::Voice, &[]).await;
    let cancelled = server.enqueue("sales", pb::Channel::Voice, &[]).await;
    server
        .contacts
        .cancel_contact(pb::CancelContactRequest {
            contact_id: cancelled.contact_id,
            reason: pb::CancelReason::Abandoned as i32,
        })
        .await
        .unwrap();

    // A refused enqueue (no such queue) changes no queue's figures, and counts with its code.
    let refused = server
        .contacts
        .enqueue_contact(crate::common::enqueue_request(
            "nowhere",
            pb::Channel::Voice,
            &[],
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound);

    // HTTP requests are counted by route and status; an unknown path is `unknown`, whatever
    // it was.
    assert_eq!(get(server.http, "/api/v1/snapshot", &[]).await.status, 200);
    assert_eq!(
        get(server.http, "/api/v1/agents?page_size=0x", &[])
            .await
            .status,
        400
    );
    for path in ["/nowhere", "/api/v2/anything"] {
        assert_eq!(get(server.http, path, &[]).await.status, 404);
    }
    let reply = get(server.http, "/metrics", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        reply.header("content-type")
    );
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(&reply.body)
        .unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{}", reply.body));
    let stats = server.queue_stats("sales").await;
    let of = |family: &str| sample(&exposition, family, &[("queue", "sales")]);
    assert_eq!(of("routerd_queue_entered") as u64, stats.offered);
    assert_eq!(stats.offered, 4);
    assert_eq!(of("routerd_queue_answered") as u64, stats.answered);
    assert_eq!(stats.answered, 1);
    assert_eq!(of("routerd_queue_waiting") as u32, stats.waiting);
    assert_eq!(stats.waiting, 2);
    assert_eq!(
        of("routerd_queue_service_level_threshold_seconds") as u32,
        stats.sl_threshold_seconds
    );
    assert_eq!(
        sample(
            &exposition,
            "routerd_queue_agents",
            &[("queue", "sales"), ("state", "busy")]
        ) as u32,
        stats.agents_busy
    );
    // One answered contact, answered within a second: it is in the 1 s bucket and every one up.
    assert_eq!(of("routerd_queue_answer_wait_seconds"), 1.0);
    assert_eq!(
        histogram_bucket(
            &exposition,
            "routerd_queue_answer_wait_seconds",
            &[("queue", "sales")],
            20.0
        ),
        1.0
    );
    // Calls by method and code: four enqueues answered, one refused with its code.
    let calls = |method: &str, code: &str| {
        sample(
            &exposition,
            "routerd_grpc_calls",
            &[("method", method), ("code", code)],
        )
    };
    let enqueue = "routing.v1.ContactService/EnqueueContact";
    assert_eq!(calls(enqueue, "OK"), 4.0);
    assert_eq!(calls(enqueue, "NOT_FOUND"), 1.0);
    assert_eq!(calls("routing.v1.AgentService/AgentSession", "OK"), 1.0);
    let requests = |route: &str, code: &str| {
        sample(
            &exposition,
            "routerd_http_requests",
            &[("route", route), ("code", code)],
        )
    };
    assert_eq!(requests("/api/v1/snapshot", "200"), 1.0);
    assert_eq!(requests("/api/v1/agents", "400"), 1.0);
    assert_eq!(requests("unknown", "404"), 2.0);
    let timed = sample(
        &exposition,
        "routerd_http_request_seconds",
        &[("route", "/api/v1/snapshot")],
    );
    assert_eq!(timed, 1.0, "one snapshot request timed");
    let floor = server.snapshot().await;
    let gauge = |family: &str| sample(&exposition, family, &[]);
    assert_eq!(
        gauge("routerd_agents_logged_in") as u32,
        floor.agents_logged_in
    );
    assert!(gauge("routerd_engine_batch_seconds") >= 1.0);
    assert!(gauge("routerd_commit_seconds") >= 1.0);
    // Memory only: the journal's sync histograms are there, and empty.
    assert_eq!(gauge("routerd_journal_sync_seconds"), 0.0);
    assert_eq!(gauge("routerd_journal_records_per_sync"), 0.0);
    desk.abort();
    server.shut_down().await;
}

#[tokio::test]
async fn a_journaled_server_shows_what_its_syncs_cost() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.journal.ephemeral = false;
    config.journal.dir = dir.path().to_path_buf();
    let mut server = TestServer::start_with(config).await;
    server.put_queue("sales", |_| {}).await;
    for _ in 0..3 {
        server.enqueue("sales", pb::Channel::Chat, &[]).await;
    }
    let reply = get(server.http, "/metrics", &[]).await;
    assert_eq!(reply.status, 200);
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(&reply.body)
        .unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{}", reply.body));
    let syncs = sample(&exposition, "routerd_journal_sync_seconds", &[]);
    // Each enqueue was answered only once synced: at least one sync apiece (start-up syncs too).
    assert!(syncs >= 3.0, "{syncs} syncs");
    assert_eq!(
        sample(&exposition, "routerd_journal_records_per_sync", &[]),
        syncs
    );
    server.shut_down().await;
}

#[tokio::test]
async fn the_json_api_reads_what_grpc_reads() {
    let mut server = TestServer::start().await;
    server.put_queue("sales", |_| {}).await;
    server.put_agent("a1", &[]).await;
    server.put_agent("a2", &[]).await;
    server.set_ready("a2").await;
    server.enqueue("sales", pb::Channel::Chat, &[]).await;

    let snapshot = get(server.http, "/api/v1/snapshot", &[]).await;
    assert_eq!(snapshot.status, 200);
    let json = snapshot.json();
    let grpc = server.snapshot().await;
    assert_eq!(
        json["lastSequence"].as_str().unwrap(),
        grpc.last_sequence.to_string(),
        "64-bit integers are strings, as the protobuf JSON mapping says"
    );
    let sales = json["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "sales")
        .expect("sales in the JSON snapshot");
    let stats = server.queue_stats("sales").await;
    assert_eq!(sales["offered"], stats.offered.to_string());
    assert_eq!(sales["waiting"], stats.waiting);
    assert_eq!(sales["slTargetPercent"], stats.sl_target_percent);
    // This interval's and today's figures: everything so far happened in both.
    assert_eq!(sales["interval"]["offered"], "1");
    assert_eq!(sales["today"]["offered"], "1");
    assert_eq!(
        stats.today.as_ref().map(|p| p.offered),
        Some(1),
        "gRPC carries them too"
    );

    let agents = get(server.http, "/api/v1/agents?page_size=1", &[]).await;
    assert_eq!(agents.status, 200);
    let page = agents.json();
    assert_eq!(page["agents"].as_array().unwrap().len(), 1);
    assert_eq!(page["agents"][0]["spec"]["id"], "a1");
    assert_eq!(page["nextPageToken"], "a1");
    let next = get(server.http, "/api/v1/agents?page_size=1&page_token=a1", &[]).await;
    assert_eq!(next.json()["agents"][0]["spec"]["id"], "a2");
    assert_eq!(
        next.json()["agents"][0]["presence"],
        "AGENT_PRESENCE_READY",
        "enums by name"
    );

    // Bad input: a clear refusal, the gRPC status's words.
    let bad = get(server.http, "/api/v1/agents?page_size=lots", &[]).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["code"], "INVALID_ARGUMENT");
    let unknown = get(server.http, "/api/v1/agents?queue=nowhere", &[]).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.json()["code"], "NOT_FOUND");
    let missing = get(server.http, "/api/v2/snapshot", &[]).await;
    assert_eq!(missing.status, 404);
    let page = get(server.http, "/", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("wallboard.js"));
    server.shut_down().await;
}

#[tokio::test]
async fn events_arrive_as_server_sent_events_and_resume_after_the_last_id() {
    let mut server = TestServer::start().await;
    server.put_queue("sales", |_| {}).await;
    server.put_queue("billing", |_| {}).await;
    let mut stream = EventStream::open(server.http, "/api/v1/events?queue=sales", &[]).await;
    let queued = server.enqueue("billing", pb::Channel::Voice, &[]).await;
    let wanted = server.enqueue("sales", pb::Channel::Voice, &[]).await;
    let event = stream.next_event().await.expect("an event");
    assert_eq!(event.kind, "contact_queued", "{event:?}");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(
        data["queue"], "sales",
        "the billing contact is filtered out"
    );
    assert_eq!(data["contactId"], wanted.contact_id.to_string());
    assert_eq!(data["kind"], "EVENT_KIND_CONTACT_QUEUED");
    let id = event.id.expect("an id");
    assert_eq!(data["sequence"], id.to_string());
    drop(stream);

    // A reconnecting EventSource sends the last id it saw: the stream goes on after it.
    server
        .contacts
        .cancel_contact(pb::CancelContactRequest {
            contact_id: wanted.contact_id,
            reason: pb::CancelReason::Abandoned as i32,
        })
        .await
        .unwrap();
    let last = id.to_string();
    let mut resumed = EventStream::open(
        server.http,
        "/api/v1/events",
        &[("Last-Event-ID", last.as_str())],
    )
    .await;
    let next = resumed.next_event().await.expect("the next event");
    assert_eq!(next.id, Some(id + 1), "{next:?}");
    assert_eq!(next.kind, "contact_abandoned");
    let _ = queued;

    // From the start, by query.
    let mut replay = EventStream::open(server.http, "/api/v1/events?from=1", &[]).await;
    assert_eq!(replay.next_event().await.unwrap().id, Some(1));

    // Bad input.
    let bad = get(server.http, "/api/v1/events?from=soon", &[]).await;
    assert_eq!(bad.status, 400);
    let ahead = get(server.http, "/api/v1/events?from=999999", &[]).await;
    assert_eq!(ahead.status, 400);
    assert_eq!(ahead.json()["code"], "OUT_OF_RANGE");

    // Drain: open streams end, and the server stops.
    server.shut_down().await;
    let after = resumed.next_event().await;
    assert!(after.is_none(), "the stream ended: {after:?}");
    while let Some(event) = replay.next_event().await {
        assert!(
            event.id.unwrap() <= id + 1,
            "only what was published: {event:?}"
        );
    }
}

#[tokio::test]
async fn data_routes_need_a_supervisor_token_and_the_page_does_not() {
    let mut config = config();
    config.tokens = vec![
        TokenConfig {
            token: "supervisor-token-0123".into(),
            role: Role::Supervisor,
            agent_id: None,
        },
        TokenConfig {
            token: "frontend-token-01234".into(),
            role: Role::Frontend,
            agent_id: None,
        },
    ];
    let server = TestServer::start_with(config).await;
    let none = get(server.http, "/metrics", &[]).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    assert_eq!(none.json()["code"], "UNAUTHENTICATED");
    let wrong = get(
        server.http,
        "/api/v1/snapshot",
        &[("Authorization", "Bearer not-a-token-at-all")],
    )
    .await;
    assert_eq!(wrong.status, 401);
    let frontend = get(
        server.http,
        "/api/v1/snapshot",
        &[("Authorization", "Bearer frontend-token-01234")],
    )
    .await;
    assert_eq!(frontend.status, 403);
    assert_eq!(frontend.json()["code"], "PERMISSION_DENIED");
    let message = frontend.json()["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("role frontend may not"), "{message}");
    let supervisor = get(
        server.http,
        "/api/v1/snapshot",
        &[("Authorization", "Bearer supervisor-token-0123")],
    )
    .await;
    assert_eq!(supervisor.status, 200);
    let by_query = get(
        server.http,
        "/metrics?access_token=supervisor-token-0123",
        &[],
    )
    .await;
    assert_eq!(by_query.status, 200);
    let stream = EventStream::open(
        server.http,
        "/api/v1/events?access_token=supervisor-token-0123",
        &[],
    )
    .await;
    drop(stream);
    for asset in ["/", "/wallboard.js", "/wallboard.css"] {
        assert_eq!(get(server.http, asset, &[]).await.status, 200, "{asset}");
    }
}

#[tokio::test]
async fn a_quiet_stream_sends_heartbeats_and_http_and_grpc_streams_share_one_limit() {
    let mut config = config();
    config.limits.max_subscribers = 1;
    let mut server = TestServer::start_with(config).await;
    let mut stream = EventStream::open(server.http, "/api/v1/events", &[]).await;
    // Nothing happens on the floor: the stream still says it is alive.
    let heartbeat = stream.next().await.expect("a heartbeat");
    assert_eq!(heartbeat.kind, "heartbeat");
    // The one seat is the HTTP stream's: a gRPC stream is refused, and another HTTP one too.
    let refused = server
        .supervisor
        .stream_events(pb::StreamEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    let second = get(server.http, "/api/v1/events", &[]).await;
    assert_eq!(second.status, 429);
    assert_eq!(second.json()["code"], "RESOURCE_EXHAUSTED");
    drop(stream);
    server.shut_down().await;
}
