//! Agents: their configuration ([`AgentSpec`]), their live state inside the engine ([`Agent`]) and
//! the snapshot handed out ([`AgentView`]).
//!
//! Invariants kept by the engine on every [`Agent`]: `load` is the sum of the costs of the
//! contacts in `offers`, `assigned` and `consults` and of its `external` work, and never exceeds
//! `capacity`; `per_channel` counts those by channel and never exceeds a channel limit; an agent
//! that is not ready holds no offer.

use std::sync::Arc;

use super::error::CoreError;
use super::index::SkillId;
use super::stats::{Activity, DayMark, Occupancy, OccupancyTotals, RollingOccupancy};
use super::strategy::Performance;
use super::types::{
    Channel, ContactId, Millis, SkillLevel, TimerKey, ensure_unique_skills, validate_id,
};

/// Reason code given when an agent lets offers time out in a row.
pub const MISSED_OFFER_REASON: &str = "missed-offer";

/// An agent as the admin configures it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct AgentSpec {
    pub id: Arc<str>,
    pub name: String,
    pub skills: Vec<SkillLevel>,
    /// Total capacity in cost units; `None` means the engine default.
    pub capacity: Option<u32>,
    /// Per-channel ceilings on concurrent contacts; 0 means never that channel.
    pub channel_limits: Vec<(Channel, u32)>,
    /// A person, or a bot (a virtual agent: no wrap-up, a large capacity, left out of the
    /// floor's human figures and of affinity).
    #[serde(default)]
    pub kind: AgentKind,
}

/// Whether an agent is a person or a bot.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    #[default]
    Human,
    /// A virtual agent (a chatbot, a voice bot): it takes contacts as an agent does, never
    /// wraps up, may hold up to [`AgentKind::BOT_MAX_CAPACITY`] units, and escalates to people.
    Bot,
}

impl AgentKind {
    /// The most capacity a person may be given, and a bot.
    pub const HUMAN_MAX_CAPACITY: u32 = 10_000;
    pub const BOT_MAX_CAPACITY: u32 = 1_000_000;
    /// A bot's capacity when its spec names none: 100 calls, or 300 chats at the default costs.
    pub const BOT_DEFAULT_CAPACITY: u32 = 10_000;

    pub fn name(self) -> &'static str {
        match self {
            AgentKind::Human => "human",
            AgentKind::Bot => "bot",
        }
    }
}

impl AgentSpec {
    pub fn new(id: &str) -> AgentSpec {
        AgentSpec {
            id: id.into(),
            name: String::new(),
            skills: Vec::new(),
            capacity: None,
            channel_limits: Vec::new(),
            kind: AgentKind::Human,
        }
    }

    pub fn with_skills(mut self, skills: &[(&str, u32)]) -> Result<AgentSpec, CoreError> {
        self.skills = skills
            .iter()
            .map(|(n, l)| SkillLevel::new(n, *l))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    pub fn validate(&self, max_skills: usize) -> Result<(), CoreError> {
        validate_id(&self.id, "agent id")?;
        if self.name.len() > 256 || self.name.chars().any(char::is_control) {
            return Err(CoreError::invalid(
                "agent name must be at most 256 bytes without control characters",
            ));
        }
        if self.skills.len() > max_skills {
            return Err(CoreError::TooManySkills {
                what: "agent",
                skills: self.skills.len(),
                limit: max_skills,
            });
        }
        ensure_unique_skills(&self.skills, "agent")?;
        let max = match self.kind {
            AgentKind::Human => AgentKind::HUMAN_MAX_CAPACITY,
            AgentKind::Bot => AgentKind::BOT_MAX_CAPACITY,
        };
        if self.capacity == Some(0) || self.capacity.is_some_and(|c| c > max) {
            return Err(CoreError::invalid(format!(
                "{} capacity must be 1-{max}",
                match self.kind {
                    AgentKind::Human => "agent",
                    AgentKind::Bot => "bot",
                }
            )));
        }
        let mut seen = [false; Channel::COUNT];
        for (channel, _) in &self.channel_limits {
            if std::mem::replace(&mut seen[channel.index()], true) {
                return Err(CoreError::invalid(format!(
                    "channel limit for {channel} given twice"
                )));
            }
        }
        Ok(())
    }
}

/// Work an agent does that the router did not assign: an outbound call, a task from another
/// system. It holds `cost` of the agent's capacity and one contact of `channel` until it ends.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct ExternalWork {
    /// The desktop's id for it, unique among the agent's external work.
    pub id: Arc<str>,
    pub channel: Channel,
    pub cost: u32,
    /// Free text for supervisors (at most 256 bytes), e.g. "outbound: renewal".
    pub label: Arc<str>,
    pub started_at: Millis,
}

