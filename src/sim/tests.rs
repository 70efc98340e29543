//! The simulator's guarantees (repeatable, common traffic across strategies), each scenario
//! feature seen in the figures, bad scenario files refused, and the service-level strategy
//! judged on simulated traffic.

use super::*;

/// A scenario file with one `support` queue answered by `agents` identical agents; `extra` is
/// appended (more keys for the queue, the traffic or the group go in their own tables below).
fn single(
    agents: usize,
    per_hour: f64,
    queue_keys: &str,
    traffic_keys: &str,
    group_keys: &str,
) -> String {
    format!(
        r#"
name = "test"
seed = 11
hours = 4
warm_up_minutes = 30

[[queues]]
name = "support"
{queue_keys}

[[traffic]]
queue = "support"
contacts_per_hour = {per_hour}
handle = {{ distribution = "exponential", mean_seconds = 180 }}
{traffic_keys}

[[groups]]
name = "agents"
count = {agents}
{group_keys}
"#
    )
}

fn run_toml(text: &str) -> SimReport {
    run(&Scenario::from_toml(text).expect("a valid scenario")).expect("the run completes")
}

/// Two queues share one pool of 14 agents at about 77 % load: `urgent` (10 s threshold) and
/// `patient` (60 s), both with an 80 % target.
fn shared_pool(seed: u64) -> Scenario {
    let text = format!(
        r#"
seed = {seed}
hours = 8
[[queues]]
name = "urgent"
sl_threshold_seconds = 10
[[queues]]
name = "patient"
sl_threshold_seconds = 60
[[traffic]]
queue = "urgent"
contacts_per_hour = 90
handle = {{ distribution = "exponential", mean_seconds = 180 }}
[[traffic]]
queue = "patient"
contacts_per_hour = 126
handle = {{ distribution = "exponential", mean_seconds = 180 }}
[[groups]]
name = "pool"
count = 14
"#
    );
    Scenario::from_toml(&text).unwrap()
}

#[test]
fn the_same_seed_gives_a_byte_identical_report() {
    let a = run(&shared_pool(7)).unwrap();
    let b = run(&shared_pool(7)).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.to_table(), b.to_table());
    let c = run(&shared_pool(8)).unwrap();
    assert_ne!(a.to_json(), c.to_json());
}

/// Strategies are compared on the same customers: the arrivals do not depend on the strategy.
#[test]
fn compared_strategies_meet_the_same_traffic() {
    let choices = [
        "longest-idle".to_string(),
        "round-robin/service-level".to_string(),
    ];
    let comparison = compare(&shared_pool(3), &choices, 1).unwrap();
    let reports = comparison.first_runs();
    assert_eq!(reports[0].strategy, "longest-idle/priority-fifo");
    assert_eq!(reports[1].strategy, "round-robin/service-level");
    for q in 0..2 {
        assert_eq!(reports[0].queues[q].offered, reports[1].queues[q].offered);
    }
    assert_ne!(
        reports[0].queues[0].sl_answered,
        reports[1].queues[0].sl_answered
    );
    let table = comparison.to_table();
    assert!(table.contains("urgent sl_answered"), "{table}");
    assert!(compare(&shared_pool(3), &["no-such-strategy".into()], 1).is_err());
}

/// `two-tier.toml` (vip: 90 % in 10 s; std: 80 % in 120 s; one pool ~85 % busy), four seeds:
/// priority-FIFO misses vip's target; service-level (target pressure and agent reservation)
/// meets both, counting abandons against (`sl_offered`).
#[test]
fn service_level_meets_both_targets_of_the_two_tier_floor_where_fifo_misses_one() {
    let text =
        include_str!("../../benches/scenarios/two-tier.toml").replace("hours = 8", "hours = 4");
    let scenario = Scenario::from_toml(&text).unwrap();
    let choices = [
        "longest-idle/priority-fifo".to_string(),
        "longest-idle/service-level".to_string(),
    ];
    let comparison = compare(&scenario, &choices, 4).unwrap();
    let mean = |column: usize, queue: usize| {
        let runs = &comparison.columns[column].runs;
        runs.iter().map(|r| r.queues[queue].sl_offered).sum::<f64>() / runs.len() as f64
    };
    let (fifo_vip, fifo_std, sl_vip, sl_std) = (mean(0, 0), mean(0, 1), mean(1, 0), mean(1, 1));
    eprintln!("vip {fifo_vip:.3} -> {sl_vip:.3}, std {fifo_std:.3} -> {sl_std:.3}");
    assert!(fifo_vip < 0.85, "FIFO misses vip's 90 %: {fifo_vip:.3}");
    assert!(
        sl_vip >= 0.90,
        "service-level meets vip's 90 %: {sl_vip:.3}"
    );
    assert!(sl_std >= 0.80, "and std's 80 %: {sl_std:.3}");
}

