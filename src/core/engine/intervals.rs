//! Figures by interval: the reporting periods (intervals aligned to the clock, days starting at
//! a local time in a time zone) and rolling every queue's [`IntervalMarks`] as time crosses
//! their boundaries.
//!
//! Invariant: the marks roll before anything at or after a boundary changes a counter — the
//! engine calls [`Engine::roll_periods`] each time its time moves, before it fires a deadline
//! or applies a command — so a period's figures count exactly what happened in it, and a
//! replay rolls at the same boundaries to the same marks.
//!
//! Cost: one comparison per time step; O(queues) once per boundary (every interval, and at
//! the day's start), the only time the time zone is consulted.
//!
//! Limits: intervals are aligned to UTC multiples of their length (so to local quarter hours
//! in every zone whose offset is a multiple of 15 minutes); a day that a change of offset
//! shortens or lengthens is as long as the local calendar says.

use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;

use super::{Engine, EngineConfig};
use crate::core::error::CoreError;
use crate::core::stats::{DayMark, IntervalMarks};
use crate::core::types::Millis;

/// The periods the engine's time is in: `[start, end)` of the interval and of the day.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Periods {
    pub interval: (Millis, Millis),
    pub day: (Millis, Millis),
}

const DAY_MS: Millis = 86_400_000;

/// `HH:MM` as a time of day.
fn day_start(text: &str) -> Result<Time, CoreError> {
    let refuse = || CoreError::invalid(format!("day_starts_at {text:?} is not a time HH:MM"));
    let (h, m) = text.split_once(':').ok_or_else(refuse)?;
    let (h, m): (i8, i8) = (
        h.parse().map_err(|_| refuse())?,
        m.parse().map_err(|_| refuse())?,
    );
    Time::new(h, m, 0, 0).map_err(|_| refuse())
}

fn time_zone(name: &str) -> Result<TimeZone, CoreError> {
    jiff::tz::db().get(name).map_err(|_| {
        CoreError::invalid(format!("time_zone {name:?} is not a known IANA time zone"))
    })
}

/// Checks the period settings of `config`.
pub(super) fn validate(config: &EngineConfig) -> Result<(), CoreError> {
    if config.interval_minutes == 0 || 1440 % config.interval_minutes != 0 {
        return Err(CoreError::invalid(
            "interval_minutes must divide a day (e.g. 5, 10, 15, 30, 60)",
        ));
    }
    day_start(&config.day_starts_at)?;
    time_zone(&config.time_zone)?;
    Ok(())
}

/// The local day holding `t` under `config`: from `day_starts_at` on one date to the same time
/// on the next, in `time_zone`. Falls back to UTC days should the settings not resolve (they
/// were validated, so only for times out of the calendar's range).
fn day_bounds(t: Millis, config: &EngineConfig) -> (Millis, Millis) {
    let utc = (t / DAY_MS * DAY_MS, t / DAY_MS * DAY_MS + DAY_MS);
    let local = || -> Result<(Millis, Millis), jiff::Error> {
        let tz = time_zone(&config.time_zone)
            .map_err(|e| jiff::Error::from_args(format_args!("{e}")))?;
        let starts = day_start(&config.day_starts_at)
            .map_err(|e| jiff::Error::from_args(format_args!("{e}")))?;
        let at = |date: jiff::civil::Date| -> Result<Millis, jiff::Error> {
            let ms = DateTime::from_parts(date, starts)
                .to_zoned(tz.clone())?
                .timestamp()
                .as_millisecond();
            Ok(ms.max(0) as Millis)
        };
        let today = jiff::Timestamp::from_millisecond(t as i64)?
            .to_zoned(tz.clone())
            .date();
        let date = if at(today)? <= t {
            today
        } else {
            today.yesterday()?
        };
        Ok((at(date)?, at(date.tomorrow()?)?))
    };
    local().unwrap_or(utc)
}

impl Engine {
    /// Moves the reporting periods to the ones holding `t`, rolling every queue's marks, if `t`
    /// has left the current ones.
    pub(super) fn roll_periods(&mut self, t: Millis) {
        let periods = self.periods;
        if t < periods.interval.1 && t < periods.day.1 {
            return;
        }
        let length = self.config.interval_minutes as Millis * 60_000;
        let start = t / length * length;
        let day = if t < periods.day.1 && periods.day.1 != 0 {
            periods.day
        } else {
            day_bounds(t, &self.config)
        };
        self.periods = Periods {
            interval: (start, start + length),
            day,
        };
        for queue in self.queues.iter_mut().flatten() {
            queue
                .intervals
                .roll(&queue.counters, self.periods.interval, self.periods.day);
        }
        if periods.day != day {
            // Every agent's occupancy clock at the day's start: exact, as nothing changed
            // since the last change before it. O(agents), once a day.
            for agent in self.agents.iter_mut().flatten() {
                agent.today = DayMark {
                    start: day.0,
                    end: day.1,
                    at_start: agent.occupancy.totals(day.0.max(agent.occupancy.since())),
                };
            }
        }
    }

    /// Marks for a queue created now.
    pub(super) fn new_marks(&self) -> IntervalMarks {
        IntervalMarks::starting(self.periods.interval, self.periods.day)
    }

