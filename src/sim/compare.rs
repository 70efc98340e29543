//! Strategies side by side, over replications: each strategy (a column) runs the same scenario
//! on seeds `seed, seed + 1, …`, and every figure is reported as a mean with its 95 %
//! confidence interval; against the first column, each other column's difference is estimated
//! pair by pair (same seed, so the same customers), which is far tighter than comparing two
//! intervals, and marked where it is more than noise.
//!
//! Invariants:
//! - The runs are independent (one engine each) and may go in parallel, but results are placed
//!   by (column, replication), never by finishing order: the same command gives the same bytes.
//! - With one replication there is no interval to give, and none is shown or invented.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::report::{SimReport, pct};
use super::run::run;
use super::scenario::Scenario;

/// At most this many replications per strategy.
pub const MAX_REPLICATIONS: u32 = 1_000;

/// One scenario run under several strategies, several times each.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub replications: u32,
    /// Column by column: the strategy's label and its runs, replication by replication.
    pub columns: Vec<Column>,
}

#[derive(Clone, Debug)]
pub struct Column {
    pub strategy: String,
    pub runs: Vec<SimReport>,
}

/// Runs `scenario` under each strategy in `choices` (`agent` or `agent/contact`; none: the
/// scenario's own), `replications` times each on consecutive seeds from the scenario's.
pub fn compare(
    scenario: &Scenario,
    choices: &[String],
    replications: u32,
) -> anyhow::Result<Comparison> {
    anyhow::ensure!(
        (1..=MAX_REPLICATIONS).contains(&replications),
        "replications must be between 1 and {MAX_REPLICATIONS}, not {replications}"
    );
    let variants = if choices.is_empty() {
        vec![scenario.clone()]
    } else {
        choices
            .iter()
            .map(|choice| scenario.with_strategy(choice))
            .collect::<anyhow::Result<_>>()?
    };
    let mut runs = Vec::new();
    for variant in &variants {
        for r in 0..replications {
            let mut s = variant.clone();
            s.seed = scenario.seed.wrapping_add(u64::from(r));
            runs.push(s);
        }
    }
    let mut reports = run_all(&runs).into_iter();
    let mut columns = Vec::new();
    for variant in &variants {
        let runs = reports
            .by_ref()
            .take(replications as usize)
            .collect::<anyhow::Result<Vec<_>>>()?;
        columns.push(Column {
            strategy: variant.strategy_labels(),
            runs,
        });
    }
    Ok(Comparison {
        replications,
        columns,
    })
}

/// Runs every scenario, as many at once as the machine has cores; results in input order.
pub fn run_all(scenarios: &[Scenario]) -> Vec<anyhow::Result<SimReport>> {
    let n = scenarios.len();
    let workers = std::thread::available_parallelism()
        .map_or(1, |c| c.get())
        .clamp(1, n.max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<anyhow::Result<SimReport>>> = (0..n).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(scenario) = scenarios.get(i) else {
                            return done;
                        };
                        done.push((i, run(scenario)));
                    }
                })
            })
            .collect();
        for handle in handles {
            let done = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, report) in done {
                results[i] = Some(report);
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every scenario was run by a worker"))
        .collect()
}

/// How a figure is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// A fraction shown as a percentage; differences in points.
    Share,
    Seconds,
    /// A fraction shown ×100 without the sign (the occupancy spread, in points).
    Points,
    /// A number of contacts.
    Count,
}

/// One row of the comparison: a name and how to read it off a report.
struct Figure {
    name: String,
    unit: Unit,
    read: Box<dyn Fn(&SimReport) -> f64>,
}

fn figure(name: String, unit: Unit, read: impl Fn(&SimReport) -> f64 + 'static) -> Figure {
    Figure {
        name,
        unit,
        read: Box::new(read),
    }
}

