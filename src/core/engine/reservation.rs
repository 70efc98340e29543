//! Service levels against their targets: each queue's **pressure**, the `sl-risk` contact term
//! built on it, and **agent reservation** (idle agents held back for a queue at risk).
//!
//! **Pressure** of a queue: its recent miss rate over the miss rate its target allows,
//! `(1 − achieved) ÷ (1 − target)`, where `achieved` is `sl_offered` over the rolling half hour
//! ([`crate::core::stats::RollingServiceLevel`]), shrunk towards the target by
//! [`PRESSURE_PRIOR`] contacts (a quiet or new queue is "on target", pressure 1). 1 = missing
//! exactly as often as allowed; 2 = twice as often; 0.25 = comfortably ahead. Clamped to
//! [[`PRESSURE_MIN`], [`PRESSURE_MAX`]].
//!
//! **`sl-risk`** of a queue (the `service-level` contact strategy's term): pressure × how far its
//! longest-waiting contact is into its **effective threshold** — the threshold, or the queue's
//! mean patience if shorter (customers who leave before the threshold miss it too; patience is
//! estimated from every wait that ended, [`QueueCounters::abandon_rate_per_ms`]). A queue behind
//! its target is served sooner at the same wait; one far ahead gives way.
//!
//! **Reservation** (trunk reservation; Gurvich & Whitt's queue-ratio rules reserve capacity the
//! same way): a queue whose contact strategy reserves (`service-level`) and whose pressure is at
//! least [`RESERVE_AT`] keeps `k` idle agents who can serve it — 1, or 2 from pressure
//! [`RESERVE_TWO_AT`] (the constants were chosen on `benches/scenarios/two-tier.toml`; see the
//! README), never more than its `reserve_agents` (default 2; 0 turns reservation off). When at most `k` idle agents can serve it, they are **held** from contacts of any
//! queue under less pressure, so its next contact finds one at once. Who can serve a queue: an
//! agent meeting its required skills, with room for one of its channels at the channel's cost (a
//! contact's own extra requirements are not looked at). A new queue has pressure 1, so it
//! reserves from its first contact. An affinity offer (a contact waiting for the agent who
//! handled its customer before) is never held: the customer's own agent takes it.
//!
//! **Bounded holding** (the one exception to work conservation besides affinity, checked by
//! the invariants): a queue's contacts may be held only while its longest-waiting contact has
//! waited less than its **release wait** ([`RELEASE_SHARE`] of its effective threshold), and only
//! while a release timer is pending for the queue. When it fires, the queue's contacts past the
//! release wait are routed with no agent held; if the longest-waiting one still finds nobody,
//! every other contact of the queue is routed too. So no contact waits past its release wait
//! while an agent who fits it idles, and a queue under as much pressure as the reserving one is
//! never held. A reserving queue that changes (PutQueue), stops reserving or is deleted
//! releases every hold at once.
//!
//! Cost: nothing on a floor without a reserving queue. Otherwise, per decision, per reserving
//! queue other than the contact's: its pressure (two subtractions) and, when at risk, a walk of
//! at most `k + 1` idle agents who can serve it (plus the agents without room or skills the walk
//! steps over, bounded by [`HOLD_WALK_LIMIT`]: past it, nobody is held).
//!
//! Known limits: the hold looks at the reserving queue's own skills, not at the requirements of
//! the contacts it will get; pressure moves with the rolling window between events, so a hold
//! may outlast the risk that started it until the next event or the release timer; and the cost
//! grows with the number of reserving queues (every decision looks at each), so a floor with
//! thousands of `service-level` queues pays for it on every decision.

use super::*;
use crate::core::index::agents::Order;

/// Contacts of prior weight, at the target, in a queue's recent service level.
pub const PRESSURE_PRIOR: f64 = 10.0;
/// The least and most pressure a queue is given.
pub const PRESSURE_MIN: f64 = 0.25;
pub const PRESSURE_MAX: f64 = 4.0;
/// Pressure from which a reserving queue holds one idle agent back.
pub const RESERVE_AT: f64 = 0.5;
/// Pressure from which it holds two (missing as often as its target allows, or more).
pub const RESERVE_TWO_AT: f64 = 1.0;
/// A held contact is released at this share of its queue's effective threshold (the rest is
/// left for the offer to ring and be accepted).
pub const RELEASE_SHARE: f64 = 0.75;
/// Agents a hold's walk steps over at most before it gives up (holds nobody).
pub const HOLD_WALK_LIMIT: usize = 256;

/// A queue's pressure from its recent counts (see the module documentation).
pub fn pressure(met: u64, ended: u64, target: f64) -> f64 {
    let target = target.clamp(0.0, 1.0);
    let achieved = (met as f64 + target * PRESSURE_PRIOR) / (ended as f64 + PRESSURE_PRIOR);
    ((1.0 - achieved) / (1.0 - target).max(0.01)).clamp(PRESSURE_MIN, PRESSURE_MAX)
}

