//! Routing strategies: the pluggable part of a decision.
//!
//! A strategy is a weighted sum of named **score terms**, so that every decision can list each
//! term's value and weight and a supervisor can read why one agent (or contact) beat another.
//! The named strategies are presets — documented term weights and parameters — and `weighted`
//! is a sum the operator writes. A queue chooses one strategy per side:
//!
//! Agent side (which eligible agent gets an arriving contact; ties to longest idle, then id):
//! - `longest-idle`: `idle` (seconds since the agent last got or finished work).
//! - `round-robin`: `since-offer` (seconds since the agent was last offered a contact): agents
//!   take turns whatever their handle times.
//! - `least-occupied`: `free-capacity` (share of capacity unused), ties to longest idle.
//! - `fewest-handled`: `fewest-handled` (minus contacts handled in the current period).
//! - `most-skilled`: `skill` (sum of the agent's levels on the contact's required skills) plus
//!   `specialist` × 0.5 (1 / number of skills the agent has): specialists first on ties. Walks the
//!   rarest required skill's agents from the highest level down.
//! - `performance`: `performance` (0–1, learnt from outcomes: see [`Performance`]), with a
//!   default fairness band of 0.05.
//!
//! Contact side (which waiting contact a freed agent takes; ties to the earlier enqueue):
//! - `priority-fifo`: `priority`.
//! - `wait-ageing`: `priority` + `wait` × 0.1 (one priority point per 10 s), capped at 100.
//! - `customer-value`: `value` + `wait` × 0.1 (one unit of value = 10 s of waiting): a contact of
//!   value `v` waits at most `(v_max − v) × 10` s longer than one of value `v_max`.
//! - `new-customer`: `priority` + `new-customer` × 10 (a first contact, or a returning customer
//!   whose last contact was abandoned or expired, gets ten priority points).
//! - `service-level`: `sl-risk` + `priority` × 0.01, where `sl-risk` is the queue's **pressure**
//!   (its recent miss rate over the miss rate its target allows) × its oldest wait ÷ its
//!   threshold (or its customers' mean patience, if shorter): a pool shared by several queues
//!   serves the one furthest behind its target first. It also **reserves**: while the queue is at
//!   risk, the last one or two idle agents who can serve it (at most its `reserve_agents`; 0:
//!   none) are held back from queues under less pressure, each held contact for at most 3/4 of
//!   its own threshold. See the engine's
//!   `reservation` module for the definitions and the bound.
//!
//! Parameters: weights given for a preset override its weights term by term (`wait-ageing` with
//! `wait = 0.5` ages five times faster); `weighted` starts from zero. `band`: agents scoring
//! within `band` of the best count as tied and the longest idle of them wins — the fairness guard
//! that keeps the best agent from taking every contact. `score_cap` caps a contact's score (at the
//! cap, ties go to the higher uncapped score, then the earlier enqueue). Affinity (omnichannel
//! continuity) is a layer over any agent strategy, switched on by `affinity_wait_secs`: see the
//! engine's matching.
//!
//! **Exact choice.** An agent-side decision picks the best-scoring eligible agent on the whole
//! floor (ties and the band to the longest idle, then the agent id) without walking the floor:
//! it walks the agent index in the order of the strategy's heaviest term ([`Strategy::walk`];
//! `skill` walks the rarest required skill from its highest level down) and stops as soon as an
//! upper bound on every agent not yet seen falls below the best found (see the engine's search).
//! `window` (0, the default, is exact) is an explicit approximation for an operator who wants a
//! hard cost bound: the decision scores at most `window` eligible agents (1–64) in that order.
//!
//! A contact's score is `key + w_wait × now + w_sl × risk(queue)`, where `key` holds every term
//! fixed at enqueue (`priority`, `value`, `new-customer`, minus `w_wait` × enqueue time). Waiting
//! contacts are kept ordered by `key`, so the head of each group is its best contact at any time
//! and a decision looks at heads only.
//!
//! Invariant: a compiled [`Strategy`] has finite, validated weights and parameters; scores are
//! compared higher-first and ties break on explicit keys, never on map order.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::CoreError;
use super::ewt::WaitEstimator;
use super::index::Order;
use super::queue::QueueConfig;
use super::types::Millis;

