//! Exception rules: overflow after a wait, arrival triggers, the other actions, and the move
//! graph's checks (targets exist and take the channels, no cycle, a target cannot be deleted).

use super::error::ErrorClass;
use super::queue::order_by_move_targets;
use super::tests::Floor;
use super::*;

fn waited(secs: u32, action: ExceptionAction) -> ExceptionRule {
    ExceptionRule {
        trigger: ExceptionTrigger::Waited { secs },
        action,
    }
}

fn move_to(queue: &str) -> ExceptionAction {
    ExceptionAction::MoveTo {
        queue: queue.into(),
    }
}

fn put(f: &mut Floor, q: QueueConfig) -> Result<Applied, CoreError> {
    f.apply(Command::PutQueue(Box::new(q)))
}

/// `billing` (skill billing, nobody ready for it) overflows to `general` after 30 s; `gus`
/// serves `general` but is on a break.
fn overflow_floor() -> Floor {
    let mut f = Floor::new();
    f.queue("general", |q| q.sl_threshold_secs = 60);
    f.queue("billing", |q| {
        q.required_skills = vec![SkillLevel::new("billing", 1).unwrap()];
        q.exceptions = vec![waited(30, move_to("general"))];
    });
    f.agent("gus", &[]);
    f.presence("gus", Presence::NotReady("break".into()));
    f
}

fn counters(f: &Floor, queue: &str) -> stats::QueueCounters {
    f.engine.queue_counters(queue).unwrap().0.clone()
}

#[test]
fn a_waited_rule_moves_the_contact_and_its_wait_counts_from_its_first_enqueue() {
    let mut f = overflow_floor();
    let first = f.now;
    let id = f.enqueue("billing", Channel::Voice);
    f.wait(29.0);
    assert_eq!(&*f.engine.contact_view(id).unwrap().queue, "billing");
    f.wait(1.0);
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(&*view.queue, "general");
    assert_eq!(view.state, ContactState::Waiting);
    assert_eq!(view.queued_at, first, "a move keeps the contact's wait");
    assert!(view.required_skills.is_empty(), "general's requirements");
    let firing = &view.exceptions[0];
    assert_eq!(
        (&*firing.queue, firing.rule, firing.applied),
        ("billing", 0, true)
    );
    assert_eq!(firing.at, first + 30_000);
    assert_eq!(counters(&f, "billing").overflowed_out, 1);
    let general = counters(&f, "general");
    assert_eq!((general.offered, general.overflowed_in), (1, 1));
    assert!(f.events.iter().any(|e| matches!(
        &e.body,
        EventBody::ExceptionFired { contact, firing } if contact.id == id && firing.applied
    )));
    // Answered 50 s after the customer arrived: general (60 s) measures all 50 s.
    f.wait(20.0);
    f.presence("gus", Presence::Ready);
    let decision = f.decisions().last().copied().unwrap().clone();
    assert_eq!(decision.waited_ms, 50_000);
    assert_eq!(
        decision.exceptions.len(),
        1,
        "the decision shows the firing"
    );
    f.accept(id);
    let general = counters(&f, "general");
    assert_eq!(general.answered_within_threshold, 1);
    assert_eq!(general.total_answer_wait_ms, 50_000);
    assert_eq!(counters(&f, "billing").answered, 0);
}

#[test]
fn a_rule_coming_due_while_the_contact_rings_waits_for_the_offer_to_come_back() {
    let mut f = overflow_floor();
    f.queue("billing", |q| {
        q.required_skills = vec![SkillLevel::new("billing", 1).unwrap()];
        q.offer_timeout_secs = 20;
        q.exceptions = vec![waited(30, move_to("general"))];
    });
    f.agent("bea", &[("billing", 3)]);
    f.presence("bea", Presence::NotReady("lunch".into()));
    let id = f.enqueue("billing", Channel::Voice);
    f.wait(25.0);
    f.presence("bea", Presence::Ready);
    assert_eq!(f.holder(id).as_deref(), Some("bea"));
    f.wait(10.0);
    assert_eq!(
        &*f.engine.contact_view(id).unwrap().queue,
        "billing",
        "ringing"
    );
    // The offer times out at 45 s: the rule due since 30 s fires then.
    f.wait(10.0);
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(&*view.queue, "general");
    assert_eq!(view.exceptions[0].at, f.now);
}

