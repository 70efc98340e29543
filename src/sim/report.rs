//! What a simulation reports: per queue and overall (offered, answered, abandoned, each
//! service-level definition, ASA, average and 90th-percentile wait, abandonment), occupancy per
//! agent group and for the whole floor, and a fairness figure; over the measured period and,
//! when asked for, interval by interval; as a table for people or JSON for machines.
//!
//! Invariants:
//! - Every figure the server also reports is computed by the server's own code —
//!   [`crate::core::stats::QueueCounters::service_level`] over the engine's counters, and the
//!   engine's per-agent occupancy clocks — windowed with `since`. Only the wait percentiles, the
//!   mean logged-in agents and the spread of occupancy are computed here, from the waits and
//!   clocks the engine reported, and the returning-customer figures (first-contact resolution,
//!   repeats), which only the simulator knows: it plays the customers.
//! - A window's counters and its waits are read at the same instants, so a contact counts in
//!   exactly one interval: the one in which it was answered, abandoned or expired (its `offered`
//!   count falls in the interval it arrived in, as an ACD's interval report counts it).

use crate::core::ewt::WaitEstimator;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use super::scenario::Scenario;
use crate::core::stats::{OccupancyTotals, QueueCounters, percentile, ratio_or_zero};
use crate::core::{Engine, Millis};

/// The figures of one run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SimReport {
    pub scenario: String,
    pub seed: u64,
    /// Measured hours (after the warm-up).
    pub hours: f64,
    pub warm_up_minutes: f64,
    /// The queues' strategies, `agent/contact`.
    pub strategy: String,
    pub queues: Vec<QueueFigures>,
    pub overall: QueueFigures,
    pub groups: Vec<GroupFigures>,
    /// Every agent of every group together.
    pub floor: GroupFigures,
    /// Fairness of agent load: the standard deviation of agents' occupancy around their own
    /// group's mean, pooled over groups (0 = every agent in a group equally loaded).
    pub occupancy_spread: f64,
    /// The measured period interval by interval, when asked for; empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<IntervalFigures>,
}

/// One interval of the measured period (the scenario's `interval_minutes`, aligned with its
/// `per_interval` rates; the first and last may be cut short by the warm-up and the end).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct IntervalFigures {
    /// Minutes from the start of the run (the start of the warm-up).
    pub from_minute: f64,
    pub to_minute: f64,
    #[serde(flatten)]
    pub figures: Figures,
}

/// One queue's figures over a window (or every queue's, for `overall`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QueueFigures {
    pub queue: String,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    /// Refused at the door (queue full) or expired (max wait).
    pub refused: u64,
    pub expired: u64,
    /// Still waiting or being offered when the window closed.
    pub waiting_at_end: u32,
    pub sl_answered: f64,
    pub sl_offered: f64,
    pub sl_excl_short_abandons: f64,
    /// Mean wait of answered contacts.
    pub asa_s: f64,
    /// Mean handle time of completed contacts (accept to complete).
    pub aht_s: f64,
    /// Waits of every contact that stopped waiting (answered or abandoned).
    pub avg_wait_s: f64,
    pub p90_wait_s: f64,
    /// Share of those contacts that waited at all (the Erlang "probability of wait").
    pub waited_share: f64,
    pub abandon_rate: f64,
    /// First contacts (not repeats) completed resolved / first contacts completed.
    pub first_contact_resolution: f64,
    /// Repeats offered: customers back after an unresolved contact.
    pub repeats: u64,
    /// Answered repeats that reached the agent who handled the contact before / answered
    /// repeats.
    pub repeats_to_same_agent: f64,
    /// Each wait estimator's accuracy, in [`WaitEstimator::ALL`] order.
    pub ewt: Vec<EwtFigures>,
    /// Answered here then transferred to a queue; entered by transfer.
    pub transferred_out: u64,
    pub transferred_in: u64,
    /// Customers who asked for a callback (off the line: out of service level), and callbacks
    /// completed.
    pub callbacks_requested: u64,
    pub callbacks_reached: u64,
    /// Contacts a bot completed here (contained) and escalated from here to people; containment
    /// is contained / both (0 without bot work).
    pub bot_contained: u64,
    pub bot_escalated: u64,
    pub containment: f64,
}