/// Agent-side strategy of a queue that names none.
pub const DEFAULT: &str = "longest-idle";
/// Contact-side strategy of a queue that names none.
pub const DEFAULT_CONTACT: &str = "priority-fifo";
/// The name of the strategy whose terms are all given by the operator.
pub const WEIGHTED: &str = "weighted";

/// The largest `window` (eligible agents scored) a queue may set; 0 means exact.
pub const MAX_WINDOW: u32 = 64;
/// How many candidates a decision records (the chosen one and its runners-up).
pub const CANDIDATES_RECORDED: usize = 4;

/// Scores agents for a contact; higher is better.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentTerm {
    Idle,
    SinceOffer,
    FreeCapacity,
    FewestHandled,
    Skill,
    Specialist,
    Performance,
    Affinity,
}

impl AgentTerm {
    pub const ALL: [AgentTerm; 8] = [
        AgentTerm::Idle,
        AgentTerm::SinceOffer,
        AgentTerm::FreeCapacity,
        AgentTerm::FewestHandled,
        AgentTerm::Skill,
        AgentTerm::Specialist,
        AgentTerm::Performance,
        AgentTerm::Affinity,
    ];
    pub const COUNT: usize = 8;

    pub fn name(self) -> &'static str {
        match self {
            AgentTerm::Idle => "idle",
            AgentTerm::SinceOffer => "since-offer",
            AgentTerm::FreeCapacity => "free-capacity",
            AgentTerm::FewestHandled => "fewest-handled",
            AgentTerm::Skill => "skill",
            AgentTerm::Specialist => "specialist",
            AgentTerm::Performance => "performance",
            AgentTerm::Affinity => "affinity",
        }
    }
}

/// Scores waiting contacts for an agent; higher is served first.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactTerm {
    Priority,
    Wait,
    Value,
    NewCustomer,
    SlRisk,
}

impl ContactTerm {
    pub const ALL: [ContactTerm; 5] = [
        ContactTerm::Priority,
        ContactTerm::Wait,
        ContactTerm::Value,
        ContactTerm::NewCustomer,
        ContactTerm::SlRisk,
    ];
    pub const COUNT: usize = 5;

    pub fn name(self) -> &'static str {
        match self {
            ContactTerm::Priority => "priority",
            ContactTerm::Wait => "wait",
            ContactTerm::Value => "value",
            ContactTerm::NewCustomer => "new-customer",
            ContactTerm::SlRisk => "sl-risk",
        }
    }
}

/// How a decision walks the agent index: in which order, and whether by level first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    /// The index order walked (within a level, when `by_level`).
    pub order: Order,
    /// Highest level of the rarest required skill first (the `skill` term leads).
    pub by_level: bool,
}

impl Walk {
    /// The walk led by the term with the largest weight × nominal range (seconds-valued terms
    /// count 600 s, counts and levels 10, shares 1): the order that lets the search stop soonest
    /// on typical floors. Any walk gives the same choice; this one gives it cheapest.
    fn leading(weights: &[f64; AgentTerm::COUNT]) -> Walk {
        let nominal = |t: AgentTerm| match t {
            AgentTerm::Idle | AgentTerm::SinceOffer => 600.0,
            AgentTerm::FewestHandled | AgentTerm::Skill => 10.0,
            _ => 1.0,
        };
        let lead = AgentTerm::ALL
            .into_iter()
            .filter(|t| *t != AgentTerm::Affinity && weights[*t as usize] > 0.0)
            .max_by(|a, b| {
                (weights[*a as usize] * nominal(*a))
                    .total_cmp(&(weights[*b as usize] * nominal(*b)))
            });
        let order = match lead {
            None | Some(AgentTerm::Idle | AgentTerm::Affinity) => Order::Idle,
            Some(AgentTerm::SinceOffer) => Order::SinceOffer,
            Some(AgentTerm::FreeCapacity) => Order::FreeCapacity,
            Some(AgentTerm::FewestHandled) => Order::FewestHandled,
            Some(AgentTerm::Performance) => Order::Performance,
            Some(AgentTerm::Skill | AgentTerm::Specialist) => Order::Specialist,
        };
        Walk {
            order,
            by_level: lead == Some(AgentTerm::Skill),
        }
    }
}