#[test]
fn an_accepted_contact_never_moves() {
    let mut f = overflow_floor();
    f.agent("bea", &[("billing", 3)]);
    let id = f.enqueue("billing", Channel::Voice);
    f.accept(id);
    f.wait(60.0);
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(&*view.queue, "billing");
    assert!(view.exceptions.is_empty());
}

#[test]
fn moves_chain_and_a_rule_already_due_in_the_next_queue_fires_at_once() {
    let mut f = Floor::new();
    f.queue("c", |_| {});
    f.queue("b", |q| q.exceptions = vec![waited(20, move_to("c"))]);
    f.queue("a", |q| q.exceptions = vec![waited(30, move_to("b"))]);
    let id = f.enqueue("a", Channel::Email);
    f.wait(30.0);
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(&*view.queue, "c", "b's 20 s rule was already due");
    let path: Vec<&str> = view.exceptions.iter().map(|e| &*e.queue).collect();
    assert_eq!(path, ["a", "b"]);
    assert_eq!(counters(&f, "b").overflowed_in, 1);
    assert_eq!(counters(&f, "b").overflowed_out, 1);
}

#[test]
fn arrival_rules_fire_when_no_agent_takes_the_contact() {
    let mut f = Floor::new();
    f.queue("backup", |_| {});
    f.queue("sales", |q| {
        q.required_skills = vec![SkillLevel::new("sales", 1).unwrap()];
        q.exceptions = vec![
            ExceptionRule {
                trigger: ExceptionTrigger::LengthAtLeast { length: 2 },
                action: move_to("backup"),
            },
            ExceptionRule {
                trigger: ExceptionTrigger::EstimatedWaitOver { secs: 600 },
                action: ExceptionAction::Priority { priority: 7 },
            },
        ];
    });
    f.agent("sam", &[("sales", 2)]);
    f.presence("sam", Presence::NotReady("meeting".into()));
    // No staff to estimate from: the estimate counts as over 600 s.
    let first = f.enqueue("sales", Channel::Voice);
    assert_eq!(f.engine.contact_view(first).unwrap().priority, 7);
    f.enqueue("sales", Channel::Voice);
    let Applied::Enqueued {
        contact, position, ..
    } = f
        .apply(Command::Enqueue(NewContact::new("sales", Channel::Voice)))
        .unwrap()
    else {
        panic!("enqueued")
    };
    assert_eq!(&*contact.queue, "backup", "two already waited in sales");
    assert_eq!(position, 1, "its place in backup");
    assert_eq!(
        contact.priority, 0,
        "the estimate rule is not sales's any more"
    );
}

#[test]
fn an_end_rule_diverts_the_contact_with_its_reason() {
    let mut f = Floor::new();
    f.queue("night", |q| {
        q.exceptions = vec![ExceptionRule {
            trigger: ExceptionTrigger::NoAgent,
            action: ExceptionAction::End {
                reason: "closed".into(),
            },
        }];
    });
    let Applied::Enqueued { contact, .. } = f
        .apply(Command::Enqueue(NewContact::new("night", Channel::Voice)))
        .unwrap()
    else {
        panic!("enqueued")
    };
    assert_eq!(contact.state, ContactState::Diverted);
    assert_eq!(
        contact.exceptions[0].action,
        ExceptionAction::End {
            reason: "closed".into()
        }
    );
    let c = counters(&f, "night");
    assert_eq!(
        (c.offered, c.diverted, c.abandoned, c.expired),
        (1, 1, 0, 0)
    );
    assert_eq!(
        f.engine.queue_counters("night").unwrap().1,
        0,
        "nothing live"
    );
    // An agent logged in (even on a break) can serve the next one: it waits.
    f.agent("nia", &[]);
    f.presence("nia", Presence::NotReady("break".into()));
    let next = f.enqueue("night", Channel::Voice);
    assert_eq!(f.state(next), ContactState::Waiting);
}

