//! Contacts: what a frontend asks to route ([`NewContact`]), a contact's life inside the engine
//! ([`Contact`]) and the snapshot handed out ([`ContactView`]).
//!
//! Life of a contact: waiting → offered → assigned → completed, with offered → waiting on a reject,
//! timeout or returned offer; and waiting/offered → abandoned, cancelled or expired. Each contact
//! reaches exactly one terminal state; the engine moves it out of the live table when it does.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::CoreError;
use super::index::SkillId;
use super::queue::{ExceptionAction, ExceptionTrigger};
use super::types::{
    Channel, ContactId, Millis, SkillLevel, TimerKey, ensure_unique_skills, validate_id,
};

/// Limits on a contact's free-form context.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ContextLimits {
    pub max_entries: usize,
    pub max_bytes: usize,
}

impl Default for ContextLimits {
    fn default() -> Self {
        ContextLimits {
            max_entries: 64,
            max_bytes: 8 * 1024,
        }
    }
}

/// A frontend's request to route a contact.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct NewContact {
    pub queue: String,
    pub channel: Channel,
    pub customer_id: String,
    pub customer_value: f64,
    pub priority: u32,
    pub required_skills: Vec<SkillLevel>,
    /// Other requirement sets the contact may be served under instead (OR), each as written.
    pub alternatives: Vec<Vec<SkillLevel>>,
    pub context: BTreeMap<String, String>,
    pub conversation_id: String,
    /// A client-chosen id that makes a retry safe: the same id again within the engine's
    /// request window returns the first answer and changes nothing (empty: no id).
    pub request_id: String,
    /// Agents the contact should go to (the customer's account manager, a team), with scores;
    /// it waits `preferred_wait_secs` for them only, then goes to anyone. They replace the
    /// agent the engine recalls from the customer's history.
    pub preferred_agents: Vec<PreferredAgent>,
    /// 0-3,600 seconds (0 without preferred agents). 0: no wait; the preference then counts
    /// only where the queue's strategy weighs `affinity`.
    pub preferred_wait_secs: u32,
}

/// An agent a contact prefers, named at enqueue.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct PreferredAgent {
    pub agent: String,
    /// 1-100: among preferred agents free at once, the highest score is offered first; the
    /// strategy's `affinity` term weighs `score / 100`.
    pub score: u32,
}

/// Whom a live contact prefers, as [`crate::core::Engine::preference_of`] reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Preference {
    /// Highest score first: those named at enqueue or by a transfer, or the agent recalled.
    pub agents: Vec<PreferredAgent>,
    /// While it waits for them only: until when; 0 otherwise (offered, assigned, or the wait
    /// is over: then the preference counts only where the strategy weighs `affinity`).
    pub until: Millis,
    /// The agent who handled its customer or conversation recently, recalled under its queue's
    /// affinity, not named.
    pub recalled: bool,
}

impl PreferredAgent {
    /// The most preferred agents one contact may name.
    pub const MAX: usize = 16;
    pub const MAX_SCORE: u32 = 100;
}

impl NewContact {
    pub const MAX_PRIORITY: u32 = 100;

    pub fn new(queue: &str, channel: Channel) -> NewContact {
        NewContact {
            queue: queue.to_string(),
            channel,
            customer_id: String::new(),
            customer_value: 0.0,
            priority: 0,
            required_skills: Vec::new(),
            alternatives: Vec::new(),
            context: BTreeMap::new(),
            conversation_id: String::new(),
            request_id: String::new(),
            preferred_agents: Vec::new(),
            preferred_wait_secs: 0,
        }
    }

    pub fn validate(&self, limits: ContextLimits) -> Result<(), CoreError> {
        validate_id(&self.queue, "queue name")?;
        if !self.request_id.is_empty() {
            validate_id(&self.request_id, "request id")?;
        }
        if self.customer_id.len() > 128 || self.conversation_id.len() > 128 {
            return Err(CoreError::invalid(
                "customer id and conversation id are limited to 128 bytes",
            ));
        }
        if !self.customer_value.is_finite() || self.customer_value < 0.0 {
            return Err(CoreError::invalid(
                "customer value must be a finite, non-negative number",
            ));
        }
        if self.priority > Self::MAX_PRIORITY {
            return Err(CoreError::invalid(format!(
                "priority {} is out of range 0-{}",
                self.priority,
                Self::MAX_PRIORITY
            )));
        }
        ensure_unique_skills(&self.required_skills, "contact")?;
        crate::core::queue::validate_alternatives(&self.alternatives, "contact")?;
        self.validate_preferences()?;
        validate_context(&self.context, limits)
    }

