//! Routing strategies over gRPC: omnichannel affinity end to end, and run-time strategy changes.

use std::time::Duration;

use routerd::proto as pb;
use routerd::proto::session_event::Event as Out;
use routerd::proto::session_request::{Action, Complete, OfferAnswer};

use crate::common::{Session, TestServer, enqueue_request};

async fn enqueue_for(s: &mut TestServer, customer: &str, channel: pb::Channel) -> u64 {
    let mut request = enqueue_request("support", channel, &[]);
    request.customer_id = customer.into();
    s.contacts
        .enqueue_contact(request)
        .await
        .expect("enqueue")
        .into_inner()
        .contact_id
}

async fn next_offer(session: &mut Session) -> pb::Offer {
    session
        .until(|e| match e {
            Out::Offer(o) => Some(o),
            _ => None,
        })
        .await
}

async fn accept(session: &mut Session, contact_id: u64) {
    session
        .request(Action::Accept(OfferAnswer { contact_id }))
        .await;
}

/// A customer's chat is accepted by one of two agents; the same customer then calls. Returns
/// the server, both sessions (the chat's agent first), the chat, the call and the chat's agent.
async fn customer_chats_then_calls(
    affinity_wait: u32,
) -> (TestServer, Session, Session, u64, u64, String) {
    let mut s = TestServer::start().await;
    s.put_queue("support", |q| q.affinity_wait_seconds = affinity_wait)
        .await;
    s.put_agent("alice", &[]).await;
    s.put_agent("bob", &[]).await;
    let alice = s.session("alice", true).await;
    let bob = s.session("bob", true).await;
    let chat = enqueue_for(&mut s, "cust-7", pb::Channel::Chat).await;
    let chat_agent = s.contact(chat).await.agent_id;
    let (mut holder, other) = if chat_agent == "alice" {
        (alice, bob)
    } else {
        (bob, alice)
    };
    let offer = next_offer(&mut holder).await;
    assert_eq!(offer.contact.unwrap().id, chat);
    accept(&mut holder, chat).await;
    // The chat's agent has no room for a call; the other agent is free.
    let call = enqueue_for(&mut s, "cust-7", pb::Channel::Voice).await;
    (s, holder, other, chat, call, chat_agent)
}

#[tokio::test]
async fn a_customers_call_reaches_the_agent_who_has_their_chat_when_free_in_time() {
    let (mut s, mut holder, _other, chat, call, chat_agent) = customer_chats_then_calls(30).await;
    let waiting = s.contact(call).await;
    assert_eq!(
        waiting.state,
        pb::ContactState::Waiting as i32,
        "the call waits for its agent although another is free"
    );
    assert!(waiting.preference_recalled, "recalled, not named");
    assert_eq!(waiting.preferred_agents.len(), 1);
    assert_eq!(waiting.preferred_agents[0].agent_id, chat_agent);
    assert!(waiting.preferred_until_ms > waiting.enqueued_at_ms);
    holder
        .request(Action::Complete(Complete {
            contact_id: chat,
            outcome: Some(pb::Outcome {
                handle_seconds: 0,
                resolved: true,
                satisfaction: 4,
            }),
        }))
        .await;
    let offer = next_offer(&mut holder).await;
    assert_eq!(offer.contact.unwrap().id, call);
    // The agent sees the customer's earlier contact with the offer.
    assert_eq!(offer.history.len(), 1);
    let earlier = &offer.history[0];
    assert_eq!(earlier.contact_id, chat);
    assert_eq!(earlier.channel, pb::Channel::Chat as i32);
    assert_eq!(earlier.agent_id, chat_agent);
    assert_eq!(earlier.outcome, "resolved");
    assert_eq!(s.contact(call).await.agent_id, chat_agent);
}

