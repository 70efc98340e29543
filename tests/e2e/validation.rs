//! Malformed input gets a clear status and changes nothing.

use routerd::proto as pb;
use tonic::Code;

use crate::common::{TestServer, enqueue_request};

#[tokio::test]
async fn malformed_requests_are_refused_and_change_nothing() {
    let mut s = TestServer::start().await;
    s.put_queue("q", |_| {}).await;
    let before = s.snapshot().await;

    // Unknown queue.
    let e = s
        .contacts
        .enqueue_contact(enqueue_request("nope", pb::Channel::Voice, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("nope"));

    // Unknown and unspecified channel.
    for channel in [0, 99] {
        let mut r = enqueue_request("q", pb::Channel::Voice, &[]);
        r.channel = channel;
        let e = s.contacts.enqueue_contact(r).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "channel {channel}");
        assert!(
            e.message().contains("CHANNEL_VOICE"),
            "values named as the JSON names them: {}",
            e.message()
        );
    }

    // Oversized context.
    let big = "x".repeat(10_000);
    let e = s
        .contacts
        .enqueue_contact(enqueue_request("q", pb::Channel::Voice, &[("notes", &big)]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("context"));

    // Skill levels 0 and 11, on a contact and on an agent.
    for level in [0, 11] {
        let mut r = enqueue_request("q", pb::Channel::Voice, &[]);
        r.required_skills = vec![pb::Skill {
            name: "billing".into(),
            level,
        }];
        let e = s.contacts.enqueue_contact(r).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "level {level}");
        let e = s
            .agents
            .put_agent(pb::PutAgentRequest {
                agent: Some(pb::AgentSpec {
                    id: "x".into(),
                    skills: vec![pb::Skill {
                        name: "billing".into(),
                        level,
                    }],
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "level {level}");
    }

    // Empty ids.
    let e = s
        .agents
        .put_agent(pb::PutAgentRequest {
            agent: Some(pb::AgentSpec::default()),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = s
        .queues
        .put_queue(pb::PutQueueRequest {
            queue: Some(pb::Queue::default()),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = s
        .contacts
        .accept_offer(pb::OfferAnswerRequest {
            contact_id: 1,
            agent_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // Unknown strategy, unknown agent, unknown contact, missing oneof.
    let e = s
        .queues
        .put_queue(pb::PutQueueRequest {
            queue: Some(pb::Queue {
                name: "q2".into(),
                strategy: "coin-flip".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = s
        .agents
        .set_agent_state(pb::SetAgentStateRequest {
            agent_id: "ghost".into(),
            state: Some(pb::AgentStateChange {
                state: Some(pb::agent_state_change::State::Ready(Default::default())),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = s
        .agents
        .set_agent_state(pb::SetAgentStateRequest {
            agent_id: "ghost".into(),
            state: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = s
        .contacts
        .get_contact(pb::GetContactRequest { contact_id: 12345 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Nothing changed: no event published, no agent, no contact, no new queue.
    let after = s.snapshot().await;
    assert_eq!(after.last_sequence, before.last_sequence);
    assert_eq!(after.queues, before.queues);
    let agents = s
        .agents
        .list_agents(pb::ListAgentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(agents.agents.is_empty());
}

#[tokio::test]
async fn a_full_queue_refuses_with_resource_exhausted() {
    let mut s = TestServer::start().await;
    s.put_queue("small", |q| q.max_length = 1).await;
    s.enqueue("small", pb::Channel::Voice, &[]).await;
    let e = s
        .contacts
        .enqueue_contact(enqueue_request("small", pb::Channel::Voice, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("max_length"));
    let stats = s.queue_stats("small").await;
    assert_eq!((stats.waiting, stats.refused), (1, 1));
}

#[tokio::test]
async fn a_request_over_the_message_limit_is_resource_exhausted_naming_the_limit() {
    let mut config = crate::common::config();
    config.limits.max_message_bytes = 2_048;
    let mut s = TestServer::start_with(config).await;
    let before = s.snapshot().await;
    let big = "x".repeat(4_000);
    let e = s
        .contacts
        .enqueue_contact(enqueue_request(
            "general",
            pb::Channel::Voice,
            &[("n", &big)],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("limits.max_message_bytes"), "{e:?}");
    assert_eq!(s.snapshot().await.last_sequence, before.last_sequence);

    // The same on a desktop session's stream.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::SessionRequest {
        request_id: 1,
        action: Some(pb::session_request::Action::Login(
            pb::session_request::Login {
                agent_id: big.clone(),
                ready: true,
            },
        )),
    })
    .await
    .unwrap();
    let e = s
        .agents
        .agent_session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("limits.max_message_bytes"), "{e:?}");
    // A request under the limit still works.
    s.enqueue("general", pb::Channel::Voice, &[]).await;
}

#[tokio::test]
async fn a_batch_enqueue_answers_each_contact_on_its_own() {
    let mut s = TestServer::start().await;
    s.put_queue("q", |_| {}).await;
    let mut bad_channel = enqueue_request("q", pb::Channel::Voice, &[]);
    bad_channel.channel = 0;
    let batch = vec![
        enqueue_request("q", pb::Channel::Voice, &[]),
        enqueue_request("nope", pb::Channel::Voice, &[]),
        bad_channel,
        enqueue_request("q", pb::Channel::Chat, &[]),
    ];
    let results = s
        .contacts
        .enqueue_contacts(pb::EnqueueContactsRequest { contacts: batch })
        .await
        .unwrap()
        .into_inner()
        .results;
    use pb::enqueue_result::Result as R;
    let codes: Vec<Option<i32>> = results
        .iter()
        .map(|r| match r.result.as_ref().unwrap() {
            R::Enqueued(_) => None,
            R::Refused(refusal) => Some(refusal.code),
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            None,
            Some(Code::NotFound as i32),
            Some(Code::InvalidArgument as i32),
            None
        ]
    );
    let ids: Vec<u64> = results
        .iter()
        .filter_map(|r| match r.result.as_ref().unwrap() {
            R::Enqueued(e) => Some(e.contact_id),
            R::Refused(_) => None,
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1], "routed in order");
    for id in ids {
        assert_eq!(s.contact(id).await.state, pb::ContactState::Waiting as i32);
    }
    for size in [0, 1_001] {
        let contacts = vec![enqueue_request("q", pb::Channel::Voice, &[]); size];
        let e = s
            .contacts
            .enqueue_contacts(pb::EnqueueContactsRequest { contacts })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "batch of {size}");
    }
}
