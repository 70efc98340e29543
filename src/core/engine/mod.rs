//! The routing engine: the single owner of agents, queues and waiting contacts.
//!
//! Sans-IO and deterministic: [`Engine::apply`] takes a [`Command`] and the time it happened, and
//! changes state; [`Engine::drain_events`] hands out what happened; [`Engine::next_deadline`] says
//! when the engine must be woken ([`Engine::advance`]) for an offer expiry, a wrap-up end or a
//! maximum wait. No clock, no randomness, no hash-map iteration order in any decision.
//!
//! Invariants (DESIGN.md rules 1–5; [`Engine::check_invariants`] verifies them from scratch):
//! - every contact is in exactly one place: waiting in one group, offered to one agent, assigned
//!   to one agent, or ended (terminal, in the history) — and reaches exactly one terminal state;
//! - an agent's load is the sum of the costs of the contacts it holds — offered, assigned, or
//!   consulted on (a consult holds capacity on both its agents) — and never exceeds its
//!   capacity or a per-channel limit; an agent that is not ready holds no offer and no ringing
//!   consult;
//! - a decision offers a contact only to an agent meeting every requirement at its level of one
//!   of the contact's requirement sets — its requirements or an alternative (an OR; the
//!   decision names which) — (an admin may later change the agent's skills; the contact it
//!   holds stays with it);
//! - matching is work-conserving: after every command, no available agent and waiting contact
//!   that fit each other (and were not excluded by a reject or timeout) are left unmatched —
//!   except a contact held for its preferred agent (affinity), and a contact held from an agent
//!   kept idle for a queue at risk (agent reservation), which waits at most its queue's release
//!   wait: a release timer is pending for its queue (see `reservation`).
//!
//! A contact moves only through the steps of the lifecycle table (`lifecycle::TRANSITIONS`:
//! waiting → offered → assigned → ended, offers returning to waiting), which commands, timers and
//! routing all go through.
//!
//! A refused command returns a [`CoreError`] and changes nothing (due deadlines still fire first,
//! since time has passed).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::agent::{
    AgentKind, AgentSpec, AgentView, MISSED_OFFER_REASON, Presence, StaffState, Unavailable,
};
use super::command::{Applied, Command};
use super::contact::{
    CancelReason, Contact, ContactState, ContactUpdate, ContactView, ContextLimits, NewContact,
    Outcome, Preference, PreferredAgent,
};
use super::error::CoreError;
use super::events::{
    Candidate, Decision, Event, EventBody, Exclusions, ReturnReason, Side, Terms, Trigger,
};
use super::history::{self, History, Interaction, InteractionOutcome};
use super::index::{AgentIndex, Placement, SkillId, SkillInterner, WaitingIndex, rank_bits};
use super::queue::{QueueConfig, Relax};
use super::stats::{
    IntervalMarks, PeriodFigures, QueueCounters, RollingServiceLevel, ServiceLevel,
};
use super::strategy::{
    self, AgentTerm, AgentTerms, CANDIDATES_RECORDED, ContactFacts, ContactTerm, Strategy,
};
use super::types::{Channel, ChannelCosts, ContactId, HashMap, Millis, SkillLevel, TimerKey};
use crate::core::agent::Agent;

mod admin;
mod bots;
mod callbacks;
mod changes;
mod consult;
mod contacts;
mod exceptions;
mod external;
mod image;
mod interruption;
mod intervals;
mod invariants;
mod lifecycle;
mod matching;
mod queries;
mod requests;
mod reservation;
mod search;
mod staffing;

pub use changes::{AgentChange, Changes};
pub use requests::EnqueueAnswer;

