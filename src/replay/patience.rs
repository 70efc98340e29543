//! Customers' patience, estimated from what a recording shows of it: an abandoned customer's
//! patience is the wait they had (an event); an answered, withdrawn or called-back customer's is
//! only known to exceed the wait they had (censored). The Kaplan–Meier estimator uses both; a
//! draw beyond the largest observed abandonment continues with an exponential tail whose rate
//! is the maximum-likelihood one for the censored data (abandonments ÷ total time waited).
//!
//! Invariants: the survival curve starts at 1 and never rises; a draw conditioned on
//! "more than `w`" is never below `w`; with no abandonment at all, patience is unbounded.
//! Cost: O(n log n) to build for n observations, O(log n) per draw.

/// The patience of one queue's customers, as a survival curve.
#[derive(Clone, Debug, Default)]
pub struct Patience {
    /// Distinct abandonment times (ms), increasing, and the survival just after each.
    steps: Vec<(u64, f64)>,
    /// The exponential tail's rate per ms beyond the last step (0: no abandonment seen).
    tail_rate: f64,
}

impl Patience {
    /// From waits (ms) and whether each ended in abandonment.
    pub fn estimate(observations: &mut [(u64, bool)]) -> Patience {
        // At equal times abandonments come first: a customer censored at t was still there.
        observations.sort_by_key(|&(t, abandoned)| (t, !abandoned));
        let total_waited: f64 = observations.iter().map(|&(t, _)| t as f64).sum();
        let abandonments = observations.iter().filter(|(_, a)| *a).count();
        let mut at_risk = observations.len() as f64;
        let mut survival = 1.0;
        let mut steps: Vec<(u64, f64)> = Vec::new();
        let mut i = 0;
        while i < observations.len() {
            let t = observations[i].0;
            let (mut events, mut leaving) = (0.0, 0.0);
            while i < observations.len() && observations[i].0 == t {
                events += f64::from(u8::from(observations[i].1));
                leaving += 1.0;
                i += 1;
            }
            if events > 0.0 {
                survival *= 1.0 - events / at_risk;
                steps.push((t, survival));
            }
            at_risk -= leaving;
        }
        let tail_rate = if abandonments == 0 || total_waited <= 0.0 {
            0.0
        } else {
            abandonments as f64 / total_waited
        };
        Patience { steps, tail_rate }
    }

    /// The estimated chance that a customer is still waiting after `t` ms.
    pub fn survival(&self, t: u64) -> f64 {
        let last_before = self.steps.partition_point(|&(at, _)| at <= t);
        if last_before == 0 {
            return 1.0;
        }
        let (at, s) = self.steps[last_before - 1];
        if last_before == self.steps.len() && self.tail_rate > 0.0 {
            // Beyond the last abandonment seen: the exponential tail.
            return s * (-(self.tail_rate * (t - at) as f64)).exp();
        }
        s
    }

    /// A patience (ms) for a customer known to have waited more than `beyond` ms, from a
    /// uniform draw `u` in (0, 1]; `None`: this customer would never abandon.
    pub fn draw_beyond(&self, beyond: u64, u: f64) -> Option<u64> {
        let target = self.survival(beyond) * u.clamp(f64::MIN_POSITIVE, 1.0);
        // The first step after `beyond` where survival falls to the target.
        let from = self.steps.partition_point(|&(at, _)| at <= beyond);
        if let Some(&(at, _)) = self.steps[from..].iter().find(|(_, s)| *s <= target) {
            return Some(at.max(beyond + 1));
        }
        if self.tail_rate <= 0.0 {
            return None;
        }
        // In the tail: survival(t) = s_last · exp(-rate · (t - t_last)), from where we stand.
        let (anchor, s_anchor) = match self.steps.last() {
            Some(&(at, s)) if at > beyond => (at, s),
            _ => (beyond, self.survival(beyond)),
        };
        if s_anchor <= 0.0 {
            return Some(anchor.max(beyond + 1));
        }
        let more = -(target / s_anchor).ln() / self.tail_rate;
        Some(anchor + more.max(0.0).round() as u64).map(|t| t.max(beyond + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaplan_meier_matches_a_hand_worked_example() {
        // Abandoned at 10, 20, 20; censored at 15 and 30. At risk: 5 at 10 (one leaves:
        // 4/5), the censored one at 15 leaves, 3 at risk at 20 (two leave: 1/3).
        let mut obs = vec![(10, true), (15, false), (20, true), (20, true), (30, false)];
        let p = Patience::estimate(&mut obs);
        assert!((p.survival(9) - 1.0).abs() < 1e-12);
        assert!((p.survival(10) - 0.8).abs() < 1e-12);
        assert!((p.survival(19) - 0.8).abs() < 1e-12);
        assert!((p.survival(20) - 0.8 / 3.0).abs() < 1e-12);
        // The tail after 20: rate 3 abandonments / 95 ms waited.
        let beyond = p.survival(40);
        assert!((beyond - 0.8 / 3.0 * (-(3.0 / 95.0) * 20.0f64).exp()).abs() < 1e-12);
    }

    #[test]
    fn a_draw_beyond_a_wait_is_longer_than_it_and_follows_the_curve() {
        let mut obs: Vec<(u64, bool)> = (1..=100).map(|t| (t * 1_000, t % 2 == 0)).collect();
        let p = Patience::estimate(&mut obs);
        for k in 1..100 {
            let u = k as f64 / 100.0;
            let d = p.draw_beyond(30_000, u).expect("abandonment was seen");
            assert!(d > 30_000, "{d}");
        }
        // The median of the unconditioned draw is where survival crosses one half.
        let median = p.draw_beyond(0, 0.5).unwrap();
        assert!(p.survival(median) <= 0.5 && p.survival(median - 1) > 0.5);
        // Drawing with a smaller u gives a longer patience.
        assert!(p.draw_beyond(0, 0.1).unwrap() >= p.draw_beyond(0, 0.9).unwrap());
    }

    #[test]
    fn with_no_abandonment_patience_has_no_end() {
        let mut obs = vec![(5_000, false), (8_000, false)];
        let p = Patience::estimate(&mut obs);
        assert_eq!(p.draw_beyond(0, 0.01), None);
        assert_eq!(p.survival(1_000_000), 1.0);
    }

    #[test]
    fn exponential_patience_is_recovered_from_censored_waits() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mean = 60_000.0;
        // Patience exponential (mean 60 s); each customer is answered after a uniform 0-120 s
        // wait unless they abandon first.
        let mut obs: Vec<(u64, bool)> = (0..20_000)
            .map(|_| {
                let patience = -mean * (1.0 - rng.random::<f64>()).ln();
                let answer = rng.random::<f64>() * 120_000.0;
                if patience < answer {
                    (patience as u64, true)
                } else {
                    (answer as u64, false)
                }
            })
            .collect();
        let p = Patience::estimate(&mut obs);
        for t in [30_000u64, 60_000, 90_000] {
            let truth = (-(t as f64) / mean).exp();
            assert!(
                (p.survival(t) - truth).abs() < 0.02,
                "at {t}: {}",
                p.survival(t)
            );
        }
    }
}
