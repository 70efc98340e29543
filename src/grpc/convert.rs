//! Conversions between `routing.v1` messages and core types. Parsing a request validates its
//! shape (enums, ranges, required fields); the engine validates the rest. Nothing here panics on
//! client input.

use std::collections::BTreeMap;

use tonic::Status;

use crate::core::stats::PeriodFigures;
use crate::core::{
    AgentKind, AgentSpec, AgentTerm, AgentView, AttemptResult, Callback, CancelReason, Channel,
    ContactState, ContactTerm, ContactUpdate, ContactView, CoreError, Decision, EventBody,
    ExceptionAction, ExceptionRule, ExceptionTrigger, Firing, Interaction, Level, Millis,
    NamedAgent, NewContact, Outcome, PreferredAgent, Presence, PresenceView, QueueConfig, Relax,
    RelaxStep, ReturnReason, Side, SkillLevel, SkillName, Terms, Trigger, Withdrawal,
};
use crate::proto as pb;
use crate::runtime::bus::Published;
use crate::runtime::view::{AgentQuery, FloorView, MAX_PAGE, PresenceKind};

pub fn channel_from(value: i32) -> Result<Channel, Status> {
    let channel = match pb::Channel::try_from(value) {
        Ok(pb::Channel::Voice) => Channel::Voice,
        Ok(pb::Channel::Video) => Channel::Video,
        Ok(pb::Channel::Email) => Channel::Email,
        Ok(pb::Channel::Chat) => Channel::Chat,
        Ok(pb::Channel::Sms) => Channel::Sms,
        Ok(pb::Channel::Social) => Channel::Social,
        Ok(pb::Channel::Callback) => Channel::Callback,
        Ok(pb::Channel::Unspecified) | Err(_) => {
            return Err(Status::invalid_argument(format!(
                "channel {value} is not one of CHANNEL_VOICE, CHANNEL_VIDEO, CHANNEL_EMAIL, \
                 CHANNEL_CHAT, CHANNEL_SMS, CHANNEL_SOCIAL, CHANNEL_CALLBACK"
            )));
        }
    };
    Ok(channel)
}

