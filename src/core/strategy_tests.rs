//! Each strategy on a constructed floor: it chooses differently from longest-idle / priority-FIFO,
//! its fairness guard or starvation bound holds, and its decision explains itself.

use std::collections::BTreeMap;

use super::tests::Floor;
use super::*;

fn agent_side(name: &str) -> impl FnOnce(&mut QueueConfig) {
    let name = name.to_string();
    move |q| q.strategy = name
}

fn contact_side(name: &str) -> impl FnOnce(&mut QueueConfig) {
    let name = name.to_string();
    move |q| q.contact_strategy = name
}

/// Offers, accepts and completes one contact of queue `q` with `outcome`; gives its agent.
fn handle(f: &mut Floor, queue: &str, outcome: Outcome) -> String {
    let id = f.enqueue(queue, Channel::Voice);
    let agent = f.holder(id).expect("offered");
    f.accept(id);
    f.wait(60.0);
    f.apply(Command::Complete {
        contact: id,
        agent: agent.clone(),
        outcome,
    })
    .expect("complete");
    agent
}

fn last_decision(f: &Floor) -> &Decision {
    f.decisions().last().copied().expect("a decision")
}

#[test]
fn round_robin_gives_the_turn_to_the_agent_offered_longest_ago() {
    let run = |strategy: &str| {
        let mut f = Floor::new();
        f.queue("q", agent_side(strategy));
        f.agent("a", &[]);
        handle(&mut f, "q", Outcome::default()); // a: offered at t0, idle again at t0 + 60 s
        f.wait(10.0);
        f.agent("b", &[]); // b: ready (and created) at t0 + 70 s
        f.wait(100.0);
        let id = f.enqueue("q", Channel::Voice);
        f.holder(id).unwrap()
    };
    // a: idle since t0 + 60 s, offered at t0; b: idle since t0 + 70 s, never offered.
    assert_eq!(run("longest-idle"), "a");
    assert_eq!(run("round-robin"), "a");
    // Now make a longer idle but offered more recently than b.
    let run = |strategy: &str| {
        let mut f = Floor::new();
        f.queue("q", agent_side(strategy));
        f.agent("b", &[]);
        f.presence("b", Presence::NotReady("break".into()));
        f.wait(5.0);
        f.agent("a", &[]);
        let first = f.enqueue("q", Channel::Voice); // offered to a at t0 + 5 s
        f.accept(first);
        f.complete(first); // a idle since t0 + 5 s, offered at t0 + 5 s
        f.wait(5.0);
        f.presence("b", Presence::Ready); // b idle since t0 + 10 s, offered never (created t0)
        f.wait(5.0);
        let id = f.enqueue("q", Channel::Voice);
        f.holder(id).unwrap()
    };
    assert_eq!(run("longest-idle"), "a");
    assert_eq!(run("round-robin"), "b");
}

#[test]
fn least_occupied_prefers_the_agent_with_more_room() {
    let run = |strategy: &str| {
        let mut f = Floor::new();
        f.queue("q", agent_side(strategy));
        f.agent("a", &[]);
        let chat = f.enqueue("q", Channel::Chat); // a holds one chat from t0
        f.accept(chat);
        f.wait(5.0);
        f.agent("b", &[]);
        f.wait(5.0);
        let next = f.enqueue("q", Channel::Chat);
        f.holder(next).unwrap()
    };
    assert_eq!(run("longest-idle"), "a");
    assert_eq!(run("least-occupied"), "b");
    let mut f = Floor::new();
    f.queue("q", agent_side("least-occupied"));
    f.agent("a", &[]);
    f.enqueue("q", Channel::Chat);
    let terms = &last_decision(&f).candidates[0].terms;
    assert_eq!(
        *terms,
        Terms::Agent(agent_terms(&[(AgentTerm::FreeCapacity, 1.0)]))
    );
}

fn agent_terms(values: &[(AgentTerm, f64)]) -> strategy::AgentTerms {
    let mut v = [0.0; AgentTerm::COUNT];
    for (t, x) in values {
        v[*t as usize] = *x;
    }
    strategy::AgentTerms(v)
}

#[test]
fn fewest_handled_spreads_contacts_over_the_period() {
    let run = |strategy: &str| {
        let mut f = Floor::new();
        f.queue("q", agent_side(strategy));
        f.agent("a", &[]);
        for _ in 0..3 {
            assert_eq!(handle(&mut f, "q", Outcome::default()), "a");
        }
        f.agent("b", &[]);
        f.wait(1.0);
        let id = f.enqueue("q", Channel::Voice);
        f.holder(id).unwrap()
    };
    assert_eq!(run("longest-idle"), "a");
    assert_eq!(run("fewest-handled"), "b");
    // A new period starts everyone at zero again: longest idle decides.
    let mut f = Floor::new();
    f.queue("q", agent_side("fewest-handled"));
    f.agent("a", &[]);
    handle(&mut f, "q", Outcome::default());
    f.agent("b", &[]);
    f.wait(3600.0);
    let id = f.enqueue("q", Channel::Voice);
    assert_eq!(f.holder(id).unwrap(), "a");
}

