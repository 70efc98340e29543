//! Durability through the real binary: a `routerd serve` process under load is killed with
//! SIGKILL and started again on the same data directory. Every contact whose enqueue was
//! acknowledged is back — waiting, assigned or ended, never lost, never twice — agents are
//! offline with their offers back in the queue, and event numbers continue where they were, so a
//! supervisor resumes its stream. A SIGTERM afterwards stops the server cleanly.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tonic::transport::Channel;

use routerd::proto as pb;
use routerd::proto::agent_service_client::AgentServiceClient;
use routerd::proto::contact_service_client::ContactServiceClient;
use routerd::proto::supervisor_service_client::SupervisorServiceClient;

use crate::common::{PATIENCE, auto_answer, enqueue_request, next_event, open_session};

/// A routerd process; killed if the test ends early.
pub struct Process {
    pub child: Child,
    pub addr: String,
    /// What it logged before it listened.
    pub start_up: Vec<String>,
    /// What it logged since.
    pub later: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts routerd and returns once it logs that it serves.
    pub fn start(config: &Path) -> Process {
        Process::start_until(config, "routerd listening")
    }

    /// Starts routerd and returns once it logs a line with `marker` and its address.
    pub fn start_until(config: &Path, marker: &str) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_routerd"))
            .args(["serve", "--config"])
            .arg(config)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("routerd starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut start_up = Vec::new();
        let addr = loop {
            let line = lines
                .next()
                .expect("routerd logs that it listens")
                .expect("a log line");
            start_up.push(line.clone());
            if line.contains(marker) {
                let addr = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
                    .expect("the address in the log line");
                break addr.to_string();
            }
        };
        // Keep reading, so the server never blocks on a full pipe.
        let later = Arc::new(Mutex::new(Vec::new()));
        let kept = later.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().push(line);
            }
        });
        Process {
            child,
            addr,
            start_up,
            later,
        }
    }

    /// Waits (at most [`PATIENCE`]) for a line with `marker` logged since it started.
    pub async fn logged(&self, marker: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.later.lock().iter().find(|l| l.contains(marker)) {
                return line.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "routerd did not log {marker:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    pub async fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "routerd did not exit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let status = self.child.try_wait().ok().flatten();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // The server's log is the first thing a failed test needs.
            eprintln!("routerd ({status:?} before the test ended) logged:");
            for line in self.start_up.iter().chain(self.later.lock().iter()) {
                eprintln!("  {line}");
            }
        }
    }
}

/// A configuration file in `dir`: a journal under `dir/data` with a snapshot every
/// `snapshot_every` records, and the queue `general` with `queue_keys` (TOML lines) added.
fn journaled_config(dir: &Path, snapshot_every: u32, queue_keys: &str) -> std::path::PathBuf {
    let config = dir.join("routerd.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n[journal]\ndir = {:?}\nsnapshot_every = {snapshot_every}\n\
             [[queues]]\nname = \"general\"\n{queue_keys}",
            dir.join("data")
        ),
    )
    .unwrap();
    config
}

/// The `general` queue's live figures.
pub async fn general_stats(channel: Channel) -> pb::QueueStats {
    let snapshot = SupervisorServiceClient::new(channel)
        .get_snapshot(pb::SnapshotRequest {})
        .await
        .unwrap()
        .into_inner();
    snapshot
        .queues
        .into_iter()
        .find(|q| q.queue == "general")
        .expect("the general queue")
}

const AGENTS: usize = 4;
const FRONTENDS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_contacts_survive_a_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = journaled_config(dir.path(), 500, "offer_timeout_seconds = 60\n");
    kill_and_restart(&config).await;
}

