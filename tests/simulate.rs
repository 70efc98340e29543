//! `routerd simulate` as an operator runs it: the shipped scenarios, byte-identical reports for
//! the same seed, the side-by-side comparison, and a clear refusal of a bad file.

use std::process::{Command, Output};

fn simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routerd"))
        .arg("simulate")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("routerd runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

#[test]
fn the_same_seed_prints_the_same_report_byte_for_byte() {
    let args = [
        "benches/scenarios/single-skill.toml",
        "--hours",
        "2",
        "--format",
        "json",
    ];
    let a = stdout(&simulate(&args));
    let b = stdout(&simulate(&args));
    assert_eq!(a, b);
    let json: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(json["scenario"], "single-skill");
    assert!(json["queues"][0]["answered"].as_u64().unwrap() > 100);
    let other = stdout(&simulate(&[
        "benches/scenarios/single-skill.toml",
        "--hours",
        "2",
        "--format",
        "json",
        "--seed",
        "2",
    ]));
    assert_ne!(a, other);
}

#[test]
fn compare_prints_one_column_per_strategy() {
    let table = stdout(&simulate(&[
        "benches/scenarios/multi-skill.toml",
        "--hours",
        "1",
        "--compare",
        "longest-idle,most-skilled,performance/service-level",
    ]));
    for label in [
        "longest-idle/priority-fifo",
        "most-skilled/priority-fifo",
        "performance/service-level",
        "overall sl_offered",
        "overall abandon rate",
        "occupancy spread",
        "fr-tech sl_answered",
        "en-es-generalist occupancy",
    ] {
        assert!(table.contains(label), "{label:?} missing from\n{table}");
    }
}

#[test]
fn a_bad_scenario_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "seed = 1\nhours = 1\n[[queues]]\nname = \"q\"\n[[traffic]]\nqueue = \"nowhere\"\n\
         contacts_per_hour = 10\nhandle = { distribution = \"exponential\", mean_seconds = 60 }\n\
         [[groups]]\nname = \"a\"\ncount = 1\n",
    )
    .unwrap();
    let out = simulate(&[path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no queue \"nowhere\""), "{err}");
    let out = simulate(&["benches/scenarios/single-skill.toml", "--compare", "best"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("best"));
}

#[test]
fn replications_give_intervals_and_the_same_bytes_every_time() {
    let args = [
        "benches/scenarios/single-skill.toml",
        "--hours",
        "1",
        "--replications",
        "4",
        "--compare",
        "longest-idle,round-robin",
        "--format",
        "json",
    ];
    let a = stdout(&simulate(&args));
    assert_eq!(a, stdout(&simulate(&args)));
    let json: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(json["replications"], 4);
    assert_eq!(json["columns"][1]["strategy"], "round-robin/priority-fifo");
    let table = stdout(&simulate(&args[..7]));
    assert!(table.contains("over 4 replications"), "{table}");
    assert!(table.contains("difference from"), "{table}");
    let out = simulate(&["benches/scenarios/single-skill.toml", "--replications", "0"]);
    assert!(!out.status.success());
}

#[test]
fn by_interval_shows_each_interval_of_the_day() {
    let table = stdout(&simulate(&[
        "benches/scenarios/day-with-peak.toml",
        "--by-interval",
    ]));
    for label in [
        "service by interval",
        "floor by interval",
        "0:00-0:30",
        "11:30-12:00",
    ] {
        assert!(table.contains(label), "{label:?} missing from\n{table}");
    }
}
