//! A command log record: one [`Command`] with the engine time it was applied at, encoded as the
//! protobuf message `routerd.journal.v1.Record` (`proto/routerd/journal/v1/journal.proto`).
//!
//! Explicit, stable tags: every command is a numbered `oneof` case and every field a numbered
//! field, so a later version that adds a command or a setting never shifts the meaning of what
//! is already on disk. Conversions here are exact (every value as the engine took it) and
//! checked on the way back: a record that decodes but names an unknown command, channel or
//! reason is refused with what was wrong, never guessed at.
//!
//! Cost: one owned protobuf message per record (the command's strings are copied once), built
//! and encoded on the engine thread; decoding happens only at recovery and in the snapshotter.

use std::collections::BTreeMap;

use prost::Message;

use crate::core::contact::ContextLimits;
use crate::core::ewt::WaitEstimator;
use crate::core::queue::DEFAULT_RESERVE_AGENTS;
use crate::core::{
    AgentKind, AgentSpec, AttemptResult, CallbackRequest, CancelReason, Channel, ChannelCosts,
    Command, ContactUpdate, EngineConfig, ExceptionAction, ExceptionRule, ExceptionTrigger, Millis,
    NamedAgent, NewContact, Outcome, PreferredAgent, Presence, QueueConfig, Relax, RelaxStep,
    SkillLevel, SkillName,
};

/// The generated `routerd.journal.v1` messages.
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/routerd.journal.v1.rs"));
}

use pb::record::Command as Tag;

/// Appends the encoding of `(at, command)` to `out`.
pub fn encode(out: &mut Vec<u8>, at: Millis, command: &Command) {
    let record = pb::Record {
        at_ms: at,
        command: Some(command_to(command)),
    };
    record.encode(out).expect("a Vec grows to hold any record");
}

/// Decodes one record's bytes.
pub fn decode(bytes: &[u8]) -> Result<(Millis, Command), String> {
    let record = pb::Record::decode(bytes).map_err(|e| format!("not a journal record: {e}"))?;
    let command = record
        .command
        .ok_or("a record of a command this build does not know (written by a newer routerd?)")?;
    Ok((record.at_ms, command_from(command)?))
}

fn command_to(command: &Command) -> Tag {
    match command {
        Command::PutQueue(q) => Tag::PutQueue(pb::PutQueue {
            queue: Some(queue_to(q)),
        }),
        Command::DeleteQueue { name } => Tag::DeleteQueue(pb::DeleteQueue { name: name.clone() }),
        Command::PutAgent(spec) => Tag::PutAgent(pb::PutAgent {
            id: spec.id.to_string(),
            name: spec.name.clone(),
            skills: skills_to(&spec.skills),
            capacity: spec.capacity,
            channel_limits: spec
                .channel_limits
                .iter()
                .map(|(c, max)| pb::ChannelLimit {
                    channel: channel_to(*c) as i32,
                    max: *max,
                })
                .collect(),
            bot: spec.kind == AgentKind::Bot,
        }),
        Command::RemoveAgent { id } => Tag::RemoveAgent(pb::RemoveAgent { id: id.clone() }),
        Command::SetPresence { agent, presence } => {
            use pb::set_presence::Presence as P;
            Tag::SetPresence(pb::SetPresence {
                agent: agent.clone(),
                presence: Some(match presence {
                    Presence::Offline => P::Offline(true),
                    Presence::Ready => P::Ready(true),
                    Presence::NotReady(reason) => P::NotReady(reason.clone()),
                }),
            })
        }
        Command::Session { agent, attached } => Tag::Session(pb::Session {
            agent: agent.clone(),
            attached: *attached,
        }),
        Command::Enqueue(new) => Tag::Enqueue(pb::Enqueue {
            queue: new.queue.clone(),
            channel: channel_to(new.channel) as i32,
            customer_id: new.customer_id.clone(),
            customer_value: new.customer_value,
            priority: new.priority,
            required_skills: skills_to(&new.required_skills),
            alternatives: sets_to(&new.alternatives),
            context: new.context.clone(),
            conversation_id: new.conversation_id.clone(),
            request_id: new.request_id.clone(),
            preferred_agents: new
                .preferred_agents
                .iter()
                .map(|p| pb::PreferredAgent {
                    agent: p.agent.clone(),
                    score: p.score,
                })
                .collect(),
            preferred_wait_seconds: new.preferred_wait_secs,
        }),
        Command::Cancel { contact, reason } => Tag::Cancel(pb::Cancel {
            contact: *contact,
            reason: match reason {
                CancelReason::Abandoned => pb::CancelReason::Abandoned,
                CancelReason::Withdrawn => pb::CancelReason::Withdrawn,
            } as i32,
        }),
        Command::Accept { contact, agent } => Tag::Accept(pb::Accept {
            contact: *contact,
            agent: agent.clone(),
        }),
        Command::Reject { contact, agent } => Tag::Reject(pb::Reject {
            contact: *contact,
            agent: agent.clone(),
        }),
        Command::Complete {
            contact,
            agent,
            outcome,
        } => Tag::Complete(pb::Complete {
            contact: *contact,
            agent: agent.clone(),
            handle_seconds: outcome.handle_secs,
            resolved: outcome.resolved,
            satisfaction: outcome.satisfaction as u32,
        }),
        Command::Configure(config) => Tag::Configure(configure_to(config)),
        Command::Tick => Tag::Tick(pb::Tick {}),
        Command::StartExternalWork {
            agent,
            id,
            channel,
            cost,
            label,
        } => Tag::StartExternalWork(pb::StartExternalWork {
            agent: agent.clone(),
            id: id.clone(),
            channel: channel_to(*channel) as i32,
            cost: *cost,
            label: label.clone(),
        }),
        Command::EndExternalWork { agent, id } => Tag::EndExternalWork(pb::EndExternalWork {
            agent: agent.clone(),
            id: id.clone(),
        }),
        Command::RequestCallback { contact, request } => {
            Tag::RequestCallback(pb::RequestCallback {
                contact: *contact,
                not_before_ms: request.not_before,
                window_end_ms: request.window_end,
                number: request.number.clone(),
            })
        }
        Command::CallbackAttempt {
            contact,
            agent,
            result,
            attempt,
        } => Tag::CallbackAttempt(pb::CallbackAttempt {
            contact: *contact,
            agent: agent.clone(),
            result: match result {
                AttemptResult::Reached => 1,
                AttemptResult::NoAnswer => 2,
                AttemptResult::Busy => 3,
            },
            attempt: *attempt,
        }),
        Command::Consult {
            contact,
            agent,
            queue,
            to_agent,
            reason,
        } => Tag::Consult(pb::Consult {
            contact: *contact,
            agent: agent.clone(),
            queue: queue.clone(),
            to_agent: to_agent.clone().unwrap_or_default(),
            reason: reason.clone(),
        }),
        Command::EndConsult {
            contact,
            agent,
            transfer,
        } => Tag::EndConsult(pb::EndConsult {
            contact: *contact,
            agent: agent.clone(),
            transfer: *transfer,
        }),
        Command::Transfer {
            contact,
            agent,
            queue,
            required_skills,
            reason,
            to_agent,
        } => Tag::Transfer(pb::Transfer {
            contact: *contact,
            agent: agent.clone(),
            queue: queue.clone(),
            required_skills: skills_to(required_skills),
            reason: reason.clone(),
            to_agent: to_agent
                .as_ref()
                .map(|n| n.agent.clone())
                .unwrap_or_default(),
            agent_wait_seconds: to_agent.as_ref().map_or(0, |n| n.wait_secs),
        }),
        Command::Escalate {
            contact,
            agent,
            queue,
            summary,
            fields,
            required_skills,
        } => Tag::Escalate(pb::Escalate {
            contact: *contact,
            agent: agent.clone(),
            queue: queue.clone(),
            summary: summary.clone(),
            fields: fields.clone().into_iter().collect(),
            required_skills: skills_to(required_skills),
        }),
        Command::UpdateContact { contact, update } => Tag::UpdateContact(pb::UpdateContact {
            contact: *contact,
            priority: update.priority,
            customer_value: update.customer_value,
            replaces_skills: update.required_skills.is_some(),
            required_skills: update
                .required_skills
                .as_deref()
                .map(skills_to)
                .unwrap_or_default(),
            context_set: update.context_set.clone(),
            context_removed: update.context_removed.clone(),
        }),
    }
}

