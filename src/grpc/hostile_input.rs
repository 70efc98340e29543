//! Property test: arbitrary request messages, converted and applied to an engine, never panic;
//! a refused one changes nothing (no event, same counts).

use proptest::prelude::*;

use super::convert::{
    agent_spec_from, contact_id, contact_update_from, new_contact_from, presence_from, queue_from,
    skills_from,
};
use crate::core::{Command, CoreError, Engine, EngineConfig, Presence, QueueConfig};
use crate::proto as pb;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z:._-]{1,12}",
        "\\PC{0,8}",
        "[ -~]{0,200}",
        Just("q".to_string()),
        Just("billing".to_string()),
        Just("a".repeat(129)),
    ]
}

fn skills() -> impl Strategy<Value = Vec<pb::Skill>> {
    proptest::collection::vec(
        (text(), prop_oneof![0u32..=12, any::<u32>()])
            .prop_map(|(name, level)| pb::Skill { name, level }),
        0..4,
    )
}

fn channel() -> impl Strategy<Value = i32> {
    prop_oneof![0i32..=8, any::<i32>()]
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-1.0),
        Just(0.0),
        Just(80.0),
        any::<f64>()
    ]
}

fn enqueue() -> impl Strategy<Value = pb::EnqueueContactRequest> {
    (
        text(),
        channel(),
        text(),
        number(),
        prop_oneof![0u32..=101, any::<u32>()],
        skills(),
        proptest::collection::hash_map(
            "[a-z]{0,8}",
            prop_oneof![9 => "[a-z ]{0,20}", 1 => Just("x".repeat(9_000))],
            0..70,
        ),
        text(),
    )
        .prop_map(
            |(queue, channel, customer_id, value, priority, required_skills, context, conv)| {
                pb::EnqueueContactRequest {
                    queue,
                    channel,
                    customer_id: customer_id.clone(),
                    customer_value: value,
                    priority,
                    alternatives: match priority % 5 {
                        0 => vec![pb::SkillSet {
                            skills: required_skills.clone(),
                        }],
                        1 => vec![pb::SkillSet { skills: vec![] }],
                        _ => vec![],
                    },
                    required_skills,
                    context,
                    // Hostile ids too, and one id shared by different requests (refused as
                    // reused once one was admitted).
                    request_id: match priority % 3 {
                        0 => conv.clone(),
                        1 => "retry".into(),
                        _ => String::new(),
                    },
                    // Preferred agents: unknown, blank, hostile, duplicated, scores and waits
                    // out of range.
                    preferred_agents: match priority % 4 {
                        0 => vec![],
                        1 => vec![pb::PreferredAgent {
                            agent_id: conv.clone(),
                            score: value as u32,
                        }],
                        _ => vec![
                            pb::PreferredAgent {
                                agent_id: customer_id.clone(),
                                score: priority,
                            };
                            (priority % 20) as usize
                        ],
                    },
                    preferred_wait_seconds: priority.wrapping_mul(37) % 4000,
                    conversation_id: conv,
                }
            },
        )
}

fn agent() -> impl Strategy<Value = pb::AgentSpec> {
    (
        text(),
        text(),
        skills(),
        prop_oneof![0u32..=200, any::<u32>()],
        proptest::collection::vec((channel(), any::<u32>()), 0..3),
    )
        .prop_map(|(id, name, skills, capacity, limits)| pb::AgentSpec {
            // Now and then a bot, or a kind that does not exist.
            kind: (capacity % 4) as i32,
            id,
            name,
            skills,
            capacity,
            channel_limits: limits
                .into_iter()
                .map(|(channel, max_contacts)| pb::ChannelLimit {
                    channel,
                    max_contacts,
                })
                .collect(),
        })
}

