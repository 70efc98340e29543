//! Queue configuration: where contacts wait, what they require by default, the service-level
//! target, timers and limits, and the strategy that routes them.
//!
//! [`QueueConfig`] is the one schema of a queue: the configuration file's `[[queues]]` tables
//! and the simulator's scenarios deserialise straight into it (its serde form *is* the TOML
//! form: field names in seconds, skills as `name:level`, channels by name, unknown keys refused,
//! every field defaulting to [`QueueConfig::default`]); the API and the journal convert to and
//! from it field by field. Defaults live in one place, [`QueueConfig::default`].
//!
//! Invariant: a [`QueueConfig`] that passed [`QueueConfig::validate`] has a strategy that compiles,
//! unique default skills, a target in (0, 100], an offer timeout of 1–3600 s and at most
//! [`MAX_RELAXATION_STEPS`] relaxation steps at strictly increasing times, and at most
//! [`MAX_EXCEPTION_RULES`] exception rules, none moving contacts to the queue itself (the engine
//! checks the rest of the move graph: targets exist, take the queue's channels, no cycle).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::CoreError;
use super::strategy::{DEFAULT, DEFAULT_CONTACT, Strategy};
use super::types::{Channel, Level, SkillLevel, SkillName, ensure_unique_skills, validate_id};

pub const MAX_RELAXATION_STEPS: usize = 16;
/// Alternative requirement sets a queue, a contact or a queue's widen steps may each name.
pub const MAX_ALTERNATIVES: usize = 4;

/// What a relaxation step does to a waiting contact's requirements.
#[derive(Clone, Debug, PartialEq)]
pub enum Relax {
    /// A required skill's minimum level drops to `level` (if it was higher).
    Lower { skill: SkillName, level: Level },
    /// A required skill is no longer required.
    Drop { skill: SkillName },
    /// The contact may also go to agents meeting `skills` (taken as written: a second pool).
    Widen { skills: Vec<SkillLevel> },
}

/// After `after_secs` of waiting, `action` applies to the contact's requirements. Steps are
/// deadlines in the engine; a decision records how many steps were in force.
///
/// Written `{ after_seconds = 60, lower = "billing:3" }`, `{ after_seconds = 180, drop =
/// "billing" }` or `{ after_seconds = 120, widen = ["overflow:1"] }`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
#[serde(try_from = "RelaxForm", into = "RelaxForm")]
pub struct RelaxStep {
    pub after_secs: u32,
    pub action: Relax,
}

/// A relaxation step as written.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RelaxForm {
    after_seconds: u32,
    #[serde(default)]
    lower: Option<String>,
    #[serde(default)]
    drop: Option<String>,
    #[serde(default)]
    widen: Option<Vec<String>>,
}

impl TryFrom<RelaxForm> for RelaxStep {
    type Error = CoreError;
    fn try_from(form: RelaxForm) -> Result<RelaxStep, CoreError> {
        let action = match (form.lower, form.drop, form.widen) {
            (Some(lower), None, None) => {
                let s: SkillLevel = lower.parse()?;
                Relax::Lower {
                    skill: s.skill,
                    level: s.level,
                }
            }
            (None, Some(drop), None) => Relax::Drop {
                skill: SkillName::new(&drop)?,
            },
            (None, None, Some(widen)) => Relax::Widen {
                skills: widen.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
            },
            _ => {
                return Err(CoreError::invalid(
                    "a relaxation step takes exactly one of lower, drop or widen",
                ));
            }
        };
        Ok(RelaxStep {
            after_secs: form.after_seconds,
            action,
        })
    }
}

impl From<RelaxStep> for RelaxForm {
    fn from(step: RelaxStep) -> RelaxForm {
        let (mut lower, mut drop, mut widen) = (None, None, None);
        match step.action {
            Relax::Lower { skill, level } => lower = Some(format!("{skill}:{}", level.get())),
            Relax::Drop { skill } => drop = Some(skill.to_string()),
            Relax::Widen { skills } => {
                widen = Some(
                    skills
                        .iter()
                        .map(|k| format!("{}:{}", k.skill, k.level.get()))
                        .collect(),
                )
            }
        }
        RelaxForm {
            after_seconds: step.after_secs,
            lower,
            drop,
            widen,
        }
    }
}

/// Exception rules a queue may have.
pub const MAX_EXCEPTION_RULES: usize = 8;

