use super::*;
use crate::sim::scenario::Scenario;

const MINUTE: u64 = 60_000;

fn multi_skill(hours: u32) -> Scenario {
    let text = include_str!("../../benches/scenarios/multi-skill.toml")
        .replace("hours = 8", &format!("hours = {hours}"))
        .replace("warm_up_minutes = 30", "warm_up_minutes = 0");
    Scenario::from_toml(&text).unwrap()
}

fn recorded(scenario: &Scenario) -> (SimReport, Recording) {
    let (report, records) = crate::sim::record(scenario).unwrap();
    let recording = Recording::read("multi-skill", &records, 60 * MINUTE, true).unwrap();
    (report, recording)
}

fn options(changes: Vec<Change>, replications: u32) -> Options {
    Options {
        changes,
        replications,
        seed: 1,
        by_interval: false,
    }
}

#[test]
fn the_recording_counts_what_the_simulator_counted() {
    let (sim, rec) = recorded(&multi_skill(2));
    assert_eq!(rec.report.queues.len(), sim.queues.len());
    for (r, s) in rec.report.queues.iter().zip(&sim.queues) {
        assert_eq!(r.queue, s.queue);
        assert_eq!(
            (r.offered, r.answered, r.abandoned),
            (s.offered, s.answered, s.abandoned),
            "{}",
            r.queue
        );
        assert_eq!(r.sl_answered, s.sl_answered, "{}", r.queue);
        assert_eq!(r.asa_s, s.asa_s, "{}", r.queue);
        assert_eq!(r.ewt, s.ewt, "{}: wait estimates scored alike", r.queue);
    }
    assert!(
        rec.report.overall.abandoned > 0,
        "the test needs abandonment"
    );
    // Two hours by the hour.
    assert_eq!(rec.report.intervals.len(), 2);
    let by_hour: u64 = rec
        .report
        .intervals
        .iter()
        .map(|i| i.figures.overall.offered)
        .sum();
    assert_eq!(by_hour, rec.report.overall.offered);
}

#[test]
fn a_replay_without_change_reproduces_the_recorded_figures() {
    let (_, rec) = recorded(&multi_skill(2));
    let comparison = replay(&rec, &options(Vec::new(), 3)).unwrap();
    assert_eq!(comparison.columns.len(), 2);
    let recorded = &rec.report.overall;
    let runs = &comparison.columns[1].runs;
    let mean = |f: &dyn Fn(&SimReport) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
    let offered = mean(&|r| r.overall.offered as f64);
    assert_eq!(
        offered, recorded.offered as f64,
        "the same customers arrive"
    );
    let sl = mean(&|r| r.overall.sl_answered);
    let abandon = mean(&|r| r.overall.abandon_rate);
    let asa = mean(&|r| r.overall.asa_s);
    println!(
        "recorded sl {:.3} aband {:.3} asa {:.1}; replay sl {sl:.3} aband {abandon:.3} asa {asa:.1}",
        recorded.sl_answered, recorded.abandon_rate, recorded.asa_s
    );
    // The simulator's agents answer at once and its customers' patience ends in abandonment
    // or outlasts their wait, so a faithful replay meets the same customers at the same agents:
    // only the patience drawn for those who were answered is new, and it exceeds their wait.
    assert!((sl - recorded.sl_answered).abs() < 0.005, "sl {sl}");
    assert!(
        (abandon - recorded.abandon_rate).abs() < 0.005,
        "abandon {abandon}"
    );
    assert!(
        (asa - recorded.asa_s).abs() < 0.03 * recorded.asa_s,
        "asa {asa}"
    );
    let table = comparison.to_table();
    assert!(
        table.contains("recorded") && table.contains("replay"),
        "{table}"
    );
}

#[test]
fn a_replay_is_the_same_byte_for_byte_on_the_same_seed() {
    let (_, rec) = recorded(&multi_skill(1));
    let change = || Change {
        strategy: Some("performance".into()),
        ..Change::default()
    };
    let a = replay(&rec, &options(vec![change()], 1)).unwrap().to_json();
    let b = replay(&rec, &options(vec![change()], 1)).unwrap().to_json();
    assert_eq!(a, b);
}