fn queue() -> impl Strategy<Value = pb::Queue> {
    (
        text(),
        skills(),
        proptest::collection::vec(channel(), 0..3),
        any::<u32>(),
        number(),
        prop_oneof![0u32..=4000, any::<u32>()],
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        prop_oneof![Just(String::new()), Just("longest-idle".into()), text()],
        routing(),
    )
        .prop_map(
            |(name, required_skills, channels, t, target, offer, wrap, wait, len, strategy, r)| {
                let (contact_strategy, (agent_weights, contact_weights), window, band, cap) = r.0;
                let (affinity_wait_seconds, affinity_horizon_seconds, relaxation) = r.1;
                // Mostly valid (so the rest of the queue is what gets tested), now and then not.
                let wait_estimator: String = match wait % 4 {
                    0 => String::new(),
                    1 => "queue-length".into(),
                    2 => "head-of-line".into(),
                    _ => name.chars().rev().collect(),
                };
                let name_for_rules = name.clone();
                pb::Queue {
                    reserve_agents: (wait % 3 > 0).then_some(len % 13),
                    // Out of range now and then (over 3,600).
                    short_abandon_seconds: (t % 2 == 0).then_some(wait),
                    name,
                    alternatives: match t % 4 {
                        0 => vec![pb::SkillSet {
                            skills: required_skills.clone(),
                        }],
                        1 => vec![pb::SkillSet { skills: vec![] }; (target as usize % 7) + 1],
                        _ => vec![],
                    },
                    required_skills,
                    channels,
                    sl_threshold_seconds: t,
                    sl_target_percent: target,
                    offer_timeout_seconds: offer,
                    wrap_up_seconds: wrap,
                    max_wait_seconds: wait,
                    max_length: len,
                    strategy,
                    contact_strategy,
                    agent_weights,
                    contact_weights,
                    window,
                    band,
                    score_cap: cap,
                    affinity_wait_seconds,
                    affinity_horizon_seconds,
                    relaxation,
                    version: 0,
                    // Hostile too (NaN, infinities, out of range) without another generator.
                    occupancy_cap_percent: target * 1.5 - 20.0,
                    wait_estimator,
                    // Now and then a rule: a move to itself, to a queue that does not exist
                    // or exists, a rule without a trigger, out-of-range values.
                    exceptions: exception_rules(t, &name_for_rules, len),
                    callback_attempts: wait % 12,
                    callback_retry_seconds: len,
                    // Now and then a cost: in range, zero, too large, a channel given twice
                    // or unknown.
                    channel_costs: match len % 5 {
                        0 => vec![],
                        1 => vec![pb::ChannelCost {
                            channel: (wait % 9) as i32,
                            cost: offer,
                        }],
                        2 => vec![
                            pb::ChannelCost {
                                channel: pb::Channel::Email as i32,
                                cost: 100,
                            };
                            2
                        ],
                        _ => vec![pb::ChannelCost {
                            channel: pb::Channel::Email as i32,
                            cost: len % 200,
                        }],
                    },
                }
            },
        )
}

type Routing = (
    (
        String,
        (Vec<pb::Weight>, Vec<pb::Weight>),
        u32,
        Option<f64>,
        Option<f64>,
    ),
    (u32, u32, Vec<pb::RelaxStep>),
);

/// A queue's strategy fields: known and unknown names, weights of any number, windows and
/// times in and out of range, relaxation steps with and without actions.
/// Exception rules picked by `t`: none mostly; a move to the queue itself, to `q` (which the
/// test's engine has) or to a queue that does not exist; a rule without a trigger; a zero wait
/// ending with an empty reason; a priority out of range.
fn exception_rules(t: u32, name: &str, n: u32) -> Vec<pb::ExceptionRule> {
    use pb::exception_rule::{Action, Trigger};
    let rule = |trigger, action| pb::ExceptionRule { trigger, action };
    match t % 9 {
        0 => vec![rule(
            Some(Trigger::WaitedSeconds(n % 100)),
            Some(Action::MoveTo(name.to_string())),
        )],
        1 => vec![rule(
            Some(Trigger::NoAgent(true)),
            Some(Action::MoveTo("q".into())),
        )],
        2 => vec![rule(
            Some(Trigger::LengthAtLeast(n)),
            Some(Action::MoveTo("nowhere".into())),
        )],
        3 => vec![rule(None, Some(Action::Priority(n % 200)))],
        4 => vec![rule(
            Some(Trigger::EstimatedWaitSeconds(n)),
            Some(Action::End(String::new())),
        )],
        5 => vec![rule(Some(Trigger::NoAgent(false)), None)],
        _ => vec![],
    }
}

fn routing() -> impl Strategy<Value = Routing> {
    let name = || {
        prop_oneof![
            Just(String::new()),
            Just("performance".to_string()),
            Just("service-level".to_string()),
            Just("weighted".to_string()),
            text()
        ]
    };
    let weights = || {
        let weight = (
            prop_oneof![Just("idle".to_string()), Just("wait".to_string()), text()],
            number(),
        )
            .prop_map(|(term, weight)| pb::Weight { term, weight });
        proptest::collection::vec(weight, 0..3)
    };
    let action = prop_oneof![
        Just(None),
        (text(), any::<u32>()).prop_map(|(name, level)| Some(pb::relax_step::Action::Lower(
            pb::Skill { name, level }
        ))),
        text().prop_map(|s| Some(pb::relax_step::Action::Drop(s))),
    ];
    let step = (any::<u32>(), action).prop_map(|(after_seconds, action)| pb::RelaxStep {
        after_seconds,
        action,
    });
    (
        (
            name(),
            (weights(), weights()),
            prop_oneof![0u32..=70, any::<u32>()],
            proptest::option::of(number()),
            proptest::option::of(number()),
        ),
        (
            prop_oneof![0u32..=4000, any::<u32>()],
            any::<u32>(),
            proptest::collection::vec(step, 0..3),
        ),
    )
}