#[tokio::test]
async fn a_customers_call_goes_to_someone_else_when_their_agent_stays_busy() {
    let (mut s, _holder, mut other, _chat, call, chat_agent) = customer_chats_then_calls(1).await;
    assert_eq!(
        s.contact(call).await.state,
        pb::ContactState::Waiting as i32
    );
    // The chat's agent stays on the chat past the one-second affinity wait.
    let offer = tokio::time::timeout(Duration::from_secs(5), next_offer(&mut other))
        .await
        .expect("offered to the other agent after the affinity wait");
    assert_eq!(offer.contact.unwrap().id, call);
    let holder = s.contact(call).await.agent_id;
    assert_ne!(holder, chat_agent);
}

#[tokio::test]
async fn a_strategy_changes_at_run_time_and_bad_strategies_are_refused() {
    let mut s = TestServer::start().await;
    s.put_queue("support", |_| {}).await;
    let waiting = enqueue_for(&mut s, "cust-1", pb::Channel::Voice).await;
    let updated = s
        .queues
        .put_queue(pb::PutQueueRequest {
            queue: Some(pb::Queue {
                name: "support".into(),
                strategy: "performance".into(),
                contact_strategy: "service-level".into(),
                agent_weights: vec![pb::Weight {
                    term: "idle".into(),
                    weight: 0.01,
                }],
                ..Default::default()
            }),
        })
        .await
        .expect("strategy change")
        .into_inner();
    let queue = updated.queue.unwrap();
    assert_eq!((updated.created, queue.version), (false, 2));
    assert_eq!(queue.contact_strategy, "service-level");
    assert_eq!(
        s.contact(waiting).await.state,
        pb::ContactState::Waiting as i32,
        "waiting contacts stay"
    );
    for bad in [
        pb::Queue {
            strategy: "coin-flip".into(),
            ..Default::default()
        },
        pb::Queue {
            contact_strategy: "lottery".into(),
            ..Default::default()
        },
        pb::Queue {
            agent_weights: vec![pb::Weight {
                term: "charm".into(),
                weight: 1.0,
            }],
            ..Default::default()
        },
        pb::Queue {
            window: 1_000,
            ..Default::default()
        },
        pb::Queue {
            relaxation: vec![pb::RelaxStep {
                after_seconds: 10,
                action: None,
            }],
            ..Default::default()
        },
    ] {
        let queue = pb::Queue {
            name: "support".into(),
            ..bad
        };
        let status = s
            .queues
            .put_queue(pb::PutQueueRequest { queue: Some(queue) })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }
    s.put_agent("alice", &[]).await;
    s.set_ready("alice").await;
    // The version in force names the decision's strategy.
    assert_eq!(s.contact(waiting).await.agent_id, "alice");
}

/// A queue whose contacts may also go to a second pool (an alternative requirement set): the
/// call reaches the overflow agent, the decision names the alternative, the contact shows it,
/// and an empty alternative is refused.
#[tokio::test]
async fn a_call_reaches_the_second_pool_and_the_decision_says_so() {
    let mut s = TestServer::start().await;
    let skill = |name: &str, level: u32| pb::Skill {
        name: name.into(),
        level,
    };
    s.put_queue("billing", |q| {
        q.required_skills = vec![skill("billing", 5)];
        q.alternatives = vec![pb::SkillSet {
            skills: vec![skill("overflow", 1)],
        }];
    })
    .await;
    s.put_agent("overflow", &[("overflow", 2)]).await;
    s.set_ready("overflow").await;
    let mut events = s
        .events(pb::StreamEventsRequest {
            from_sequence: 1,
            ..Default::default()
        })
        .await;
    let id = s
        .enqueue("billing", pb::Channel::Voice, &[])
        .await
        .contact_id;
    let decision = crate::common::event_until(
        &mut events,
        |e| matches!(&e.detail, Some(pb::event::Detail::Decision(d)) if d.contact_id == id),
    )
    .await;
    let Some(pb::event::Detail::Decision(d)) = decision.detail else {
        unreachable!()
    };
    assert_eq!((d.agent_id.as_str(), d.alternative), ("overflow", 1));
    let contact = s.contact(id).await;
    assert_eq!(contact.alternatives.len(), 1);
    assert_eq!(contact.alternatives[0].skills, vec![skill("overflow", 1)]);
    let mut bad = enqueue_request("billing", pb::Channel::Voice, &[]);
    bad.alternatives = vec![pb::SkillSet { skills: vec![] }];
    let err = s.contacts.enqueue_contact(bad).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
}