/// Idle agents a reserving queue at `pressure` keeps back.
pub fn reserved_agents(pressure: f64) -> usize {
    if pressure >= RESERVE_TWO_AT {
        2
    } else if pressure >= RESERVE_AT {
        1
    } else {
        0
    }
}

impl Engine {
    /// The queue's pressure now.
    pub(super) fn pressure(&self, slot: usize) -> f64 {
        let q = self.queues[slot].as_ref().expect("queue present");
        let (met, ended) = q.rolling_sl.rolling(&q.counters, self.now);
        pressure(met, ended, q.config.sl_target_percent / 100.0)
    }

    /// The queue's effective threshold: its threshold, or its customers' mean patience if
    /// shorter (at least one second).
    fn effective_threshold_ms(&self, slot: usize) -> f64 {
        let q = self.queues[slot].as_ref().expect("queue present");
        let threshold = q.config.sl_threshold_secs.max(1) as f64 * 1000.0;
        let rate = q.counters.abandon_rate_per_ms();
        let patience = if rate > 0.0 {
            1.0 / rate
        } else {
            f64::INFINITY
        };
        threshold.min(patience).max(1000.0)
    }

    /// How long the queue's longest-waiting contact has waited.
    fn oldest_wait(&self, slot: usize) -> Option<Millis> {
        let q = self.queues[slot].as_ref().expect("queue present");
        let (queued_at, _) = q.waiting.first()?;
        Some(self.now.saturating_sub(*queued_at))
    }

    /// The `sl-risk` term of a queue: pressure × oldest wait ÷ effective threshold.
    pub(super) fn sl_risk(&self, slot: usize) -> f64 {
        let wait = self.oldest_wait(slot).unwrap_or(0) as f64;
        self.pressure(slot) * wait / self.effective_threshold_ms(slot)
    }

    /// How long a contact of the queue may be held: [`RELEASE_SHARE`] of its effective
    /// threshold.
    fn release_wait_ms(&self, slot: usize) -> Millis {
        (self.effective_threshold_ms(slot) * RELEASE_SHARE) as Millis
    }

    /// When the queue's contacts may be held, the time its longest-waiting one is released.
    fn holdable_until(&self, slot: usize) -> Option<Millis> {
        let q = self.queues[slot].as_ref().expect("queue present");
        let oldest = q.waiting.first().map(|(queued_at, _)| *queued_at);
        // A contact about to be added (routing at enqueue) is the queue's youngest.
        let at = oldest.unwrap_or(self.now) + self.release_wait_ms(slot);
        (at > self.now).then_some(at)
    }

    /// The idle agents who can serve reserving queue `slot`, if at most `k` (all held); `None`
    /// when more can (or the walk gave up).
    fn held_for(&self, slot: usize, k: usize) -> Option<Vec<AgentKey>> {
        let q = self.queues[slot].as_ref().expect("queue present");
        let channels: &[Channel] = if q.config.channels.is_empty() {
            &Channel::ALL
        } else {
            &q.config.channels
        };
        let channel = (channels.len() == 1).then(|| channels[0]);
        // With alternatives, any agent may serve it: the walk is over every idle agent.
        let rarest = if q.alternatives.is_empty() {
            self.available.rarest(&q.requirements, channel)
        } else {
            None
        };
        let mut found = Vec::new();
        for (steps, entry) in self
            .available
            .walk(Order::Idle, rarest, channel)
            .enumerate()
        {
            if steps >= HOLD_WALK_LIMIT {
                return None;
            }
            let agent = self.agent(entry.3);
            let fits = channels
                .iter()
                .any(|c| agent.has_room(*c, self.cost_in(slot, *c)));
            if fits && q.served_by(&agent.skills) {
                if found.len() == k {
                    return None;
                }
                found.push(entry.3);
            }
        }
        Some(found)
    }

    /// The reserving queues at risk now, other than `except`, with their pressure and how many
    /// agents each keeps (at most its `reserve_agents`).
    fn at_risk(&self, except: Option<usize>) -> Vec<(usize, f64, usize)> {
        self.reserving
            .iter()
            .filter(|slot| Some(**slot) != except)
            .filter_map(|&slot| {
                let p = self.pressure(slot);
                let most = self.queues[slot].as_ref().expect("queue").strategy.reserve;
                let k = reserved_agents(p).min(most as usize);
                (k > 0).then_some((slot, p, k))
            })
            .collect()
    }

    /// The agents a contact of queue `slot` may not be offered now: those kept idle for a
    /// reserving queue under more pressure. Empty when the queue's contacts are not holdable.
    pub(super) fn holds_against(&self, slot: usize) -> Vec<AgentKey> {
        if self.reserving.is_empty() || self.holdable_until(slot).is_none() {
            return Vec::new();
        }
        let own = self.pressure(slot);
        let mut holds = Vec::new();
        for (reserving, p, k) in self.at_risk(Some(slot)) {
            if p > own
                && let Some(agents) = self.held_for(reserving, k)
            {
                holds.extend(agents);
            }
        }
        holds
    }