/// When an exception rule fires for a contact of its queue.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub enum ExceptionTrigger {
    /// The contact has waited this long (since it entered the queue chain: a move keeps its
    /// wait). A deadline in the engine; a contact ringing at an agent when it comes due is
    /// handled when the offer comes back, if it does.
    Waited { secs: u32 },
    /// On arrival, at least this many contacts already wait in the queue.
    LengthAtLeast { length: u32 },
    /// On arrival, no logged-in agent (ready or not) meets any of the contact's requirement
    /// sets.
    NoAgent,
    /// On arrival, the queue's wait estimate for the contact's place exceeds this (a queue
    /// without staff to estimate from counts as exceeding it).
    EstimatedWaitOver { secs: u32 },
}

impl ExceptionTrigger {
    /// Whether it is checked when a contact arrives (the others are deadlines).
    pub fn on_arrival(&self) -> bool {
        !matches!(self, ExceptionTrigger::Waited { .. })
    }
}

/// What an exception rule does to the contact.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub enum ExceptionAction {
    /// Moves it to another queue (overflow), keeping its wait, context, customer and history.
    MoveTo { queue: Arc<str> },
    /// Sets its priority (0-100).
    Priority { priority: u32 },
    /// Replaces its requirements with these skills, taken as written.
    Require { skills: Vec<SkillLevel> },
    /// Ends it (terminal state `diverted`) with this reason, e.g. `closed` or `voicemail`.
    End { reason: Arc<str> },
    /// Tells the frontend to offer the customer a callback (the firing is published; the
    /// frontend asks, and calls RequestCallback if the customer accepts). The contact is
    /// unchanged.
    OfferCallback,
}

/// One exception rule of a queue: a trigger and an action. Each rule fires at most once per
/// contact per visit to the queue.
///
/// Written `{ waited_seconds = 60, move_to = "general" }`, `{ length_at_least = 20, end =
/// "busy" }`, `{ no_agent = true, move_to = "backup" }`, `{ estimated_wait_seconds = 300,
/// priority = 10 }` or `{ waited_seconds = 90, require = ["billing:1"] }`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
#[serde(try_from = "ExceptionForm", into = "ExceptionForm")]
pub struct ExceptionRule {
    pub trigger: ExceptionTrigger,
    pub action: ExceptionAction,
}

/// An exception rule as written (no `skip_serializing_if`: images are not self-describing;
/// TOML leaves `None` out by itself).
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExceptionForm {
    #[serde(default)]
    waited_seconds: Option<u32>,
    #[serde(default)]
    length_at_least: Option<u32>,
    #[serde(default)]
    no_agent: Option<bool>,
    #[serde(default)]
    estimated_wait_seconds: Option<u32>,
    #[serde(default)]
    move_to: Option<String>,
    #[serde(default)]
    priority: Option<u32>,
    #[serde(default)]
    require: Option<Vec<String>>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    offer_callback: Option<bool>,
}

impl TryFrom<ExceptionForm> for ExceptionRule {
    type Error = CoreError;
    fn try_from(f: ExceptionForm) -> Result<ExceptionRule, CoreError> {
        let trigger = match (
            f.waited_seconds,
            f.length_at_least,
            f.no_agent,
            f.estimated_wait_seconds,
        ) {
            (Some(secs), None, None, None) => ExceptionTrigger::Waited { secs },
            (None, Some(length), None, None) => ExceptionTrigger::LengthAtLeast { length },
            (None, None, Some(true), None) => ExceptionTrigger::NoAgent,
            (None, None, None, Some(secs)) => ExceptionTrigger::EstimatedWaitOver { secs },
            _ => {
                return Err(CoreError::invalid(
                    "an exception rule takes exactly one trigger: waited_seconds, \
                     length_at_least, no_agent = true or estimated_wait_seconds",
                ));
            }
        };
        let action = match (f.move_to, f.priority, f.require, f.end, f.offer_callback) {
            (None, None, None, None, Some(true)) => ExceptionAction::OfferCallback,
            (move_to, priority, require, end, None) => match (move_to, priority, require, end) {
                (Some(queue), None, None, None) => ExceptionAction::MoveTo {
                    queue: queue.into(),
                },
                (None, Some(priority), None, None) => ExceptionAction::Priority { priority },
                (None, None, Some(skills), None) => ExceptionAction::Require {
                    skills: skills.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
                },
                (None, None, None, Some(reason)) => ExceptionAction::End {
                    reason: reason.into(),
                },
                _ => return Err(one_action()),
            },
            _ => return Err(one_action()),
        };
        Ok(ExceptionRule { trigger, action })
    }
}