pub fn channel_to(channel: Channel) -> pb::Channel {
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

pub fn skills_from(skills: &[pb::Skill]) -> Result<Vec<SkillLevel>, Status> {
    skills
        .iter()
        .map(|s| SkillLevel::new(&s.name, s.level).map_err(Status::from))
        .collect()
}

pub fn skills_to(skills: &[SkillLevel]) -> Vec<pb::Skill> {
    skills
        .iter()
        .map(|s| pb::Skill {
            name: s.skill.to_string(),
            level: s.level.get() as u32,
        })
        .collect()
}

pub fn sets_to(sets: &[Vec<SkillLevel>]) -> Vec<pb::SkillSet> {
    sets.iter()
        .map(|set| pb::SkillSet {
            skills: skills_to(set),
        })
        .collect()
}

fn sets_from(sets: &[pb::SkillSet]) -> Result<Vec<Vec<SkillLevel>>, Status> {
    sets.iter().map(|set| skills_from(&set.skills)).collect()
}

/// Zero-valued numeric fields take the queue defaults (threshold 20 s, target 80 %, offer
/// timeout 15 s, window 0 (exact), affinity horizon one day); empty strategies take `longest-idle` and
/// `priority-fifo`. The engine checks names, weights and ranges.
pub fn queue_from(q: pb::Queue) -> Result<QueueConfig, Status> {
    let mut config = QueueConfig::new(&q.name);
    config.required_skills = skills_from(&q.required_skills)?;
    config.alternatives = sets_from(&q.alternatives)?;
    config.channels = q
        .channels
        .iter()
        .map(|c| channel_from(*c))
        .collect::<Result<_, _>>()?;
    if q.sl_threshold_seconds > 0 {
        config.sl_threshold_secs = q.sl_threshold_seconds;
    }
    if q.sl_target_percent != 0.0 {
        config.sl_target_percent = q.sl_target_percent;
    }
    if q.offer_timeout_seconds > 0 {
        config.offer_timeout_secs = q.offer_timeout_seconds;
    }
    config.wrap_up_secs = q.wrap_up_seconds;
    config.max_wait_secs = q.max_wait_seconds;
    config.max_length = q.max_length;
    if !q.strategy.is_empty() {
        config.strategy = q.strategy;
    }
    if !q.contact_strategy.is_empty() {
        config.contact_strategy = q.contact_strategy;
    }
    config.agent_weights = weights_from(&q.agent_weights, "agent")?;
    config.contact_weights = weights_from(&q.contact_weights, "contact")?;
    config.window = q.window;
    config.band = q.band;
    config.score_cap = q.score_cap;
    config.occupancy_cap_percent = q.occupancy_cap_percent;
    if let Some(n) = q.reserve_agents {
        config.reserve_agents = n;
    }
    if q.callback_attempts > 0 {
        config.callback_attempts = q.callback_attempts;
    }
    if q.callback_retry_seconds > 0 {
        config.callback_retry_secs = q.callback_retry_seconds;
    }
    if let Some(short) = q.short_abandon_seconds {
        config.short_abandon_secs = short;
    }
    for c in &q.channel_costs {
        let channel = channel_from(c.channel)?;
        if config.channel_costs.insert(channel, c.cost).is_some() {
            return Err(Status::invalid_argument(format!(
                "channel cost for {channel} given twice"
            )));
        }
    }
    if !q.wait_estimator.is_empty() {
        config.wait_estimator = q.wait_estimator;
    }
    config.affinity_wait_secs = q.affinity_wait_seconds;
    if q.affinity_horizon_seconds > 0 {
        config.affinity_horizon_secs = q.affinity_horizon_seconds;
    }
    config.relaxation = q
        .relaxation
        .iter()
        .map(relax_from)
        .collect::<Result<_, _>>()?;
    config.exceptions = q
        .exceptions
        .iter()
        .map(exception_from)
        .collect::<Result<_, _>>()?;
    Ok(config)
}

fn exception_from(rule: &pb::ExceptionRule) -> Result<ExceptionRule, Status> {
    use pb::exception_rule::{Action, Trigger as When};
    let trigger = match &rule.trigger {
        Some(When::WaitedSeconds(secs)) => ExceptionTrigger::Waited { secs: *secs },
        Some(When::LengthAtLeast(length)) => ExceptionTrigger::LengthAtLeast { length: *length },
        Some(When::NoAgent(true)) => ExceptionTrigger::NoAgent,
        Some(When::EstimatedWaitSeconds(secs)) => {
            ExceptionTrigger::EstimatedWaitOver { secs: *secs }
        }
        Some(When::NoAgent(false)) | None => {
            return Err(Status::invalid_argument(
                "an exception rule needs a trigger: waited_seconds, length_at_least, \
                 no_agent = true or estimated_wait_seconds",
            ));
        }
    };
    let action = match &rule.action {
        Some(Action::MoveTo(queue)) => ExceptionAction::MoveTo {
            queue: queue.as_str().into(),
        },
        Some(Action::Priority(priority)) => ExceptionAction::Priority {
            priority: *priority,
        },
        Some(Action::Require(set)) => ExceptionAction::Require {
            skills: skills_from(&set.skills)?,
        },
        Some(Action::End(reason)) => ExceptionAction::End {
            reason: reason.as_str().into(),
        },
        Some(Action::OfferCallback(true)) => ExceptionAction::OfferCallback,
        Some(Action::OfferCallback(false)) | None => {
            return Err(Status::invalid_argument(
                "an exception rule needs an action: move_to, priority, require, end or \
                 offer_callback = true",
            ));
        }
    };
    Ok(ExceptionRule { trigger, action })
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

fn firings_to(firings: &[Firing]) -> Vec<pb::ExceptionFiring> {
    firings
        .iter()
        .map(|f| pb::ExceptionFiring {
            at_ms: f.at,
            queue: f.queue.to_string(),
            rule: f.rule,
            what: Some(exception_to(&ExceptionRule {
                trigger: f.trigger.clone(),
                action: f.action.clone(),
            })),
            applied: f.applied,
        })
        .collect()
}

/// What a firing did, as the EXCEPTION_FIRED event's reason says it.
fn firing_reason(f: &Firing) -> &'static str {
    match (&f.action, f.applied) {
        (ExceptionAction::MoveTo { .. }, true) => "moved",
        (ExceptionAction::MoveTo { .. }, false) => "not-moved",
        (ExceptionAction::Priority { .. }, _) => "priority",
        (ExceptionAction::Require { .. }, _) => "requirements",
        (ExceptionAction::End { .. }, _) => "ended",
        (ExceptionAction::OfferCallback, _) => "offer-callback",
    }
}

/// Weights by term; a term named twice is refused (which weight was meant is unclear).
fn weights_from(w: &[pb::Weight], side: &str) -> Result<BTreeMap<String, f64>, Status> {
    let mut out = BTreeMap::new();
    for w in w {
        if out.insert(w.term.clone(), w.weight).is_some() {
            return Err(Status::invalid_argument(format!(
                "{side} term {:?} is weighted twice",
                w.term
            )));
        }
    }
    Ok(out)
}

fn relax_from(step: &pb::RelaxStep) -> Result<RelaxStep, Status> {
    use pb::relax_step::Action;
    let action = match &step.action {
        Some(Action::Lower(skill)) => Relax::Lower {
            skill: SkillName::new(&skill.name)?,
            level: Level::new(skill.level)?,
        },
        Some(Action::Drop(skill)) => Relax::Drop {
            skill: SkillName::new(skill)?,
        },
        Some(Action::Widen(set)) => Relax::Widen {
            skills: skills_from(&set.skills)?,
        },
        None => {
            return Err(Status::invalid_argument(
                "a relaxation step needs an action: lower, drop or widen",
            ));
        }
    };
    Ok(RelaxStep {
        after_secs: step.after_seconds,
        action,
    })
}

fn relax_to(step: &RelaxStep) -> pb::RelaxStep {
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
}

pub fn queue_to(q: &QueueConfig) -> pb::Queue {
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
        relaxation: q.relaxation.iter().map(relax_to).collect(),
        version: q.version,
        occupancy_cap_percent: q.occupancy_cap_percent,
        reserve_agents: Some(q.reserve_agents),
        wait_estimator: q.wait_estimator.clone(),
        exceptions: q.exceptions.iter().map(exception_to).collect(),
        callback_attempts: q.callback_attempts,
        callback_retry_seconds: q.callback_retry_secs,
        short_abandon_seconds: Some(q.short_abandon_secs),
        channel_costs: q
            .channel_costs
            .iter()
            .map(|(c, cost)| pb::ChannelCost {
                channel: channel_to(*c) as i32,
                cost: *cost,
            })
            .collect(),
    }
}