#[test]
fn a_require_rule_replaces_the_requirements_and_routes_again() {
    let mut f = Floor::new();
    f.agent("sue", &[("supervisor", 1)]);
    f.queue("care", |q| {
        q.required_skills = vec![SkillLevel::new("care", 5).unwrap()];
        q.exceptions = vec![waited(
            120,
            ExceptionAction::Require {
                skills: vec![SkillLevel::new("supervisor", 1).unwrap()],
            },
        )];
    });
    let id = f.enqueue("care", Channel::Voice);
    f.wait(119.0);
    assert_eq!(f.state(id), ContactState::Waiting);
    f.wait(1.0);
    assert_eq!(f.holder(id).as_deref(), Some("sue"));
    assert_eq!(
        f.decisions().last().unwrap().trigger,
        Trigger::ExceptionFired
    );
}

#[test]
fn a_move_to_a_full_queue_is_not_made() {
    let mut f = overflow_floor();
    f.queue("general", |q| q.max_length = 1);
    f.enqueue("general", Channel::Voice);
    let id = f.enqueue("billing", Channel::Voice);
    f.wait(30.0);
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(&*view.queue, "billing");
    assert!(!view.exceptions[0].applied);
    f.wait(60.0);
    assert_eq!(view.exceptions.len(), 1, "each rule fires once per visit");
}

#[test]
fn a_cycle_an_unknown_target_and_a_narrower_target_are_refused_and_change_nothing() {
    let mut f = overflow_floor();
    let before = f.engine.image();
    let cycle = QueueConfig {
        exceptions: vec![waited(60, move_to("billing"))],
        ..QueueConfig::new("general")
    };
    let err = put(&mut f, cycle).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Invalid);
    assert!(
        err.to_string().contains("general -> billing -> general"),
        "{err}"
    );
    let unknown = QueueConfig {
        exceptions: vec![waited(60, move_to("nowhere"))],
        ..QueueConfig::new("sales")
    };
    assert!(
        put(&mut f, unknown)
            .unwrap_err()
            .to_string()
            .contains("nowhere")
    );
    let itself = QueueConfig {
        exceptions: vec![waited(60, move_to("sales"))],
        ..QueueConfig::new("sales")
    };
    assert_eq!(
        put(&mut f, itself).unwrap_err().class(),
        ErrorClass::Invalid
    );
    // general takes every channel billing takes; narrowing it is refused.
    let narrower = QueueConfig {
        channels: vec![Channel::Chat],
        ..QueueConfig::new("general")
    };
    assert!(
        put(&mut f, narrower)
            .unwrap_err()
            .to_string()
            .contains("billing")
    );
    let err = f
        .apply(Command::DeleteQueue {
            name: "general".into(),
        })
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Precondition);
    assert_eq!(f.engine.image(), before, "refusals change nothing");
}

#[test]
fn new_rules_apply_to_the_contacts_already_waiting() {
    let mut f = overflow_floor();
    f.queue("billing", |q| {
        q.required_skills = vec![SkillLevel::new("billing", 1).unwrap()]
    });
    let id = f.enqueue("billing", Channel::Voice);
    f.wait(90.0);
    f.queue("billing", |q| {
        q.required_skills = vec![SkillLevel::new("billing", 1).unwrap()];
        q.exceptions = vec![waited(60, move_to("general"))];
    });
    f.wait(0.001);
    assert_eq!(&*f.engine.contact_view(id).unwrap().queue, "general");
}