fn command_from(tag: Tag) -> Result<Command, String> {
    Ok(match tag {
        Tag::PutQueue(p) => Command::PutQueue(Box::new(queue_from(
            p.queue.ok_or("a queue record without its queue")?,
        )?)),
        Tag::DeleteQueue(d) => Command::DeleteQueue { name: d.name },
        Tag::PutAgent(a) => Command::PutAgent(AgentSpec {
            id: a.id.into(),
            name: a.name,
            skills: skills_from(a.skills)?,
            capacity: a.capacity,
            channel_limits: a
                .channel_limits
                .into_iter()
                .map(|l| Ok((channel_from(l.channel)?, l.max)))
                .collect::<Result<_, String>>()?,
            kind: if a.bot {
                AgentKind::Bot
            } else {
                AgentKind::Human
            },
        }),
        Tag::RemoveAgent(r) => Command::RemoveAgent { id: r.id },
        Tag::SetPresence(s) => {
            use pb::set_presence::Presence as P;
            Command::SetPresence {
                agent: s.agent,
                presence: match s.presence.ok_or("a presence record without a presence")? {
                    P::Offline(_) => Presence::Offline,
                    P::Ready(_) => Presence::Ready,
                    P::NotReady(reason) => Presence::NotReady(reason),
                },
            }
        }
        Tag::Session(s) => Command::Session {
            agent: s.agent,
            attached: s.attached,
        },
        Tag::Enqueue(e) => Command::Enqueue(NewContact {
            queue: e.queue,
            channel: channel_from(e.channel)?,
            customer_id: e.customer_id,
            customer_value: e.customer_value,
            priority: e.priority,
            required_skills: skills_from(e.required_skills)?,
            alternatives: sets_from(e.alternatives)?,
            context: e.context,
            conversation_id: e.conversation_id,
            request_id: e.request_id,
            preferred_agents: e
                .preferred_agents
                .into_iter()
                .map(|p| PreferredAgent {
                    agent: p.agent,
                    score: p.score,
                })
                .collect(),
            preferred_wait_secs: e.preferred_wait_seconds,
        }),
        Tag::Cancel(c) => Command::Cancel {
            contact: c.contact,
            reason: match pb::CancelReason::try_from(c.reason) {
                Ok(pb::CancelReason::Abandoned) => CancelReason::Abandoned,
                Ok(pb::CancelReason::Withdrawn) => CancelReason::Withdrawn,
                _ => return Err(format!("cancel reason {} is not known", c.reason)),
            },
        },
        Tag::Accept(a) => Command::Accept {
            contact: a.contact,
            agent: a.agent,
        },
        Tag::Reject(r) => Command::Reject {
            contact: r.contact,
            agent: r.agent,
        },
        Tag::Complete(c) => Command::Complete {
            contact: c.contact,
            agent: c.agent,
            outcome: Outcome {
                handle_secs: c.handle_seconds,
                resolved: c.resolved,
                satisfaction: u8::try_from(c.satisfaction)
                    .map_err(|_| format!("satisfaction {} is out of range", c.satisfaction))?,
            },
        },
        Tag::Configure(c) => Command::Configure(configure_from(c)?),
        Tag::Tick(pb::Tick {}) => Command::Tick,
        Tag::StartExternalWork(w) => Command::StartExternalWork {
            agent: w.agent,
            id: w.id,
            channel: channel_from(w.channel)?,
            cost: w.cost,
            label: w.label,
        },
        Tag::EndExternalWork(w) => Command::EndExternalWork {
            agent: w.agent,
            id: w.id,
        },
        Tag::Consult(c) => Command::Consult {
            contact: c.contact,
            agent: c.agent,
            queue: c.queue,
            to_agent: (!c.to_agent.is_empty()).then_some(c.to_agent),
            reason: c.reason,
        },
        Tag::EndConsult(e) => Command::EndConsult {
            contact: e.contact,
            agent: e.agent,
            transfer: e.transfer,
        },
        Tag::RequestCallback(r) => Command::RequestCallback {
            contact: r.contact,
            request: CallbackRequest {
                not_before: r.not_before_ms,
                window_end: r.window_end_ms,
                number: r.number,
            },
        },
        Tag::CallbackAttempt(a) => Command::CallbackAttempt {
            contact: a.contact,
            agent: a.agent,
            result: match a.result {
                1 => AttemptResult::Reached,
                2 => AttemptResult::NoAnswer,
                3 => AttemptResult::Busy,
                other => return Err(format!("callback attempt result {other} is unknown")),
            },
            attempt: a.attempt,
        },
        Tag::Transfer(t) => Command::Transfer {
            to_agent: (!t.to_agent.is_empty()).then_some(NamedAgent {
                agent: t.to_agent,
                wait_secs: t.agent_wait_seconds,
            }),
            contact: t.contact,
            agent: t.agent,
            queue: t.queue,
            required_skills: skills_from(t.required_skills)?,
            reason: t.reason,
        },
        Tag::Escalate(e) => Command::Escalate {
            contact: e.contact,
            agent: e.agent,
            queue: e.queue,
            summary: e.summary,
            fields: e.fields.into_iter().collect(),
            required_skills: skills_from(e.required_skills)?,
        },
        Tag::UpdateContact(u) => Command::UpdateContact {
            contact: u.contact,
            update: ContactUpdate {
                priority: u.priority,
                customer_value: u.customer_value,
                required_skills: if u.replaces_skills {
                    Some(skills_from(u.required_skills)?)
                } else {
                    None
                },
                context_set: u.context_set,
                context_removed: u.context_removed,
            },
        },
    })
}