/// The named agent of a transfer request (none when `to_agent_id` is empty); a wait of 0 means
/// the default, 30 s.
pub fn named_agent_from(to_agent_id: String, wait_secs: u32) -> Option<NamedAgent> {
    (!to_agent_id.is_empty()).then_some(NamedAgent {
        agent: to_agent_id,
        wait_secs: if wait_secs == 0 { 30 } else { wait_secs },
    })
}

pub fn attempt_result_from(value: i32) -> Result<AttemptResult, Status> {
    match pb::CallbackResult::try_from(value) {
        Ok(pb::CallbackResult::Reached) => Ok(AttemptResult::Reached),
        Ok(pb::CallbackResult::NoAnswer) => Ok(AttemptResult::NoAnswer),
        Ok(pb::CallbackResult::Busy) => Ok(AttemptResult::Busy),
        _ => Err(Status::invalid_argument(
            "a callback result must be CALLBACK_RESULT_REACHED, CALLBACK_RESULT_NO_ANSWER or \
             CALLBACK_RESULT_BUSY",
        )),
    }
}

fn attempt_result_to(result: AttemptResult) -> pb::CallbackResult {
    match result {
        AttemptResult::Reached => pb::CallbackResult::Reached,
        AttemptResult::NoAnswer => pb::CallbackResult::NoAnswer,
        AttemptResult::Busy => pb::CallbackResult::Busy,
    }
}

fn callback_to(c: &Callback) -> pb::CallbackInfo {
    pb::CallbackInfo {
        requested_at_ms: c.requested_at,
        not_before_ms: c.not_before,
        window_end_ms: c.window_end,
        number: c.number.to_string(),
        channel: channel_to(c.channel) as i32,
        attempts: c
            .attempts
            .iter()
            .map(|a| pb::CallbackAttempt {
                at_ms: a.at,
                agent_id: a.agent.to_string(),
                result: attempt_result_to(a.result) as i32,
            })
            .collect(),
    }
}

fn weights_to(w: &BTreeMap<String, f64>) -> Vec<pb::Weight> {
    w.iter()
        .map(|(term, weight)| pb::Weight {
            term: term.clone(),
            weight: *weight,
        })
        .collect()
}

pub fn interaction_to(i: &Interaction) -> pb::Interaction {
    pb::Interaction {
        contact_id: i.contact,
        at_ms: i.at,
        channel: channel_to(i.channel) as i32,
        queue: i.queue.to_string(),
        agent_id: i.agent.as_deref().unwrap_or("").to_string(),
        outcome: i.outcome.name().to_string(),
    }
}

/// `part / whole`, 0 when `whole` is 0.
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

pub fn agent_spec_from(a: pb::AgentSpec) -> Result<AgentSpec, Status> {
    let mut spec = AgentSpec::new(&a.id);
    spec.kind = match pb::AgentKind::try_from(a.kind) {
        Ok(pb::AgentKind::Unspecified | pb::AgentKind::Human) => AgentKind::Human,
        Ok(pb::AgentKind::Bot) => AgentKind::Bot,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "agent kind {} is not known",
                a.kind
            )));
        }
    };
    spec.name = a.name;
    spec.skills = skills_from(&a.skills)?;
    spec.capacity = (a.capacity > 0).then_some(a.capacity);
    spec.channel_limits = a
        .channel_limits
        .iter()
        .map(|l| Ok((channel_from(l.channel)?, l.max_contacts)))
        .collect::<Result<_, Status>>()?;
    Ok(spec)
}

