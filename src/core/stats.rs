//! Queue and agent statistics, named as the industry names them. The server's live figures and the
//! simulator's report compute every figure with this code.
//!
//! Definitions (T is the queue's service-level threshold; "answered" means an agent accepted the
//! offer, and the wait is enqueue → accept):
//! - `sl_answered` = answered within T / answered
//! - `sl_offered` = answered within T / (answered + abandoned + expired): abandons count against
//! - `sl_excl_short_abandons` = answered within T / (answered + abandoned after S + expired),
//!   where S is the queue's short-abandon time (`short_abandon_seconds`, 5 s by default)
//! - ASA = mean wait of answered contacts
//! - abandon rate = abandoned / (answered + abandoned + expired)
//! - EWT: see [`super::ewt`] (the counters keep its inputs: recent answer times, the last
//!   answered contact's wait, and the waits of abandoned contacts).
//!
//! - occupancy = (handling + wrap-up) / logged-in time, where "handling" is any time the agent
//!   holds a contact (offered or assigned); utilisation = capacity in use / capacity, both
//!   integrated over logged-in time (they differ for agents who hold several chats at once)
//! - wait percentiles by nearest rank over the recorded waits
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
    /// Abandoned within the queue's short-abandon time.
    pub abandoned_short: u64,
    pub expired: u64,
    /// Enqueues refused at the door (queue full).
    pub refused: u64,
    /// Withdrawn by the frontend: not counted in service level.
    pub withdrawn: u64,
    pub completed: u64,
    /// Answered here, then transferred to a queue (not completed here).
    pub transferred_out: u64,
    /// Entered by transfer from a queue (counted in `offered` too: its wait here counts from
    /// the transfer).
    pub transferred_in: u64,
    /// Moved to another queue by an exception rule (not counted in service level here: the
    /// contact ends in the queue it moved to).
    pub overflowed_out: u64,
    /// Moved here by another queue's exception rule (counted in `offered` too; its wait here
    /// counts from when it first entered the chain of queues).
    pub overflowed_in: u64,
    /// Ended by an exception rule (`end`): not counted in service level.
    pub diverted: u64,
    /// Waiting customers who asked to be called back (they left the line: neither answered
    /// nor abandoned for service level), then those reached (completed) and those unreached.
    pub callbacks_requested: u64,
    pub callbacks_reached: u64,
    pub callbacks_unreached: u64,
    /// Contacts a bot completed here without escalating (contained), and contacts a bot
    /// escalated from here to a queue of people: containment is contained ÷ both.
    pub bot_contained: u64,
    pub bot_escalated: u64,
    pub total_answer_wait_ms: u64,
    /// Time waited by the contacts that abandoned (with the answered ones' waits: the
    /// customers' patience, for the `queue-length` wait estimate).
    pub total_abandon_wait_ms: u64,
    pub total_handle_ms: u64,
    /// How long the last answered contact had waited.
    pub last_answer_wait_ms: Option<u64>,
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
        self.last_answer_wait_ms = Some(waited_ms);
    }

    /// An abandon after `waited_ms`; one within `short_ms` (and `short_ms` > 0) is short.
    pub fn record_abandon(&mut self, waited_ms: u64, short_ms: u64) {
        self.abandoned += 1;
        self.total_abandon_wait_ms += waited_ms;
        if short_ms > 0 && waited_ms <= short_ms {
            self.abandoned_short += 1;
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
                ended - self.abandoned_short,
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

    /// Answers per millisecond over the recent window up to `now` (`None` with fewer than two).
    pub fn answer_rate_per_ms(&self, now: Millis) -> Option<f64> {
        let first = *self.recent_answers.front()?;
        let n = self.recent_answers.len();
        (n >= 2).then(|| n as f64 / now.saturating_sub(first).max(1) as f64)
    }

    /// Abandons per millisecond of waiting (the rate of exponential patience, by maximum
    /// likelihood from every wait that ended); 0 before any wait ended.
    pub fn abandon_rate_per_ms(&self) -> f64 {
        ratio_or_zero(
            self.abandoned,
            self.total_answer_wait_ms + self.total_abandon_wait_ms,
        )
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

impl QueueCounters {
    /// What happened between `earlier` (a copy of these counters) and now: the figures of a
    /// measurement window, e.g. after a simulation's warm-up. The EWT window is kept as is.
    pub fn since(&self, earlier: &QueueCounters) -> QueueCounters {
        QueueCounters {
            offered: self.offered.saturating_sub(earlier.offered),
            answered: self.answered.saturating_sub(earlier.answered),
            answered_within_threshold: self
                .answered_within_threshold
                .saturating_sub(earlier.answered_within_threshold),
            abandoned: self.abandoned.saturating_sub(earlier.abandoned),
            abandoned_short: self.abandoned_short.saturating_sub(earlier.abandoned_short),
            expired: self.expired.saturating_sub(earlier.expired),
            refused: self.refused.saturating_sub(earlier.refused),
            withdrawn: self.withdrawn.saturating_sub(earlier.withdrawn),
            completed: self.completed.saturating_sub(earlier.completed),
            bot_contained: self.bot_contained.saturating_sub(earlier.bot_contained),
            bot_escalated: self.bot_escalated.saturating_sub(earlier.bot_escalated),
            transferred_out: self.transferred_out.saturating_sub(earlier.transferred_out),
            transferred_in: self.transferred_in.saturating_sub(earlier.transferred_in),
            overflowed_out: self.overflowed_out.saturating_sub(earlier.overflowed_out),
            overflowed_in: self.overflowed_in.saturating_sub(earlier.overflowed_in),
            diverted: self.diverted.saturating_sub(earlier.diverted),
            callbacks_requested: self
                .callbacks_requested
                .saturating_sub(earlier.callbacks_requested),
            callbacks_reached: self
                .callbacks_reached
                .saturating_sub(earlier.callbacks_reached),
            callbacks_unreached: self
                .callbacks_unreached
                .saturating_sub(earlier.callbacks_unreached),
            total_answer_wait_ms: self
                .total_answer_wait_ms
                .saturating_sub(earlier.total_answer_wait_ms),
            total_abandon_wait_ms: self
                .total_abandon_wait_ms
                .saturating_sub(earlier.total_abandon_wait_ms),
            total_handle_ms: self.total_handle_ms.saturating_sub(earlier.total_handle_ms),
            last_answer_wait_ms: self.last_answer_wait_ms,
            recent_answers: self.recent_answers.clone(),
        }
    }

    /// Adds another queue's counts (for figures over several queues; each queue's answers were
    /// judged against its own threshold). The EWT window is not merged.
    pub fn add(&mut self, other: &QueueCounters) {
        self.offered += other.offered;
        self.answered += other.answered;
        self.answered_within_threshold += other.answered_within_threshold;
        self.abandoned += other.abandoned;
        self.abandoned_short += other.abandoned_short;
        self.expired += other.expired;
        self.refused += other.refused;
        self.withdrawn += other.withdrawn;
        self.overflowed_out += other.overflowed_out;
        self.overflowed_in += other.overflowed_in;
        self.diverted += other.diverted;
        self.callbacks_requested += other.callbacks_requested;
        self.callbacks_reached += other.callbacks_reached;
        self.callbacks_unreached += other.callbacks_unreached;
        self.bot_contained += other.bot_contained;
        self.bot_escalated += other.bot_escalated;
        self.completed += other.completed;
        self.transferred_out += other.transferred_out;
        self.transferred_in += other.transferred_in;
        self.total_answer_wait_ms += other.total_answer_wait_ms;
        self.total_abandon_wait_ms += other.total_abandon_wait_ms;
        self.total_handle_ms += other.total_handle_ms;
    }
}

/// The `p`-th percentile (0–100) of `values` by nearest rank; sorts `values`. `None` when empty.
pub fn percentile(values: &mut [u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// What an agent is doing, as far as occupancy is concerned.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    pub logged_in: bool,
    /// Holding a contact or wrapping up (only while logged in).
    pub busy: bool,
    /// Not ready and not busy: logged-in time that is neither work nor waiting for it.
    pub not_ready: bool,
    pub load: u32,
    pub capacity: u32,
}

/// The rolling window of [`RollingOccupancy::rolling`]: whole buckets of this length, on boundaries
/// of the engine's clock (multiples of it since the epoch).
pub const ROLLING_BUCKET_MS: Millis = 5 * 60_000;
/// Buckets in the rolling window: the last 25–30 minutes (the current bucket and five whole ones).
pub const ROLLING_BUCKETS: usize = 6;

/// The totals at one bucket boundary (boundary `bucket × ROLLING_BUCKET_MS`).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq)]
struct Mark {
    bucket: u64,
    logged_in_ms: u64,
    busy_ms: u64,
}

/// One agent's time accounting since it was created: the open interval runs from `since` in
/// the state `activity`; closed intervals are summed in `totals`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct Occupancy {
    since: Millis,
    activity: Activity,
    totals: OccupancyTotals,
}

/// The totals of an agent's [`Occupancy`] at the last [`ROLLING_BUCKETS`] bucket boundaries it
/// crossed, so the occupancy of the last half hour is two subtractions
/// ([`RollingOccupancy::rolling`]): exact, integer (the same on every machine that replays the
/// journal), 144 bytes an agent (kept on the engine's agent, not in read views), and a few
/// stores when a state change crosses a boundary.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct RollingOccupancy {
    marks: [Mark; ROLLING_BUCKETS],
}

const _: () = assert!(
    std::mem::size_of::<RollingOccupancy>() == 144,
    "as documented"
);

/// Logged-in and busy time over the rolling window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rolling {
    pub logged_in_ms: u64,
    pub busy_ms: u64,
}

impl Rolling {
    /// Busy ÷ logged-in time over the window, where less than half the window was logged in
    /// counting the rest as idle: an agent who just logged in and took one call is not "fully
    /// occupied".
    pub fn occupancy(&self) -> f64 {
        let window = ROLLING_BUCKET_MS * ROLLING_BUCKETS as u64;
        ratio_or_zero(self.busy_ms, self.logged_in_ms.max(window / 2))
    }
}

/// Time sums; the ratios are derived.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct OccupancyTotals {
    pub logged_in_ms: u64,
    pub busy_ms: u64,
    /// Logged in, not ready and not busy.
    pub not_ready_ms: u64,
    /// Σ capacity units in use × ms, and Σ capacity × ms, while logged in.
    pub load_unit_ms: u64,
    pub capacity_unit_ms: u64,
}