/// How far the queues fall short of their 80 % targets, summed (service level as `sl_answered`).
fn shortfall(report: &SimReport) -> f64 {
    report
        .queues
        .iter()
        .map(|q| (0.8 - q.sl_answered).max(0.0))
        .sum()
}

/// The same traffic (same seeds) under priority-FIFO and under service-level: FIFO gives both
/// queues the same waits, so the 10 s queue misses badly while the 60 s queue over-achieves;
/// service-level spends the 60 s queue's slack on the 10 s queue. (Where FIFO already meets
/// both targets there is no shortfall to reduce; the 10 s queue still gains.)
#[test]
fn service_level_keeps_two_queues_sharing_a_pool_closer_to_target_than_fifo() {
    for seed in [1, 2, 3] {
        let choices = [
            "longest-idle/priority-fifo".to_string(),
            "longest-idle/service-level".to_string(),
        ];
        let comparison = compare(&shared_pool(seed), &choices, 1).unwrap();
        let (fifo, sl) = (
            &comparison.columns[0].runs[0],
            &comparison.columns[1].runs[0],
        );
        assert!(fifo.overall.answered > 1_000, "enough traffic to judge");
        let sl_of = |r: &SimReport, i: usize| r.queues[i].sl_answered;
        eprintln!(
            "seed {seed}: urgent {:.3} → {:.3}, patient {:.3} → {:.3} (FIFO → service-level)",
            sl_of(fifo, 0),
            sl_of(sl, 0),
            sl_of(fifo, 1),
            sl_of(sl, 1)
        );
        assert!(
            shortfall(sl) <= shortfall(fifo),
            "seed {seed}: service-level misses by {:.3}, FIFO by {:.3}",
            shortfall(sl),
            shortfall(fifo),
        );
        assert!(sl_of(sl, 0) > sl_of(fifo, 0));
    }
}

/// Light load, so occupancy is the offered load per agent: 60 contacts an hour × (180 s
/// handle plus 60 s wrap-up) over 10 agents = 0.4 (0.3 without wrap-up). The two runs meet the same
/// customers, so wrap-up alone makes the difference: 60 s per contact handled.
#[test]
fn wrap_up_counts_in_occupancy() {
    let with = run_toml(&single(10, 60.0, "wrap_up_seconds = 60", "", ""));
    let without = run_toml(&single(10, 60.0, "", "", ""));
    let (w, wo) = (with.groups[0].occupancy, without.groups[0].occupancy);
    assert!((w - 0.4).abs() < 0.06, "occupancy with wrap-up {w}");
    assert!((wo - 0.3).abs() < 0.06, "occupancy without {wo}");
    let wrap_up_share = with.groups[0].handled as f64 * 60.0 / (4.0 * 3600.0 * 10.0);
    assert!(
        (w - wo - wrap_up_share).abs() < 0.01,
        "wrap-up added {:.3}, expected {wrap_up_share:.3}",
        w - wo
    );
    assert!(with.occupancy_spread >= 0.0 && with.occupancy_spread < 0.1);
}

/// Agents logged in for the first two hours only; customers who call later wait until their
/// patience runs out.
#[test]
fn agents_on_shift_answer_only_during_their_shift() {
    let text = single(
        4,
        40.0,
        "",
        r#"patience = { distribution = "exponential", mean_seconds = 60 }"#,
        "shift = { start_hour = 0, end_hour = 2.5 }",
    );
    let r = run_toml(&text);
    // Measured 0.5 h–4.5 h; staffed 0.5 h–2.5 h: about half the contacts abandon.
    let q = &r.queues[0];
    let abandoned = q.abandoned as f64 / q.offered as f64;
    assert!((0.4..0.6).contains(&abandoned), "abandoned {abandoned}");
    assert!(q.answered > 40, "answered {}", q.answered);
}

/// Agents answer after 5 s, and decline a third of offers: no contact is answered in under 5 s.
#[test]
fn offer_acceptance_takes_its_delay_and_declines_go_elsewhere() {
    let r = run_toml(&single(
        8,
        100.0,
        "",
        "",
        "accept_probability = 0.67\nanswer_delay_seconds = 5",
    ));
    let q = &r.queues[0];
    assert!(q.answered > 300, "answered {}", q.answered);
    assert_eq!(q.waited_share, 1.0);
    assert!(q.asa_s >= 5.0 && q.p90_wait_s >= 5.0, "{q:?}");
    let prompt = run_toml(&single(8, 100.0, "", "", ""));
    assert!(prompt.queues[0].asa_s < q.asa_s);
}

/// Rates by interval: nothing in the first hour, 360 an hour in the second.
#[test]
fn arrival_rates_follow_their_intervals() {
    let text = single(4, 1.0, "", "", "")
        .replace("contacts_per_hour = 1", "per_interval = [0, 360]")
        .replace("hours = 4", "hours = 2\ninterval_minutes = 60")
        .replace("warm_up_minutes = 30", "warm_up_minutes = 0");
    let r = run_toml(&text);
    // Poisson(360) over the second hour, the first has none: within 4 standard deviations.
    let offered = r.queues[0].offered;
    assert!((284..=436).contains(&offered), "offered {offered}");
}