#[test]
fn most_skilled_takes_the_highest_level_then_the_specialist() {
    let run = |strategy: &str| {
        let mut f = Floor::new();
        f.queue("q", agent_side(strategy));
        f.agent("a", &[("billing", 4)]);
        f.agent("generalist", &[("billing", 9), ("tech", 5), ("lang:es", 5)]);
        f.agent("specialist", &[("billing", 9)]);
        f.wait(1.0);
        let id = f.enqueue_with("q", Channel::Voice, |c| {
            c.required_skills = vec![SkillLevel::new("billing", 3).unwrap()];
        });
        f.holder(id.unwrap()).unwrap()
    };
    assert_eq!(run("longest-idle"), "a");
    assert_eq!(run("most-skilled"), "specialist");
}

#[test]
fn a_tie_at_the_top_goes_to_its_longest_idle_without_walking_the_tie() {
    let mut f = Floor::new();
    f.queue("q", agent_side("most-skilled"));
    for i in 0..20 {
        f.agent(&format!("novice-{i:02}"), &[("billing", 3)]);
    }
    f.wait(1.0);
    // Twelve experts tie on score; the first made ready (not the lowest id) is the longest idle.
    for i in (0..12).rev() {
        f.agent(&format!("expert-{i:02}"), &[("billing", 9)]);
        f.wait(1.0);
    }
    let id = f.enqueue_with("q", Channel::Voice, |c| {
        c.required_skills = vec![SkillLevel::new("billing", 3).unwrap()];
    });
    assert_eq!(f.holder(id.unwrap()).as_deref(), Some("expert-11"));
    let d = last_decision(&f);
    assert_eq!(
        d.candidates.len(),
        strategy::CANDIDATES_RECORDED,
        "runners-up recorded"
    );
    assert!(
        d.candidates
            .iter()
            .all(|c| c.score == d.candidates[0].score),
        "the runners-up are from the tie: {:?}",
        d.candidates
    );
    assert!(
        d.considered < 12,
        "the tie is not enumerated: considered {}",
        d.considered
    );
}

#[test]
fn the_occupancy_cap_passes_over_a_busy_agent_while_another_can_take_the_contact() {
    let run = |cap: f64| {
        let mut f = Floor::new();
        f.queue("q", |q| q.occupancy_cap_percent = cap);
        f.agent("busy", &[]);
        // Twenty one-minute calls, 20 s apart: busy 75 % of the last 27 minutes.
        for _ in 0..20 {
            handle(&mut f, "q", Outcome::default());
            f.wait(20.0);
        }
        f.wait(1.0);
        f.agent("fresh", &[]);
        f.wait(1.0);
        let first = f.enqueue("q", Channel::Voice);
        let first_decision = last_decision(&f).excluded;
        // fresh now holds the first: only busy can take the second.
        let second = f.enqueue("q", Channel::Voice);
        let second_decision = last_decision(&f).excluded;
        (
            f.holder(first).unwrap(),
            first_decision,
            f.holder(second),
            second_decision,
        )
    };
    // Without a cap, longest idle: busy.
    let (holder, excluded, _, _) = run(0.0);
    assert_eq!(holder, "busy");
    assert_eq!((excluded.over_cap, excluded.cap_waived), (0, false));
    // With a 70 % cap busy is passed over while fresh can take it ...
    let (holder, excluded, second, waived) = run(70.0);
    assert_eq!(holder, "fresh");
    assert_eq!((excluded.over_cap, excluded.cap_waived), (1, false));
    // ... and takes the next one anyway when nobody under the cap can.
    assert_eq!(second.as_deref(), Some("busy"));
    assert_eq!((waived.over_cap, waived.cap_waived), (1, true));
    // A cap busy is under changes nothing.
    assert_eq!(run(80.0).0, "busy");
}