pub fn agent_to(a: &AgentView, now: Millis) -> pb::Agent {
    let occupancy = a.occupancy_at(now);
    let (presence, reason) = match &a.presence {
        PresenceView::Offline => (pb::AgentPresence::Offline, String::new()),
        PresenceView::Ready => (pb::AgentPresence::Ready, String::new()),
        PresenceView::NotReady(r) => (pb::AgentPresence::NotReady, r.clone()),
        PresenceView::WrapUp => (pb::AgentPresence::WrapUp, String::new()),
    };
    pb::Agent {
        spec: Some(pb::AgentSpec {
            id: a.spec.id.to_string(),
            name: a.spec.name.clone(),
            skills: skills_to(&a.spec.skills),
            capacity: a.capacity,
            channel_limits: a
                .spec
                .channel_limits
                .iter()
                .map(|(c, max)| pb::ChannelLimit {
                    channel: channel_to(*c) as i32,
                    max_contacts: *max,
                })
                .collect(),
            kind: match a.spec.kind {
                AgentKind::Human => pb::AgentKind::Human,
                AgentKind::Bot => pb::AgentKind::Bot,
            } as i32,
        }),
        presence: presence as i32,
        not_ready_reason: reason,
        load: a.load,
        offered_contacts: a.offered.clone(),
        assigned_contacts: a.assigned.clone(),
        consult_contacts: a.consults.clone(),
        idle_since_ms: a.idle_since,
        wrap_up_until_ms: a.wrap_up_until.unwrap_or(0),
        missed_offers_in_row: a.missed_in_row,
        session_attached: a.session_attached,
        contacts_handled: a.handled,
        performance: a.performance,
        logged_in_ms: occupancy.logged_in_ms,
        busy_ms: occupancy.busy_ms,
        occupancy: occupancy.occupancy(),
        utilisation: occupancy.utilisation(),
        state_since_ms: a.state_since,
        occupancy_excl_not_ready: occupancy.occupancy_excl_not_ready(),
        occupancy_today: a.today_at(now).occupancy_excl_not_ready(),
        interrupted_by_contact: a.interrupted_by.unwrap_or(0),
        external_work: a
            .external
            .iter()
            .map(|w| pb::ExternalWork {
                work_id: w.id.to_string(),
                channel: channel_to(w.channel) as i32,
                cost: w.cost,
                label: w.label.to_string(),
                started_at_ms: w.started_at,
            })
            .collect(),
        not_ready_ms: occupancy.not_ready_ms,
        contacts: a
            .holding
            .iter()
            .map(|h| pb::HeldContact {
                contact_id: h.contact,
                queue: h.queue.to_string(),
                channel: channel_to(h.channel) as i32,
                answered_at_ms: h.answered_at.unwrap_or(0),
                ringing_until_ms: h.ringing_until.unwrap_or(0),
            })
            .collect(),
    }
}

/// ListAgents' paging and filters. A page token is the id of the previous page's last agent.
pub fn agent_query_from(r: pb::ListAgentsRequest) -> Result<AgentQuery, Status> {
    let limit = match r.page_size {
        0 => 100,
        n if n as usize <= MAX_PAGE => n as usize,
        n => {
            return Err(Status::invalid_argument(format!(
                "page_size {n} is over {MAX_PAGE}"
            )));
        }
    };
    let after = if r.page_token.is_empty() {
        None
    } else {
        validate_page_token(&r.page_token)?;
        Some(r.page_token)
    };
    let presences = r
        .presences
        .iter()
        .map(|p| match pb::AgentPresence::try_from(*p) {
            Ok(pb::AgentPresence::Offline) => Ok(PresenceKind::Offline),
            Ok(pb::AgentPresence::Ready) => Ok(PresenceKind::Ready),
            Ok(pb::AgentPresence::NotReady) => Ok(PresenceKind::NotReady),
            Ok(pb::AgentPresence::WrapUp) => Ok(PresenceKind::WrapUp),
            _ => Err(Status::invalid_argument(format!(
                "presence {p} is not one of AGENT_PRESENCE_OFFLINE, AGENT_PRESENCE_READY, \
                 AGENT_PRESENCE_NOT_READY, AGENT_PRESENCE_WRAP_UP"
            ))),
        })
        .collect::<Result<_, _>>()?;
    let skill = if r.skill.is_empty() {
        if r.skill_level != 0 {
            return Err(Status::invalid_argument("skill_level needs a skill"));
        }
        None
    } else {
        Some(SkillLevel::new(&r.skill, r.skill_level.max(1))?)
    };
    Ok(AgentQuery {
        after,
        limit,
        presences,
        queue: (!r.queue.is_empty()).then_some(r.queue),
        skill,
    })
}

fn validate_page_token(token: &str) -> Result<(), Status> {
    crate::core::types::validate_id(token, "page_token")
        .map_err(|_| Status::invalid_argument("page_token is not one this server gave"))
}

pub fn presence_from(change: Option<pb::AgentStateChange>) -> Result<Presence, Status> {
    use pb::agent_state_change::State;
    match change.and_then(|c| c.state) {
        Some(State::Ready(_)) => Ok(Presence::Ready),
        Some(State::NotReady(nr)) => Ok(Presence::NotReady(nr.reason)),
        Some(State::Offline(_)) => Ok(Presence::Offline),
        None => Err(Status::invalid_argument(
            "state must be one of ready, not_ready, offline",
        )),
    }
}

pub fn contact_state_to_i32(state: &ContactState) -> i32 {
    contact_state_to(state) as i32
}

