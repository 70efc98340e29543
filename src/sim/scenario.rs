//! What a simulation runs: queues, the traffic offered to them, and the agents who answer it.
//!
//! Owns the scenario file format (TOML, see `benches/scenarios/`) and its validation. Queues are
//! written exactly as in routerd's own configuration file (`[[queues]]`, same keys), so a queue
//! tried in the simulator can be pasted into a server's configuration unchanged.
//!
//! Invariant: a [`Scenario`] that exists has passed [`Scenario::validate`]: every rate, mean and
//! probability is finite and in range, every traffic names a queue, every skill parses. A bad
//! file is refused with a message naming the entry and the key; nothing runs.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use serde::Deserialize;

use crate::core::{AgentKind, AgentSpec, Channel, EngineConfig, QueueConfig, SkillLevel};

/// At most this many simulated agents (the engine's default agent limit is far higher; a
/// simulation of more would take minutes, not seconds).
pub const MAX_AGENTS: usize = 20_000;
/// At most this much virtual time: one year.
pub const MAX_HOURS: f64 = 24.0 * 365.0;
/// At most this many customers in one customer base.
pub const MAX_CUSTOMERS: u64 = 100_000_000;
/// At most this many contacts expected over a run (about a minute of a release build's time).
pub const MAX_CONTACTS: f64 = 50_000_000.0;

/// A scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    /// Virtual time simulated after the warm-up.
    pub duration_secs: f64,
    /// Traffic runs but is not counted for this long first, so the figures describe a center
    /// already in its stride rather than one that opened empty.
    pub warm_up_secs: f64,
    /// Length of the intervals `per_interval` rates refer to, and the report's intervals.
    pub interval_secs: f64,
    /// Report the measured period interval by interval as well as whole.
    pub by_interval: bool,
    pub queues: Vec<QueueConfig>,
    pub traffic: Vec<Traffic>,
    pub groups: Vec<AgentGroup>,
    /// Known customers that traffic can come from (see [`Traffic::customer_base`]).
    pub customer_bases: Vec<CustomerBase>,
    /// The queues' widen steps were taken out (`widen=off+` in a comparison).
    pub widen_off: bool,
    /// Interruptible work (channel → the channels that may interrupt it), as the server's
    /// `[routing] interruptible`; `None`: the server's default (email by voice and video).
    /// `interrupt=off+` in a comparison empties it.
    pub interruptible: Option<BTreeMap<Channel, Vec<Channel>>>,
}

/// A population of known customers: a contact from it is one of them, drawn at random, so
/// customers return (on any channel whose traffic names the base) and the engine's customer
/// history, affinity and `new-customer` terms have something to work on.
#[derive(Clone, Debug)]
pub struct CustomerBase {
    pub name: String,
    pub customers: u64,
}

/// What becomes of a contact completed unresolved: with probability `share` the customer comes
/// back, after an exponential delay, as a contact of the traffic for (`queue`, `channel`) —
/// same customer, same conversation id, so the engine can link the two.
#[derive(Clone, Debug, PartialEq)]
pub struct Repeat {
    pub share: f64,
    pub mean_after_secs: f64,
    pub queue: String,
    pub channel: Channel,
    /// When the repeat reaches the agent who handled the conversation's previous contact: its
    /// handle time is multiplied by this (the customer need not explain again)...
    pub familiar_handle_factor: f64,
    /// ...and it is resolved with this probability instead of the agent group's.
    pub familiar_resolution_rate: Option<f64>,
}

/// A share of a traffic's answered contacts the first agent transfers (blind) to another
/// queue, after working `after_share` of their handle time; the agent there handles a fresh
/// draw of the traffic's handle time.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferShare {
    pub share: f64,
    pub queue: String,
    pub after_share: f64,
}

/// A share of a traffic's customers who, still waiting after `after_secs`, ask to be called
/// back (and then never abandon; every callback call reaches them).
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackShare {
    pub share: f64,
    pub after_secs: f64,
}

/// At most this many repeats per conversation.
pub const MAX_REPEATS: u32 = 5;

