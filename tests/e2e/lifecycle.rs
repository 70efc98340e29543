//! Contacts and agents through their whole life, over the session stream and the unary API.

use routerd::proto as pb;
use routerd::proto::session_event::Event as Out;
use routerd::proto::session_request::{Action, Complete, OfferAnswer};

use crate::common::{TestServer, end_of, event_until};

#[tokio::test]
async fn full_lifecycle_over_the_agent_session() {
    let mut s = TestServer::start().await;
    s.put_queue("billing", |q| {
        q.required_skills = vec![pb::Skill {
            name: "billing".into(),
            level: 5,
        }];
        q.wrap_up_seconds = 0;
    })
    .await;
    s.put_agent("alice", &[("billing", 7)]).await;

    let mut session = s.session("alice", true).await;
    let Out::LoggedIn(agent) = session.next().await else {
        panic!("first event is logged_in")
    };
    assert_eq!(agent.spec.unwrap().id, "alice");
    assert!(agent.session_attached);
    // The login's ready request is acknowledged.
    session
        .until(|e| matches!(e, Out::Ack(_)).then_some(()))
        .await;

    let enqueued = s
        .enqueue("billing", pb::Channel::Voice, &[("order", "A-1001")])
        .await;
    assert_eq!(enqueued.position, 0, "offered at once");
    assert_eq!(enqueued.state, pb::ContactState::Offered as i32);

    let offer = session
        .until(|e| match e {
            Out::Offer(o) => Some(o),
            _ => None,
        })
        .await;
    let contact = offer.contact.unwrap();
    assert_eq!(contact.id, enqueued.contact_id);
    assert_eq!(
        contact.context.get("order").map(String::as_str),
        Some("A-1001")
    );
    assert!(offer.deadline_ms > contact.enqueued_at_ms);

    session
        .request(Action::Accept(OfferAnswer {
            contact_id: contact.id,
        }))
        .await;
    assert_eq!(
        s.contact(contact.id).await.state,
        pb::ContactState::Assigned as i32
    );
    session
        .request(Action::Complete(Complete {
            contact_id: contact.id,
            outcome: Some(pb::Outcome {
                handle_seconds: 240,
                resolved: true,
                satisfaction: 5,
            }),
        }))
        .await;
    let done = s.contact(contact.id).await;
    assert_eq!(done.state, pb::ContactState::Completed as i32);
    assert_eq!(done.agent_id, "alice");

    let stats = s.queue_stats("billing").await;
    assert_eq!((stats.offered, stats.answered, stats.completed), (1, 1, 1));
    assert_eq!(stats.sl_answered, 1.0);
}

#[tokio::test]
async fn a_request_error_on_the_session_leaves_it_open() {
    let mut s = TestServer::start().await;
    s.put_agent("bob", &[]).await;
    let mut session = s.session("bob", false).await;
    session.next().await; // logged_in
    let id = session
        .send(Action::Accept(OfferAnswer { contact_id: 42 }))
        .await;
    let error = session
        .until(|e| match e {
            Out::Error(e) if e.request_id == id => Some(e),
            _ => None,
        })
        .await;
    assert_eq!(error.code, tonic::Code::NotFound as i32);
    // Still open: a state change works.
    session
        .request(Action::SetState(pb::AgentStateChange {
            state: Some(pb::agent_state_change::State::Ready(Default::default())),
        }))
        .await;
}

