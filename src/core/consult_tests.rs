//! Consult (warm) transfers: the consulted agent rings, talks, and takes the contact over — or is
//! let go — while both agents hold the contact's capacity.

use super::error::ErrorClass;
use super::events::ConsultEnd;
use super::tests::Floor;
use super::*;

fn consult(f: &mut Floor, id: ContactId, to_agent: Option<&str>) -> Result<Applied, CoreError> {
    f.apply(Command::Consult {
        contact: id,
        agent: "ann".into(),
        queue: "tier2".into(),
        to_agent: to_agent.map(str::to_string),
        reason: "billing question".into(),
    })
}

fn end(f: &mut Floor, id: ContactId, transfer: bool) -> Result<Applied, CoreError> {
    f.apply(Command::EndConsult {
        contact: id,
        agent: "ann".into(),
        transfer,
    })
}

fn load(f: &Floor, agent: &str) -> u32 {
    f.engine.agent_view(agent).unwrap().load
}

fn consult_of(f: &Floor, id: ContactId) -> Option<Consult> {
    f.engine
        .contact_view(id)
        .unwrap()
        .consult
        .as_deref()
        .cloned()
}

fn consult_ends(f: &Floor) -> Vec<ConsultEnd> {
    f.events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ConsultEnded { how, .. } => Some(*how),
            _ => None,
        })
        .collect()
}

/// A voice call handled by `ann` in `front` (10 s wrap-up); `tier2` (billing 5) has `bo`
/// (billing 6) and `cy` (billing 8), both ready, `bo` idle longer.
fn floor() -> (Floor, ContactId) {
    let mut f = Floor::new();
    f.queue("front", |q| q.wrap_up_secs = 10);
    f.queue("tier2", |q| {
        q.required_skills = vec![SkillLevel::new("billing", 5).unwrap()];
        q.offer_timeout_secs = 20;
    });
    f.agent("ann", &[]);
    let id = f.enqueue("front", Channel::Voice);
    assert_eq!(f.holder(id).as_deref(), Some("ann"));
    f.accept(id);
    f.agent("bo", &[("billing", 6)]);
    f.wait(5.0);
    f.agent("cy", &[("billing", 8)]);
    f.wait(60.0);
    (f, id)
}

#[test]
fn a_consult_rings_the_longest_idle_agent_and_both_hold_the_contact_until_it_is_handed_over() {
    let (mut f, id) = floor();
    let Applied::Contact(view) = consult(&mut f, id, None).unwrap() else {
        panic!("a contact")
    };
    let c = view.consult.expect("a consult");
    assert_eq!((&*c.agent, &*c.by, &*c.queue), ("bo", "ann", "tier2"));
    assert_eq!(
        (load(&f, "ann"), load(&f, "bo")),
        (100, 100),
        "both hold it"
    );
    let decision = f.decisions().last().copied().unwrap().clone();
    assert_eq!(
        (&*decision.agent, decision.trigger),
        ("bo", Trigger::ConsultRequested)
    );
    // While it rings or talks, the holder can neither complete nor transfer it.
    let err = f
        .apply(Command::Complete {
            contact: id,
            agent: "ann".into(),
            outcome: Outcome::default(),
        })
        .unwrap_err();
    assert!(matches!(err, CoreError::ConsultUnderWay { .. }), "{err}");
    assert!(matches!(
        end(&mut f, id, true).unwrap_err(),
        CoreError::ConsultNotAccepted { .. }
    ));
    f.wait(4.0);
    f.apply(Command::Accept {
        contact: id,
        agent: "bo".into(),
    })
    .unwrap();
    assert_eq!(
        f.holder(id).as_deref(),
        Some("ann"),
        "still ann's while they talk"
    );
    let Applied::Contact(view) = end(&mut f, id, true).unwrap() else {
        panic!("a contact")
    };
    assert_eq!(&*view.queue, "tier2");
    assert_eq!(f.holder(id).as_deref(), Some("bo"));
    assert!(view.consult.is_none());
    let t = view.transfers.last().unwrap();
    assert_eq!(
        (&*t.from_agent, t.to_agent.as_deref(), t.warm),
        ("ann", Some("bo"), true)
    );
    assert_eq!((load(&f, "ann"), load(&f, "bo")), (0, 100));
    assert!(matches!(f.presence_of("ann"), PresenceView::WrapUp));
    assert_eq!(consult_ends(&f), [ConsultEnd::Transferred]);
    let front = f.engine.queue_counters("front").unwrap().0.clone();
    let tier2 = f.engine.queue_counters("tier2").unwrap().0.clone();
    assert_eq!((front.answered, front.transferred_out), (1, 1));
    assert_eq!(
        (tier2.offered, tier2.transferred_in, tier2.answered),
        (1, 1, 1)
    );
    assert_eq!(
        tier2.total_answer_wait_ms, 4_000,
        "answered when the consult was taken"
    );
    f.complete(id);
}