/// Engine-wide settings and limits: the configuration file's `[routing]` table deserialises
/// straight into it (unknown keys refused, every key defaulting to [`EngineConfig::default`]),
/// and the runtime journals it at every start ([`Command::Configure`]), so the past replays under
/// the settings it ran under.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Capacity units each channel's contact takes.
    #[serde(rename = "channel_costs")]
    pub costs: ChannelCosts,
    /// Capacity of an agent that names none.
    #[serde(rename = "agent_capacity")]
    pub default_capacity: u32,
    pub max_agents: usize,
    pub max_queues: usize,
    /// Live contacts (waiting, offered, assigned) across all queues.
    pub max_contacts: usize,
    pub max_skills_per_agent: usize,
    /// Distinct skill names across agents, queues and contacts (names are never forgotten).
    pub max_skill_names: usize,
    /// A contact's free-form context: entries and bytes.
    pub context: ContextLimits,
    /// How many ended contacts stay answerable by id.
    pub ended_history: usize,
    /// Offers in a row an agent may let time out before it is set not ready.
    pub missed_offers_limit: u32,
    /// Customers (and, separately, conversations) whose recent interactions are remembered, for
    /// affinity and the offer's history.
    #[serde(rename = "customer_history")]
    pub history_keys: usize,
    /// Length of the period `fewest-handled` counts contacts in, in seconds.
    #[serde(rename = "handled_period_seconds")]
    pub period_secs: u32,
    /// How long an enqueue's request id is remembered, in seconds (1–86,400): a retry with the
    /// same id within it returns the first answer.
    #[serde(rename = "request_id_window_seconds")]
    pub request_window_secs: u32,
    /// Most request ids remembered at once; the oldest is forgotten first beyond it.
    pub request_ids: usize,
    /// Length of the reporting interval queue figures are kept for, in minutes (dividing a
    /// day; intervals are aligned to the clock).
    pub interval_minutes: u32,
    /// When the reporting day begins, local time `HH:MM`.
    pub day_starts_at: String,
    /// The IANA time zone the reporting day is counted in, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// Interruptible work: channel → the channels whose contacts may interrupt it, e.g.
    /// `{ email = ["voice", "video"] }` (the default). An agent whose only work is such contacts
    /// may be offered one of those channels although it has no room (see `interruption`).
    pub interruptible: BTreeMap<Channel, Vec<Channel>>,
}

/// Email is interruptible by voice and video unless the configuration says otherwise.
pub fn default_interruptible() -> BTreeMap<Channel, Vec<Channel>> {
    BTreeMap::from([(Channel::Email, vec![Channel::Voice, Channel::Video])])
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            costs: ChannelCosts::default(),
            default_capacity: 100,
            max_agents: 200_000,
            max_queues: 10_000,
            max_contacts: 1_000_000,
            max_skills_per_agent: 64,
            max_skill_names: 10_000,
            context: ContextLimits::default(),
            ended_history: 10_000,
            missed_offers_limit: 2,
            history_keys: 50_000,
            period_secs: 3600,
            request_window_secs: 600,
            request_ids: 100_000,
            interval_minutes: 15,
            day_starts_at: "00:00".into(),
            time_zone: "UTC".into(),
            interruptible: default_interruptible(),
        }
    }
}

impl EngineConfig {
    /// Refuses settings the engine cannot run under.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.default_capacity == 0 || self.default_capacity > 10_000 {
            return Err(CoreError::invalid("agent_capacity must be 1-10000"));
        }
        if self.period_secs == 0 {
            return Err(CoreError::invalid(
                "handled_period_seconds must be at least 1",
            ));
        }
        if !(1..=86_400).contains(&self.request_window_secs) {
            return Err(CoreError::invalid(
                "request_id_window_seconds must be 1-86400",
            ));
        }
        if self.request_ids == 0 {
            return Err(CoreError::invalid("request_ids must be at least 1"));
        }
        if self.missed_offers_limit == 0 {
            return Err(CoreError::invalid("missed_offers_limit must be at least 1"));
        }
        intervals::validate(self)?;
        if let Some(c) = Channel::ALL.into_iter().find(|c| self.costs.cost(*c) == 0) {
            return Err(CoreError::invalid(format!(
                "the {c} channel's cost must be at least 1"
            )));
        }
        for (work, by) in &self.interruptible {
            if by.contains(work) {
                return Err(CoreError::invalid(format!(
                    "interruptible: {work} cannot be interrupted by {work} itself"
                )));
            }
        }
        Ok(())
    }
}