fn contact_state_to(state: &ContactState) -> pb::ContactState {
    match state {
        ContactState::Waiting => pb::ContactState::Waiting,
        ContactState::Offered { .. } => pb::ContactState::Offered,
        ContactState::Assigned { .. } => pb::ContactState::Assigned,
        ContactState::Completed { .. } => pb::ContactState::Completed,
        ContactState::Abandoned => pb::ContactState::Abandoned,
        ContactState::Cancelled => pb::ContactState::Cancelled,
        ContactState::Expired => pb::ContactState::Expired,
        ContactState::Diverted => pb::ContactState::Diverted,
        ContactState::Unreached => pb::ContactState::Unreached,
    }
}

/// A contact as the API shows it; `with_context` false leaves the customer's context out (the
/// supervisor stream does not carry it).
pub fn contact_to(c: &ContactView, with_context: bool) -> pb::Contact {
    pb::Contact {
        id: c.id,
        queue: c.queue.to_string(),
        channel: channel_to(c.channel) as i32,
        customer_id: c.customer_id.to_string(),
        customer_value: c.customer_value,
        priority: c.priority,
        required_skills: skills_to(&c.required_skills),
        alternatives: sets_to(&c.alternatives),
        context: if with_context {
            c.context
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            Default::default()
        },
        conversation_id: c.conversation_id.to_string(),
        state: contact_state_to(&c.state) as i32,
        enqueued_at_ms: c.enqueued_at,
        agent_id: c.state.agent().map(|a| a.to_string()).unwrap_or_default(),
        answered_at_ms: c.answered_at.unwrap_or(0),
        ended_at_ms: c.ended_at.unwrap_or(0),
        position: 0,
        estimated_wait_ms: None,
        queued_at_ms: c.queued_at,
        transfers: c
            .transfers
            .iter()
            .map(|t| pb::TransferRecord {
                at_ms: t.at,
                from_queue: t.from_queue.to_string(),
                from_agent: t.from_agent.to_string(),
                to_queue: t.to_queue.to_string(),
                reason: t.reason.to_string(),
                to_agent: t.to_agent.as_deref().unwrap_or_default().to_string(),
                warm: t.warm,
            })
            .collect(),
        exceptions: firings_to(&c.exceptions),
        callback: c.callback.as_deref().map(callback_to),
        held_until_ms: c.held_until,
        consult: c.consult.as_ref().map(|k| pb::ConsultInfo {
            queue: k.queue.to_string(),
            by_agent: k.by.to_string(),
            agent_id: k.agent.to_string(),
            reason: k.reason.to_string(),
            started_at_ms: k.started_at,
            deadline_ms: if k.accepted_at.is_none() {
                k.deadline
            } else {
                0
            },
            accepted_at_ms: k.accepted_at.unwrap_or(0),
        }),
        interrupting: c.interrupting,
        paused_since_ms: c.paused_since.unwrap_or(0),
        paused_ms: c.paused_ms,
        // GetContact fills these in: a view does not carry them.
        preferred_agents: Vec::new(),
        preferred_until_ms: 0,
        preference_recalled: false,
    }
}

pub fn new_contact_from(r: pb::EnqueueContactRequest) -> Result<NewContact, Status> {
    let mut c = NewContact::new(&r.queue, channel_from(r.channel)?);
    c.customer_id = r.customer_id;
    c.customer_value = r.customer_value;
    c.priority = r.priority;
    c.required_skills = skills_from(&r.required_skills)?;
    c.alternatives = sets_from(&r.alternatives)?;
    c.context = r.context.into_iter().collect::<BTreeMap<_, _>>();
    c.conversation_id = r.conversation_id;
    c.request_id = r.request_id;
    c.preferred_agents = r
        .preferred_agents
        .into_iter()
        .map(|p| PreferredAgent {
            agent: p.agent_id,
            score: p.score,
        })
        .collect();
    c.preferred_wait_secs = r.preferred_wait_seconds;
    Ok(c)
}

pub fn contact_update_from(r: pb::UpdateContactRequest) -> Result<ContactUpdate, Status> {
    Ok(ContactUpdate {
        priority: r.priority,
        customer_value: r.customer_value,
        required_skills: match r.required_skills {
            Some(set) => Some(skills_from(&set.skills)?),
            None => None,
        },
        context_set: r.context_set.into_iter().collect(),
        context_removed: r.context_removed,
    })
}

pub fn cancel_reason_from(value: i32) -> Result<CancelReason, Status> {
    match pb::CancelReason::try_from(value) {
        Ok(pb::CancelReason::Abandoned) => Ok(CancelReason::Abandoned),
        Ok(pb::CancelReason::Withdrawn) => Ok(CancelReason::Withdrawn),
        _ => Err(Status::invalid_argument(
            "reason must be CANCEL_REASON_ABANDONED or CANCEL_REASON_WITHDRAWN",
        )),
    }
}

pub fn outcome_from(o: Option<pb::Outcome>) -> Result<Outcome, Status> {
    let o = o.unwrap_or_default();
    if o.satisfaction > 5 {
        return Err(CoreError::invalid(format!(
            "satisfaction {} is out of range 1-5 (0 = not asked)",
            o.satisfaction
        ))
        .into());
    }
    Ok(Outcome {
        handle_secs: o.handle_seconds,
        resolved: o.resolved,
        satisfaction: o.satisfaction as u8,
    })
}