/// How far one wait estimator's estimates at enqueue were from the waits that followed, over
/// the answered contacts that waited in line and had an estimate from every estimator (the same
/// contacts for each, so the estimators compare on equal terms).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EwtFigures {
    pub estimator: String,
    pub contacts: u64,
    /// Mean |estimate − wait|, seconds.
    pub mae_s: f64,
    /// Mean (estimate − wait), seconds: above 0, waits were over-announced.
    pub bias_s: f64,
}

/// Sums behind [`EwtFigures`]: contacts, Σ|error| and Σerror (ms), per estimator.
#[derive(Clone, Copy, Debug, Default)]
struct EwtSums([(u64, f64, f64); 4]);

impl EwtSums {
    fn add(&mut self, other: &EwtSums) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
        }
    }

    fn figures(&self) -> Vec<EwtFigures> {
        WaitEstimator::ALL
            .iter()
            .zip(self.0)
            .map(|(e, (n, abs, signed))| {
                let mean_s = |sum: f64| sum / n.max(1) as f64 / 1000.0;
                EwtFigures {
                    estimator: e.name().to_string(),
                    contacts: n,
                    mae_s: mean_s(abs),
                    bias_s: mean_s(signed),
                }
            })
            .collect()
    }
}

/// What the simulated customers did that the engine does not count, per queue, since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Returns {
    pub first_completed: u64,
    pub first_resolved: u64,
    pub repeats: u64,
    pub repeats_answered: u64,
    pub repeats_answered_familiar: u64,
}

impl Returns {
    fn since(&self, earlier: &Returns) -> Returns {
        Returns {
            first_completed: self.first_completed - earlier.first_completed,
            first_resolved: self.first_resolved - earlier.first_resolved,
            repeats: self.repeats - earlier.repeats,
            repeats_answered: self.repeats_answered - earlier.repeats_answered,
            repeats_answered_familiar: self.repeats_answered_familiar
                - earlier.repeats_answered_familiar,
        }
    }

    fn add(&mut self, other: &Returns) {
        self.first_completed += other.first_completed;
        self.first_resolved += other.first_resolved;
        self.repeats += other.repeats;
        self.repeats_answered += other.repeats_answered;
        self.repeats_answered_familiar += other.repeats_answered_familiar;
    }
}

/// One agent group's load over a window.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GroupFigures {
    pub group: String,
    pub agents: usize,
    /// Mean number of the group's agents logged in over the window.
    pub logged_in_agents: f64,
    /// (handling + wrap-up) / logged-in time, over the group.
    pub occupancy: f64,
    /// Capacity in use / capacity (below occupancy where agents hold several chats).
    pub utilisation: f64,
    pub occupancy_min: f64,
    pub occupancy_max: f64,
    /// Contacts completed by the group's agents.
    pub handled: u64,
}

/// The figures of one window (an interval; the whole period's are spread in [`SimReport`]).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Figures {
    pub queues: Vec<QueueFigures>,
    pub overall: QueueFigures,
    pub groups: Vec<GroupFigures>,
    /// Every agent together.
    pub floor: GroupFigures,
    /// The standard deviation of agents' occupancy within their group.
    pub occupancy_spread: f64,
}

/// A measurement window: the engine's counters (per queue, scenario order) and agents' clocks
/// (agent order) when it opened, and the waits that ended in it.
struct Window {
    from: Millis,
    counters: Vec<QueueCounters>,
    returns: Vec<Returns>,
    clocks: Vec<(OccupancyTotals, u64)>,
    waits: Vec<Vec<u64>>,
    ewt: Vec<EwtSums>,
}