#[tokio::test]
async fn abandon_while_waiting() {
    let mut s = TestServer::start().await;
    s.put_queue("sales", |_| {}).await;
    let first = s.enqueue("sales", pb::Channel::Voice, &[]).await;
    let second = s.enqueue("sales", pb::Channel::Chat, &[]).await;
    assert_eq!(first.position, 1);
    assert_eq!(second.position, 2);
    assert_eq!(first.state, pb::ContactState::Waiting as i32);

    let cancelled = s
        .contacts
        .cancel_contact(pb::CancelContactRequest {
            contact_id: first.contact_id,
            reason: pb::CancelReason::Abandoned as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        cancelled.contact.unwrap().state,
        pb::ContactState::Abandoned as i32
    );
    let again = s
        .contacts
        .cancel_contact(pb::CancelContactRequest {
            contact_id: first.contact_id,
            reason: pb::CancelReason::Abandoned as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
    // The second moved up to first place.
    assert_eq!(s.contact(second.contact_id).await.position, 1);
    let stats = s.queue_stats("sales").await;
    assert_eq!((stats.waiting, stats.abandoned), (1, 1));
    assert_eq!(stats.abandon_rate, 1.0);
}

#[tokio::test]
async fn a_rejected_offer_goes_to_another_agent() {
    let mut s = TestServer::start().await;
    s.put_queue("support", |_| {}).await;
    s.put_agent("a", &[]).await;
    s.put_agent("b", &[]).await;
    s.set_ready("a").await;
    s.set_ready("b").await;
    let c = s.enqueue("support", pb::Channel::Voice, &[]).await;
    assert_eq!(s.contact(c.contact_id).await.agent_id, "a", "longest idle");
    let rejected = s
        .contacts
        .reject_offer(pb::OfferAnswerRequest {
            contact_id: c.contact_id,
            agent_id: "a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rejected.contact.unwrap().state,
        pb::ContactState::Waiting as i32
    );
    let now = s.contact(c.contact_id).await;
    assert_eq!(now.state, pb::ContactState::Offered as i32);
    assert_eq!(now.agent_id, "b");
    // A frontend answering for the wrong agent is refused.
    let wrong = s
        .contacts
        .accept_offer(pb::OfferAnswerRequest {
            contact_id: c.contact_id,
            agent_id: "a".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::FailedPrecondition);
}

#[tokio::test]
async fn a_dropped_session_returns_its_offer_and_takes_the_agent_offline() {
    let mut s = TestServer::start().await;
    s.put_queue("chat", |_| {}).await;
    s.put_agent("carol", &[]).await;
    s.put_agent("dave", &[]).await;
    let mut events = s
        .events(pb::StreamEventsRequest {
            kinds: vec![
                pb::EventKind::OfferReturned as i32,
                pb::EventKind::Decision as i32,
            ],
            ..Default::default()
        })
        .await;

    let mut session = s.session("carol", true).await;
    let c = s.enqueue("chat", pb::Channel::Chat, &[]).await;
    let offer = session
        .until(|e| match e {
            Out::Offer(o) => Some(o),
            _ => None,
        })
        .await;
    assert_eq!(offer.contact.unwrap().id, c.contact_id);
    drop(session);

    let returned = event_until(&mut events, |e| {
        e.kind == pb::EventKind::OfferReturned as i32 && e.contact_id == c.contact_id
    })
    .await;
    assert_eq!(returned.agent_id, "carol");
    assert_eq!(returned.reason, "agent-offline");
    assert_eq!(
        returned.return_reason,
        pb::OfferReturnReason::AgentOffline as i32
    );
    let carol = s
        .agents
        .get_agent(pb::GetAgentRequest {
            agent_id: "carol".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(carol.presence, pb::AgentPresence::Offline as i32);
    assert!(!carol.session_attached);
    assert_eq!(
        s.contact(c.contact_id).await.state,
        pb::ContactState::Waiting as i32
    );
    // Dave becomes ready and gets it.
    s.set_ready("dave").await;
    let decision = event_until(&mut events, |e| e.kind == pb::EventKind::Decision as i32).await;
    assert_eq!(decision.agent_id, "dave");
    assert_eq!(decision.contact_id, c.contact_id);
}

#[tokio::test]
async fn a_newer_session_replaces_an_older_one() {
    let mut s = TestServer::start().await;
    s.put_agent("erin", &[]).await;
    let mut old = s.session("erin", false).await;
    old.next().await;
    let mut new = s.session("erin", true).await;
    new.next().await;
    let status = end_of(&mut old.inbound).await.expect("ends with a status");
    assert_eq!(status.code(), tonic::Code::Aborted);
    // The new session is the live one: the agent is ready, not taken offline by the old one.
    new.until(|e| matches!(e, Out::Ack(_)).then_some(())).await;
    let erin = s
        .agents
        .get_agent(pb::GetAgentRequest {
            agent_id: "erin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(erin.presence, pb::AgentPresence::Ready as i32);
    assert!(erin.session_attached);
}

#[tokio::test]
async fn removing_the_agent_ends_its_session() {
    let mut s = TestServer::start().await;
    s.put_agent("frank", &[]).await;
    let mut session = s.session("frank", false).await;
    session.next().await;
    s.agents
        .remove_agent(pb::RemoveAgentRequest {
            agent_id: "frank".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let status = end_of(&mut session.inbound)
        .await
        .expect("ends with a status");
    assert_eq!(status.code(), tonic::Code::Aborted);
    assert!(status.message().contains("removed"));
}

#[tokio::test]
async fn shutdown_ends_open_streams_with_unavailable() {
    let mut s = TestServer::start().await;
    s.put_agent("gina", &[]).await;
    let mut session = s.session("gina", true).await;
    session.next().await;
    let mut events = s.events(pb::StreamEventsRequest::default()).await;
    s.shut_down().await;
    // Both streams end with UNAVAILABLE (after whatever they still had queued).
    let session_end = end_of(&mut session.inbound).await.map(|s| s.code());
    let stream_end = end_of(&mut events).await.map(|s| s.code());
    assert_eq!(session_end, Some(tonic::Code::Unavailable));
    assert_eq!(stream_end, Some(tonic::Code::Unavailable));
}

/// UpdateContact over gRPC: a waiting contact's priority and context change, the supervisor
/// stream records it, and the raised contact is answered first with its wait counted from its
/// first enqueue. Refusals are clear and change nothing.
#[tokio::test]
async fn a_waiting_contact_is_updated_and_answered_ahead_of_older_ones() {
    let mut s = TestServer::start().await;
    s.put_queue("billing", |q| q.wrap_up_seconds = 0).await;
    s.put_agent("alice", &[]).await;
    let mut events = s
        .events(pb::StreamEventsRequest {
            kinds: vec![pb::EventKind::ContactUpdated as i32],
            ..Default::default()
        })
        .await;
    let older = s.enqueue("billing", pb::Channel::Voice, &[]).await;
    let later = s
        .enqueue("billing", pb::Channel::Voice, &[("intent", "refund")])
        .await;
    assert_eq!(later.position, 2);

    let updated = s
        .contacts
        .update_contact(pb::UpdateContactRequest {
            contact_id: later.contact_id,
            priority: Some(9),
            context_set: [("intent".to_string(), "cancel".to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .contact
        .unwrap();
    assert_eq!(updated.priority, 9);
    assert_eq!(
        updated.context.get("intent").map(String::as_str),
        Some("cancel")
    );
    assert_eq!(
        s.contact(later.contact_id).await.position,
        1,
        "ahead of the older contact now"
    );
    assert_eq!(s.contact(older.contact_id).await.position, 2);
    let event = event_until(&mut events, |_| true).await;
    assert_eq!(event.contact_id, later.contact_id);
    assert_eq!(event.reason, "priority,context");

    // Refused, and nothing changed: an empty update, a bad priority, an unknown contact.
    let empty = pb::UpdateContactRequest {
        contact_id: older.contact_id,
        ..Default::default()
    };
    let status = s.contacts.update_contact(empty).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let bad = pb::UpdateContactRequest {
        contact_id: older.contact_id,
        priority: Some(101),
        ..Default::default()
    };
    let status = s.contacts.update_contact(bad).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let unknown = pb::UpdateContactRequest {
        contact_id: 999,
        priority: Some(1),
        ..Default::default()
    };
    let status = s.contacts.update_contact(unknown).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(s.contact(older.contact_id).await.priority, 0);

    // The agent takes the raised contact first; the older one still waits.
    s.set_ready("alice").await;
    let offered = s.contact(later.contact_id).await;
    assert_eq!(offered.state, pb::ContactState::Offered as i32);
    assert_eq!(
        offered.enqueued_at_ms, updated.enqueued_at_ms,
        "its wait kept"
    );
    let status = s
        .contacts
        .update_contact(pb::UpdateContactRequest {
            contact_id: later.contact_id,
            priority: Some(1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert_eq!(
        s.contact(older.contact_id).await.state,
        pb::ContactState::Waiting as i32
    );
}

/// A desktop is told why each offer left it, as a typed reason (and the older text code).
#[tokio::test]
async fn a_desktop_learns_why_an_offer_was_withdrawn() {
    let mut s = TestServer::start().await;
    s.put_queue("billing", |_| {}).await;
    s.put_agent("dora", &[]).await;
    let mut session = s.session("dora", true).await;
    session
        .until(|e| matches!(e, Out::Ack(_)).then_some(()))
        .await;
    let mut withdrawn = Vec::new();
    for cancel in [false, true] {
        let c = s.enqueue("billing", pb::Channel::Voice, &[]).await;
        session
            .until(|e| matches!(e, Out::Offer(_)).then_some(()))
            .await;
        if cancel {
            s.contacts
                .cancel_contact(pb::CancelContactRequest {
                    contact_id: c.contact_id,
                    reason: pb::CancelReason::Abandoned as i32,
                })
                .await
                .unwrap();
        } else {
            s.contacts
                .reject_offer(pb::OfferAnswerRequest {
                    contact_id: c.contact_id,
                    agent_id: "dora".into(),
                })
                .await
                .unwrap();
        }
        let w = session
            .until(|e| match e {
                Out::OfferWithdrawn(w) => Some(w),
                _ => None,
            })
            .await;
        assert_eq!(w.contact_id, c.contact_id);
        #[allow(deprecated)]
        withdrawn.push((w.withdrawal, w.reason));
    }
    assert_eq!(
        withdrawn,
        [
            (
                pb::WithdrawalReason::Rejected as i32,
                "rejected".to_string()
            ),
            (
                pb::WithdrawalReason::Abandoned as i32,
                "abandoned".to_string()
            ),
        ]
    );
}

/// Blind transfer over gRPC: a chat handled by Ann is transferred from her desktop to the voice
/// team's queue (which also takes chats; TransferContact refuses bad requests) and reaches Bo with its context, its lineage and Ann's interaction in
/// the offer's history; Ann's desktop is told it left her.
#[tokio::test]
async fn a_chat_transferred_to_the_voice_queue_reaches_the_next_agent_with_its_context() {
    let mut s = TestServer::start().await;
    s.put_queue("chat", |q| {
        q.channels = vec![pb::Channel::Chat as i32];
        q.wrap_up_seconds = 0;
    })
    .await;
    s.put_queue("voice", |q| {
        q.channels = vec![pb::Channel::Voice as i32, pb::Channel::Chat as i32];
        q.required_skills = vec![pb::Skill {
            name: "billing".into(),
            level: 5,
        }];
    })
    .await;
    s.put_agent("ann", &[]).await;
    s.put_agent("bo", &[("billing", 7)]).await;
    let mut ann = s.session("ann", true).await;
    ann.until(|e| matches!(e, Out::Ack(_)).then_some(())).await;
    let mut request =
        crate::common::enqueue_request("chat", pb::Channel::Chat, &[("order", "A-17")]);
    request.customer_id = "cust-9".into();
    let chat = s
        .contacts
        .enqueue_contact(request)
        .await
        .unwrap()
        .into_inner();
    ann.until(|e| matches!(e, Out::Offer(_)).then_some(()))
        .await;
    ann.request(Action::Accept(OfferAnswer {
        contact_id: chat.contact_id,
    }))
    .await;

    // Refused while nobody fits: an unknown queue; another agent than the holder.
    let mut transfer = pb::TransferContactRequest {
        contact_id: chat.contact_id,
        agent_id: "ann".into(),
        queue: "nowhere".into(),
        reason: "billing question".into(),
        ..Default::default()
    };
    let status = s
        .contacts
        .transfer_contact(transfer.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    transfer.queue = "voice".into();
    transfer.agent_id = "bo".into();
    let status = s
        .contacts
        .transfer_contact(transfer.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);

    let mut bo = s.session("bo", true).await;
    bo.until(|e| matches!(e, Out::Ack(_)).then_some(())).await;
    // Ann transfers it from her desktop.
    ann.request(Action::Transfer(pb::session_request::Transfer {
        contact_id: chat.contact_id,
        queue: "voice".into(),
        reason: "billing question".into(),
        ..Default::default()
    }))
    .await;
    let moved = s.contact(chat.contact_id).await;
    assert_eq!(moved.queue, "voice");
    assert_eq!(moved.transfers.len(), 1);
    assert_eq!(moved.transfers[0].from_agent, "ann");
    assert_eq!(moved.transfers[0].reason, "billing question");

    let offer = bo
        .until(|e| match e {
            Out::Offer(o) => Some(o),
            _ => None,
        })
        .await;
    let contact = offer.contact.unwrap();
    assert_eq!(contact.id, chat.contact_id);
    assert_eq!(
        contact.context.get("order").map(String::as_str),
        Some("A-17")
    );
    assert_eq!(contact.queued_at_ms, moved.queued_at_ms);
    let anns = offer
        .history
        .iter()
        .find(|i| i.contact_id == chat.contact_id)
        .expect("Ann's interaction in the history");
    assert_eq!(
        (anns.agent_id.as_str(), anns.outcome.as_str()),
        ("ann", "transferred")
    );
    let withdrawn = ann
        .until(|e| match e {
            Out::OfferWithdrawn(w) => Some(w),
            _ => None,
        })
        .await;
    assert_eq!(
        withdrawn.withdrawal,
        pb::WithdrawalReason::Transferred as i32
    );

    let chat_stats = s.queue_stats("chat").await;
    let voice_stats = s.queue_stats("voice").await;
    assert_eq!((chat_stats.answered, chat_stats.transferred_out), (1, 1));
    assert_eq!((voice_stats.offered, voice_stats.transferred_in), (1, 1));
}

/// An exception rule over gRPC: `billing` moves a contact nobody took after 1 s to `general`.
/// The move is published, the contact keeps its first enqueue time, and `general` measures its
/// wait (decision and service level) from then. A rule moving contacts back (a cycle) and
/// deleting the target are refused and change nothing.
#[tokio::test]
async fn an_overflow_rule_moves_a_waiting_contact_and_its_wait_counts_from_its_first_enqueue() {
    use pb::exception_rule::{Action as Do, Trigger as When};
    let mut s = TestServer::start().await;
    s.put_queue("general", |q| q.sl_threshold_seconds = 60)
        .await;
    s.put_queue("billing", |q| {
        q.required_skills = vec![pb::Skill {
            name: "billing".into(),
            level: 1,
        }];
        q.exceptions = vec![pb::ExceptionRule {
            trigger: Some(When::WaitedSeconds(1)),
            action: Some(Do::MoveTo("general".into())),
        }];
    })
    .await;
    s.put_agent("gus", &[]).await;
    let mut events = s
        .events(pb::StreamEventsRequest {
            kinds: vec![
                pb::EventKind::ExceptionFired as i32,
                pb::EventKind::Decision as i32,
            ],
            ..Default::default()
        })
        .await;

    let c = s
        .enqueue("billing", pb::Channel::Voice, &[("order", "B-7")])
        .await;
    assert_eq!(c.state, pb::ContactState::Waiting as i32);
    let fired = event_until(&mut events, |e| {
        e.kind == pb::EventKind::ExceptionFired as i32 && e.contact_id == c.contact_id
    })
    .await;
    assert_eq!(
        (fired.queue.as_str(), fired.reason.as_str()),
        ("billing", "moved")
    );
    let moved = s.contact(c.contact_id).await;
    assert_eq!(moved.queue, "general");
    assert_eq!(moved.state, pb::ContactState::Waiting as i32);
    assert_eq!(moved.queued_at_ms, moved.enqueued_at_ms, "the wait is kept");
    assert_eq!(moved.exceptions.len(), 1);
    assert_eq!(moved.exceptions[0].queue, "billing");
    assert!(moved.exceptions[0].applied);
    assert!(moved.exceptions[0].at_ms >= moved.enqueued_at_ms + 1000);

    // Refused, and nothing changes: a rule moving contacts back (billing -> general ->
    // billing), and deleting the queue billing moves contacts to.
    let cycle = s
        .queues
        .put_queue(pb::PutQueueRequest {
            queue: Some(pb::Queue {
                name: "general".into(),
                exceptions: vec![pb::ExceptionRule {
                    trigger: Some(When::WaitedSeconds(5)),
                    action: Some(Do::MoveTo("billing".into())),
                }],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(cycle.code(), tonic::Code::InvalidArgument);
    assert!(cycle.message().contains("cycle"), "{}", cycle.message());
    let delete = s
        .queues
        .delete_queue(pb::DeleteQueueRequest {
            name: "general".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(delete.code(), tonic::Code::FailedPrecondition);
    let general = s
        .queues
        .get_queue(pb::GetQueueRequest {
            name: "general".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(general.exceptions.is_empty());

    s.set_ready("gus").await;
    let decision = event_until(&mut events, |e| e.kind == pb::EventKind::Decision as i32).await;
    let Some(pb::event::Detail::Decision(d)) = decision.detail else {
        panic!("a decision")
    };
    assert_eq!((d.queue.as_str(), d.agent_id.as_str()), ("general", "gus"));
    assert!(d.waited_ms >= 1000, "waited {} ms", d.waited_ms);
    assert_eq!(d.exceptions.len(), 1, "the decision shows the move");
    s.contacts
        .accept_offer(pb::OfferAnswerRequest {
            contact_id: c.contact_id,
            agent_id: "gus".into(),
        })
        .await
        .unwrap();
    let general = s.queue_stats("general").await;
    let billing = s.queue_stats("billing").await;
    assert_eq!(
        (general.offered, general.overflowed_in, general.answered),
        (1, 1, 1)
    );
    assert!(
        general.asa_ms >= 1000,
        "answered after {} ms",
        general.asa_ms
    );
    assert_eq!((billing.overflowed_out, billing.answered), (1, 0));
}

/// A callback over gRPC: three customers wait; the middle one asks to be called back. It keeps
/// its place (served after the older one, before the newer one), its first call gets no
/// answer (the desktop is told it left, and it waits for its retry while the newer customer is
/// served), and its second call reaches the customer. A callback time in the past is refused.
#[tokio::test]
async fn a_callback_keeps_its_place_and_a_failed_call_is_tried_again() {
    let mut s = TestServer::start().await;
    s.put_queue("sales", |q| {
        q.wrap_up_seconds = 0;
        q.callback_retry_seconds = 1;
    })
    .await;
    s.put_agent("vic", &[]).await;
    let older = s.enqueue("sales", pb::Channel::Voice, &[]).await.contact_id;
    let caller = s
        .enqueue("sales", pb::Channel::Voice, &[("order", "S-3")])
        .await
        .contact_id;
    let newer = s.enqueue("sales", pb::Channel::Voice, &[]).await.contact_id;

    let past = s
        .contacts
        .request_callback(pb::RequestCallbackRequest {
            contact_id: caller,
            not_before_ms: Some(1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(past.code(), tonic::Code::InvalidArgument);
    let asked = s
        .contacts
        .request_callback(pb::RequestCallbackRequest {
            contact_id: caller,
            number: "+3312345678".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .contact
        .unwrap();
    assert_eq!(asked.channel, pb::Channel::Callback as i32);
    let callback = asked.callback.unwrap();
    assert_eq!(callback.number, "+3312345678");
    assert_eq!(callback.channel, pb::Channel::Voice as i32);
    assert_eq!(s.contact(caller).await.position, 2, "its place is kept");

    let mut vic = s.session("vic", true).await;
    let mut served = Vec::new();
    while served.len() < 3 {
        let offer = vic
            .until(|e| match e {
                Out::Offer(o) => Some(o),
                _ => None,
            })
            .await;
        let contact = offer.contact.unwrap();
        vic.request(Action::Accept(OfferAnswer {
            contact_id: contact.id,
        }))
        .await;
        if contact.id == caller {
            assert_eq!(
                contact.context.get("order").map(String::as_str),
                Some("S-3")
            );
            vic.request(Action::CallbackAttempt(pb::session_request::CallbackCall {
                contact_id: caller,
                result: pb::CallbackResult::NoAnswer as i32,
                attempt: 1,
            }))
            .await;
            let withdrawn = vic
                .until(|e| match e {
                    Out::OfferWithdrawn(w) => Some(w),
                    _ => None,
                })
                .await;
            assert_eq!(
                withdrawn.withdrawal,
                pb::WithdrawalReason::CallbackNotReached as i32
            );
            let waiting = s.contact(caller).await;
            assert_eq!(waiting.state, pb::ContactState::Waiting as i32);
            assert!(waiting.held_until_ms > 0, "held for its retry");
            // The report comes again (over the unary call: the answer was lost): answered,
            // and nothing changes.
            let again = s
                .contacts
                .report_callback_attempt(pb::ReportCallbackAttemptRequest {
                    contact_id: caller,
                    agent_id: "vic".into(),
                    result: pb::CallbackResult::NoAnswer as i32,
                    attempt: 0,
                })
                .await
                .expect("a repeat is answered")
                .into_inner()
                .contact
                .unwrap();
            assert_eq!(again.callback.unwrap().attempts.len(), 1, "one attempt");
            assert_eq!(again.held_until_ms, waiting.held_until_ms);
            served.push(caller);
            continue;
        }
        vic.request(Action::Complete(Complete {
            contact_id: contact.id,
            outcome: None,
        }))
        .await;
        served.push(contact.id);
    }
    assert_eq!(
        served,
        [older, caller, newer],
        "the first call, in its place"
    );
    // The retry comes after its delay.
    let offer = vic
        .until(|e| match e {
            Out::Offer(o) => Some(o),
            _ => None,
        })
        .await;
    assert_eq!(offer.contact.unwrap().id, caller);
    vic.request(Action::Accept(OfferAnswer { contact_id: caller }))
        .await;
    // The first call's report arrives once more, late, while vic holds the retry: named, it is
    // told from a report of the retry — answered, and the retry is still vic's to report.
    let report = |attempt| pb::ReportCallbackAttemptRequest {
        contact_id: caller,
        agent_id: "vic".into(),
        result: pb::CallbackResult::NoAnswer as i32,
        attempt,
    };
    let late = s
        .contacts
        .report_callback_attempt(report(1))
        .await
        .expect("a named repeat is answered")
        .into_inner()
        .contact
        .unwrap();
    assert_eq!(late.state, pb::ContactState::Assigned as i32);
    assert_eq!(late.callback.unwrap().attempts.len(), 1);
    let skipped = s
        .contacts
        .report_callback_attempt(report(3))
        .await
        .expect_err("call 3 before call 2");
    assert_eq!(skipped.code(), tonic::Code::FailedPrecondition);
    vic.request(Action::CallbackAttempt(pb::session_request::CallbackCall {
        contact_id: caller,
        result: pb::CallbackResult::Reached as i32,
        attempt: 2,
    }))
    .await;
    vic.request(Action::Complete(Complete {
        contact_id: caller,
        outcome: None,
    }))
    .await;
    let done = s.contact(caller).await;
    assert_eq!(done.state, pb::ContactState::Completed as i32);
    let results: Vec<i32> = done
        .callback
        .unwrap()
        .attempts
        .iter()
        .map(|a| a.result)
        .collect();
    assert_eq!(
        results,
        [
            pb::CallbackResult::NoAnswer as i32,
            pb::CallbackResult::Reached as i32
        ]
    );
    let stats = s.queue_stats("sales").await;
    assert_eq!(
        (
            stats.callbacks_requested,
            stats.callbacks_reached,
            stats.answered
        ),
        (1, 1, 2)
    );
}

/// A consult (warm) transfer over gRPC: Ann, holding a call, consults the billing queue; Bo's
/// desktop is offered the consult and takes it while Ann still holds the call (both busy);
/// Ann hands the call over and her desktop is told it left her.
#[tokio::test]
async fn a_consult_rings_the_second_agent_and_the_first_hands_the_call_over() {
    let mut s = TestServer::start().await;
    s.put_queue("front", |q| q.wrap_up_seconds = 0).await;
    s.put_queue("billing", |q| {
        q.required_skills = vec![pb::Skill {
            name: "billing".into(),
            level: 5,
        }];
    })
    .await;
    s.put_agent("ann", &[]).await;
    let mut ann = s.session("ann", true).await;
    ann.until(|e| matches!(e, Out::Ack(_)).then_some(())).await;
    let call = s
        .enqueue("front", pb::Channel::Voice, &[("order", "F-1")])
        .await
        .contact_id;
    ann.until(|e| matches!(e, Out::Offer(_)).then_some(()))
        .await;
    ann.request(Action::Accept(OfferAnswer { contact_id: call }))
        .await;

    // Nobody in billing yet: refused, nothing changes.
    let refused = s
        .contacts
        .consult_contact(pb::ConsultContactRequest {
            contact_id: call,
            agent_id: "ann".into(),
            queue: "billing".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);

    s.put_agent("bo", &[("billing", 7)]).await;
    let mut bo = s.session("bo", true).await;
    bo.until(|e| matches!(e, Out::Ack(_)).then_some(())).await;
    ann.request(Action::Consult(pb::session_request::Consult {
        contact_id: call,
        queue: "billing".into(),
        reason: "refund".into(),
        ..Default::default()
    }))
    .await;
    let offer = bo
        .until(|e| match e {
            Out::Offer(o) => Some(o),
            _ => None,
        })
        .await;
    let offered = offer.contact.unwrap();
    assert_eq!(offered.id, call);
    assert_eq!(offered.consult.unwrap().by_agent, "ann");
    bo.request(Action::Accept(OfferAnswer { contact_id: call }))
        .await;
    let talking = s.contact(call).await;
    assert_eq!(talking.agent_id, "ann", "still Ann's while they talk");
    assert!(talking.consult.unwrap().accepted_at_ms > 0);
    let agents = s
        .agents
        .get_agent(pb::GetAgentRequest {
            agent_id: "bo".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(agents.consult_contacts, [call]);
    assert_eq!(agents.load, 100, "the consult holds Bo's capacity");

    ann.request(Action::EndConsult(pb::session_request::EndConsult {
        contact_id: call,
        transfer: true,
    }))
    .await;
    let withdrawn = ann
        .until(|e| match e {
            Out::OfferWithdrawn(w) => Some(w),
            _ => None,
        })
        .await;
    assert_eq!(
        withdrawn.withdrawal,
        pb::WithdrawalReason::Transferred as i32
    );
    let handed = s.contact(call).await;
    assert_eq!(
        (handed.agent_id.as_str(), handed.queue.as_str()),
        ("bo", "billing")
    );
    let lineage = handed.transfers.last().unwrap();
    assert!(lineage.warm);
    assert_eq!(
        (lineage.from_agent.as_str(), lineage.to_agent.as_str()),
        ("ann", "bo")
    );
    let billing = s.queue_stats("billing").await;
    assert_eq!((billing.transferred_in, billing.answered), (1, 1));
    bo.request(Action::Complete(Complete {
        contact_id: call,
        outcome: None,
    }))
    .await;
    assert_eq!(
        s.contact(call).await.state,
        pb::ContactState::Completed as i32
    );
}
