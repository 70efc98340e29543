//! The journal fixture: `tests/fixtures/journal-v1/` is a journal written by the first version
//! of the record format (routerd.journal.v1) through the real commit path, and
//! `tests/fixtures/journal-v1.txt` is what recovering it gave then — agents, contacts, queue
//! figures and every numbered event, in a rendering that names fields rather than dumping
//! structs, so adding a field later does not change it. Every later build must recover the
//! fixture to the same text: a change to the record encoding that alters the meaning of old
//! records fails here.
//!
//! The fixture uses every command of the format (settings, queues put and deleted, agents put
//! and removed, presence, sessions, enqueues kept although refused, cancel, accept, reject,
//! complete). It holds no snapshot: images are a cache tied to the build (`IMAGE_VERSION`), the
//! records are the durable format. `write_the_journal_fixture` (ignored) rewrites both files; do
//! that only on purpose, for a new fixture version beside this one, never to make this test pass.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::core::{
    AgentSpec, CancelReason, Channel, ContactState, EventBody, NewContact, Outcome, Presence,
    PresenceView, SkillLevel,
};

fn fixture() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    (root.join("journal-v1"), root.join("journal-v1.txt"))
}

/// Recovers the journal in `dir` as start-up would (the events it regenerates numbered from
/// 1) and renders what it rebuilt.
fn recovered(dir: &Path) -> String {
    let store = FileStore::open(dir).expect("opens");
    let bus = EventBus::new(100_000, 16);
    let rebuilt = recovery::rebuild(&store, EngineConfig::default(), None, Some(&bus), true)
        .expect("the fixture recovers with no record refused");
    assert_eq!(
        rebuilt.end.cut, None,
        "the fixture ends with a whole record"
    );
    let engine = &rebuilt.engine;
    let mut out = String::new();
    let _ = writeln!(out, "records {} now {}", rebuilt.replayed, engine.now());
    for agent in engine.agent_views() {
        let presence = match &agent.presence {
            PresenceView::Offline => "offline".to_string(),
            PresenceView::Ready => "ready".to_string(),
            PresenceView::NotReady(reason) => format!("not-ready({reason})"),
            PresenceView::WrapUp => "wrap-up".to_string(),
        };
        let skills: Vec<String> = agent
            .spec
            .skills
            .iter()
            .map(|s| format!("{}:{}", s.skill.as_str(), s.level.get()))
            .collect();
        let _ = writeln!(
            out,
            "agent {} skills [{}] {presence} load {}/{} offered {:?} assigned {:?} handled {} \
             missed {} idle-since {} performance {:.4}",
            agent.spec.id,
            skills.join(" "),
            agent.load,
            agent.capacity,
            agent.offered,
            agent.assigned,
            agent.handled,
            agent.missed_in_row,
            agent.idle_since,
            agent.performance,
        );
    }
    for id in 1..=32 {
        let Some(c) = engine.contact_view(id) else {
            continue;
        };
        let context: Vec<String> = c.context.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "contact {} {} {:?} customer {:?} value {} priority {} context [{}] {} \
             enqueued {} answered {:?} ended {:?}",
            c.id,
            c.queue,
            c.channel,
            c.customer_id,
            c.customer_value,
            c.priority,
            context.join(" "),
            state(&c.state),
            c.enqueued_at,
            c.answered_at,
            c.ended_at,
        );
    }
    for q in engine.queue_snapshots() {
        let n = &q.counters;
        let _ = writeln!(
            out,
            "queue {} waiting {} ringing {} entered {} answered {} (in threshold {}) abandoned {} \
             (short {}) expired {} refused {} withdrawn {} completed {} wait-ms {} \
             handle-ms {}",
            q.config.name,
            q.waiting,
            q.offered_now,
            n.offered,
            n.answered,
            n.answered_within_threshold,
            n.abandoned,
            n.abandoned_short,
            n.expired,
            n.refused,
            n.withdrawn,
            n.completed,
            n.total_answer_wait_ms,
            n.total_handle_ms,
        );
    }
    let replay = bus.subscribe(Some(1)).expect("from the first event").replay;
    for published in replay.iter() {
        let event = &published.event;
        let what = match &event.body {
            EventBody::ContactQueued { contact } => format!("queued {}", contact.id),
            EventBody::ContactTransferred { contact, agent } => {
                format!(
                    "transferred {} from {agent} to {}",
                    contact.id, contact.queue
                )
            }
            EventBody::ExceptionFired { contact, firing } => format!(
                "exception {} of {} fired for {} ({:?}, applied {})",
                firing.rule, firing.queue, contact.id, firing.action, firing.applied
            ),
            EventBody::CallbackRequested { contact } => format!("callback {}", contact.id),
            EventBody::ConsultAccepted { contact, agent } => {
                format!("consult on {} taken by {agent}", contact.id)
            }
            EventBody::ConsultEnded {
                contact,
                agent,
                how,
            } => format!("consult on {} with {agent} ended: {how:?}", contact.id),
            EventBody::CallbackAttempted { contact, agent } => format!(
                "callback attempt {} by {agent}: {:?}",
                contact.id,
                contact.callback.as_ref().and_then(|c| c.attempts.last())
            ),
            EventBody::ContactUpdated { contact, changed } => {
                format!("updated {} ({})", contact.id, changed.join(","))
            }
            EventBody::Decision(d) => format!(
                "decision {} -> {} ({} {:?} {:?}, waited {} ms, considered {})",
                d.contact, d.agent, d.strategy.label, d.side, d.trigger, d.waited_ms, d.considered
            ),
            EventBody::OfferAccepted {
                contact,
                agent,
                waited_ms,
                ..
            } => format!("accepted {contact} by {agent} after {waited_ms} ms"),
            EventBody::OfferRejected { contact, agent, .. } => {
                format!("rejected {contact} by {agent}")
            }
            EventBody::OfferTimedOut { contact, agent, .. } => {
                format!("timed out {contact} at {agent}")
            }
            EventBody::OfferReturned {
                contact,
                agent,
                reason,
                ..
            } => format!("returned {contact} from {agent} ({reason:?})"),
            EventBody::ContactEnded { contact, agent } => {
                format!(
                    "ended {} {} at {agent:?}",
                    contact.id,
                    state(&contact.state)
                )
            }
            EventBody::AgentStateChanged { agent } => {
                format!(
                    "agent {} {:?} load {}",
                    agent.spec.id, agent.presence, agent.load
                )
            }
            EventBody::AgentChanged { agent, removed } => {
                format!("agent {} changed (removed {removed})", agent.spec.id)
            }
            EventBody::QueueChanged { queue, deleted } => {
                format!("queue {} changed (deleted {deleted})", queue.name)
            }
        };
        let _ = writeln!(
            out,
            "event {} at {} queue {:?}: {what}",
            published.sequence,
            event.at,
            event.queue()
        );
    }
    out
}