    /// Preferred agents: at most [`PreferredAgent::MAX`], each named once with a score of
    /// 1-100, and a wait of at most 3,600 seconds, only when some are named.
    fn validate_preferences(&self) -> Result<(), CoreError> {
        let named = &self.preferred_agents;
        if named.len() > PreferredAgent::MAX {
            return Err(CoreError::invalid(format!(
                "{} preferred agents named; at most {} may be",
                named.len(),
                PreferredAgent::MAX
            )));
        }
        for (i, p) in named.iter().enumerate() {
            validate_id(&p.agent, "preferred agent id")?;
            if p.score == 0 || p.score > PreferredAgent::MAX_SCORE {
                return Err(CoreError::invalid(format!(
                    "preferred agent {:?} has score {}; scores are 1-{}",
                    p.agent,
                    p.score,
                    PreferredAgent::MAX_SCORE
                )));
            }
            if named[..i].iter().any(|q| q.agent == p.agent) {
                return Err(CoreError::invalid(format!(
                    "preferred agent {:?} is named twice",
                    p.agent
                )));
            }
        }
        match (named.is_empty(), self.preferred_wait_secs) {
            (_, 0) | (false, 1..=3600) => Ok(()),
            (true, _) => Err(CoreError::invalid(
                "a preferred-agent wait needs preferred agents",
            )),
            (false, w) => Err(CoreError::invalid(format!(
                "the wait for preferred agents is {w} seconds; it must be 0-3600"
            ))),
        }
    }
}

/// A contact's context within the engine's limits: entries, bytes, no empty key.
pub fn validate_context(
    context: &BTreeMap<String, String>,
    limits: ContextLimits,
) -> Result<(), CoreError> {
    if context.len() > limits.max_entries {
        return Err(CoreError::invalid(format!(
            "context has {} entries; the limit is {}",
            context.len(),
            limits.max_entries
        )));
    }
    let bytes: usize = context.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > limits.max_bytes {
        return Err(CoreError::invalid(format!(
            "context is {bytes} bytes; the limit is {}",
            limits.max_bytes
        )));
    }
    if context.keys().any(|k| k.is_empty()) {
        return Err(CoreError::invalid("context keys must not be empty"));
    }
    Ok(())
}

/// A change to a waiting contact (UpdateContact): each field present replaces the contact's.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ContactUpdate {
    pub priority: Option<u32>,
    pub customer_value: Option<f64>,
    /// The contact's own requirements, replacing those it was enqueued with (the queue's
    /// defaults still apply, and relaxation steps already taken apply again).
    pub required_skills: Option<Vec<SkillLevel>>,
    /// Context entries added, or replaced when the key exists.
    pub context_set: BTreeMap<String, String>,
    /// Context keys removed (before `context_set` is applied).
    pub context_removed: Vec<String>,
}

impl ContactUpdate {
    /// The field-by-field checks (the context's limits are checked on the result).
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.priority.is_none()
            && self.customer_value.is_none()
            && self.required_skills.is_none()
            && self.context_set.is_empty()
            && self.context_removed.is_empty()
        {
            return Err(CoreError::invalid(
                "an update names at least one of priority, customer value, requirements or context",
            ));
        }
        if let Some(p) = self.priority
            && p > NewContact::MAX_PRIORITY
        {
            return Err(CoreError::invalid(format!(
                "priority {p} is out of range 0-{}",
                NewContact::MAX_PRIORITY
            )));
        }
        if let Some(v) = self.customer_value
            && (!v.is_finite() || v < 0.0)
        {
            return Err(CoreError::invalid(
                "customer value must be a finite, non-negative number",
            ));
        }
        if let Some(skills) = &self.required_skills {
            ensure_unique_skills(skills, "contact")?;
        }
        Ok(())
    }

    /// The names of the fields it changes, for the event and the log.
    pub fn changed(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.priority.is_some() {
            out.push("priority");
        }
        if self.customer_value.is_some() {
            out.push("customer_value");
        }
        if self.required_skills.is_some() {
            out.push("required_skills");
        }
        if !self.context_set.is_empty() || !self.context_removed.is_empty() {
            out.push("context");
        }
        out
    }
}