/// An agent's occupancy clock at the start of the reporting day, for today's figures.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct DayMark {
    pub start: Millis,
    pub end: Millis,
    pub at_start: OccupancyTotals,
}

impl Occupancy {
    /// The sums over the reporting day holding `now`, given the mark of the day the agent's
    /// clock last rolled into. A day the marks have not reached started at the marked day's end
    /// (the clock's activity is unchanged since, so its totals there are exact).
    pub fn today(&self, day: &DayMark, now: Millis) -> OccupancyTotals {
        let totals = self.totals(now);
        if now < day.end || day.end == 0 {
            totals.since(&day.at_start)
        } else {
            totals.since(&self.totals(day.end.max(self.since)))
        }
    }

    pub fn new(now: Millis, activity: Activity) -> Occupancy {
        Occupancy {
            since: now,
            activity,
            ..Occupancy::default()
        }
    }

    pub fn activity(&self) -> Activity {
        self.activity
    }

    /// When the open interval began (the last change of activity).
    pub fn since(&self) -> Millis {
        self.since
    }

    /// The agent's activity changes at `now`.
    pub fn observe(&mut self, now: Millis, activity: Activity) {
        self.totals = self.totals(now);
        self.since = now.max(self.since);
        self.activity = activity;
    }

    /// The sums up to `now`, the open interval included.
    pub fn totals(&self, now: Millis) -> OccupancyTotals {
        let mut t = self.totals;
        let a = self.activity;
        let dt = now.saturating_sub(self.since);
        if a.logged_in {
            t.logged_in_ms += dt;
            if a.busy {
                t.busy_ms += dt;
            }
            if a.not_ready {
                t.not_ready_ms += dt;
            }
            t.load_unit_ms += dt * a.load.min(a.capacity) as u64;
            t.capacity_unit_ms += dt * a.capacity as u64;
        }
        t
    }
}