fn state(state: &ContactState) -> String {
    match state {
        ContactState::Waiting => "waiting".into(),
        ContactState::Offered { agent, deadline } => format!("offered({agent} until {deadline})"),
        ContactState::Assigned { agent } => format!("assigned({agent})"),
        ContactState::Completed { agent, outcome } => format!(
            "completed({agent} handle {} s resolved {} satisfaction {})",
            outcome.handle_secs, outcome.resolved, outcome.satisfaction
        ),
        ContactState::Abandoned => "abandoned".into(),
        ContactState::Cancelled => "cancelled".into(),
        ContactState::Expired => "expired".into(),
        ContactState::Diverted => "diverted".into(),
        ContactState::Unreached => "unreached".into(),
    }
}

#[test]
fn the_journal_fixture_recovers_to_the_same_state_and_events() {
    let (dir, expected) = fixture();
    let expected = std::fs::read_to_string(&expected).expect("the fixture's expected text");
    let got = recovered(&dir);
    if got != expected {
        let first = got
            .lines()
            .zip(expected.lines())
            .position(|(g, e)| g != e)
            .unwrap_or(got.lines().count().min(expected.lines().count()));
        panic!(
            "journal-v1 recovers differently from line {}:\n  expected: {:?}\n  got:      {:?}",
            first + 1,
            expected.lines().nth(first),
            got.lines().nth(first)
        );
    }
    // It is a real floor, not an empty file.
    for needle in [
        "decision ",
        "accepted ",
        "rejected ",
        "completed(",
        "abandoned",
        "refused 1",
    ] {
        assert!(expected.contains(needle), "the fixture shows {needle:?}");
    }
}

/// Which agent holds `contact` (offered or assigned), as the engine says.
async fn holder(handle: &EngineHandle, contact: u64) -> Option<String> {
    handle
        .query(move |e| match e.contact_view(contact)?.state {
            ContactState::Offered { agent, .. } | ContactState::Assigned { agent } => {
                Some(agent.to_string())
            }
            _ => None,
        })
        .await
        .unwrap()
}