/// A compiled strategy: weights per term and parameters, shared by a queue and its decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct Strategy {
    /// `agent/contact`, with `affinity+` in front when affinity is on.
    pub label: Arc<str>,
    /// The queue's configuration version this strategy came from.
    pub version: u64,
    pub agent_weights: [f64; AgentTerm::COUNT],
    pub contact_weights: [f64; ContactTerm::COUNT],
    /// Eligible agents a decision scores at most; 0: exact (the whole floor, by bound).
    pub window: usize,
    pub band: f64,
    pub score_cap: f64,
    pub walk: Walk,
    pub affinity_wait_ms: u64,
    pub horizon_ms: u64,
    /// Rolling occupancy (0–1) above which an agent is passed over while another can take the
    /// contact; `None`: no cap.
    pub occupancy_cap: Option<f64>,
    /// The queue's delay predictor for wait estimates.
    pub wait_estimator: WaitEstimator,
    /// The most idle agents held back for this queue when it risks its target (agent
    /// reservation: the `service-level` contact strategy, up to `reserve_agents`); 0: none.
    pub reserve: u32,
}

type AgentPreset = ([f64; AgentTerm::COUNT], f64);

fn agent_preset(name: &str) -> Option<AgentPreset> {
    let mut w = [0.0; AgentTerm::COUNT];
    let mut band = 0.0;
    match name {
        "" | "longest-idle" => w[AgentTerm::Idle as usize] = 1.0,
        "round-robin" => w[AgentTerm::SinceOffer as usize] = 1.0,
        "least-occupied" => w[AgentTerm::FreeCapacity as usize] = 1.0,
        "fewest-handled" => w[AgentTerm::FewestHandled as usize] = 1.0,
        "most-skilled" => {
            w[AgentTerm::Skill as usize] = 1.0;
            w[AgentTerm::Specialist as usize] = 0.5;
        }
        "performance" => {
            w[AgentTerm::Performance as usize] = 1.0;
            band = 0.05;
        }
        WEIGHTED => {}
        _ => return None,
    }
    Some((w, band))
}

fn contact_preset(name: &str) -> Option<([f64; ContactTerm::COUNT], f64)> {
    let mut w = [0.0; ContactTerm::COUNT];
    let mut cap = f64::INFINITY;
    match name {
        "" | "priority-fifo" => w[ContactTerm::Priority as usize] = 1.0,
        "wait-ageing" => {
            w[ContactTerm::Priority as usize] = 1.0;
            w[ContactTerm::Wait as usize] = 0.1;
            cap = 100.0;
        }
        "customer-value" => {
            w[ContactTerm::Value as usize] = 1.0;
            w[ContactTerm::Wait as usize] = 0.1;
        }
        "new-customer" => {
            w[ContactTerm::Priority as usize] = 1.0;
            w[ContactTerm::NewCustomer as usize] = 10.0;
        }
        "service-level" => {
            w[ContactTerm::SlRisk as usize] = 1.0;
            w[ContactTerm::Priority as usize] = 0.01;
        }
        WEIGHTED => {}
        _ => return None,
    }
    Some((w, cap))
}

pub const AGENT_STRATEGIES: &[&str] = &[
    "longest-idle",
    "round-robin",
    "least-occupied",
    "fewest-handled",
    "most-skilled",
    "performance",
    WEIGHTED,
];
pub const CONTACT_STRATEGIES: &[&str] = &[
    "priority-fifo",
    "wait-ageing",
    "customer-value",
    "new-customer",
    "service-level",
    WEIGHTED,
];

