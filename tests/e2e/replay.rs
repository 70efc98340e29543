//! `routerd replay` on journals the real server wrote — a loadgen run, and a small floor whose
//! customers hang up and whose agents decline — the recorded figures agree with the server's
//! own, a replay without change reproduces them, reading changes no file (the server still
//! runs), and the command line prints the comparison.

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

/// Six agents for a second and a half against `server`: the server's figures for the run.
pub async fn short_loadgen_run(server: &TestServer) -> routerd::loadgen::ServerFigures {
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
    report.server.expect("the server's figures")
}

/// The journal's segments, with their sizes (not the snapshots, which the running server's
/// snapshotter writes and retires in its own time, nor the spare segment it prepares).
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut names: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("journal-") && name.ends_with(".log")
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
    let figures = short_loadgen_run(&server).await;

    // Read while the server still runs: nothing in its directory changes.
    let before = listing(dir.path());
    let journal = JournalDir::open(dir.path()).expect("a whole journal");
    let recording = Recording::read("e2e", &journal, 60_000, false).expect("it reads");
    // The running server may still add to the journal; the reader removes and changes
    // nothing.
    let after = listing(dir.path());
    for file in &before {
        assert!(after.contains(file), "reading changed {file:?}: {after:?}");
    }

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
    // (The running server may have journaled more since the read above.)
    let records = json["recording"]["records"].as_u64().expect("records");
    assert!(records >= recording.records, "{records}");
    assert_eq!(json["what_if"].as_array().map(Vec::len), Some(0));

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
    let journal = JournalDir::open(dir.path()).expect("a journal, if not a whole one");
    let err = Recording::read("compacted", &journal, 60_000, false)
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("keep_history"), "{err:#}");
}

/// A small floor driven through gRPC as the simulator's customers and desks would drive it:
/// two queues with their own skills, customers who hang up when their patience runs out, agents
/// who answer after a delay, decline now and then, and resolve most of what they complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_who_hang_up_and_agents_who_decline_replay_to_their_figures() {
    use routerd::proto as pb;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.journal.ephemeral = false;
    cfg.journal.dir = dir.path().to_path_buf();
    let mut server = TestServer::start_with(cfg).await;
    for (queue, skill) in [("sales", "sales"), ("support", "support")] {
        server
            .put_queue(queue, |q| {
                q.required_skills = vec![pb::Skill {
                    name: skill.into(),
                    level: 1,
                }];
                q.sl_threshold_seconds = 1;
            })
            .await;
    }
    let floor: [(&str, &[(&str, u32)]); 5] = [
        ("s-1", &[("sales", 5)]),
        ("s-2", &[("sales", 3)]),
        ("t-1", &[("support", 5)]),
        ("t-2", &[("support", 2)]),
        ("both", &[("sales", 2), ("support", 2)]),
    ];
    let mut desks = Vec::new();
    for (k, (agent, skills)) in floor.iter().enumerate() {
        server.put_agent(agent, skills).await;
        let mut session = server.session(agent, true).await;
        let contacts = server.contacts.clone();
        let agent = agent.to_string();
        desks.push(tokio::spawn(async move {
            use pb::session_event::Event as Out;
            // The whole session is held here (its sender too: dropping it ends the session).
            let session = &mut session;
            let mut offers = 0u64;
            while let Ok(Some(message)) = session.inbound.message().await {
                let Some(Out::Offer(offer)) = message.event else {
                    continue;
                };
                offers += 1;
                let id = offer.contact.map_or(0, |c| c.id);
                let (mut contacts, agent) = (contacts.clone(), agent.clone());
                let decline = offers.is_multiple_of(3);
                let answer_ms = 40 + 30 * k as u64;
                let handle_ms = 150 + (id * 37 % 400);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(answer_ms)).await;
                    let answer = pb::OfferAnswerRequest {
                        contact_id: id,
                        agent_id: agent.clone(),
                    };
                    if decline {
                        let _ = contacts.reject_offer(answer).await;
                        return;
                    }
                    if contacts.accept_offer(answer).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(handle_ms)).await;
                    let _ = contacts
                        .complete_contact(pb::CompleteContactRequest {
                            contact_id: id,
                            agent_id: agent,
                            outcome: Some(pb::Outcome {
                                resolved: id % 3 != 0,
                                ..Default::default()
                            }),
                        })
                        .await;
                });
            }
        }));
    }
    // Customers: 16 a second for 4 seconds, alternating queues; each hangs up after a patience
    // of 0.2-1.4 s unless an agent took the call by then.
    let mut customers = Vec::new();
    for n in 0..64u64 {
        let queue = if n % 2 == 0 { "sales" } else { "support" };
        let reply = server
            .contacts
            .enqueue_contact(common_request(queue))
            .await
            .expect("enqueue")
            .into_inner();
        let id = reply.contact_id;
        let mut contacts = server.contacts.clone();
        customers.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200 + n * 173 % 1200)).await;
            let _ = contacts
                .cancel_contact(pb::CancelContactRequest {
                    contact_id: id,
                    reason: pb::CancelReason::Abandoned as i32,
                })
                .await;
        }));
        tokio::time::sleep(Duration::from_millis(62)).await;
    }
    for c in customers {
        c.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let snapshot = server.snapshot().await;

    let journal = JournalDir::open(dir.path()).expect("a whole journal");
    let recording = Recording::read("floor", &journal, 60_000, false).expect("it reads");
    let mut abandoned = 0;
    for q in &recording.report.queues {
        let server_side = snapshot.queues.iter().find(|s| s.queue == q.queue).unwrap();
        assert_eq!(q.offered, server_side.offered, "{}", q.queue);
        assert_eq!(q.answered, server_side.answered, "{}", q.queue);
        assert_eq!(q.abandoned, server_side.abandoned, "{}", q.queue);
        abandoned += q.abandoned;
    }
    assert!(abandoned > 0, "the test needs customers who hang up");
    assert!(
        recording.report.overall.answered > 10,
        "the test needs answered customers: {:?}",
        recording.report.overall
    );
    let declined: usize = recording
        .answers
        .values()
        .flatten()
        .filter(|a| a.kind == routerd::replay::recording::AnswerKind::Reject)
        .count();
    assert!(declined > 0, "the test needs declined offers");

    let options = Options {
        changes: Vec::new(),
        replications: 3,
        seed: 1,
        by_interval: false,
    };
    let comparison = replay(&recording, &options).expect("it replays");
    let recorded = &recording.report.overall;
    for run in &comparison.columns[1].runs {
        let o = &run.overall;
        assert_eq!(o.offered, recorded.offered);
        assert!(
            o.answered.abs_diff(recorded.answered) <= 2,
            "answered {} against {}",
            o.answered,
            recorded.answered
        );
        assert!(
            o.abandoned.abs_diff(recorded.abandoned) <= 2,
            "abandoned {} against {}",
            o.abandoned,
            recorded.abandoned
        );
        assert!(
            (o.sl_answered - recorded.sl_answered).abs() <= 0.05,
            "sl {} against {}",
            o.sl_answered,
            recorded.sl_answered
        );
    }
    server.shut_down().await;
    for d in desks {
        d.abort();
    }
}

fn common_request(queue: &str) -> routerd::proto::EnqueueContactRequest {
    crate::common::enqueue_request(queue, routerd::proto::Channel::Voice, &[])
}