impl ExternalWork {
    /// The most external work one agent may hold at once.
    pub const MAX: usize = 16;
}

/// What an agent asks to be.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    Offline,
    Ready,
    NotReady(String),
}

/// An agent inside the engine.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct Agent {
    pub spec: AgentSpec,
    /// Interned skills, sorted by skill id, for eligibility checks.
    pub skills: Vec<(SkillId, u8)>,
    pub capacity: u32,
    pub limits: [u32; Channel::COUNT],
    pub presence: Presence,
    pub wrap_up_until: Option<Millis>,
    pub load: u32,
    pub per_channel: [u32; Channel::COUNT],
    pub offers: Vec<ContactId>,
    pub assigned: Vec<ContactId>,
    /// Contacts another agent consults this agent on (ringing or talking): each holds this
    /// agent's capacity as well as its holder's.
    pub consults: Vec<ContactId>,
    /// Work the router did not assign (an outbound call, a task from another system), as its
    /// desktop registered it: it holds capacity until it ends.
    pub external: Vec<ExternalWork>,
    /// The contact interrupting its interruptible work, offered or accepted (see the engine's
    /// `interruption`): while set, `load` may exceed `capacity` by the interrupted contacts.
    pub interrupted_by: Option<ContactId>,
    pub idle_since: Millis,
    pub missed_in_row: u32,
    pub handled: u64,
    /// When the agent was last offered a contact (or created): the round-robin turn.
    pub last_offered_at: Millis,
    /// `(period number, contacts handled in it)`; the period length is engine configuration.
    pub handled_in_period: (u64, u32),
    /// Learnt from completed outcomes.
    pub performance: Performance,
    pub session_attached: bool,
    pub wrap_timer: Option<TimerKey>,
    /// The `idle_since` under which the agent sits in the available index, if it does.
    pub indexed_at: Option<Millis>,
    /// Why the agent is counted as unavailable in the engine's exclusion counts, if it is.
    pub unavailable_as: Option<Unavailable>,
    /// The skill profile (agents with identical skills) the agent belongs to.
    pub profile: u32,
    /// The state the agent is counted under in the queues' staffing figures, if logged in.
    pub staffed_as: Option<StaffState>,
    /// Logged-in, busy and load time, advanced whenever the agent's state changes.
    pub occupancy: Occupancy,
    /// When the agent entered its current state (its staffing state, or offline).
    pub state_since: Millis,
    /// `occupancy`'s totals at the start of the reporting day.
    pub today: DayMark,
    /// `occupancy`'s totals at recent bucket boundaries: the occupancy cap's window.
    pub rolling: RollingOccupancy,
    /// Changed since the read view last took the engine's changes.
    #[serde(skip)]
    pub dirty: bool,
}

/// Why a logged-in agent cannot take work right now (counted per skill, for a decision's
/// exclusion counts).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    NotReady = 0,
    WrapUp = 1,
    Full = 2,
}

impl Unavailable {
    pub const COUNT: usize = 3;
}

/// How a logged-in agent counts in a queue's staffing figures (the wallboard's columns): busy
/// (holding any contact) first, then not ready, wrap-up, ready.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaffState {
    Ready = 0,
    Busy = 1,
    NotReady = 2,
    WrapUp = 3,
}

