//! UpdateContact: a waiting contact's priority, customer value, requirements or context change;
//! it is re-keyed, keeps its wait, and is routed again at once.

use std::collections::BTreeMap;

use super::tests::Floor;
use super::*;

fn skill(s: &str) -> SkillLevel {
    let (name, level) = s.rsplit_once(':').unwrap();
    SkillLevel::new(name, level.parse().unwrap()).unwrap()
}

fn update(f: &mut Floor, contact: ContactId, update: ContactUpdate) -> Result<Applied, CoreError> {
    f.apply(Command::UpdateContact { contact, update })
}

#[test]
fn a_raised_priority_moves_the_contact_ahead_and_its_wait_still_counts_from_its_arrival() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    let older = f.enqueue("q", Channel::Voice);
    f.wait(10.0);
    let later = f.enqueue("q", Channel::Voice);
    f.wait(5.0);
    let changed = update(
        &mut f,
        later,
        ContactUpdate {
            priority: Some(5),
            ..ContactUpdate::default()
        },
    )
    .unwrap();
    assert!(matches!(changed, Applied::Contact(ref v) if v.priority == 5));
    assert_eq!(f.engine.queue_position(later).unwrap().0, 1);
    assert_eq!(f.engine.queue_position(older).unwrap().0, 2);
    let event = f.events.last().unwrap();
    assert!(matches!(
        &event.body,
        EventBody::ContactUpdated { contact, changed } if contact.id == later && changed == &["priority"]
    ));
    f.agent("a", &[]);
    assert_eq!(f.holder(later).as_deref(), Some("a"));
    let d = f.decisions().last().copied().unwrap().clone();
    assert_eq!(d.waited_ms, 5_000, "measured from its first enqueue");
    assert_eq!(f.state(older), ContactState::Waiting);
}

#[test]
fn new_requirements_are_routed_at_once() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.agent("junior", &[("billing", 3)]);
    let id = f
        .enqueue_with("q", Channel::Voice, |c| {
            c.required_skills = vec![skill("billing:5")]
        })
        .unwrap();
    assert_eq!(f.state(id), ContactState::Waiting);
    update(
        &mut f,
        id,
        ContactUpdate {
            required_skills: Some(vec![skill("billing:3")]),
            ..ContactUpdate::default()
        },
    )
    .unwrap();
    assert_eq!(f.holder(id).as_deref(), Some("junior"));
    let d = f.decisions().last().copied().unwrap().clone();
    assert_eq!(d.trigger, Trigger::ContactUpdated);
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(&*view.required_skills, &[skill("billing:3")]);
}

#[test]
fn new_requirements_keep_the_queue_defaults_and_the_relaxation_already_taken() {
    let mut f = Floor::new();
    f.queue("q", |q| {
        q.required_skills = vec![skill("lang:3")];
        q.relaxation = vec![queue::RelaxStep {
            after_secs: 10,
            action: queue::Relax::Lower {
                skill: SkillName::new("billing").unwrap(),
                level: Level::new(2).unwrap(),
            },
        }];
    });
    let id = f
        .enqueue_with("q", Channel::Voice, |c| {
            c.required_skills = vec![skill("billing:5")]
        })
        .unwrap();
    f.wait(11.0);
    update(
        &mut f,
        id,
        ContactUpdate {
            required_skills: Some(vec![skill("billing:8")]),
            ..ContactUpdate::default()
        },
    )
    .unwrap();
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(
        &*view.required_skills,
        &[skill("billing:2"), skill("lang:3")]
    );
}

#[test]
fn context_entries_are_set_and_removed() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    let id = f
        .enqueue_with("q", Channel::Voice, |c| {
            c.context = BTreeMap::from([
                ("intent".to_string(), "refund".to_string()),
                ("order".to_string(), "A-1".to_string()),
            ])
        })
        .unwrap();
    update(
        &mut f,
        id,
        ContactUpdate {
            context_set: BTreeMap::from([("intent".to_string(), "cancel".to_string())]),
            context_removed: vec!["order".into()],
            customer_value: Some(900.0),
            ..ContactUpdate::default()
        },
    )
    .unwrap();
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(
        *view.context,
        BTreeMap::from([("intent".to_string(), "cancel".to_string())])
    );
    assert_eq!(view.customer_value, 900.0);
}

#[test]
fn a_refused_update_changes_nothing() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    let waiting = f.enqueue("q", Channel::Voice);
    f.agent("a", &[]);
    f.presence("a", Presence::NotReady("break".into()));
    let before = (f.events.len(), f.engine.image());
    let refusals: Vec<(ContactId, ContactUpdate)> = vec![
        (waiting, ContactUpdate::default()),
        (
            waiting,
            ContactUpdate {
                priority: Some(101),
                ..ContactUpdate::default()
            },
        ),
        (
            waiting,
            ContactUpdate {
                customer_value: Some(f64::NAN),
                ..ContactUpdate::default()
            },
        ),
        (
            waiting,
            ContactUpdate {
                required_skills: Some(vec![skill("a:1"), skill("a:2")]),
                ..ContactUpdate::default()
            },
        ),
        (
            waiting,
            ContactUpdate {
                // A good priority with a context over its limit: refused whole.
                priority: Some(3),
                context_set: (0..100).map(|i| (format!("k{i}"), "v".into())).collect(),
                ..ContactUpdate::default()
            },
        ),
        (
            99,
            ContactUpdate {
                priority: Some(1),
                ..ContactUpdate::default()
            },
        ),
    ];
    for (id, u) in refusals {
        let e = update(&mut f, id, u.clone()).unwrap_err();
        let expected = if id == 99 {
            error::ErrorClass::NotFound
        } else {
            error::ErrorClass::Invalid
        };
        assert_eq!(e.class(), expected, "{u:?}: {e}");
    }
    assert_eq!((f.events.len(), f.engine.image()), before);
    // Only a waiting contact: an offered one is refused.
    f.presence("a", Presence::Ready);
    assert_eq!(f.holder(waiting).as_deref(), Some("a"));
    let e = update(
        &mut f,
        waiting,
        ContactUpdate {
            priority: Some(1),
            ..ContactUpdate::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            CoreError::NotWaiting {
                state: "offered",
                ..
            }
        ),
        "{e}"
    );
}