#[test]
fn configured_queues_are_ordered_so_targets_come_first_and_cycles_are_named() {
    let q = |name: &str, to: &[&str]| QueueConfig {
        exceptions: to.iter().map(|t| waited(10, move_to(t))).collect(),
        ..QueueConfig::new(name)
    };
    let ordered = order_by_move_targets(vec![
        q("a", &["b"]),
        q("b", &["c"]),
        q("c", &[]),
        q("d", &[]),
    ])
    .unwrap();
    let names: Vec<&str> = ordered.iter().map(|q| &*q.name).collect();
    assert_eq!(names, ["c", "b", "a", "d"]);
    let err = order_by_move_targets(vec![q("a", &["b"]), q("b", &["a"])]).unwrap_err();
    assert!(err.to_string().contains("a -> b -> a"), "{err}");
}

#[test]
fn rules_read_and_write_as_toml() {
    let q: QueueConfig = toml::from_str(
        r#"
        name = "billing"
        exceptions = [
          { waited_seconds = 60, move_to = "general" },
          { no_agent = true, end = "closed" },
          { length_at_least = 20, priority = 5 },
          { estimated_wait_seconds = 300, require = ["billing:1"] },
          { waited_seconds = 120, offer_callback = true },
        ]
        "#,
    )
    .unwrap();
    q.validate().unwrap();
    assert_eq!(q.exceptions.len(), 5);
    assert_eq!(q.exceptions[1].trigger, ExceptionTrigger::NoAgent);
    let again: QueueConfig = toml::from_str(&toml::to_string(&q).unwrap()).unwrap();
    assert_eq!(again, q);
    for bad in [
        "exceptions = [{ waited_seconds = 60 }]",
        "exceptions = [{ move_to = \"general\" }]",
        "exceptions = [{ waited_seconds = 60, no_agent = true, end = \"x\" }]",
        "exceptions = [{ no_agent = false, end = \"x\" }]",
        "exceptions = [{ waited_seconds = 5, offer_callback = false }]",
        "exceptions = [{ waited_seconds = 5, offer_callback = true, priority = 3 }]",
    ] {
        let text = format!("name = \"q\"\n{bad}");
        assert!(toml::from_str::<QueueConfig>(&text).is_err(), "{bad}");
    }
}

#[test]
fn an_offer_callback_rule_is_published_and_the_customer_decides() {
    let mut f = Floor::new();
    f.queue("care", |q| {
        q.exceptions = vec![waited(90, ExceptionAction::OfferCallback)];
    });
    let id = f.enqueue("care", Channel::Voice);
    f.wait(90.0);
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(view.state, ContactState::Waiting);
    assert_eq!(
        view.channel,
        Channel::Voice,
        "unchanged until the customer accepts"
    );
    assert_eq!(view.exceptions[0].action, ExceptionAction::OfferCallback);
    assert!(f.events.iter().any(|e| matches!(
        &e.body,
        EventBody::ExceptionFired { firing, .. } if firing.action == ExceptionAction::OfferCallback
    )));
    // The customer accepts: the frontend asks for the callback.
    f.apply(Command::RequestCallback {
        contact: id,
        request: CallbackRequest::default(),
    })
    .unwrap();
    assert_eq!(
        f.engine.contact_view(id).unwrap().channel,
        Channel::Callback
    );
}

#[test]
fn a_callback_moved_by_a_rule_keeps_no_maximum_wait() {
    let mut f = overflow_floor();
    f.queue("general", |q| q.max_wait_secs = 60);
    let id = f.enqueue("billing", Channel::Voice);
    f.apply(Command::RequestCallback {
        contact: id,
        request: CallbackRequest::default(),
    })
    .unwrap();
    f.wait(30.0);
    assert_eq!(&*f.engine.contact_view(id).unwrap().queue, "general");
    f.wait(120.0);
    assert_eq!(
        f.state(id),
        ContactState::Waiting,
        "off the line: it does not expire"
    );
}