#[test]
fn a_change_names_only_what_the_recording_has() {
    let (_, rec) = recorded(&multi_skill(1));
    let bad = [
        (
            Change {
                strategy: Some("no-such-strategy".into()),
                ..Change::default()
            },
            "no-such-strategy",
        ),
        (
            Change {
                strategy: Some("reference".into()),
                ..Change::default()
            },
            "reference",
        ),
        (
            Change {
                strategy: Some("interrupt=off+longest-idle".into()),
                ..Change::default()
            },
            "interrupt=off is for simulate",
        ),
        (
            Change {
                remove_agents: vec!["nobody".into()],
                ..Change::default()
            },
            "nobody",
        ),
        (
            Change {
                add_agents: vec![("new-1".into(), "nobody".into())],
                ..Change::default()
            },
            "nobody",
        ),
        (
            Change {
                add_agents: vec![(rec.agents[0].to_string(), rec.agents[1].to_string())],
                ..Change::default()
            },
            "already an agent",
        ),
        (
            Change {
                queue_settings: vec!["no-such-queue.wrap_up_seconds=5".into()],
                ..Change::default()
            },
            "no queue",
        ),
        (
            Change {
                queue_settings: vec!["en-tech.no_such_key=5".into()],
                ..Change::default()
            },
            "no_such_key",
        ),
        (
            Change {
                queue_settings: vec!["en-tech.wrap_up_seconds=-5".into()],
                ..Change::default()
            },
            "wrap_up_seconds",
        ),
        (
            Change {
                queue_settings: vec!["en-tech.wrap_up_seconds".into()],
                ..Change::default()
            },
            "QUEUE.KEY=VALUE",
        ),
    ];
    for (change, says) in bad {
        let err = replay(&rec, &options(vec![change], 1)).unwrap_err();
        assert!(format!("{err:#}").contains(says), "{err:#}");
    }
}

#[test]
fn fewer_agents_wait_longer_and_more_agents_shorter() {
    let (_, rec) = recorded(&multi_skill(1));
    let first = rec.agents[0].to_string();
    let fewer = Change {
        remove_agents: rec.agents[..6].iter().map(|a| a.to_string()).collect(),
        ..Change::default()
    };
    let more = Change {
        add_agents: (0..6)
            .map(|i| (format!("extra-{i}"), first.clone()))
            .collect(),
        ..Change::default()
    };
    let c = replay(&rec, &options(vec![fewer, more], 2)).unwrap();
    let asa = |col: usize| {
        c.columns[col]
            .runs
            .iter()
            .map(|r| r.overall.asa_s)
            .sum::<f64>()
            / c.columns[col].runs.len() as f64
    };
    assert!(
        asa(2) > asa(1),
        "fewer agents: {} against {}",
        asa(2),
        asa(1)
    );
    assert!(
        asa(3) < asa(1),
        "more agents: {} against {}",
        asa(3),
        asa(1)
    );
    assert_eq!(c.columns[3].runs[0].floor.agents, rec.agents.len() + 6);
}

#[test]
fn a_strategy_change_moves_resolution_the_way_the_simulator_does() {
    // Three experts who resolve 98 % among 37 who resolve 55 %: `performance` learns who they
    // are and sends them more calls.
    let text = include_str!("../../benches/scenarios/rare-experts.toml")
        .replace("hours = 8", "hours = 3")
        .replace("warm_up_minutes = 60", "warm_up_minutes = 0");
    let scenario = Scenario::from_toml(&text).unwrap();
    let (_, rec) = recorded(&scenario);
    let sim =
        crate::sim::compare(&scenario, &["longest-idle".into(), "performance".into()], 1).unwrap();
    let fcr = |r: &SimReport| r.overall.first_contact_resolution;
    let sim_gain = fcr(&sim.columns[1].runs[0]) - fcr(&sim.columns[0].runs[0]);
    let change = Change {
        strategy: Some("performance".into()),
        ..Change::default()
    };
    let c = replay(&rec, &options(vec![change], 2)).unwrap();
    let mean = |col: usize| {
        c.columns[col].runs.iter().map(fcr).sum::<f64>() / c.columns[col].runs.len() as f64
    };
    let replay_gain = mean(2) - mean(1);
    assert!(
        sim_gain > 0.01,
        "the scenario rewards performance: {sim_gain}"
    );
    assert!(
        replay_gain > 0.01,
        "the replay moves the same way: {replay_gain}"
    );
}