impl StaffState {
    pub const COUNT: usize = 4;
}

impl Agent {
    /// A new agent, offline, idle since `now`, in skill profile 0 until the engine files it.
    pub fn new(
        spec: AgentSpec,
        skills: Vec<(SkillId, u8)>,
        capacity: u32,
        limits: [u32; Channel::COUNT],
        now: Millis,
    ) -> Agent {
        Agent {
            spec,
            skills,
            capacity,
            limits,
            presence: Presence::Offline,
            wrap_up_until: None,
            load: 0,
            per_channel: [0; Channel::COUNT],
            offers: Vec::new(),
            consults: Vec::new(),
            external: Vec::new(),
            interrupted_by: None,
            assigned: Vec::new(),
            idle_since: now,
            missed_in_row: 0,
            handled: 0,
            last_offered_at: now,
            handled_in_period: (0, 0),
            performance: Default::default(),
            session_attached: false,
            wrap_timer: None,
            indexed_at: None,
            unavailable_as: None,
            profile: 0,
            staffed_as: None,
            dirty: false,
            rolling: RollingOccupancy::default(),
            state_since: now,
            today: DayMark::default(),
            occupancy: Occupancy::new(
                now,
                Activity {
                    capacity,
                    ..Default::default()
                },
            ),
        }
    }

    pub fn is_bot(&self) -> bool {
        self.spec.kind == AgentKind::Bot
    }

    /// Ready, not wrapping up and some capacity left: belongs in the available index.
    pub fn is_available(&self) -> bool {
        self.presence == Presence::Ready
            && self.wrap_up_until.is_none()
            && self.load < self.capacity
            && self.interrupted_by.is_none()
    }

    /// Room for one more contact of `channel` costing `cost`.
    pub fn has_room(&self, channel: Channel, cost: u32) -> bool {
        self.load.saturating_add(cost) <= self.capacity
            && self.per_channel[channel.index()] < self.limits[channel.index()]
    }

    /// Which exclusion count the agent belongs in: none when offline or available.
    pub fn unavailable(&self) -> Option<Unavailable> {
        match self.presence {
            Presence::Offline => None,
            Presence::NotReady(_) => Some(Unavailable::NotReady),
            Presence::Ready if self.wrap_up_until.is_some() => Some(Unavailable::WrapUp),
            Presence::Ready if self.load >= self.capacity || self.interrupted_by.is_some() => {
                Some(Unavailable::Full)
            }
            Presence::Ready => None,
        }
    }

    /// How the agent counts in its queues' staffing figures; `None` when offline.
    pub fn staff_state(&self) -> Option<StaffState> {
        Some(match self.presence {
            Presence::Offline => return None,
            _ if self.load > 0 => StaffState::Busy,
            Presence::NotReady(_) => StaffState::NotReady,
            _ if self.wrap_up_until.is_some() => StaffState::WrapUp,
            Presence::Ready => StaffState::Ready,
        })
    }

    /// What the agent is doing, for occupancy.
    pub fn activity(&self) -> Activity {
        let logged_in = self.presence != Presence::Offline;
        let busy = logged_in && (self.load > 0 || self.wrap_up_until.is_some());
        Activity {
            logged_in,
            busy,
            not_ready: !busy && matches!(self.presence, Presence::NotReady(_)),
            load: self.load,
            capacity: self.capacity,
        }
    }

    /// Contacts handled in the period numbered `period`.
    pub fn handled_in(&self, period: u64) -> u32 {
        if self.handled_in_period.0 == period {
            self.handled_in_period.1
        } else {
            0
        }
    }

    pub fn level_of(&self, skill: SkillId) -> Option<u8> {
        self.skills
            .binary_search_by_key(&skill, |(s, _)| *s)
            .ok()
            .map(|i| self.skills[i].1)
    }

    /// Every requirement met at its level.
    pub fn meets(&self, requirements: &[(SkillId, u8)]) -> bool {
        skills_meet(&self.skills, requirements)
    }