#[derive(Debug, Clone)]
enum Request {
    Enqueue(pb::EnqueueContactRequest),
    PutAgent(pb::AgentSpec),
    PutQueue(pb::Queue),
    SetState(String, u8, String),
    Update(pb::UpdateContactRequest),
    Transfer(pb::TransferContactRequest),
    Callback(pb::RequestCallbackRequest),
    Attempt(pb::ReportCallbackAttemptRequest),
    Consult(pb::ConsultContactRequest),
    EndConsult(pb::EndConsultRequest),
}

/// A consult on one of the first contacts (or one that never was) by a hostile agent, to a
/// hostile queue and agent (now and then the agent itself).
fn consult() -> impl Strategy<Value = pb::ConsultContactRequest> {
    (
        prop_oneof![0u64..4, any::<u64>()],
        prop_oneof![Just("billing".to_string()), text()],
        prop_oneof![Just("q".to_string()), text()],
        prop_oneof![Just(String::new()), Just("billing".to_string()), text()],
        text(),
    )
        .prop_map(|(contact_id, agent_id, queue, to_agent_id, reason)| {
            pb::ConsultContactRequest {
                contact_id,
                agent_id,
                queue,
                to_agent_id,
                reason,
            }
        })
}

/// A callback for one of the first contacts (or one that never was), at hostile times (the
/// engine's clock is at 1 ms: 0 is in the past) with a hostile number.
fn callback() -> impl Strategy<Value = pb::RequestCallbackRequest> {
    (
        prop_oneof![0u64..4, any::<u64>()],
        proptest::option::of(prop_oneof![0u64..3, any::<u64>()]),
        proptest::option::of(prop_oneof![0u64..3, any::<u64>()]),
        text(),
    )
        .prop_map(|(contact_id, not_before_ms, window_end_ms, number)| {
            pb::RequestCallbackRequest {
                contact_id,
                not_before_ms,
                window_end_ms,
                number,
            }
        })
}

/// A callback attempt reported by a hostile agent, with any result value.
fn attempt() -> impl Strategy<Value = pb::ReportCallbackAttemptRequest> {
    (
        prop_oneof![0u64..4, any::<u64>()],
        prop_oneof![Just("billing".to_string()), text()],
        prop_oneof![0i32..5, any::<i32>()],
        prop_oneof![0u32..4, any::<u32>()],
    )
        .prop_map(
            |(contact_id, agent_id, result, attempt)| pb::ReportCallbackAttemptRequest {
                contact_id,
                agent_id,
                result,
                attempt,
            },
        )
}

/// A transfer of one of the first contacts (or of one that never was) by a hostile agent, to
/// a hostile queue, for a hostile reason, now and then to a named agent (the agent itself, one
/// that does not exist) with a hostile wait.
fn transfer() -> impl Strategy<Value = pb::TransferContactRequest> {
    (
        prop_oneof![0u64..4, any::<u64>()],
        prop_oneof![Just("billing".to_string()), text()],
        prop_oneof![Just("q".to_string()), text()],
        skills(),
        text(),
        prop_oneof![Just(String::new()), Just("billing".to_string()), text()],
        prop_oneof![0u32..5, any::<u32>()],
    )
        .prop_map(
            |(contact_id, agent_id, queue, required_skills, reason, to_agent_id, wait)| {
                pb::TransferContactRequest {
                    contact_id,
                    agent_id,
                    queue,
                    required_skills,
                    reason,
                    to_agent_id,
                    agent_wait_seconds: wait,
                }
            },
        )
}

/// An update of one of the first contacts (or of one that never was), any field hostile.
fn update() -> impl Strategy<Value = pb::UpdateContactRequest> {
    (
        prop_oneof![0u64..4, any::<u64>()],
        proptest::option::of(prop_oneof![0u32..=101, any::<u32>()]),
        proptest::option::of(number()),
        proptest::option::of(skills()),
        proptest::collection::hash_map(
            "[a-z]{0,8}",
            prop_oneof![9 => "[a-z ]{0,20}", 1 => Just("x".repeat(9_000))],
            0..70,
        ),
        proptest::collection::vec(text(), 0..3),
    )
        .prop_map(
            |(contact_id, priority, value, skills, context_set, context_removed)| {
                pb::UpdateContactRequest {
                    contact_id,
                    priority,
                    customer_value: value,
                    required_skills: skills.map(|skills| pb::SkillRequirements { skills }),
                    context_set,
                    context_removed,
                }
            },
        )
}