impl RollingOccupancy {
    /// Records `clock`'s totals at the boundaries in `(since, now]` (the last `ROLLING_BUCKETS`
    /// of them: older ones would be overwritten anyway). Called just before `clock` observes a
    /// change at `now`: its open interval runs unchanged across them, so `totals` at each is
    /// exact.
    pub fn mark(&mut self, clock: &Occupancy, now: Millis) {
        let last = now / ROLLING_BUCKET_MS;
        let first = (clock.since / ROLLING_BUCKET_MS + 1)
            .max(last.saturating_sub(ROLLING_BUCKETS as u64 - 1));
        for bucket in first..=last {
            let t = clock.totals(bucket * ROLLING_BUCKET_MS);
            self.marks[bucket as usize % ROLLING_BUCKETS] = Mark {
                bucket,
                logged_in_ms: t.logged_in_ms,
                busy_ms: t.busy_ms,
            };
        }
    }

    /// `clock`'s logged-in and busy time from the boundary `ROLLING_BUCKETS − 1` buckets before
    /// `now`'s up to `now`.
    pub fn rolling(&self, clock: &Occupancy, now: Millis) -> Rolling {
        let start = (now / ROLLING_BUCKET_MS).saturating_sub(ROLLING_BUCKETS as u64 - 1);
        let at = start * ROLLING_BUCKET_MS;
        let mark = self.marks[start as usize % ROLLING_BUCKETS];
        let base = if at >= clock.since {
            // Inside the open interval: computed, not recorded.
            let t = clock.totals(at);
            (t.logged_in_ms, t.busy_ms)
        } else if mark.bucket == start && start > 0 {
            (mark.logged_in_ms, mark.busy_ms)
        } else {
            // A boundary before `since` that was never crossed in a recorded interval: the
            // agent did not exist yet, its totals were zero.
            (0, 0)
        };
        let t = clock.totals(now);
        Rolling {
            logged_in_ms: t.logged_in_ms - base.0,
            busy_ms: t.busy_ms - base.1,
        }
    }
}

