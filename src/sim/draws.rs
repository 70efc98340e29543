//! The dice: the distributions a simulation draws from and the generators it draws with.
//!
//! Invariant: every generator is a ChaCha8 stream of the scenario's seed, told apart by its
//! stream number — 0 for the agents' answers, 1..=n for the n traffics' arrivals and first
//! contacts, `(traffic + 1) << 40 | number` for one conversation's repeats — so no two draw
//! the same numbers and each is the same in every run of the scenario.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Exp1, LogNormal};

use super::scenario::HandleTime;

/// The generator of the agents' answers to offers.
pub(super) fn desk_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// The generator of traffic `i`'s arrivals and first contacts.
pub(super) fn traffic_rng(seed: u64, i: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(i as u64 + 1);
    rng
}

/// A contact's own draws.
pub(super) struct Draws {
    pub patience: Option<f64>,
    pub work_secs: f64,
    pub resolve_draw: f64,
    /// Drawn only for a traffic that transfers: the second agent's work, if this contact will
    /// be transferred.
    pub transfer_work: Option<f64>,
    /// Drawn only for a traffic whose customers ask for callbacks: after how long this one
    /// asks, if it does.
    pub callback_after: Option<f64>,
}

impl Draws {
    /// The transfer and callback draws of a contact of `traffic`, after its other draws (none
    /// for a traffic without transfers or callbacks, so adding them changes no other draw).
    pub(super) fn share_draws(
        &mut self,
        traffic: &super::scenario::Traffic,
        handle: &Handle,
        rng: &mut ChaCha8Rng,
    ) {
        if let Some(x) = &traffic.transfer {
            let transferred = rng.random::<f64>() < x.share;
            let work = handle.sample(rng);
            self.transfer_work = transferred.then_some(work);
        }
        if let Some(c) = &traffic.callback {
            self.callback_after = (rng.random::<f64>() < c.share).then_some(c.after_secs);
        }
    }
}

/// The generator of one conversation's repeats: a ChaCha8 stream apart from the traffic
/// streams (1..=traffic count) and the desk's (0), for up to 2^40 contacts of a traffic.
pub(super) fn conversation_rng(seed: u64, traffic: usize, number: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((traffic as u64 + 1) << 40) | number);
    rng
}

/// The draws of one traffic stream.
pub(super) struct Stream {
    pub rng: ChaCha8Rng,
    pub handle: Handle,
    pub patience: Option<Exp<f64>>,
}

pub(super) enum Handle {
    Exponential(Exp<f64>),
    LogNormal(LogNormal<f64>),
}

impl Handle {
    pub(super) fn new(h: HandleTime) -> anyhow::Result<Handle> {
        Ok(match h {
            HandleTime::Exponential { mean_secs } => {
                Handle::Exponential(Exp::new(1.0 / mean_secs)?)
            }
            HandleTime::LogNormal { mean_secs, sd_secs } => {
                // The log-normal with this mean and standard deviation.
                let sigma2 = (1.0 + (sd_secs / mean_secs).powi(2)).ln();
                Handle::LogNormal(LogNormal::new(
                    mean_secs.ln() - sigma2 / 2.0,
                    sigma2.sqrt(),
                )?)
            }
        })
    }

    pub(super) fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Handle::Exponential(d) => d.sample(rng),
            Handle::LogNormal(d) => d.sample(rng),
        }
    }
}

/// The next arrival after `t` (seconds) of a Poisson process whose rate per hour is `per_hour[k]`
/// in interval k (the last rate holds to the end): a unit exponential spent across intervals at
/// each interval's rate. `None` when the rate falls to 0 for good.
pub(super) fn next_arrival(
    t: f64,
    per_hour: &[f64],
    interval: f64,
    rng: &mut ChaCha8Rng,
) -> Option<f64> {
    let mut budget: f64 = Exp1.sample(rng);
    let mut t = t;
    let mut k = (t / interval).floor() as usize;
    loop {
        let last = k + 1 >= per_hour.len();
        let rate = per_hour[k.min(per_hour.len() - 1)] / 3600.0;
        if last {
            return (rate > 0.0).then(|| t + budget / rate);
        }
        let end = (k + 1) as f64 * interval;
        if rate > 0.0 && t + budget / rate <= end {
            return Some(t + budget / rate);
        }
        budget -= (end - t).max(0.0) * rate;
        t = end;
        k += 1;
    }
}

/// A customer value drawn from the mix (0 when there is none).
pub(super) fn pick_value(mix: &[(f64, f64)], rng: &mut ChaCha8Rng) -> f64 {
    let total: f64 = mix.iter().map(|(_, share)| share).sum();
    if mix.is_empty() || total <= 0.0 {
        return 0.0;
    }
    let mut x = rng.random::<f64>() * total;
    for (value, share) in mix {
        if x < *share {
            return *value;
        }
        x -= share;
    }
    mix[mix.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_follow_each_interval_rate() {
        // 0 per hour for the first hour, 3600 per hour (one a second) after.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rates = [0.0, 3600.0];
        let mut t = 0.0;
        let mut count = 0;
        while let Some(next) = next_arrival(t, &rates, 3600.0, &mut rng) {
            assert!(next >= 3600.0, "no arrival in a zero-rate interval: {next}");
            if next > 7200.0 {
                break;
            }
            t = next;
            count += 1;
        }
        // Poisson(3600): within 4 standard deviations.
        assert!((3360..=3840).contains(&count), "{count} arrivals");
        // A rate of 0 for good ends the arrivals.
        assert_eq!(next_arrival(10.0, &[5.0, 0.0], 60.0, &mut rng), None);
    }

    #[test]
    fn the_log_normal_has_the_mean_and_sd_asked_for() {
        let h = Handle::new(HandleTime::LogNormal {
            mean_secs: 300.0,
            sd_secs: 200.0,
        })
        .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let xs: Vec<f64> = (0..200_000).map(|_| h.sample(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!((mean - 300.0).abs() < 3.0, "mean {mean}");
        assert!((sd - 200.0).abs() < 6.0, "sd {sd}");
    }

    #[test]
    fn values_are_drawn_by_share() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mix = [(1.0, 3.0), (10.0, 1.0)];
        let high = (0..40_000)
            .filter(|_| pick_value(&mix, &mut rng) == 10.0)
            .count();
        assert!((9_500..=10_500).contains(&high), "{high} of 40000");
        assert_eq!(pick_value(&[], &mut rng), 0.0);
    }
}