fn one_action() -> CoreError {
    CoreError::invalid(
        "an exception rule takes exactly one action: move_to, priority, require, end or \
         offer_callback = true",
    )
}

impl From<ExceptionRule> for ExceptionForm {
    fn from(rule: ExceptionRule) -> ExceptionForm {
        let mut f = ExceptionForm::default();
        match rule.trigger {
            ExceptionTrigger::Waited { secs } => f.waited_seconds = Some(secs),
            ExceptionTrigger::LengthAtLeast { length } => f.length_at_least = Some(length),
            ExceptionTrigger::NoAgent => f.no_agent = Some(true),
            ExceptionTrigger::EstimatedWaitOver { secs } => f.estimated_wait_seconds = Some(secs),
        }
        match rule.action {
            ExceptionAction::MoveTo { queue } => f.move_to = Some(queue.to_string()),
            ExceptionAction::Priority { priority } => f.priority = Some(priority),
            ExceptionAction::Require { skills } => {
                f.require = Some(
                    skills
                        .iter()
                        .map(|k| format!("{}:{}", k.skill, k.level.get()))
                        .collect(),
                )
            }
            ExceptionAction::End { reason } => f.end = Some(reason.to_string()),
            ExceptionAction::OfferCallback => f.offer_callback = Some(true),
        }
        f
    }
}

