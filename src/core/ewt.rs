//! Estimated wait time (EWT): what an IVR announces to a caller entering a queue, and what
//! `GetContact` tells a frontend about a contact still waiting (for the rest of its wait, as for a
//! newcomer at its place). Four delay predictors, `answer-rate` being the one routerd always had;
//! each queue picks one (`wait_estimator`, default `head-of-line`: the smallest error on most
//! shipped scenarios, see the README's "Estimated wait").
//!
//! | name | predicts a newcomer at position `n` (1 = next) waits | after |
//! | --- | --- | --- |
//! | `answer-rate` | `n` × the mean time between the queue's last 32 answers | — |
//! | `queue-length` | Σᵢ₌₀ⁿ⁻¹ 1 / (r + i·θ): `r` the recent answer rate, `θ` the abandonment rate per waiting customer (abandons ÷ total time waited); each customer ahead leaves by being answered or by giving up | Ibrahim & Whitt's QL with abandonment |
//! | `head-of-line` | how long the contact at the head of the queue has waited so far | Ibrahim & Whitt's HOL |
//! | `last-to-enter` | how long the last answered contact had waited | Ibrahim & Whitt's LES |
//!
//! (R. Ibrahim and W. Whitt, "Real-time delay estimation based on delay history", MSOM 11(3),
//! 2009, and "Real-time delay estimation in overloaded multiserver queues with abandonments",
//! Management Science 55(10), 2009.)
//!
//! Invariants: position 0 (offered at once) estimates 0 under every predictor; an estimate is
//! `None` while its inputs are unknown (fewer than two recent answers; no answer yet; nobody
//! waiting), never a guess. Every input is kept by [`QueueCounters`] or read from the queue's
//! waiting line, so the estimate is the same on replay.
//!
//! Cost: O(1), except `queue-length`, which sums one term per contact ahead up to
//! [`EXACT_TERMS`] and integrates the rest (relative error under 10⁻⁶ for the tail).
//!
//! Known limits: the answer rate is the queue's own; on a shared pool it moves with the other
//! queues' load, and while nobody waits it is the arrival rate, not the capacity. `head-of-line`
//! and `last-to-enter` ignore the position (by design: they are good when the line is short
//! and the load steady). The simulator reports each predictor's error per queue
//! (`ewt` in its report) so an operator can choose with figures.

use super::stats::QueueCounters;
use super::types::Millis;

/// A delay predictor (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitEstimator {
    AnswerRate,
    QueueLength,
    HeadOfLine,
    LastToEnter,
}

/// Terms of the `queue-length` sum computed one by one; the rest are integrated.
pub const EXACT_TERMS: u32 = 256;

impl WaitEstimator {
    pub const ALL: [WaitEstimator; 4] = [
        WaitEstimator::AnswerRate,
        WaitEstimator::QueueLength,
        WaitEstimator::HeadOfLine,
        WaitEstimator::LastToEnter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WaitEstimator::AnswerRate => "answer-rate",
            WaitEstimator::QueueLength => "queue-length",
            WaitEstimator::HeadOfLine => "head-of-line",
            WaitEstimator::LastToEnter => "last-to-enter",
        }
    }

    pub fn parse(name: &str) -> Option<WaitEstimator> {
        WaitEstimator::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The estimated wait of a contact at 1-based `position` (0: offered at once), with the
    /// queue's `counters` and the wait so far of the contact at the head of its line.
    pub fn estimate(
        self,
        counters: &QueueCounters,
        position: u32,
        head_waited_ms: Option<u64>,
        now: Millis,
    ) -> Option<u64> {
        if position == 0 {
            return Some(0);
        }
        match self {
            WaitEstimator::AnswerRate => counters.estimated_wait(position, now),
            WaitEstimator::QueueLength => {
                let rate = counters.answer_rate_per_ms(now)?;
                let theta = counters.abandon_rate_per_ms();
                Some(queue_length_sum(rate, theta, position).round() as u64)
            }
            WaitEstimator::HeadOfLine => head_waited_ms,
            WaitEstimator::LastToEnter => counters.last_answer_wait_ms,
        }
    }
}

/// Σᵢ₌₀ⁿ⁻¹ 1 / (r + i·θ), exactly for the first [`EXACT_TERMS`] terms and by the midpoint
/// integral for the rest.
fn queue_length_sum(rate: f64, theta: f64, n: u32) -> f64 {
    if theta <= 0.0 {
        return f64::from(n) / rate;
    }
    let exact = n.min(EXACT_TERMS);
    let mut sum: f64 = (0..exact)
        .map(|i| 1.0 / (rate + f64::from(i) * theta))
        .sum();
    if n > exact {
        // ∫ from exact − ½ to n − ½ of di / (r + iθ).
        let from = rate + (f64::from(exact) - 0.5) * theta;
        let to = rate + (f64::from(n) - 0.5) * theta;
        sum += (to / from).ln() / theta;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in WaitEstimator::ALL {
            assert_eq!(WaitEstimator::parse(e.name()), Some(e));
        }
        assert_eq!(WaitEstimator::parse("guess"), None);
    }

    #[test]
    fn the_queue_length_sum_is_exact_then_integrated_closely() {
        // No abandonment: n / r.
        assert_eq!(queue_length_sum(0.5, 0.0, 10), 20.0);
        let brute = |r: f64, t: f64, n: u32| (0..n).map(|i| 1.0 / (r + i as f64 * t)).sum::<f64>();
        assert_eq!(queue_length_sum(1.0, 0.1, 5), brute(1.0, 0.1, 5));
        for n in [EXACT_TERMS + 1, 1_000, 100_000] {
            let (got, want) = (queue_length_sum(0.02, 0.001, n), brute(0.02, 0.001, n));
            assert!((got - want).abs() / want < 1e-6, "n {n}: {got} vs {want}");
        }
    }

    #[test]
    fn each_predictor_reads_its_inputs() {
        let mut c = QueueCounters::default();
        let threshold = 20_000;
        // Answers at 0, 10, 20 s (the last after waiting 7 s); one abandon after 30 s.
        c.record_answer(1_000, threshold, 0);
        c.record_answer(2_000, threshold, 10_000);
        c.record_answer(7_000, threshold, 20_000);
        c.record_abandon(30_000, threshold);
        let now = 30_000;
        let est = |e: WaitEstimator, position| e.estimate(&c, position, Some(12_000), now);
        for e in WaitEstimator::ALL {
            assert_eq!(est(e, 0), Some(0), "{}", e.name());
        }
        // Three answers over 30 s: 10 s each.
        assert_eq!(est(WaitEstimator::AnswerRate, 2), Some(20_000));
        // r = 1/10 s; θ = 1 abandon / 40 s waited. 10 + 1/(0.1 + 0.025) = 18 s.
        assert_eq!(est(WaitEstimator::QueueLength, 2), Some(18_000));
        assert_eq!(est(WaitEstimator::HeadOfLine, 5), Some(12_000));
        assert_eq!(est(WaitEstimator::LastToEnter, 5), Some(7_000));
        // Unknown inputs give no estimate.
        let empty = QueueCounters::default();
        for e in WaitEstimator::ALL {
            assert_eq!(e.estimate(&empty, 1, None, now), None, "{}", e.name());
        }
    }
}