/// Agent reservation over gRPC: `vip` (service-level) keeps its last two idle agents while
/// `std` is ahead of its target; a `std` call goes to the agent vip cannot use (the decision
/// counts the two held back), the next one waits until 3/4 of std's 4 s threshold and is then
/// released to a vip agent.
#[tokio::test]
async fn a_queue_at_risk_keeps_idle_agents_and_the_held_call_is_released_in_time() {
    let mut s = TestServer::start().await;
    s.put_queue("vip", |q| {
        q.contact_strategy = "service-level".into();
        q.required_skills = vec![pb::Skill {
            name: "vip".into(),
            level: 1,
        }];
        q.sl_threshold_seconds = 10;
        q.sl_target_percent = 90.0;
    })
    .await;
    s.put_queue("std", |q| {
        q.sl_threshold_seconds = 4;
        q.sl_target_percent = 80.0;
    })
    .await;
    // Ten std calls answered at once: std is well ahead of its target.
    s.put_agent("w", &[]).await;
    let desk = s.session("w", true).await;
    let answering = crate::common::auto_answer(desk, |_| true, |_| true);
    for _ in 0..10 {
        s.enqueue("std", pb::Channel::Voice, &[]).await;
    }
    let deadline = tokio::time::Instant::now() + crate::common::PATIENCE;
    while s.queue_stats("std").await.completed < 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "std calls completed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    answering.abort();
    let _ = answering.await;
    // std is ahead of its target (pressure 0.5), vip has no data (1): supervisors see both.
    assert!((s.queue_stats("std").await.pressure - 0.5).abs() < 1e-9);
    assert_eq!(s.queue_stats("std").await.recent_sl_offered, 1.0);
    assert_eq!(s.queue_stats("vip").await.pressure, 1.0);
    s.set_state(
        "w",
        pb::agent_state_change::State::Offline(Default::default()),
    )
    .await;
    for (id, skills) in [
        ("a", &[("vip", 5)][..]),
        ("b", &[("vip", 5)][..]),
        ("c", &[][..]),
    ] {
        s.put_agent(id, skills).await;
        s.set_ready(id).await;
    }
    let from = s.snapshot().await.last_sequence + 1;
    let mut events = s
        .events(pb::StreamEventsRequest {
            from_sequence: from,
            ..Default::default()
        })
        .await;
    let decision_of = |id: u64| move |e: &pb::Event| matches!(&e.detail, Some(pb::event::Detail::Decision(d)) if d.contact_id == id);
    let first = s.enqueue("std", pb::Channel::Voice, &[]).await.contact_id;
    let e = crate::common::event_until(&mut events, decision_of(first)).await;
    let Some(pb::event::Detail::Decision(d)) = e.detail else {
        unreachable!()
    };
    assert_eq!(d.agent_id, "c");
    assert_eq!(d.excluded.unwrap().held_for_reservation, 2);
    let second = s.enqueue("std", pb::Channel::Voice, &[]).await.contact_id;
    let e = crate::common::event_until(&mut events, decision_of(second)).await;
    let Some(pb::event::Detail::Decision(d)) = e.detail else {
        unreachable!()
    };
    // On the engine's clock: released at its release wait, 3/4 of 4 s, not before.
    assert!(
        d.waited_ms >= 3_000,
        "held until its release: {} ms",
        d.waited_ms
    );
    assert_eq!(d.trigger, pb::Trigger::ReservationReleased as i32);
    assert!(d.agent_id == "a" || d.agent_id == "b", "{}", d.agent_id);
}