/// A queue inside the engine.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct QueueState {
    /// With its version, which the configuration's own (file) form leaves out.
    #[serde(with = "versioned")]
    config: QueueConfig,
    /// Compiled from `config.strategy` (again when an image is loaded).
    #[serde(skip, default = "Strategy::fallback")]
    strategy: Arc<Strategy>,
    requirements: Vec<(SkillId, u8)>,
    /// Its alternative requirement sets, interned and sorted.
    alternatives: Vec<Vec<(SkillId, u8)>>,
    counters: QueueCounters,
    /// The counters' service level over the last half hour (its pressure, see `reservation`).
    rolling_sl: RollingServiceLevel,
    /// The counters at the start of the current and previous intervals and of the day.
    intervals: IntervalMarks,
    /// Pending while contacts of this queue may be held for another (agent reservation).
    release_timer: Option<TimerKey>,
    /// Waiting contacts per priority, for positions.
    waiting_by_priority: BTreeMap<u32, u32>,
    /// Waiting contacts by the time they entered the queue (then enqueue sequence), for the
    /// longest wait.
    waiting: BTreeSet<(Millis, ContactId)>,
    offered_now: u32,
    /// Contacts of this queue not yet ended.
    live: u32,
    /// Logged-in agents who can serve the queue, by [`StaffState`]: kept as agents change.
    staffing: [u32; StaffState::COUNT],
    /// Changed since the read view last took the engine's changes.
    #[serde(skip)]
    dirty: bool,
}

impl QueueState {
    /// Whether an agent with `skills` can serve the queue: meets its requirements or one of its
    /// alternatives.
    fn served_by(&self, skills: &[(SkillId, u8)]) -> bool {
        use crate::core::agent::skills_meet;
        skills_meet(skills, &self.requirements)
            || self.alternatives.iter().any(|a| skills_meet(skills, a))
    }
}

/// One queue's live figures.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSnapshot {
    pub config: QueueConfig,
    pub waiting: u32,
    pub offered_now: u32,
    /// When the contact waiting longest was enqueued ([`QueueSnapshot::longest_wait_ms`] gives
    /// its wait at any moment).
    pub oldest_enqueued_at: Option<Millis>,
    pub agents_ready: u32,
    pub agents_busy: u32,
    pub agents_not_ready: u32,
    pub agents_wrap_up: u32,
    pub counters: QueueCounters,
    pub service_level: ServiceLevel,
    /// The counters' marks over the rolling half hour, as of this snapshot.
    pub recent: RollingServiceLevel,
    /// The counters at the start of the current and previous intervals and of the day.
    pub intervals: IntervalMarks,
}

impl QueueSnapshot {
    /// `(answered within threshold, ended)` over the rolling half hour up to `now` (exact: the
    /// counters have not changed since the snapshot, or it would have been taken again).
    pub fn recent_counts(&self, now: Millis) -> (u64, u64) {
        self.recent.rolling(&self.counters, now)
    }

    /// `sl_offered` over the rolling half hour (1.0 when nothing ended in it).
    pub fn recent_sl_offered(&self, now: Millis) -> f64 {
        let (met, ended) = self.recent_counts(now);
        if ended == 0 {
            1.0
        } else {
            met as f64 / ended as f64
        }
    }

    /// The queue's pressure at `now`: its recent miss rate over the one its target allows (see
    /// the `reservation` module).
    pub fn pressure(&self, now: Millis) -> f64 {
        let (met, ended) = self.recent_counts(now);
        reservation::pressure(met, ended, self.config.sl_target_percent / 100.0)
    }

    /// `(current interval, previous interval, today)` at `now` (exact: the counters have not
    /// changed since the snapshot, or it would have been taken again).
    pub fn periods(&self, now: Millis) -> (PeriodFigures, PeriodFigures, PeriodFigures) {
        self.intervals.figures(&self.counters, now)
    }

    /// How long the contact waiting longest has waited at `now` (0 when none waits).
    pub fn longest_wait_ms(&self, now: Millis) -> u64 {
        self.oldest_enqueued_at
            .map_or(0, |at| now.saturating_sub(at))
    }
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    OfferExpiry(ContactId),
    WrapUpEnd(u32),
    MaxWait(ContactId),
    /// The contact's next relaxation step is due.
    Relax(ContactId),
    /// The contact stops waiting for its preferred agent.
    AffinityEnd(ContactId),
    /// Contacts of the queue (slot) held for another queue reach their release wait.
    Release(usize),
    /// The contact's next `waited` exception rule is due.
    Exception(ContactId),
    /// A held callback's time came.
    CallbackDue(ContactId),
    /// A callback's window closed.
    CallbackWindow(ContactId),
    /// A consult rang out unanswered.
    ConsultExpiry(ContactId),
}

/// How an offer came back without being accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OfferEnd {
    Rejected,
    TimedOut,
    Returned(ReturnReason),
}

type AgentKey = u32;