/// Three chats at once per agent (cost 33 of 100) against one at a time.
#[test]
fn chat_agents_hold_several_contacts_at_once() {
    let chat = |limit: &str| single(3, 45.0, "", r#"channel = "chat""#, limit);
    let three = run_toml(&chat(""));
    let one = run_toml(&chat("channel_limits = { chat = 1 }"));
    let (g3, g1) = (&three.groups[0], &one.groups[0]);
    // One chat at a time fills a third of the capacity while busy; several at once, more.
    assert!(
        (g1.utilisation - 0.33 * g1.occupancy).abs() < 0.005,
        "{g1:?}"
    );
    assert!(g3.utilisation > 0.34 * g3.occupancy, "{g3:?}");
    assert!(g3.occupancy < g1.occupancy, "{g3:?} {g1:?}");
    assert!(three.queues[0].asa_s < one.queues[0].asa_s);
}

/// A slow, unreliable group and a fast, reliable one: performance routing learns the difference
/// and sends more to the better group than longest-idle does.
#[test]
fn performance_routing_favours_the_group_that_resolves_more() {
    let text = single(
        4,
        60.0,
        "",
        "",
        "handle_factor = 1.5\nresolution_rate = 0.5",
    ) + "\n[[groups]]\nname = \"experts\"\ncount = 4\nhandle_factor = 0.7\n";
    let scenario = Scenario::from_toml(&text).unwrap();
    let choices = ["longest-idle".to_string(), "performance".to_string()];
    let comparison = compare(&scenario, &choices, 1).unwrap();
    let reports = comparison.first_runs();
    let experts_share = |r: &SimReport| {
        r.groups[1].handled as f64 / (r.groups[0].handled + r.groups[1].handled) as f64
    };
    let (idle, perf) = (experts_share(reports[0]), experts_share(reports[1]));
    assert!(perf > idle + 0.05, "experts' share {idle:.3} → {perf:.3}");
}

/// Each scenario text is refused with a message that contains its expected words.
fn assert_refused(cases: &[(String, &str)]) {
    for (text, expected) in cases {
        let err = Scenario::from_toml(text).expect_err(expected);
        let message = format!("{err:#}");
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
    }
}

#[test]
fn bad_scenarios_are_refused_with_the_reason() {
    let ok = single(2, 10.0, "", "", "");
    let cases = [
        (ok.replace("hours = 4", "hours = -1"), "hours"),
        (
            ok.replace("count = 2", "count = 2\ncolour = 1"),
            "unknown field",
        ),
        (
            ok.replace("queue = \"support\"", "queue = \"sales\""),
            "no queue \"sales\"",
        ),
        (
            ok.replace("contacts_per_hour = 10", "contacts_per_hour = -3"),
            "arrival rate",
        ),
        (
            ok.replace(
                "contacts_per_hour = 10",
                "contacts_per_hour = 10\nper_interval = [1]",
            ),
            "exactly one of",
        ),
        (
            ok.replace("\"exponential\"", "\"gamma\""),
            "exponential or log-normal",
        ),
        (
            ok.replace(
                "mean_seconds = 180 }",
                "mean_seconds = 180, sd_seconds = 5 }",
            ),
            "no sd_seconds",
        ),
        (
            ok.replace("count = 2", "count = 2\naccept_probability = 1.5"),
            "accept_probability",
        ),
        (
            ok.replace(
                "name = \"support\"\n",
                "name = \"support\"\nstrategy = \"best\"\n",
            ),
            "best",
        ),
        (
            ok.replace("count = 2", "count = 2\nskills = [\"x:11\"]"),
            "level",
        ),
        (ok.replace("count = 2", "count = 200000"), "at most"),
        (
            ok.replace(
                "mean_seconds = 180 }",
                "mean_seconds = 180 }\nvalue_mix = [{ value = -5, share = 1 }]",
            ),
            "customer value",
        ),
        (
            ok.replace("count = 2", "count = 2\ncapacity = 0"),
            "group \"agents\": agent capacity must be 1-10000",
        ),
        (
            ok.replace("name = \"agents\"", "name = \"night\\tshift\""),
            "agent id must not contain control characters",
        ),
        (
            ok.replace("contacts_per_hour = 10", "contacts_per_hour = 900000")
                .replace("hours = 4", "hours = 8000"),
            "contacts",
        ),
    ];
    assert_refused(&cases);
}

/// Every scenario shipped in `benches/scenarios/` reads, runs, and answers contacts in each of
/// its queues (an hour of each, to keep the test short).
#[test]
fn the_shipped_scenarios_run() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scenarios");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 10, "{names:?}");
    for path in names {
        let mut scenario = Scenario::load(&path).unwrap();
        scenario.duration_secs = scenario.duration_secs.min(3600.0);
        let report = run(&scenario).unwrap();
        for q in &report.queues {
            assert!(q.answered > 0, "{}: {q:?}", path.display());
        }
    }
}