#[test]
fn a_journal_on_disk_reads_as_the_same_recording_and_damage_is_refused() {
    let (_, records) = crate::sim::record(&multi_skill(1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), &records, 1_000).unwrap();
    let in_memory = Recording::read("day", &records, 60 * MINUTE, false).unwrap();
    let journal = JournalDir::open(dir.path()).unwrap();
    let on_disk = Recording::read("day", &journal, 60 * MINUTE, false).unwrap();
    assert_eq!(on_disk.report, in_memory.report);
    assert_eq!(on_disk.records, records.len() as u64);
    assert!(
        write_journal(dir.path(), &records, 1_000).is_err(),
        "a second journal over the first"
    );

    // A byte changed inside the first segment, with segments after it: damage, named.
    let mut segments: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    assert!(segments.len() > 1);
    let mut bytes = std::fs::read(&segments[0]).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&segments[0], &bytes).unwrap();
    let err = Recording::read(
        "day",
        &JournalDir::open(dir.path()).unwrap(),
        60 * MINUTE,
        false,
    )
    .err()
    .expect("refused");
    assert!(format!("{err:#}").contains("damaged"), "{err:#}");

    // A segment of another format (an older or newer routerd).
    bytes[..8].copy_from_slice(b"RTRDJRN9");
    std::fs::write(&segments[0], &bytes).unwrap();
    let err = Recording::read(
        "day",
        &JournalDir::open(dir.path()).unwrap(),
        60 * MINUTE,
        false,
    )
    .err()
    .expect("refused");
    assert!(format!("{err:#}").contains("another format"), "{err:#}");
}

#[test]
fn a_fitted_scenario_has_the_recorded_floor_and_traffic() {
    let scenario = multi_skill(4);
    let (_, rec) = recorded(&scenario);
    let text = export::scenario_toml(&rec).unwrap();
    let fitted = Scenario::from_toml(&text).unwrap();
    assert_eq!(fitted.queues.len(), scenario.queues.len());
    // The same agents, grouped by skills as the scenario grouped them.
    let agents: usize = fitted.groups.iter().map(|g| g.count).sum();
    assert_eq!(agents, rec.agents.len());
    assert_eq!(fitted.groups.len(), scenario.groups.len(), "{text}");
    // Experts faster than generalists, as in the scenario (handle factors 0.9 and 1.25).
    let (min, max) = fitted
        .groups
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), g| {
            (lo.min(g.handle_factor), hi.max(g.handle_factor))
        });
    assert!(max / min > 1.2, "speed differences fitted: {min}..{max}");
    // Its traffic, simulated, offers about what the recording offered.
    let report = crate::sim::run(&fitted).unwrap();
    let (sim, recorded) = (
        report.overall.offered as f64,
        rec.report.overall.offered as f64,
    );
    assert!(
        (sim / recorded - 1.0).abs() < 0.1,
        "{sim} against {recorded}"
    );
    // Patience: en-billing customers were exponential with a mean of 120 s.
    let en_billing = fitted
        .traffic
        .iter()
        .find(|t| t.queue == "en-billing")
        .unwrap();
    let patience = en_billing.mean_patience_secs.unwrap();
    assert!((60.0..240.0).contains(&patience), "{patience}");
}