/// The journal's channel numbers: fixed here, whatever order `Channel` declares its variants in.
fn channel_to(channel: Channel) -> pb::Channel {
    match channel {
        Channel::Voice => pb::Channel::Voice,
        Channel::Video => pb::Channel::Video,
        Channel::Email => pb::Channel::Email,
        Channel::Chat => pb::Channel::Chat,
        Channel::Sms => pb::Channel::Sms,
        Channel::Social => pb::Channel::Social,
        Channel::Callback => pb::Channel::Callback,
    }
}

fn channel_from(value: i32) -> Result<Channel, String> {
    Ok(match pb::Channel::try_from(value) {
        Ok(pb::Channel::Voice) => Channel::Voice,
        Ok(pb::Channel::Video) => Channel::Video,
        Ok(pb::Channel::Email) => Channel::Email,
        Ok(pb::Channel::Chat) => Channel::Chat,
        Ok(pb::Channel::Sms) => Channel::Sms,
        Ok(pb::Channel::Social) => Channel::Social,
        Ok(pb::Channel::Callback) => Channel::Callback,
        Ok(pb::Channel::Unspecified) | Err(_) => {
            return Err(format!("channel {value} is not known"));
        }
    })
}

fn skills_to(skills: &[SkillLevel]) -> Vec<pb::Skill> {
    skills
        .iter()
        .map(|s| pb::Skill {
            name: s.skill.to_string(),
            level: s.level.get() as u32,
        })
        .collect()
}

fn skill_from(s: pb::Skill) -> Result<SkillLevel, String> {
    SkillLevel::new(&s.name, s.level).map_err(|e| e.to_string())
}

fn skills_from(skills: Vec<pb::Skill>) -> Result<Vec<SkillLevel>, String> {
    skills.into_iter().map(skill_from).collect()
}

fn sets_to(sets: &[Vec<SkillLevel>]) -> Vec<pb::SkillSet> {
    sets.iter()
        .map(|set| pb::SkillSet {
            skills: skills_to(set),
        })
        .collect()
}

fn sets_from(sets: Vec<pb::SkillSet>) -> Result<Vec<Vec<SkillLevel>>, String> {
    sets.into_iter()
        .map(|set| skills_from(set.skills))
        .collect()
}

fn weights_to(weights: &BTreeMap<String, f64>) -> Vec<pb::Weight> {
    weights
        .iter()
        .map(|(term, weight)| pb::Weight {
            term: term.clone(),
            weight: *weight,
        })
        .collect()
}