/// Interval by interval, every contact counts once: the intervals tile the measured period,
/// add up to its counts, and asking for them changes nothing else in the report. The warm-up
/// (45 min) ends mid-interval, so the first interval is cut short; a shift ends mid-run, so the
/// logged-in agents change between intervals.
#[test]
fn intervals_tile_the_measured_period_and_add_up_to_it() {
    let text = single(
        6,
        100.0,
        "",
        r#"patience = { distribution = "exponential", mean_seconds = 60 }"#,
        "",
    )
    .replace("warm_up_minutes = 30", "warm_up_minutes = 45")
        + "\n[[groups]]\nname = \"morning\"\ncount = 2\nshift = { start_hour = 0, end_hour = 2 }\n";
    let mut scenario = Scenario::from_toml(&text).unwrap();
    let plain = run(&scenario).unwrap();
    scenario.by_interval = true;
    let detailed = run(&scenario).unwrap();
    assert!(plain.intervals.is_empty());
    assert!(!plain.to_json().contains("intervals"));
    let whole = |r: &SimReport| {
        let mut r = r.clone();
        r.intervals.clear();
        r
    };
    assert_eq!(whole(&detailed), plain);

    let intervals = &detailed.intervals;
    // 0:45-1:00, seven half hours to 4:30, then 4:30-4:45.
    assert_eq!(intervals.len(), 9);
    assert_eq!(intervals[0].from_minute, 45.0);
    assert_eq!(intervals[0].to_minute, 60.0);
    assert_eq!(intervals[8].to_minute, 285.0);
    for pair in intervals.windows(2) {
        assert_eq!(pair[0].to_minute, pair[1].from_minute);
    }
    let total = |f: &dyn Fn(&IntervalFigures) -> u64| intervals.iter().map(f).sum::<u64>();
    let q = &plain.queues[0];
    assert_eq!(total(&|i| i.figures.queues[0].offered), q.offered);
    assert_eq!(total(&|i| i.figures.queues[0].answered), q.answered);
    assert_eq!(total(&|i| i.figures.queues[0].abandoned), q.abandoned);
    assert_eq!(
        total(&|i| i.figures.overall.answered),
        plain.overall.answered
    );
    assert_eq!(total(&|i| i.figures.floor.handled), plain.floor.handled);
    assert!(q.abandoned > 0 && q.answered > 0);
    // Answered within threshold, interval by interval, adds up too.
    let within = |f: &QueueFigures| (f.sl_answered * f.answered as f64).round() as u64;
    assert_eq!(total(&|i| within(&i.figures.queues[0])), within(q));
    // The morning group is logged in for the first two intervals and a quarter (to 2:00),
    // then leaves as its last contacts end; the time-weighted mean gives the whole period's.
    let morning = |i: &IntervalFigures| i.figures.groups[1].logged_in_agents;
    assert_eq!(morning(&intervals[0]), 2.0);
    assert_eq!(morning(&intervals[8]), 0.0);
    let weighted: f64 = intervals
        .iter()
        .map(|i| morning(i) * (i.to_minute - i.from_minute))
        .sum::<f64>()
        / 240.0;
    assert!((weighted - plain.groups[1].logged_in_agents).abs() < 1e-9);
    assert_eq!(plain.floor.agents, 8);
    let table = detailed.to_table();
    assert!(table.contains("support by interval"), "{table}");
    assert!(
        table.contains("0:45-1:00") && table.contains("4:30-4:45"),
        "{table}"
    );
}

/// Replications run each strategy on consecutive seeds; each run is exactly the single run on
/// its seed (parallel or not), and differences are paired by seed.
#[test]
fn replications_run_on_consecutive_seeds_and_pair_by_seed() {
    let mut scenario = shared_pool(5);
    scenario.duration_secs = 2.0 * 3600.0;
    let choices = ["longest-idle".to_string(), "round-robin".to_string()];
    let c = compare(&scenario, &choices, 3).unwrap();
    assert_eq!(c.columns.len(), 2);
    for column in &c.columns {
        let seeds: Vec<u64> = column.runs.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, [5, 6, 7]);
    }
    let mut alone = scenario.with_strategy("round-robin").unwrap();
    alone.seed = 7;
    assert_eq!(
        c.columns[1].runs[2].to_json(),
        run(&alone).unwrap().to_json()
    );

    let json: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
    assert_eq!(json["seeds"], serde_json::json!([5, 7]));
    let first = &json["columns"][0]["figures"][0];
    let second = &json["columns"][1]["figures"][0];
    assert_eq!(first["figure"], "overall sl_answered");
    assert!(first.get("difference").is_none());
    assert!(first["half_width"].as_f64().unwrap() > 0.0);
    let d = second["difference"]["mean"].as_f64().unwrap();
    let means = second["mean"].as_f64().unwrap() - first["mean"].as_f64().unwrap();
    assert!((d - means).abs() < 1e-12, "{d} vs {means}");
    assert_eq!(json["columns"][1]["runs"].as_array().unwrap().len(), 3);

    let table = c.to_table();
    assert!(table.contains("seeds 5-7"), "{table}");
    assert!(
        table.contains("difference from longest-idle/priority-fifo"),
        "{table}"
    );
    assert!(compare(&scenario, &choices, 0).is_err());
    // The scenario's own strategy when none is named.
    let own = compare(&scenario, &[], 2).unwrap();
    assert_eq!(own.columns[0].strategy, "longest-idle/priority-fifo");
    assert!(!own.to_table().contains("difference from"));
}

