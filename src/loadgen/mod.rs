//! The load generator: plays ACD frontends and agent desktops against a running routerd over
//! gRPC, and reports what the server sustained.
//!
//! It owns nothing in the server beyond what it creates: one queue (`--queue`, default
//! `loadgen`) and agents `<prefix>-<n>` with desktop sessions that accept every offer and
//! complete it after the handle time; it removes them at the end. Frontends enqueue either in a
//! closed loop (`--concurrency` calls in flight) or open loop (`--rate` contacts per second), one
//! contact per call or `--batch` per `EnqueueContacts` call. Supervisors (`--subscribers`) follow
//! the event stream and measure how far behind the engine they run.
//!
//! Measured: enqueue RPC latency, enqueue→offer latency (from sending the enqueue to the desktop
//! receiving the offer), subscriber lag (event time to receipt, ms), errors by status code, and
//! the server's service level for the queue — in HDR histograms, reported as p50/p99/p99.9.

pub mod driver;
mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::ctl::Token;
use crate::proto as pb;
use crate::proto::agent_service_client::AgentServiceClient;
use crate::proto::contact_service_client::ContactServiceClient;
use crate::proto::queue_service_client::QueueServiceClient;
use crate::proto::supervisor_service_client::SupervisorServiceClient;
pub use driver::Histogram;
pub use report::{Report, ServerFigures};

/// What to play against the server.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadgenConfig {
    /// The server, e.g. http://127.0.0.1:50051.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub target: String,
    /// Bearer token (an admin token: the run creates a queue and agents).
    #[arg(long, env = "ROUTERD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A PEM file of the certificate authority to trust for TLS (implies https).
    #[arg(long)]
    pub ca: Option<std::path::PathBuf>,
    /// Agent desktops to play.
    #[arg(long, default_value_t = 100)]
    pub agents: usize,
    /// Distinct skills: agent n has skills n, n+1 and n+2 (mod this), each contact requires one
    /// some agent has.
    #[arg(long, default_value_t = 10)]
    pub skills: usize,
    /// Enqueue calls in flight at once (closed loop). Ignored with --rate.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Contacts per second, open loop (a new call whatever the answers).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Contacts per enqueue call: 1 uses EnqueueContact, more uses EnqueueContacts.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// How long to enqueue, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Handle time: how long a desktop keeps a contact before completing it, in ms.
    #[arg(long, default_value_t = 0)]
    pub handle_ms: u64,
    /// Supervisor streams following every event.
    #[arg(long, default_value_t = 0)]
    pub subscribers: usize,
    /// Extra agents set ready without a desktop, holding a skill no contact of the run asks
    /// for: a large floor that is never offered anything (what a read of the whole floor costs).
    #[arg(long, default_value_t = 0)]
    pub idle_agents: usize,
    /// Wallboards: N clients polling GetSnapshot and N polling ListAgents (default page) in
    /// tight loops for the whole run.
    #[arg(long, default_value_t = 0)]
    pub pollers: usize,
    /// The queue the run creates and uses.
    #[arg(long, default_value = "loadgen")]
    pub queue: String,
    /// Agent ids are `<prefix>-<n>`.
    #[arg(long, default_value = "lg")]
    pub agent_prefix: String,
    /// `table` for people, `json` for machines.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

type Authed = InterceptedService<Channel, Token>;

/// One side of the enqueue→offer race: whichever of the frontend's reply and the desktop's offer
/// arrives second computes the latency.
enum Stamp {
    Sent(Instant),
    Offered(Instant),
}

struct Shared {
    stamps: DashMap<u64, Stamp>,
    to_offer: Mutex<Histogram>,
    enqueue: Mutex<Histogram>,
    lag_ms: Mutex<Histogram>,
    errors: Mutex<BTreeMap<String, u64>>,
    enqueued: AtomicU64,
    completed: AtomicU64,
    lagged: AtomicU64,
    events: AtomicU64,
    snapshot_polls: Mutex<Histogram>,
    list_polls: Mutex<Histogram>,
    stop: AtomicBool,
}