#[test]
fn performance_routes_to_the_agent_with_better_outcomes() {
    let good = Outcome {
        handle_secs: 0,
        resolved: true,
        satisfaction: 5,
    };
    let poor = Outcome {
        handle_secs: 0,
        resolved: false,
        satisfaction: 1,
    };
    let run = |strategy: &str| {
        let mut f = Floor::new();
        f.queue("q", agent_side(strategy));
        f.queue("train", |_| {});
        f.agent("weak", &[]);
        f.agent("strong", &[]);
        // Trained on a longest-idle queue, they take turns; weak's outcomes are poor, strong's
        // good (performance belongs to the agent, whichever queue taught it).
        for _ in 0..6 {
            for _turn in 0..2 {
                let id = f.enqueue("train", Channel::Voice);
                let agent = f.holder(id).unwrap();
                f.accept(id);
                let outcome = if agent == "weak" { poor } else { good };
                f.apply(Command::Complete {
                    contact: id,
                    agent,
                    outcome,
                })
                .unwrap();
                f.wait(1.0);
            }
        }
        f.presence("weak", Presence::NotReady("x".into()));
        f.presence("weak", Presence::Ready);
        f.wait(1.0);
        f.presence("strong", Presence::NotReady("x".into()));
        f.presence("strong", Presence::Ready);
        f.wait(1.0);
        // weak has been idle longest.
        let id = f.enqueue("q", Channel::Voice);
        (f.holder(id).unwrap(), last_decision(&f).clone())
    };
    assert_eq!(run("longest-idle").0, "weak");
    let (agent, decision) = run("performance");
    assert_eq!(agent, "strong");
    let Terms::Agent(best) = decision.candidates[0].terms else {
        panic!("agent terms")
    };
    let Terms::Agent(other) = decision.candidates[1].terms else {
        panic!("agent terms")
    };
    let p = AgentTerm::Performance as usize;
    assert!(best.0[p] > 0.6 && other.0[p] < 0.4, "{best:?} {other:?}");
}

/// Ten contacts in a row, each handled at once, on two agents whose performance differs by less
/// than the band (0.15 here): longest idle decides inside the band, so both get work; without a band the
/// better one takes all.
#[test]
fn the_performance_band_keeps_the_best_agent_from_taking_every_contact() {
    let run = |band: f64| {
        let mut f = Floor::new();
        f.queue("q", |q| {
            q.strategy = "performance".into();
            q.band = Some(band);
        });
        f.queue("train", |_| {});
        f.agent("a", &[]);
        f.agent("b", &[]);
        // Taking turns: a resolves all, b all but one.
        for i in 0..8 {
            let id = f.enqueue("train", Channel::Voice);
            let agent = f.holder(id).unwrap();
            f.accept(id);
            let resolved = !(agent == "b" && i == 1);
            f.apply(Command::Complete {
                contact: id,
                agent,
                outcome: Outcome {
                    resolved,
                    ..Outcome::default()
                },
            })
            .unwrap();
            f.wait(1.0);
        }
        let mut counts = BTreeMap::<String, u32>::new();
        for _ in 0..10 {
            let id = f.enqueue("q", Channel::Voice);
            let agent = f.holder(id).unwrap();
            *counts.entry(agent.clone()).or_default() += 1;
            f.accept(id);
            let outcome = Outcome {
                resolved: true,
                ..Outcome::default()
            };
            f.apply(Command::Complete {
                contact: id,
                agent,
                outcome,
            })
            .unwrap();
            f.wait(1.0);
        }
        counts
    };
    // a: four resolved, b: three of four — 0.72 against 0.61.
    let guarded = run(0.15);
    assert_eq!(guarded.values().copied().collect::<Vec<_>>(), vec![5, 5]);
    let unguarded = run(0.0);
    assert_eq!(unguarded.get("a"), Some(&10), "{unguarded:?}");
}

#[test]
fn weighted_sums_the_terms_it_is_given() {
    let mut f = Floor::new();
    f.queue("q", |q| {
        q.strategy = "weighted".into();
        q.agent_weights = [("idle".into(), -1.0)].into();
    });
    f.agent("a", &[]);
    f.wait(5.0);
    f.agent("b", &[]);
    f.wait(1.0);
    let id = f.enqueue("q", Channel::Voice);
    // Negative idle weight: the most recently idle agent wins.
    assert_eq!(f.holder(id).as_deref(), Some("b"));
    let d = last_decision(&f);
    assert_eq!(&*d.strategy.label, "weighted/priority-fifo");
    assert_eq!(d.candidates[0].score, -1.0);
    assert_eq!(d.candidates[1].score, -6.0);
}

/// Two waiting contacts, the agent frees later: who is served first.
fn first_served(
    strategy: impl FnOnce(&mut QueueConfig),
    first: impl FnOnce(&mut NewContact),
    gap_secs: f64,
    second: impl FnOnce(&mut NewContact),
) -> (ContactId, ContactId, ContactId) {
    let mut f = Floor::new();
    f.queue("q", strategy);
    let a = f.enqueue_with("q", Channel::Voice, first).unwrap();
    f.wait(gap_secs);
    let b = f.enqueue_with("q", Channel::Voice, second).unwrap();
    f.wait(1.0);
    f.agent("agent", &[]);
    let served = last_decision(&f).contact;
    (a, b, served)
}