/// A queue that holds at most two waiting contacts refuses the rest at the door: counted as
/// refused, in no other figure, and the run goes on.
#[test]
fn a_full_queue_refuses_at_the_door_and_counts_it() {
    let r = run_toml(&single(1, 120.0, "max_length = 2", "", ""));
    let q = &r.queues[0];
    assert!(q.refused > 50, "{q:?}");
    assert!(q.answered > 50, "{q:?}");
    assert!(q.waiting_at_end <= 3, "{q:?}");
}

/// One `support` queue on voice, `per_hour` first contacts, whose unresolved contacts all
/// come back (more `repeat` keys given), answered by `agents` agents of the given resolution
/// rate; customers are known (a base of 1,000), patient, and come back a minute later on
/// average.
fn repeating(
    agents: usize,
    per_hour: f64,
    resolution: f64,
    repeat_keys: &str,
    queue_keys: &str,
) -> String {
    single(
        agents,
        per_hour,
        queue_keys,
        &format!(
            "customer_base = \"known\"\n\
             repeat = {{ share = 1, mean_after_minutes = 1{repeat_keys} }}"
        ),
        &format!("resolution_rate = {resolution}"),
    ) + "\n[[customer_bases]]\nname = \"known\"\ncustomers = 1000\n"
}

/// Nobody is ever resolved and every customer comes back: each conversation is a first
/// contact and exactly MAX_REPEATS repeats. (The measured window cuts some conversations at
/// either end: repeats of warm-up contacts count in it, repeats after its end do not.)
#[test]
fn unresolved_customers_come_back_at_most_max_repeats_times() {
    let r = run_toml(&repeating(8, 10.0, 0.0, "", ""));
    let q = &r.queues[0];
    let first = q.offered - q.repeats;
    assert!(first > 25, "{q:?}");
    assert_eq!(q.first_contact_resolution, 0.0);
    let expected = (first * u64::from(MAX_REPEATS)) as f64;
    let ratio = q.repeats as f64 / expected;
    assert!((0.85..1.15).contains(&ratio), "{ratio}: {q:?}");
    // Everybody resolved: nobody comes back.
    let none = run_toml(&repeating(8, 10.0, 1.0, "", ""));
    assert_eq!(none.queues[0].repeats, 0);
    assert_eq!(none.queues[0].first_contact_resolution, 1.0);
}

/// The repeat reaches the agent who handled the contact before only by chance under
/// longest-idle (one in four here); with an affinity wait the engine links the two contacts by
/// customer and conversation id and holds the repeat for that agent.
#[test]
fn repeats_carry_the_customer_and_conversation_so_affinity_finds_the_agent() {
    let text = repeating(4, 30.0, 0.5, "", "");
    let plain = run_toml(&text);
    let held = run_toml(&text.replace(
        "name = \"support\"\n",
        "name = \"support\"\naffinity_wait_seconds = 600\n",
    ));
    let (p, h) = (&plain.queues[0], &held.queues[0]);
    assert!(p.repeats > 50 && h.repeats > 50, "{p:?} {h:?}");
    assert!((0.15..0.35).contains(&p.repeats_to_same_agent), "{p:?}");
    assert!(h.repeats_to_same_agent > 0.95, "{h:?}");
    assert!(
        held.strategy.starts_with("affinity=600+"),
        "{}",
        held.strategy
    );
}

/// Meeting the same agent again resolves the repeat when `familiar_resolution_rate` says so:
/// with one agent, every first contact fails and every first repeat succeeds, so there is one
/// repeat per first contact (give or take the few the window's ends cut off). The familiar
/// agent is quicker too.
#[test]
fn the_familiar_agent_resolves_and_handles_faster() {
    let slow = run_toml(&repeating(
        1,
        6.0,
        0.0,
        ", familiar_resolution_rate = 1",
        "",
    ));
    let q = &slow.queues[0];
    let first = q.offered - q.repeats;
    assert!(q.repeats > 15, "{q:?}");
    assert!(q.repeats.abs_diff(first) <= 3, "{q:?}");
    assert_eq!(q.repeats_to_same_agent, 1.0);
    let fast = run_toml(&repeating(
        1,
        6.0,
        0.0,
        ", familiar_resolution_rate = 1, familiar_handle_factor = 0.5",
        "",
    ));
    assert!(
        fast.queues[0].aht_s < slow.queues[0].aht_s * 0.9,
        "{} vs {}",
        fast.queues[0].aht_s,
        slow.queues[0].aht_s
    );
}