/// The `--compare` agent side that routes on the groups' true resolution rates (an upper
/// bound for `performance`, which must learn them): see [`Scenario::with_strategy`].
pub const REFERENCE: &str = "reference";
/// The skill that carries a group's true-rate rank under [`REFERENCE`].
const TRUE_RATE_SKILL: &str = "true-rate";
/// The engine strategy [`REFERENCE`] runs on: `skill` alone.
const REFERENCE_AGENT_STRATEGY: &str = "weighted";

/// Contacts offered to one queue on one channel.
#[derive(Clone, Debug)]
pub struct Traffic {
    pub queue: String,
    pub channel: Channel,
    /// Poisson arrival rate per hour, one per interval from the start of the warm-up; the last
    /// holds to the end.
    pub per_hour: Vec<f64>,
    pub handle: HandleTime,
    /// Mean of the exponential patience; `None`: customers never abandon.
    pub mean_patience_secs: Option<f64>,
    /// Skills each contact requires on top of the queue's.
    pub required_skills: Vec<SkillLevel>,
    /// Other requirement sets each contact may be served under instead (an OR; the queue's own
    /// alternatives apply too).
    pub alternatives: Vec<Vec<SkillLevel>>,
    /// Customer value → share of contacts; empty: every customer is worth 0.
    pub value_mix: Vec<(f64, f64)>,
    /// The customer base its contacts come from; `None`: every contact is a new, anonymous
    /// customer.
    pub customer_base: Option<String>,
    /// Unresolved contacts come back; `None`: they do not.
    pub repeat: Option<Repeat>,
    /// Some answered contacts are transferred to another queue; `None`: none are.
    pub transfer: Option<TransferShare>,
    /// Some waiting customers ask for a callback; `None`: none do.
    pub callback: Option<CallbackShare>,
}

/// How long a contact takes to handle, before the agent group's `handle_factor`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HandleTime {
    Exponential { mean_secs: f64 },
    LogNormal { mean_secs: f64, sd_secs: f64 },
}

/// Identical agents.
#[derive(Clone, Debug)]
pub struct AgentGroup {
    pub name: String,
    pub count: usize,
    pub skills: Vec<SkillLevel>,
    /// Capacity units; `None`: the engine default (100: one call, or three chats at cost 33).
    pub capacity: Option<u32>,
    pub channel_limits: Vec<(Channel, u32)>,
    /// Logged in from..until (seconds from the start of the warm-up); `None`: the whole run.
    pub shift: Option<(f64, f64)>,
    /// Chance an offer is accepted; otherwise it is declined.
    pub accept_probability: f64,
    /// Seconds from offer to accept (or decline).
    pub answer_delay_secs: f64,
    /// Multiplies the traffic's handle time: below 1 for faster agents.
    pub handle_factor: f64,
    /// Chance a contact this group handles ends resolved (what the performance strategy learns).
    pub resolution_rate: f64,
    /// People, or bots: a bot group's agents are bots to the engine (no wrap-up, a large
    /// capacity), a traffic's `transfer` from them is an escalation (`EscalateContact`), and
    /// they are left out of the floor's figures.
    pub kind: AgentKind,
}

impl AgentGroup {
    /// `count` agents with `skills`, logged in all run, accepting every offer at once.
    pub fn new(name: &str, count: usize, skills: Vec<SkillLevel>) -> AgentGroup {
        AgentGroup {
            name: name.into(),
            count,
            skills,
            capacity: None,
            channel_limits: Vec::new(),
            shift: None,
            accept_probability: 1.0,
            answer_delay_secs: 0.0,
            handle_factor: 1.0,
            resolution_rate: 1.0,
            kind: AgentKind::Human,
        }
    }
}

impl Scenario {
    /// The engine settings a run uses: the server's defaults, with the scenario's
    /// interruptible work.
    pub fn engine_config(&self) -> EngineConfig {
        let mut config = EngineConfig::default();
        if let Some(interruptible) = &self.interruptible {
            config.interruptible = interruptible.clone();
        }
        config
    }