/// Each given `(term name, weight)` as `(term, weight)`, or the error naming the unknown term or
/// the bad weight.
fn set_weights<'a, T: Copy>(
    given: &'a BTreeMap<String, f64>,
    all: &'a [T],
    name: fn(T) -> &'static str,
    side: &'static str,
) -> impl Iterator<Item = Result<(T, f64), CoreError>> + 'a {
    given.iter().map(move |(term, w)| {
        let found = all.iter().copied().find(|t| name(*t) == term);
        let Some(t) = found else {
            let known: Vec<_> = all.iter().map(|t| name(*t)).collect();
            return Err(CoreError::invalid(format!(
                "unknown {side} term {term:?}; known: {}",
                known.join(", ")
            )));
        };
        Ok((t, weight(term, *w)?))
    })
}

fn weight(term: &str, w: f64) -> Result<f64, CoreError> {
    if !w.is_finite() || w.abs() > 1e9 {
        return Err(CoreError::invalid(format!(
            "weight {w} of term {term:?} must be a finite number within ±1e9"
        )));
    }
    Ok(w)
}

impl Strategy {
    /// Checks a configuration and compiles it; every error names the bad name or value.
    pub fn compile(config: &QueueConfig) -> Result<Strategy, CoreError> {
        let version = config.version;
        let (mut agent_weights, preset_band) = agent_preset(&config.strategy).ok_or_else(|| {
            CoreError::invalid(format!(
                "unknown agent strategy {:?}; known: {}",
                config.strategy,
                AGENT_STRATEGIES.join(", ")
            ))
        })?;
        let (mut contact_weights, preset_cap) = contact_preset(&config.contact_strategy)
            .ok_or_else(|| {
                CoreError::invalid(format!(
                    "unknown contact strategy {:?}; known: {}",
                    config.contact_strategy,
                    CONTACT_STRATEGIES.join(", ")
                ))
            })?;
        set_weights(
            &config.agent_weights,
            &AgentTerm::ALL,
            AgentTerm::name,
            "agent",
        )
        .try_for_each(|r| r.map(|(t, w)| agent_weights[t as usize] = w))?;
        set_weights(
            &config.contact_weights,
            &ContactTerm::ALL,
            ContactTerm::name,
            "contact",
        )
        .try_for_each(|r| r.map(|(t, w)| contact_weights[t as usize] = w))?;
        let window = config.window;
        if window > MAX_WINDOW {
            return Err(CoreError::invalid(format!(
                "window {window} must be 0 (exact) or 1-{MAX_WINDOW} agents"
            )));
        }
        let band = config.band.unwrap_or(preset_band);
        if !(band.is_finite() && band >= 0.0) {
            return Err(CoreError::invalid(format!(
                "band {band} must be a finite number >= 0"
            )));
        }
        let score_cap = config.score_cap.unwrap_or(preset_cap);
        if score_cap.is_nan() || score_cap == f64::NEG_INFINITY {
            return Err(CoreError::invalid("score cap must be a number"));
        }
        if config.affinity_wait_secs > 3600 || config.affinity_horizon_secs > 30 * 86_400 {
            return Err(CoreError::invalid(
                "affinity wait is limited to one hour and its horizon to 30 days",
            ));
        }
        let affinity = if config.affinity_wait_secs > 0 {
            "affinity+"
        } else {
            ""
        };
        let agent = if config.strategy.is_empty() {
            DEFAULT
        } else {
            &config.strategy
        };
        let contact = if config.contact_strategy.is_empty() {
            DEFAULT_CONTACT
        } else {
            &config.contact_strategy
        };
        Ok(Strategy {
            label: format!("{affinity}{agent}/{contact}").into(),
            version,
            agent_weights,
            contact_weights,
            window: window as usize,
            band,
            score_cap,
            walk: Walk::leading(&agent_weights),
            affinity_wait_ms: config.affinity_wait_secs as u64 * 1000,
            horizon_ms: config.affinity_horizon_secs as u64 * 1000,
            reserve: if contact == "service-level" {
                config.reserve_agents
            } else {
                0
            },
            occupancy_cap: (config.occupancy_cap_percent > 0.0)
                .then(|| config.occupancy_cap_percent / 100.0),
            wait_estimator: WaitEstimator::parse(&config.wait_estimator).ok_or_else(|| {
                CoreError::invalid(format!(
                    "unknown wait estimator {:?}; known: {}",
                    config.wait_estimator,
                    WaitEstimator::ALL.map(|e| e.name()).join(", ")
                ))
            })?,
        })
    }