#[test]
fn repeats_and_customer_bases_are_checked() {
    let ok = repeating(2, 10.0, 0.5, "", "");
    Scenario::from_toml(&ok).expect("the base case is valid");
    let cases = [
        (ok.replace("share = 1", "share = 1.5"), "repeat share"),
        (
            ok.replace("customer_base = \"known\"", "customer_base = \"vip\""),
            "no customer base \"vip\"",
        ),
        (
            ok.replace(
                "mean_after_minutes = 1",
                "mean_after_minutes = 1, channel = \"chat\"",
            ),
            "no traffic gives those",
        ),
        (
            ok.replace("customers = 1000", "customers = 0"),
            "1-100000000 customers",
        ),
        (
            ok.replace(
                "mean_after_minutes = 1",
                "mean_after_minutes = 1, colour = 2",
            ),
            "unknown field",
        ),
    ];
    assert_refused(&cases);
    let scenario = Scenario::from_toml(&ok).unwrap();
    let with = scenario.with_strategy("affinity=20+round-robin").unwrap();
    assert_eq!(with.queues[0].affinity_wait_secs, 20);
    assert_eq!(
        with.strategy_labels(),
        "affinity=20+round-robin/priority-fifo"
    );
    let err = scenario.with_strategy("affinity+round-robin").unwrap_err();
    assert!(format!("{err:#}").contains("affinity=SECONDS"), "{err:#}");
}

/// The rare-experts floor, shortened.
fn rare_experts(hours: u32) -> Scenario {
    let text = include_str!("../../benches/scenarios/rare-experts.toml")
        .replace("hours = 8", &format!("hours = {hours}"));
    Scenario::from_toml(&text).unwrap()
}

#[test]
fn the_reference_routes_on_true_rates_and_the_cap_holds_experts_back() {
    let scenario = rare_experts(3);
    let choices = ["longest-idle", "reference", "cap=60+reference"].map(String::from);
    let comparison = compare(&scenario, &choices, 1).unwrap();
    let reports = comparison.first_runs();
    let labels: Vec<&str> = reports.iter().map(|r| r.strategy.as_str()).collect();
    assert_eq!(
        labels,
        [
            "longest-idle/priority-fifo",
            "reference/priority-fifo",
            "cap=60+reference/priority-fifo"
        ]
    );
    let fcr = |r: &SimReport| r.overall.first_contact_resolution;
    let expert = |r: &SimReport| r.groups[0].occupancy;
    let (idle, reference, capped) = (reports[0], reports[1], reports[2]);
    // Experts first: most calls resolved by them, and resolution well above spreading evenly.
    assert!(
        expert(reference) > 0.8,
        "expert occupancy {}",
        expert(reference)
    );
    assert!(
        fcr(reference) > fcr(idle) + 0.03,
        "FCR {} → {}",
        fcr(idle),
        fcr(reference)
    );
    // The cap holds the experts near 60 % (a call taken just under the cap can end above it).
    assert!(
        expert(capped) < 0.7,
        "capped expert occupancy {}",
        expert(capped)
    );
    assert!(expert(capped) > expert(idle) + 0.1);
    assert!(fcr(capped) < fcr(reference) && fcr(capped) > fcr(idle));
}

#[test]
fn compare_prefixes_and_the_reference_are_checked() {
    let scenario = rare_experts(1);
    let s = scenario
        .with_strategy("affinity=30+cap=85+reference/service-level")
        .unwrap();
    assert_eq!(
        s.strategy_labels(),
        "affinity=30+cap=85+reference/service-level"
    );
    let r = scenario
        .with_strategy("reserve=0+longest-idle/service-level")
        .unwrap();
    assert_eq!(r.queues[0].reserve_agents, 0);
    assert_eq!(r.strategy_labels(), "reserve=0+longest-idle/service-level");
    let overflow = Scenario::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scenarios/overflow.toml"),
    )
    .unwrap();
    assert_eq!(overflow.queues[0].relaxation.len(), 1);
    let off = overflow.with_strategy("widen=off+longest-idle").unwrap();
    assert!(off.queues[0].relaxation.is_empty());
    assert!(off.strategy_labels().starts_with("widen=off+longest-idle/"));
    let experts = &s.groups[0].skills;
    assert_eq!(experts.len(), 1);
    assert_eq!(experts[0].level.get(), 2, "the higher rate ranks higher");
    assert_eq!(s.groups[1].skills[0].level.get(), 1);
    for (choice, words) in [
        ("cap=lots+performance", "cap=PERCENT"),
        ("cap=150+performance", "occupancy cap"),
        ("wait=3+performance", "before '+'"),
        ("reserve=some+performance", "reserve=AGENTS"),
        ("reserve=11+longest-idle/service-level", "reserve_agents"),
    ] {
        let err = format!("{:#}", scenario.with_strategy(choice).unwrap_err());
        assert!(err.contains(words), "{choice}: {err}");
    }
    let skilled = Scenario::from_toml(
        &include_str!("../../benches/scenarios/rare-experts.toml").replace(
            "sl_target_percent = 80",
            "sl_target_percent = 80\nskills = [\"billing:1\"]",
        ),
    )
    .unwrap();
    let err = format!("{:#}", skilled.with_strategy("reference").unwrap_err());
    assert!(err.contains("require no skills"), "{err}");
}

