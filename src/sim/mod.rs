//! Simulation on virtual time: the real [`crate::core::Engine`] — the same code the server runs —
//! driven by generated traffic and simulated agents, so a strategy or a staffing change can be
//! judged before it is switched on, and the engine's statistics checked against queueing theory.
//!
//! - [`scenario`]: the scenario file (queues as in routerd's configuration, traffic per queue,
//!   agent groups) and its validation.
//! - [`run`](run()): the discrete-event loop (Poisson arrivals by interval, exponential or
//!   log-normal handle times, exponential patience, shifts, offer acceptance with a delay,
//!   wrap-up by the engine's own timers).
//! - [`report`]: the figures, a table or JSON, and the side-by-side comparison of strategies.
//!
//! Invariants: the same scenario gives the same report, byte for byte; runs of one scenario
//! under different strategies meet the same customers (common random numbers); every figure the
//! server also reports is computed by the server's code.

pub mod report;
mod run;
pub mod scenario;

pub use report::{GroupFigures, QueueFigures, SimReport, compare_table};
pub use run::run;
pub use scenario::{AgentGroup, HandleTime, Scenario, Traffic};

/// Runs `scenario` once per strategy in `choices` (`agent` or `agent/contact`), same seed, same
/// traffic.
pub fn compare(scenario: &Scenario, choices: &[String]) -> anyhow::Result<Vec<SimReport>> {
    anyhow::ensure!(!choices.is_empty(), "name at least one strategy to compare");
    choices
        .iter()
        .map(|choice| run(&scenario.with_strategy(choice)?))
        .collect()
}

#[cfg(test)]
mod tests;
