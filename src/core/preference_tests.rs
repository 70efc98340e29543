//! Named preferred agents: a contact names the agents it should go to (with scores) and how long
//! it waits for them only; then anyone may take it. Decisions say whether a preference was met.

use super::error::ErrorClass;
use super::tests::Floor;
use super::*;

fn prefer(c: &mut NewContact, agents: &[(&str, u32)], wait_secs: u32) {
    c.preferred_agents = agents
        .iter()
        .map(|(agent, score)| PreferredAgent {
            agent: agent.to_string(),
            score: *score,
        })
        .collect();
    c.preferred_wait_secs = wait_secs;
}

fn last_decision(f: &Floor) -> Decision {
    f.decisions().last().copied().cloned().expect("a decision")
}

/// `manager` and `deputy` are each on a call; `pool` is free.
fn floor_with_busy_managers() -> (Floor, ContactId, ContactId) {
    let mut f = Floor::new();
    f.queue("accounts", |_| {});
    f.agent("manager", &[]);
    let m = f.enqueue("accounts", Channel::Voice);
    f.accept(m);
    f.agent("deputy", &[]);
    let d = f.enqueue("accounts", Channel::Voice);
    f.accept(d);
    f.agent("pool", &[]);
    (f, m, d)
}

#[test]
fn a_contact_waits_for_its_preferred_agents_while_another_agent_is_free() {
    let (mut f, m, d) = floor_with_busy_managers();
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("manager", 90), ("deputy", 40)], 60)
        })
        .unwrap();
    assert_eq!(
        f.state(call),
        ContactState::Waiting,
        "pool is free but not preferred"
    );
    // Another customer's call goes to pool meanwhile.
    let other = f.enqueue("accounts", Channel::Voice);
    assert_eq!(f.holder(other).as_deref(), Some("pool"));
    assert_eq!(last_decision(&f).preferred_met, None, "it prefers nobody");
    // The deputy frees first: any preferred agent takes it within the wait.
    f.wait(5.0);
    f.complete(d);
    assert_eq!(f.holder(call).as_deref(), Some("deputy"));
    let decision = last_decision(&f);
    assert_eq!(decision.preferred_met, Some(true));
    assert_eq!(decision.trigger, Trigger::CapacityFreed);
    f.complete(m);
}

#[test]
fn the_free_preferred_agent_with_the_highest_score_gets_it() {
    let mut f = Floor::new();
    f.queue("accounts", |_| {});
    // deputy is the longest idle, but manager scores higher.
    f.agent("deputy", &[]);
    f.wait(1.0);
    f.agent("manager", &[]);
    f.agent("pool", &[]);
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("deputy", 40), ("manager", 90)], 60)
        })
        .unwrap();
    assert_eq!(f.holder(call).as_deref(), Some("manager"));
    assert_eq!(last_decision(&f).preferred_met, Some(true));
    // Equal scores: the longest idle.
    let again = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("pool", 50), ("deputy", 50)], 60)
        })
        .unwrap();
    assert_eq!(f.holder(again).as_deref(), Some("deputy"));
}

#[test]
fn after_the_wait_anyone_takes_it_and_the_decision_says_the_preference_was_missed() {
    let (mut f, _, _) = floor_with_busy_managers();
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("manager", 90), ("deputy", 40)], 20)
        })
        .unwrap();
    f.wait(19.9);
    assert_eq!(f.state(call), ContactState::Waiting);
    f.wait(0.1);
    assert_eq!(f.holder(call).as_deref(), Some("pool"));
    let decision = last_decision(&f);
    assert_eq!(decision.trigger, Trigger::AffinityWaitEnded);
    assert_eq!(decision.preferred_met, Some(false));
}

#[test]
fn when_every_preferred_agent_declines_the_wait_ends_at_once() {
    let mut f = Floor::new();
    f.queue("accounts", |_| {});
    f.agent("manager", &[]);
    f.wait(1.0);
    f.agent("deputy", &[]);
    f.agent("pool", &[]);
    let busy = f.enqueue("accounts", Channel::Voice);
    assert_eq!(f.holder(busy).as_deref(), Some("manager"));
    f.accept(busy);
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("manager", 90), ("deputy", 40)], 600)
        })
        .unwrap();
    assert_eq!(f.holder(call).as_deref(), Some("deputy"));
    // deputy declines: the manager is still waited for, though pool is free.
    f.reject(call);
    assert_eq!(f.state(call), ContactState::Waiting);
    f.complete(busy);
    assert_eq!(f.holder(call).as_deref(), Some("manager"));
    // The manager declines too: nobody is left to wait for, pool takes it at once.
    f.reject(call);
    assert_eq!(f.holder(call).as_deref(), Some("pool"));
    assert_eq!(last_decision(&f).preferred_met, Some(false));
}