#[test]
fn wait_estimates_are_scored_per_estimator_and_head_of_line_beats_answer_rate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scenarios");
    let mut scenario = Scenario::load(&dir.join("multi-skill.toml")).unwrap();
    scenario.duration_secs = scenario.duration_secs.min(4.0 * 3600.0);
    let report = run(&scenario).unwrap();
    let ewt = &report.overall.ewt;
    let names: Vec<&str> = ewt.iter().map(|e| e.estimator.as_str()).collect();
    assert_eq!(
        names,
        [
            "answer-rate",
            "queue-length",
            "head-of-line",
            "last-to-enter"
        ]
    );
    assert!(ewt[0].contacts > 100, "{ewt:?}");
    assert!(
        ewt.iter().all(|e| e.contacts == ewt[0].contacts),
        "same contacts"
    );
    // On a shared pool a queue's own answer rate understates its capacity: waits announced
    // too long. The head of the line's wait is far closer.
    assert!(ewt[0].bias_s > 0.0, "{ewt:?}");
    assert!(ewt[2].mae_s < ewt[0].mae_s * 0.7, "{ewt:?}");
    // The queues' figures add up to the overall ones.
    let per_queue: u64 = report.queues.iter().map(|q| q.ewt[2].contacts).sum();
    assert_eq!(per_queue, ewt[2].contacts);
}

/// Alternatives reach the engine from a scenario: with nobody holding `billing`, the calls wait
/// (and give up) unless the traffic, the queue or a widen step lets the `general` agents take
/// them; a widen step after 20 s answers them later than an alternative from the start.
#[test]
fn alternatives_and_widen_steps_open_a_second_pool_in_the_simulator() {
    let run_with = |queue_keys: &str, traffic_keys: &str| {
        let text = single(
            6,
            60.0,
            &format!("skills = [\"billing:1\"]\n{queue_keys}"),
            &format!(
                "patience = {{ distribution = \"exponential\", mean_seconds = 120 }}\n{traffic_keys}"
            ),
            "skills = [\"general:1\"]",
        );
        run_toml(&text).overall
    };
    let none = run_with("", "");
    assert_eq!(none.answered, 0, "nobody meets billing:1");
    let traffic = run_with("", "alternatives = [[\"general:1\"]]");
    let queue = run_with("alternatives = [[\"general:1\"]]", "");
    assert!(traffic.answered > 100, "{}", traffic.answered);
    assert_eq!(
        traffic.answered, queue.answered,
        "the same OR, from either side"
    );
    let widen = run_with(
        "[[queues.relaxation]]\nafter_seconds = 20\nwiden = [\"general:1\"]",
        "",
    );
    assert!(widen.answered > 100, "{}", widen.answered);
    assert!(
        widen.asa_s >= 20.0,
        "answered after the widen step: {}",
        widen.asa_s
    );
    assert!(queue.asa_s < 20.0, "{}", queue.asa_s);
    let bad = single(6, 60.0, "", "alternatives = [[]]", "");
    assert!(Scenario::from_toml(&bad).is_err());
}

/// Two queues: `front` (8 agents) transfers a share of its answered contacts to `back` (4
/// agents), after half their handle time.
fn transfers(share: f64) -> SimReport {
    run_toml(&format!(
        r#"
seed = 5
hours = 6
warm_up_minutes = 30
[[queues]]
name = "front"
skills = ["front:1"]
[[queues]]
name = "back"
skills = ["back:1"]
[[traffic]]
queue = "front"
contacts_per_hour = 120
handle = {{ distribution = "exponential", mean_seconds = 180 }}
transfer = {{ share = {share}, queue = "back" }}
[[groups]]
name = "front-desk"
count = 8
skills = ["front:1"]
[[groups]]
name = "back-office"
count = 4
skills = ["back:1"]
"#
    ))
}