pub fn contact_id(id: u64) -> Result<u64, Status> {
    if id == 0 {
        return Err(Status::invalid_argument("contact_id must be set"));
    }
    Ok(id)
}

pub fn agent_id(id: &str) -> Result<String, Status> {
    crate::core::types::validate_id(id, "agent id")?;
    Ok(id.to_string())
}

fn trigger_to(t: Trigger) -> pb::Trigger {
    match t {
        Trigger::ContactArrived => pb::Trigger::ContactArrived,
        Trigger::AgentReady => pb::Trigger::AgentReady,
        Trigger::CapacityFreed => pb::Trigger::CapacityFreed,
        Trigger::WrapUpEnded => pb::Trigger::WrapUpEnded,
        Trigger::ConfigurationChanged => pb::Trigger::ConfigurationChanged,
        Trigger::RequirementsRelaxed => pb::Trigger::RequirementsRelaxed,
        Trigger::AffinityWaitEnded => pb::Trigger::AffinityWaitEnded,
        Trigger::ReservationReleased => pb::Trigger::ReservationReleased,
        Trigger::ContactUpdated => pb::Trigger::ContactUpdated,
        Trigger::ContactTransferred => pb::Trigger::ContactTransferred,
        Trigger::ExceptionFired => pb::Trigger::ExceptionFired,
        Trigger::CallbackDue => pb::Trigger::CallbackDue,
        Trigger::ConsultRequested => pb::Trigger::ConsultRequested,
        Trigger::WorkInterruptible => pb::Trigger::WorkInterruptible,
    }
}

fn decision_to(d: &Decision) -> pb::Decision {
    pb::Decision {
        contact_id: d.contact,
        agent_id: d.agent.to_string(),
        queue: d.queue.to_string(),
        strategy: d.strategy.label.to_string(),
        trigger: trigger_to(d.trigger) as i32,
        waited_ms: d.waited_ms,
        candidates: d
            .candidates
            .iter()
            .map(|c| pb::Candidate {
                agent_id: c.agent.to_string(),
                score: c.score,
                idle_ms: c.idle_ms,
                contact_id: c.contact,
                terms: terms_to(d, &c.terms),
            })
            .collect(),
        considered: d.considered,
        offer_deadline_ms: d.offer_deadline,
        channel: channel_to(d.channel) as i32,
        priority: d.priority,
        side: match d.side {
            Side::AgentChosen => pb::DecisionSide::AgentChosen,
            Side::ContactChosen => pb::DecisionSide::ContactChosen,
        } as i32,
        strategy_version: d.strategy.version,
        relaxation_step: d.relaxation_step,
        excluded: (d.side == Side::AgentChosen).then_some(pb::Exclusions {
            not_ready: d.excluded.not_ready,
            wrap_up: d.excluded.wrap_up,
            no_capacity: d.excluded.no_capacity,
            missing_skill: d.excluded.missing_skill,
            declined: d.excluded.declined,
            over_occupancy_cap: d.excluded.over_cap,
            occupancy_cap_waived: d.excluded.cap_waived,
            held_for_reservation: d.excluded.held,
        }),
        alternative: d.alternative,
        exceptions: firings_to(&d.exceptions),
        preferred: match d.preferred_met {
            None => pb::PreferredOutcome::Unspecified,
            Some(true) => pb::PreferredOutcome::Met,
            Some(false) => pb::PreferredOutcome::Missed,
        } as i32,
    }
}

/// A candidate's weighted terms, named, in the strategy's term order.
fn terms_to(d: &Decision, terms: &Terms) -> Vec<pb::ScoreTerm> {
    let term = |name: &str, value: f64, weight: f64| pb::ScoreTerm {
        name: name.to_string(),
        value,
        weight,
    };
    match terms {
        Terms::Agent(v) => AgentTerm::ALL
            .iter()
            .zip(d.strategy.agent_weights)
            .filter(|(_, w)| *w != 0.0)
            .map(|(t, w)| term(t.name(), v.0[*t as usize], w))
            .collect(),
        Terms::Contact(v) => ContactTerm::ALL
            .iter()
            .zip(d.strategy.contact_weights)
            .filter(|(_, w)| *w != 0.0)
            .map(|(t, w)| term(t.name(), v.0[*t as usize], w))
            .collect(),
    }
}