/// How a contact ended, as the agent or frontend reports it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// 0 means: use the router's own measure (accept → complete).
    pub handle_secs: u32,
    pub resolved: bool,
    /// 1–5, or 0 when not asked.
    pub satisfaction: u8,
}

impl Outcome {
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.satisfaction > 5 {
            return Err(CoreError::invalid(format!(
                "satisfaction {} is out of range 1-5 (0 = not asked)",
                self.satisfaction
            )));
        }
        Ok(())
    }
}

/// Why a frontend cancels a contact.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// The customer left: counts as abandoned.
    Abandoned,
    /// The frontend withdrew it: not counted against service level.
    Withdrawn,
}

/// Where a contact is in its life.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ContactState {
    Waiting,
    Offered {
        agent: Arc<str>,
        deadline: Millis,
    },
    Assigned {
        agent: Arc<str>,
    },
    Completed {
        agent: Arc<str>,
        outcome: Outcome,
    },
    Abandoned,
    Cancelled,
    Expired,
    /// Ended by an exception rule of its queue (`end = "reason"`); the reason is the last of
    /// its [`Firing`]s.
    Diverted,
    /// A callback whose attempts all failed, or whose window closed before anyone reached the
    /// customer.
    Unreached,
}

impl ContactState {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ContactState::Completed { .. }
                | ContactState::Abandoned
                | ContactState::Cancelled
                | ContactState::Expired
                | ContactState::Diverted
                | ContactState::Unreached
        )
    }
    pub fn agent(&self) -> Option<&Arc<str>> {
        match self {
            ContactState::Offered { agent, .. }
            | ContactState::Assigned { agent }
            | ContactState::Completed { agent, .. } => Some(agent),
            _ => None,
        }
    }
}