impl Shared {
    fn error(&self, code: Code) {
        *self.errors.lock().entry(format!("{code:?}")).or_default() += 1;
    }

    /// Matches a sent enqueue with its offer, in whichever order they arrived.
    fn stamp(&self, contact: u64, stamp: Stamp) {
        use dashmap::mapref::entry::Entry;
        match self.stamps.entry(contact) {
            Entry::Occupied(e) => {
                let (sent, offered) = match (e.remove(), stamp) {
                    (Stamp::Sent(s), Stamp::Offered(o)) | (Stamp::Offered(o), Stamp::Sent(s)) => {
                        (s, o)
                    }
                    _ => return,
                };
                self.to_offer
                    .lock()
                    .record(offered.saturating_duration_since(sent));
            }
            Entry::Vacant(e) => {
                e.insert(stamp);
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the load and gives the report.
pub async fn run(config: LoadgenConfig) -> anyhow::Result<Report> {
    anyhow::ensure!(config.agents > 0, "--agents must be at least 1");
    anyhow::ensure!(config.skills >= 3, "--skills must be at least 3");
    anyhow::ensure!(
        (1..=crate::grpc::contacts::MAX_BATCH).contains(&config.batch),
        "--batch must be 1 to {}",
        crate::grpc::contacts::MAX_BATCH
    );
    let token = Token::new(config.token.as_deref())?;
    // Several connections: one HTTP/2 connection's stream limit must not cap the desktops.
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(crate::ctl::connect(&config.target, config.ca.as_ref()).await?);
    }
    let client =
        |i: usize| InterceptedService::new(channels[i % channels.len()].clone(), token.clone());
    let shared = Arc::new(Shared {
        stamps: DashMap::new(),
        to_offer: Mutex::new(Histogram::new()),
        enqueue: Mutex::new(Histogram::new()),
        lag_ms: Mutex::new(Histogram::new()),
        errors: Mutex::new(BTreeMap::new()),
        enqueued: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        lagged: AtomicU64::new(0),
        events: AtomicU64::new(0),
        snapshot_polls: Mutex::new(Histogram::new()),
        list_polls: Mutex::new(Histogram::new()),
        stop: AtomicBool::new(false),
    });

    set_up(&config, client(0)).await?;
    set_up_idle(&config, &client).await?;
    let mut desktops = Vec::new();
    for a in 0..config.agents {
        let agent = format!("{}-{a}", config.agent_prefix);
        desktops.push(desktop(agent, client(a), config.handle_ms, shared.clone()).await?);
    }
    for s in 0..config.subscribers {
        tokio::spawn(subscriber(client(s), shared.clone()));
    }

    let duration = Duration::from_secs_f64(config.duration.max(0.1));
    let progress = report::Progress::start(&config, duration);
    let started = Instant::now();
    let frontends = frontends(&config, &client, shared.clone(), started + duration);
    let pollers: Vec<_> = (0..config.pollers)
        .map(|p| tokio::spawn(pollers(client(p), shared.clone(), started + duration)))
        .collect();
    let ticker = progress.tick(shared.clone(), started);
    for f in frontends {
        let _ = f.await;
    }
    let elapsed = started.elapsed();
    for p in pollers {
        let _ = p.await;
    }
    ticker.abort();
    progress.finish();
    // Let offers and completions in flight land before reading the server's figures.
    let settle = Instant::now();
    while shared.completed.load(Ordering::Relaxed) < shared.enqueued.load(Ordering::Relaxed)
        && settle.elapsed() < Duration::from_secs(5) + Duration::from_millis(config.handle_ms * 2)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = SupervisorServiceClient::new(client(0))
        .get_snapshot(pb::SnapshotRequest {})
        .await?
        .into_inner()
        .queues
        .into_iter()
        .find(|q| q.queue == config.queue);
    shared.stop.store(true, Ordering::Relaxed);
    drop(desktops);
    tear_down(&config, client(0)).await;
    Ok(Report::new(&config, elapsed, &shared, stats))
}

async fn set_up(config: &LoadgenConfig, channel: Authed) -> anyhow::Result<()> {
    let queue = pb::Queue {
        name: config.queue.clone(),
        offer_timeout_seconds: 60,
        ..Default::default()
    };
    QueueServiceClient::new(channel.clone())
        .put_queue(pb::PutQueueRequest { queue: Some(queue) })
        .await
        .map_err(|e| anyhow::anyhow!("creating queue {:?}: {}", config.queue, e.message()))?;
    let mut agents = AgentServiceClient::new(channel);
    for a in 0..config.agents {
        let skills = (0..3)
            .map(|k| pb::Skill {
                name: format!("lg-skill-{}", (a + k) % config.skills),
                level: 5,
            })
            .collect();
        let spec = pb::AgentSpec {
            id: format!("{}-{a}", config.agent_prefix),
            skills,
            ..Default::default()
        };
        agents
            .put_agent(pb::PutAgentRequest { agent: Some(spec) })
            .await
            .map_err(|e| anyhow::anyhow!("creating agents: {}", e.message()))?;
    }
    Ok(())
}

/// The idle floor (`--idle-agents`): ready agents whose one skill no contact asks for, created
/// 32 calls at a time.
async fn set_up_idle(
    config: &LoadgenConfig,
    client: &dyn Fn(usize) -> Authed,
) -> anyhow::Result<()> {
    const AT_ONCE: usize = 32;
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..AT_ONCE.min(config.idle_agents) {
        let mut agents = AgentServiceClient::new(client(w));
        let (prefix, n) = (config.agent_prefix.clone(), config.idle_agents);
        workers.spawn(async move {
            for a in (w..n).step_by(AT_ONCE) {
                let id = format!("{prefix}-idle-{a}");
                let spec = pb::AgentSpec {
                    id: id.clone(),
                    skills: vec![pb::Skill {
                        name: "lg-idle".into(),
                        level: 5,
                    }],
                    ..Default::default()
                };
                agents
                    .put_agent(pb::PutAgentRequest { agent: Some(spec) })
                    .await?;
                let ready = pb::AgentStateChange {
                    state: Some(pb::agent_state_change::State::Ready(Default::default())),
                };
                agents
                    .set_agent_state(pb::SetAgentStateRequest {
                        agent_id: id,
                        state: Some(ready),
                    })
                    .await?;
            }
            Ok::<(), tonic::Status>(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done?.map_err(|e| anyhow::anyhow!("creating idle agents: {}", e.message()))?;
    }
    Ok(())
}

/// One wallboard pair: GetSnapshot and ListAgents in tight loops until `until`.
async fn pollers(channel: Authed, shared: Arc<Shared>, until: Instant) {
    let snapshots = {
        let (mut client, shared) = (
            SupervisorServiceClient::new(channel.clone()),
            shared.clone(),
        );
        async move {
            while Instant::now() < until {
                let sent = Instant::now();
                match client.get_snapshot(pb::SnapshotRequest {}).await {
                    Ok(_) => shared.snapshot_polls.lock().record(sent.elapsed()),
                    Err(status) => shared.error(status.code()),
                }
            }
        }
    };
    let lists = {
        let mut client = AgentServiceClient::new(channel);
        async move {
            while Instant::now() < until {
                let sent = Instant::now();
                match client.list_agents(pb::ListAgentsRequest::default()).await {
                    Ok(_) => shared.list_polls.lock().record(sent.elapsed()),
                    Err(status) => shared.error(status.code()),
                }
            }
        }
    };
    tokio::join!(snapshots, lists);
}

/// Removes what the run created (best effort: a queue with contacts left stays).
async fn tear_down(config: &LoadgenConfig, channel: Authed) {
    let mut agents = AgentServiceClient::new(channel.clone());
    for a in 0..config.agents {
        let id = format!("{}-{a}", config.agent_prefix);
        let _ = agents
            .remove_agent(pb::RemoveAgentRequest {
                agent_id: id,
                ..Default::default()
            })
            .await;
    }
    for a in 0..config.idle_agents {
        let id = format!("{}-idle-{a}", config.agent_prefix);
        let _ = agents
            .remove_agent(pb::RemoveAgentRequest {
                agent_id: id,
                ..Default::default()
            })
            .await;
    }
    let _ = QueueServiceClient::new(channel)
        .delete_queue(pb::DeleteQueueRequest {
            name: config.queue.clone(),
        })
        .await;
}

/// A desktop: logs in ready, accepts every offer, completes after the handle time.
async fn desktop(
    agent: String,
    channel: Authed,
    handle_ms: u64,
    shared: Arc<Shared>,
) -> anyhow::Result<mpsc::Sender<pb::SessionRequest>> {
    use pb::session_event::Event as Out;
    use pb::session_request::{Action, Complete, Login, OfferAnswer};
    let (tx, rx) = mpsc::channel(64);
    let login = Action::Login(Login {
        agent_id: agent.clone(),
        ready: true,
    });
    tx.send(pb::SessionRequest {
        request_id: 1,
        action: Some(login),
    })
    .await?;
    let mut inbound = AgentServiceClient::new(channel)
        .agent_session(ReceiverStream::new(rx))
        .await
        .map_err(|e| anyhow::anyhow!("session for {agent}: {}", e.message()))?
        .into_inner();
    let out = tx.clone();
    tokio::spawn(async move {
        let mut request_id = 1;
        let mut next = || {
            request_id += 1;
            request_id
        };
        while let Ok(Some(message)) = inbound.message().await {
            match message.event {
                Some(Out::Offer(offer)) => {
                    let id = offer.contact.map_or(0, |c| c.id);
                    shared.stamp(id, Stamp::Offered(Instant::now()));
                    let accept = Action::Accept(OfferAnswer { contact_id: id });
                    let request = pb::SessionRequest {
                        request_id: next(),
                        action: Some(accept),
                    };
                    if out.send(request).await.is_err() {
                        return;
                    }
                }
                Some(Out::Assigned(contact)) => {
                    let out = out.clone();
                    let shared = shared.clone();
                    let request_id = next();
                    tokio::spawn(async move {
                        if handle_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(handle_ms)).await;
                        }
                        let complete = Action::Complete(Complete {
                            contact_id: contact.id,
                            outcome: None,
                        });
                        let request = pb::SessionRequest {
                            request_id,
                            action: Some(complete),
                        };
                        if out.send(request).await.is_ok() {
                            shared.completed.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
                Some(Out::Error(e)) => shared.error(Code::from_i32(e.code)),
                _ => {}
            }
        }
    });
    Ok(tx)
}

/// The part of a supervisor `Event` the load generator reads: prost skips the other fields
/// without building them, so measuring subscribers costs the machine little beyond the server's
/// own work (a real supervisor decodes everything; it runs elsewhere).
#[derive(Clone, PartialEq, prost::Message)]
struct EventHeader {
    #[prost(uint64, tag = "1")]
    sequence: u64,
    #[prost(uint64, tag = "2")]
    at_ms: u64,
    #[prost(message, optional, tag = "14")]
    lagged: Option<pb::Lagged>,
}

impl Shared {
    /// Records one received event; false if it was a lag notice (the stream ends).
    fn received(&self, event: &EventHeader) -> bool {
        if event.lagged.is_some() {
            self.lagged.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.events.fetch_add(1, Ordering::Relaxed);
        let lag = now_ms().saturating_sub(event.at_ms);
        self.lag_ms.lock().record_value(lag);
        true
    }
}

/// A supervisor following every event live; resubscribes after a lag notice.
async fn subscriber(channel: Authed, shared: Arc<Shared>) {
    let mut client = tonic::client::Grpc::new(channel);
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/routing.v1.SupervisorService/StreamEvents",
    );
    while !shared.stop.load(Ordering::Relaxed) {
        if client.ready().await.is_err() {
            return;
        }
        let request = tonic::Request::new(pb::StreamEventsRequest::default());
        let codec = tonic_prost::ProstCodec::<pb::StreamEventsRequest, EventHeader>::default();
        let Ok(stream) = client.server_streaming(request, path.clone(), codec).await else {
            return;
        };
        let mut stream = stream.into_inner();
        while let Ok(Some(event)) = stream.message().await {
            if !shared.received(&event) {
                break;
            }
        }
    }
}

/// Starts the frontends; each ends at `until`.
fn frontends(
    config: &LoadgenConfig,
    client: &dyn Fn(usize) -> Authed,
    shared: Arc<Shared>,
    until: Instant,
) -> Vec<tokio::task::JoinHandle<()>> {
    let request = {
        let queue = config.queue.clone();
        // Agent n has skills n, n+1, n+2 (mod --skills): only skills some agent has are asked for.
        let skills = config.skills.min(config.agents + 2);
        move |n: u64| pb::EnqueueContactRequest {
            queue: queue.clone(),
            channel: pb::Channel::Voice as i32,
            customer_id: format!("lg-cust-{}", n % 10_000),
            required_skills: vec![pb::Skill {
                name: format!("lg-skill-{}", n as usize % skills),
                level: 1,
            }],
            ..Default::default()
        }
    };
    let counter = Arc::new(AtomicU64::new(0));
    let batch = config.batch;
    let call = move |mut contacts: ContactServiceClient<Authed>,
                     shared: Arc<Shared>,
                     counter: Arc<AtomicU64>| {
        let request = request.clone();
        async move {
            let first = counter.fetch_add(batch as u64, Ordering::Relaxed);
            let sent = Instant::now();
            if batch == 1 {
                match contacts.enqueue_contact(request(first)).await {
                    Ok(reply) => {
                        shared.enqueue.lock().record(sent.elapsed());
                        shared.enqueued.fetch_add(1, Ordering::Relaxed);
                        shared.stamp(reply.into_inner().contact_id, Stamp::Sent(sent));
                    }
                    Err(status) => shared.error(status.code()),
                }
            } else {
                let batch_request = pb::EnqueueContactsRequest {
                    contacts: (first..first + batch as u64).map(request).collect(),
                };
                match contacts.enqueue_contacts(batch_request).await {
                    Ok(reply) => {
                        shared.enqueue.lock().record(sent.elapsed());
                        for result in reply.into_inner().results {
                            match result.result {
                                Some(pb::enqueue_result::Result::Enqueued(e)) => {
                                    shared.enqueued.fetch_add(1, Ordering::Relaxed);
                                    shared.stamp(e.contact_id, Stamp::Sent(sent));
                                }
                                Some(pb::enqueue_result::Result::Refused(r)) => {
                                    shared.error(Code::from_i32(r.code))
                                }
                                None => {}
                            }
                        }
                    }
                    Err(status) => shared.error(status.code()),
                }
            }
        }
    };
    match config.rate {
        None => (0..config.concurrency.max(1))
            .map(|f| {
                let contacts = ContactServiceClient::new(client(f));
                let (shared, counter, call) = (shared.clone(), counter.clone(), call.clone());
                tokio::spawn(async move {
                    while Instant::now() < until {
                        call(contacts.clone(), shared.clone(), counter.clone()).await;
                    }
                })
            })
            .collect(),
        Some(rate) => {
            let contacts = ContactServiceClient::new(client(0));
            let calls_per_s = (rate / batch as f64).max(0.001);
            vec![tokio::spawn(async move {
                let started = Instant::now();
                let mut sent = 0u64;
                let mut in_flight = tokio::task::JoinSet::new();
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                while Instant::now() < until {
                    tick.tick().await;
                    let due = (started.elapsed().as_secs_f64() * calls_per_s) as u64;
                    while sent < due {
                        sent += 1;
                        in_flight.spawn(call(contacts.clone(), shared.clone(), counter.clone()));
                    }
                    while in_flight.try_join_next().is_some() {}
                }
                while in_flight.join_next().await.is_some() {}
            })]
        }
    }
}