/// The kind of a core event, as the API names it.
pub fn event_kind(body: &EventBody) -> pb::EventKind {
    match body {
        EventBody::ContactQueued { .. } => pb::EventKind::ContactQueued,
        EventBody::ContactUpdated { .. } => pb::EventKind::ContactUpdated,
        EventBody::ContactTransferred { .. } => pb::EventKind::ContactTransferred,
        EventBody::ExceptionFired { .. } => pb::EventKind::ExceptionFired,
        EventBody::CallbackRequested { .. } => pb::EventKind::CallbackRequested,
        EventBody::ConsultAccepted { .. } => pb::EventKind::ConsultAccepted,
        EventBody::ConsultEnded { .. } => pb::EventKind::ConsultEnded,
        EventBody::CallbackAttempted { .. } => pb::EventKind::CallbackAttempted,
        EventBody::Decision(_) => pb::EventKind::Decision,
        EventBody::OfferAccepted { .. } => pb::EventKind::OfferAccepted,
        EventBody::OfferRejected { .. } => pb::EventKind::OfferRejected,
        EventBody::OfferTimedOut { .. } => pb::EventKind::OfferTimedOut,
        EventBody::OfferReturned { .. } => pb::EventKind::OfferReturned,
        EventBody::ContactEnded { contact, .. } => match contact.state {
            ContactState::Abandoned => pb::EventKind::ContactAbandoned,
            ContactState::Cancelled => pb::EventKind::ContactCancelled,
            ContactState::Expired => pb::EventKind::ContactExpired,
            ContactState::Diverted => pb::EventKind::ContactDiverted,
            ContactState::Unreached => pb::EventKind::ContactUnreached,
            _ => pb::EventKind::ContactCompleted,
        },
        EventBody::AgentStateChanged { .. } => pb::EventKind::AgentStateChanged,
        EventBody::AgentChanged { .. } => pb::EventKind::AgentChanged,
        EventBody::QueueChanged { .. } => pb::EventKind::QueueChanged,
    }
}

pub fn withdrawal_to(w: Withdrawal) -> pb::WithdrawalReason {
    use pb::WithdrawalReason as W;
    match w {
        Withdrawal::TimedOut => W::TimedOut,
        Withdrawal::Rejected => W::Rejected,
        Withdrawal::Returned(ReturnReason::AgentNotReady) => W::AgentNotReady,
        Withdrawal::Returned(ReturnReason::AgentOffline) => W::AgentOffline,
        Withdrawal::Returned(ReturnReason::AgentRemoved) => W::AgentRemoved,
        Withdrawal::Abandoned => W::Abandoned,
        Withdrawal::Cancelled => W::Cancelled,
        Withdrawal::Expired => W::Expired,
        Withdrawal::Completed => W::Completed,
        Withdrawal::Transferred => W::Transferred,
        Withdrawal::CallbackNotReached => W::CallbackNotReached,
        Withdrawal::ConsultEnded => W::ConsultEnded,
    }
}

fn return_reason_to(r: ReturnReason) -> pb::OfferReturnReason {
    match r {
        ReturnReason::AgentNotReady => pb::OfferReturnReason::AgentNotReady,
        ReturnReason::AgentOffline => pb::OfferReturnReason::AgentOffline,
        ReturnReason::AgentRemoved => pb::OfferReturnReason::AgentRemoved,
    }
}

pub fn event_to(p: &Published) -> pb::Event {
    use pb::event::Detail;
    let e = &p.event;
    let (detail, reason) = match &e.body {
        EventBody::ContactQueued { contact } | EventBody::ContactEnded { contact, .. } => {
            (Some(Detail::Contact(contact_to(contact, false))), "")
        }
        EventBody::ContactUpdated { contact, .. }
        | EventBody::ContactTransferred { contact, .. } => {
            (Some(Detail::Contact(contact_to(contact, false))), "")
        }
        EventBody::ExceptionFired { contact, firing } => (
            Some(Detail::Contact(contact_to(contact, false))),
            firing_reason(firing),
        ),
        EventBody::CallbackRequested { contact } | EventBody::ConsultAccepted { contact, .. } => {
            (Some(Detail::Contact(contact_to(contact, false))), "")
        }
        EventBody::ConsultEnded { contact, how, .. } => (
            Some(Detail::Contact(contact_to(contact, false))),
            how.code(),
        ),
        EventBody::CallbackAttempted { contact, .. } => (
            Some(Detail::Contact(contact_to(contact, false))),
            match contact
                .callback
                .as_ref()
                .and_then(|c| c.attempts.last())
                .map(|a| a.result)
            {
                Some(AttemptResult::Reached) => "reached",
                Some(AttemptResult::NoAnswer) => "no-answer",
                Some(AttemptResult::Busy) => "busy",
                None => "",
            },
        ),
        EventBody::Decision(d) => (Some(Detail::Decision(decision_to(d))), ""),
        EventBody::OfferReturned { reason, .. } => (None, reason.code()),
        EventBody::OfferAccepted { .. }
        | EventBody::OfferRejected { .. }
        | EventBody::OfferTimedOut { .. } => (None, ""),
        EventBody::AgentStateChanged { agent } => (Some(Detail::Agent(agent_to(agent, e.at))), ""),
        EventBody::AgentChanged { agent, removed } => (
            Some(Detail::Agent(agent_to(agent, e.at))),
            if *removed { "removed" } else { "" },
        ),
        EventBody::QueueChanged { queue, deleted } => (
            Some(Detail::QueueConfig(queue_to(queue))),
            if *deleted { "deleted" } else { "" },
        ),
    };
    let reason = match &e.body {
        EventBody::AgentStateChanged { agent } => match &agent.presence {
            PresenceView::NotReady(r) => r.clone(),
            _ => String::new(),
        },
        EventBody::ContactUpdated { changed, .. } => changed.join(","),
        _ => reason.to_string(),
    };
    pb::Event {
        sequence: p.sequence,
        at_ms: e.at,
        kind: event_kind(&e.body) as i32,
        queue: e.queue().unwrap_or_default().to_string(),
        agent_id: e.agent().unwrap_or_default().to_string(),
        contact_id: e.contact().unwrap_or(0),
        detail,
        reason,
        return_reason: match &e.body {
            EventBody::OfferReturned { reason, .. } => return_reason_to(*reason) as i32,
            _ => pb::OfferReturnReason::Unspecified as i32,
        },
    }
}