#[test]
fn wait_ageing_serves_a_low_priority_contact_that_waited_long() {
    let (old, new, served) = first_served(
        contact_side("priority-fifo"),
        |_| {},
        100.0,
        |c| c.priority = 5,
    );
    assert_eq!(served, new);
    let (old2, _, served) = first_served(
        contact_side("wait-ageing"),
        |_| {},
        100.0,
        |c| c.priority = 5,
    );
    assert_eq!((old, served), (old2, old2));
    // Ageing is capped: after the cap both score the same and the earlier one wins.
    let (old, _, served) = first_served(
        |q| {
            q.contact_strategy = "wait-ageing".into();
            q.score_cap = Some(5.0);
        },
        |c| c.priority = 4,
        100.0,
        |c| c.priority = 5,
    );
    assert_eq!(served, old);
}

#[test]
fn customer_value_serves_the_valuable_customer_first() {
    let (first, _, served) = first_served(
        contact_side("priority-fifo"),
        |_| {},
        10.0,
        |c| c.customer_value = 5.0,
    );
    assert_eq!(served, first);
    let (_, valuable, served) = first_served(
        contact_side("customer-value"),
        |_| {},
        10.0,
        |c| c.customer_value = 5.0,
    );
    assert_eq!(served, valuable);
}

/// Value-9 contacts arrive faster than the one agent handles them. Under `customer-value` a
/// value-0 contact is served before any value-9 contact that arrived more than (9 − 0) × 10 s
/// after it; with the wait term switched off it is never served.
#[test]
fn customer_value_does_not_starve_the_low_value_contact() {
    let run = |wait_weight: f64| {
        let mut f = Floor::new();
        f.queue("q", |q| {
            q.contact_strategy = "customer-value".into();
            q.contact_weights = [("wait".into(), wait_weight)].into();
        });
        f.agent("agent", &[]);
        let busy = f.enqueue("q", Channel::Voice);
        f.accept(busy);
        let low = f.enqueue("q", Channel::Voice);
        let mut holding = busy;
        let mut served_before = Vec::new();
        for _ in 0..200 {
            for _ in 0..2 {
                f.enqueue_with("q", Channel::Voice, |c| c.customer_value = 9.0)
                    .unwrap();
                f.wait(2.5);
            }
            // Handle time 5 s; arrivals every 2.5 s: the backlog grows.
            f.complete(holding);
            holding = last_decision(&f).contact;
            if holding == low {
                let enqueued = |id| f.engine.contact_view(id).unwrap().enqueued_at;
                let latest = served_before.iter().map(|id| enqueued(*id)).max();
                return Some(latest.unwrap() - enqueued(low));
            }
            served_before.push(holding);
            f.accept(holding);
        }
        None
    };
    let lead = run(0.1).expect("served");
    assert!((85_000..=90_000).contains(&lead), "{lead} ms");
    assert_eq!(run(0.0), None);
}

#[test]
fn new_customer_boost_serves_first_contacts_and_returning_abandoners_first() {
    let mut f = Floor::new();
    f.queue("q", contact_side("new-customer"));
    f.agent("agent", &[]);
    // "known" was served and completed; "left" abandoned.
    let known = f
        .enqueue_with("q", Channel::Chat, |c| c.customer_id = "known".into())
        .unwrap();
    f.accept(known);
    f.complete(known);
    f.presence("agent", Presence::NotReady("break".into()));
    let left = f
        .enqueue_with("q", Channel::Chat, |c| c.customer_id = "left".into())
        .unwrap();
    f.apply(Command::Cancel {
        contact: left,
        reason: CancelReason::Abandoned,
    })
    .unwrap();
    let again = f
        .enqueue_with("q", Channel::Voice, |c| c.customer_id = "known".into())
        .unwrap();
    let back = f
        .enqueue_with("q", Channel::Voice, |c| c.customer_id = "left".into())
        .unwrap();
    let fresh = f
        .enqueue_with("q", Channel::Voice, |c| c.customer_id = "fresh".into())
        .unwrap();
    f.presence("agent", Presence::Ready);
    // The returning-after-abandon customer and the new one come before the earlier "known".
    assert_eq!(last_decision(&f).contact, back);
    f.accept(back);
    f.complete(back);
    assert_eq!(last_decision(&f).contact, fresh);
    f.accept(fresh);
    f.complete(fresh);
    assert_eq!(last_decision(&f).contact, again);
}

