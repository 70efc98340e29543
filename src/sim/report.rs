//! What a simulation reports: per queue and overall (offered, answered, abandoned, each
//! service-level definition, ASA, average and 90th-percentile wait, abandonment), occupancy per
//! agent group, and a fairness figure; as a table for people or JSON for machines, alone or
//! side by side for several strategies.
//!
//! Invariant: every figure the server also reports is computed by the server's own code —
//! [`crate::core::stats::QueueCounters::service_level`] over the engine's counters, and the
//! engine's per-agent occupancy clocks — windowed to the measured period with `since`. Only the
//! wait percentiles and the spread of occupancy are computed here, from the waits and occupancies
//! the engine reported.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use super::scenario::Scenario;
use crate::core::Engine;
use crate::core::stats::{OccupancyTotals, QueueCounters, percentile};

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
    /// Fairness of agent load: the standard deviation of agents' occupancy around their own
    /// group's mean, pooled over groups (0 = every agent in a group equally loaded).
    pub occupancy_spread: f64,
}

/// One queue's figures over the measured period (or every queue's, for `overall`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QueueFigures {
    pub queue: String,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    /// Refused at the door (queue full) or expired (max wait).
    pub refused: u64,
    pub expired: u64,
    /// Still waiting or being offered when the run ended: in no other count.
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
}

/// One agent group's load over the measured period.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GroupFigures {
    pub group: String,
    pub agents: usize,
    /// (handling + wrap-up) / logged-in time, over the group.
    pub occupancy: f64,
    /// Capacity in use / capacity (below occupancy where agents hold several chats).
    pub utilisation: f64,
    pub occupancy_min: f64,
    pub occupancy_max: f64,
    /// Contacts completed by the group's agents.
    pub handled: u64,
}

/// The state of the measurement window.
pub(super) struct Measurements {
    /// Engine counters per queue (scenario order) and agent clocks (agent order) at the start
    /// of the window.
    counters_at_start: Vec<QueueCounters>,
    clocks_at_start: Vec<(OccupancyTotals, u64)>,
    waits: Vec<Vec<u64>>,
}

impl Measurements {
    pub(super) fn new(scenario: &Scenario) -> Measurements {
        Measurements {
            counters_at_start: vec![QueueCounters::default(); scenario.queues.len()],
            clocks_at_start: Vec::new(),
            waits: vec![Vec::new(); scenario.queues.len()],
        }
    }

    /// The warm-up is over: what happened so far is not counted.
    pub(super) fn start(&mut self, scenario: &Scenario, agents: &[Arc<str>], engine: &Engine) {
        self.counters_at_start = queue_counters(scenario, engine);
        self.clocks_at_start = agent_clocks(agents, engine);
        for w in &mut self.waits {
            w.clear();
        }
    }

    /// A contact of queue `q` stopped waiting after `waited_ms`.
    pub(super) fn wait(&mut self, q: usize, waited_ms: u64) {
        self.waits[q].push(waited_ms);
    }

    /// The figures from the start of the window to the engine's present.
    pub(super) fn report(
        mut self,
        scenario: &Scenario,
        agents: &[Arc<str>],
        engine: &Engine,
    ) -> SimReport {
        let counters = queue_counters(scenario, engine);
        let snapshots = engine.queue_snapshots();
        let mut queues = Vec::new();
        let mut total = QueueCounters::default();
        let mut all_waits = Vec::new();
        let mut waiting_total = 0;
        for (i, q) in scenario.queues.iter().enumerate() {
            let window = counters[i].since(&self.counters_at_start[i]);
            let waiting = snapshots
                .iter()
                .find(|s| s.config.name == q.name)
                .map_or(0, |s| s.waiting + s.offered_now);
            waiting_total += waiting;
            total.add(&window);
            all_waits.extend_from_slice(&self.waits[i]);
            queues.push(figures(&q.name, &window, waiting, &mut self.waits[i]));
        }
        let overall = figures("overall", &total, waiting_total, &mut all_waits);
        let clocks = agent_clocks(agents, engine);
        let mut groups = Vec::new();
        let mut squares = 0.0;
        let mut agents_counted = 0usize;
        let mut first = 0;
        for g in &scenario.groups {
            let range = first..first + g.count;
            first += g.count;
            let mut sum = OccupancyTotals::default();
            let mut handled = 0;
            let mut each = Vec::new();
            for a in range {
                let window = clocks[a].0.since(&self.clocks_at_start[a].0);
                sum.add(&window);
                handled += clocks[a].1 - self.clocks_at_start[a].1;
                if window.logged_in_ms > 0 {
                    each.push(window.occupancy());
                }
            }
            let mean = each.iter().sum::<f64>() / each.len().max(1) as f64;
            squares += each.iter().map(|o| (o - mean).powi(2)).sum::<f64>();
            agents_counted += each.len();
            groups.push(GroupFigures {
                group: g.name.clone(),
                agents: g.count,
                occupancy: sum.occupancy(),
                utilisation: sum.utilisation(),
                occupancy_min: each.iter().copied().reduce(f64::min).unwrap_or(0.0),
                occupancy_max: each.iter().copied().reduce(f64::max).unwrap_or(0.0),
                handled,
            });
        }
        SimReport {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            hours: scenario.duration_secs / 3600.0,
            warm_up_minutes: scenario.warm_up_secs / 60.0,
            strategy: scenario.strategy_labels(),
            queues,
            overall,
            groups,
            occupancy_spread: (squares / agents_counted.max(1) as f64).sqrt(),
        }
    }
}

