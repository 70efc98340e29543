//! The ceiling for unary RPCs: routerd's enqueue throughput as a ratio of a bare tonic echo's,
//! measured in one run on the same machine, at the same concurrency, with the same messages.
//!
//! The echo service (below) decodes an `EnqueueContactRequest` and answers an
//! `EnqueueContactResponse` — the enqueue's own messages — through the same tonic server stack
//! (HTTP/2, TCP with nodelay) with no work in between. routerd runs in this process with its
//! embedded defaults, memory-only (`journal.ephemeral`: the ceiling is about the RPC path; a
//! journaled run is measured with `routerd loadgen`). Each round drives `CONCURRENCY` calls in
//! flight for `ROUND` against the echo, then against routerd's `EnqueueContact` (contacts wait in
//! a queue no agent serves), then `EnqueueContacts` batches of `BATCH`; three rounds, medians
//! reported. Run: `cargo bench --bench echo`.

/// The allocator the `routerd` binary uses (`routerd::allocator`).
#[global_allocator]
static ALLOCATOR: routerd::allocator::Allocator = routerd::allocator::Allocator;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use routerd::config::Config;
use routerd::loadgen::driver::{Run, closed_loop};
use routerd::proto as pb;
use routerd::proto::contact_service_client::ContactServiceClient;
use tonic::codegen::http;
use tonic::transport::{Channel, Server};

const CONCURRENCY: usize = 32;
const ROUND: Duration = Duration::from_secs(3);
const BATCH: usize = 100;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A bare tonic unary service answering every enqueue with a fixed response.
#[derive(Clone)]
struct Echo;

impl tonic::server::NamedService for Echo {
    const NAME: &'static str = "bench.Echo";
}

struct Answer;

impl tonic::server::UnaryService<pb::EnqueueContactRequest> for Answer {
    type Response = pb::EnqueueContactResponse;
    type Future = BoxFuture<Result<tonic::Response<Self::Response>, tonic::Status>>;
    fn call(&mut self, request: tonic::Request<pb::EnqueueContactRequest>) -> Self::Future {
        let request = request.into_inner();
        Box::pin(async move {
            Ok(tonic::Response::new(pb::EnqueueContactResponse {
                contact_id: request.priority as u64 + 1,
                position: 1,
                estimated_wait_ms: None,
                state: pb::ContactState::Waiting as i32,
                repeated: false,
            }))
        })
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Echo {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(Answer, request).await)
        })
    }
}

async fn echo_call(
    mut client: tonic::client::Grpc<Channel>,
    request: pb::EnqueueContactRequest,
) -> Result<(), tonic::Status> {
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static("/bench.Echo/Enqueue");
    let codec =
        tonic_prost::ProstCodec::<pb::EnqueueContactRequest, pb::EnqueueContactResponse>::default();
    client
        .unary(tonic::Request::new(request), path, codec)
        .await
        .map(|_| ())
}

fn request() -> pb::EnqueueContactRequest {
    pb::EnqueueContactRequest {
        queue: "bench".into(),
        channel: pb::Channel::Voice as i32,
        customer_id: "cust-4711".into(),
        required_skills: vec![pb::Skill {
            name: "billing".into(),
            level: 3,
        }],
        context: [("order".to_string(), "A-17".to_string())].into(),
        ..Default::default()
    }
}

async fn connect(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn line(name: &str, run: &Run, per_call: usize) {
    let s = run.latency.summary();
    println!(
        "{name:<34} {:>9.0} calls/s {:>9.0} contacts/s   p50 {:>6.3} ms  p99 {:>6.3} ms  errors {}",
        run.per_second(),
        run.per_second() * per_call as f64,
        s.p50 as f64 / 1000.0,
        s.p99 as f64 / 1000.0,
        run.errors
    );
}

#[tokio::main]
async fn main() {
    // `cargo test` and `cargo bench --no-run` build this; only `cargo bench` runs it.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo_listener.local_addr().unwrap();
    tokio::spawn(Server::builder().add_service(Echo).serve_with_incoming(
        tonic::transport::server::TcpIncoming::from(echo_listener).with_nodelay(Some(true)),
    ));
    let mut config = Config::default();
    config.journal.ephemeral = true;
    config.queues[0].name = "bench".into();
    config.routing.max_contacts = 10_000_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let listeners = routerd::app::Listeners {
            grpc: listener,
            http: None,
        };
        routerd::app::serve(&config, listeners, std::future::pending())
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let echo = tonic::client::Grpc::new(connect(echo_addr).await);
    let contacts = ContactServiceClient::new(connect(addr).await);

    println!(
        "unary ceiling: {CONCURRENCY} calls in flight, {} s rounds, same machine",
        ROUND.as_secs()
    );
    let (mut echo_rates, mut enqueue_rates, mut batch_rates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=3 {
        let e = echo.clone();
        let echo_run =
            closed_loop(CONCURRENCY, ROUND, move || echo_call(e.clone(), request())).await;
        let c = contacts.clone();
        let enqueue_run = closed_loop(CONCURRENCY, ROUND, move || {
            let mut c = c.clone();
            async move { c.enqueue_contact(request()).await.map(|_| ()) }
        })
        .await;
        let c = contacts.clone();
        let batch_run = closed_loop(CONCURRENCY, ROUND, move || {
            let mut c = c.clone();
            let contacts = vec![request(); BATCH];
            async move {
                c.enqueue_contacts(pb::EnqueueContactsRequest { contacts })
                    .await
                    .map(|_| ())
            }
        })
        .await;
        println!("round {round}");
        line("  bare tonic echo", &echo_run, 1);
        line("  routerd EnqueueContact", &enqueue_run, 1);
        line(
            &format!("  routerd EnqueueContacts x{BATCH}"),
            &batch_run,
            BATCH,
        );
        echo_rates.push(echo_run.per_second());
        enqueue_rates.push(enqueue_run.per_second());
        batch_rates.push(batch_run.per_second() * BATCH as f64);
    }
    let echo = median(echo_rates);
    let enqueue = median(enqueue_rates);
    let batch = median(batch_rates);
    println!(
        "median: echo {echo:.0}/s, EnqueueContact {enqueue:.0}/s, EnqueueContacts {batch:.0} contacts/s"
    );
    println!(
        "ratio to echo: EnqueueContact {:.2}, EnqueueContacts x{BATCH} {:.2} (contacts/s over echo calls/s)",
        enqueue / echo,
        batch / echo
    );
}
