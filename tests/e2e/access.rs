//! Access control: bearer tokens and roles, through the real stack.

use routerd::access::{Role, TokenConfig};
use routerd::config::Config;
use routerd::proto as pb;
use routerd::proto::agent_service_client::AgentServiceClient;
use routerd::proto::contact_service_client::ContactServiceClient;
use routerd::proto::queue_service_client::QueueServiceClient;
use routerd::proto::supervisor_service_client::SupervisorServiceClient;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::common::{TestServer, enqueue_request};

const ADMIN: &str = "admin-token-0123456789";
const FRONTEND: &str = "frontend-token-0123456";
const SUPERVISOR: &str = "supervisor-token-01234";
const ALICE: &str = "alice-token-0123456789";

fn token(token: &str, role: Role, agent: Option<&str>) -> TokenConfig {
    TokenConfig {
        token: token.into(),
        role,
        agent_id: agent.map(str::to_string),
    }
}

type Bearer = Box<dyn FnMut(Request<()>) -> Result<Request<()>, Status> + Send + Sync>;

fn bearer(token: &str) -> Bearer {
    let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    Box::new(move |mut r: Request<()>| {
        r.metadata_mut().insert("authorization", value.clone());
        Ok(r)
    })
}

async fn secured() -> (TestServer, Channel) {
    let config = Config {
        tokens: vec![
            token(ADMIN, Role::Admin, None),
            token(FRONTEND, Role::Frontend, None),
            token(SUPERVISOR, Role::Supervisor, None),
            token(ALICE, Role::Agent, Some("alice")),
        ],
        ..crate::common::config()
    };
    let s = TestServer::start_with(config).await;
    let channel = s.channel().await;
    (s, channel)
}

fn with(channel: &Channel, token: &str) -> InterceptedService<Channel, Bearer> {
    InterceptedService::new(channel.clone(), bearer(token))
}

#[tokio::test]
async fn missing_or_unknown_tokens_are_unauthenticated() {
    let (mut s, channel) = secured().await;
    let e = s
        .queues
        .list_queues(pb::ListQueuesRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let mut stranger = QueueServiceClient::new(with(&channel, "not-a-token-at-all-x"));
    let e = stranger
        .list_queues(pb::ListQueuesRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // Health stays open for load balancers.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health needs no token");
}

#[tokio::test]
async fn each_role_does_its_own_work_only() {
    let (_s, channel) = secured().await;
    let mut admin_queues = QueueServiceClient::new(with(&channel, ADMIN));
    admin_queues
        .put_queue(pb::PutQueueRequest {
            queue: Some(pb::Queue {
                name: "sales".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("admin creates queues");
    let mut admin_agents = AgentServiceClient::new(with(&channel, ADMIN));
    for id in ["alice", "bob"] {
        admin_agents
            .put_agent(pb::PutAgentRequest {
                agent: Some(pb::AgentSpec {
                    id: id.into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
    }

    // A frontend enqueues but may not administer.
    let mut frontend_queues = QueueServiceClient::new(with(&channel, FRONTEND));
    let e = frontend_queues
        .delete_queue(pb::DeleteQueueRequest {
            name: "sales".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut frontend = ContactServiceClient::new(with(&channel, FRONTEND));
    let contact = frontend
        .enqueue_contact(enqueue_request("sales", pb::Channel::Voice, &[]))
        .await
        .expect("frontend enqueues")
        .into_inner()
        .contact_id;

    // A supervisor watches but may not enqueue.
    let mut supervisor = SupervisorServiceClient::new(with(&channel, SUPERVISOR));
    supervisor
        .get_snapshot(pb::SnapshotRequest {})
        .await
        .expect("supervisor reads the snapshot");
    let mut supervisor_contacts = ContactServiceClient::new(with(&channel, SUPERVISOR));
    let e = supervisor_contacts
        .enqueue_contact(enqueue_request("sales", pb::Channel::Voice, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // It may change a waiting contact (raise a caller's priority); an agent may not.
    let raise = pb::UpdateContactRequest {
        contact_id: contact,
        priority: Some(9),
        ..Default::default()
    };
    let e = ContactServiceClient::new(with(&channel, ALICE))
        .update_contact(raise.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let updated = supervisor_contacts
        .update_contact(raise)
        .await
        .expect("a supervisor raises a waiting contact's priority")
        .into_inner()
        .contact
        .unwrap();
    assert_eq!(updated.priority, 9);
    let mut frontend_supervisor = SupervisorServiceClient::new(with(&channel, FRONTEND));
    let e = frontend_supervisor
        .get_snapshot(pb::SnapshotRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // The event stream and the batch enqueue keep to the same roles.
    let request = pb::StreamEventsRequest {
        from_sequence: 1,
        ..Default::default()
    };
    supervisor
        .stream_events(request.clone())
        .await
        .expect("a supervisor streams events");
    let e = frontend_supervisor
        .stream_events(request.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = SupervisorServiceClient::new(channel.clone())
        .stream_events(request)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let batch = pb::EnqueueContactsRequest {
        contacts: vec![enqueue_request("sales", pb::Channel::Chat, &[])],
    };
    let e = supervisor_contacts
        .enqueue_contacts(batch.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    frontend
        .enqueue_contacts(batch)
        .await
        .expect("a frontend enqueues batches");

    // An agent token acts only as its own agent.
    let mut alice = AgentServiceClient::new(with(&channel, ALICE));
    alice
        .set_agent_state(pb::SetAgentStateRequest {
            agent_id: "alice".into(),
            state: Some(pb::AgentStateChange {
                state: Some(pb::agent_state_change::State::Ready(Default::default())),
            }),
        })
        .await
        .expect("alice sets herself ready");
    let e = alice
        .set_agent_state(pb::SetAgentStateRequest {
            agent_id: "bob".into(),
            state: Some(pb::AgentStateChange {
                state: Some(pb::agent_state_change::State::Ready(Default::default())),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut alice_contacts = ContactServiceClient::new(with(&channel, ALICE));
    let e = alice_contacts
        .accept_offer(pb::OfferAnswerRequest {
            contact_id: contact,
            agent_id: "bob".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    alice_contacts
        .accept_offer(pb::OfferAnswerRequest {
            contact_id: contact,
            agent_id: "alice".into(),
        })
        .await
        .expect("alice accepts her own offer");

    // Her token opens her session, not bob's.
    for (agent, ok) in [("bob", false), ("alice", true)] {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(pb::SessionRequest {
            request_id: 1,
            action: Some(pb::session_request::Action::Login(
                pb::session_request::Login {
                    agent_id: agent.into(),
                    ready: false,
                },
            )),
        })
        .await
        .unwrap();
        let result = alice.agent_session(ReceiverStream::new(rx)).await;
        match (ok, result) {
            (true, Ok(_)) => {}
            (false, Err(e)) => assert_eq!(e.code(), Code::PermissionDenied),
            (ok, r) => panic!("session for {agent}: expected ok={ok}, got {:?}", r.err()),
        }
    }
}
