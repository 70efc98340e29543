//! The simulator — and so the engine's statistics, which it reports — checked against queueing
//! theory: every row of `tests/reference/erlang.csv` (Erlang C, M/M/N with no abandonment;
//! Erlang A, M/M/N+M with exponential patience) reproduced by one queue, one skill, N agents and
//! longest-idle routing.
//!
//! Method: R independent replications (seeds 1..=R), each a warm-up then H measured hours. Each
//! figure's estimate is the mean over replications; its 99 % confidence interval is
//! mean ± 2.58 × sd / √R (replications are independent, so this is honest even though waits
//! within one run are correlated). The check passes when the reference value lies inside that
//! interval widened by a small bias allowance (ASA is reported to the millisecond, service level
//! counts a wait of exactly T as within T), and the interval is narrow enough to mean something:
//! half-width at most 0.04 for probabilities, 20 % of the reference (or 2 s) for ASA (at
//! 91 % load, Erlang C's first row, the mean wait is the slowest figure to settle).
//!
//! `cargo test --test erlang` runs the CI-sized check (R = 20, H = 24: about 20 s in a debug
//! build); `cargo test --release --test erlang -- --ignored` runs the long one (R = 100,
//! H = 96) and prints the intervals it achieves.

use routerd::core::{Channel, QueueConfig};
use routerd::sim::{AgentGroup, HandleTime, Scenario, SimReport, Traffic, run_all};

const REFERENCE: &str = include_str!("reference/erlang.csv");

/// One row of the reference table.
#[derive(Debug)]
struct Row {
    model: String,
    calls_per_hour: f64,
    aht_s: f64,
    agents: usize,
    patience_s: Option<f64>,
    target_s: u32,
    p_wait: f64,
    p_abandon: f64,
    sl_offered: f64,
    sl_answered: f64,
    asa_s: f64,
}

fn rows() -> Vec<Row> {
    let mut lines = REFERENCE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let cell = |name: &str| {
                let i = header.iter().position(|h| *h == name).expect(name);
                cells[i]
            };
            let num = |name: &str| cell(name).parse::<f64>().expect(name);
            Row {
                model: cell("model").to_string(),
                calls_per_hour: num("calls_per_hour"),
                aht_s: num("aht_s"),
                agents: cell("agents").parse().expect("agents"),
                patience_s: cell("patience_s").parse().ok(),
                target_s: cell("target_s").parse().expect("target_s"),
                p_wait: num("p_wait"),
                p_abandon: num("p_abandon"),
                sl_offered: num("sl_offered"),
                sl_answered: num("sl_answered"),
                asa_s: num("asa_s"),
            }
        })
        .collect()
}

fn scenario(row: &Row, seed: u64, hours: f64) -> Scenario {
    let mut queue = QueueConfig::new("erlang");
    queue.sl_threshold_secs = row.target_s;
    Scenario {
        name: format!("{} {} agents", row.model, row.agents),
        seed,
        duration_secs: hours * 3600.0,
        warm_up_secs: 3600.0,
        interval_secs: 1800.0,
        by_interval: false,
        widen_off: false,
        interruptible: None,
        queues: vec![queue],
        traffic: vec![Traffic {
            queue: "erlang".into(),
            channel: Channel::Voice,
            per_hour: vec![row.calls_per_hour],
            handle: HandleTime::Exponential {
                mean_secs: row.aht_s,
            },
            mean_patience_secs: row.patience_s,
            required_skills: Vec::new(),
            alternatives: Vec::new(),
            value_mix: Vec::new(),
            customer_base: None,
            repeat: None,
            transfer: None,
            callback: None,
        }],
        groups: vec![AgentGroup::new("agent", row.agents, Vec::new())],
        customer_bases: Vec::new(),
    }
}

/// Mean and 99 % half-width over replications.
fn interval(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, 2.58 * (var / n).sqrt())
}

/// Runs every row and returns the misses (empty when all agree).
fn check(replications: u64, hours: f64) -> Vec<String> {
    let mut misses = Vec::new();
    for row in rows() {
        let scenarios: Vec<Scenario> = (1..=replications)
            .map(|seed| scenario(&row, seed, hours))
            .collect();
        let reports: Vec<SimReport> = run_all(&scenarios)
            .into_iter()
            .map(|r| r.expect("the run completes"))
            .collect();
        let figure =
            |f: &dyn Fn(&SimReport) -> f64| interval(&reports.iter().map(f).collect::<Vec<_>>());
        let q = |r: &SimReport| r.queues[0].clone();
        let checks = [
            ("p_wait", row.p_wait, figure(&|r| q(r).waited_share), 0.04),
            (
                "p_abandon",
                row.p_abandon,
                figure(&|r| q(r).abandon_rate),
                0.04,
            ),
            (
                "sl_offered",
                row.sl_offered,
                figure(&|r| q(r).sl_offered),
                0.04,
            ),
            (
                "sl_answered",
                row.sl_answered,
                figure(&|r| q(r).sl_answered),
                0.04,
            ),
            (
                "asa_s",
                row.asa_s,
                figure(&|r| q(r).asa_s),
                (0.2 * row.asa_s).max(2.0),
            ),
        ];
        for (name, reference, (mean, half), widest) in checks {
            // Allowance for what the discretisation (whole milliseconds) can shift.
            let bias = if name == "asa_s" { 0.01 } else { 0.002 };
            let inside = (mean - reference).abs() <= half + bias;
            let narrow = half <= widest;
            println!(
                "{:<9} N={:<3} {:<12} reference {:>9.4}  simulated {:>9.4} ± {:<7.4} {}",
                row.model,
                row.agents,
                name,
                reference,
                mean,
                half,
                if inside && narrow { "ok" } else { "MISS" }
            );
            if !inside {
                misses.push(format!(
                    "{} N={} {name}: reference {reference} outside {mean:.4} ± {half:.4}",
                    row.model, row.agents
                ));
            }
            if !narrow {
                misses.push(format!(
                    "{} N={} {name}: the interval ± {half:.4} is too wide to judge (at most {widest})",
                    row.model, row.agents
                ));
            }
        }
    }
    misses
}

#[test]
fn the_reference_table_is_read_whole() {
    let rows = rows();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows.iter().filter(|r| r.model == "erlang_a").count(), 2);
    assert!(
        rows.iter()
            .all(|r| (r.model == "erlang_a") == r.patience_s.is_some())
    );
}

#[test]
fn erlang_c_and_a_are_reproduced() {
    let misses = check(20, 24.0);
    assert!(misses.is_empty(), "{misses:#?}");
}

#[test]
#[ignore = "long: cargo test --release --test erlang -- --ignored --nocapture"]
fn erlang_c_and_a_are_reproduced_closely() {
    let misses = check(100, 96.0);
    assert!(misses.is_empty(), "{misses:#?}");
}