/// Each queue's counters, in scenario order.
fn queue_counters(scenario: &Scenario, engine: &Engine) -> Vec<QueueCounters> {
    let snapshots = engine.queue_snapshots();
    scenario
        .queues
        .iter()
        .map(|q| {
            snapshots
                .iter()
                .find(|s| s.config.name == q.name)
                .map_or_else(QueueCounters::default, |s| s.counters.clone())
        })
        .collect()
}

/// Each agent's occupancy sums and handled count, in `agents` order.
fn agent_clocks(agents: &[Arc<str>], engine: &Engine) -> Vec<(OccupancyTotals, u64)> {
    agents
        .iter()
        .map(|id| {
            engine
                .agent_view(id)
                .map_or((OccupancyTotals::default(), 0), |a| {
                    (a.occupancy, a.handled)
                })
        })
        .collect()
}

fn figures(name: &str, c: &QueueCounters, waiting: u32, waits: &mut [u64]) -> QueueFigures {
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
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

impl SimReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    /// A readable table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario {} · seed {} · {} h measured after {} min warm-up · strategy {}\n",
            self.scenario, self.seed, self.hours, self.warm_up_minutes, self.strategy
        );
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>8} {:>8} {:>7}",
            "queue",
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
        for q in self.queues.iter().chain([&self.overall]) {
            let _ = writeln!(
                out,
                "{:<16} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7.1} {:>8.1} {:>8.1} {:>8} {:>7}",
                q.queue,
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
        let _ = writeln!(
            out,
            "\n{:<16} {:>6} {:>9} {:>11} {:>8} {:>8} {:>8}",
            "group", "agents", "occupancy", "utilisation", "min", "max", "handled"
        );
        for g in &self.groups {
            let _ = writeln!(
                out,
                "{:<16} {:>6} {:>9} {:>11} {:>8} {:>8} {:>8}",
                g.group,
                g.agents,
                pct(g.occupancy),
                pct(g.utilisation),
                pct(g.occupancy_min),
                pct(g.occupancy_max),
                g.handled
            );
        }
        let _ = writeln!(
            out,
            "\noccupancy spread (sd of agents' occupancy within their group): {:.1} points",
            self.occupancy_spread * 100.0
        );
        out
    }
}

/// Several runs of one scenario side by side, one column per strategy.
pub fn compare_table(reports: &[SimReport]) -> String {
    let Some(first) = reports.first() else {
        return String::new();
    };
    let width = reports
        .iter()
        .map(|r| r.strategy.len())
        .max()
        .unwrap_or(0)
        .max(10);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} · seed {} · {} h measured after {} min warm-up · same traffic in every column\n",
        first.scenario, first.seed, first.hours, first.warm_up_minutes
    );
    let mut row = |label: &str, cell: &dyn Fn(&SimReport) -> String| {
        let _ = write!(out, "{label:<34}");
        for r in reports {
            let _ = write!(out, " {:>width$}", cell(r));
        }
        out.push('\n');
    };
    row("", &|r| r.strategy.clone());
    row("overall sl_answered", &|r| pct(r.overall.sl_answered));
    row("overall sl_offered", &|r| pct(r.overall.sl_offered));
    row("overall sl_excl_short_abandons", &|r| {
        pct(r.overall.sl_excl_short_abandons)
    });
    row("overall ASA s", &|r| format!("{:.1}", r.overall.asa_s));
    row("overall p90 wait s", &|r| {
        format!("{:.1}", r.overall.p90_wait_s)
    });
    row("overall abandon rate", &|r| pct(r.overall.abandon_rate));
    row("occupancy spread (points)", &|r| {
        format!("{:.1}", r.occupancy_spread * 100.0)
    });
    for (i, q) in first.queues.iter().enumerate() {
        row(&format!("{} sl_answered", q.queue), &|r| {
            pct(r.queues[i].sl_answered)
        });
        row(&format!("{} abandon rate", q.queue), &|r| {
            pct(r.queues[i].abandon_rate)
        });
    }
    for (i, g) in first.groups.iter().enumerate() {
        row(&format!("{} occupancy", g.group), &|r| {
            pct(r.groups[i].occupancy)
        });
        row(&format!("{} utilisation", g.group), &|r| {
            pct(r.groups[i].utilisation)
        });
    }
    out
}