/// A queue's counts at one bucket boundary: answered within threshold, and ended (answered,
/// abandoned, expired).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq)]
struct SlMark {
    bucket: u64,
    met: u64,
    ended: u64,
}

/// A queue's `sl_offered` counts at the last [`ROLLING_BUCKETS`] bucket boundaries its counters
/// changed across, so its service level over the last half hour is two subtractions
/// ([`RollingServiceLevel::rolling`]): exact and integer, like [`RollingOccupancy`]. The
/// engine calls [`RollingServiceLevel::mark`] just before the counters change.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct RollingServiceLevel {
    /// When the counters last changed (0: never).
    since: Millis,
    marks: [SlMark; ROLLING_BUCKETS],
}

/// The counts `sl_offered` divides: (answered within threshold, ended).
fn sl_counts(c: &QueueCounters) -> (u64, u64) {
    (
        c.answered_within_threshold,
        c.answered + c.abandoned + c.expired,
    )
}

impl RollingServiceLevel {
    /// Records `counters` (about to change at `now`) at the boundaries in `(since, now]`: they
    /// held these values all that time.
    pub fn mark(&mut self, counters: &QueueCounters, now: Millis) {
        let (met, ended) = sl_counts(counters);
        let last = now / ROLLING_BUCKET_MS;
        let first = (self.since / ROLLING_BUCKET_MS + 1)
            .max(last.saturating_sub(ROLLING_BUCKETS as u64 - 1));
        for bucket in first..=last {
            self.marks[bucket as usize % ROLLING_BUCKETS] = SlMark { bucket, met, ended };
        }
        self.since = self.since.max(now);
    }