#[test]
fn a_longer_wrap_up_on_one_queue_slows_that_queue() {
    let (_, rec) = recorded(&multi_skill(2));
    let change = Change {
        queue_settings: vec!["en-billing.wrap_up_seconds=120".into()],
        ..Change::default()
    };
    let c = replay(&rec, &options(vec![change], 2)).unwrap();
    let asa = |col: usize| {
        let runs = &c.columns[col].runs;
        runs.iter().map(|r| r.queues[0].asa_s).sum::<f64>() / runs.len() as f64
    };
    assert_eq!(c.columns[1].runs[0].queues[0].queue, "en-billing");
    assert!(asa(2) > asa(1) + 1.0, "{} against {}", asa(2), asa(1));
    assert_eq!(c.columns[2].strategy, "en-billing.wrap_up_seconds=120");
}

#[test]
fn agents_who_start_an_hour_later_leave_their_queue_waiting() {
    let (_, rec) = recorded(&multi_skill(2));
    let late = Change {
        shifts: vec![("en-tech-*".into(), 60)],
        ..Change::default()
    };
    let c = replay(&rec, &options(vec![late], 2)).unwrap();
    let en_tech = |col: usize| {
        let runs = &c.columns[col].runs;
        runs.iter()
            .map(|r| {
                r.queues
                    .iter()
                    .find(|q| q.queue == "en-tech")
                    .unwrap()
                    .asa_s
            })
            .sum::<f64>()
            / runs.len() as f64
    };
    assert!(
        en_tech(2) > en_tech(1) + 5.0,
        "{} against {}",
        en_tech(2),
        en_tech(1)
    );
    assert_eq!(c.columns[2].strategy, "en-tech-* +60 min");
    let nobody = Change {
        shifts: vec![("nobody-*".into(), 60)],
        ..Change::default()
    };
    let err = replay(&rec, &options(vec![nobody], 1)).unwrap_err();
    assert!(format!("{err:#}").contains("no such agent"), "{err:#}");
}

/// A desktop that accepts and completes within one millisecond (a handle time of zero, as
/// `routerd loadgen` plays it on an idle machine) frees its agent in that millisecond: the
/// next contact of the same millisecond goes to it at once. The replay keeps that leg at zero
/// length; a leg stretched to one millisecond left the contacts after it waiting past the
/// recording's end.
#[test]
fn a_leg_of_zero_milliseconds_frees_its_agent_in_the_same_millisecond() {
    use crate::core::{AgentSpec, Applied, Channel, NewContact, Presence, QueueConfig};
    let at = 5_000_000;
    let mut records: Vec<(Millis, Command)> = vec![
        (at, Command::PutQueue(Box::new(QueueConfig::new("q")))),
        (at, Command::PutAgent(AgentSpec::new("a"))),
        (
            at,
            Command::SetPresence {
                agent: "a".into(),
                presence: Presence::Ready,
            },
        ),
    ];
    // Each contact: enqueued, offered to the one agent, accepted and completed, all at `t`.
    let mut engine = Engine::new(crate::core::EngineConfig::default());
    for (t, c) in &records {
        engine.apply(c.clone(), *t).unwrap();
    }
    let t = at + 1_000;
    for _ in 0..5 {
        let enqueue = Command::Enqueue(NewContact::new("q", Channel::Voice));
        let Ok(Applied::Enqueued { contact, .. }) = engine.apply(enqueue.clone(), t) else {
            panic!("enqueued");
        };
        let (contact, agent) = (contact.id, "a".to_string());
        let accept = Command::Accept {
            contact,
            agent: agent.clone(),
        };
        let complete = Command::Complete {
            contact,
            agent,
            outcome: Default::default(),
        };
        engine
            .apply(accept.clone(), t)
            .expect("offered to a at once");
        engine.apply(complete.clone(), t).expect("accepted");
        records.extend([(t, enqueue), (t, accept), (t, complete)]);
    }
    let rec = Recording::read("zero", &records, MINUTE, false).unwrap();
    let recorded = &rec.report.overall;
    assert_eq!((recorded.offered, recorded.answered), (5, 5));
    let comparison = replay(&rec, &options(Vec::new(), 1)).unwrap();
    let replayed = &comparison.columns[1].runs[0].overall;
    assert_eq!(replayed.answered, 5, "each answered in its millisecond");
    assert_eq!(replayed.asa_s, recorded.asa_s);
}