impl ExceptionRule {
    /// Field checks; the targets of moves (exist, take the channels, no cycle) are the engine's.
    pub fn validate(&self, queue: &str) -> Result<(), CoreError> {
        match &self.trigger {
            ExceptionTrigger::Waited { secs } | ExceptionTrigger::EstimatedWaitOver { secs }
                if *secs == 0 || *secs > 7 * 86_400 =>
            {
                return Err(CoreError::invalid(
                    "an exception rule's seconds must be 1 s to one week",
                ));
            }
            ExceptionTrigger::LengthAtLeast { length: 0 } => {
                return Err(CoreError::invalid(
                    "an exception rule's length_at_least must be at least 1",
                ));
            }
            _ => {}
        }
        match &self.action {
            ExceptionAction::MoveTo { queue: to } => {
                validate_id(to, "exception rule's move_to queue")?;
                if **to == *queue {
                    return Err(CoreError::invalid(format!(
                        "queue {queue:?} has an exception rule moving contacts to itself"
                    )));
                }
            }
            ExceptionAction::Priority { priority } if *priority > 100 => {
                return Err(CoreError::invalid(format!(
                    "an exception rule's priority {priority} is out of range 0-100"
                )));
            }
            ExceptionAction::Require { skills } => {
                if skills.is_empty() {
                    return Err(CoreError::invalid(
                        "an exception rule's require names no skill",
                    ));
                }
                ensure_unique_skills(skills, "exception rule")?;
            }
            ExceptionAction::End { reason }
                if reason.is_empty()
                    || reason.len() > 64
                    || reason.chars().any(char::is_control) =>
            {
                return Err(CoreError::invalid(
                    "an exception rule's end reason must be 1-64 bytes without control characters",
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Orders queue configurations so every queue an exception rule moves contacts to comes before
/// the queue naming it (so they can be created in that order), keeping the given order
/// otherwise. A cycle of moves (A → B → A) is refused, naming it.
pub fn order_by_move_targets(queues: Vec<QueueConfig>) -> Result<Vec<QueueConfig>, CoreError> {
    let names: BTreeMap<&str, usize> = queues
        .iter()
        .enumerate()
        .map(|(i, q)| (&*q.name, i))
        .collect();
    // 0: not visited, 1: on the current path, 2: placed.
    let mut mark = vec![0u8; queues.len()];
    let mut order = Vec::with_capacity(queues.len());
    fn visit(
        i: usize,
        queues: &[QueueConfig],
        names: &BTreeMap<&str, usize>,
        mark: &mut [u8],
        order: &mut Vec<usize>,
        path: &mut Vec<usize>,
    ) -> Result<(), CoreError> {
        match mark[i] {
            2 => return Ok(()),
            1 => {
                let from = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle: Vec<&str> = path[from..].iter().map(|&p| &*queues[p].name).collect();
                cycle.push(&queues[i].name);
                return Err(CoreError::invalid(format!(
                    "exception rules move contacts in a cycle: {}",
                    cycle.join(" -> ")
                )));
            }
            _ => {}
        }
        mark[i] = 1;
        path.push(i);
        for target in queues[i].move_targets() {
            if let Some(&t) = names.get(target) {
                visit(t, queues, names, mark, order, path)?;
            }
        }
        path.pop();
        mark[i] = 2;
        order.push(i);
        Ok(())
    }
    let mut path = Vec::new();
    for i in 0..queues.len() {
        visit(i, &queues, &names, &mut mark, &mut order, &mut path)?;
    }
    let mut slots: Vec<Option<QueueConfig>> = queues.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .map(|i| slots[i].take().expect("each queue placed once"))
        .collect())
}

/// The most idle agents a `service-level` queue keeps back unless it says otherwise.
pub const DEFAULT_RESERVE_AGENTS: u32 = 2;
/// The most a queue may keep back.
pub const MAX_RESERVE_AGENTS: u32 = 10;

/// The wait estimator of a queue that names none.
pub const DEFAULT_WAIT_ESTIMATOR: &str = "head-of-line";

/// A queue as the admin configures it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    pub name: Arc<str>,
    /// Set by the engine: 1 when created, one more at every update (ignored on input). The
    /// decisions a configuration routes name its version.
    #[serde(skip)]
    pub version: u64,
    /// Skills every contact of this queue requires (merged with the contact's own).
    #[serde(rename = "skills", with = "skill_strings")]
    pub required_skills: Vec<SkillLevel>,
    /// Other requirement sets a contact may be served under instead (OR), each taken as
    /// written, e.g. `[["overflow:1"]]`: at most [`MAX_ALTERNATIVES`], none empty.
    #[serde(with = "skill_sets")]
    pub alternatives: Vec<Vec<SkillLevel>>,
    /// Channels accepted; empty means all.
    pub channels: Vec<Channel>,
    #[serde(rename = "sl_threshold_seconds")]
    pub sl_threshold_secs: u32,
    pub sl_target_percent: f64,
    #[serde(rename = "offer_timeout_seconds")]
    pub offer_timeout_secs: u32,
    #[serde(rename = "wrap_up_seconds")]
    pub wrap_up_secs: u32,
    /// 0 = no limit.
    #[serde(rename = "max_wait_seconds")]
    pub max_wait_secs: u32,
    /// 0 = no limit.
    pub max_length: u32,
    /// Agent-side strategy: a preset (see [`crate::core::strategy`]) or `weighted`.
    pub strategy: String,
    /// Contact-side strategy: a preset or `weighted`.
    pub contact_strategy: String,
    /// Term name → weight; overrides the preset's weight for that term.
    pub agent_weights: BTreeMap<String, f64>,
    pub contact_weights: BTreeMap<String, f64>,
    /// 0: exact choice (the default). 1–64: score only the first N eligible agents of the
    /// strategy's walk (an approximation with a hard cost bound).
    pub window: u32,
    /// Fairness band; `None` takes the preset's (0.05 for `performance`, else 0).
    pub band: Option<f64>,
    /// Cap on a contact's score; `None` takes the preset's (100 for `wait-ageing`, else none).
    pub score_cap: Option<f64>,
    /// Occupancy cap, in percent (0 = none): an agent busy more than this over the last half
    /// hour ([`crate::core::stats::RollingOccupancy::rolling`]) is passed over while an agent under
    /// the cap can take the contact; when none can, the best over the cap takes it.
    pub occupancy_cap_percent: f64,
    /// Most idle agents a `service-level` queue keeps back for itself while it risks its
    /// target (agent reservation; how many, 1 or 2, follows from its pressure up to this); 0
    /// turns reservation off.
    pub reserve_agents: u32,
    /// The delay predictor of the wait estimates given at enqueue and by `GetContact`: one of
    /// [`crate::core::ewt::WaitEstimator`]'s names.
    pub wait_estimator: String,
    /// 0 = no affinity. Otherwise a contact whose customer or conversation was recently handled
    /// waits up to this long for that agent before the strategy picks another.
    #[serde(rename = "affinity_wait_seconds")]
    pub affinity_wait_secs: u32,
    /// How far back an earlier interaction counts for affinity and for `new-customer`.
    #[serde(rename = "affinity_horizon_seconds")]
    pub affinity_horizon_secs: u32,
    /// Requirements loosened with waiting time, in order.
    pub relaxation: Vec<RelaxStep>,
    /// Exception rules (overflow and the like), at most [`MAX_EXCEPTION_RULES`]: checked in
    /// order, each firing at most once per contact per visit.
    pub exceptions: Vec<ExceptionRule>,
    /// Calls made for a callback before it ends unreached (1-10).
    pub callback_attempts: u32,
    /// The delay before a failed callback attempt is retried, in seconds (1-86,400).
    #[serde(rename = "callback_retry_seconds")]
    pub callback_retry_secs: u32,
    /// Abandons within this many seconds are "short" (a misdial, a caller who hung up at the
    /// greeting): `sl_excl_short_abandons` leaves them out (0-3600; 0 leaves none out).
    #[serde(rename = "short_abandon_seconds")]
    pub short_abandon_secs: u32,
    /// What a contact of this queue costs of an agent's capacity, by channel, where it differs
    /// from the server's `[routing.channel_costs]` (an email from the VIP queue may cost a
    /// whole agent): 1-10,000 each. A contact costs its queue's figure while it waits and keeps
    /// the figure it was offered at until it ends or leaves the agent.
    pub channel_costs: BTreeMap<Channel, u32>,
}

impl Default for QueueConfig {
    /// Every channel, 80 % in 20 s, 15 s offer timeout, no wrap-up, no wait or length limit,
    /// longest-idle / priority-FIFO routing, no affinity (a one-day horizon), no relaxation.
    fn default() -> QueueConfig {
        QueueConfig {
            name: "".into(),
            version: 0,
            required_skills: Vec::new(),
            alternatives: Vec::new(),
            channels: Vec::new(),
            sl_threshold_secs: 20,
            sl_target_percent: 80.0,
            offer_timeout_secs: 15,
            wrap_up_secs: 0,
            max_wait_secs: 0,
            max_length: 0,
            strategy: DEFAULT.into(),
            contact_strategy: DEFAULT_CONTACT.into(),
            agent_weights: BTreeMap::new(),
            contact_weights: BTreeMap::new(),
            window: 0,
            band: None,
            score_cap: None,
            occupancy_cap_percent: 0.0,
            reserve_agents: DEFAULT_RESERVE_AGENTS,
            wait_estimator: DEFAULT_WAIT_ESTIMATOR.into(),
            affinity_wait_secs: 0,
            affinity_horizon_secs: 86_400,
            relaxation: Vec::new(),
            exceptions: Vec::new(),
            callback_attempts: 3,
            callback_retry_secs: 300,
            short_abandon_secs: 5,
            channel_costs: BTreeMap::new(),
        }
    }
}

impl QueueConfig {
    /// A queue named `name` with the defaults.
    pub fn new(name: &str) -> QueueConfig {
        QueueConfig {
            name: name.into(),
            ..QueueConfig::default()
        }
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        validate_id(&self.name, "queue name")?;
        if let Some((channel, cost)) = self
            .channel_costs
            .iter()
            .find(|(_, c)| **c == 0 || **c > 10_000)
        {
            return Err(CoreError::invalid(format!(
                "queue channel cost {cost} for {channel} is out of range 1-10000"
            )));
        }
        ensure_unique_skills(&self.required_skills, "queue")?;
        validate_alternatives(&self.alternatives, "queue")?;
        if !(self.sl_target_percent > 0.0 && self.sl_target_percent <= 100.0) {
            return Err(CoreError::invalid(format!(
                "service-level target {} must be in (0, 100] percent",
                self.sl_target_percent
            )));
        }
        if !(self.occupancy_cap_percent >= 0.0 && self.occupancy_cap_percent <= 100.0) {
            return Err(CoreError::invalid(format!(
                "occupancy cap {} must be in [0, 100] percent (0: none)",
                self.occupancy_cap_percent
            )));
        }
        if self.reserve_agents > MAX_RESERVE_AGENTS {
            return Err(CoreError::invalid(format!(
                "reserve_agents {} must be 0 (off) to {MAX_RESERVE_AGENTS}",
                self.reserve_agents
            )));
        }
        if !(1..=3600).contains(&self.offer_timeout_secs) {
            return Err(CoreError::invalid(format!(
                "offer timeout {} s must be 1-3600 s",
                self.offer_timeout_secs
            )));
        }
        if self.wrap_up_secs > 86_400 || self.max_wait_secs > 7 * 86_400 {
            return Err(CoreError::invalid(
                "wrap-up is limited to one day and maximum wait to one week",
            ));
        }
        if self.sl_threshold_secs > 86_400 {
            return Err(CoreError::invalid(
                "service-level threshold is limited to one day",
            ));
        }
        Strategy::compile(self)?;
        if self.relaxation.len() > MAX_RELAXATION_STEPS {
            return Err(CoreError::invalid(format!(
                "{} relaxation steps; the limit is {MAX_RELAXATION_STEPS}",
                self.relaxation.len()
            )));
        }
        let mut last = 0;
        for step in &self.relaxation {
            if step.after_secs <= last || step.after_secs > 7 * 86_400 {
                return Err(CoreError::invalid(
                    "relaxation steps must come at strictly increasing times, 1 s to one week",
                ));
            }
            last = step.after_secs;
        }
        let widened = self
            .relaxation
            .iter()
            .filter_map(|s| match &s.action {
                Relax::Widen { skills } => Some(skills.clone()),
                _ => None,
            })
            .collect::<Vec<_>>();
        validate_alternatives(&widened, "queue's widen steps")?;
        if !(1..=10).contains(&self.callback_attempts) {
            return Err(CoreError::invalid(format!(
                "callback_attempts {} must be 1-10",
                self.callback_attempts
            )));
        }
        if self.short_abandon_secs > 3_600 {
            return Err(CoreError::invalid(format!(
                "short_abandon_seconds {} must be 0-3600",
                self.short_abandon_secs
            )));
        }
        if !(1..=86_400).contains(&self.callback_retry_secs) {
            return Err(CoreError::invalid(format!(
                "callback_retry_seconds {} must be 1-86400",
                self.callback_retry_secs
            )));
        }
        if self.exceptions.len() > MAX_EXCEPTION_RULES {
            return Err(CoreError::invalid(format!(
                "{} exception rules; the limit is {MAX_EXCEPTION_RULES}",
                self.exceptions.len()
            )));
        }
        for rule in &self.exceptions {
            rule.validate(&self.name)?;
        }
        Ok(())
    }

    /// The queues its exception rules move contacts to, in rule order.
    pub fn move_targets(&self) -> impl Iterator<Item = &str> {
        self.exceptions.iter().filter_map(|r| match &r.action {
            ExceptionAction::MoveTo { queue } => Some(&**queue),
            _ => None,
        })
    }

    pub fn accepts(&self, channel: Channel) -> bool {
        self.channels.is_empty() || self.channels.contains(&channel)
    }
}

/// Checks alternative requirement sets: at most [`MAX_ALTERNATIVES`], each non-empty with
/// unique skills.
pub fn validate_alternatives(sets: &[Vec<SkillLevel>], whose: &str) -> Result<(), CoreError> {
    if sets.len() > MAX_ALTERNATIVES {
        return Err(CoreError::invalid(format!(
            "{} alternative requirement sets in the {whose}; the limit is {MAX_ALTERNATIVES}",
            sets.len()
        )));
    }
    for set in sets {
        if set.is_empty() {
            return Err(CoreError::invalid(format!(
                "an alternative requirement set in the {whose} names no skill"
            )));
        }
        ensure_unique_skills(set, whose)?;
    }
    Ok(())
}

/// Requirement sets as lists of `name:level` strings, e.g. `[["overflow:1"]]`.
mod skill_sets {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::core::SkillLevel;

    pub fn serialize<S: Serializer>(sets: &[Vec<SkillLevel>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(sets.iter().map(|set| {
            set.iter()
                .map(|k| format!("{}:{}", k.skill, k.level.get()))
                .collect::<Vec<_>>()
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<SkillLevel>>, D::Error> {
        Vec::<Vec<String>>::deserialize(d)?
            .iter()
            .map(|set| {
                set.iter()
                    .map(|s| s.parse().map_err(serde::de::Error::custom))
                    .collect()
            })
            .collect()
    }
}

/// Skills as `name:level` strings, e.g. `["billing:5", "lang:es:7"]`.
mod skill_strings {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::core::SkillLevel;

    pub fn serialize<S: Serializer>(skills: &[SkillLevel], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            skills
                .iter()
                .map(|k| format!("{}:{}", k.skill, k.level.get())),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SkillLevel>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| s.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}