#[test]
fn affinity_waits_for_the_agent_who_handled_the_customer() {
    let mut f = Floor::new();
    f.queue("q", |q| q.affinity_wait_secs = 30);
    f.agent("a", &[]);
    let chat = f
        .enqueue_with("q", Channel::Chat, |c| c.customer_id = "cust".into())
        .unwrap();
    f.accept(chat);
    f.agent("b", &[]);
    f.wait(1.0);
    // The customer calls while a is still on the chat: the call waits for a, although b is free.
    let call = f
        .enqueue_with("q", Channel::Voice, |c| c.customer_id = "cust".into())
        .unwrap();
    assert_eq!(f.state(call), ContactState::Waiting);
    // Another customer's call goes to b meanwhile.
    let other = f.enqueue("q", Channel::Voice);
    assert_eq!(f.holder(other).as_deref(), Some("b"));
    f.wait(10.0);
    f.complete(chat);
    assert_eq!(f.holder(call).as_deref(), Some("a"));
    let d = last_decision(&f);
    assert_eq!(d.history.len(), 1);
    assert_eq!(d.history[0].channel, Channel::Chat);
    assert_eq!(d.history[0].agent.as_deref(), Some("a"));
    assert_eq!(&*d.strategy.label, "affinity+longest-idle/priority-fifo");
    let Terms::Agent(terms) = d.candidates[0].terms else {
        panic!("agent terms")
    };
    assert_eq!(terms.0[AgentTerm::Affinity as usize], 0.0, "not weighed");
}

#[test]
fn affinity_gives_up_after_its_wait_or_when_the_agent_declines() {
    let setup = || {
        let mut f = Floor::new();
        f.queue("q", |q| q.affinity_wait_secs = 30);
        f.agent("a", &[]);
        let chat = f
            .enqueue_with("q", Channel::Chat, |c| c.customer_id = "cust".into())
            .unwrap();
        f.accept(chat);
        f.agent("b", &[]);
        let b_busy = f.enqueue("q", Channel::Voice);
        f.accept(b_busy);
        let call = f
            .enqueue_with("q", Channel::Voice, |c| c.customer_id = "cust".into())
            .unwrap();
        (f, chat, b_busy, call)
    };
    // a stays busy: after 30 s the call goes to whoever is free.
    let (mut f, _, b_busy, call) = setup();
    f.complete(b_busy);
    assert_eq!(f.state(call), ContactState::Waiting);
    f.wait(30.0);
    assert_eq!(f.holder(call).as_deref(), Some("b"));
    assert_eq!(last_decision(&f).trigger, Trigger::AffinityWaitEnded);
    // a is offered the call and rejects it: it goes to b as soon as b is free.
    let (mut f, chat, b_busy, call) = setup();
    f.complete(chat);
    assert_eq!(f.holder(call).as_deref(), Some("a"));
    f.reject(call);
    assert_eq!(f.state(call), ContactState::Waiting);
    f.complete(b_busy);
    assert_eq!(f.holder(call).as_deref(), Some("b"));
}

#[test]
fn service_level_serves_the_queue_nearest_its_threshold() {
    let run = |contact: &str| {
        let mut f = Floor::new();
        let set = |threshold: u32| {
            let contact = contact.to_string();
            move |q: &mut QueueConfig| {
                q.contact_strategy = contact;
                q.sl_threshold_secs = threshold;
            }
        };
        f.queue("patient", set(120));
        f.queue("urgent", set(10));
        f.enqueue("patient", Channel::Voice);
        f.wait(5.0);
        f.enqueue("urgent", Channel::Voice);
        f.wait(4.0);
        f.agent("agent", &[]);
        last_decision(&f).queue.to_string()
    };
    assert_eq!(run("priority-fifo"), "patient");
    // patient: 9 s of 120 s; urgent: 4 s of 10 s.
    assert_eq!(run("service-level"), "urgent");
}

#[test]
fn relaxation_steps_lower_then_drop_a_requirement_at_their_deadlines() {
    let mut f = Floor::new();
    f.queue("q", |q| {
        q.relaxation = vec![
            queue::RelaxStep {
                after_secs: 10,
                action: queue::Relax::Lower {
                    skill: SkillName::new("lang:es").unwrap(),
                    level: Level::new(5).unwrap(),
                },
            },
            queue::RelaxStep {
                after_secs: 30,
                action: queue::Relax::Drop {
                    skill: SkillName::new("lang:es").unwrap(),
                },
            },
        ]
    });
    f.agent("novice", &[("lang:es", 5)]);
    f.agent("none", &[("tech", 5)]);
    let needs = |c: &mut NewContact| {
        c.required_skills = vec![SkillLevel::new("lang:es", 8).unwrap()];
    };
    let first = f.enqueue_with("q", Channel::Voice, needs).unwrap();
    let second = f.enqueue_with("q", Channel::Voice, needs).unwrap();
    f.wait(9.9);
    assert_eq!(f.state(first), ContactState::Waiting);
    f.wait(0.1);
    assert_eq!(f.holder(first).as_deref(), Some("novice"));
    f.accept(first);
    let d = last_decision(&f);
    assert_eq!(
        (d.trigger, d.relaxation_step),
        (Trigger::RequirementsRelaxed, 1)
    );
    let view = f.engine.contact_view(first).unwrap();
    assert_eq!(view.required_skills[0].level.get(), 5);
    // The second waits on (novice is busy) until the skill is dropped at 30 s.
    f.wait(19.9);
    assert_eq!(f.state(second), ContactState::Waiting);
    f.wait(0.1);
    assert_eq!(f.holder(second).as_deref(), Some("none"));
    assert_eq!(last_decision(&f).relaxation_step, 2);
}

