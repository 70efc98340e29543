//! Retries are safe: an enqueue repeated under its request id, and an agent's accept, reject or
//! complete sent twice, get the first answer and change nothing.

use super::tests::Floor;
use super::*;

fn with_id(id: &str) -> impl FnOnce(&mut NewContact) + '_ {
    move |c| c.request_id = id.into()
}

/// Everything a repeat must leave alone: the events so far and the engine's whole state.
fn state_of(f: &Floor) -> (usize, Vec<u8>) {
    (f.events.len(), f.engine.image())
}

#[test]
fn an_enqueue_repeated_under_its_request_id_gets_the_first_answer_and_changes_nothing() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.enqueue("q", Channel::Voice);
    let mut first = NewContact::new("q", Channel::Voice);
    first.request_id = "ivr-42".into();
    first.customer_id = "cust-1".into();
    let Applied::Enqueued {
        contact,
        position,
        estimated_wait_ms,
    } = f.apply(Command::Enqueue(first.clone())).unwrap()
    else {
        panic!("enqueued")
    };
    assert_eq!(position, 2);
    f.wait(30.0);
    let before = state_of(&f);
    let again = f.apply(Command::Enqueue(first.clone())).unwrap();
    assert_eq!(
        again,
        Applied::EnqueueRepeated(EnqueueAnswer {
            contact: contact.id,
            position: 2,
            estimated_wait_ms,
        })
    );
    assert_eq!(state_of(&f), before, "a repeat changes nothing");
    // Another payload under the same id is refused, naming the first contact.
    let mut other = first.clone();
    other.priority = 9;
    let e = f.apply(Command::Enqueue(other)).unwrap_err();
    assert_eq!(
        e,
        CoreError::RequestIdReused {
            request_id: "ivr-42".into(),
            contact: contact.id,
        }
    );
    assert_eq!(e.class(), error::ErrorClass::Exists);
    assert_eq!(state_of(&f), before, "a reused id changes nothing");
    // Without an id, the same payload is a new contact.
    first.request_id.clear();
    let Applied::Enqueued { contact: third, .. } = f.apply(Command::Enqueue(first)).unwrap() else {
        panic!("enqueued")
    };
    assert_ne!(third.id, contact.id);
}

#[test]
fn a_request_id_is_forgotten_when_its_window_ends() {
    let mut f = Floor::new();
    let config = EngineConfig {
        request_window_secs: 60,
        ..EngineConfig::default()
    };
    f.apply(Command::Configure(config)).unwrap();
    f.queue("q", |_| {});
    let first = f.enqueue_with("q", Channel::Voice, with_id("r")).unwrap();
    f.wait(59.9);
    assert!(matches!(
        f.apply(Command::Enqueue({
            let mut c = NewContact::new("q", Channel::Voice);
            c.request_id = "r".into();
            c
        })),
        Ok(Applied::EnqueueRepeated(EnqueueAnswer { contact, .. })) if contact == first
    ));
    f.wait(0.1);
    let second = f.enqueue_with("q", Channel::Voice, with_id("r")).unwrap();
    assert_ne!(second, first, "after the window the id is new again");
}

#[test]
fn a_refused_enqueue_is_not_remembered_so_its_retry_is_a_new_attempt() {
    let mut f = Floor::new();
    f.queue("q", |q| q.max_length = 1);
    let blocker = f.enqueue("q", Channel::Voice);
    let e = f
        .enqueue_with("q", Channel::Voice, with_id("r"))
        .unwrap_err();
    assert!(matches!(e, CoreError::QueueFull { .. }));
    f.apply(Command::Cancel {
        contact: blocker,
        reason: CancelReason::Withdrawn,
    })
    .unwrap();
    let admitted = f.enqueue_with("q", Channel::Voice, with_id("r")).unwrap();
    assert!(admitted > blocker);
}

#[test]
fn the_oldest_request_ids_are_forgotten_beyond_the_limit() {
    let mut f = Floor::new();
    let config = EngineConfig {
        request_ids: 2,
        ..EngineConfig::default()
    };
    f.apply(Command::Configure(config)).unwrap();
    f.queue("q", |_| {});
    let a = f.enqueue_with("q", Channel::Voice, with_id("a")).unwrap();
    f.enqueue_with("q", Channel::Voice, with_id("b")).unwrap();
    f.enqueue_with("q", Channel::Voice, with_id("c")).unwrap();
    let again = f.enqueue_with("q", Channel::Voice, with_id("a")).unwrap();
    assert_ne!(again, a, "a was forgotten to keep b and c");
}

#[test]
fn request_ids_survive_an_image_so_a_retry_after_a_restart_is_recognised() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    let id = f.enqueue_with("q", Channel::Voice, with_id("r")).unwrap();
    let mut restored = Engine::from_image(&f.engine.image()).unwrap();
    let mut c = NewContact::new("q", Channel::Voice);
    c.request_id = "r".into();
    let again = restored.apply(Command::Enqueue(c), f.now + 1_000).unwrap();
    assert!(
        matches!(again, Applied::EnqueueRepeated(EnqueueAnswer { contact, .. }) if contact == id)
    );
    restored.check_invariants().unwrap();
}