/// The figures compared: overall service, fairness, then each queue and each group of `first`.
fn figures(first: &SimReport) -> Vec<Figure> {
    use Unit::*;
    let mut out = vec![
        figure("overall sl_answered".into(), Share, |r| {
            r.overall.sl_answered
        }),
        figure("overall sl_offered".into(), Share, |r| r.overall.sl_offered),
        figure("overall sl_excl_short_abandons".into(), Share, |r| {
            r.overall.sl_excl_short_abandons
        }),
        figure("overall ASA s".into(), Seconds, |r| r.overall.asa_s),
        figure("overall p90 wait s".into(), Seconds, |r| {
            r.overall.p90_wait_s
        }),
        figure("overall abandon rate".into(), Share, |r| {
            r.overall.abandon_rate
        }),
        figure("occupancy spread (points)".into(), Points, |r| {
            r.occupancy_spread
        }),
        figure("overall first-contact resolution".into(), Share, |r| {
            r.overall.first_contact_resolution
        }),
    ];
    if first.overall.repeats > 0 {
        out.push(figure("overall repeats".into(), Count, |r| {
            r.overall.repeats as f64
        }));
        out.push(figure("overall repeats to same agent".into(), Share, |r| {
            r.overall.repeats_to_same_agent
        }));
    }
    for (e, estimate) in first.overall.ewt.iter().enumerate() {
        out.push(figure(
            format!("overall EWT MAE s, {}", estimate.estimator),
            Seconds,
            move |r| r.overall.ewt[e].mae_s,
        ));
    }
    for (i, q) in first.queues.iter().enumerate() {
        out.push(figure(
            format!("{} sl_answered", q.queue),
            Share,
            move |r| r.queues[i].sl_answered,
        ));
        out.push(figure(format!("{} sl_offered", q.queue), Share, move |r| {
            r.queues[i].sl_offered
        }));
        out.push(figure(
            format!("{} abandon rate", q.queue),
            Share,
            move |r| r.queues[i].abandon_rate,
        ));
        if q.bot_contained + q.bot_escalated > 0 {
            out.push(figure(
                format!("{} containment", q.queue),
                Share,
                move |r| r.queues[i].containment,
            ));
        }
    }
    for (i, g) in first.groups.iter().enumerate() {
        out.push(figure(format!("{} occupancy", g.group), Share, move |r| {
            r.groups[i].occupancy
        }));
        out.push(figure(
            format!("{} utilisation", g.group),
            Share,
            move |r| r.groups[i].utilisation,
        ));
    }
    out
}

/// A mean over replications and the half-width of its 95 % confidence interval (none from a
/// single replication).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub half_width: Option<f64>,
}

impl Estimate {
    pub fn of(xs: &[f64]) -> Estimate {
        let n = xs.len();
        let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
        let half_width = (n >= 2).then(|| {
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            student_t_975(n as u32 - 1) * (var / n as f64).sqrt()
        });
        Estimate { mean, half_width }
    }

    /// The interval leaves 0 out: a difference beyond noise.
    fn excludes_zero(&self) -> bool {
        self.half_width.is_some_and(|h| self.mean.abs() > h)
    }
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom (a two-sided 95 %
/// interval): tabulated to 30, then the Cornish-Fisher expansion (within 0.001 beyond).
fn student_t_975(df: u32) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df as usize - 1],
        _ => {
            let z: f64 = 1.959_964;
            let v = f64::from(df);
            z + (z.powi(3) + z) / (4.0 * v)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
        }
    }
}

fn show(unit: Unit, e: &Estimate) -> String {
    let (value, scale) = match unit {
        Unit::Share => (pct(e.mean), 100.0),
        Unit::Seconds => (format!("{:.1}", e.mean), 1.0),
        Unit::Points => (format!("{:.1}", e.mean * 100.0), 100.0),
        Unit::Count => (format!("{:.0}", e.mean), 1.0),
    };
    match e.half_width {
        Some(h) if unit == Unit::Count => format!("{value} ±{h:.0}"),
        Some(h) => format!("{value} ±{:.1}", h * scale),
        None => value,
    }
}

fn show_difference(unit: Unit, d: &Estimate) -> String {
    let scale = match unit {
        Unit::Seconds | Unit::Count => 1.0,
        Unit::Share | Unit::Points => 100.0,
    };
    // A difference that rounds to nothing is shown as +0.0, whatever its sign.
    let mean = d.mean * scale;
    let mean = if mean.abs() < 0.05 { 0.0 } else { mean };
    let mark = if d.excludes_zero() { " *" } else { "  " };
    match d.half_width {
        Some(h) => format!("{mean:+.1} ±{:.1}{mark}", h * scale),
        None => format!("{mean:+.1}"),
    }
}

#[derive(Serialize)]
struct FigureJson {
    figure: String,
    #[serde(flatten)]
    estimate: Estimate,
    /// This column minus the first, paired by seed (absent in the first column).
    #[serde(skip_serializing_if = "Option::is_none")]
    difference: Option<Estimate>,
}

#[derive(Serialize)]
struct ColumnJson<'a> {
    strategy: &'a str,
    figures: Vec<FigureJson>,
    runs: &'a [SimReport],
}

#[derive(Serialize)]
struct ComparisonJson<'a> {
    scenario: &'a str,
    seeds: [u64; 2],
    replications: u32,
    confidence: f64,
    columns: Vec<ColumnJson<'a>>,
}

impl Comparison {
    fn first(&self) -> Option<&SimReport> {
        self.columns.first().and_then(|c| c.runs.first())
    }

    /// The first replication of every column: the single runs when there is one replication.
    pub fn first_runs(&self) -> Vec<&SimReport> {
        self.columns.iter().filter_map(|c| c.runs.first()).collect()
    }

    fn seeds(&self) -> [u64; 2] {
        let first = self.first().map_or(0, |r| r.seed);
        [first, first.wrapping_add(u64::from(self.replications) - 1)]
    }