fn weights_from(weights: Vec<pb::Weight>) -> BTreeMap<String, f64> {
    weights.into_iter().map(|w| (w.term, w.weight)).collect()
}

fn queue_to(q: &QueueConfig) -> pb::Queue {
    pb::Queue {
        name: q.name.to_string(),
        required_skills: skills_to(&q.required_skills),
        alternatives: sets_to(&q.alternatives),
        channels: q.channels.iter().map(|c| channel_to(*c) as i32).collect(),
        sl_threshold_seconds: q.sl_threshold_secs,
        sl_target_percent: q.sl_target_percent,
        offer_timeout_seconds: q.offer_timeout_secs,
        wrap_up_seconds: q.wrap_up_secs,
        max_wait_seconds: q.max_wait_secs,
        max_length: q.max_length,
        strategy: q.strategy.clone(),
        contact_strategy: q.contact_strategy.clone(),
        agent_weights: weights_to(&q.agent_weights),
        contact_weights: weights_to(&q.contact_weights),
        window: q.window,
        band: q.band,
        score_cap: q.score_cap,
        affinity_wait_seconds: q.affinity_wait_secs,
        affinity_horizon_seconds: q.affinity_horizon_secs,
        occupancy_cap_percent: q.occupancy_cap_percent,
        reserve_agents: Some(q.reserve_agents),
        wait_estimator: q.wait_estimator.clone(),
        relaxation: q
            .relaxation
            .iter()
            .map(|step| {
                use pb::relax_step::Action;
                pb::RelaxStep {
                    after_seconds: step.after_secs,
                    action: Some(match &step.action {
                        Relax::Lower { skill, level } => Action::Lower(pb::Skill {
                            name: skill.to_string(),
                            level: level.get() as u32,
                        }),
                        Relax::Drop { skill } => Action::Drop(skill.to_string()),
                        Relax::Widen { skills } => Action::Widen(pb::SkillSet {
                            skills: skills_to(skills),
                        }),
                    }),
                }
            })
            .collect(),
        exceptions: q.exceptions.iter().map(exception_to).collect(),
        callback_attempts: Some(q.callback_attempts),
        callback_retry_seconds: Some(q.callback_retry_secs),
        short_abandon_seconds: Some(q.short_abandon_secs),
        channel_costs: q
            .channel_costs
            .iter()
            .map(|(c, cost)| pb::ChannelLimit {
                channel: channel_to(*c) as i32,
                max: *cost,
            })
            .collect(),
    }
}

fn exception_to(rule: &ExceptionRule) -> pb::ExceptionRule {
    use pb::exception_rule::{Action, Trigger as When};
    pb::ExceptionRule {
        trigger: Some(match rule.trigger {
            ExceptionTrigger::Waited { secs } => When::WaitedSeconds(secs),
            ExceptionTrigger::LengthAtLeast { length } => When::LengthAtLeast(length),
            ExceptionTrigger::NoAgent => When::NoAgent(true),
            ExceptionTrigger::EstimatedWaitOver { secs } => When::EstimatedWaitSeconds(secs),
        }),
        action: Some(match &rule.action {
            ExceptionAction::MoveTo { queue } => Action::MoveTo(queue.to_string()),
            ExceptionAction::Priority { priority } => Action::Priority(*priority),
            ExceptionAction::Require { skills } => Action::Require(pb::SkillSet {
                skills: skills_to(skills),
            }),
            ExceptionAction::End { reason } => Action::End(reason.to_string()),
            ExceptionAction::OfferCallback => Action::OfferCallback(true),
        }),
    }
}

fn exception_from(rule: pb::ExceptionRule) -> Result<ExceptionRule, String> {
    use pb::exception_rule::{Action, Trigger as When};
    let trigger = match rule.trigger.ok_or("an exception rule without a trigger")? {
        When::WaitedSeconds(secs) => ExceptionTrigger::Waited { secs },
        When::LengthAtLeast(length) => ExceptionTrigger::LengthAtLeast { length },
        When::NoAgent(true) => ExceptionTrigger::NoAgent,
        When::NoAgent(false) => return Err("an exception rule with no_agent = false".into()),
        When::EstimatedWaitSeconds(secs) => ExceptionTrigger::EstimatedWaitOver { secs },
    };
    let action = match rule.action.ok_or("an exception rule without an action")? {
        Action::MoveTo(queue) => ExceptionAction::MoveTo {
            queue: queue.into(),
        },
        Action::Priority(priority) => ExceptionAction::Priority { priority },
        Action::Require(set) => ExceptionAction::Require {
            skills: skills_from(set.skills)?,
        },
        Action::End(reason) => ExceptionAction::End {
            reason: reason.into(),
        },
        Action::OfferCallback(true) => ExceptionAction::OfferCallback,
        Action::OfferCallback(false) => {
            return Err("an exception rule with offer_callback = false".into());
        }
    };
    Ok(ExceptionRule { trigger, action })
}