    /// The index of the first of `sets` (alternative requirement sets) the agent meets.
    pub fn meets_one_of<'a>(
        &self,
        sets: impl IntoIterator<Item = &'a [(SkillId, u8)]>,
    ) -> Option<u32> {
        sets.into_iter()
            .position(|set| self.meets(set))
            .map(|i| i as u32)
    }
}

/// Whether `skills` (sorted by skill id) meet every requirement at its level.
pub fn skills_meet(skills: &[(SkillId, u8)], requirements: &[(SkillId, u8)]) -> bool {
    requirements.iter().all(|(s, l)| {
        skills
            .binary_search_by_key(s, |(id, _)| *id)
            .is_ok_and(|i| skills[i].1 >= *l)
    })
}

/// The agent's presence as reported (wrap-up shown as its own state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresenceView {
    Offline,
    Ready,
    NotReady(String),
    WrapUp,
}

/// A snapshot of one agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentView {
    pub spec: AgentSpec,
    pub capacity: u32,
    pub presence: PresenceView,
    pub load: u32,
    pub offered: Vec<ContactId>,
    pub assigned: Vec<ContactId>,
    /// Contacts another agent consults this agent on.
    pub consults: Vec<ContactId>,
    /// The contact interrupting its interruptible work, if any.
    pub interrupted_by: Option<ContactId>,
    /// Work outside the router it holds, oldest first.
    pub external: Vec<ExternalWork>,
    pub idle_since: Millis,
    pub wrap_up_until: Option<Millis>,
    pub missed_in_row: u32,
    pub session_attached: bool,
    pub handled: u64,
    /// The overall performance estimate, 0–1.
    pub performance: f64,
    /// The agent's occupancy clock as of the view: [`AgentView::occupancy_at`] gives the time
    /// sums up to any later moment (the agent's activity is unchanged until its next view).
    pub occupancy: Occupancy,
    /// When the agent entered its current state (offline, ready, busy, wrap-up, not ready).
    pub state_since: Millis,
    /// The occupancy clock at the start of the reporting day ([`AgentView::today_at`]).
    pub today: DayMark,
    /// The contacts it holds, offered and assigned, with their queue and channel.
    pub holding: Vec<Holding>,
}

/// A contact an agent holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Holding {
    pub contact: ContactId,
    pub queue: std::sync::Arc<str>,
    pub channel: Channel,
    /// When the agent accepted it; `None` while it is still ringing.
    pub answered_at: Option<Millis>,
    /// While ringing: when the offer times out.
    pub ringing_until: Option<Millis>,
}

impl AgentView {
    /// Logged-in, busy and load time since the agent was created, up to `now`.
    pub fn occupancy_at(&self, now: Millis) -> OccupancyTotals {
        self.occupancy.totals(now)
    }

    /// Logged-in, busy and not-ready time over today's reporting day, up to `now`.
    pub fn today_at(&self, now: Millis) -> OccupancyTotals {
        self.occupancy.today(&self.today, now)
    }
}

impl Agent {
    /// The agent as it is.
    pub fn view(&self) -> AgentView {
        let wrapping = self.wrap_up_until.is_some();
        AgentView {
            spec: self.spec.clone(),
            capacity: self.capacity,
            presence: match &self.presence {
                Presence::Offline => PresenceView::Offline,
                Presence::Ready if wrapping => PresenceView::WrapUp,
                Presence::Ready => PresenceView::Ready,
                Presence::NotReady(r) => PresenceView::NotReady(r.clone()),
            },
            load: self.load,
            offered: self.offers.clone(),
            assigned: self.assigned.clone(),
            consults: self.consults.clone(),
            interrupted_by: self.interrupted_by,
            external: self.external.clone(),
            idle_since: self.idle_since,
            wrap_up_until: self.wrap_up_until,
            missed_in_row: self.missed_in_row,
            session_attached: self.session_attached,
            handled: self.handled,
            performance: self.performance.overall.estimate(),
            occupancy: self.occupancy,
            state_since: self.state_since,
            today: self.today,
            holding: Vec::new(),
        }
    }
}