impl Window {
    fn open(layout: &Layout, returns: &[Returns], engine: &Engine) -> Window {
        Window {
            from: engine.now(),
            counters: queue_counters(layout, engine).0,
            returns: returns.to_vec(),
            clocks: agent_clocks(layout, engine),
            waits: vec![Vec::new(); layout.queues.len()],
            ewt: vec![EwtSums::default(); layout.queues.len()],
        }
    }

    /// The figures from the window's opening to the engine's present.
    fn close(&mut self, layout: &Layout, returns: &[Returns], engine: &Engine) -> Figures {
        let (counters, backlog) = queue_counters(layout, engine);
        let mut queues = Vec::new();
        let mut total = QueueCounters::default();
        let mut total_returns = Returns::default();
        let mut all_waits = Vec::new();
        let mut all_ewt = EwtSums::default();
        for (i, name) in layout.queues.iter().enumerate() {
            let window = counters[i].since(&self.counters[i]);
            let came_back = returns[i].since(&self.returns[i]);
            total.add(&window);
            total_returns.add(&came_back);
            all_waits.extend_from_slice(&self.waits[i]);
            all_ewt.add(&self.ewt[i]);
            let waits = &mut self.waits[i];
            let ewt = &self.ewt[i];
            queues.push(figures(name, &window, &came_back, backlog[i], waits, ewt));
        }
        let backlog = backlog.iter().sum();
        let overall = figures(
            "overall",
            &total,
            &total_returns,
            backlog,
            &mut all_waits,
            &all_ewt,
        );
        let span_ms = engine.now().saturating_sub(self.from);
        let clocks = agent_clocks(layout, engine);
        let mut groups = Vec::new();
        let mut floor = Load::default();
        let mut squares = 0.0;
        // Agents are in group order: each group takes the next `count` clocks.
        let mut now_and_then = clocks.iter().zip(&self.clocks);
        let mut people = 0;
        for ((name, count), bot) in layout.groups.iter().zip(&layout.bots) {
            let mut load = Load::default();
            for ((totals, handled), (totals_then, handled_then)) in
                now_and_then.by_ref().take(*count)
            {
                load.add(totals.since(totals_then), handled - handled_then);
            }
            // The floor and its fairness are people's: a bot's load is not a person's.
            if !bot {
                squares += load.squares_about_mean();
                floor.merge(&load);
                people += count;
            }
            groups.push(load.figures(name, *count, span_ms));
        }
        let floor_figures = floor.figures("floor", people, span_ms);
        Figures {
            queues,
            overall,
            groups,
            floor: floor_figures,
            occupancy_spread: (squares / floor.each.len().max(1) as f64).sqrt(),
        }
    }
}

/// Agents' time sums over a window, and each logged-in agent's occupancy.
#[derive(Default)]
struct Load {
    sum: OccupancyTotals,
    handled: u64,
    each: Vec<f64>,
}

impl Load {
    fn add(&mut self, window: OccupancyTotals, handled: u64) {
        self.sum.add(&window);
        self.handled += handled;
        if window.logged_in_ms > 0 {
            self.each.push(window.occupancy());
        }
    }

    fn merge(&mut self, other: &Load) {
        self.sum.add(&other.sum);
        self.handled += other.handled;
        self.each.extend_from_slice(&other.each);
    }

    fn squares_about_mean(&self) -> f64 {
        let mean = self.each.iter().sum::<f64>() / self.each.len().max(1) as f64;
        self.each.iter().map(|o| (o - mean).powi(2)).sum()
    }

    fn figures(&self, name: &str, agents: usize, span_ms: u64) -> GroupFigures {
        GroupFigures {
            group: name.to_string(),
            agents,
            logged_in_agents: self.sum.logged_in_ms as f64 / span_ms.max(1) as f64,
            occupancy: self.sum.occupancy(),
            utilisation: self.sum.utilisation(),
            occupancy_min: self.each.iter().copied().reduce(f64::min).unwrap_or(0.0),
            occupancy_max: self.each.iter().copied().reduce(f64::max).unwrap_or(0.0),
            handled: self.handled,
        }
    }
}