#[test]
fn transferred_contacts_leave_one_queue_and_are_answered_in_the_other() {
    let none = transfers(0.0);
    let some = transfers(0.4);
    let (front, back) = (&some.queues[0], &some.queues[1]);
    let share = front.transferred_out as f64 / front.answered as f64;
    assert!(
        (0.33..0.47).contains(&share),
        "{share} of answered contacts transferred"
    );
    assert_eq!(
        back.transferred_in, back.offered,
        "back gets only transfers"
    );
    assert!(back.answered > 0 && back.transferred_in > 0);
    // Front agents work half as long on the transferred ones: front waits less.
    assert!(
        front.asa_s < none.queues[0].asa_s,
        "{} >= {}",
        front.asa_s,
        none.queues[0].asa_s
    );
    assert_eq!(none.queues[1].offered, 0);
    assert!(some.to_table().contains("transfer out"));
}

/// One overloaded `support` queue whose customers (patience 2 min) may ask for a callback after
/// 60 s of waiting.
fn callbacks(share: f64) -> SimReport {
    run_toml(&single(
        9,
        200.0,
        r#"channels = ["voice", "callback"]"#,
        &format!(
            "patience = {{ distribution = \"exponential\", mean_seconds = 120 }}\n\
             callback = {{ share = {share}, after_seconds = 60 }}"
        ),
        "",
    ))
}

#[test]
fn customers_asking_for_callbacks_abandon_less_and_leave_the_service_level() {
    let none = callbacks(0.0);
    let half = callbacks(0.5);
    let (a, b) = (&none.queues[0], &half.queues[0]);
    assert_eq!(a.callbacks_requested, 0);
    assert!(
        b.callbacks_requested > 20,
        "{} callbacks",
        b.callbacks_requested
    );
    assert!(b.callbacks_reached > 0);
    assert!(
        b.abandoned < a.abandoned,
        "abandoned {} with callbacks, {} without",
        b.abandoned,
        a.abandoned
    );
    // Callbacks are out of the inbound figures: answered + callbacks reached is what agents did.
    assert!(b.answered + b.callbacks_reached <= b.offered);
}

#[test]
fn transfers_and_callbacks_are_checked_against_the_queues() {
    let base = |traffic_keys: &str, queue_keys: &str| single(5, 60.0, queue_keys, traffic_keys, "");
    for (traffic_keys, queue_keys, says) in [
        (
            "transfer = { share = 0.2, queue = \"nowhere\" }",
            "",
            "nowhere",
        ),
        (
            "transfer = { share = 1.5, queue = \"support\" }",
            "",
            "share",
        ),
        (
            "transfer = { share = 0.2, queue = \"support\", after_share = 0 }",
            "",
            "after_share",
        ),
        (
            "callback = { share = 0.5, after_seconds = 30 }",
            "channels = [\"voice\"]",
            "callback",
        ),
        (
            "callback = { share = 0.5, after_seconds = 0 }",
            "",
            "after_seconds",
        ),
    ] {
        let err = Scenario::from_toml(&base(traffic_keys, queue_keys)).unwrap_err();
        assert!(format!("{err:#}").contains(says), "{traffic_keys}: {err:#}");
    }
}

/// The blended floor: the chatbot contains the share of its chats it does not escalate (its
/// escalations reach people in `chat`), the floor's figures are the people's, and with email
/// interruptible by voice the phone queue is served sooner than without.
#[test]
fn a_bot_tier_contains_its_share_and_interruptible_email_serves_calls_sooner() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scenarios/blended.toml");
    let mut scenario = Scenario::load(&path).unwrap();
    scenario.duration_secs = 4.0 * 3600.0;
    let with = run(&scenario).unwrap();
    let without = run(&scenario
        .with_strategy("interrupt=off+longest-idle")
        .unwrap())
    .unwrap();
    let queue =
        |r: &SimReport, name: &str| r.queues.iter().find(|q| q.queue == name).cloned().unwrap();
    let bot = queue(&with, "bot-chat");
    assert!(bot.bot_contained > 0 && bot.bot_escalated > 0, "{bot:?}");
    // 35 % of the chats the bot finishes working are escalated.
    assert!((bot.containment - 0.65).abs() < 0.05, "{}", bot.containment);
    let chat = queue(&with, "chat");
    assert_eq!(chat.transferred_in, bot.bot_escalated);
    assert_eq!((chat.bot_contained, chat.bot_escalated), (0, 0));
    // The floor is the 20 people; the bot's own group is still reported.
    assert_eq!(with.floor.agents, 20);
    assert_eq!(with.groups[0].group, "chatbot");
    // Calls no longer wait for an agent to finish an email.
    let (on, off) = (queue(&with, "voice"), queue(&without, "voice"));
    assert!(
        on.sl_offered > off.sl_offered + 0.05,
        "voice service level {} with interruption, {} without",
        on.sl_offered,
        off.sl_offered
    );
    // An interrupted email's handle time leaves its pauses out: about the same either way.
    let (on, off) = (queue(&with, "email"), queue(&without, "email"));
    assert!(
        (on.aht_s / off.aht_s - 1.0).abs() < 0.15,
        "{} {}",
        on.aht_s,
        off.aht_s
    );
}