    /// The default strategy (a placeholder until an image's queues are recompiled).
    pub fn fallback() -> Arc<Strategy> {
        Arc::new(Strategy::compile(&QueueConfig::default()).expect("defaults compile"))
    }

    pub fn agent_score(&self, terms: &AgentTerms) -> f64 {
        dot(&self.agent_weights, &terms.0)
    }

    /// The part of a contact's score fixed at enqueue; orders contacts within a group.
    pub fn contact_key(&self, facts: &ContactFacts) -> f64 {
        let w = &self.contact_weights;
        w[ContactTerm::Priority as usize] * facts.priority as f64
            + w[ContactTerm::Value as usize] * facts.customer_value
            + w[ContactTerm::NewCustomer as usize] * f64::from(u8::from(facts.new_customer))
            - w[ContactTerm::Wait as usize] * secs(facts.enqueued_at)
    }

    /// A contact's score at `now`, from its key and its queue's service-level risk.
    pub fn contact_score(&self, key: f64, now: Millis, sl_risk: f64) -> f64 {
        let w = &self.contact_weights;
        let score = key
            + w[ContactTerm::Wait as usize] * secs(now)
            + w[ContactTerm::SlRisk as usize] * sl_risk;
        score.min(self.score_cap)
    }

    /// Whether the strategy weighs this agent term (an unweighed term is not computed).
    pub fn uses(&self, term: AgentTerm) -> bool {
        self.agent_weights[term as usize] != 0.0
    }

    /// Whether the strategy weighs this contact term.
    pub fn uses_contact(&self, term: ContactTerm) -> bool {
        self.contact_weights[term as usize] != 0.0
    }
}

fn dot<const N: usize>(w: &[f64; N], v: &[f64; N]) -> f64 {
    w.iter().zip(v).map(|(w, v)| w * v).sum()
}

/// Milliseconds as seconds.
pub fn secs(ms: Millis) -> f64 {
    ms as f64 / 1000.0
}

/// The value of every agent term for one (agent, contact) pair.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AgentTerms(pub [f64; AgentTerm::COUNT]);

/// The value of every contact term for one contact at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ContactTerms(pub [f64; ContactTerm::COUNT]);

/// What the contact side knows about a waiting contact at enqueue.
#[derive(Clone, Copy, Debug)]
pub struct ContactFacts {
    pub enqueued_at: Millis,
    pub priority: u32,
    pub customer_value: f64,
    pub new_customer: bool,
}

impl ContactFacts {
    pub fn terms(&self, now: Millis, sl_risk: f64) -> ContactTerms {
        let mut v = [0.0; ContactTerm::COUNT];
        v[ContactTerm::Priority as usize] = self.priority as f64;
        v[ContactTerm::Wait as usize] = secs(now.saturating_sub(self.enqueued_at));
        v[ContactTerm::Value as usize] = self.customer_value;
        v[ContactTerm::NewCustomer as usize] = f64::from(u8::from(self.new_customer));
        v[ContactTerm::SlRisk as usize] = sl_risk;
        ContactTerms(v)
    }
}

