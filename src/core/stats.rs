//! Queue statistics, named as the industry names them. The server's live snapshot and (later) the
//! simulator compute every figure with this code.
//!
//! Definitions (T is the queue's service-level threshold; "answered" means an agent accepted the
//! offer, and the wait is enqueue → accept):
//! - `sl_answered` = answered within T / answered
//! - `sl_offered` = answered within T / (answered + abandoned + expired): abandons count against
//! - `sl_excl_short_abandons` = answered within T / (answered + abandoned after T + expired)
//! - ASA = mean wait of answered contacts
//! - abandon rate = abandoned / (answered + abandoned + expired)
//! - EWT for a newcomer = position × (time spanned by the last answers / their count), from a
//!   rolling window of answer times; unknown until the window holds two answers.
//!
//! A ratio whose denominator is zero is reported as 1.0 for service levels (nothing missed yet)
//! and 0.0 for the abandon rate.

use std::collections::VecDeque;

use super::types::Millis;

/// How many recent answers the EWT estimate looks at.
pub const EWT_WINDOW: usize = 32;

/// Counters of one queue since start.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct QueueCounters {
    /// Contacts that entered the queue.
    pub offered: u64,
    pub answered: u64,
    pub answered_within_threshold: u64,
    pub abandoned: u64,
    pub abandoned_within_threshold: u64,
    pub expired: u64,
    /// Enqueues refused at the door (queue full).
    pub refused: u64,
    /// Withdrawn by the frontend: not counted in service level.
    pub withdrawn: u64,
    pub completed: u64,
    pub total_answer_wait_ms: u64,
    pub total_handle_ms: u64,
    recent_answers: VecDeque<Millis>,
}

/// Derived figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceLevel {
    pub sl_answered: f64,
    pub sl_offered: f64,
    pub sl_excl_short_abandons: f64,
    pub asa_ms: u64,
    pub abandon_rate: f64,
}

impl QueueCounters {
    pub fn record_answer(&mut self, waited_ms: u64, threshold_ms: u64, now: Millis) {
        self.answered += 1;
        self.total_answer_wait_ms += waited_ms;
        if waited_ms <= threshold_ms {
            self.answered_within_threshold += 1;
        }
        if self.recent_answers.len() == EWT_WINDOW {
            self.recent_answers.pop_front();
        }
        self.recent_answers.push_back(now);
    }

    pub fn record_abandon(&mut self, waited_ms: u64, threshold_ms: u64) {
        self.abandoned += 1;
        if waited_ms <= threshold_ms {
            self.abandoned_within_threshold += 1;
        }
    }

    pub fn service_level(&self) -> ServiceLevel {
        let ratio = |num: u64, den: u64| {
            if den == 0 {
                1.0
            } else {
                num as f64 / den as f64
            }
        };
        let ended = self.answered + self.abandoned + self.expired;
        ServiceLevel {
            sl_answered: ratio(self.answered_within_threshold, self.answered),
            sl_offered: ratio(self.answered_within_threshold, ended),
            sl_excl_short_abandons: ratio(
                self.answered_within_threshold,
                ended - self.abandoned_within_threshold,
            ),
            asa_ms: self
                .total_answer_wait_ms
                .checked_div(self.answered)
                .unwrap_or(0),
            abandon_rate: if ended == 0 {
                0.0
            } else {
                self.abandoned as f64 / ended as f64
            },
        }
    }

    /// Estimated wait for a contact at 1-based `position`, from the recent answer rate.
    pub fn estimated_wait(&self, position: u32, now: Millis) -> Option<u64> {
        if position == 0 {
            return Some(0);
        }
        let first = *self.recent_answers.front()?;
        let n = self.recent_answers.len() as u64;
        if n < 2 {
            return None;
        }
        let span = now.saturating_sub(first).max(1);
        Some(span.saturating_mul(position as u64) / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_levels_follow_their_definitions() {
        let mut c = QueueCounters::default();
        // 3 answered: 2 within 20 s, one after.
        c.record_answer(5_000, 20_000, 1_000);
        c.record_answer(20_000, 20_000, 2_000);
        c.record_answer(40_000, 20_000, 3_000);
        // 2 abandoned: one short (within T), one long.
        c.record_abandon(3_000, 20_000);
        c.record_abandon(60_000, 20_000);
        let sl = c.service_level();
        assert!((sl.sl_answered - 2.0 / 3.0).abs() < 1e-9);
        assert!((sl.sl_offered - 2.0 / 5.0).abs() < 1e-9);
        assert!((sl.sl_excl_short_abandons - 2.0 / 4.0).abs() < 1e-9);
        assert_eq!(sl.asa_ms, 65_000 / 3);
        assert!((sl.abandon_rate - 0.4).abs() < 1e-9);
    }

    #[test]
    fn empty_queue_reports_full_service_level() {
        let sl = QueueCounters::default().service_level();
        assert_eq!(sl.sl_answered, 1.0);
        assert_eq!(sl.abandon_rate, 0.0);
        assert_eq!(sl.asa_ms, 0);
    }

    #[test]
    fn ewt_uses_recent_answer_rate() {
        let mut c = QueueCounters::default();
        assert_eq!(c.estimated_wait(3, 0), None);
        c.record_answer(0, 1, 10_000);
        assert_eq!(c.estimated_wait(3, 10_000), None);
        c.record_answer(0, 1, 20_000);
        // Two answers over 20 s since the first: 10 s per answer → position 3 waits 30 s.
        assert_eq!(c.estimated_wait(3, 30_000), Some(30_000));
        assert_eq!(c.estimated_wait(0, 30_000), Some(0));
    }
}