    /// The period settings changed: the next time step recomputes the periods.
    pub(super) fn periods_changed(&mut self) {
        self.periods = Periods::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Millis {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond() as Millis
    }

    #[test]
    fn days_start_at_the_local_time_in_the_zone_and_follow_the_calendar() {
        let mut config = EngineConfig::default();
        assert_eq!(
            day_bounds(at("2026-12-03T14:00:00Z"), &config),
            (at("2026-12-03T00:00:00Z"), at("2026-12-04T00:00:00Z"))
        );
        config.time_zone = "Europe/Paris".into();
        config.day_starts_at = "06:00".into();
        // 04:30 in Paris is before six: still the day that began yesterday at six.
        assert_eq!(
            day_bounds(at("2026-12-03T03:30:00Z"), &config),
            (at("2026-12-02T05:00:00Z"), at("2026-12-03T05:00:00Z"))
        );
        // The day the clocks go forward is 23 hours long.
        assert_eq!(
            day_bounds(at("2026-03-29T12:00:00Z"), &config),
            (at("2026-03-29T04:00:00Z"), at("2026-03-30T04:00:00Z"))
        );
    }

    #[test]
    fn period_settings_are_checked() {
        let mut config = EngineConfig::default();
        assert!(validate(&config).is_ok());
        config.interval_minutes = 7;
        assert!(
            validate(&config)
                .unwrap_err()
                .to_string()
                .contains("interval_minutes")
        );
        config.interval_minutes = 30;
        config.day_starts_at = "25:00".into();
        assert!(
            validate(&config)
                .unwrap_err()
                .to_string()
                .contains("day_starts_at")
        );
        config.day_starts_at = "07:30".into();
        config.time_zone = "Mars/Olympus".into();
        assert!(
            validate(&config)
                .unwrap_err()
                .to_string()
                .contains("time_zone")
        );
    }

    /// The figures of `queue`: (interval, previous, today) as (offered, answered, abandoned).
    fn counts(engine: &Engine, queue: &str, now: Millis) -> [(u64, u64, u64); 3] {
        let snapshot = engine
            .queue_snapshots()
            .into_iter()
            .find(|q| &*q.config.name == queue)
            .unwrap();
        let (a, b, c) = snapshot.periods(now);
        [a, b, c].map(|p| {
            (
                p.counters.offered,
                p.counters.answered,
                p.counters.abandoned,
            )
        })
    }

    #[test]
    fn figures_are_kept_per_interval_and_per_day_and_survive_an_image() {
        use crate::core::tests::Floor;
        use crate::core::{Channel, Command, Presence};
        let mut f = Floor::new();
        // 2026-12-03 10:05 UTC; 15-minute intervals, UTC days.
        f.now = at("2026-12-03T10:05:00Z");
        f.queue("sales", |_| {});
        f.agent("a1", &[]);
        f.presence("a1", Presence::Ready);
        let first = f.enqueue("sales", Channel::Voice);
        f.accept(first);
        assert_eq!(
            counts(&f.engine, "sales", f.now),
            [(1, 1, 0), (0, 0, 0), (1, 1, 0)]
        );

        // Next interval: one abandons.
        f.wait(15.0 * 60.0);
        let second = f.enqueue("sales", Channel::Voice);
        f.apply(Command::Cancel {
            contact: second,
            reason: crate::core::CancelReason::Abandoned,
        })
        .unwrap();
        assert_eq!(
            counts(&f.engine, "sales", f.now),
            [(1, 0, 1), (1, 1, 0), (2, 1, 1)]
        );
        let (interval, previous, _) = f.engine.queue_snapshots()[0].periods(f.now);
        assert_eq!(interval.start, at("2026-12-03T10:15:00Z"));
        assert_eq!(previous.end, interval.start);

        // Read later with nothing happening: the boundary crossed since counts too.
        let later = f.now + 15 * 60_000;
        assert_eq!(
            counts(&f.engine, "sales", later),
            [(0, 0, 0), (1, 0, 1), (2, 1, 1)]
        );

        // An image keeps the marks: the restored engine reports the same.
        let restored = Engine::from_image(&f.engine.image()).unwrap();
        assert_eq!(
            counts(&restored, "sales", f.now),
            counts(&f.engine, "sales", f.now)
        );

        // The next day starts from zero, and a quiet interval is empty, not carried over.
        f.now = at("2026-12-04T00:20:00Z");
        let third = f.enqueue("sales", Channel::Voice);
        let _ = third;
        assert_eq!(
            counts(&f.engine, "sales", f.now),
            [(1, 0, 0), (0, 0, 0), (1, 0, 0)]
        );
    }

    #[test]
    fn an_agents_occupancy_today_starts_at_the_day_boundary() {
        use crate::core::tests::Floor;
        use crate::core::{Channel, Presence};
        let mut f = Floor::new();
        f.now = at("2026-12-03T23:00:00Z");
        f.queue("q", |_| {});
        f.agent("a", &[]);
        f.presence("a", Presence::Ready);
        // Busy from 23:30 to 00:30 across midnight, then idle.
        f.wait(30.0 * 60.0);
        let c = f.enqueue("q", Channel::Voice);
        f.accept(c);
        f.wait(60.0 * 60.0);
        f.complete(c);
        f.wait(30.0 * 60.0);
        let view = f.engine.agent_view("a").unwrap();
        let today = view.today_at(f.now);
        // Today: 00:00-01:00 logged in, busy 00:00-00:30.
        assert_eq!(today.logged_in_ms, 60 * 60_000);
        assert_eq!(today.busy_ms, 30 * 60_000);
        assert_eq!(view.occupancy_at(f.now).busy_ms, 60 * 60_000);
        // Read the next day with nothing happening since: that day starts from zero busy.
        let tomorrow = at("2026-12-05T00:30:00Z");
        assert_eq!(view.today_at(tomorrow).busy_ms, 0);
        assert!(view.today_at(tomorrow).logged_in_ms >= 30 * 60_000);
    }
}