    /// `(answered within threshold, ended)` from the boundary `ROLLING_BUCKETS − 1` buckets
    /// before `now`'s up to `now`.
    pub fn rolling(&self, counters: &QueueCounters, now: Millis) -> (u64, u64) {
        let start = (now / ROLLING_BUCKET_MS).saturating_sub(ROLLING_BUCKETS as u64 - 1);
        let at = start * ROLLING_BUCKET_MS;
        let (met, ended) = sl_counts(counters);
        let mark = self.marks[start as usize % ROLLING_BUCKETS];
        let base = if at >= self.since {
            // Nothing changed since that boundary.
            (met, ended)
        } else if mark.bucket == start && start > 0 {
            (mark.met, mark.ended)
        } else {
            // A boundary before the first change: everything counted came after it.
            (0, 0)
        };
        (met - base.0, ended - base.1)
    }
}

/// The counters as they stood when a period (an interval, a day) began, and its bounds.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PeriodMark {
    pub start: Millis,
    pub end: Millis,
    at_start: QueueCounters,
}

/// A period's figures: its bounds and its counts (the queue's counters over the period only;
/// [`QueueCounters::service_level`] gives its service level, ASA and abandonment).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeriodFigures {
    pub start: Millis,
    pub end: Millis,
    pub counters: QueueCounters,
}

/// A queue's figures by period: the current interval, the previous one and the day, kept as
/// the counters at their starts so each is one subtraction.
///
/// The engine rolls the marks when its time crosses a boundary, before anything at that time
/// changes the counters ([`IntervalMarks::roll`]): since nothing changed between the last
/// change and the boundary, the counters then are the counters at the boundary, exactly. A
/// reader may look later than the last roll ([`IntervalMarks::figures`] handles a boundary
/// crossed since). Marks are engine state: they survive restarts and replay to the same values.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct IntervalMarks {
    interval: PeriodMark,
    previous: Option<PeriodMark>,
    day: PeriodMark,
}

impl QueueCounters {
    /// These counters as a mark: the additive counts only.
    fn marked(&self) -> QueueCounters {
        QueueCounters {
            recent_answers: VecDeque::new(),
            last_answer_wait_ms: None,
            ..self.clone()
        }
    }
}

impl IntervalMarks {
    /// Marks for a queue created during `interval` and `day` (bounds `[start, end)`): nothing
    /// counted before.
    pub fn starting(interval: (Millis, Millis), day: (Millis, Millis)) -> IntervalMarks {
        let mut marks = IntervalMarks::default();
        marks.roll(&QueueCounters::default(), interval, day);
        marks
    }

    /// Time has reached `interval` and `day` (the periods holding it); `counters` are as they
    /// stood at their starts (nothing changed since the last change before them).
    pub fn roll(
        &mut self,
        counters: &QueueCounters,
        interval: (Millis, Millis),
        day: (Millis, Millis),
    ) {
        if self.interval.start != interval.0 || self.interval.end != interval.1 {
            let length = interval.1 - interval.0;
            let follows = self.interval.end == interval.0
                && self.interval.end - self.interval.start == length;
            self.previous = Some(if follows {
                std::mem::take(&mut self.interval)
            } else {
                // The interval before this one saw no change (or the length changed): empty.
                PeriodMark {
                    start: interval.0.saturating_sub(length),
                    end: interval.0,
                    at_start: counters.marked(),
                }
            });
            self.interval = PeriodMark {
                start: interval.0,
                end: interval.1,
                at_start: counters.marked(),
            };
        }
        if self.day.start != day.0 {
            self.day = PeriodMark {
                start: day.0,
                end: day.1,
                at_start: counters.marked(),
            };
        }
    }