/// A live contact inside the engine.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct Contact {
    pub id: ContactId,
    pub queue: Arc<str>,
    pub channel: Channel,
    pub cost: u32,
    /// Shared with every view of the contact (views are cheap: reference counts, no copies).
    pub customer_id: Arc<str>,
    pub customer_value: f64,
    pub priority: u32,
    /// Effective requirements (queue defaults merged with the contact's own), sorted by skill id.
    pub requirements: Vec<(SkillId, u8)>,
    /// The same requirements by name, for views.
    pub required_skills: Arc<[SkillLevel]>,
    /// Its own requirements (as enqueued, updated, transferred with, or set by an exception
    /// rule) and its own alternative sets: what goes with it to another queue.
    pub own_skills: Arc<[SkillLevel]>,
    pub own_alternatives: Arc<[Vec<SkillLevel>]>,
    /// Other requirement sets it may be served under instead (the queue's, its own, and those
    /// its widen steps added), each sorted by skill id; none equal to another or to
    /// `requirements` when added (relaxation may make them equal later: a set keeps its index).
    pub alternatives: Vec<Vec<(SkillId, u8)>>,
    /// The same sets by name, for views.
    pub alternative_skills: Arc<[Vec<SkillLevel>]>,
    pub context: Arc<BTreeMap<String, String>>,
    pub conversation_id: Arc<str>,
    pub enqueued_at: Millis,
    /// When it entered its current queue: its enqueue, or its last transfer. Waits in the
    /// queue (service level, order, maximum wait, relaxation) count from here.
    pub queued_at: Millis,
    /// Its transfers so far, oldest first.
    pub transfers: Arc<[Transfer]>,
    pub state: ContactState,
    pub answered_at: Option<Millis>,
    /// Agents (by engine key) that rejected or let this contact's offer time out.
    pub excluded: Vec<u32>,
    /// The engine key of the offered / assigned agent.
    pub agent_key: Option<u32>,
    /// The max-wait deadline passed while the contact was offered: expire it if it comes back.
    pub wait_expired: bool,
    /// The slot of the waiting group holding it, while waiting (and not reserved).
    pub group: Option<usize>,
    /// Its key among waiting contacts: the strategy's score terms fixed at enqueue.
    pub rank: f64,
    /// A first contact, or the customer's last contact was abandoned or expired.
    pub new_customer: bool,
    /// The agents (engine key, score 1-100) it prefers, highest score first: those named at
    /// enqueue, or the agent who handled this customer or conversation recently (score 100), or
    /// the agent a transfer named.
    pub preferred: Vec<(u32, u8)>,
    /// Its preference is the agent recalled from its customer's history under its queue's
    /// affinity (not named at enqueue or by a transfer): the queue turning affinity off ends
    /// its wait.
    pub recalled: bool,
    /// Until when the contact waits for its preferred agents only (0: it does not).
    pub affinity_until: Millis,
    /// Held for its preferred agents (out of the groups), while waiting.
    pub reserved: bool,
    /// Relaxation steps applied so far.
    pub relax_step: u32,
    pub offer_timer: Option<TimerKey>,
    pub wait_timer: Option<TimerKey>,
    pub relax_timer: Option<TimerKey>,
    pub affinity_timer: Option<TimerKey>,
    /// Its queue's next `waited` exception rule coming due.
    pub exception_timer: Option<TimerKey>,
    /// The rules of its current queue (bit i: rule i) that fired in this visit.
    pub exceptions_done: u32,
    /// The exception rules that fired for it so far, oldest first.
    pub exceptions: Arc<[Firing]>,
    /// Set when the customer asked to be called back (shared with its views; changed by
    /// copy-on-write).
    pub callback: Option<Arc<Callback>>,
    /// While a callback waits for its time (its `not_before`, or a retry's delay): until then
    /// it is out of the waiting index and not offered (0: not held).
    pub held_until: Millis,
    pub hold_timer: Option<TimerKey>,
    /// The end of the callback's window.
    pub window_timer: Option<TimerKey>,
    /// A consult under way: its holder talks to another agent, who holds capacity too (shared
    /// with its views; changed by copy-on-write).
    pub consult: Option<Arc<Consult>>,
    /// The consulted agent's engine key, while a consult is under way.
    pub consult_key: Option<u32>,
    /// The consult's ring deadline, while it rings.
    pub consult_timer: Option<TimerKey>,
    /// Offered or assigned by interrupting its agent's interruptible work (see the engine's
    /// `interruption`).
    pub interrupting: bool,
    /// Paused by an interruption since then (its handle clock stopped), while assigned.
    pub paused_since: Option<Millis>,
    /// Time paused so far, left out of its handle time.
    pub paused_ms: u64,
}

/// A consult (warm transfer) under way: the agent holding the contact (`by`) brings in another
/// agent of a queue, who first rings (`accepted_at` unset), then talks; the holder then hands
/// the contact over or ends the consult.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Consult {
    pub queue: Arc<str>,
    pub by: Arc<str>,
    pub agent: Arc<str>,
    pub reason: Arc<str>,
    pub started_at: Millis,
    /// When the consulted agent's desktop stops ringing if unanswered.
    pub deadline: Millis,
    pub accepted_at: Option<Millis>,
}

/// A snapshot of one contact.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct ContactView {
    pub id: ContactId,
    pub queue: Arc<str>,
    pub channel: Channel,
    pub customer_id: Arc<str>,
    pub customer_value: f64,
    pub priority: u32,
    pub required_skills: Arc<[SkillLevel]>,
    /// Other requirement sets it may be served under instead.
    pub alternatives: Arc<[Vec<SkillLevel>]>,
    pub context: Arc<BTreeMap<String, String>>,
    pub conversation_id: Arc<str>,
    pub state: ContactState,
    pub enqueued_at: Millis,
    /// When it entered its current queue (its enqueue, or its last transfer).
    pub queued_at: Millis,
    /// Its transfers so far, oldest first: where it came from, and why.
    pub transfers: Arc<[Transfer]>,
    /// The exception rules that fired for it so far, oldest first.
    pub exceptions: Arc<[Firing]>,
    /// Set when the customer asked to be called back.
    pub callback: Option<Arc<Callback>>,
    /// A callback waiting for its time is not offered before this (0: not held).
    pub held_until: Millis,
    /// A consult under way.
    pub consult: Option<Arc<Consult>>,
    pub answered_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    /// Offered or assigned by interrupting its agent's interruptible work.
    pub interrupting: bool,
    /// While an interruption pauses it: since when (its handle clock is stopped).
    pub paused_since: Option<Millis>,
    /// Time paused so far (not counted as handling).
    pub paused_ms: u64,
}