/// The floor's figures as of `view`, with time-running ones (longest wait, the rolling half
/// hour) computed at `now`: GetSnapshot's answer, and the HTTP API's.
pub fn snapshot_to(view: &FloorView, now: Millis) -> pb::SnapshotResponse {
    let waiting: u32 = view.queues().map(|q| q.waiting).sum();
    pb::SnapshotResponse {
        at_ms: now,
        last_sequence: view.last_sequence,
        agents_logged_in: view.logged_in,
        agents_ready: view.ready,
        contacts_waiting: waiting,
        queues: view
            .queues()
            .map(|q| {
                let c = &q.counters;
                let sl = &q.service_level;
                let (interval, previous, today) = q.periods(now);
                pb::QueueStats {
                    queue: q.config.name.to_string(),
                    waiting: q.waiting,
                    offered_now: q.offered_now,
                    longest_wait_ms: q.longest_wait_ms(now),
                    agents_ready: q.agents_ready,
                    agents_busy: q.agents_busy,
                    agents_not_ready: q.agents_not_ready,
                    agents_wrap_up: q.agents_wrap_up,
                    offered: c.offered,
                    answered: c.answered,
                    abandoned: c.abandoned,
                    expired: c.expired,
                    refused: c.refused,
                    answered_within_threshold: c.answered_within_threshold,
                    sl_answered: sl.sl_answered,
                    sl_offered: sl.sl_offered,
                    sl_excl_short_abandons: sl.sl_excl_short_abandons,
                    asa_ms: sl.asa_ms,
                    abandon_rate: sl.abandon_rate,
                    sl_target_percent: q.config.sl_target_percent,
                    sl_threshold_seconds: q.config.sl_threshold_secs,
                    completed: c.completed,
                    recent_sl_offered: q.recent_sl_offered(now),
                    pressure: q.pressure(now),
                    transferred_out: c.transferred_out,
                    transferred_in: c.transferred_in,
                    overflowed_out: c.overflowed_out,
                    overflowed_in: c.overflowed_in,
                    diverted: c.diverted,
                    callbacks_requested: c.callbacks_requested,
                    callbacks_reached: c.callbacks_reached,
                    callbacks_unreached: c.callbacks_unreached,
                    bot_contained: c.bot_contained,
                    bot_escalated: c.bot_escalated,
                    containment: ratio(c.bot_contained, c.bot_contained + c.bot_escalated),
                    interval: Some(period_to(&interval)),
                    previous_interval: Some(period_to(&previous)),
                    today: Some(period_to(&today)),
                }
            })
            .collect(),
    }
}

/// ListAgents' answer from `view`: a page of agents, filtered, with time-running figures at
/// `now` (shared by gRPC and the HTTP API).
pub fn list_agents_to(
    view: &FloorView,
    request: pb::ListAgentsRequest,
    now: Millis,
) -> Result<pb::ListAgentsResponse, Status> {
    let query = agent_query_from(request)?;
    let page = view.list_agents(&query)?;
    Ok(pb::ListAgentsResponse {
        agents: page.agents.iter().map(|a| agent_to(a, now)).collect(),
        next_page_token: page.next_after.map(|id| id.to_string()).unwrap_or_default(),
    })
}

/// A queue's figures over one reporting period.
pub fn period_to(p: &PeriodFigures) -> pb::QueuePeriod {
    let c = &p.counters;
    let sl = c.service_level();
    pb::QueuePeriod {
        start_ms: p.start,
        end_ms: p.end,
        offered: c.offered,
        answered: c.answered,
        abandoned: c.abandoned,
        expired: c.expired,
        refused: c.refused,
        answered_within_threshold: c.answered_within_threshold,
        completed: c.completed,
        sl_answered: sl.sl_answered,
        sl_offered: sl.sl_offered,
        sl_excl_short_abandons: sl.sl_excl_short_abandons,
        asa_ms: sl.asa_ms,
        abandon_rate: sl.abandon_rate,
        transferred_in: c.transferred_in,
        overflowed_in: c.overflowed_in,
        callbacks_requested: c.callbacks_requested,
        bot_contained: c.bot_contained,
        bot_escalated: c.bot_escalated,
        containment: ratio(c.bot_contained, c.bot_contained + c.bot_escalated),
    }
}