    /// `(current interval, previous interval, today)` at `now`, for `counters` (the queue's
    /// counters now). A period the marks have not reached yet saw no change: its figures are
    /// zero. After a day with no change at all, today's bounds are approximate (24 h from the
    /// last day's end).
    pub fn figures(
        &self,
        counters: &QueueCounters,
        now: Millis,
    ) -> (PeriodFigures, PeriodFigures, PeriodFigures) {
        let figures = |mark: &PeriodMark, until: &QueueCounters| PeriodFigures {
            start: mark.start,
            end: mark.end,
            counters: until.since(&mark.at_start),
        };
        let empty = |start: Millis, end: Millis| PeriodFigures {
            start,
            end,
            counters: QueueCounters::default(),
        };
        let current = &self.interval;
        let length = (current.end - current.start).max(1);
        let (interval, previous) = if now < current.end {
            let previous = match &self.previous {
                Some(p) => figures(p, &current.at_start),
                None => empty(current.start.saturating_sub(length), current.start),
            };
            (figures(current, counters), previous)
        } else if now < current.end + length {
            (
                empty(current.end, current.end + length),
                figures(current, counters),
            )
        } else {
            let start = now / length * length;
            (
                empty(start, start + length),
                empty(start.saturating_sub(length), start),
            )
        };
        const DAY_MS: Millis = 86_400_000;
        let today = if now < self.day.end {
            figures(&self.day, counters)
        } else if now < self.day.end + DAY_MS {
            empty(self.day.end, self.day.end + DAY_MS)
        } else {
            empty(now, now + DAY_MS)
        };
        (interval, previous, today)
    }
}

impl OccupancyTotals {
    /// (handling + wrap-up) / logged-in time; 0 for an agent never logged in.
    pub fn occupancy(&self) -> f64 {
        ratio_or_zero(self.busy_ms, self.logged_in_ms)
    }

    /// The industry's occupancy: (handling + wrap-up) / (handling + wrap-up + idle), with
    /// not-ready time left out; 0 with no such time.
    pub fn occupancy_excl_not_ready(&self) -> f64 {
        ratio_or_zero(
            self.busy_ms,
            self.logged_in_ms.saturating_sub(self.not_ready_ms),
        )
    }

    /// Capacity in use / capacity over logged-in time.
    pub fn utilisation(&self) -> f64 {
        ratio_or_zero(self.load_unit_ms, self.capacity_unit_ms)
    }

    /// The sums between `earlier` and these.
    pub fn since(&self, earlier: &OccupancyTotals) -> OccupancyTotals {
        OccupancyTotals {
            logged_in_ms: self.logged_in_ms.saturating_sub(earlier.logged_in_ms),
            busy_ms: self.busy_ms.saturating_sub(earlier.busy_ms),
            not_ready_ms: self.not_ready_ms.saturating_sub(earlier.not_ready_ms),
            load_unit_ms: self.load_unit_ms.saturating_sub(earlier.load_unit_ms),
            capacity_unit_ms: self
                .capacity_unit_ms
                .saturating_sub(earlier.capacity_unit_ms),
        }
    }

    pub fn add(&mut self, other: &OccupancyTotals) {
        self.logged_in_ms += other.logged_in_ms;
        self.busy_ms += other.busy_ms;
        self.not_ready_ms += other.not_ready_ms;
        self.load_unit_ms += other.load_unit_ms;
        self.capacity_unit_ms += other.capacity_unit_ms;
    }
}

