//! The supervisor stream: order, filters, resume; and the health service.

use routerd::proto as pb;

use crate::common::{TestServer, end_of, next_event};

async fn busy_floor(s: &mut TestServer) -> u64 {
    s.put_queue("q1", |_| {}).await;
    s.put_queue("q2", |_| {}).await;
    s.put_agent("a", &[]).await;
    s.set_ready("a").await;
    let c = s.enqueue("q1", pb::Channel::Voice, &[]).await;
    s.enqueue("q2", pb::Channel::Voice, &[]).await;
    s.contacts
        .accept_offer(pb::OfferAnswerRequest {
            contact_id: c.contact_id,
            agent_id: "a".into(),
        })
        .await
        .unwrap();
    s.contacts
        .complete_contact(pb::CompleteContactRequest {
            contact_id: c.contact_id,
            agent_id: "a".into(),
            outcome: None,
        })
        .await
        .unwrap();
    c.contact_id
}

#[tokio::test]
async fn events_arrive_in_sequence_and_resume_from_a_sequence_number() {
    let mut s = TestServer::start().await;
    let first_contact = busy_floor(&mut s).await;
    let last = s.snapshot().await.last_sequence;
    assert!(
        last >= 10,
        "queue, agent, state, queued, decision... got {last}"
    );

    // Replay everything from 1: gap-free and in order.
    let mut all = s
        .events(pb::StreamEventsRequest {
            from_sequence: 1,
            ..Default::default()
        })
        .await;
    let mut seen = Vec::new();
    for expected in 1..=last {
        let e = next_event(&mut all).await;
        assert_eq!(e.sequence, expected);
        seen.push(e);
    }
    let kinds: Vec<i32> = seen.iter().map(|e| e.kind).collect();
    let pos = |k: pb::EventKind, c: u64| {
        seen.iter()
            .position(|e| e.kind == k as i32 && e.contact_id == c)
            .unwrap_or_else(|| panic!("{k:?} for contact {c} in {kinds:?}"))
    };
    assert!(
        pos(pb::EventKind::ContactQueued, first_contact)
            < pos(pb::EventKind::Decision, first_contact)
    );
    assert!(
        pos(pb::EventKind::Decision, first_contact)
            < pos(pb::EventKind::OfferAccepted, first_contact)
    );
    assert!(
        pos(pb::EventKind::OfferAccepted, first_contact)
            < pos(pb::EventKind::ContactCompleted, first_contact)
    );
    // The decision explains itself.
    let decision = &seen[pos(pb::EventKind::Decision, first_contact)];
    let Some(pb::event::Detail::Decision(d)) = &decision.detail else {
        panic!("decision detail")
    };
    assert_eq!(d.agent_id, "a");
    assert_eq!(d.strategy, "longest-idle/priority-fifo");
    assert_eq!(d.strategy_version, 1);
    assert_eq!(d.side, pb::DecisionSide::AgentChosen as i32);
    assert_eq!(d.trigger, pb::Trigger::ContactArrived as i32);
    assert_eq!(d.candidates.len(), 1);
    assert_eq!(d.candidates[0].agent_id, "a");
    assert_eq!(d.candidates[0].contact_id, first_contact);
    let terms: Vec<(&str, f64)> = d.candidates[0]
        .terms
        .iter()
        .map(|t| (t.name.as_str(), t.weight))
        .collect();
    assert_eq!(terms, vec![("idle", 1.0)]);
    assert!(d.excluded.is_some());

    // Live events continue on the same stream after the replay.
    s.enqueue("q1", pb::Channel::Email, &[]).await;
    let live = next_event(&mut all).await;
    assert_eq!(live.sequence, last + 1);

    // Resume from the middle: the same events again, from there on.
    let from = last / 2;
    let mut resumed = s
        .events(pb::StreamEventsRequest {
            from_sequence: from,
            ..Default::default()
        })
        .await;
    for expected in seen.iter().skip(from as usize - 1) {
        assert_eq!(&next_event(&mut resumed).await, expected);
    }

    // A sequence number not yet published is refused.
    let ahead = s
        .supervisor
        .stream_events(pb::StreamEventsRequest {
            from_sequence: last + 100,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(ahead.code(), tonic::Code::OutOfRange);
}

#[tokio::test]
async fn filters_select_queue_agent_and_kind() {
    let mut s = TestServer::start().await;
    busy_floor(&mut s).await;
    let last = s.snapshot().await.last_sequence;
    let mut only_q2 = s
        .events(pb::StreamEventsRequest {
            from_sequence: 1,
            queues: vec!["q2".into()],
            kinds: vec![
                pb::EventKind::Decision as i32,
                pb::EventKind::ContactQueued as i32,
            ],
            ..Default::default()
        })
        .await;
    // q2's contact was queued, then offered to `a` when `a` freed up.
    let queued = next_event(&mut only_q2).await;
    assert_eq!(queued.kind, pb::EventKind::ContactQueued as i32);
    assert_eq!(queued.queue, "q2");
    let decided = next_event(&mut only_q2).await;
    assert_eq!(decided.kind, pb::EventKind::Decision as i32);
    assert_eq!(decided.queue, "q2");
    let Some(pb::event::Detail::Decision(d)) = decided.detail else {
        panic!()
    };
    assert_eq!(d.trigger, pb::Trigger::CapacityFreed as i32);
    assert!(decided.sequence <= last);

    let bad = s
        .supervisor
        .stream_events(pb::StreamEventsRequest {
            kinds: vec![999],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn a_slow_subscriber_is_told_it_lagged_and_where_to_resume() {
    let mut config = crate::common::config();
    config.limits.subscriber_buffer = 4;
    let mut s = TestServer::start_with(config).await;
    s.put_queue("q", |_| {}).await;
    // Subscribe, and do not read while the server publishes far more than the HTTP/2 windows
    // (2 MiB a stream by default) and the buffers hold: agent updates of ~1 KiB each.
    // Its own connection, so the unread stream's flow control never holds up the unary calls.
    let mut slow =
        routerd::proto::supervisor_service_client::SupervisorServiceClient::new(s.channel().await);
    let mut stream = slow
        .stream_events(pb::StreamEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let skills: Vec<(String, u32)> = (0..60).map(|i| (format!("skill-{i:02}"), 5)).collect();
    let skills: Vec<(&str, u32)> = skills.iter().map(|(n, l)| (n.as_str(), *l)).collect();
    for _ in 0..4_000 {
        s.put_agent("busy", &skills).await;
    }
    let lagged = loop {
        let e = next_event(&mut stream).await;
        if let Some(pb::event::Detail::Lagged(l)) = e.detail {
            break l;
        }
    };
    assert!(lagged.resume_from >= 1);
    assert!(
        end_of(&mut stream).await.is_none(),
        "the stream ends cleanly"
    );
    // Resuming from the named sequence works (the replay buffer still holds it).
    let mut resumed = s
        .events(pb::StreamEventsRequest {
            from_sequence: lagged.resume_from,
            ..Default::default()
        })
        .await;
    assert_eq!(next_event(&mut resumed).await.sequence, lagged.resume_from);
}

#[tokio::test]
async fn supervisor_streams_past_the_limit_are_refused() {
    let mut config = crate::common::config();
    config.limits.max_subscribers = 2;
    let mut s = TestServer::start_with(config).await;
    let first = s.events(pb::StreamEventsRequest::default()).await;
    let _second = s.events(pb::StreamEventsRequest::default()).await;
    let e = s
        .supervisor
        .stream_events(pb::StreamEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    assert!(e.message().contains("max_subscribers"));
    // A closed stream gives its place back (its task notices the client left).
    drop(first);
    let deadline = tokio::time::Instant::now() + crate::common::PATIENCE;
    loop {
        match s
            .supervisor
            .stream_events(pb::StreamEventsRequest::default())
            .await
        {
            Ok(_) => break,
            Err(e) if e.code() == tonic::Code::ResourceExhausted => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the place was never freed"
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn health_reports_serving() {
    let s = TestServer::start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(s.channel().await);
    let reply = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "routing.v1.ContactService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}