/// Rewrites the fixture through the real server path: start-up (settings, queues), then a
/// small day on two queues.
#[tokio::test]
#[ignore = "rewrites tests/fixtures/journal-v1: only for a deliberate new fixture"]
async fn write_the_journal_fixture() {
    let (dir, expected) = fixture();
    let _ = std::fs::remove_dir_all(&dir);
    let mut sales = QueueConfig::new("sales");
    sales.required_skills = vec![SkillLevel::new("sales", 2).unwrap()];
    sales.max_length = 3;
    let mut support = QueueConfig::new("support");
    support.required_skills = vec![SkillLevel::new("support", 1).unwrap()];
    support.strategy = "performance".into();
    // Short timers, so offer timeouts, wrap-up ends and expiry fire between records.
    support.offer_timeout_secs = 1;
    support.wrap_up_secs = 1;
    support.max_wait_secs = 3;
    let config = RuntimeConfig {
        queues: vec![sales, support],
        ..RuntimeConfig::journaled(&dir)
    };
    let running = start(config).await.expect("starts");
    let h = running.handle.clone();
    let apply = |command: Command| {
        let h = h.clone();
        async move {
            let result = h.apply(command).await;
            tokio::time::sleep(Duration::from_millis(3)).await;
            result
        }
    };
    let agents: [(&str, &[(&str, u32)]); 4] = [
        ("ana", &[("sales", 5), ("support", 3)]),
        ("bo", &[("sales", 3)]),
        ("cy", &[("support", 4)]),
        ("dee", &[("sales", 1)]),
    ];
    for (id, skills) in agents {
        let spec = AgentSpec::new(id).with_skills(skills).unwrap();
        apply(Command::PutAgent(spec)).await.unwrap();
    }
    apply(Command::PutQueue(Box::new(QueueConfig::new("returns"))))
        .await
        .unwrap();
    apply(Command::DeleteQueue {
        name: "returns".into(),
    })
    .await
    .unwrap();
    apply(Command::Session {
        agent: "ana".into(),
        attached: true,
    })
    .await
    .unwrap();
    for id in ["ana", "bo", "cy"] {
        let presence = Presence::Ready;
        apply(Command::SetPresence {
            agent: id.into(),
            presence,
        })
        .await
        .unwrap();
    }
    // Six sales contacts: two are offered, three wait (the queue holds three), one is refused.
    for n in 0..6u32 {
        let mut contact = NewContact::new("sales", Channel::Voice);
        contact.customer_id = format!("cust-{n}");
        contact.customer_value = f64::from(n) * 10.0;
        contact.priority = n % 2;
        contact.context.insert("order".into(), format!("A-{n}"));
        let _ = apply(Command::Enqueue(contact)).await;
    }
    let mut chat = NewContact::new("support", Channel::Chat);
    chat.customer_id = "cust-1".into();
    chat.conversation_id = "conv-1".into();
    apply(Command::Enqueue(chat)).await.unwrap();
    // Kept although refused: replay refuses it again.
    let _ = apply(Command::Enqueue(NewContact::new("nowhere", Channel::Email))).await;

    // The first offer is rejected; then offers are accepted and calls completed, in rounds.
    let first = holder(&h, 1).await.expect("contact 1 is offered");
    apply(Command::Reject {
        contact: 1,
        agent: first,
    })
    .await
    .unwrap();
    for round in 0..3u32 {
        for contact in 1..=8 {
            let state = h
                .query(move |e| e.contact_view(contact).map(|c| c.state))
                .await
                .unwrap();
            let command = match state {
                Some(ContactState::Offered { agent, .. }) => Command::Accept {
                    contact,
                    agent: agent.to_string(),
                },
                Some(ContactState::Assigned { agent }) => Command::Complete {
                    contact,
                    agent: agent.to_string(),
                    outcome: Outcome {
                        handle_secs: 60 + 7 * round,
                        resolved: contact % 3 != 0,
                        satisfaction: (contact % 6) as u8,
                    },
                },
                _ => continue,
            };
            apply(command).await.unwrap();
        }
    }
    // Two more calls wait behind busy agents; an email waits for cy's wrap-up, is offered,
    // times out, and expires.
    for n in 6..8u32 {
        let mut contact = NewContact::new("sales", Channel::Voice);
        contact.customer_id = format!("cust-{n}");
        let _ = apply(Command::Enqueue(contact)).await;
    }
    let email = NewContact::new("support", Channel::Email);
    apply(Command::Enqueue(email)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    // A customer hangs up while waiting; another call is withdrawn by the frontend.
    let waiting = h
        .query(|e| {
            (1..=12)
                .filter(|&id| {
                    e.contact_view(id)
                        .is_some_and(|c| c.state == ContactState::Waiting)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    let reasons = [CancelReason::Abandoned, CancelReason::Withdrawn];
    for (&contact, reason) in waiting.iter().zip(reasons) {
        apply(Command::Cancel { contact, reason }).await.unwrap();
    }
    apply(Command::SetPresence {
        agent: "bo".into(),
        presence: Presence::NotReady("lunch".into()),
    })
    .await
    .unwrap();
    apply(Command::Session {
        agent: "ana".into(),
        attached: false,
    })
    .await
    .unwrap();
    apply(Command::RemoveAgent { id: "dee".into() })
        .await
        .unwrap();
    drop(h);
    drop(running.handle);
    running.stopped.await.unwrap().unwrap();
    // Only the records: the preallocated zeros after them and the spare segment are not kept.
    let store = FileStore::open(&dir).unwrap();
    let unused = store.read(0, None, &mut |_, _, _| Ok(())).unwrap().unused;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(file.metadata().unwrap().len() - unused)
                .unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    std::fs::write(&expected, recovered(&dir)).unwrap();
}
