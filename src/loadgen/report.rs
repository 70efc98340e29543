//! The load generator's live progress line and its final report (table or JSON).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::driver::Summary;
use super::{LoadgenConfig, Shared};
use crate::proto as pb;

/// A progress bar over the run's duration with a live throughput line (hidden with --quiet or
/// when stderr is not a terminal).
pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn start(config: &LoadgenConfig, duration: Duration) -> Progress {
        if config.quiet {
            return Progress(None);
        }
        let bar = ProgressBar::new(duration.as_millis() as u64);
        bar.set_style(
            ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        Progress(Some(bar))
    }

    /// Refreshes the line twice a second until aborted.
    pub fn tick(&self, shared: Arc<Shared>, started: Instant) -> tokio::task::JoinHandle<()> {
        let bar = self.0.clone();
        tokio::spawn(async move {
            let Some(bar) = bar else { return };
            let mut last = (Instant::now(), 0);
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let enqueued = shared.enqueued.load(Ordering::Relaxed);
                let rate = (enqueued - last.1) as f64 / last.0.elapsed().as_secs_f64();
                last = (Instant::now(), enqueued);
                let p99 = shared.enqueue.lock().summary().p99;
                let errors: u64 = shared.errors.lock().values().sum();
                bar.set_position(started.elapsed().as_millis() as u64);
                bar.set_message(format!(
                    "{rate:>9.0} contacts/s  enqueue p99 {:>7.2} ms  {enqueued} enqueued  {errors} errors",
                    p99 as f64 / 1000.0
                ));
            }
        })
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// The server's figures for the run's queue.
#[derive(Debug, Default, serde::Serialize)]
pub struct ServerFigures {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub sl_answered: f64,
    pub sl_offered: f64,
    pub asa_ms: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub target: String,
    pub seconds: f64,
    pub agents: usize,
    pub concurrency: Option<usize>,
    pub rate: Option<f64>,
    pub batch: usize,
    pub subscribers: usize,
    pub enqueued: u64,
    pub completed: u64,
    pub contacts_per_second: f64,
    /// Per call (a batch is one call), microseconds.
    pub enqueue_latency_us: Summary,
    pub enqueue_to_offer_us: Summary,
    pub subscriber_lag_ms: Summary,
    pub subscriber_events: u64,
    pub subscriber_lag_notices: u64,
    pub idle_agents: usize,
    pub pollers: usize,
    pub get_snapshot_us: Summary,
    pub list_agents_us: Summary,
    pub errors: BTreeMap<String, u64>,
    pub server: Option<ServerFigures>,
}

impl Report {
    pub(super) fn new(
        config: &LoadgenConfig,
        elapsed: Duration,
        shared: &Shared,
        stats: Option<pb::QueueStats>,
    ) -> Report {
        let enqueued = shared.enqueued.load(Ordering::Relaxed);
        Report {
            target: config.target.clone(),
            seconds: elapsed.as_secs_f64(),
            agents: config.agents,
            concurrency: config.rate.is_none().then_some(config.concurrency),
            rate: config.rate,
            batch: config.batch,
            subscribers: config.subscribers,
            enqueued,
            completed: shared.completed.load(Ordering::Relaxed),
            contacts_per_second: enqueued as f64 / elapsed.as_secs_f64(),
            enqueue_latency_us: shared.enqueue.lock().summary(),
            enqueue_to_offer_us: shared.to_offer.lock().summary(),
            subscriber_lag_ms: shared.lag_ms.lock().summary(),
            subscriber_events: shared.events.load(Ordering::Relaxed),
            subscriber_lag_notices: shared.lagged.load(Ordering::Relaxed),
            idle_agents: config.idle_agents,
            pollers: config.pollers,
            get_snapshot_us: shared.snapshot_polls.lock().summary(),
            list_agents_us: shared.list_polls.lock().summary(),
            errors: shared.errors.lock().clone(),
            server: stats.map(|q| ServerFigures {
                offered: q.offered,
                answered: q.answered,
                abandoned: q.abandoned,
                sl_answered: q.sl_answered,
                sl_offered: q.sl_offered,
                asa_ms: q.asa_ms,
            }),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    pub fn to_table(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let latency = |name: &str, s: &Summary| {
            format!(
                "{name:<22} p50 {:>8.3} ms   p99 {:>8.3} ms   p99.9 {:>8.3} ms   max {:>8.3} ms   (n={})\n",
                ms(s.p50),
                ms(s.p99),
                ms(s.p999),
                ms(s.max),
                s.count
            )
        };
        let mode = match (self.rate, self.concurrency) {
            (Some(rate), _) => format!("open loop at {rate} contacts/s"),
            (None, Some(c)) => format!("closed loop, {c} calls in flight"),
            _ => String::new(),
        };
        let mut out = format!(
            "routerd loadgen against {}: {:.1} s, {} agents, {mode}, batch {}, {} subscribers",
            self.target, self.seconds, self.agents, self.batch, self.subscribers
        );
        if self.idle_agents > 0 || self.pollers > 0 {
            out += &format!(
                ", {} idle agents, {} pollers",
                self.idle_agents, self.pollers
            );
        }
        out += "\n\n";
        out += &format!(
            "{:<22} {:.0} contacts/s ({} enqueued, {} completed)\n",
            "sustained", self.contacts_per_second, self.enqueued, self.completed
        );
        out += &latency("enqueue RPC", &self.enqueue_latency_us);
        out += &latency("enqueue → offer", &self.enqueue_to_offer_us);
        if self.subscribers > 0 {
            let s = &self.subscriber_lag_ms;
            out += &format!(
                "{:<22} p50 {:>5} ms   p99 {:>5} ms   max {:>5} ms   ({} events, {} lag notices)\n",
                "subscriber lag",
                s.p50,
                s.p99,
                s.max,
                self.subscriber_events,
                self.subscriber_lag_notices
            );
        }
        if self.pollers > 0 {
            out += &latency("GetSnapshot (pollers)", &self.get_snapshot_us);
            out += &latency("ListAgents (pollers)", &self.list_agents_us);
        }
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        out += &format!(
            "{:<22} {}\n",
            "errors",
            if errors.is_empty() {
                "none".into()
            } else {
                errors.join(", ")
            }
        );
        if let Some(s) = &self.server {
            out += &format!(
                "{:<22} offered {}, answered {}, abandoned {}, sl_answered {:.1} %, sl_offered {:.1} %, ASA {} ms\n",
                "server (queue)",
                s.offered,
                s.answered,
                s.abandoned,
                s.sl_answered * 100.0,
                s.sl_offered * 100.0,
                s.asa_ms
            );
        }
        out
    }
}
