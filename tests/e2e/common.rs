//! A real routerd server on 127.0.0.1:0 and tonic clients for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::Channel;

use routerd::config::Config;
use routerd::proto as pb;
use routerd::proto::agent_service_client::AgentServiceClient;
use routerd::proto::contact_service_client::ContactServiceClient;
use routerd::proto::queue_service_client::QueueServiceClient;
use routerd::proto::supervisor_service_client::SupervisorServiceClient;

/// Long enough for a loaded CI machine; only guards against a hung test, never measures speed.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct TestServer {
    pub addr: SocketAddr,
    /// The HTTP listener (wallboard, metrics, JSON API).
    pub http: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    pub queues: QueueServiceClient<Channel>,
    pub agents: AgentServiceClient<Channel>,
    pub contacts: ContactServiceClient<Channel>,
    pub supervisor: SupervisorServiceClient<Channel>,
}

/// The embedded defaults, memory-only (tests that journal give their own directory).
pub fn config() -> Config {
    let mut config = Config::default();
    config.journal.ephemeral = true;
    config
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(config()).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_addr = http.local_addr().unwrap();
        let listeners = routerd::app::Listeners {
            grpc: listener,
            http: Some(http),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            routerd::app::serve(&config, listeners, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        TestServer {
            addr,
            http: http_addr,
            stop: Some(stop),
            server: Some(server),
            queues: QueueServiceClient::new(channel.clone()),
            agents: AgentServiceClient::new(channel.clone()),
            contacts: ContactServiceClient::new(channel.clone()),
            supervisor: SupervisorServiceClient::new(channel),
        }
    }

    /// Asks the server to shut down gracefully and waits until it has stopped.
    pub async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(PATIENCE, server)
                .await
                .expect("the server stops in time")
                .expect("the server task ends cleanly");
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn put_queue(&mut self, name: &str, edit: impl FnOnce(&mut pb::Queue)) {
        let mut q = pb::Queue {
            name: name.into(),
            ..Default::default()
        };
        edit(&mut q);
        self.queues
            .put_queue(pb::PutQueueRequest { queue: Some(q) })
            .await
            .expect("put queue");
    }

    pub async fn put_agent(&mut self, id: &str, skills: &[(&str, u32)]) {
        let spec = pb::AgentSpec {
            id: id.into(),
            name: format!("Agent {id}"),
            skills: skills
                .iter()
                .map(|(n, l)| pb::Skill {
                    name: n.to_string(),
                    level: *l,
                })
                .collect(),
            ..Default::default()
        };
        self.agents
            .put_agent(pb::PutAgentRequest { agent: Some(spec) })
            .await
            .expect("put agent");
    }

    pub async fn set_ready(&mut self, id: &str) {
        self.set_state(id, pb::agent_state_change::State::Ready(Default::default()))
            .await;
    }

    pub async fn set_state(&mut self, id: &str, state: pb::agent_state_change::State) {
        self.agents
            .set_agent_state(pb::SetAgentStateRequest {
                agent_id: id.into(),
                state: Some(pb::AgentStateChange { state: Some(state) }),
            })
            .await
            .expect("set state");
    }

    pub async fn enqueue(
        &mut self,
        queue: &str,
        channel: pb::Channel,
        context: &[(&str, &str)],
    ) -> pb::EnqueueContactResponse {
        self.contacts
            .enqueue_contact(enqueue_request(queue, channel, context))
            .await
            .expect("enqueue")
            .into_inner()
    }

    pub async fn contact(&mut self, id: u64) -> pb::Contact {
        self.contacts
            .get_contact(pb::GetContactRequest { contact_id: id })
            .await
            .expect("get contact")
            .into_inner()
    }

    pub async fn snapshot(&mut self) -> pb::SnapshotResponse {
        self.supervisor
            .get_snapshot(pb::SnapshotRequest {})
            .await
            .expect("snapshot")
            .into_inner()
    }

    pub async fn queue_stats(&mut self, name: &str) -> pb::QueueStats {
        self.snapshot()
            .await
            .queues
            .into_iter()
            .find(|q| q.queue == name)
            .expect("queue in snapshot")
    }

    /// Opens a desktop session and logs in; gives the sender and the server's stream.
    pub async fn session(&self, agent: &str, ready: bool) -> Session {
        open_session(self.channel().await, agent, ready).await
    }

    pub async fn events(&mut self, request: pb::StreamEventsRequest) -> Streaming<pb::Event> {
        self.supervisor
            .stream_events(request)
            .await
            .expect("stream")
            .into_inner()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn enqueue_request(
    queue: &str,
    channel: pb::Channel,
    context: &[(&str, &str)],
) -> pb::EnqueueContactRequest {
    pb::EnqueueContactRequest {
        queue: queue.into(),
        channel: channel as i32,
        customer_id: "cust-1".into(),
        context: context
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
        ..Default::default()
    }
}

/// Opens a desktop session on `channel` and logs `agent` in.
pub async fn open_session(channel: Channel, agent: &str, ready: bool) -> Session {
    let (tx, rx) = mpsc::channel(16);
    tx.send(pb::SessionRequest {
        request_id: 1,
        action: Some(pb::session_request::Action::Login(
            pb::session_request::Login {
                agent_id: agent.into(),
                ready,
            },
        )),
    })
    .await
    .unwrap();
    let inbound = AgentServiceClient::new(channel)
        .agent_session(ReceiverStream::new(rx))
        .await
        .expect("session opens")
        .into_inner();
    Session {
        tx,
        inbound,
        next_request: 2,
    }
}

pub struct Session {
    pub tx: mpsc::Sender<pb::SessionRequest>,
    pub inbound: Streaming<pb::SessionEvent>,
    next_request: u64,
}

impl Session {
    pub async fn next(&mut self) -> pb::session_event::Event {
        let message = tokio::time::timeout(PATIENCE, self.inbound.message())
            .await
            .expect("a session event in time")
            .expect("stream ok")
            .expect("stream open");
        message.event.expect("event set")
    }

    /// Skips events until one matches.
    pub async fn until<T>(
        &mut self,
        mut pick: impl FnMut(pb::session_event::Event) -> Option<T>,
    ) -> T {
        loop {
            if let Some(t) = pick(self.next().await) {
                return t;
            }
        }
    }

    pub async fn send(&mut self, action: pb::session_request::Action) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        self.tx
            .send(pb::SessionRequest {
                request_id: id,
                action: Some(action),
            })
            .await
            .unwrap();
        id
    }

    /// Sends a request and waits for its ack (panics on its error).
    pub async fn request(&mut self, action: pb::session_request::Action) {
        let id = self.send(action).await;
        self.until(|e| match e {
            pb::session_event::Event::Ack(a) if a.request_id == id => Some(()),
            pb::session_event::Event::Error(e) if e.request_id == id => {
                panic!("request {id} failed: {}", e.message)
            }
            _ => None,
        })
        .await
    }
}

/// Reads the next supervisor event, with patience.
pub async fn next_event(stream: &mut Streaming<pb::Event>) -> pb::Event {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("an event in time")
        .expect("stream ok")
        .expect("stream open")
}

/// Reads supervisor events until one matches.
pub async fn event_until(
    stream: &mut Streaming<pb::Event>,
    mut pick: impl FnMut(&pb::Event) -> bool,
) -> pb::Event {
    loop {
        let e = next_event(stream).await;
        if pick(&e) {
            return e;
        }
    }
}

/// Reads a stream to its end; gives the status it ended with, or `None` if it ended cleanly.
pub async fn end_of<T>(stream: &mut Streaming<T>) -> Option<tonic::Status> {
    loop {
        match tokio::time::timeout(PATIENCE, stream.message())
            .await
            .expect("the stream ends in time")
        {
            Ok(Some(_)) => continue,
            Ok(None) => return None,
            Err(status) => return Some(status),
        }
    }
}

/// A desktop that answers on its own: the n-th message from the server, if an offer, is accepted
/// when `accept(n)`; if an assignment, completed when `complete(n)`. Ends with the session.
pub fn auto_answer(
    mut session: Session,
    accept: fn(usize) -> bool,
    complete: fn(usize) -> bool,
) -> tokio::task::JoinHandle<()> {
    use pb::session_event::Event as Out;
    use pb::session_request::{Action, Complete, OfferAnswer};
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok(Some(message)) = session.inbound.message().await {
            match message.event {
                Some(Out::Offer(offer)) if accept(n) => {
                    let id = offer.contact.map_or(0, |c| c.id);
                    session
                        .send(Action::Accept(OfferAnswer { contact_id: id }))
                        .await;
                }
                Some(Out::Assigned(contact)) if complete(n) => {
                    session
                        .send(Action::Complete(Complete {
                            contact_id: contact.id,
                            outcome: None,
                        }))
                        .await;
                }
                _ => {}
            }
            n += 1;
        }
    })
}