/// Named preferred agents over gRPC: a customer's call names their account manager (busy on a
/// chat) and waits for her although another agent is free; she gets it when free within the
/// wait, and the decision says the preference was met. The next call's manager stays busy past
/// its one-second wait: the other agent takes it, and the decision says the preference was
/// missed. Bad preferences are refused.
#[tokio::test]
async fn a_preferred_agent_gets_the_call_when_free_in_time_and_someone_else_after_it() {
    let mut s = TestServer::start().await;
    s.put_queue("support", |_| {}).await;
    s.put_agent("manager", &[]).await;
    let mut manager = s.session("manager", true).await;
    let mut events = s
        .events(pb::StreamEventsRequest {
            from_sequence: 1,
            ..Default::default()
        })
        .await;
    let chat = enqueue_for(&mut s, "someone-else", pb::Channel::Chat).await;
    assert_eq!(next_offer(&mut manager).await.contact.unwrap().id, chat);
    accept(&mut manager, chat).await;
    s.put_agent("pool", &[]).await;
    let mut pool = s.session("pool", true).await;
    let prefer = |wait: u32| {
        let mut request = enqueue_request("support", pb::Channel::Voice, &[]);
        request.customer_id = "key-account".into();
        request.preferred_agents = vec![pb::PreferredAgent {
            agent_id: "manager".into(),
            score: 100,
        }];
        request.preferred_wait_seconds = wait;
        request
    };
    let call = s
        .contacts
        .enqueue_contact(prefer(30))
        .await
        .expect("enqueue")
        .into_inner()
        .contact_id;
    let waiting = s.contact(call).await;
    assert_eq!(
        waiting.state,
        pb::ContactState::Waiting as i32,
        "the call waits for the manager although pool is free"
    );
    // GetContact says whom it waits for, and until when.
    assert_eq!(waiting.preferred_agents.len(), 1);
    assert_eq!(waiting.preferred_agents[0].agent_id, "manager");
    assert_eq!(waiting.preferred_agents[0].score, 100);
    assert!(!waiting.preference_recalled);
    let waits_ms = waiting
        .preferred_until_ms
        .saturating_sub(waiting.enqueued_at_ms);
    assert!((29_000..=30_000).contains(&waits_ms), "{waits_ms}");
    manager
        .request(Action::Complete(Complete {
            contact_id: chat,
            outcome: None,
        }))
        .await;
    assert_eq!(next_offer(&mut manager).await.contact.unwrap().id, call);
    let decision_of = |id: u64| move |e: &pb::Event| matches!(&e.detail, Some(pb::event::Detail::Decision(d)) if d.contact_id == id);
    let Some(pb::event::Detail::Decision(d)) =
        crate::common::event_until(&mut events, decision_of(call))
            .await
            .detail
    else {
        unreachable!()
    };
    assert_eq!(d.agent_id, "manager");
    assert_eq!(d.preferred, pb::PreferredOutcome::Met as i32);
    accept(&mut manager, call).await;
    // The manager is on the call; the next call waits one second for her, then goes to pool.
    let second = s
        .contacts
        .enqueue_contact(prefer(1))
        .await
        .expect("enqueue")
        .into_inner()
        .contact_id;
    let offer = tokio::time::timeout(Duration::from_secs(5), next_offer(&mut pool))
        .await
        .expect("offered to pool after the wait");
    assert_eq!(offer.contact.unwrap().id, second);
    let Some(pb::event::Detail::Decision(d)) =
        crate::common::event_until(&mut events, decision_of(second))
            .await
            .detail
    else {
        unreachable!()
    };
    assert_eq!(d.agent_id, "pool");
    assert_eq!(d.preferred, pb::PreferredOutcome::Missed as i32);
    assert_eq!(d.trigger, pb::Trigger::AffinityWaitEnded as i32);
    // Refused: a score out of range, a wait without agents; nothing is enqueued.
    let mut bad = prefer(30);
    bad.preferred_agents[0].score = 0;
    let err = s.contacts.enqueue_contact(bad).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    assert!(err.message().contains("score"), "{err}");
    let mut bad = prefer(30);
    bad.preferred_agents.clear();
    let err = s.contacts.enqueue_contact(bad).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
}