fn queue_from(q: pb::Queue) -> Result<QueueConfig, String> {
    let defaults = QueueConfig::default();
    let relaxation = q
        .relaxation
        .into_iter()
        .map(|step| {
            use pb::relax_step::Action;
            let action = match step.action.ok_or("a relaxation step without an action")? {
                Action::Lower(s) => {
                    let s = skill_from(s)?;
                    Relax::Lower {
                        skill: s.skill,
                        level: s.level,
                    }
                }
                Action::Drop(name) => Relax::Drop {
                    skill: SkillName::new(&name).map_err(|e| e.to_string())?,
                },
                Action::Widen(set) => Relax::Widen {
                    skills: skills_from(set.skills)?,
                },
            };
            Ok(RelaxStep {
                after_secs: step.after_seconds,
                action,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(QueueConfig {
        name: q.name.into(),
        version: 0,
        required_skills: skills_from(q.required_skills)?,
        alternatives: sets_from(q.alternatives)?,
        channels: q
            .channels
            .into_iter()
            .map(channel_from)
            .collect::<Result<_, _>>()?,
        sl_threshold_secs: q.sl_threshold_seconds,
        sl_target_percent: q.sl_target_percent,
        offer_timeout_secs: q.offer_timeout_seconds,
        wrap_up_secs: q.wrap_up_seconds,
        max_wait_secs: q.max_wait_seconds,
        max_length: q.max_length,
        strategy: q.strategy,
        contact_strategy: q.contact_strategy,
        agent_weights: weights_from(q.agent_weights),
        contact_weights: weights_from(q.contact_weights),
        window: q.window,
        band: q.band,
        score_cap: q.score_cap,
        occupancy_cap_percent: q.occupancy_cap_percent,
        // Written before the limit existed: the limit reservation had then.
        reserve_agents: q.reserve_agents.unwrap_or(DEFAULT_RESERVE_AGENTS),
        // Written before estimators could be chosen: the one there was then.
        wait_estimator: if q.wait_estimator.is_empty() {
            WaitEstimator::AnswerRate.name().into()
        } else {
            q.wait_estimator
        },
        affinity_wait_secs: q.affinity_wait_seconds,
        affinity_horizon_secs: q.affinity_horizon_seconds,
        relaxation,
        exceptions: q
            .exceptions
            .into_iter()
            .map(exception_from)
            .collect::<Result<_, _>>()?,
        // Written before callbacks existed: the defaults.
        callback_attempts: q.callback_attempts.unwrap_or(defaults.callback_attempts),
        callback_retry_secs: q
            .callback_retry_seconds
            .unwrap_or(defaults.callback_retry_secs),
        short_abandon_secs: q
            .short_abandon_seconds
            .unwrap_or(defaults.short_abandon_secs),
        channel_costs: q
            .channel_costs
            .into_iter()
            .map(|l| Ok((channel_from(l.channel)?, l.max)))
            .collect::<Result<_, String>>()?,
    })
}

fn configure_to(c: &EngineConfig) -> pb::Configure {
    pb::Configure {
        channel_costs: Channel::ALL
            .into_iter()
            .map(|ch| pb::ChannelCost {
                channel: channel_to(ch) as i32,
                cost: c.costs.cost(ch),
            })
            .collect(),
        agent_capacity: c.default_capacity,
        interruptible: c
            .interruptible
            .iter()
            .map(|(work, by)| pb::Interruptible {
                work: channel_to(*work) as i32,
                by: by.iter().map(|c| channel_to(*c) as i32).collect(),
            })
            .collect(),
        max_agents: c.max_agents as u64,
        max_queues: c.max_queues as u64,
        max_contacts: c.max_contacts as u64,
        max_skills_per_agent: c.max_skills_per_agent as u64,
        max_skill_names: c.max_skill_names as u64,
        max_context_entries: c.context.max_entries as u64,
        max_context_bytes: c.context.max_bytes as u64,
        ended_history: c.ended_history as u64,
        missed_offers_limit: c.missed_offers_limit,
        customer_history: c.history_keys as u64,
        handled_period_seconds: c.period_secs,
        request_id_window_seconds: Some(c.request_window_secs),
        request_ids: Some(c.request_ids as u64),
        interval_minutes: Some(c.interval_minutes),
        day_starts_at: Some(c.day_starts_at.clone()),
        time_zone: Some(c.time_zone.clone()),
    }
}

fn configure_from(c: pb::Configure) -> Result<EngineConfig, String> {
    let mut costs = ChannelCosts::default();
    for cost in c.channel_costs {
        costs.set(channel_from(cost.channel)?, cost.cost);
    }
    let size = |v: u64| usize::try_from(v).map_err(|_| format!("{v} is too large a limit"));
    Ok(EngineConfig {
        costs,
        default_capacity: c.agent_capacity,
        max_agents: size(c.max_agents)?,
        max_queues: size(c.max_queues)?,
        max_contacts: size(c.max_contacts)?,
        max_skills_per_agent: size(c.max_skills_per_agent)?,
        max_skill_names: size(c.max_skill_names)?,
        context: ContextLimits {
            max_entries: size(c.max_context_entries)?,
            max_bytes: size(c.max_context_bytes)?,
        },
        ended_history: size(c.ended_history)?,
        missed_offers_limit: c.missed_offers_limit,
        interruptible: c
            .interruptible
            .into_iter()
            .map(|i| {
                let by =
                    i.by.into_iter()
                        .map(channel_from)
                        .collect::<Result<_, _>>()?;
                Ok((channel_from(i.work)?, by))
            })
            .collect::<Result<_, String>>()?,
        history_keys: size(c.customer_history)?,
        period_secs: c.handled_period_seconds,
        request_window_secs: c
            .request_id_window_seconds
            .unwrap_or(EngineConfig::default().request_window_secs),
        request_ids: match c.request_ids {
            Some(n) => size(n)?,
            None => EngineConfig::default().request_ids,
        },
        interval_minutes: c
            .interval_minutes
            .unwrap_or(EngineConfig::default().interval_minutes),
        day_starts_at: c
            .day_starts_at
            .unwrap_or_else(|| EngineConfig::default().day_starts_at),
        time_zone: c
            .time_zone
            .unwrap_or_else(|| EngineConfig::default().time_zone),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn skill() -> impl Strategy<Value = SkillLevel> {
        ("[a-z]{1,6}(:[a-z]{2})?", 1u32..=10).prop_map(|(n, l)| SkillLevel::new(&n, l).unwrap())
    }

    fn skills() -> impl Strategy<Value = Vec<SkillLevel>> {
        proptest::collection::vec(skill(), 0..4)
    }

    fn channel() -> impl Strategy<Value = Channel> {
        proptest::sample::select(Channel::ALL.to_vec())
    }

    fn weights() -> impl Strategy<Value = BTreeMap<String, f64>> {
        proptest::collection::btree_map("[a-z-]{1,12}", -1e3f64..1e3, 0..3)
    }

    fn queue() -> impl Strategy<Value = QueueConfig> {
        let relax =
            (1u32..1000, skill(), 0..3, skills()).prop_map(|(after, s, kind, widen)| RelaxStep {
                after_secs: after,
                action: match kind {
                    0 => Relax::Lower {
                        skill: s.skill,
                        level: s.level,
                    },
                    1 => Relax::Drop { skill: s.skill },
                    _ => Relax::Widen { skills: widen },
                },
            });
        let rule = (0..4u32, any::<u32>(), 0..5u32, "[a-z]{1,8}", skills()).prop_map(
            |(when, n, what, name, skills)| ExceptionRule {
                trigger: match when {
                    0 => ExceptionTrigger::Waited { secs: n },
                    1 => ExceptionTrigger::LengthAtLeast { length: n },
                    2 => ExceptionTrigger::NoAgent,
                    _ => ExceptionTrigger::EstimatedWaitOver { secs: n },
                },
                action: match what {
                    0 => ExceptionAction::MoveTo {
                        queue: name.as_str().into(),
                    },
                    1 => ExceptionAction::Priority { priority: n },
                    2 => ExceptionAction::Require { skills },
                    3 => ExceptionAction::OfferCallback,
                    _ => ExceptionAction::End {
                        reason: name.as_str().into(),
                    },
                },
            },
        );
        (
            (
                "[a-z]{1,8}",
                skills(),
                proptest::collection::vec(channel(), 0..3),
                proptest::collection::vec(skills(), 0..3),
            ),
            (any::<u32>(), 0.0f64..100.0, any::<u32>(), any::<u32>()),
            (any::<u32>(), any::<u32>(), "[a-z-]{0,12}", "[a-z-]{0,12}"),
            (weights(), weights(), any::<u32>()),
            (
                proptest::option::of(0.0f64..1.0),
                proptest::option::of(-5.0f64..100.0),
                0.0f64..100.0,
                prop_oneof![
                    Just("answer-rate".to_string()),
                    Just("queue-length".into()),
                    "[a-z-]{1,12}"
                ],
            ),
            (
                any::<u32>(),
                any::<u32>(),
                proptest::collection::vec(relax, 0..3),
                proptest::collection::vec(rule, 0..3),
            ),
        )
            .prop_map(|(a, b, c, d, e, f)| QueueConfig {
                name: a.0.as_str().into(),
                version: 0,
                required_skills: a.1,
                alternatives: a.3,
                channels: a.2.clone(),
                sl_threshold_secs: b.0,
                sl_target_percent: b.1,
                offer_timeout_secs: b.2,
                wrap_up_secs: b.3,
                max_wait_secs: c.0,
                max_length: c.1,
                strategy: c.2,
                contact_strategy: c.3,
                agent_weights: d.0,
                contact_weights: d.1,
                window: d.2,
                band: e.0,
                score_cap: e.1,
                occupancy_cap_percent: e.2,
                reserve_agents: f.0 % 12,
                wait_estimator: e.3,
                affinity_wait_secs: f.0,
                affinity_horizon_secs: f.1,
                relaxation: f.2,
                exceptions: f.3,
                callback_attempts: f.0 % 11,
                callback_retry_secs: f.1,
                channel_costs: a.2.iter().map(|c| (*c, f.0 % 10_000 + 1)).collect(),
                short_abandon_secs: f.0 % 3_601,
            })
    }

    fn command() -> impl Strategy<Value = Command> {
        let id = "[a-z0-9-]{1,10}";
        let presence = prop_oneof![
            Just(Presence::Offline),
            Just(Presence::Ready),
            "[a-z-]{1,10}".prop_map(Presence::NotReady),
        ];
        let agent = (
            id,
            "[A-Za-z ]{0,10}",
            skills(),
            proptest::option::of(1u32..10_000),
            proptest::collection::vec((channel(), any::<u32>()), 0..3),
        )
            .prop_map(|(id, name, skills, capacity, channel_limits)| AgentSpec {
                kind: if capacity.is_some_and(|c| c % 2 == 0) {
                    AgentKind::Bot
                } else {
                    AgentKind::Human
                },
                id: id.as_str().into(),
                name,
                skills,
                capacity,
                channel_limits,
            });
        let contact = (
            (id, channel(), "[a-z0-9]{0,8}", 0.0f64..1e6),
            (
                0u32..=100,
                skills(),
                "[a-z0-9]{0,8}",
                proptest::collection::vec(skills(), 0..3),
            ),
            proptest::collection::btree_map("[a-z]{1,5}", "[ -~]{0,12}", 0..3),
            "([a-z0-9-]{1,12})?",
            (
                proptest::collection::vec((id, 1u32..=100), 0..3),
                0u32..4000,
            ),
        )
            .prop_map(|(a, b, context, request_id, preferred)| NewContact {
                queue: a.0,
                channel: a.1,
                customer_id: a.2,
                customer_value: a.3,
                priority: b.0,
                required_skills: b.1,
                alternatives: b.3,
                context,
                conversation_id: b.2,
                request_id,
                preferred_agents: preferred
                    .0
                    .into_iter()
                    .map(|(agent, score)| PreferredAgent { agent, score })
                    .collect(),
                preferred_wait_secs: preferred.1,
            });
        let config = (
            proptest::collection::vec(1u32..200, 7),
            (1u32..10_000, any::<u32>(), any::<u32>()),
            (
                0usize..1 << 40,
                0usize..1 << 20,
                0usize..1 << 20,
                0usize..1 << 20,
            ),
        )
            .prop_map(|(costs, a, b)| {
                let mut c = EngineConfig::default();
                for (ch, cost) in Channel::ALL.into_iter().zip(costs) {
                    c.costs.set(ch, cost);
                }
                c.default_capacity = a.0;
                c.missed_offers_limit = a.1;
                c.period_secs = a.2;
                c.max_contacts = b.0;
                c.max_agents = b.1;
                c.context.max_bytes = b.2;
                c.history_keys = b.3;
                c.interval_minutes = [5, 15, 30, 60][b.3 % 4];
                c.time_zone = ["UTC", "Europe/Paris", "America/New_York"][b.2 % 3].into();
                c.day_starts_at = format!("{:02}:{:02}", b.1 % 24, b.0 % 60);
                c
            });
        prop_oneof![
            queue().prop_map(|q| Command::PutQueue(Box::new(q))),
            id.prop_map(|name| Command::DeleteQueue { name }),
            agent.prop_map(Command::PutAgent),
            id.prop_map(|id| Command::RemoveAgent { id }),
            (id, presence).prop_map(|(agent, presence)| Command::SetPresence { agent, presence }),
            (id, any::<bool>()).prop_map(|(agent, attached)| Command::Session { agent, attached }),
            contact.prop_map(Command::Enqueue),
            (any::<u64>(), any::<bool>()).prop_map(|(contact, abandoned)| Command::Cancel {
                contact,
                reason: if abandoned {
                    CancelReason::Abandoned
                } else {
                    CancelReason::Withdrawn
                },
            }),
            (any::<u64>(), id).prop_map(|(contact, agent)| Command::Accept { contact, agent }),
            (any::<u64>(), id).prop_map(|(contact, agent)| Command::Reject { contact, agent }),
            (any::<u64>(), id, any::<u32>(), any::<bool>(), 0u8..=5).prop_map(
                |(contact, agent, handle_secs, resolved, satisfaction)| Command::Complete {
                    contact,
                    agent,
                    outcome: Outcome {
                        handle_secs,
                        resolved,
                        satisfaction,
                    },
                }
            ),
            config.prop_map(Command::Configure),
            Just(Command::Tick),
            (
                id,
                id,
                channel(),
                proptest::option::of(any::<u32>()),
                "[ -~]{0,20}"
            )
                .prop_map(|(agent, id, channel, cost, label)| {
                    Command::StartExternalWork {
                        agent,
                        id,
                        channel,
                        cost,
                        label,
                    }
                }),
            (id, id).prop_map(|(agent, id)| Command::EndExternalWork { agent, id }),
            (
                any::<u64>(),
                id,
                "[a-z]{1,8}",
                "[ -~]{0,20}",
                proptest::collection::btree_map("[a-z]{1,5}", "[ -~]{0,12}", 0..3),
                skills()
            )
                .prop_map(
                    |(contact, agent, queue, summary, fields, required_skills)| {
                        Command::Escalate {
                            contact,
                            agent,
                            queue,
                            summary,
                            fields,
                            required_skills,
                        }
                    }
                ),
            (
                any::<u64>(),
                proptest::option::of(any::<u64>()),
                proptest::option::of(any::<u64>()),
                "[0-9+]{0,12}"
            )
                .prop_map(|(contact, not_before, window_end, number)| {
                    Command::RequestCallback {
                        contact,
                        request: CallbackRequest {
                            not_before,
                            window_end,
                            number,
                        },
                    }
                }),
            (
                any::<u64>(),
                id,
                "[a-z]{1,8}",
                proptest::option::of("[a-z]{1,8}"),
                "[ -~]{0,20}"
            )
                .prop_map(|(contact, agent, queue, to_agent, reason)| {
                    Command::Consult {
                        contact,
                        agent,
                        queue,
                        to_agent,
                        reason,
                    }
                }),
            (any::<u64>(), id, any::<bool>()).prop_map(|(contact, agent, transfer)| {
                Command::EndConsult {
                    contact,
                    agent,
                    transfer,
                }
            }),
            (any::<u64>(), id, 0usize..3, any::<u32>()).prop_map(|(contact, agent, r, attempt)| {
                Command::CallbackAttempt {
                    contact,
                    agent,
                    result: [
                        AttemptResult::Reached,
                        AttemptResult::NoAnswer,
                        AttemptResult::Busy,
                    ][r],
                    attempt,
                }
            }),
            (
                any::<u64>(),
                id,
                "[a-z]{1,8}",
                skills(),
                "[ -~]{0,20}",
                proptest::option::of(("[a-z]{1,8}", any::<u32>()))
            )
                .prop_map(|(contact, agent, queue, required_skills, reason, named)| {
                    Command::Transfer {
                        to_agent: named.map(|(agent, wait_secs)| NamedAgent { agent, wait_secs }),
                        contact,
                        agent,
                        queue,
                        required_skills,
                        reason,
                    }
                }),
            (
                any::<u64>(),
                proptest::option::of(0u32..=100),
                proptest::option::of(0.0f64..1e6),
                proptest::option::of(skills()),
                proptest::collection::btree_map("[a-z]{1,5}", "[ -~]{0,12}", 0..3),
                proptest::collection::vec("[a-z]{1,5}", 0..3),
            )
                .prop_map(
                    |(contact, priority, customer_value, required_skills, set, removed)| {
                        Command::UpdateContact {
                            contact,
                            update: ContactUpdate {
                                priority,
                                customer_value,
                                required_skills,
                                context_set: set,
                                context_removed: removed,
                            },
                        }
                    }
                ),
        ]
    }

    proptest! {
        /// Every command comes back from its record exactly as it was, at the same time.
        #[test]
        fn every_command_round_trips(at in any::<u64>(), command in command()) {
            let mut bytes = Vec::new();
            encode(&mut bytes, at, &command);
            prop_assert_eq!(decode(&bytes), Ok((at, command)));
        }

        /// Damaged bytes decode to an error or to some command, never to a panic.
        #[test]
        fn damaged_records_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }

    /// A queue written before it had an occupancy cap or a wait estimator replays as it ran
    /// then: no cap, and `answer-rate`, not today's default.
    #[test]
    fn a_queue_from_before_the_estimators_keeps_answer_rate() {
        let old = pb::Queue {
            name: "sales".into(),
            sl_target_percent: 80.0,
            offer_timeout_seconds: 15,
            ..Default::default()
        };
        let q = queue_from(old).unwrap();
        assert_eq!(q.wait_estimator, "answer-rate");
        assert_eq!(q.occupancy_cap_percent, 0.0);
        assert_eq!(q.reserve_agents, DEFAULT_RESERVE_AGENTS);
        assert_ne!(QueueConfig::default().wait_estimator, "answer-rate");
        // What this version writes, it reads back as written.
        let mut now = QueueConfig::new("sales");
        now.wait_estimator = "queue-length".into();
        now.occupancy_cap_percent = 85.0;
        now.reserve_agents = 0;
        assert_eq!(queue_from(queue_to(&now)).unwrap(), now);
    }

    /// The bytes of a few records, fixed forever: a change to the encoding shows here first.
    #[test]
    fn golden_bytes() {
        let mut retried = NewContact::new("q", Channel::Voice);
        retried.request_id = "r-1".into();
        let cases: [(Command, &str); 7] = [
            (Command::Tick, "08e807a20100"),
            (
                Command::Accept {
                    contact: 7,
                    agent: "ana".into(),
                },
                "08e807520708071203616e61",
            ),
            (
                Command::Cancel {
                    contact: 3,
                    reason: CancelReason::Withdrawn,
                },
                "08e8074a0408031002",
            ),
            (
                Command::SetPresence {
                    agent: "bo".into(),
                    presence: Presence::NotReady("lunch".into()),
                },
                "08e807320b0a02626f22056c756e6368",
            ),
            (Command::Enqueue(retried), "08e807420a0a017110015203722d31"),
            (
                Command::UpdateContact {
                    contact: 4,
                    update: ContactUpdate {
                        priority: Some(2),
                        required_skills: Some(vec![]),
                        context_removed: vec!["k".into()],
                        ..ContactUpdate::default()
                    },
                },
                "08e80772090804100220013a016b",
            ),
            (
                Command::Transfer {
                    to_agent: None,
                    contact: 4,
                    agent: "ann".into(),
                    queue: "t2".into(),
                    required_skills: vec![SkillLevel::new("b", 5).unwrap()],
                    reason: "why".into(),
                },
                "08e8077a1708041203616e6e1a02743222050a016210052a03776879",
            ),
        ];
        for (command, hex) in cases {
            let mut bytes = Vec::new();
            encode(&mut bytes, 1000, &command);
            let got: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(got, hex, "{command:?}");
            assert_eq!(decode(&bytes), Ok((1000, command)));
        }
    }

    /// Settings written before the request-id settings existed replay under their defaults.
    #[test]
    fn settings_from_before_request_ids_take_the_defaults() {
        let mut old = configure_to(&EngineConfig::default());
        old.request_id_window_seconds = None;
        old.request_ids = None;
        assert_eq!(configure_from(old), Ok(EngineConfig::default()));
        let now = EngineConfig {
            request_window_secs: 30,
            request_ids: 7,
            ..EngineConfig::default()
        };
        assert_eq!(configure_from(configure_to(&now)), Ok(now));
    }

    #[test]
    fn unknown_commands_and_values_are_refused_with_what_was_wrong() {
        // A record with no command: what a newer version's new command looks like here.
        let empty = pb::Record {
            at_ms: 5,
            command: None,
        }
        .encode_to_vec();
        assert!(decode(&empty).unwrap_err().contains("newer routerd"));
        let bad_channel = pb::Record {
            at_ms: 5,
            command: Some(Tag::Enqueue(pb::Enqueue {
                queue: "q".into(),
                channel: 99,
                ..Default::default()
            })),
        }
        .encode_to_vec();
        assert!(decode(&bad_channel).unwrap_err().contains("channel 99"));
    }
}