/// The routing engine. See the module documentation for its contract.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct Engine {
    /// Part of the state: changed only by [`Command::Configure`], so a replay applies each
    /// command under the configuration it was first applied under.
    config: EngineConfig,
    now: Millis,
    skills: SkillInterner,
    queues: Vec<Option<QueueState>>,
    queue_ids: HashMap<Arc<str>, usize>,
    /// Agents by key; keys are never reused, so a stale key in a contact's exclusions is harmless.
    agents: Vec<Option<Agent>>,
    agent_ids: HashMap<Arc<str>, AgentKey>,
    /// Rebuilt from the agents when an image is loaded ([`Engine::reindex_all`]).
    #[serde(skip, default = "AgentIndex::new")]
    available: AgentIndex,
    waiting: WaitingIndex,
    contacts: HashMap<ContactId, Contact>,
    /// Waiting contacts held for their preferred agent: `(agent key, contact)`.
    reserved: BTreeSet<(AgentKey, ContactId)>,
    /// Queues whose strategy keeps idle agents back for them (rebuilt when an image is loaded).
    #[serde(skip)]
    reserving: BTreeSet<usize>,
    /// Agents whose only work is interruptible contacts (see `interruption`; rebuilt when an
    /// image is loaded).
    #[serde(skip)]
    interruptible_agents: BTreeSet<AgentKey>,
    /// Logged-in agents who cannot take work, per skill id and over the whole floor, by
    /// [`Unavailable`] reason: a decision's exclusion counts without walking the floor.
    unavailable_by_skill: Vec<[u32; Unavailable::COUNT]>,
    unavailable_on_floor: [u32; Unavailable::COUNT],
    /// Agents grouped by identical skills, with the queues each group can serve: what keeps
    /// the queues' staffing figures as agents change.
    profiles: staffing::Profiles,
    /// Logged-in agents over the whole floor, by [`StaffState`].
    staffed_on_floor: [u32; StaffState::COUNT],
    customers: History,
    conversations: History,
    /// Boxed: the map's nodes then move pointers, not whole views, as it fills and drains.
    ended: BTreeMap<ContactId, Box<ContactView>>,
    /// Enqueue request ids remembered for the request window, with their answers.
    requests: requests::RequestIds,
    next_contact: ContactId,
    timers: BTreeMap<TimerKey, Timer>,
    next_timer: u64,
    /// The reporting interval and day the engine's time is in.
    periods: intervals::Periods,
    /// Drained before an image is taken.
    #[serde(skip)]
    events: Vec<Event>,
    /// Events are neither built nor kept ([`Engine::set_quiet`]).
    #[serde(skip)]
    quiet: bool,
    /// Agents and queues changed since the read view last took them ([`Engine::take_changes`]).
    #[serde(skip)]
    changed: changes::Changed,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            config,
            now: 0,
            skills: SkillInterner::default(),
            queues: Vec::new(),
            queue_ids: HashMap::default(),
            agents: Vec::new(),
            agent_ids: HashMap::default(),
            available: AgentIndex::new(),
            waiting: WaitingIndex::default(),
            contacts: HashMap::default(),
            reserved: BTreeSet::new(),
            reserving: BTreeSet::new(),
            interruptible_agents: BTreeSet::new(),
            unavailable_by_skill: Vec::new(),
            unavailable_on_floor: [0; Unavailable::COUNT],
            profiles: staffing::Profiles::default(),
            staffed_on_floor: [0; StaffState::COUNT],
            customers: History::default(),
            conversations: History::default(),
            ended: BTreeMap::new(),
            requests: requests::RequestIds::default(),
            next_contact: 1,
            timers: BTreeMap::new(),
            next_timer: 0,
            periods: intervals::Periods::default(),
            events: Vec::new(),
            quiet: false,
            changed: changes::Changed::default(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The engine's time: the latest `now` it was given or deadline it processed.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// The earliest pending deadline, if any: call [`Engine::advance`] then.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timers.first_key_value().map(|(k, _)| k.0)
    }

    /// Moves the engine's time to `now`, processing every deadline due by then at its own time.
    /// Time never goes backwards: an earlier `now` is taken as the engine's current time.
    pub fn advance(&mut self, now: Millis) {
        while let Some((&key, &timer)) = self.timers.first_key_value() {
            if key.0 > now {
                break;
            }
            self.timers.remove(&key);
            self.now = self.now.max(key.0);
            self.roll_periods(self.now);
            self.fire(key, timer);
        }
        self.now = self.now.max(now);
        self.roll_periods(self.now);
        self.requests.forget_until(self.now);
    }

    /// A quiet engine builds and keeps no events (and decisions record no candidates): for a
    /// follower that only has to reach the same state — the snapshotter's, which images it.
    /// Everything else is the same: the same commands give the same answers, routing, timers
    /// and counters, so its image is the image of an engine that emitted them (the property
    /// tests check it). Not part of an image.
    pub fn set_quiet(&mut self, quiet: bool) {
        self.quiet = quiet;
        if quiet {
            self.events.clear();
        }
    }

    /// Whether events are built (see [`Engine::set_quiet`]); a site whose event is costly to
    /// build asks first.
    pub fn emits_events(&self) -> bool {
        !self.quiet
    }

    /// Moves the events emitted since the last call into `out`, in order.
    pub fn drain_events(&mut self, out: &mut Vec<Event>) {
        out.append(&mut self.events);
    }

    /// Applies one command at `now` (after processing deadlines due by then). A deadline the
    /// command set at `now` itself (an exception rule already due, say) fires before it returns:
    /// no deadline is ever left pending in the past.
    pub fn apply(&mut self, command: Command, now: Millis) -> Result<Applied, CoreError> {
        self.advance(now);
        let applied = self.apply_now(command);
        if self.next_deadline().is_some_and(|at| at <= self.now) {
            self.advance(self.now);
        }
        applied
    }

    fn apply_now(&mut self, command: Command) -> Result<Applied, CoreError> {
        match command {
            Command::PutQueue(config) => self.put_queue(*config),
            Command::DeleteQueue { name } => self.delete_queue(&name),
            Command::PutAgent(spec) => self.put_agent(spec),
            Command::RemoveAgent { id } => self.remove_agent(&id),
            Command::SetPresence { agent, presence } => {
                if let Presence::NotReady(reason) = &presence {
                    validate_reason(reason)?;
                }
                let key = self.agent_key(&agent)?;
                self.set_presence(key, presence);
                Ok(self.agent_applied(key))
            }
            Command::Session { agent, attached } => {
                let key = self.agent_key(&agent)?;
                self.agent_mut(key).session_attached = attached;
                if attached || self.agent(key).presence == Presence::Offline {
                    let view = self.view_of(key);
                    self.emit(EventBody::AgentStateChanged { agent: view });
                } else {
                    self.set_presence(key, Presence::Offline);
                }
                Ok(self.agent_applied(key))
            }
            Command::Enqueue(new) => self.enqueue(new),
            Command::UpdateContact { contact, update } => self.update(contact, update),
            Command::Consult {
                contact,
                agent,
                queue,
                to_agent,
                reason,
            } => self.consult(contact, &agent, &queue, to_agent, reason),
            Command::EndConsult {
                contact,
                agent,
                transfer,
            } => self.end_consult(contact, &agent, transfer),
            Command::RequestCallback { contact, request } => {
                self.request_callback(contact, request)
            }
            Command::CallbackAttempt {
                contact,
                agent,
                result,
                attempt,
            } => self.callback_attempt(contact, &agent, result, attempt),
            Command::Transfer {
                contact,
                agent,
                queue,
                required_skills,
                reason,
                to_agent,
            } => self.transfer(contact, &agent, &queue, required_skills, reason, to_agent),
            Command::Escalate {
                contact,
                agent,
                queue,
                summary,
                fields,
                required_skills,
            } => self.escalate(contact, &agent, &queue, summary, fields, required_skills),
            Command::Cancel { contact, reason } => self.cancel(contact, reason),
            Command::Accept { contact, agent } => self.accept(contact, &agent),
            Command::Reject { contact, agent } => self.reject(contact, &agent),
            Command::Complete {
                contact,
                agent,
                outcome,
            } => self.complete(contact, &agent, outcome),
            Command::Tick => Ok(Applied::Done),
            Command::StartExternalWork {
                agent,
                id,
                channel,
                cost,
                label,
            } => self.start_external_work(&agent, id, channel, cost, label),
            Command::EndExternalWork { agent, id } => self.end_external_work(&agent, &id),
            Command::Configure(config) => {
                // Capacities are fixed per agent at PutAgent, and costs per contact when
                // offered: agents and the contacts they hold keep theirs. Waiting contacts take
                // the new costs, and room classes follow them.
                let costs_changed = config.costs != self.config.costs
                    || config.interruptible != self.config.interruptible;
                let periods_changed = (
                    config.interval_minutes,
                    &config.day_starts_at,
                    &config.time_zone,
                ) != (
                    self.config.interval_minutes,
                    &self.config.day_starts_at,
                    &self.config.time_zone,
                );
                self.config = config;
                if periods_changed {
                    self.periods_changed();
                    self.roll_periods(self.now);
                }
                if costs_changed {
                    self.recost_waiting(None);
                    self.reindex_all();
                    // A cheaper channel may fit an agent with room now, or an interruption.
                    let waiting: Vec<ContactId> = self
                        .contacts
                        .values()
                        .filter(|c| c.state == ContactState::Waiting)
                        .map(|c| c.id)
                        .collect();
                    for id in waiting {
                        self.route_contact(id, Trigger::ConfigurationChanged);
                    }
                }
                Ok(Applied::Done)
            }
        }
    }

    /// What a contact of `channel` costs in the queue at `slot`: the queue's own figure, else
    /// the server's.
    pub(super) fn cost_in(&self, slot: usize, channel: Channel) -> u32 {
        self.queues[slot]
            .as_ref()
            .and_then(|q| q.config.channel_costs.get(&channel).copied())
            .unwrap_or_else(|| self.config.costs.cost(channel))
    }

    /// Waiting contacts take their queue's current costs (a waiting contact holds no capacity;
    /// offered and assigned ones keep the cost they were offered at).
    pub(super) fn recost_waiting(&mut self, slot: Option<usize>) {
        let ids: Vec<ContactId> = self
            .contacts
            .values()
            .filter(|c| c.state == ContactState::Waiting)
            .filter(|c| slot.is_none_or(|s| self.queue_ids.get(&*c.queue) == Some(&s)))
            .map(|c| c.id)
            .collect();
        for id in ids {
            let slot = self.queue_slot(id);
            let cost = self.cost_in(slot, self.contacts[&id].channel);
            self.contact_mut(id).cost = cost;
        }
    }

    fn add_timer(&mut self, at: Millis, timer: Timer) -> TimerKey {
        let key = (at, self.next_timer);
        self.next_timer += 1;
        self.timers.insert(key, timer);
        key
    }

    /// A deadline passed: each timer kind has its handler. A timer that is no longer the one
    /// its contact or agent holds (replaced or cancelled meanwhile) does nothing.
    fn fire(&mut self, key: TimerKey, timer: Timer) {
        match timer {
            Timer::OfferExpiry(id) => self.offer_expired(key, id),
            Timer::WrapUpEnd(agent) => self.wrap_up_ended(key, agent),
            Timer::Relax(id) => self.relax(id),
            Timer::AffinityEnd(id) => self.affinity_wait_ended(id),
            Timer::MaxWait(id) => self.max_wait_reached(id),
            Timer::Release(slot) => self.release_held(key, slot),
            Timer::Exception(id) => self.exception_came_due(key, id),
            Timer::CallbackDue(id) => self.callback_due(key, id),
            Timer::CallbackWindow(id) => self.callback_window_ended(key, id),
            Timer::ConsultExpiry(id) => self.consult_expired(key, id),
        }
    }

    /// An offer went unanswered: it goes back to the queue, the agent counts a missed offer
    /// (not ready after `missed_offers_limit` in a row), and both are routed again.
    fn offer_expired(&mut self, key: TimerKey, id: ContactId) {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return;
        };
        if contact.offer_timer != Some(key) {
            return;
        }
        contact.offer_timer = None;
        let Some(agent) = contact.agent_key else {
            return;
        };
        self.end_offer(id, OfferEnd::TimedOut);
        let limit = self.config.missed_offers_limit;
        let a = self.agent_mut(agent);
        a.missed_in_row += 1;
        if a.missed_in_row >= limit {
            self.set_presence(agent, Presence::NotReady(MISSED_OFFER_REASON.into()));
        }
        self.route_contact(id, Trigger::ContactArrived);
        self.route_agent(agent, Trigger::CapacityFreed);
    }

    /// An agent's wrap-up is over: ready for work again.
    fn wrap_up_ended(&mut self, key: TimerKey, agent: AgentKey) {
        let Some(a) = self.agents.get_mut(agent as usize).and_then(Option::as_mut) else {
            return;
        };
        if a.wrap_timer != Some(key) {
            return;
        }
        a.wrap_timer = None;
        a.wrap_up_until = None;
        self.sync_index(agent);
        if self.emits_events() {
            let view = self.view_of(agent);
            self.emit(EventBody::AgentStateChanged { agent: view });
        }
        self.route_agent(agent, Trigger::WrapUpEnded);
    }

    /// A contact kept for its preferred agent may now go to anyone.
    fn affinity_wait_ended(&mut self, id: ContactId) {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return;
        };
        contact.affinity_timer = None;
        contact.affinity_until = 0;
        if contact.reserved {
            self.remove_waiting(id);
            self.route_contact(id, Trigger::AffinityWaitEnded);
            if self.contacts[&id].state == ContactState::Waiting {
                self.add_waiting(id);
            }
        }
    }

    /// The queue's maximum wait passed: a waiting contact expires; one being offered expires
    /// if the offer comes back.
    fn max_wait_reached(&mut self, id: ContactId) {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return;
        };
        contact.wait_timer = None;
        match contact.state {
            ContactState::Waiting => self.expire(id),
            ContactState::Offered { .. } => contact.wait_expired = true,
            _ => {}
        }
    }

    fn emit(&mut self, body: EventBody) {
        if !self.quiet {
            self.events.push(Event { at: self.now, body });
        }
    }

    fn agent_key(&self, id: &str) -> Result<AgentKey, CoreError> {
        self.agent_ids
            .get(id)
            .copied()
            .ok_or_else(|| CoreError::UnknownAgent { agent: id.into() })
    }

    fn agent(&self, key: AgentKey) -> &Agent {
        self.agents[key as usize].as_ref().expect("agent present")
    }

    /// The agent, to change: marked changed for the read view.
    fn agent_mut(&mut self, key: AgentKey) -> &mut Agent {
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        if !agent.dirty {
            agent.dirty = true;
            self.changed.agents.push(key);
        }
        agent
    }

    /// The queue in `slot`, to change: marked changed for the read view.
    fn queue_mut(&mut self, slot: usize) -> &mut QueueState {
        let queue = self.queues[slot].as_mut().expect("queue present");
        if !queue.dirty {
            queue.dirty = true;
            self.changed.queues.push(slot);
        }
        queue
    }

    fn agent_applied(&self, key: AgentKey) -> Applied {
        Applied::Agent {
            created: false,
            agent: self.view_of(key),
        }
    }

    fn contact_mut(&mut self, id: ContactId) -> &mut Contact {
        self.contacts.get_mut(&id).expect("live contact")
    }

    fn queue_slot(&self, id: ContactId) -> usize {
        *self
            .queue_ids
            .get(&*self.contacts[&id].queue)
            .expect("queue of live contact")
    }

    /// Refuses skills whose new names would take the engine past its skill-name limit.
    fn check_skill_names(&self, skills: &[SkillLevel]) -> Result<(), CoreError> {
        let new = skills
            .iter()
            .filter(|s| !self.skills.contains(&s.skill))
            .count();
        if new > 0 && self.skills.len() + new > self.config.max_skill_names {
            return Err(CoreError::SkillNameLimit {
                limit: self.config.max_skill_names,
            });
        }
        Ok(())
    }

    fn intern_requirements(&mut self, skills: &[SkillLevel]) -> Vec<(SkillId, u8)> {
        skills
            .iter()
            .map(|s| (self.skills.intern(&s.skill), s.level.get()))
            .collect()
    }

    fn unindex(&mut self, key: AgentKey) {
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        if agent.indexed_at.take().is_some() {
            self.available.remove(key, agent);
        }
    }

    /// Puts every available agent in a fresh index (after an image is loaded, or when channel
    /// costs change the room classes). Orders other than `Idle` are built again when needed.
    pub(super) fn reindex_all(&mut self) {
        self.available = AgentIndex::new();
        let period = self.period(self.now);
        self.available.set_period(period, &self.agents);
        for (key, agent) in self.agents.iter_mut().enumerate() {
            let Some(agent) = agent.as_mut() else {
                continue;
            };
            agent.indexed_at = None;
            if agent.is_available() {
                let placement = Placement::of(agent, &self.config.costs, period);
                self.available.insert(key as AgentKey, agent, placement);
                agent.indexed_at = Some(agent.idle_since);
            }
        }
        self.interruptible_agents.clear();
        for key in 0..self.agents.len() {
            self.sync_interruptible(key as AgentKey);
        }
    }

    /// The agent's view, with the contacts it holds (their queue, channel, and since when).
    pub(super) fn view_of(&self, key: AgentKey) -> AgentView {
        let agent = self.agent(key);
        let mut view = agent.view();
        let held = agent.offers.iter().chain(&agent.assigned);
        view.holding = held
            .filter_map(|id| self.contacts.get(id))
            .map(|c| crate::core::Holding {
                contact: c.id,
                queue: c.queue.clone(),
                channel: c.channel,
                answered_at: c.answered_at,
                ringing_until: match c.state {
                    ContactState::Offered { .. } => c.offer_timer.map(|t| t.0),
                    _ => None,
                },
            })
            .collect();
        view
    }

    /// Puts the agent in the available index under its current placement exactly when it is
    /// available, and in the exclusion and staffing counts under its current state.
    fn sync_index(&mut self, key: AgentKey) {
        let now = self.now;
        self.available.set_period(self.period(now), &self.agents);
        let period = self.available.period();
        let agent = self.agents[key as usize].as_ref().expect("agent present");
        let placement = agent
            .is_available()
            .then(|| Placement::of(agent, &self.config.costs, period));
        if placement.is_none() || self.available.placement(key) != placement.as_ref() {
            self.unindex(key);
            if let Some(placement) = placement {
                let agent = self.agents[key as usize].as_mut().expect("agent present");
                agent.indexed_at = Some(placement.idle_since);
                self.available.insert(key, agent, placement);
            }
        }
        let agent = self.agent_mut(key);
        let activity = agent.activity();
        if activity != agent.occupancy.activity() {
            agent.rolling.mark(&agent.occupancy, now);
            agent.occupancy.observe(now, activity);
        }
        let (unavailable, staffed) = (agent.unavailable(), agent.staff_state());
        let (counted, staffed_as) = (agent.unavailable_as, agent.staffed_as);
        if unavailable != counted {
            self.uncount(key);
            self.count(key, unavailable);
        }
        if staffed != staffed_as {
            self.agent_mut(key).state_since = now;
            self.restaff(key, staffed);
        }
        self.sync_interruptible(key);
    }

    fn count(&mut self, key: AgentKey, class: Option<Unavailable>) {
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        agent.unavailable_as = class;
        let Some(class) = class else { return };
        self.unavailable_on_floor[class as usize] += 1;
        for &(skill, _) in &agent.skills {
            let skill = skill as usize;
            if self.unavailable_by_skill.len() <= skill {
                self.unavailable_by_skill
                    .resize(skill + 1, [0; Unavailable::COUNT]);
            }
            self.unavailable_by_skill[skill][class as usize] += 1;
        }
    }

    /// Takes the agent out of the exclusion counts (before its skills change or it goes).
    fn uncount(&mut self, key: AgentKey) {
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        let Some(class) = agent.unavailable_as.take() else {
            return;
        };
        self.unavailable_on_floor[class as usize] -= 1;
        for &(skill, _) in &agent.skills {
            self.unavailable_by_skill[skill as usize][class as usize] -= 1;
        }
    }
}

/// A queue configuration in an image: its version, then its serde form.
mod versioned {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::core::QueueConfig;

    pub fn serialize<S: Serializer>(config: &QueueConfig, s: S) -> Result<S::Ok, S::Error> {
        (config.version, config).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<QueueConfig, D::Error> {
        let (version, mut config) = <(u64, QueueConfig)>::deserialize(d)?;
        config.version = version;
        Ok(config)
    }
}

pub(super) fn state_name(state: &ContactState) -> &'static str {
    match state {
        ContactState::Waiting => "waiting",
        ContactState::Offered { .. } => "offered",
        ContactState::Assigned { .. } => "assigned",
        ContactState::Completed { .. } => "completed",
        ContactState::Abandoned => "abandoned",
        ContactState::Cancelled => "cancelled",
        ContactState::Expired => "expired",
        ContactState::Diverted => "diverted",
        ContactState::Unreached => "unreached",
    }
}

pub(super) fn validate_reason(reason: &str) -> Result<(), CoreError> {
    if reason.is_empty() || reason.len() > 64 || reason.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "a not-ready reason must be 1-64 bytes without control characters",
        ));
    }
    Ok(())
}