fn request() -> impl Strategy<Value = Request> {
    // Each arm boxed: one union of ten deep tuple strategies overflows a test thread's stack in
    // a debug build.
    prop_oneof![
        enqueue().prop_map(Request::Enqueue).boxed(),
        agent().prop_map(Request::PutAgent).boxed(),
        queue().prop_map(Request::PutQueue).boxed(),
        (text(), 0u8..4, text())
            .prop_map(|(a, s, r)| Request::SetState(a, s, r))
            .boxed(),
        update().prop_map(Request::Update).boxed(),
        transfer().prop_map(Request::Transfer).boxed(),
        callback().prop_map(Request::Callback).boxed(),
        attempt().prop_map(Request::Attempt).boxed(),
        consult().prop_map(Request::Consult).boxed(),
        (
            prop_oneof![0u64..4, any::<u64>()],
            prop_oneof![Just("billing".to_string()), text()],
            any::<bool>()
        )
            .prop_map(|(contact_id, agent_id, transfer)| Request::EndConsult(
                pb::EndConsultRequest {
                    contact_id,
                    agent_id,
                    transfer,
                }
            ))
            .boxed(),
    ]
}

fn command(request: Request) -> Result<Command, tonic::Status> {
    use pb::agent_state_change::{NotReady, State};
    Ok(match request {
        Request::Enqueue(r) => Command::Enqueue(new_contact_from(r)?),
        Request::PutAgent(a) => Command::PutAgent(agent_spec_from(a)?),
        Request::PutQueue(q) => Command::PutQueue(Box::new(queue_from(q)?)),
        Request::Transfer(t) => Command::Transfer {
            to_agent: crate::grpc::convert::named_agent_from(t.to_agent_id, t.agent_wait_seconds),
            contact: contact_id(t.contact_id)?,
            agent: t.agent_id,
            queue: t.queue,
            required_skills: skills_from(&t.required_skills)?,
            reason: t.reason,
        },
        Request::Callback(c) => Command::RequestCallback {
            contact: contact_id(c.contact_id)?,
            request: crate::core::CallbackRequest {
                not_before: c.not_before_ms,
                window_end: c.window_end_ms,
                number: c.number,
            },
        },
        Request::Consult(c) => Command::Consult {
            contact: contact_id(c.contact_id)?,
            agent: c.agent_id,
            queue: c.queue,
            to_agent: (!c.to_agent_id.is_empty()).then_some(c.to_agent_id),
            reason: c.reason,
        },
        Request::EndConsult(e) => Command::EndConsult {
            contact: contact_id(e.contact_id)?,
            agent: e.agent_id,
            transfer: e.transfer,
        },
        Request::Attempt(a) => Command::CallbackAttempt {
            contact: contact_id(a.contact_id)?,
            agent: a.agent_id,
            result: crate::grpc::convert::attempt_result_from(a.result)?,
            attempt: a.attempt,
        },
        Request::Update(u) => Command::UpdateContact {
            contact: contact_id(u.contact_id)?,
            update: contact_update_from(u)?,
        },
        Request::SetState(agent, state, reason) => {
            let state = match state {
                0 => None,
                1 => Some(State::Ready(Default::default())),
                2 => Some(State::NotReady(NotReady { reason })),
                _ => Some(State::Offline(Default::default())),
            };
            let presence = presence_from(Some(pb::AgentStateChange { state }))?;
            Command::SetPresence { agent, presence }
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        // 128 cases in CI; PROPTEST_CASES=N for a longer run.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(128),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_requests_never_panic_and_refusals_change_nothing(
        requests in proptest::collection::vec(request(), 1..40)
    ) {
        let mut engine = Engine::new(EngineConfig::default());
        engine.apply(Command::PutQueue(Box::new(QueueConfig::new("q"))), 0).unwrap();
        engine.apply(Command::PutAgent(crate::core::AgentSpec::new("billing")), 0).unwrap();
        engine
            .apply(
                Command::SetPresence { agent: "billing".into(), presence: Presence::Ready },
                0,
            )
            .unwrap();
        // Every request comes at time 1: a refusal then leaves even the clock alone.
        engine.advance(1);
        let mut events = Vec::new();
        engine.drain_events(&mut events);
        events.clear();
        for r in requests {
            let Ok(command) = command(r) else { continue };
            let before = (engine.waiting_count(), engine.agent_count(), engine.queue_configs());
            let image = engine.image();
            let result = engine.apply(command, 1);
            engine.drain_events(&mut events);
            if let Err(e) = &result {
                prop_assert!(events.is_empty(), "a refused command emitted {events:?}");
                let after = (engine.waiting_count(), engine.agent_count(), engine.queue_configs());
                prop_assert_eq!(before, after);
                // Nothing at all, but the count of contacts refused at a full queue's door.
                if !matches!(e, CoreError::QueueFull { .. }) {
                    prop_assert!(engine.image() == image, "{e} changed the engine");
                }
            }
            events.clear();
            prop_assert_eq!(engine.check_invariants(), Ok(()));
        }
    }
}