#[test]
fn named_agents_not_on_the_floor_are_passed_over() {
    let mut f = Floor::new();
    f.queue("accounts", |_| {});
    f.agent("pool", &[]);
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("left-last-year", 100)], 600)
        })
        .unwrap();
    assert_eq!(f.holder(call).as_deref(), Some("pool"));
    assert_eq!(last_decision(&f).preferred_met, None);
}

#[test]
fn a_preferred_agent_who_could_never_take_it_is_not_waited_for() {
    let mut f = Floor::new();
    f.queue("accounts", |q| {
        q.required_skills = vec![SkillLevel::new("spanish", 3).unwrap()]
    });
    f.agent("manager", &[]);
    f.agent("pool", &[("spanish", 5)]);
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("manager", 100)], 600)
        })
        .unwrap();
    assert_eq!(f.holder(call).as_deref(), Some("pool"));
}

#[test]
fn named_agents_replace_the_agent_recalled_from_the_customers_history() {
    let mut f = Floor::new();
    f.queue("accounts", |q| q.affinity_wait_secs = 600);
    f.agent("last-seen", &[]);
    let first = f
        .enqueue_with("accounts", Channel::Chat, |c| c.customer_id = "cust".into())
        .unwrap();
    f.accept(first);
    f.complete(first);
    f.agent("manager", &[]);
    let busy = f.enqueue("accounts", Channel::Voice);
    assert_eq!(f.holder(busy).as_deref(), Some("last-seen"));
    f.accept(busy);
    let busy2 = f.enqueue("accounts", Channel::Voice);
    assert_eq!(f.holder(busy2).as_deref(), Some("manager"));
    f.accept(busy2);
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            c.customer_id = "cust".into();
            prefer(c, &[("manager", 100)], 600);
        })
        .unwrap();
    assert_eq!(f.state(call), ContactState::Waiting);
    // last-seen frees first, but the customer named the manager.
    f.complete(busy);
    assert_eq!(f.state(call), ContactState::Waiting);
    f.complete(busy2);
    assert_eq!(f.holder(call).as_deref(), Some("manager"));
}

#[test]
fn without_a_wait_the_affinity_term_weighs_each_agents_score() {
    let mut f = Floor::new();
    f.queue("accounts", |q| {
        q.strategy = "weighted".into();
        q.agent_weights = [("affinity".into(), 1.0), ("idle".into(), 0.0)].into();
    });
    for agent in ["a", "b", "c"] {
        f.agent(agent, &[]);
    }
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("b", 30), ("c", 70)], 0)
        })
        .unwrap();
    // No wait: the search weighs c's 0.7 over b's 0.3 and a's 0.
    assert_eq!(f.holder(call).as_deref(), Some("c"));
    let decision = last_decision(&f);
    assert_eq!(decision.preferred_met, Some(true));
    let Terms::Agent(terms) = decision.candidates[0].terms else {
        panic!("agent terms")
    };
    assert_eq!(terms.0[AgentTerm::Affinity as usize], 0.7);
    assert_eq!(&*decision.candidates[1].agent, "b");
    // Under a strategy that does not weigh affinity, no wait means no preference at all: the
    // longest idle takes it.
    f.queue("plain", |_| {});
    let other = f
        .enqueue_with("plain", Channel::Voice, |c| prefer(c, &[("b", 100)], 0))
        .unwrap();
    assert_eq!(f.holder(other).as_deref(), Some("a"));
    assert_eq!(last_decision(&f).preferred_met, Some(false));
}

#[test]
fn bad_preferences_are_refused_and_change_nothing() {
    let mut f = Floor::new();
    f.queue("accounts", |_| {});
    let many: Vec<(String, u32)> = (0..17).map(|i| (format!("a{i}"), 50)).collect();
    let many: Vec<(&str, u32)> = many.iter().map(|(a, s)| (a.as_str(), *s)).collect();
    let cases: Vec<(&[(&str, u32)], u32)> = vec![
        (&[("m", 0)], 60),
        (&[("m", 101)], 60),
        (&[("m", 50), ("m", 60)], 60),
        (&[("", 50)], 60),
        (&[("m", 50)], 3601),
        (&[], 60),
        (&many, 60),
    ];
    let before = f.engine.image();
    for (agents, wait) in cases {
        let err = f
            .enqueue_with("accounts", Channel::Voice, |c| prefer(c, agents, wait))
            .unwrap_err();
        assert_eq!(err.class(), ErrorClass::Invalid, "{err}");
    }
    assert_eq!(f.engine.image(), before, "refusals change nothing");
}