    /// Reads and validates a scenario file.
    pub fn from_toml(text: &str) -> anyhow::Result<Scenario> {
        let file: ScenarioToml = toml::from_str(text)?;
        file.into_scenario()
    }

    pub fn load(path: &std::path::Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the scenario {}", path.display()))?;
        Scenario::from_toml(&text).with_context(|| format!("in the scenario {}", path.display()))
    }

    /// The same scenario with every queue's strategy replaced by `choice` (`agent` or
    /// `agent/contact`, e.g. `performance` or `longest-idle/service-level`, optionally after
    /// `affinity=SECONDS+`, `cap=PERCENT+`, `reserve=AGENTS+` and `widen=off+`, e.g.
    /// `cap=85+performance`): the contact side, the affinity wait, the occupancy cap, the
    /// reservation limit and the widen steps stay each queue's own unless named. Weights for a
    /// replaced side are cleared. The agent side may also be [`REFERENCE`].
    pub fn with_strategy(&self, choice: &str) -> anyhow::Result<Scenario> {
        let parsed = StrategyChoice::parse(choice)?;
        let mut out = self.clone();
        if parsed.agent == REFERENCE {
            out.use_true_rates(choice)?;
        }
        parsed.apply(&mut out.queues)?;
        out.widen_off |= !parsed.widen;
        if !parsed.interrupt {
            out.interruptible = Some(BTreeMap::new());
        }
        Ok(out)
    }

    /// The `reference` agent side: every contact goes to the free agent whose group has the
    /// highest true resolution rate (ties to the longest idle), which no strategy can know. It
    /// runs on the engine as it is: each group gets the skill `true-rate` at a level that ranks
    /// the groups' rates (distinct rates, distinct levels; at most 10), every queue requires it
    /// at level 1, and scores agents by `skill` alone. Defined for scenarios whose queues and
    /// traffic require no skills (the skill term would add theirs).
    fn use_true_rates(&mut self, choice: &str) -> anyhow::Result<()> {
        ensure!(
            self.queues.iter().all(|q| q.required_skills.is_empty())
                && self
                    .traffic
                    .iter()
                    .all(|t| t.required_skills.is_empty() && t.alternatives.is_empty()),
            "{choice:?}: the reference strategy needs queues and traffic that require no skills"
        );
        let mut rates: Vec<f64> = self.groups.iter().map(|g| g.resolution_rate).collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        ensure!(
            rates.len() <= 10,
            "{choice:?}: the reference strategy ranks at most 10 distinct resolution rates"
        );
        for group in &mut self.groups {
            let rank = rates
                .iter()
                .position(|r| *r == group.resolution_rate)
                .expect("every rate was ranked");
            group
                .skills
                .push(SkillLevel::new(TRUE_RATE_SKILL, rank as u32 + 1)?);
        }
        for q in &mut self.queues {
            q.required_skills = vec![SkillLevel::new(TRUE_RATE_SKILL, 1)?];
            q.strategy = REFERENCE_AGENT_STRATEGY.into();
            q.agent_weights = [("skill".to_string(), 1.0)].into();
        }
        Ok(())
    }