#[test]
fn a_strategy_change_applies_to_the_next_decision_and_keeps_waiting_contacts() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    let old = f.enqueue("q", Channel::Voice);
    f.wait(100.0);
    let urgent = f
        .enqueue_with("q", Channel::Voice, |c| c.priority = 5)
        .unwrap();
    f.queue("q", contact_side("wait-ageing"));
    assert_eq!(f.engine.queue_config("q").unwrap().version, 2);
    assert_eq!(f.engine.waiting_count(), 2);
    f.agent("agent", &[]);
    let d = last_decision(&f);
    assert_eq!((d.contact, d.strategy.version), (old, 2));
    assert_eq!(&*d.strategy.label, "longest-idle/wait-ageing");
    assert_eq!(f.state(urgent), ContactState::Waiting);
    // Unknown names and bad parameters are refused and change nothing.
    let mut bad = QueueConfig::new("q");
    bad.contact_strategy = "lottery".into();
    assert!(matches!(
        f.apply(Command::PutQueue(Box::new(bad))),
        Err(CoreError::Invalid(m)) if m.contains("lottery")
    ));
    assert_eq!(f.engine.queue_config("q").unwrap().version, 2);
}

#[test]
fn a_decision_counts_the_agents_it_could_not_use_by_reason() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    let billing = [("billing", 5)];
    f.agent("away", &billing);
    f.presence("away", Presence::NotReady("lunch".into()));
    f.agent("full", &billing);
    let call = f.enqueue_with("q", Channel::Voice, |c| {
        c.required_skills = vec![SkillLevel::new("billing", 1).unwrap()];
    });
    f.accept(call.unwrap());
    f.agent("chatty", &[("billing", 5)]);
    let chat = f.enqueue("q", Channel::Chat);
    assert_eq!(f.holder(chat).as_deref(), Some("chatty"));
    f.accept(chat);
    f.agent("declines", &[("billing", 5)]);
    f.agent("fits", &[("billing", 5), ("tech", 2)]);
    f.agent("techie", &[("tech", 9)]);
    let id = f
        .enqueue_with("q", Channel::Voice, |c| {
            c.required_skills = vec![SkillLevel::new("billing", 3).unwrap()];
        })
        .unwrap();
    // Same idle time everywhere: agent id order. chatty has no room for a call.
    assert_eq!(f.holder(id).as_deref(), Some("declines"));
    f.reject(id);
    let d = last_decision(&f);
    assert_eq!((d.contact, &*d.agent), (id, "fits"));
    let expected = Exclusions {
        not_ready: 1, // away, from the billing pool
        wrap_up: 0,
        no_capacity: 2, // full (from the pool) and chatty (walked: no room for a call)
        missing_skill: 0,
        declined: 1, // declines
        ..Exclusions::default()
    };
    assert_eq!(d.excluded, expected);
    f.accept(id);
    f.complete(id);
    // tech is the rarer requirement: its agents are walked, and techie lacks billing.
    let id = f
        .enqueue_with("q", Channel::Chat, |c| {
            c.required_skills = vec![
                SkillLevel::new("billing", 3).unwrap(),
                SkillLevel::new("tech", 1).unwrap(),
            ];
        })
        .unwrap();
    let d = last_decision(&f);
    assert_eq!((d.contact, &*d.agent), (id, "fits"));
    assert_eq!(d.excluded.missing_skill, 1, "{:?}", d.excluded);
}

#[test]
fn affinity_does_not_hold_a_contact_for_an_agent_who_could_never_take_it() {
    let mut f = Floor::new();
    f.queue("q", |q| q.affinity_wait_secs = 30);
    f.agent("a", &[]);
    let chat = f
        .enqueue_with("q", Channel::Chat, |c| c.customer_id = "cust".into())
        .unwrap();
    f.accept(chat);
    f.complete(chat);
    f.agent("spanish", &[("lang:es", 5)]);
    // a handled the customer but lacks the skill this contact needs: no wait for a.
    let call = f
        .enqueue_with("q", Channel::Voice, |c| {
            c.customer_id = "cust".into();
            c.required_skills = vec![SkillLevel::new("lang:es", 3).unwrap()];
        })
        .unwrap();
    assert_eq!(f.holder(call).as_deref(), Some("spanish"));
}