    /// Column `c`'s estimate of `f`, and its paired difference from the first column.
    fn estimates(&self, f: &Figure, c: usize) -> (Estimate, Option<Estimate>) {
        let values = |c: usize| -> Vec<f64> { self.columns[c].runs.iter().map(&f.read).collect() };
        let mine = values(c);
        let difference = (c > 0).then(|| {
            let base = values(0);
            let d: Vec<f64> = mine.iter().zip(&base).map(|(x, b)| x - b).collect();
            Estimate::of(&d)
        });
        (Estimate::of(&mine), difference)
    }

    /// One row per figure, one column per strategy; with replications, each cell is a mean
    /// and its 95 % half-width, followed by the paired differences from the first column.
    pub fn to_table(&self) -> String {
        let Some(first) = self.first() else {
            return String::new();
        };
        let figures = figures(first);
        let width = self
            .columns
            .iter()
            .map(|c| c.strategy.len())
            .max()
            .unwrap_or(0)
            .max(14);
        let mut out = String::new();
        let [from, to] = self.seeds();
        let seeds = if self.replications == 1 {
            format!("seed {from}")
        } else {
            format!("seeds {from}-{to}")
        };
        let _ = writeln!(
            out,
            "scenario {} · {seeds} · {} h measured after {} min warm-up · same traffic in every column",
            first.scenario, first.hours, first.warm_up_minutes
        );
        if self.replications > 1 {
            let _ = writeln!(
                out,
                "each cell: mean ± half-width of its 95 % confidence interval over {} replications",
                self.replications
            );
        }
        out.push('\n');
        let header = |out: &mut String, columns: &[Column]| {
            let _ = write!(out, "{:<34}", "");
            for c in columns {
                let _ = write!(out, " {:>width$}", c.strategy);
            }
            out.push('\n');
        };
        header(&mut out, &self.columns);
        for f in &figures {
            let _ = write!(out, "{:<34}", f.name);
            for c in 0..self.columns.len() {
                let _ = write!(out, " {:>width$}", show(f.unit, &self.estimates(f, c).0));
            }
            out.push('\n');
        }
        if self.replications > 1 && self.columns.len() > 1 {
            let _ = writeln!(
                out,
                "\ndifference from {}, paired by seed, in points, seconds or contacts (* where the 95 % interval excludes 0)\n",
                self.columns[0].strategy
            );
            header(&mut out, &self.columns[1..]);
            for f in &figures {
                let _ = write!(out, "{:<34}", f.name);
                for c in 1..self.columns.len() {
                    let d = self
                        .estimates(f, c)
                        .1
                        .expect("a later column has a difference");
                    let _ = write!(out, " {:>width$}", show_difference(f.unit, &d));
                }
                out.push('\n');
            }
        }
        out
    }

    /// Every column's estimates, differences and runs, for machines.
    pub fn to_json(&self) -> String {
        let Some(first) = self.first() else {
            return "{}".into();
        };
        let figures = figures(first);
        let columns = (0..self.columns.len())
            .map(|c| ColumnJson {
                strategy: &self.columns[c].strategy,
                figures: figures
                    .iter()
                    .map(|f| {
                        let (estimate, difference) = self.estimates(f, c);
                        FigureJson {
                            figure: f.name.clone(),
                            estimate,
                            difference,
                        }
                    })
                    .collect(),
                runs: &self.columns[c].runs,
            })
            .collect();
        serde_json::to_string_pretty(&ComparisonJson {
            scenario: &first.scenario,
            seeds: self.seeds(),
            replications: self.replications,
            confidence: 0.95,
            columns,
        })
        .expect("a comparison serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_t_matches_its_table_and_tends_to_the_normal() {
        assert_eq!(student_t_975(9), 2.262);
        // Published values: t(0.975; 40) = 2.021, t(0.975; 120) = 1.980.
        assert!((student_t_975(40) - 2.021).abs() < 0.001);
        assert!((student_t_975(120) - 1.980).abs() < 0.001);
        assert!((student_t_975(31) - 2.040).abs() < 0.001);
        assert!((student_t_975(1_000_000) - 1.960).abs() < 0.001);
    }

    #[test]
    fn an_estimate_has_an_interval_only_from_two_values_on() {
        let one = Estimate::of(&[0.5]);
        assert_eq!(one.mean, 0.5);
        assert_eq!(one.half_width, None);
        assert!(!one.excludes_zero());
        // Mean 2, sd 1 over 4 values: 3.182 × 1/2.
        let four = Estimate::of(&[1.0, 2.0, 2.0, 3.0]);
        let sd = (2.0f64 / 3.0).sqrt();
        assert_eq!(four.mean, 2.0);
        assert!((four.half_width.unwrap() - 3.182 * sd / 2.0).abs() < 1e-12);
        assert!(four.excludes_zero());
        assert!(!Estimate::of(&[-1.0, 1.0, -1.0, 1.0]).excludes_zero());
    }
}
