//! `routerd ctl` against a real server: parsed as the command line parses it, run in-process
//! (and `watch` as a real process, since it runs until stopped).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use clap::Parser;

use routerd::proto as pb;

use crate::common::{PATIENCE, TestServer};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    ctl: routerd::ctl::Ctl,
}

/// Runs `routerd ctl ARGS` against `server`; its output, or its error as text.
async fn ctl(server: &TestServer, args: &[&str]) -> Result<String, String> {
    let target = format!("http://{}", server.addr);
    let argv = ["ctl", "--target", target.as_str()]
        .into_iter()
        .chain(args.iter().copied());
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, routerd::ctl::run(cli.ctl, &mut out))
        .await
        .expect("ctl answers in time")
        .map_err(|e| format!("{e:#}"))?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn operators_manage_queues_agents_and_contacts_from_the_command_line() {
    let mut server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("billing.toml");
    std::fs::write(
        &file,
        "name = \"billing\"\nskills = [\"billing:5\"]\nsl_threshold_seconds = 30\n\
         offer_timeout_seconds = 300\n",
    )
    .unwrap();
    let put = ctl(&server, &["queues", "put", file.to_str().unwrap()])
        .await
        .unwrap();
    assert_eq!(put.trim(), "queue billing created (version 1)");
    let list = ctl(&server, &["queues", "list"]).await.unwrap();
    let row = list
        .lines()
        .find(|l| l.starts_with("billing"))
        .expect(&list);
    assert!(
        row.contains("billing:5") && row.contains("80% in 30s"),
        "{row}"
    );
    let got = ctl(&server, &["queues", "get", "billing"]).await.unwrap();
    assert!(got.contains("sl_threshold_seconds = 30"), "{got}");

    let put = ctl(
        &server,
        &[
            "agents",
            "put",
            "ana",
            "--name",
            "Ana",
            "--skills",
            "billing:7,lang:es:9",
        ],
    )
    .await
    .unwrap();
    assert_eq!(put.trim(), "agent ana created");
    let state = ctl(
        &server,
        &["agents", "state", "ana", "not-ready", "training"],
    )
    .await
    .unwrap();
    assert_eq!(state.trim(), "agent ana is not ready (training)");
    let state = ctl(&server, &["agents", "state", "ana", "ready"])
        .await
        .unwrap();
    assert_eq!(state.trim(), "agent ana is ready");
    let list = ctl(&server, &["agents", "list", "--queue", "billing"])
        .await
        .unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with("ana") && l.contains("ready")),
        "{list}"
    );
    let json = ctl(&server, &["agents", "list", "--format", "json"])
        .await
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["agents"][0]["spec"]["id"], "ana");

    // A contact: offered to Ana at once, then cancelled.
    let id = server
        .enqueue("billing", pb::Channel::Voice, &[("order", "A-7")])
        .await
        .contact_id;
    let got = ctl(&server, &["contacts", "get", &id.to_string()])
        .await
        .unwrap();
    assert!(got.contains("state      offered"), "{got}");
    assert!(got.contains("agent      ana"), "{got}");
    // Only a waiting contact can be changed: the refusal names its status.
    let e = ctl(
        &server,
        &["contacts", "update", &id.to_string(), "--priority", "5"],
    )
    .await
    .unwrap_err();
    assert!(e.starts_with("FAILED_PRECONDITION"), "{e}");
    let cancelled = ctl(&server, &["contacts", "cancel", &id.to_string()])
        .await
        .unwrap();
    assert!(cancelled.contains("state      abandoned"), "{cancelled}");

    let snapshot = ctl(&server, &["snapshot"]).await.unwrap();
    let row = snapshot
        .lines()
        .find(|l| l.starts_with("billing"))
        .expect(&snapshot);
    assert!(
        row.contains("0/1"),
        "nothing answered of one entered today: {row}"
    );

    // Refusals name their status; bad arguments are caught before any call.
    let e = ctl(&server, &["agents", "get", "nobody"])
        .await
        .unwrap_err();
    assert!(e.starts_with("NOT_FOUND"), "{e}");
    let e = ctl(&server, &["agents", "state", "ana", "not-ready"])
        .await
        .unwrap_err();
    assert!(e.contains("needs a reason"), "{e}");
    let e = ctl(&server, &["agents", "put", "bo", "--skills", "billing"])
        .await
        .unwrap_err();
    assert!(e.contains("--skills"), "{e}");
    let e = ctl(&server, &["watch", "--kind", "lunch"])
        .await
        .unwrap_err();
    assert!(e.contains("not an event kind"), "{e}");

    // A supervisor raises a waiting caller's priority and tags it (Ana is on a break).
    ctl(&server, &["agents", "state", "ana", "not-ready", "break"])
        .await
        .unwrap();
    let id = server
        .enqueue("billing", pb::Channel::Voice, &[("order", "A-8")])
        .await
        .contact_id;
    let updated = ctl(
        &server,
        &[
            "contacts",
            "update",
            &id.to_string(),
            "--priority",
            "5",
            "--set",
            "tier=gold",
            "--unset",
            "order",
        ],
    )
    .await
    .unwrap();
    assert!(updated.contains("priority   5"), "{updated}");
    assert!(updated.contains("context    tier=gold\n"), "{updated}");
    let e = ctl(&server, &["contacts", "update", &id.to_string()])
        .await
        .unwrap_err();
    assert!(e.contains("nothing to change"), "{e}");
    server.shut_down().await;
}