#[test]
fn the_wait_estimate_at_enqueue_comes_from_the_queue_s_estimator() {
    let estimate_for = |estimator: &str| {
        let mut f = Floor::new();
        let name = estimator.to_string();
        f.queue("q", move |q| q.wait_estimator = name);
        f.agent("a", &[]);
        let first = f.enqueue("q", Channel::Voice); // offered to a: a is busy
        f.accept(first);
        f.enqueue("q", Channel::Voice); // waits at the head
        f.wait(30.0);
        match f.apply(Command::Enqueue(NewContact::new("q", Channel::Voice))) {
            Ok(Applied::Enqueued {
                position,
                estimated_wait_ms,
                ..
            }) => (position, estimated_wait_ms),
            other => panic!("{other:?}"),
        }
    };
    // The head has waited 30 s; nobody has been answered twice yet.
    assert_eq!(estimate_for("head-of-line"), (2, Some(30_000)));
    assert_eq!(estimate_for("answer-rate"), (2, None));
    assert_eq!(estimate_for("queue-length"), (2, None));
    // The first answer waited 0 s.
    assert_eq!(estimate_for("last-to-enter"), (2, Some(0)));
    let mut f = Floor::new();
    let mut bad = QueueConfig::new("q");
    bad.wait_estimator = "crystal-ball".into();
    let err = f.apply(Command::PutQueue(Box::new(bad))).unwrap_err();
    assert!(err.to_string().contains("wait estimator"), "{err}");
}

/// A floor with `vip` (service-level: 90 % in 10 s, requires `vip`) and `std` (priority-fifo:
/// 80 % in 120 s), where ten `std` calls were answered at once by `w` (now offline): `std` is
/// ahead of its target (pressure 0.5), `vip` has no data yet (pressure 1: it keeps two agents).
fn two_tier() -> Floor {
    two_tier_keeping(queue::DEFAULT_RESERVE_AGENTS)
}

/// [`two_tier`] with vip keeping at most `reserve` agents.
fn two_tier_keeping(reserve: u32) -> Floor {
    let mut f = Floor::new();
    f.queue("vip", |q| {
        q.reserve_agents = reserve;
        q.contact_strategy = "service-level".into();
        q.required_skills = vec![SkillLevel::new("vip", 1).unwrap()];
        q.sl_threshold_secs = 10;
        q.sl_target_percent = 90.0;
    });
    f.queue("std", |q| {
        q.sl_threshold_secs = 120;
        q.sl_target_percent = 80.0;
    });
    f.agent("w", &[]);
    for _ in 0..10 {
        handle(&mut f, "std", Outcome::default());
    }
    f.presence("w", Presence::Offline);
    f
}

#[test]
fn reservation_keeps_idle_agents_for_a_queue_at_risk_and_releases_the_others_in_time() {
    let mut f = two_tier();
    f.agent("a", &[("vip", 5)]);
    f.wait(1.0);
    f.agent("b", &[("vip", 5)]);
    f.wait(1.0);
    f.agent("c", &[]);
    f.wait(1.0);
    // Two idle agents can serve vip and it keeps two: std's call goes to c, the newest.
    let x = f.enqueue("std", Channel::Voice);
    assert_eq!(f.holder(x).as_deref(), Some("c"));
    assert_eq!(last_decision(&f).excluded.held, 2);
    f.accept(x);
    // The next std call waits while a and b idle, up to 3/4 of its 120 s threshold.
    let y = f.enqueue("std", Channel::Voice);
    f.wait(89.0);
    assert_eq!(f.state(y), ContactState::Waiting);
    f.wait(2.0);
    assert_eq!(f.holder(y).as_deref(), Some("a"));
    assert_eq!(last_decision(&f).trigger, Trigger::ReservationReleased);
    // vip's calls are not held back from anyone.
    let v = f.enqueue("vip", Channel::Voice);
    assert_eq!(f.holder(v).as_deref(), Some("b"));
}