#[test]
fn the_holder_keeps_the_contact_when_the_consult_is_cancelled_declined_or_unanswered() {
    let (mut f, id) = floor();
    consult(&mut f, id, None).unwrap();
    f.apply(Command::Accept {
        contact: id,
        agent: "bo".into(),
    })
    .unwrap();
    end(&mut f, id, false).unwrap();
    assert_eq!((load(&f, "ann"), load(&f, "bo")), (100, 0));
    assert!(consult_of(&f, id).is_none());
    // Declined by the next one (cy is now the longest idle): ann keeps it.
    consult(&mut f, id, None).unwrap();
    assert_eq!(&*consult_of(&f, id).unwrap().agent, "cy");
    f.apply(Command::Reject {
        contact: id,
        agent: "cy".into(),
    })
    .unwrap();
    // Rings out after tier2's 20 s.
    consult(&mut f, id, Some("bo")).unwrap();
    f.wait(20.0);
    assert!(consult_of(&f, id).is_none());
    assert_eq!(
        consult_ends(&f),
        [
            ConsultEnd::Cancelled,
            ConsultEnd::Declined,
            ConsultEnd::TimedOut
        ]
    );
    assert_eq!(f.holder(id).as_deref(), Some("ann"));
    f.complete(id);
}

#[test]
fn a_consulted_agent_who_leaves_ends_the_consult() {
    let (mut f, id) = floor();
    consult(&mut f, id, Some("cy")).unwrap();
    f.presence("cy", Presence::NotReady("break".into()));
    assert!(consult_of(&f, id).is_none(), "a ringing consult ends");
    consult(&mut f, id, Some("bo")).unwrap();
    f.apply(Command::Accept {
        contact: id,
        agent: "bo".into(),
    })
    .unwrap();
    let refused = f
        .apply(Command::RemoveAgent { id: "bo".into() })
        .unwrap_err();
    assert_eq!(refused.class(), ErrorClass::Precondition, "bo is talking");
    f.presence("bo", Presence::Offline);
    assert!(consult_of(&f, id).is_none());
    assert_eq!(
        consult_ends(&f),
        [ConsultEnd::AgentLeft, ConsultEnd::AgentLeft]
    );
    assert_eq!(load(&f, "bo"), 0);
}

#[test]
fn consults_nobody_can_take_and_bad_requests_are_refused_and_change_nothing() {
    let (mut f, id) = floor();
    f.agent("dee", &[("billing", 2)]);
    let before = f.engine.image();
    let unskilled = consult(&mut f, id, Some("dee")).unwrap_err();
    assert!(
        matches!(unskilled, CoreError::NoAgentForConsult { .. }),
        "{unskilled}"
    );
    assert_eq!(
        consult(&mut f, id, Some("ann")).unwrap_err().class(),
        ErrorClass::Invalid
    );
    assert_eq!(
        consult(&mut f, id, Some("zed")).unwrap_err().class(),
        ErrorClass::NotFound
    );
    let unknown_queue = f
        .apply(Command::Consult {
            contact: id,
            agent: "ann".into(),
            queue: "nowhere".into(),
            to_agent: None,
            reason: String::new(),
        })
        .unwrap_err();
    assert_eq!(unknown_queue.class(), ErrorClass::NotFound);
    let by_another = f
        .apply(Command::Consult {
            contact: id,
            agent: "bo".into(),
            queue: "tier2".into(),
            to_agent: None,
            reason: String::new(),
        })
        .unwrap_err();
    assert_eq!(by_another.class(), ErrorClass::Precondition);
    assert!(matches!(
        end(&mut f, id, false).unwrap_err(),
        CoreError::NoConsult { .. }
    ));
    assert_eq!(f.engine.image(), before, "refusals change nothing");
    f.presence("bo", Presence::NotReady("lunch".into()));
    f.presence("cy", Presence::NotReady("lunch".into()));
    let before_nobody = f.engine.image();
    let nobody = consult(&mut f, id, None).unwrap_err();
    assert_eq!(nobody.class(), ErrorClass::Precondition);
    assert!(nobody.to_string().contains("tier2"), "{nobody}");
    assert_eq!(f.engine.image(), before_nobody);
    f.presence("bo", Presence::Ready);
    f.presence("cy", Presence::Ready);
    // The same request again answers with the contact.
    consult(&mut f, id, None).unwrap();
    let again = consult(&mut f, id, None).unwrap();
    assert!(matches!(again, Applied::Contact(v) if v.consult.is_some()));
}