/// `num / den`, or 0 when there is nothing to divide by (occupancy of an agent never logged in,
/// a rate of nothing).
pub fn ratio_or_zero(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random day of state changes; the rolling figures must equal the totals' difference
    /// over the window, computed from a full log of the totals.
    #[test]
    fn rolling_occupancy_is_the_totals_over_the_last_buckets() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let created = 7 * 60_000 + 123;
        let mut o = Occupancy::new(created, Activity::default());
        let mut r = RollingOccupancy::default();
        // (time, occupancy) after every change, to read totals at any past instant from.
        let mut log = vec![(created, o)];
        let totals_at = |log: &[(Millis, Occupancy)], t: Millis| {
            if t < created {
                return OccupancyTotals::default();
            }
            let (_, o) = log.iter().rev().find(|(at, _)| *at <= t).unwrap();
            o.totals(t)
        };
        let mut now = created;
        for _ in 0..400 {
            now += rng.random_range(0..9 * 60_000);
            let logged_in = rng.random_bool(0.8);
            r.mark(&o, now);
            o.observe(
                now,
                Activity {
                    logged_in,
                    busy: logged_in && rng.random_bool(0.6),
                    not_ready: false,
                    load: 0,
                    capacity: 1,
                },
            );
            log.push((now, o));
            for probe in [now, now + rng.random_range(0..40 * 60_000)] {
                let start = (probe / ROLLING_BUCKET_MS).saturating_sub(ROLLING_BUCKETS as u64 - 1);
                let from = totals_at(&log, start * ROLLING_BUCKET_MS);
                let to = o.totals(probe);
                let want = Rolling {
                    logged_in_ms: to.logged_in_ms - from.logged_in_ms,
                    busy_ms: to.busy_ms - from.busy_ms,
                };
                assert_eq!(r.rolling(&o, probe), want, "at {probe} (changed at {now})");
            }
        }
    }

    #[test]
    fn rolling_occupancy_counts_a_short_login_against_half_the_window() {
        let half = ROLLING_BUCKET_MS * ROLLING_BUCKETS as u64 / 2;
        let r = Rolling {
            logged_in_ms: 60_000,
            busy_ms: 60_000,
        };
        assert_eq!(r.occupancy(), 60_000.0 / half as f64);
        let r = Rolling {
            logged_in_ms: 2 * half,
            busy_ms: half,
        };
        assert_eq!(r.occupancy(), 0.5);
    }

    #[test]
    fn occupancy_counts_handling_and_wrap_up_over_logged_in_time() {
        let mut o = Occupancy::new(0, Activity::default());
        let ready = Activity {
            logged_in: true,
            busy: false,
            not_ready: false,
            load: 0,
            capacity: 3,
        };
        // Offline 0–10 s, ready 10–20 s, one chat of three 20–50 s, wrap-up 50–60 s.
        o.observe(10_000, ready);
        o.observe(
            20_000,
            Activity {
                busy: true,
                load: 1,
                ..ready
            },
        );
        o.observe(
            50_000,
            Activity {
                busy: true,
                ..ready
            },
        );
        let at_50 = o.totals(50_000);
        o.observe(60_000, ready);
        let t = o.totals(70_000);
        assert_eq!(t.logged_in_ms, 60_000);
        assert_eq!(t.busy_ms, 40_000);
        assert!((t.occupancy() - 40.0 / 60.0).abs() < 1e-12);
        assert!((t.utilisation() - 30.0 / 180.0).abs() < 1e-12);
        // A window: from 50 s to 70 s, 10 s of 20 busy.
        let window = t.since(&at_50);
        assert!((window.occupancy() - 0.5).abs() < 1e-12);
        assert_eq!(OccupancyTotals::default().occupancy(), 0.0);
        // Then 20 s not ready (70–90 s), 10 s ready: the industry's occupancy leaves the
        // not-ready time out; occupancy over logged-in time counts it as idle.
        o.observe(
            70_000,
            Activity {
                not_ready: true,
                ..ready
            },
        );
        o.observe(90_000, ready);
        let t = o.totals(100_000);
        assert_eq!(t.not_ready_ms, 20_000);
        assert!((t.occupancy() - 40.0 / 90.0).abs() < 1e-12);
        assert!((t.occupancy_excl_not_ready() - 40.0 / 70.0).abs() < 1e-12);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut waits: Vec<u64> = (1..=10).rev().collect();
        assert_eq!(percentile(&mut waits, 90.0), Some(9));
        assert_eq!(percentile(&mut waits, 100.0), Some(10));
        assert_eq!(percentile(&mut waits, 0.0), Some(1));
        assert_eq!(percentile(&mut [], 90.0), None);
    }

    #[test]
    fn a_window_of_counters_and_their_sum() {
        let mut c = QueueCounters {
            offered: 2,
            ..Default::default()
        };
        c.record_answer(5_000, 20_000, 1_000);
        let earlier = c.clone();
        c.offered += 2;
        c.record_answer(30_000, 20_000, 2_000);
        c.record_abandon(1_000, 20_000);
        let window = c.since(&earlier);
        assert_eq!(
            (window.offered, window.answered, window.abandoned),
            (2, 1, 1)
        );
        let sl = window.service_level();
        assert_eq!(sl.sl_answered, 0.0);
        assert_eq!(sl.asa_ms, 30_000);
        let mut total = window.clone();
        total.add(&earlier);
        assert_eq!(total.answered, 2);
        assert_eq!(total.answered_within_threshold, 1);
    }

    #[test]
    fn service_levels_follow_their_definitions() {
        let mut c = QueueCounters::default();
        // 3 answered: 2 within 20 s, one after.
        c.record_answer(5_000, 20_000, 1_000);
        c.record_answer(20_000, 20_000, 2_000);
        c.record_answer(40_000, 20_000, 3_000);
        // 3 abandoned: one short (within the 5 s short-abandon time), one within T but not
        // short, one long.
        c.record_abandon(3_000, 5_000);
        c.record_abandon(12_000, 5_000);
        c.record_abandon(60_000, 5_000);
        let sl = c.service_level();
        assert!((sl.sl_answered - 2.0 / 3.0).abs() < 1e-9);
        assert!((sl.sl_offered - 2.0 / 6.0).abs() < 1e-9);
        assert!((sl.sl_excl_short_abandons - 2.0 / 5.0).abs() < 1e-9);
        assert_eq!(sl.asa_ms, 65_000 / 3);
        assert!((sl.abandon_rate - 0.5).abs() < 1e-9);
        // With no short-abandon time, none is left out.
        let mut none = QueueCounters::default();
        none.record_abandon(1_000, 0);
        assert_eq!(none.abandoned_short, 0);
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

    #[test]
    fn rolling_service_level_counts_the_last_half_hour_exactly() {
        const MIN: Millis = 60_000;
        let mut c = QueueCounters::default();
        let mut r = RollingServiceLevel::default();
        let t0 = 1_000 * ROLLING_BUCKET_MS;
        // Ten answers within threshold in the first minutes, then quiet, then two misses.
        for i in 0..10 {
            r.mark(&c, t0 + i * 1_000);
            c.record_answer(1_000, 10_000, t0 + i * 1_000);
        }
        assert_eq!(r.rolling(&c, t0 + 20 * MIN), (10, 10));
        for i in 0..2 {
            r.mark(&c, t0 + 40 * MIN + i);
            c.record_answer(20_000, 10_000, t0 + 40 * MIN + i);
        }
        // At 40 minutes the window starts at 15 minutes: the first ten are out of it.
        assert_eq!(r.rolling(&c, t0 + 40 * MIN + 5), (0, 2));
        r.mark(&c, t0 + 41 * MIN);
        c.record_abandon(5_000, 10_000);
        assert_eq!(r.rolling(&c, t0 + 41 * MIN), (0, 3));
        // An hour later, with no change since, the window is empty.
        assert_eq!(r.rolling(&c, t0 + 100 * MIN), (0, 0));
        // The same counts from scratch, by brute force over the event times.
        let events = (0..10)
            .map(|i| (t0 + i * 1_000, true))
            .chain([(t0 + 40 * MIN, false), (t0 + 40 * MIN + 1, false)])
            .chain([(t0 + 41 * MIN, false)])
            .collect::<Vec<_>>();
        // (Asked only after the last change: the counters are today's.)
        for now in (41..120).map(|m| t0 + m * MIN + 7) {
            let start =
                (now / ROLLING_BUCKET_MS - (ROLLING_BUCKETS as u64 - 1)) * ROLLING_BUCKET_MS;
            let inside = events.iter().filter(|(t, _)| *t >= start && *t <= now);
            let met = inside.clone().filter(|(_, m)| *m).count() as u64;
            let ended = inside.count() as u64;
            assert_eq!(r.rolling(&c, now), (met, ended), "at {now}");
        }
    }
}