    /// Every queue's strategy label (`agent/contact`, after `affinity=SECONDS+` when the queue
    /// waits for a customer's earlier agent), distinct, in queue order.
    pub fn strategy_labels(&self) -> String {
        let mut labels: Vec<String> = Vec::new();
        for q in &self.queues {
            let reference = q
                .required_skills
                .iter()
                .any(|s| s.skill.as_str() == TRUE_RATE_SKILL);
            let agent = if reference { REFERENCE } else { &q.strategy };
            let contact = &q.contact_strategy;
            let mut label = format!("{agent}/{contact}");
            if q.occupancy_cap_percent > 0.0 {
                label = format!("cap={}+{label}", q.occupancy_cap_percent);
            }
            if q.reserve_agents != crate::core::queue::DEFAULT_RESERVE_AGENTS
                && q.contact_strategy == "service-level"
            {
                label = format!("reserve={}+{label}", q.reserve_agents);
            }
            if q.affinity_wait_secs > 0 {
                label = format!("affinity={}+{label}", q.affinity_wait_secs);
            }
            if self.widen_off {
                label = format!("widen=off+{label}");
            }
            if self.interruptible.as_ref().is_some_and(BTreeMap::is_empty) {
                label = format!("interrupt=off+{label}");
            }
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        labels.join(", ")
    }

    /// The first traffic that offers `channel` contacts to `queue`: where repeats of that
    /// kind take their handle time and patience from.
    pub fn traffic_for(&self, queue: &str, channel: Channel) -> Option<usize> {
        self.traffic
            .iter()
            .position(|t| t.queue == queue && t.channel == channel)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let hours = self.duration_secs / 3600.0;
        ensure!(
            hours.is_finite() && hours > 0.0 && hours <= MAX_HOURS,
            "hours must be above 0 and at most {MAX_HOURS}, not {hours}"
        );
        ensure!(
            self.warm_up_secs.is_finite()
                && (0.0..=self.duration_secs).contains(&self.warm_up_secs),
            "the warm-up must be between 0 and the run's length"
        );
        ensure!(
            self.interval_secs.is_finite() && self.interval_secs >= 60.0,
            "intervals must be at least a minute long"
        );
        ensure!(
            !self.queues.is_empty(),
            "a scenario needs at least one queue"
        );
        ensure!(!self.traffic.is_empty(), "a scenario needs some traffic");
        self.engine_config().validate()?;
        ensure!(
            !self.groups.is_empty(),
            "a scenario needs at least one agent group"
        );
        for (i, q) in self.queues.iter().enumerate() {
            q.validate()
                .with_context(|| format!("queue {:?}", q.name))?;
            ensure!(
                !self.queues[..i].iter().any(|o| o.name == q.name),
                "queue {:?} is defined twice",
                q.name
            );
        }
        for t in &self.traffic {
            t.validate()
                .with_context(|| format!("traffic for queue {:?}", t.queue))?;
            let queue = self.queues.iter().find(|q| *q.name == *t.queue);
            let queue = queue.with_context(|| format!("traffic names no queue {:?}", t.queue))?;
            ensure!(
                queue.channels.is_empty() || queue.channels.contains(&t.channel),
                "queue {:?} does not take {} contacts",
                t.queue,
                t.channel
            );
            if let Some(base) = &t.customer_base {
                ensure!(
                    self.customer_bases.iter().any(|b| b.name == *base),
                    "traffic for queue {:?} names no customer base {base:?}",
                    t.queue
                );
            }
            if let Some(x) = &t.transfer {
                let to = self.queues.iter().find(|q| *q.name == *x.queue);
                let to = to.with_context(|| {
                    format!(
                        "its transfers go to queue {:?}, which is not defined",
                        x.queue
                    )
                })?;
                ensure!(
                    to.accepts(t.channel),
                    "its transfers go to queue {:?}, which does not take {} contacts",
                    x.queue,
                    t.channel
                );
            }
            if t.callback.is_some() {
                ensure!(
                    queue.accepts(Channel::Callback),
                    "its customers ask for callbacks, and queue {:?} does not take callback \
                     contacts (add \"callback\" to its channels)",
                    t.queue
                );
            }
            if let Some(r) = &t.repeat {
                ensure!(
                    self.traffic_for(&r.queue, r.channel).is_some(),
                    "traffic for queue {:?}: its repeats go to {} contacts of queue {:?}, \
                     and no traffic gives those (add a [[traffic]] for them, at any rate)",
                    t.queue,
                    r.channel,
                    r.queue
                );
            }
        }
        for (i, b) in self.customer_bases.iter().enumerate() {
            ensure!(
                !b.name.is_empty() && b.name.len() <= 64,
                "a customer base needs a name of 1-64 characters"
            );
            ensure!(
                (1..=MAX_CUSTOMERS).contains(&b.customers),
                "customer base {:?} must have 1-{MAX_CUSTOMERS} customers, not {}",
                b.name,
                b.customers
            );
            ensure!(
                !self.customer_bases[..i].iter().any(|o| o.name == b.name),
                "customer base {:?} is defined twice",
                b.name
            );
        }
        let hours = (self.warm_up_secs + self.duration_secs) / 3600.0;
        // Each first contact may bring up to MAX_REPEATS repeats, each with chance `share`.
        let expected: f64 = self
            .traffic
            .iter()
            .map(|t| {
                let repeats = t.repeat.as_ref().map_or(0.0, |r| {
                    (1..=MAX_REPEATS as i32).map(|k| r.share.powi(k)).sum()
                });
                t.per_hour.iter().copied().fold(0.0, f64::max) * hours * (1.0 + repeats)
            })
            .sum();
        ensure!(
            expected <= MAX_CONTACTS,
            "up to {expected:.0} contacts; a simulation takes at most {MAX_CONTACTS} (fewer hours or lower rates)"
        );
        let mut agents = 0usize;
        for (i, g) in self.groups.iter().enumerate() {
            g.validate()
                .with_context(|| format!("group {:?}", g.name))?;
            ensure!(
                !self.groups[..i].iter().any(|o| o.name == g.name),
                "group {:?} is defined twice",
                g.name
            );
            agents = agents.saturating_add(g.count);
        }
        ensure!(
            agents <= MAX_AGENTS,
            "{agents} agents; a simulation takes at most {MAX_AGENTS}"
        );
        Ok(())
    }
}

fn finite_at_least(what: &str, value: f64, min: f64) -> anyhow::Result<()> {
    ensure!(
        value.is_finite() && value >= min,
        "{what} must be a number of at least {min}, not {value}"
    );
    Ok(())
}

fn probability(what: &str, value: f64) -> anyhow::Result<()> {
    ensure!(
        (0.0..=1.0).contains(&value),
        "{what} must be between 0 and 1, not {value}"
    );
    Ok(())
}

impl Traffic {
    fn validate(&self) -> anyhow::Result<()> {
        ensure!(!self.per_hour.is_empty(), "no arrival rate");
        for rate in &self.per_hour {
            finite_at_least("an arrival rate", *rate, 0.0)?;
            ensure!(
                *rate <= 1e6,
                "{rate} contacts per hour is more than a simulation takes"
            );
        }
        match self.handle {
            HandleTime::Exponential { mean_secs } => {
                finite_at_least("the mean handle time", mean_secs, 1.0)?
            }
            HandleTime::LogNormal { mean_secs, sd_secs } => {
                finite_at_least("the mean handle time", mean_secs, 1.0)?;
                finite_at_least("the handle time's sd", sd_secs, 0.0)?;
            }
        }
        if let Some(p) = self.mean_patience_secs {
            finite_at_least("the mean patience", p, 1.0)?;
        }
        for (value, share) in &self.value_mix {
            ensure!(
                value.is_finite() && *value >= 0.0,
                "a customer value must be a number of at least 0, not {value}"
            );
            finite_at_least("a value's share", *share, 0.0)?;
        }
        if !self.value_mix.is_empty() {
            ensure!(
                self.value_mix.iter().map(|(_, s)| s).sum::<f64>() > 0.0,
                "the value mix's shares add up to 0"
            );
        }
        if let Some(r) = &self.repeat {
            probability("the repeat share", r.share)?;
            finite_at_least(
                "the mean time before a repeat (seconds)",
                r.mean_after_secs,
                1.0,
            )?;
            finite_at_least("familiar_handle_factor", r.familiar_handle_factor, 0.01)?;
            if let Some(rate) = r.familiar_resolution_rate {
                probability("familiar_resolution_rate", rate)?;
            }
        }
        if let Some(x) = &self.transfer {
            probability("the transfer share", x.share)?;
            ensure!(
                x.after_share > 0.0 && x.after_share <= 1.0,
                "after_share (the part of the handle time before the transfer) must be in \
                 (0, 1], not {}",
                x.after_share
            );
        }
        if let Some(c) = &self.callback {
            probability("the callback share", c.share)?;
            finite_at_least(
                "after_seconds (before asking for a callback)",
                c.after_secs,
                1.0,
            )?;
        }
        Ok(())
    }
}

impl AgentGroup {
    /// The group's `i`-th agent, as the simulation puts it to the engine.
    pub fn agent_spec(&self, i: usize) -> AgentSpec {
        let mut spec = AgentSpec::new(&format!("{}-{i:04}", self.name));
        spec.skills = self.skills.clone();
        spec.capacity = self.capacity;
        spec.channel_limits = self.channel_limits.clone();
        spec.kind = self.kind;
        spec
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            !self.name.is_empty() && self.name.len() <= 64,
            "a group needs a name of 1-64 characters"
        );
        // What the engine would refuse (an id it cannot take, capacity, repeated skills or
        // channel limits), refused here with the group named.
        self.agent_spec(0)
            .validate(EngineConfig::default().max_skills_per_agent)?;
        probability("accept_probability", self.accept_probability)?;
        probability("resolution_rate", self.resolution_rate)?;
        finite_at_least("answer_delay_seconds", self.answer_delay_secs, 0.0)?;
        finite_at_least("handle_factor", self.handle_factor, 0.01)?;
        if let Some((from, until)) = self.shift {
            ensure!(
                from.is_finite() && until.is_finite() && 0.0 <= from && from < until,
                "a shift must start at or after hour 0 and end after it starts"
            );
        }
        Ok(())
    }
}