/// What a run measures: its queues, and its agents in groups.
pub(crate) struct Layout {
    /// Queue names, in report order.
    pub(crate) queues: Vec<String>,
    /// Every agent measured, in group order.
    pub(crate) agents: Vec<Arc<str>>,
    /// Each group's name and number of agents (the next that many of `agents`).
    pub(crate) groups: Vec<(String, usize)>,
    /// The instant interval minutes count from.
    pub(crate) origin: Millis,
    /// Per queue, the counts of its incarnations deleted so far (a queue deleted and created
    /// again counts on from where it was).
    pub(crate) deleted: Vec<QueueCounters>,
    /// Per agent, the clocks of its incarnations removed so far.
    pub(crate) removed: Vec<(OccupancyTotals, u64)>,
    /// Per group, whether its agents are bots (left out of the floor and the spread).
    pub(crate) bots: Vec<bool>,
}

impl Layout {
    pub(crate) fn new(
        queues: Vec<String>,
        agents: Vec<Arc<str>>,
        groups: Vec<(String, usize)>,
        origin: Millis,
    ) -> Layout {
        Layout {
            deleted: vec![QueueCounters::default(); queues.len()],
            removed: vec![Default::default(); agents.len()],
            bots: vec![false; groups.len()],
            queues,
            agents,
            groups,
            origin,
        }
    }
}

/// How a report names what it measured.
pub(crate) struct Heading {
    pub(crate) scenario: String,
    pub(crate) seed: u64,
    pub(crate) hours: f64,
    pub(crate) warm_up_minutes: f64,
    pub(crate) strategy: String,
}

impl Heading {
    fn of(scenario: &Scenario) -> Heading {
        Heading {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            hours: scenario.duration_secs / 3600.0,
            warm_up_minutes: scenario.warm_up_secs / 60.0,
            strategy: scenario.strategy_labels(),
        }
    }
}

/// The measured period and, when asked for, its intervals.
pub(crate) struct Measurements {
    by_interval: bool,
    layout: Layout,
    /// Per queue, since the start.
    returns: Vec<Returns>,
    whole: Option<Window>,
    interval: Option<Window>,
    intervals: Vec<IntervalFigures>,
}

impl Measurements {
    pub(crate) fn new(by_interval: bool, layout: Layout) -> Measurements {
        Measurements {
            by_interval,
            returns: vec![Returns::default(); layout.queues.len()],
            layout,
            whole: None,
            interval: None,
            intervals: Vec::new(),
        }
    }

    /// The warm-up is over: what happened so far is not counted.
    pub(crate) fn start(&mut self, engine: &Engine) {
        self.whole = Some(Window::open(&self.layout, &self.returns, engine));
        if self.by_interval {
            self.interval = Some(Window::open(&self.layout, &self.returns, engine));
        }
    }

    /// An interval ends at the engine's present (ignored before the warm-up ends).
    pub(crate) fn interval_ends(&mut self, engine: &Engine) {
        if let Some(mut window) = self.interval.take() {
            if engine.now() > window.from {
                let figures = window.close(&self.layout, &self.returns, engine);
                let origin = self.layout.origin;
                self.intervals
                    .push(interval_figures(origin, window.from, engine.now(), figures));
            }
            self.interval = Some(Window::open(&self.layout, &self.returns, engine));
        }
    }

    /// Queue `name` was deleted with these counts: they are kept.
    pub(crate) fn queue_deleted(&mut self, name: &str, counters: &QueueCounters) {
        if let Some(q) = self.layout.queues.iter().position(|n| n == name) {
            self.layout.deleted[q].add(counters);
        }
    }

    /// Agent `id` was removed with this clock: it is kept.
    pub(crate) fn agent_removed(&mut self, id: &str, clock: (OccupancyTotals, u64)) {
        if let Some(a) = self.layout.agents.iter().position(|n| &**n == id) {
            self.layout.removed[a].0.add(&clock.0);
            self.layout.removed[a].1 += clock.1;
        }
    }