/// What a frontend asks when a waiting customer wants to be called back.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct CallbackRequest {
    /// Not called before this (absent: as soon as its turn comes); not in the past.
    pub not_before: Option<Millis>,
    /// Ended unreached if nobody reached the customer by then (absent: no limit).
    pub window_end: Option<Millis>,
    /// The number to call (at most 64 bytes; may be empty when the frontend knows it).
    pub number: String,
}

/// How a callback attempt went, as the agent reports it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// The customer answered: the agent goes on with the contact and completes it.
    Reached,
    NoAnswer,
    Busy,
}

/// One call an agent made for a callback.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Attempt {
    pub at: Millis,
    pub agent: Arc<str>,
    pub result: AttemptResult,
}

/// A contact's callback: asked for when, the window, the number, the channel the customer was
/// on, and the attempts so far.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Callback {
    pub requested_at: Millis,
    pub not_before: Millis,
    pub window_end: Option<Millis>,
    pub number: Arc<str>,
    /// The channel it arrived on (it is a `callback` contact since the request).
    pub channel: Channel,
    pub attempts: Vec<Attempt>,
}

impl Callback {
    /// Attempts that did not reach the customer.
    pub fn failed_attempts(&self) -> u32 {
        self.attempts
            .iter()
            .filter(|a| a.result != AttemptResult::Reached)
            .count() as u32
    }
}

/// An exception rule that fired for a contact: when, in which queue, which rule (its index in
/// the queue's list) and what it said.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Firing {
    pub at: Millis,
    pub queue: Arc<str>,
    pub rule: u32,
    pub trigger: ExceptionTrigger,
    pub action: ExceptionAction,
    /// False when the action could not be taken (a move to a queue that was full): the contact
    /// stayed where it was.
    pub applied: bool,
}

/// One blind transfer of a contact: from an agent's hands in one queue to another queue.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Transfer {
    pub at: Millis,
    pub from_queue: Arc<str>,
    pub from_agent: Arc<str>,
    pub to_queue: Arc<str>,
    /// The agent's reason, as given (may be empty).
    pub reason: Arc<str>,
    /// To a named agent (with `to_queue` as the fallback), if the transfer named one; for a
    /// consult, the agent it was handed to.
    pub to_agent: Option<Arc<str>>,
    /// A consult (warm) transfer: the holder talked to `to_agent` first.
    pub warm: bool,
}

impl Contact {
    /// The score (1-100) it gives agent `key`, if it prefers that agent.
    pub fn preference_for(&self, key: u32) -> Option<u8> {
        self.preferred
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, score)| *score)
    }

    /// Whether it waits for its preferred agents only at `now`.
    pub fn held_for_preferred(&self, now: Millis) -> bool {
        !self.preferred.is_empty() && self.affinity_until > now
    }

    /// Every requirement set it may be served under: `requirements` first, then the
    /// alternatives, in order (a decision names the one that matched by this index).
    pub fn sets(&self) -> impl Iterator<Item = &[(SkillId, u8)]> {
        std::iter::once(&self.requirements[..]).chain(self.alternatives.iter().map(|a| &a[..]))
    }

    pub fn view(&self) -> ContactView {
        ContactView {
            id: self.id,
            queue: self.queue.clone(),
            channel: self.channel,
            customer_id: self.customer_id.clone(),
            customer_value: self.customer_value,
            priority: self.priority,
            required_skills: self.required_skills.clone(),
            alternatives: self.alternative_skills.clone(),
            context: self.context.clone(),
            conversation_id: self.conversation_id.clone(),
            state: self.state.clone(),
            enqueued_at: self.enqueued_at,
            queued_at: self.queued_at,
            transfers: self.transfers.clone(),
            exceptions: self.exceptions.clone(),
            callback: self.callback.clone(),
            held_until: self.held_until,
            consult: self.consult.clone(),
            answered_at: self.answered_at,
            ended_at: None,
            interrupting: self.interrupting,
            paused_since: self.paused_since,
            paused_ms: self.paused_ms,
        }
    }
}