/// The kill-and-restart check on the server `config` describes (whatever keeps its journal):
/// load, SIGKILL, restart, every acknowledged contact back once, agents offline, event numbers
/// continuing; then SIGTERM stops it cleanly and a restart still has everything.
/// Returns the ids of the contacts whose enqueue was acknowledged before the kill.
pub async fn kill_and_restart(config: &Path) -> Vec<u64> {
    let config = config.to_path_buf();
    let mut server = Process::start(&config);
    let channel = server.channel().await;
    let mut agents = AgentServiceClient::new(channel.clone());
    for a in 0..AGENTS {
        let spec = pb::AgentSpec {
            id: format!("agent-{a}"),
            ..Default::default()
        };
        agents
            .put_agent(pb::PutAgentRequest { agent: Some(spec) })
            .await
            .unwrap();
    }
    // A supervisor records every event it sees.
    let seen = Arc::new(Mutex::new(Vec::<pb::Event>::new()));
    let mut supervisor = SupervisorServiceClient::new(channel.clone());
    let mut stream = supervisor
        .stream_events(pb::StreamEventsRequest {
            from_sequence: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let recorder = seen.clone();
    tokio::spawn(async move {
        while let Ok(Some(event)) = stream.message().await {
            recorder.lock().push(event);
        }
    });
    // Desktops accept every offer and complete every other assignment, so contacts are in
    // every state when the kill comes.
    for a in 0..AGENTS {
        let session = open_session(channel.clone(), &format!("agent-{a}"), true).await;
        auto_answer(session, |n| n % 3 != 2, |n| n % 2 == 0);
    }
    // Frontends enqueue chats as fast as they are answered, withdrawing every seventh.
    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    for _ in 0..FRONTENDS {
        let mut contacts = ContactServiceClient::new(channel.clone());
        let acked = acked.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let request = enqueue_request("general", pb::Channel::Chat, &[("order", "A-1")]);
                let Ok(reply) = contacts.enqueue_contact(request).await else {
                    return;
                };
                let id = reply.into_inner().contact_id;
                acked.lock().push(id);
                if i % 7 == 3 {
                    let cancel = pb::CancelContactRequest {
                        contact_id: id,
                        reason: pb::CancelReason::Withdrawn as i32,
                    };
                    // It may have ended already (completed): FAILED_PRECONDITION is fine.
                    if let Err(status) = contacts.cancel_contact(cancel).await
                        && status.code() != tonic::Code::FailedPrecondition
                    {
                        return;
                    }
                }
            }
        });
    }
    // Kill it mid-flight, once it has done real work.
    let until = tokio::time::Instant::now() + PATIENCE;
    while acked.lock().len() < 600 && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().unwrap();
    server.wait().await;
    let acked: Vec<u64> = acked.lock().clone();
    let last_seen = seen.lock().last().cloned().expect("events before the kill");
    assert!(
        acked.len() >= 100,
        "only {} enqueues before the kill",
        acked.len()
    );
    let distinct: BTreeSet<u64> = acked.iter().copied().collect();
    assert_eq!(distinct.len(), acked.len(), "an id acknowledged twice");

    // Restart on the same data directory.
    let mut server = Process::start(&config);
    let channel = server.channel().await;
    let mut contacts = ContactServiceClient::new(channel.clone());
    let mut states = std::collections::BTreeMap::<i32, usize>::new();
    for id in &acked {
        let contact = contacts
            .get_contact(pb::GetContactRequest { contact_id: *id })
            .await
            .unwrap_or_else(|e| panic!("contact {id} lost in the restart: {e}"))
            .into_inner();
        assert_ne!(
            contact.state,
            pb::ContactState::Offered as i32,
            "contact {id} still offered to an agent whose session died"
        );
        *states.entry(contact.state).or_default() += 1;
    }
    assert!(states.len() >= 3, "contacts in too few states: {states:?}");
    // None twice: the queue counted each contact once (plus at most one in flight per frontend
    // whose acknowledgement the kill swallowed).
    let general = general_stats(channel.clone()).await;
    let entered = general.offered as usize;
    assert!(
        (acked.len()..=acked.len() + FRONTENDS).contains(&entered),
        "{entered} contacts entered the queue, {} acknowledged",
        acked.len()
    );
    assert_eq!(general.offered_now, 0);
    // Agents came back offline: their sessions died with the process.
    let listed = AgentServiceClient::new(channel.clone())
        .list_agents(pb::ListAgentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.agents.len(), AGENTS);
    for agent in &listed.agents {
        assert_eq!(agent.presence, pb::AgentPresence::Offline as i32);
        assert!(agent.offered_contacts.is_empty());
    }
    // Event numbers continue: the last event seen before the kill is the same event after it.
    let mut resumed = SupervisorServiceClient::new(channel.clone())
        .stream_events(pb::StreamEventsRequest {
            from_sequence: last_seen.sequence,
            ..Default::default()
        })
        .await
        .expect("resume from the last sequence seen")
        .into_inner();
    assert_eq!(next_event(&mut resumed).await, last_seen);
    drop(resumed);

    // SIGTERM: a clean stop, and nothing lost by it either.
    let terminated = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    assert!(server.wait().await.success(), "routerd exits 0 on SIGTERM");
    let server = Process::start(&config);
    let mut contacts = ContactServiceClient::new(server.channel().await);
    for id in [acked[0], *acked.last().unwrap()] {
        contacts
            .get_contact(pb::GetContactRequest { contact_id: id })
            .await
            .expect("still there after a clean stop");
    }
    acked
}