    /// The returning-customer counts of queue `q`, to add to.
    pub(crate) fn returns(&mut self, q: usize) -> &mut Returns {
        &mut self.returns[q]
    }

    /// A contact of queue `q` stopped waiting after `waited_ms`.
    pub(crate) fn wait(&mut self, q: usize, waited_ms: u64) {
        for window in [&mut self.whole, &mut self.interval].into_iter().flatten() {
            window.waits[q].push(waited_ms);
        }
    }

    /// A contact of queue `q` was answered after `waited_ms`, having been given `estimates`
    /// (in [`WaitEstimator::ALL`] order) when it joined the line; scored when all are known.
    pub(crate) fn estimated(&mut self, q: usize, waited_ms: u64, estimates: [Option<u64>; 4]) {
        let Some(estimates) = estimates.into_iter().collect::<Option<Vec<u64>>>() else {
            return;
        };
        for window in [&mut self.whole, &mut self.interval].into_iter().flatten() {
            for (sums, estimate) in window.ewt[q].0.iter_mut().zip(&estimates) {
                let error = *estimate as f64 - waited_ms as f64;
                *sums = (sums.0 + 1, sums.1 + error.abs(), sums.2 + error);
            }
        }
    }

    /// The figures from the end of the warm-up to the engine's present.
    pub(super) fn report(self, scenario: &Scenario, engine: &Engine) -> SimReport {
        self.report_as(Heading::of(scenario), engine)
    }

    /// The figures from the start of measuring to the engine's present, under `heading`.
    pub(crate) fn report_as(mut self, heading: Heading, engine: &Engine) -> SimReport {
        self.interval_ends(engine);
        let mut whole = self
            .whole
            .take()
            .unwrap_or_else(|| Window::open(&self.layout, &self.returns, engine));
        let f = whole.close(&self.layout, &self.returns, engine);
        SimReport {
            scenario: heading.scenario,
            seed: heading.seed,
            hours: heading.hours,
            warm_up_minutes: heading.warm_up_minutes,
            strategy: heading.strategy,
            queues: f.queues,
            overall: f.overall,
            groups: f.groups,
            floor: f.floor,
            occupancy_spread: f.occupancy_spread,
            intervals: self.intervals,
        }
    }
}

fn interval_figures(origin: Millis, from: Millis, to: Millis, figures: Figures) -> IntervalFigures {
    let minute = |at: Millis| at.saturating_sub(origin) as f64 / 60_000.0;
    IntervalFigures {
        from_minute: minute(from),
        to_minute: minute(to),
        figures,
    }
}

/// Each queue's counters (with those of its deleted incarnations) and backlog (waiting or
/// being offered), in layout order.
fn queue_counters(layout: &Layout, engine: &Engine) -> (Vec<QueueCounters>, Vec<u32>) {
    layout
        .queues
        .iter()
        .zip(&layout.deleted)
        .map(|(name, deleted)| {
            let mut counters = deleted.clone();
            let backlog = engine.queue_counters(name).map_or(0, |(c, backlog)| {
                counters.add(c);
                backlog
            });
            (counters, backlog)
        })
        .unzip()
}

/// Each agent's occupancy sums and handled count (with those of its removed incarnations), in
/// layout order.
fn agent_clocks(layout: &Layout, engine: &Engine) -> Vec<(OccupancyTotals, u64)> {
    layout
        .agents
        .iter()
        .zip(&layout.removed)
        .map(|(id, (totals, handled))| {
            let (mut now, now_handled) = engine.agent_clock(id).unwrap_or_default();
            now.add(totals);
            (now, now_handled + handled)
        })
        .collect()
}

