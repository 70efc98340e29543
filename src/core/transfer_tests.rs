//! Blind transfer to a queue: the contact keeps who it is and what was said, waits again in the
//! target queue (its wait there counting from the transfer), and is counted once in each queue.

use std::collections::BTreeMap;

use super::error::ErrorClass;
use super::tests::Floor;
use super::*;

fn transfer(
    f: &mut Floor,
    contact: ContactId,
    agent: &str,
    queue: &str,
) -> Result<Applied, CoreError> {
    f.apply(Command::Transfer {
        to_agent: None,
        contact,
        agent: agent.into(),
        queue: queue.into(),
        required_skills: vec![],
        reason: "needs billing".into(),
    })
}

/// A chat handled by `ann` in `chat`, and `tier2` (billing 5, chat) whose only agent, `bo`,
/// is on a break.
fn floor_with_a_handled_chat() -> (Floor, ContactId) {
    let mut f = Floor::new();
    f.queue("chat", |q| {
        q.channels = vec![Channel::Chat];
        q.wrap_up_secs = 10;
    });
    f.queue("tier2", |q| {
        q.channels = vec![Channel::Chat, Channel::Voice];
        q.required_skills = vec![SkillLevel::new("billing", 5).unwrap()];
        q.sl_threshold_secs = 20;
    });
    f.agent("ann", &[]);
    f.agent("bo", &[("billing", 6)]);
    f.presence("bo", Presence::NotReady("break".into()));
    let id = f
        .enqueue_with("chat", Channel::Chat, |c| {
            c.customer_id = "cust-9".into();
            c.context = BTreeMap::from([("order".to_string(), "A-17".to_string())]);
        })
        .unwrap();
    assert_eq!(f.holder(id).as_deref(), Some("ann"));
    f.accept(id);
    f.wait(60.0);
    (f, id)
}

#[test]
fn a_transferred_contact_waits_in_the_target_queue_with_its_context_and_lineage() {
    let (mut f, id) = floor_with_a_handled_chat();
    let enqueued_at = f.engine.contact_view(id).unwrap().enqueued_at;
    let Applied::Contact(view) = transfer(&mut f, id, "ann", "tier2").unwrap() else {
        panic!("a contact")
    };
    assert_eq!(view.state, ContactState::Waiting);
    assert_eq!(&*view.queue, "tier2");
    assert_eq!(
        view.enqueued_at, enqueued_at,
        "the customer's arrival is kept"
    );
    assert_eq!(view.queued_at, f.now, "its wait in tier2 starts now");
    assert_eq!(view.context.get("order").map(String::as_str), Some("A-17"));
    assert_eq!(
        &*view.required_skills,
        &[SkillLevel::new("billing", 5).unwrap()]
    );
    assert_eq!(view.transfers.len(), 1);
    let t = &view.transfers[0];
    assert_eq!(
        (
            &*t.from_queue,
            &*t.from_agent,
            &*t.to_queue,
            &*t.reason,
            t.at
        ),
        ("chat", "ann", "tier2", "needs billing", f.now)
    );
    // Ann is free again (after her wrap-up); the chat queue answered it once, tier2 has it.
    let ann = f.engine.agent_view("ann").unwrap();
    assert_eq!((ann.load, ann.assigned.len()), (0, 0));
    assert!(ann.wrap_up_until.is_some());
    let (chat, _) = f.engine.queue_counters("chat").unwrap();
    assert_eq!(
        (
            chat.offered,
            chat.answered,
            chat.completed,
            chat.transferred_out
        ),
        (1, 1, 0, 1)
    );
    let (tier2, live) = f.engine.queue_counters("tier2").unwrap();
    assert_eq!((tier2.offered, tier2.transferred_in, live), (1, 1, 1));
    assert!(f.events.iter().any(|e| matches!(
        &e.body,
        EventBody::ContactTransferred { contact, agent } if contact.id == id && &**agent == "ann"
    )));

    // Bo comes back 15 s later: the offer shows Ann's interaction, and tier2's service level
    // counts 15 s (within its 20 s), not the minute the customer spent with Ann.
    f.wait(15.0);
    f.presence("bo", Presence::Ready);
    assert_eq!(f.holder(id).as_deref(), Some("bo"));
    let d = f.decisions().last().copied().unwrap().clone();
    assert_eq!(d.waited_ms, 15_000);
    let ann_said = d
        .history
        .iter()
        .find(|i| i.contact == id)
        .expect("in history");
    assert_eq!(
        (ann_said.agent.as_deref(), ann_said.outcome),
        (Some("ann"), history::InteractionOutcome::Transferred)
    );
    f.accept(id);
    let (tier2, _) = f.engine.queue_counters("tier2").unwrap();
    assert_eq!((tier2.answered, tier2.answered_within_threshold), (1, 1));
    f.complete(id);
    assert!(
        matches!(f.state(id), ContactState::Completed { ref agent, .. } if &**agent == "bo"),
        "completed once, by bo"
    );
    let (tier2, live) = f.engine.queue_counters("tier2").unwrap();
    assert_eq!((tier2.completed, live), (1, 0));
}