#[tokio::test]
async fn watch_prints_the_event_stream_as_readable_lines() {
    let mut server = TestServer::start().await;
    server.put_queue("sales", |_| {}).await;
    server.put_agent("a1", &[]).await;
    server.set_ready("a1").await;
    server.enqueue("sales", pb::Channel::Chat, &[]).await;
    let mut watch = Command::new(env!("CARGO_BIN_EXE_routerd"))
        .args(["ctl", "--target", &format!("http://{}", server.addr)])
        .args(["watch", "--from", "1", "--kind", "decision"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("routerd ctl starts");
    let stdout = watch.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().next().map(|l| l.unwrap())
    });
    let line = tokio::time::timeout(PATIENCE, line)
        .await
        .expect("a line in time")
        .unwrap()
        .expect("a line");
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(line.contains("decision queue=sales"), "{line}");
    assert!(line.contains("agent=a1"), "{line}");
    server.shut_down().await;
}

#[tokio::test]
async fn the_terminal_desktop_shows_offers_and_takes_commands_a_line() {
    use std::io::Write;
    let mut server = TestServer::start().await;
    server
        .put_queue("sales", |q| q.offer_timeout_seconds = 300)
        .await;
    server.put_agent("a1", &[]).await;
    let mut desk = Command::new(env!("CARGO_BIN_EXE_routerd"))
        .args(["ctl", "--target", &format!("http://{}", server.addr)])
        .args(["desktop", "a1", "--ready"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the desktop starts");
    let mut stdin = desk.stdin.take().unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = desk.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut until = async |wanted: &str| -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout(PATIENCE, lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no {wanted:?} in time; saw {seen:?}"))
                .unwrap_or_else(|| panic!("the desktop ended; saw {seen:?}"));
            let found = line.contains(wanted);
            seen.push(line);
            if found {
                return seen;
            }
        }
    };
    until("a1 is ready").await;
    let id = server
        .enqueue("sales", pb::Channel::Chat, &[("order", "A-9")])
        .await
        .contact_id;
    let offer = until("order: A-9").await;
    assert!(
        offer
            .iter()
            .any(|l| l.starts_with(&format!("OFFER contact {id} · sales · chat"))),
        "{offer:?}"
    );
    writeln!(stdin, "a").unwrap();
    until(&format!("TALKING contact {id}")).await;
    assert_eq!(
        server.contact(id).await.state,
        pb::ContactState::Assigned as i32
    );
    writeln!(stdin, "c").unwrap();
    until(&format!("completed contact {id}")).await;
    writeln!(stdin, "break lunch").unwrap();
    until("a1 is not ready (lunch)").await;
    assert_eq!(
        server.contact(id).await.state,
        pb::ContactState::Completed as i32
    );
    writeln!(stdin, "quit").unwrap();
    until("logged out").await;
    let status = tokio::task::spawn_blocking(move || desk.wait())
        .await
        .unwrap();
    assert!(status.unwrap().success());
    server.shut_down().await;
}
