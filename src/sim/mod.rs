//! Simulation on virtual time: the real [`crate::core::Engine`] — the same code the server runs —
//! driven by generated traffic and simulated agents, so a strategy or a staffing change can be
//! judged before it is switched on, and the engine's statistics checked against queueing theory.
//!
//! - [`scenario`]: the scenario file (queues as in routerd's configuration, traffic per queue,
//!   agent groups) and its validation.
//! - `draws`: the distributions and the seeded generators, one stream per purpose.
//! - [`run`](run()): the discrete-event loop (Poisson arrivals by interval, exponential or
//!   log-normal handle times, exponential patience, shifts, offer acceptance with a delay,
//!   wrap-up by the engine's own timers).
//! - [`report`]: the figures of one run, whole and by interval, as a table or JSON.
//! - [`compare`](compare()): the same scenario under several strategies and over several
//!   seeds, side by side, with confidence intervals and paired differences.
//!
//! Invariants: the same scenario gives the same report, byte for byte; runs of one scenario
//! under different strategies meet the same customers (common random numbers); every figure the
//! server also reports is computed by the server's code.

mod compare;
mod draws;
pub mod report;
mod run;
pub mod scenario;

pub use compare::{Column, Comparison, Estimate, MAX_REPLICATIONS, compare, run_all};
pub use report::{Figures, GroupFigures, IntervalFigures, QueueFigures, SimReport};
pub use run::{record, run};
pub use scenario::{AgentGroup, CustomerBase, HandleTime, MAX_REPEATS, Repeat, Scenario, Traffic};

#[cfg(test)]
mod tests;
