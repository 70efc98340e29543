//! Measuring tools shared by the load generator and the echo comparison bench: an HDR
//! histogram of latencies, and a closed-loop driver that keeps N calls in flight for a while.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Latencies in microseconds (or any u64 figure), 3 significant digits.
pub struct Histogram(hdrhistogram::Histogram<u64>);

/// The figures a report quotes.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram(hdrhistogram::Histogram::new(3).expect("3 significant digits is valid"))
    }

    pub fn record(&mut self, latency: Duration) {
        self.record_value(latency.as_micros() as u64);
    }

    pub fn record_value(&mut self, value: u64) {
        // Auto-resizing: recording cannot fail.
        let _ = self.0.record(value);
    }

    pub fn add(&mut self, other: &Histogram) {
        let _ = self.0.add(&other.0);
    }

    pub fn summary(&self) -> Summary {
        let h = &self.0;
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// What a closed-loop run did.
pub struct Run {
    pub calls: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency: Histogram,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// Keeps `concurrency` calls in flight for `duration`; counts the successful ones.
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, call: F) -> Run
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), tonic::Status>> + Send,
{
    let started = Instant::now();
    let until = started + duration;
    let total = Arc::new(Mutex::new((0u64, 0u64, Histogram::new())));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let call = call.clone();
            let total = total.clone();
            tokio::spawn(async move {
                let (mut calls, mut errors, mut latency) = (0, 0, Histogram::new());
                while Instant::now() < until {
                    let sent = Instant::now();
                    match call().await {
                        Ok(()) => {
                            calls += 1;
                            latency.record(sent.elapsed());
                        }
                        Err(_) => errors += 1,
                    }
                }
                let mut t = total.lock();
                t.0 += calls;
                t.1 += errors;
                t.2.add(&latency);
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed();
    let (calls, errors, latency) = std::mem::take(&mut *total.lock());
    Run {
        calls,
        errors,
        elapsed,
        latency,
    }
}