/// Prior weight of the neutral 0.5 in a performance estimate: a new agent scores 0.5, and one
/// outcome moves the estimate by at most 1 / (PRIOR + 1).
pub const PERFORMANCE_PRIOR: f64 = 5.0;
/// Each new outcome multiplies the weight of the older ones by this (memory ≈ 50 outcomes).
pub const PERFORMANCE_DECAY: f64 = 0.98;
/// Outcomes on a skill before its own estimate is used instead of the agent's overall one.
pub const PERFORMANCE_MIN_PER_SKILL: f64 = 3.0;

/// A smoothed mean of outcome qualities (0–1): exponentially decayed sums shrunk towards 0.5.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct Smoothed {
    pub sum: f64,
    pub weight: f64,
}

impl Smoothed {
    pub fn record(&mut self, quality: f64) {
        self.sum = self.sum * PERFORMANCE_DECAY + quality;
        self.weight = self.weight * PERFORMANCE_DECAY + 1.0;
    }
    pub fn estimate(&self) -> f64 {
        (PERFORMANCE_PRIOR * 0.5 + self.sum) / (PERFORMANCE_PRIOR + self.weight)
    }
}

/// An agent's performance learnt from completed outcomes, overall and per skill.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Performance {
    pub overall: Smoothed,
    /// Sorted by skill id.
    pub by_skill: Vec<(u32, Smoothed)>,
}

impl Performance {
    /// Records one outcome's quality against the agent and each of the contact's skills the
    /// agent holds.
    pub fn record(&mut self, quality: f64, skills: impl Iterator<Item = u32>) {
        self.overall.record(quality);
        for skill in skills {
            let i = match self.by_skill.binary_search_by_key(&skill, |(s, _)| *s) {
                Ok(i) => i,
                Err(i) => {
                    self.by_skill.insert(i, (skill, Smoothed::default()));
                    i
                }
            };
            self.by_skill[i].1.record(quality);
        }
    }

    /// The highest estimate the agent has, overall or on any skill with enough data: no
    /// contact's [`Performance::for_skills`] exceeds it (the agent index orders by it).
    pub fn best(&self) -> f64 {
        self.by_skill
            .iter()
            .filter(|(_, s)| s.weight >= PERFORMANCE_MIN_PER_SKILL)
            .map(|(_, s)| s.estimate())
            .fold(self.overall.estimate(), f64::max)
    }

    /// The estimate for a contact requiring `skills`: the mean of the per-skill estimates with
    /// enough data, or the overall estimate when none has.
    pub fn for_skills(&self, skills: impl Iterator<Item = u32>) -> f64 {
        let (mut total, mut n, mut most) = (0.0, 0u32, 0.0f64);
        for skill in skills {
            if let Ok(i) = self.by_skill.binary_search_by_key(&skill, |(s, _)| *s)
                && self.by_skill[i].1.weight >= PERFORMANCE_MIN_PER_SKILL
            {
                let estimate = self.by_skill[i].1.estimate();
                total += estimate;
                most = most.max(estimate);
                n += 1;
            }
        }
        if n == 0 {
            self.overall.estimate()
        } else {
            // A mean never exceeds its largest term; rounding could, and `best` (the index's
            // bound) must stay an upper bound.
            (total / n as f64).min(most)
        }
    }
}