#[test]
fn a_queue_snapshot_shows_its_recent_service_level_and_pressure() {
    let f = two_tier();
    let snaps = f.engine.queue_snapshots();
    let (std, vip) = (&snaps[0], &snaps[1]);
    assert_eq!((&*std.config.name, &*vip.config.name), ("std", "vip"));
    // Ten of ten within threshold against 80 %, with 8 of 10 prior: (1 − 18/20) / 0.2.
    assert!((std.pressure(f.now) - 0.5).abs() < 1e-9);
    assert_eq!(std.recent_sl_offered(f.now), 1.0);
    // Nothing ended yet: on target.
    assert_eq!(vip.pressure(f.now), 1.0);
    // An hour later the ten have left the window: std is back at the prior.
    assert_eq!(std.pressure(f.now + 3_600_000), 1.0);
}

#[test]
fn reservation_leaves_a_freed_agent_idle_for_the_queue_at_risk() {
    let mut f = two_tier();
    f.agent("a", &[("vip", 5)]);
    let v = f.enqueue("vip", Channel::Voice);
    f.accept(v);
    let s = f.enqueue("std", Channel::Voice);
    f.wait(5.0);
    f.complete(v);
    // a is the only idle agent vip could have: std's call, 5 s into 120 s, waits.
    assert_eq!(f.state(s), ContactState::Waiting);
    assert!(f.engine.agent_view("a").unwrap().offered.is_empty());
    // The next vip call is answered at once.
    let v2 = f.enqueue("vip", Channel::Voice);
    assert_eq!(f.holder(v2).as_deref(), Some("a"));
    assert_eq!(last_decision(&f).waited_ms, 0);
}

#[test]
fn a_held_contact_of_impatient_customers_is_released_sooner() {
    let mut f = two_tier();
    // Two std customers hang up after 5 s: std's mean patience (5 s by maximum likelihood over
    // every wait that ended) is shorter than its 120 s threshold, so it is the one that counts.
    for _ in 0..2 {
        let gone = f.enqueue("std", Channel::Voice);
        f.wait(5.0);
        f.apply(Command::Cancel {
            contact: gone,
            reason: CancelReason::Abandoned,
        })
        .expect("abandon");
    }
    f.agent("a", &[("vip", 5)]);
    let s = f.enqueue("std", Channel::Voice);
    // Released at 3/4 of 5 s, not of 120 s.
    f.wait(3.7);
    assert_eq!(f.state(s), ContactState::Waiting);
    f.wait(0.1);
    assert_eq!(f.holder(s).as_deref(), Some("a"));
    assert_eq!(last_decision(&f).trigger, Trigger::ReservationReleased);
}

#[test]
fn a_queue_that_stops_reserving_or_is_deleted_releases_the_contacts_held_for_it() {
    let vip_without_reservation = |f: &mut Floor| {
        f.queue("vip", |q| {
            q.required_skills = vec![SkillLevel::new("vip", 1).unwrap()];
            q.sl_threshold_secs = 10;
            q.sl_target_percent = 90.0;
        })
    };
    let delete_vip = |f: &mut Floor| {
        f.apply(Command::DeleteQueue { name: "vip".into() })
            .expect("delete");
    };
    for change in [vip_without_reservation, delete_vip] {
        let mut f = two_tier();
        f.agent("a", &[("vip", 5)]);
        let s = f.enqueue("std", Channel::Voice);
        assert_eq!(f.state(s), ContactState::Waiting);
        change(&mut f);
        assert_eq!(f.holder(s).as_deref(), Some("a"));
        assert_eq!(last_decision(&f).trigger, Trigger::ReservationReleased);
    }
}

#[test]
fn no_agent_is_held_for_a_queue_not_under_more_pressure() {
    // Both queues fresh (pressure 1 each): nothing is held.
    let mut f = Floor::new();
    f.queue("vip", |q| q.contact_strategy = "service-level".into());
    f.queue("std", |_| {});
    f.agent("a", &[]);
    let s = f.enqueue("std", Channel::Voice);
    assert_eq!(f.holder(s).as_deref(), Some("a"));
    assert_eq!(last_decision(&f).excluded.held, 0);
}

#[test]
fn reserve_agents_limits_how_many_idle_agents_a_queue_keeps_and_zero_turns_it_off() {
    let run = |reserve: u32| {
        let mut f = two_tier_keeping(reserve);
        f.agent("a", &[("vip", 5)]);
        f.wait(1.0);
        f.agent("b", &[("vip", 5)]);
        let first = f.enqueue("std", Channel::Voice);
        let second = f.enqueue("std", Channel::Voice);
        (f.state(first), f.state(second))
    };
    let offered = |s: ContactState| matches!(s, ContactState::Offered { .. });
    // vip (pressure 1) would keep two: both std calls wait.
    let (first, second) = run(2);
    assert!(!offered(first) && !offered(second));
    // Kept to one: the first std call takes an agent, the second waits.
    let (first, second) = run(1);
    assert!(offered(first) && !offered(second));
    // Off: both are answered.
    let (first, second) = run(0);
    assert!(offered(first) && offered(second));
}