#[test]
fn a_contact_is_routed_at_once_and_never_back_to_its_transferring_agent() {
    let (mut f, id) = floor_with_a_handled_chat();
    // Back to its own queue, where only Ann could take it: it waits.
    transfer(&mut f, id, "ann", "chat").unwrap();
    f.wait(20.0);
    assert_eq!(
        f.state(id),
        ContactState::Waiting,
        "never offered back to ann"
    );
    // Bo is ready: a transfer to tier2 reaches him at once.
    let (mut f, id) = floor_with_a_handled_chat();
    f.presence("bo", Presence::Ready);
    transfer(&mut f, id, "ann", "tier2").unwrap();
    assert_eq!(f.holder(id).as_deref(), Some("bo"));
    let d = f.decisions().last().copied().unwrap().clone();
    assert_eq!((d.trigger, d.waited_ms), (Trigger::ContactTransferred, 0));
}

#[test]
fn a_refused_transfer_changes_nothing() {
    let (mut f, id) = floor_with_a_handled_chat();
    f.queue("email", |q| q.channels = vec![Channel::Email]);
    f.queue("full", |q| {
        q.max_length = 1;
        q.required_skills = vec![SkillLevel::new("nobody", 1).unwrap()];
    });
    f.enqueue("full", Channel::Chat);
    let waiting = f.enqueue("tier2", Channel::Voice);
    let before = (f.events.len(), f.engine.image());
    let cases: Vec<(Command, error::ErrorClass)> = vec![
        (
            Command::Transfer {
                to_agent: None,
                contact: id,
                agent: "bo".into(),
                queue: "tier2".into(),
                required_skills: vec![],
                reason: String::new(),
            },
            error::ErrorClass::Precondition,
        ),
        (
            Command::Transfer {
                to_agent: None,
                contact: waiting,
                agent: "ann".into(),
                queue: "tier2".into(),
                required_skills: vec![],
                reason: String::new(),
            },
            error::ErrorClass::Precondition,
        ),
        (
            Command::Transfer {
                to_agent: None,
                contact: id,
                agent: "ann".into(),
                queue: "nowhere".into(),
                required_skills: vec![],
                reason: String::new(),
            },
            error::ErrorClass::NotFound,
        ),
        (
            Command::Transfer {
                to_agent: None,
                contact: id,
                agent: "ann".into(),
                queue: "email".into(),
                required_skills: vec![],
                reason: String::new(),
            },
            error::ErrorClass::Invalid,
        ),
        (
            Command::Transfer {
                to_agent: None,
                contact: id,
                agent: "ann".into(),
                queue: "full".into(),
                required_skills: vec![],
                reason: String::new(),
            },
            error::ErrorClass::Exhausted,
        ),
        (
            Command::Transfer {
                to_agent: None,
                contact: id,
                agent: "ann".into(),
                queue: "tier2".into(),
                required_skills: vec![],
                reason: "a\nb".into(),
            },
            error::ErrorClass::Invalid,
        ),
        (
            Command::Transfer {
                to_agent: None,
                contact: 999,
                agent: "ann".into(),
                queue: "tier2".into(),
                required_skills: vec![],
                reason: String::new(),
            },
            error::ErrorClass::NotFound,
        ),
    ];
    for (command, class) in cases {
        let e = f.apply(command.clone()).unwrap_err();
        assert_eq!(e.class(), class, "{command:?}: {e}");
    }
    assert_eq!((f.events.len(), f.engine.image()), before);
}