fn figures(
    name: &str,
    c: &QueueCounters,
    r: &Returns,
    waiting: u32,
    waits: &mut [u64],
    ewt: &EwtSums,
) -> QueueFigures {
    let sl = c.service_level();
    let secs = |ms: f64| ms / 1000.0;
    let waited = waits.iter().filter(|&&w| w > 0).count();
    QueueFigures {
        queue: name.to_string(),
        offered: c.offered,
        answered: c.answered,
        abandoned: c.abandoned,
        refused: c.refused,
        expired: c.expired,
        waiting_at_end: waiting,
        sl_answered: sl.sl_answered,
        sl_offered: sl.sl_offered,
        sl_excl_short_abandons: sl.sl_excl_short_abandons,
        asa_s: secs(sl.asa_ms as f64),
        aht_s: secs(c.total_handle_ms as f64 / c.completed.max(1) as f64),
        avg_wait_s: secs(waits.iter().sum::<u64>() as f64 / waits.len().max(1) as f64),
        p90_wait_s: secs(percentile(waits, 90.0).unwrap_or(0) as f64),
        waited_share: waited as f64 / waits.len().max(1) as f64,
        abandon_rate: sl.abandon_rate,
        first_contact_resolution: ratio_or_zero(r.first_resolved, r.first_completed),
        repeats: r.repeats,
        repeats_to_same_agent: ratio_or_zero(r.repeats_answered_familiar, r.repeats_answered),
        ewt: ewt.figures(),
        transferred_out: c.transferred_out,
        transferred_in: c.transferred_in,
        callbacks_requested: c.callbacks_requested,
        callbacks_reached: c.callbacks_reached,
        bot_contained: c.bot_contained,
        bot_escalated: c.bot_escalated,
        containment: ratio_or_zero(c.bot_contained, c.bot_contained + c.bot_escalated),
    }
}

pub(super) fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// `h:mm` from a number of minutes.
fn clock(minutes: f64) -> String {
    let m = minutes.round() as u64;
    format!("{}:{:02}", m / 60, m % 60)
}

fn queue_row(out: &mut String, label: &str, q: &QueueFigures) {
    let _ = writeln!(
        out,
        "{:<16} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7.1} {:>8.1} {:>8.1} {:>8} {:>7}",
        label,
        q.offered,
        q.answered,
        q.abandoned,
        q.waiting_at_end,
        pct(q.sl_answered),
        pct(q.sl_offered),
        pct(q.sl_excl_short_abandons),
        q.asa_s,
        q.avg_wait_s,
        q.p90_wait_s,
        pct(q.waited_share),
        pct(q.abandon_rate)
    );
}

fn queue_header(out: &mut String, first: &str) {
    let _ = writeln!(
        out,
        "{first:<16} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>8} {:>8} {:>7}",
        "offered",
        "answered",
        "abandoned",
        "at end",
        "sl_ans",
        "sl_off",
        "sl_excl",
        "ASA s",
        "avg wait",
        "p90 wait",
        "waited",
        "aband"
    );
}

fn group_header(out: &mut String, first: &str) {
    let _ = writeln!(
        out,
        "{:<16} {:>6} {:>9} {:>9} {:>11} {:>8} {:>8} {:>8}",
        first, "agents", "logged in", "occupancy", "utilisation", "min", "max", "handled"
    );
}

fn group_row(out: &mut String, label: &str, g: &GroupFigures) {
    let _ = writeln!(
        out,
        "{:<16} {:>6} {:>9.1} {:>9} {:>11} {:>8} {:>8} {:>8}",
        label,
        g.agents,
        g.logged_in_agents,
        pct(g.occupancy),
        pct(g.utilisation),
        pct(g.occupancy_min),
        pct(g.occupancy_max),
        g.handled
    );
}