/// Exactly-once enqueue across a crash: a frontend whose enqueue was answered just before the
/// server died retries it with the same request id after the restart, and gets the same contact
/// back, marked as a repeat, instead of a duplicate. Some answers come back from the journal's
/// tail, some from a snapshot image (one is taken every 5 records).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_enqueue_after_a_kill_and_restart_returns_the_same_contact() {
    let dir = tempfile::tempdir().unwrap();
    let config = journaled_config(dir.path(), 5, "");
    let request = |i: usize| {
        let mut r = enqueue_request("general", pb::Channel::Voice, &[("order", "A-17")]);
        r.request_id = format!("ivr-call-{i}");
        r
    };
    let mut server = Process::start(&config);
    let mut contacts = ContactServiceClient::new(server.channel().await);
    let mut first = Vec::new();
    for i in 0..20 {
        let answer = contacts
            .enqueue_contact(request(i))
            .await
            .unwrap()
            .into_inner();
        assert!(!answer.repeated);
        first.push(answer);
    }
    server.child.kill().unwrap();
    server.wait().await;

    let server = Process::start(&config);
    let mut contacts = ContactServiceClient::new(server.channel().await);
    for (i, before) in first.iter().enumerate() {
        let again = contacts
            .enqueue_contact(request(i))
            .await
            .unwrap()
            .into_inner();
        assert!(again.repeated, "retry {i} is recognised");
        assert_eq!(again.contact_id, before.contact_id);
        assert_eq!(again.position, before.position);
        assert_eq!(again.state, before.state);
    }
    // The same id with another request is refused, and nothing was enqueued twice.
    let mut other = request(0);
    other.priority = 7;
    let status = contacts.enqueue_contact(other).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
    assert!(status.message().contains(&first[0].contact_id.to_string()));
    let general = general_stats(server.channel().await).await;
    assert_eq!(general.waiting, 20, "20 contacts, not 40 or 41");
    assert_eq!(general.offered, 20);
}

/// A journal damaged in its middle stops the server with advice; `routerd journal repair`
/// keeps what precedes the damage (after a backup) and the server starts again from it.
#[tokio::test]
async fn a_journal_damaged_in_the_middle_is_repaired_to_what_precedes_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = journaled_config(dir.path(), 0, "");
    let mut server = Process::start(&config);
    let mut contacts = ContactServiceClient::new(server.channel().await);
    for _ in 0..6 {
        contacts
            .enqueue_contact(enqueue_request("general", pb::Channel::Chat, &[]))
            .await
            .unwrap();
    }
    server.child.kill().unwrap();
    server.wait().await;

    // Flip a byte a third of the way into the records: records follow it, so it is damage,
    // not a torn end.
    let data = dir.path().join("data");
    let segment = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("journal-")
        })
        .expect("a journal segment");
    let mut bytes = std::fs::read(&segment).unwrap();
    let used = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    bytes[used / 3] ^= 0x5a;
    std::fs::write(&segment, &bytes).unwrap();

    let refused = Command::new(env!("CARGO_BIN_EXE_routerd"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("routerd journal repair"), "{said}");

    let repaired = Command::new(env!("CARGO_BIN_EXE_routerd"))
        .args(["journal", "repair", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&repaired.stdout);
    assert!(repaired.status.success(), "{said}");
    assert!(said.contains("records before"), "{said}");
    let backups: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("damaged-"))
        .collect();
    assert_eq!(backups.len(), 1, "one backup of what was cut");

    // It starts, with what preceded the damage (fewer contacts than were acknowledged: the
    // cut is the price of the damage, and the backup holds the rest).
    let server = Process::start(&config);
    let stats = general_stats(server.channel().await).await;
    assert!(stats.offered < 6, "{stats:?}");
    drop(server);
    let again = Command::new(env!("CARGO_BIN_EXE_routerd"))
        .args(["journal", "repair", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("no damage found"));
}