fn transfer_to_agent(
    f: &mut Floor,
    contact: ContactId,
    to_agent: &str,
    wait_secs: u32,
) -> Result<Applied, CoreError> {
    f.apply(Command::Transfer {
        contact,
        agent: "ann".into(),
        queue: "tier2".into(),
        required_skills: vec![],
        reason: "her account manager".into(),
        to_agent: Some(NamedAgent {
            agent: to_agent.into(),
            wait_secs,
        }),
    })
}

#[test]
fn a_transfer_to_a_named_agent_waits_for_that_agent_alone() {
    let (mut f, id) = floor_with_a_handled_chat();
    f.agent("cy", &[("billing", 9)]);
    let Applied::Contact(view) = transfer_to_agent(&mut f, id, "bo", 60).unwrap() else {
        panic!("a contact")
    };
    assert_eq!(
        view.state,
        ContactState::Waiting,
        "cy is ready, but bo was named"
    );
    assert_eq!(view.transfers[0].to_agent.as_deref(), Some("bo"));
    f.wait(30.0);
    assert_eq!(f.state(id), ContactState::Waiting);
    f.presence("bo", Presence::Ready);
    assert_eq!(f.holder(id).as_deref(), Some("bo"));
}

#[test]
fn a_named_agent_declining_or_not_answering_in_time_sends_the_contact_to_the_queue() {
    let (mut f, id) = floor_with_a_handled_chat();
    f.agent("cy", &[("billing", 9)]);
    f.presence("cy", Presence::NotReady("coaching".into()));
    f.presence("bo", Presence::Ready);
    transfer_to_agent(&mut f, id, "bo", 60).unwrap();
    assert_eq!(f.holder(id).as_deref(), Some("bo"));
    f.reject(id);
    f.presence("cy", Presence::Ready);
    assert_eq!(
        f.holder(id).as_deref(),
        Some("cy"),
        "the fallback queue routes it"
    );

    // The wait ends: anyone in the queue may take it.
    let (mut f, id) = floor_with_a_handled_chat();
    f.agent("cy", &[("billing", 9)]);
    transfer_to_agent(&mut f, id, "bo", 20).unwrap();
    f.wait(19.0);
    assert_eq!(f.state(id), ContactState::Waiting);
    f.wait(1.0);
    assert_eq!(f.holder(id).as_deref(), Some("cy"));
}

#[test]
fn a_named_agent_who_cannot_take_the_contact_is_refused_and_nothing_changes() {
    let (mut f, id) = floor_with_a_handled_chat();
    f.agent("dee", &[("billing", 2)]);
    let before = f.engine.image();
    let unknown = transfer_to_agent(&mut f, id, "nobody", 30).unwrap_err();
    assert_eq!(unknown.class(), ErrorClass::NotFound);
    let unskilled = transfer_to_agent(&mut f, id, "dee", 30).unwrap_err();
    assert_eq!(unskilled.class(), ErrorClass::Precondition);
    assert!(unskilled.to_string().contains("dee"), "{unskilled}");
    let itself = transfer_to_agent(&mut f, id, "ann", 30).unwrap_err();
    assert_eq!(itself.class(), ErrorClass::Invalid);
    let no_wait = transfer_to_agent(&mut f, id, "bo", 0).unwrap_err();
    assert_eq!(no_wait.class(), ErrorClass::Invalid);
    assert_eq!(f.engine.image(), before);
}