impl SimReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    /// A readable table (and the intervals, when the report has them).
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario {} · seed {} · {} h measured after {} min warm-up · strategy {}\n",
            self.scenario, self.seed, self.hours, self.warm_up_minutes, self.strategy
        );
        queue_header(&mut out, "queue");
        for q in self.queues.iter().chain([&self.overall]) {
            queue_row(&mut out, &q.queue, q);
        }
        let o = &self.overall;
        if o.repeats > 0 || o.first_contact_resolution < 1.0 {
            let _ = writeln!(
                out,
                "\n{:<16} {:>11} {:>8} {:>14}",
                "queue", "first-contact", "repeats", "to same agent"
            );
            let _ = writeln!(out, "{:<16} {:>11}", "", "resolution");
            for q in self.queues.iter().chain([o]) {
                let _ = writeln!(
                    out,
                    "{:<16} {:>13} {:>8} {:>14}",
                    q.queue,
                    pct(q.first_contact_resolution),
                    q.repeats,
                    pct(q.repeats_to_same_agent)
                );
            }
        }
        if o.transferred_out + o.callbacks_requested > 0 {
            let _ = writeln!(
                out,
                "\n{:<16} {:>12} {:>12} {:>10} {:>10}",
                "queue", "transfer out", "transfer in", "callbacks", "called"
            );
            for q in self.queues.iter().chain([o]) {
                let _ = writeln!(
                    out,
                    "{:<16} {:>12} {:>12} {:>10} {:>10}",
                    q.queue,
                    q.transferred_out,
                    q.transferred_in,
                    q.callbacks_requested,
                    q.callbacks_reached
                );
            }
        }
        if o.bot_contained + o.bot_escalated > 0 {
            let _ = writeln!(
                out,
                "\n{:<16} {:>12} {:>12} {:>12}",
                "queue", "bot contained", "escalated", "containment"
            );
            for q in self.queues.iter().chain([o]) {
                if q.bot_contained + q.bot_escalated > 0 {
                    let _ = writeln!(
                        out,
                        "{:<16} {:>12} {:>12} {:>12}",
                        q.queue,
                        q.bot_contained,
                        q.bot_escalated,
                        pct(q.containment)
                    );
                }
            }
        }
        out.push_str(&self.ewt_table());
        out.push('\n');
        group_header(&mut out, "group");
        for g in self.groups.iter().chain([&self.floor]) {
            group_row(&mut out, &g.group, g);
        }
        let _ = writeln!(
            out,
            "\noccupancy spread (sd of agents' occupancy within their group): {:.1} points",
            self.occupancy_spread * 100.0
        );
        if !self.intervals.is_empty() {
            out.push_str(&self.interval_table());
        }
        out
    }

    /// Each wait estimator's error per queue (answered contacts that waited in line).
    fn ewt_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nwait estimates at enqueue against the wait that followed (answered contacts that waited)"
        );
        let _ = writeln!(
            out,
            "{:<16} {:<14} {:>9} {:>9} {:>9}",
            "queue", "estimator", "contacts", "MAE s", "bias s"
        );
        for q in self.queues.iter().chain([&self.overall]) {
            for e in &q.ewt {
                let _ = writeln!(
                    out,
                    "{:<16} {:<14} {:>9} {:>9.1} {:>+9.1}",
                    q.queue, e.estimator, e.contacts, e.mae_s, e.bias_s
                );
            }
        }
        out
    }

    /// Each queue (and, with several, all of them) interval by interval, then the floor.
    fn interval_table(&self) -> String {
        let mut out = String::new();
        let label =
            |i: &IntervalFigures| format!("{}-{}", clock(i.from_minute), clock(i.to_minute));
        let several = self.queues.len() > 1;
        let blocks = self.queues.len() + usize::from(several);
        for q in 0..blocks {
            let name = self.queues.get(q).map_or("overall", |f| &f.queue);
            let _ = writeln!(out, "\n{name} by interval");
            queue_header(&mut out, "interval");
            for i in &self.intervals {
                let f = &i.figures;
                queue_row(&mut out, &label(i), f.queues.get(q).unwrap_or(&f.overall));
            }
        }
        let _ = writeln!(out, "\nfloor by interval");
        group_header(&mut out, "interval");
        for i in &self.intervals {
            group_row(&mut out, &label(i), &i.figures.floor);
        }
        out
    }
}