#[test]
fn a_contact_held_for_its_preferred_agents_survives_an_image() {
    let (mut f, m, _) = floor_with_busy_managers();
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("manager", 90), ("deputy", 40)], 60)
        })
        .unwrap();
    let mut copy = Engine::from_image(&f.engine.image()).expect("image loads");
    copy.check_invariants().expect("invariants hold");
    let agent = f.holder(m).unwrap();
    let complete = Command::Complete {
        contact: m,
        agent,
        outcome: Outcome::default(),
    };
    copy.apply(complete.clone(), f.now).unwrap();
    f.apply(complete).unwrap();
    assert_eq!(f.holder(call).as_deref(), Some("manager"));
    assert_eq!(
        copy.contact_view(call).unwrap().state,
        f.engine.contact_view(call).unwrap().state
    );
}

#[test]
fn removing_one_preferred_agent_keeps_the_wait_for_the_others() {
    let (mut f, m, d) = floor_with_busy_managers();
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("manager", 90), ("deputy", 40)], 60)
        })
        .unwrap();
    f.complete(m);
    assert_eq!(f.holder(call).as_deref(), Some("manager"));
    f.reject(call);
    // The manager declined; the deputy is still waited for, and stays so when the manager
    // leaves the floor.
    f.apply(Command::RemoveAgent {
        id: "manager".into(),
    })
    .unwrap();
    assert_eq!(f.state(call), ContactState::Waiting);
    f.complete(d);
    assert_eq!(f.holder(call).as_deref(), Some("deputy"));
    // Removing the last one waited for ends the wait at once.
    let mut f = Floor::new();
    f.queue("accounts", |_| {});
    f.agent("deputy", &[]);
    f.presence("deputy", Presence::NotReady("training".into()));
    f.agent("pool", &[]);
    f.presence("pool", Presence::NotReady("break".into()));
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("deputy", 40)], 60)
        })
        .unwrap();
    f.presence("pool", Presence::Ready);
    assert_eq!(f.state(call), ContactState::Waiting);
    f.apply(Command::RemoveAgent {
        id: "deputy".into(),
    })
    .unwrap();
    assert_eq!(f.holder(call).as_deref(), Some("pool"));
}

#[test]
fn a_contact_shows_whom_it_prefers_and_until_when_it_waits_for_them_only() {
    let (mut f, m, _) = floor_with_busy_managers();
    let call = f
        .enqueue_with("accounts", Channel::Voice, |c| {
            prefer(c, &[("deputy", 40), ("manager", 90)], 20)
        })
        .unwrap();
    let named = |agent: &str, score| PreferredAgent {
        agent: agent.into(),
        score,
    };
    let preference = f.engine.preference_of(call).expect("it prefers someone");
    assert_eq!(
        preference.agents,
        vec![named("manager", 90), named("deputy", 40)],
        "highest score first"
    );
    assert_eq!(preference.until, f.engine.now() + 20_000);
    assert!(!preference.recalled, "named, not recalled");
    // A contact naming nobody prefers nobody.
    let other = f.enqueue("accounts", Channel::Voice);
    assert_eq!(f.holder(other).as_deref(), Some("pool"));
    assert_eq!(f.engine.preference_of(other), None);
    f.accept(other);
    // The wait is over (everyone is busy): still preferred, no longer waited for.
    f.wait(20.0);
    assert_eq!(f.state(call), ContactState::Waiting);
    let preference = f.engine.preference_of(call).expect("still prefers them");
    assert_eq!(preference.until, 0);
    assert_eq!(preference.agents.len(), 2);
    // Ended: nothing to report.
    f.complete(m);
    assert_eq!(f.holder(call).as_deref(), Some("manager"));
    f.accept(call);
    f.complete(call);
    assert_eq!(f.engine.preference_of(call), None);
    assert_eq!(f.engine.preference_of(9_999), None, "unknown");
}

#[test]
fn an_agent_recalled_from_the_customers_history_shows_as_recalled() {
    let mut f = Floor::new();
    f.queue("support", |q| q.affinity_wait_secs = 30);
    f.agent("alice", &[]);
    let chat = f
        .enqueue_with("support", Channel::Chat, |c| {
            c.customer_id = "cust-7".into()
        })
        .unwrap();
    f.accept(chat);
    f.agent("bob", &[]);
    // The customer calls while alice is on the chat: the call waits for her.
    let call = f
        .enqueue_with("support", Channel::Voice, |c| {
            c.customer_id = "cust-7".into()
        })
        .unwrap();
    let preference = f.engine.preference_of(call).expect("alice is recalled");
    assert!(preference.recalled);
    assert_eq!(preference.agents.len(), 1);
    assert_eq!(preference.agents[0].agent, "alice");
    assert_eq!(preference.until, f.engine.now() + 30_000);
}
