//! `routerd replay` on a journal the real server wrote: the recorded figures agree with the
//! server's own, a replay without change reproduces them, reading changes no file (the server
//! still runs), and the command line prints the comparison.

use std::path::Path;

use clap::Parser;
use routerd::loadgen::{LoadgenConfig, run};
use routerd::replay::{Change, JournalDir, Options, Recording, replay};

use crate::common::{TestServer, config};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    config: LoadgenConfig,
}

/// The segments and snapshots, with their sizes (not the spare segment, which the running
/// server's snapshotter prepares in its own time).
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut names: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            !name.to_string_lossy().starts_with("journal-spare")
        })
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, e.metadata().unwrap().len())
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_the_server_wrote_replays_to_the_figures_it_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.journal.ephemeral = false;
    cfg.journal.dir = dir.path().to_path_buf();
    cfg.journal.keep_history = true;
    // Snapshots are taken (and segments rotated) during the run; history keeps them all.
    cfg.journal.snapshot_every = 300;
    let mut server = TestServer::start_with(cfg).await;
    let target = format!("http://{}", server.addr);
    let args = [
        "loadgen",
        "--target",
        &target,
        "--agents",
        "6",
        "--duration",
        "1.5",
        "--concurrency",
        "4",
        "--quiet",
    ];
    let report = run(Args::parse_from(args).config).await.expect("the run");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let figures = report.server.expect("the server's figures");

    // Read while the server still runs: nothing in its directory changes.
    let before = listing(dir.path());
    let journal = JournalDir::open(dir.path()).expect("a whole journal");
    let recording = Recording::read("e2e", &journal, 60_000, false).expect("it reads");
    assert_eq!(listing(dir.path()), before, "reading changed the journal");

    let queue = recording
        .report
        .queues
        .iter()
        .find(|q| q.queue == "loadgen")
        .expect("the load generator's queue");
    assert_eq!(queue.offered, figures.offered);
    assert_eq!(queue.answered, figures.answered);
    assert!(
        queue.answered > 100,
        "too little traffic: {}",
        queue.answered
    );

    let options = Options {
        changes: vec![Change {
            remove_agents: vec!["lg-0".into()],
            ..Change::default()
        }],
        replications: 2,
        seed: 1,
        by_interval: false,
    };
    let comparison = replay(&recording, &options).expect("it replays");
    assert_eq!(comparison.columns.len(), 3);
    for run in &comparison.columns[1].runs {
        let q = run.queues.iter().find(|q| q.queue == "loadgen").unwrap();
        assert_eq!(q.offered, queue.offered, "the same customers arrive");
        assert_eq!(q.answered, queue.answered, "and are answered, as they were");
        assert!(
            (q.asa_s - queue.asa_s).abs() < 0.05,
            "{} against {}",
            q.asa_s,
            queue.asa_s
        );
        let (replayed, recorded) = (run.floor.occupancy, recording.report.floor.occupancy);
        assert!(
            (replayed - recorded).abs() < 0.005,
            "{replayed} against {recorded}"
        );
    }
    assert_eq!(comparison.columns[2].runs[0].floor.agents, 5);

    // The command line, on the same directory, as an operator runs it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_routerd"))
        .args([
            "replay",
            "--replications",
            "1",
            "--format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("routerd runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let columns: Vec<&str> = json["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["strategy"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(columns, ["recorded", "replay"], "{json}");

    // A change naming an agent the floor never had is refused, and nothing is run.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_routerd"))
        .args(["replay", "--remove-agent", "nobody", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("routerd runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such agent"));
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_or_missing_journal_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let err = JournalDir::open(&dir.path().join("nothing-here"))
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("nothing-here"), "{err:#}");
    let err = JournalDir::open(dir.path()).err().expect("refused");
    assert!(format!("{err:#}").contains("no journal segment"), "{err:#}");
    // A journal whose first segment starts after record 0 lost its beginning to a snapshot.
    std::fs::write(
        dir.path().join("journal-00000000000000000100.log"),
        routerd::command_log::file::SEGMENT_MAGIC,
    )
    .unwrap();
    let err = JournalDir::open(dir.path()).err().expect("refused");
    assert!(format!("{err:#}").contains("keep_history"), "{err:#}");
}