#[test]
fn a_bad_request_id_is_refused() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    for bad in ["x".repeat(129), "a\nb".into()] {
        let e = f
            .enqueue_with("q", Channel::Voice, |c| c.request_id = bad.clone())
            .unwrap_err();
        assert!(
            matches!(e, CoreError::Invalid(ref m) if m.contains("request id")),
            "{e}"
        );
    }
    assert_eq!(f.engine.waiting_count(), 0);
    let mut config = EngineConfig {
        request_window_secs: 0,
        ..EngineConfig::default()
    };
    assert!(config.validate().is_err());
    config.request_window_secs = 86_401;
    assert!(config.validate().is_err());
    config.request_window_secs = 600;
    config.request_ids = 0;
    assert!(config.validate().is_err());
}

#[test]
fn an_agent_answer_sent_twice_gets_the_same_result() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.agent("a", &[]);
    let c = f.enqueue("q", Channel::Voice);
    f.accept(c);
    let events = f.events.len();
    let again = f
        .apply(Command::Accept {
            contact: c,
            agent: "a".into(),
        })
        .unwrap();
    assert!(
        matches!(again, Applied::Contact(ref v) if matches!(v.state, ContactState::Assigned { .. }))
    );
    assert_eq!(f.events.len(), events, "a repeated accept changes nothing");
    let outcome = Outcome {
        resolved: true,
        ..Outcome::default()
    };
    let complete = Command::Complete {
        contact: c,
        agent: "a".into(),
        outcome,
    };
    let first = f.apply(complete.clone()).unwrap();
    let events = f.events.len();
    let completed = f.engine.queue_snapshots()[0].counters.completed;
    assert_eq!(f.apply(complete).unwrap(), first);
    assert_eq!(f.events.len(), events);
    assert_eq!(f.engine.queue_snapshots()[0].counters.completed, completed);
    // Not a repeat: another outcome, or another agent.
    f.agent("b", &[]);
    let e = f
        .apply(Command::Complete {
            contact: c,
            agent: "a".into(),
            outcome: Outcome::default(),
        })
        .unwrap_err();
    assert_eq!(e, CoreError::ContactEnded { contact: c });
    let e = f
        .apply(Command::Accept {
            contact: c,
            agent: "b".into(),
        })
        .unwrap_err();
    assert_eq!(e, CoreError::ContactEnded { contact: c });
}

#[test]
fn a_rejection_sent_twice_gets_the_same_result_and_the_contact_stays_in_line() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.agent("a", &[]);
    let c = f.enqueue("q", Channel::Voice);
    let reject = Command::Reject {
        contact: c,
        agent: "a".into(),
    };
    f.apply(reject.clone()).unwrap();
    let events = f.events.len();
    let again = f.apply(reject).unwrap();
    assert!(matches!(again, Applied::Contact(ref v) if v.state == ContactState::Waiting));
    assert_eq!(f.events.len(), events);
    assert_eq!(f.engine.waiting_count(), 1);
    // An agent that was never offered it (b is offline) is still refused.
    f.apply(Command::PutAgent(AgentSpec::new("b"))).unwrap();
    let e = f
        .apply(Command::Reject {
            contact: c,
            agent: "b".into(),
        })
        .unwrap_err();
    assert!(
        matches!(
            e,
            CoreError::NotOffered { .. } | CoreError::OfferedToAnother { .. }
        ),
        "{e}"
    );
}

#[test]
fn a_transfer_sent_twice_gets_the_same_result() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.queue("tier2", |q| {
        q.required_skills = vec![SkillLevel::new("billing", 5).unwrap()];
    });
    f.agent("a", &[]);
    let c = f.enqueue("q", Channel::Voice);
    f.accept(c);
    let transfer = Command::Transfer {
        to_agent: None,
        contact: c,
        agent: "a".into(),
        queue: "tier2".into(),
        required_skills: vec![],
        reason: "billing".into(),
    };
    let first = f.apply(transfer.clone()).unwrap();
    let before = state_of(&f);
    assert_eq!(f.apply(transfer.clone()).unwrap(), first);
    assert_eq!(state_of(&f), before, "a repeated transfer changes nothing");
    // Another queue or reason is not a repeat: the agent no longer holds the contact.
    let Command::Transfer { contact, agent, .. } = transfer else {
        unreachable!()
    };
    let e = f
        .apply(Command::Transfer {
            to_agent: None,
            contact,
            agent,
            queue: "q".into(),
            required_skills: vec![],
            reason: "billing".into(),
        })
        .unwrap_err();
    assert!(matches!(e, CoreError::NotAssigned { .. }), "{e}");
}