/// The scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioToml {
    #[serde(default)]
    name: String,
    seed: u64,
    /// Measured hours, after the warm-up.
    hours: f64,
    #[serde(default)]
    warm_up_minutes: f64,
    #[serde(default = "default_interval")]
    interval_minutes: f64,
    #[serde(default)]
    by_interval: bool,
    queues: Vec<QueueConfig>,
    traffic: Vec<TrafficToml>,
    groups: Vec<GroupToml>,
    #[serde(default)]
    customer_bases: Vec<CustomerBaseToml>,
    /// As the server's `[routing] interruptible`, e.g. `{ email = ["voice"] }`.
    interruptible: Option<BTreeMap<Channel, Vec<Channel>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerBaseToml {
    name: String,
    customers: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepeatToml {
    share: f64,
    mean_after_minutes: f64,
    /// Default: the traffic's own queue and channel.
    queue: Option<String>,
    channel: Option<String>,
    #[serde(default = "one")]
    familiar_handle_factor: f64,
    familiar_resolution_rate: Option<f64>,
}

fn default_interval() -> f64 {
    30.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficToml {
    queue: String,
    #[serde(default = "default_channel")]
    channel: String,
    /// A steady rate...
    contacts_per_hour: Option<f64>,
    /// ...or one per interval.
    per_interval: Option<Vec<f64>>,
    handle: DistributionToml,
    patience: Option<DistributionToml>,
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    alternatives: Vec<Vec<String>>,
    #[serde(default)]
    value_mix: Vec<ValueShareToml>,
    customer_base: Option<String>,
    repeat: Option<RepeatToml>,
    transfer: Option<TransferToml>,
    callback: Option<CallbackToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferToml {
    share: f64,
    queue: String,
    #[serde(default = "half")]
    after_share: f64,
}

fn half() -> f64 {
    0.5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackToml {
    share: f64,
    after_seconds: f64,
}

fn default_channel() -> String {
    "voice".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DistributionToml {
    distribution: String,
    mean_seconds: f64,
    sd_seconds: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueShareToml {
    value: f64,
    share: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupToml {
    name: String,
    count: usize,
    #[serde(default)]
    skills: Vec<String>,
    capacity: Option<u32>,
    #[serde(default)]
    channel_limits: BTreeMap<String, u32>,
    shift: Option<ShiftToml>,
    #[serde(default = "one")]
    accept_probability: f64,
    #[serde(default)]
    answer_delay_seconds: f64,
    #[serde(default = "one")]
    handle_factor: f64,
    #[serde(default = "one")]
    resolution_rate: f64,
    #[serde(default)]
    kind: AgentKind,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShiftToml {
    start_hour: f64,
    end_hour: f64,
}

fn channel(name: &str) -> anyhow::Result<Channel> {
    Channel::from_name(name).with_context(|| format!("unknown channel {name:?}"))
}

fn skills(list: &[String]) -> anyhow::Result<Vec<SkillLevel>> {
    list.iter()
        .map(|s| s.parse::<SkillLevel>().map_err(anyhow::Error::from))
        .collect()
}

impl ScenarioToml {
    fn into_scenario(self) -> anyhow::Result<Scenario> {
        let queues = self.queues;
        let traffic = self
            .traffic
            .into_iter()
            .map(|t| {
                let queue = t.queue.clone();
                t.into_traffic()
                    .with_context(|| format!("traffic for queue {queue:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        let groups = self
            .groups
            .into_iter()
            .map(|g| {
                let name = g.name.clone();
                g.into_group().with_context(|| format!("group {name:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        let scenario = Scenario {
            name: self.name,
            seed: self.seed,
            duration_secs: self.hours * 3600.0,
            warm_up_secs: self.warm_up_minutes * 60.0,
            interval_secs: self.interval_minutes * 60.0,
            by_interval: self.by_interval,
            queues,
            traffic,
            groups,
            customer_bases: self
                .customer_bases
                .into_iter()
                .map(|b| CustomerBase {
                    name: b.name,
                    customers: b.customers,
                })
                .collect(),
            widen_off: false,
            interruptible: self.interruptible,
        };
        scenario.validate()?;
        Ok(scenario)
    }
}

impl TrafficToml {
    fn into_traffic(self) -> anyhow::Result<Traffic> {
        let per_hour = match (self.contacts_per_hour, self.per_interval) {
            (Some(rate), None) => vec![rate],
            (None, Some(rates)) => rates,
            _ => bail!("give exactly one of contacts_per_hour or per_interval"),
        };
        let handle = match self.handle.distribution.as_str() {
            "exponential" => {
                ensure!(
                    self.handle.sd_seconds.is_none(),
                    "an exponential handle time has no sd_seconds (its sd is its mean)"
                );
                HandleTime::Exponential {
                    mean_secs: self.handle.mean_seconds,
                }
            }
            "log-normal" => HandleTime::LogNormal {
                mean_secs: self.handle.mean_seconds,
                sd_secs: self
                    .handle
                    .sd_seconds
                    .context("a log-normal handle time needs sd_seconds")?,
            },
            other => bail!("handle distribution is exponential or log-normal, not {other:?}"),
        };
        let mean_patience_secs = match self.patience {
            None => None,
            Some(p) => {
                ensure!(
                    p.distribution == "exponential" && p.sd_seconds.is_none(),
                    "patience is exponential (or left out: customers never abandon)"
                );
                Some(p.mean_seconds)
            }
        };
        let own_channel = channel(&self.channel)?;
        let repeat = match self.repeat {
            None => None,
            Some(r) => Some(Repeat {
                share: r.share,
                mean_after_secs: r.mean_after_minutes * 60.0,
                queue: r.queue.unwrap_or_else(|| self.queue.clone()),
                channel: r.channel.as_deref().map_or(Ok(own_channel), channel)?,
                familiar_handle_factor: r.familiar_handle_factor,
                familiar_resolution_rate: r.familiar_resolution_rate,
            }),
        };
        Ok(Traffic {
            queue: self.queue,
            channel: own_channel,
            per_hour,
            handle,
            mean_patience_secs,
            required_skills: skills(&self.skills)?,
            alternatives: {
                let sets = self
                    .alternatives
                    .iter()
                    .map(|set| skills(set))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                crate::core::queue::validate_alternatives(&sets, "traffic")?;
                sets
            },
            value_mix: self.value_mix.iter().map(|v| (v.value, v.share)).collect(),
            customer_base: self.customer_base,
            repeat,
            transfer: self.transfer.map(|x| TransferShare {
                share: x.share,
                queue: x.queue,
                after_share: x.after_share,
            }),
            callback: self.callback.map(|c| CallbackShare {
                share: c.share,
                after_secs: c.after_seconds,
            }),
        })
    }
}

impl GroupToml {
    fn into_group(self) -> anyhow::Result<AgentGroup> {
        Ok(AgentGroup {
            skills: skills(&self.skills)?,
            capacity: self.capacity,
            channel_limits: self
                .channel_limits
                .iter()
                .map(|(c, max)| Ok((channel(c)?, *max)))
                .collect::<anyhow::Result<_>>()?,
            shift: self
                .shift
                .map(|s| (s.start_hour * 3600.0, s.end_hour * 3600.0)),
            accept_probability: self.accept_probability,
            answer_delay_secs: self.answer_delay_seconds,
            handle_factor: self.handle_factor,
            resolution_rate: self.resolution_rate,
            kind: self.kind,
            ..AgentGroup::new(&self.name, self.count, Vec::new())
        })
    }
}

/// A strategy as `--compare` spells it (see [`Scenario::with_strategy`]), parsed.
pub(crate) struct StrategyChoice {
    /// As written.
    pub(crate) text: String,
    affinity: Option<u32>,
    cap: Option<f64>,
    reserve: Option<u32>,
    widen: bool,
    /// `interrupt=off+`: nothing is interruptible.
    pub(crate) interrupt: bool,
    /// The agent side ([`REFERENCE`] applies to queues as they were made to rank true rates).
    pub(crate) agent: String,
    contact: Option<String>,
}

impl StrategyChoice {
    pub(crate) fn parse(choice: &str) -> anyhow::Result<StrategyChoice> {
        let mut affinity = None;
        let mut cap = None;
        let mut reserve = None;
        let mut widen = true;
        let mut interrupt = true;
        let mut rest = choice;
        while let Some((prefix, tail)) = rest.split_once('+') {
            if let Some(n) = prefix.strip_prefix("affinity=") {
                affinity = Some(n.parse::<u32>().with_context(|| {
                    format!("{choice:?}: affinity=SECONDS takes whole seconds, e.g. affinity=60")
                })?);
            } else if let Some(n) = prefix.strip_prefix("cap=") {
                cap = Some(n.parse::<f64>().with_context(|| {
                    format!("{choice:?}: cap=PERCENT takes a number, e.g. cap=85")
                })?);
            } else if prefix == "widen=off" {
                widen = false;
            } else if prefix == "interrupt=off" {
                interrupt = false;
            } else if let Some(n) = prefix.strip_prefix("reserve=") {
                reserve = Some(n.parse::<u32>().with_context(|| {
                    format!("{choice:?}: reserve=AGENTS takes a whole number, e.g. reserve=0")
                })?);
            } else {
                bail!(
                    "{choice:?}: before '+' comes affinity=SECONDS, cap=PERCENT, reserve=AGENTS, \
                     widen=off or interrupt=off"
                );
            }
            rest = tail;
        }
        let (agent, contact) = match rest.split_once('/') {
            Some((a, c)) => (a, Some(c.to_string())),
            None => (rest, None),
        };
        Ok(StrategyChoice {
            text: choice.to_string(),
            affinity,
            cap,
            reserve,
            widen,
            interrupt,
            agent: agent.to_string(),
            contact,
        })
    }

    /// Applies the choice to every queue (each still valid, or an error naming it).
    pub(crate) fn apply(&self, queues: &mut [QueueConfig]) -> anyhow::Result<()> {
        for q in queues {
            if let Some(secs) = self.affinity {
                q.affinity_wait_secs = secs;
            }
            if let Some(cap) = self.cap {
                q.occupancy_cap_percent = cap;
            }
            if let Some(n) = self.reserve {
                q.reserve_agents = n;
            }
            if !self.widen {
                q.relaxation
                    .retain(|s| !matches!(s.action, crate::core::queue::Relax::Widen { .. }));
            }
            if self.agent != REFERENCE {
                q.strategy = self.agent.clone();
                q.agent_weights.clear();
            }
            if let Some(contact) = &self.contact {
                q.contact_strategy = contact.clone();
                q.contact_weights.clear();
            }
            q.validate()
                .with_context(|| format!("strategy {:?} for queue {:?}", self.text, q.name))?;
        }
        Ok(())
    }
}
