//! The simulator's own guarantees, and the service-level strategy judged on it.

use super::*;
use crate::core::StrategyConfig;

/// Two queues share one pool of 14 agents at about 77 % load: `urgent` (10 s threshold) and
/// `patient` (60 s), both with an 80 % target.
fn shared_pool(contact_strategy: &str, seed: u64) -> Scenario {
    let queue = |name: &str, threshold: u32| {
        let mut q = QueueConfig::new(name);
        q.sl_threshold_secs = threshold;
        q.sl_target_percent = 80.0;
        q.strategy = StrategyConfig {
            contact: contact_strategy.into(),
            ..StrategyConfig::default()
        };
        q
    };
    let traffic = |queue: QueueConfig, per_hour: f64| QueueTraffic {
        queue,
        channel: Channel::Voice,
        arrivals_per_hour: per_hour,
        mean_handle_secs: 180.0,
        mean_patience_secs: None,
        required_skills: Vec::new(),
    };
    Scenario {
        seed,
        duration_secs: 8 * 3600,
        queues: vec![
            traffic(queue("urgent", 10), 90.0),
            traffic(queue("patient", 60), 126.0),
        ],
        groups: vec![AgentGroup {
            name: "pool".into(),
            count: 14,
            skills: Vec::new(),
        }],
    }
}

/// How far the queues fall short of their targets, summed (service level as `sl_answered`).
fn shortfall(report: &SimReport) -> f64 {
    report
        .queues
        .iter()
        .map(|q| (q.config.sl_target_percent / 100.0 - q.service_level.sl_answered).max(0.0))
        .sum()
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = run(&shared_pool("priority-fifo", 7)).unwrap();
    let b = run(&shared_pool("priority-fifo", 7)).unwrap();
    assert_eq!(format!("{:?}", a.queues), format!("{:?}", b.queues));
    let c = run(&shared_pool("priority-fifo", 8)).unwrap();
    assert_ne!(format!("{:?}", a.queues), format!("{:?}", c.queues));
}

/// The same traffic (same seeds) under priority-FIFO and under service-level: FIFO gives both
/// queues the same waits, so the 10 s queue misses badly while the 60 s queue over-achieves;
/// service-level spends the 60 s queue's slack on the 10 s queue.
#[test]
fn service_level_keeps_two_queues_sharing_a_pool_closer_to_target_than_fifo() {
    for seed in [1, 2, 3] {
        let fifo = run(&shared_pool("priority-fifo", seed)).unwrap();
        let sl = run(&shared_pool("service-level", seed)).unwrap();
        let answered = |r: &SimReport| r.queues.iter().map(|q| q.counters.answered).sum::<u64>();
        assert!(answered(&fifo) > 1_000, "enough traffic to judge");
        let sl_of = |r: &SimReport, i: usize| r.queues[i].service_level.sl_answered;
        eprintln!(
            "seed {seed}: urgent {:.3} → {:.3}, patient {:.3} → {:.3} (FIFO → service-level)",
            sl_of(&fifo, 0),
            sl_of(&sl, 0),
            sl_of(&fifo, 1),
            sl_of(&sl, 1)
        );
        assert!(
            shortfall(&sl) < shortfall(&fifo),
            "seed {seed}: service-level misses by {:.3}, FIFO by {:.3} (urgent {:.3} vs {:.3}, \
             patient {:.3} vs {:.3})",
            shortfall(&sl),
            shortfall(&fifo),
            sl_of(&sl, 0),
            sl_of(&fifo, 0),
            sl_of(&sl, 1),
            sl_of(&fifo, 1),
        );
        assert!(sl_of(&sl, 0) > sl_of(&fifo, 0));
    }
}