/// The quality of one outcome, 0–1: resolution (weight 0.5), satisfaction 1–5 when asked (0.3),
/// and handle time against the queue's mean so far (0.2: at the mean 0.5, twice as fast 1.0).
pub fn outcome_quality(resolved: bool, satisfaction: u8, handle_ms: u64, mean_ms: u64) -> f64 {
    let mut total = 0.5 * f64::from(u8::from(resolved));
    let mut weight = 0.5;
    if satisfaction > 0 {
        total += 0.3 * (satisfaction.saturating_sub(1) as f64 / 4.0);
        weight += 0.3;
    }
    if mean_ms > 0 && handle_ms > 0 {
        total += 0.2 * ((mean_ms as f64 / handle_ms as f64).min(2.0) / 2.0);
        weight += 0.2;
    }
    total / weight
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(agent: &str, contact: &str) -> QueueConfig {
        QueueConfig {
            strategy: agent.into(),
            contact_strategy: contact.into(),
            ..QueueConfig::default()
        }
    }

    #[test]
    fn every_named_strategy_compiles_and_unknown_names_are_refused() {
        for agent in AGENT_STRATEGIES {
            for contact in CONTACT_STRATEGIES {
                let s = Strategy::compile(&config(agent, contact)).unwrap();
                assert_eq!(&*s.label, format!("{agent}/{contact}"));
            }
        }
        let err = Strategy::compile(&config("coin-flip", "")).unwrap_err();
        assert!(err.to_string().contains("coin-flip"), "{err}");
        let err = Strategy::compile(&config("", "lifo")).unwrap_err();
        assert!(err.to_string().contains("lifo"), "{err}");
        let mut bad = config("weighted", "");
        bad.agent_weights = [("charm".into(), 1.0)].into();
        assert!(Strategy::compile(&bad).is_err());
        bad.agent_weights = [("idle".into(), f64::NAN)].into();
        assert!(Strategy::compile(&bad).is_err());
        let mut bad = config("", "");
        bad.window = 65;
        assert!(Strategy::compile(&bad).is_err());
        bad.window = 8;
        bad.band = Some(-1.0);
        assert!(Strategy::compile(&bad).is_err());
    }

    #[test]
    fn weights_override_a_preset_term_by_term() {
        let mut c = config("", "wait-ageing");
        c.contact_weights = [("wait".into(), 0.5)].into();
        let s = Strategy::compile(&c).unwrap();
        assert_eq!(s.contact_weights[ContactTerm::Wait as usize], 0.5);
        assert_eq!(s.contact_weights[ContactTerm::Priority as usize], 1.0);
        assert_eq!(s.score_cap, 100.0);
    }

    #[test]
    fn contact_key_orders_as_the_score_at_any_time() {
        let s = Strategy::compile(&config("", "customer-value")).unwrap();
        let old_cheap = ContactFacts {
            enqueued_at: 0,
            priority: 0,
            customer_value: 0.0,
            new_customer: false,
        };
        let new_rich = ContactFacts {
            enqueued_at: 30_000,
            customer_value: 5.0,
            ..old_cheap
        };
        for now in [30_000, 60_000, 600_000] {
            let a = s.contact_score(s.contact_key(&old_cheap), now, 0.0);
            let b = s.contact_score(s.contact_key(&new_rich), now, 0.0);
            // 30 s of extra waiting is worth 3 units of value: the rich newcomer leads by 2.
            assert!((b - a - 2.0).abs() < 1e-9, "{a} {b}");
        }
    }

    #[test]
    fn performance_starts_neutral_and_one_outcome_cannot_swing_it() {
        let mut p = Performance::default();
        assert_eq!(p.for_skills([1].into_iter()), 0.5);
        p.record(1.0, [1].into_iter());
        let after = p.for_skills([1].into_iter());
        assert!(after > 0.5 && after <= 0.5 + 1.0 / (PERFORMANCE_PRIOR + 1.0) + 1e-9);
        for _ in 0..50 {
            p.record(1.0, [1].into_iter());
        }
        assert!(p.for_skills([1].into_iter()) > 0.9);
        // Skill 2 has no data of its own: the overall estimate stands in.
        assert_eq!(p.for_skills([2].into_iter()), p.overall.estimate());
    }

    #[test]
    fn outcome_quality_weighs_resolution_satisfaction_and_speed() {
        assert_eq!(outcome_quality(true, 5, 0, 0), 1.0);
        assert_eq!(outcome_quality(false, 1, 0, 0), 0.0);
        let fast = outcome_quality(true, 0, 50_000, 100_000);
        let slow = outcome_quality(true, 0, 200_000, 100_000);
        assert!(fast > slow);
    }
}