    /// The reserving queues an idle agent is kept for now, with their pressure.
    pub(super) fn kept_for(&self, key: AgentKey) -> Vec<(usize, f64)> {
        if self.reserving.is_empty() {
            return Vec::new();
        }
        self.at_risk(None)
            .into_iter()
            .filter(|&(slot, _, k)| self.held_for(slot, k).is_some_and(|a| a.contains(&key)))
            .map(|(slot, p, _)| (slot, p))
            .collect()
    }

    /// Whether a contact of queue `slot` may not go to an agent kept for `kept` now.
    pub(super) fn held_from(&self, slot: usize, kept: &[(usize, f64)]) -> bool {
        if kept.is_empty() || self.holdable_until(slot).is_none() {
            return false;
        }
        let own = self.pressure(slot);
        kept.iter().any(|&(r, p)| r != slot && p > own)
    }

    /// A contact of queue `slot` was held: its release timer must be pending by the time its
    /// longest-waiting contact passes the release wait.
    pub(super) fn arm_release(&mut self, slot: usize) {
        let Some(at) = self.holdable_until(slot) else {
            return;
        };
        let q = self.queues[slot].as_ref().expect("queue present");
        if q.release_timer.is_some_and(|t| t.0 <= at) {
            return;
        }
        if let Some(old) = q.release_timer {
            self.timers.remove(&old);
        }
        let key = self.add_timer(at, Timer::Release(slot));
        self.queue_mut(slot).release_timer = Some(key);
    }

    /// A queue stopped reserving (or is gone): every contact held for any queue is routed
    /// again now, with whatever holds remain.
    pub(super) fn release_all_holds(&mut self) {
        let slots: Vec<usize> = (0..self.queues.len())
            .filter(|&s| {
                self.queues[s]
                    .as_ref()
                    .is_some_and(|q| q.release_timer.is_some())
            })
            .collect();
        for slot in slots {
            let q = self.queue_mut(slot);
            let timer = q.release_timer.take().expect("filtered on it");
            let waiting: Vec<ContactId> = q.waiting.iter().map(|(_, id)| *id).collect();
            self.timers.remove(&timer);
            for id in waiting {
                if self.available.is_empty() {
                    break;
                }
                self.route_contact(id, Trigger::ReservationReleased);
            }
        }
    }

    /// A queue's release timer fired: its contacts past the release wait are routed with
    /// nobody held, and all of them if the longest-waiting one still waits after that.
    pub(super) fn release_held(&mut self, key: TimerKey, slot: usize) {
        let Some(q) = self.queues.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if q.release_timer != Some(key) {
            return;
        }
        q.release_timer = None;
        while let Some(&(_, oldest)) = self.queues[slot].as_ref().expect("queue").waiting.first() {
            if self.holdable_until(slot).is_some() {
                // The longest-waiting one is within its release wait again.
                if !self.available.is_empty() {
                    self.arm_release(slot);
                }
                return;
            }
            self.route_contact(oldest, Trigger::ReservationReleased);
            let q = self.queues[slot].as_ref().expect("queue");
            if q.waiting.first().map(|(_, id)| *id) == Some(oldest) {
                // It found nobody: nothing of this queue is holdable, route every contact.
                let rest: Vec<ContactId> = q.waiting.iter().skip(1).map(|(_, id)| *id).collect();
                for id in rest {
                    if self.available.is_empty() {
                        break;
                    }
                    self.route_contact(id, Trigger::ReservationReleased);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_is_the_miss_rate_over_the_allowed_one_shrunk_to_the_target() {
        // No data: on target.
        assert!((pressure(0, 0, 0.9) - 1.0).abs() < 1e-9);
        // 90 of 100 in threshold against a 90 % target: on target.
        assert!((pressure(90, 100, 0.9) - 1.0).abs() < 1e-9);
        // 80 of 100 against 90 %, with 9 of 10 prior: (1 − 89/110) / 0.1 ≈ 1.9.
        assert!((pressure(80, 100, 0.9) - (1.0 - 89.0 / 110.0) / 0.1).abs() < 1e-9);
        // Far ahead or far behind: clamped.
        assert_eq!(pressure(1000, 1000, 0.8), PRESSURE_MIN);
        assert_eq!(pressure(0, 1000, 0.9), PRESSURE_MAX);
        // A 100 % target allows a 1 % miss rate, not a division by zero.
        assert!(pressure(99, 100, 1.0).is_finite());
    }

    #[test]
    fn a_queue_keeps_more_agents_the_more_it_misses() {
        assert_eq!(reserved_agents(0.3), 0);
        assert_eq!(reserved_agents(RESERVE_AT), 1);
        assert_eq!(reserved_agents(RESERVE_TWO_AT), 2);
        assert_eq!(reserved_agents(PRESSURE_MAX), 2);
    }
}
