//! Concurrency through the real stack: desktops answering over their sessions while several
//! frontends enqueue and cancel at once. Afterwards every contact has ended exactly once and the
//! queue's figures add up.

use std::collections::HashMap;

use routerd::proto as pb;

use crate::common::{PATIENCE, TestServer, auto_answer, enqueue_request, next_event};

const AGENTS: usize = 8;
const FRONTENDS: usize = 4;
const CONTACTS_EACH: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_contact_ends_exactly_once_under_concurrent_load() {
    let mut s = TestServer::start().await;
    s.put_queue("load", |q| q.offer_timeout_seconds = 60).await;
    for a in 0..AGENTS {
        s.put_agent(&format!("agent-{a}"), &[]).await;
    }
    // Desktops: accept every offer, complete every assignment.
    let mut desktops = Vec::new();
    for a in 0..AGENTS {
        let session = s.session(&format!("agent-{a}"), true).await;
        desktops.push(auto_answer(session, |_| true, |_| true));
    }
    // Frontends: enqueue voice and chat contacts; withdraw every fifth right away.
    let mut frontends = Vec::new();
    for f in 0..FRONTENDS {
        let mut contacts = s.contacts.clone();
        frontends.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..CONTACTS_EACH {
                let channel = if i % 2 == 0 {
                    pb::Channel::Voice
                } else {
                    pb::Channel::Chat
                };
                let id = contacts
                    .enqueue_contact(enqueue_request("load", channel, &[("frontend", "x")]))
                    .await
                    .expect("enqueue")
                    .into_inner()
                    .contact_id;
                if (i + f) % 5 == 0 {
                    // It may already be offered or even accepted: both outcomes are legal.
                    let _ = contacts
                        .cancel_contact(pb::CancelContactRequest {
                            contact_id: id,
                            reason: pb::CancelReason::Withdrawn as i32,
                        })
                        .await;
                }
                ids.push(id);
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for f in frontends {
        all.extend(f.await.unwrap());
    }
    assert_eq!(all.len(), FRONTENDS * CONTACTS_EACH);

    // Every contact ends, exactly once, as the supervisor stream tells it from the start.
    let mut stream = s
        .events(pb::StreamEventsRequest {
            from_sequence: 1,
            ..Default::default()
        })
        .await;
    let mut ended: HashMap<u64, i32> = HashMap::new();
    let terminal = [
        pb::EventKind::ContactCompleted as i32,
        pb::EventKind::ContactCancelled as i32,
        pb::EventKind::ContactAbandoned as i32,
        pb::EventKind::ContactExpired as i32,
    ];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while ended.len() < all.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "contacts left unended"
        );
        let e = next_event(&mut stream).await;
        if terminal.contains(&e.kind) {
            let again = ended.insert(e.contact_id, e.kind);
            assert!(again.is_none(), "contact {} ended twice", e.contact_id);
        }
    }
    let mut ids = all.clone();
    ids.sort_unstable();
    let mut ended_ids: Vec<u64> = ended.keys().copied().collect();
    ended_ids.sort_unstable();
    assert_eq!(ids, ended_ids);

    let stats = s.queue_stats("load").await;
    let cancelled = ended
        .values()
        .filter(|k| **k == pb::EventKind::ContactCancelled as i32)
        .count() as u64;
    assert_eq!(stats.waiting + stats.offered_now, 0);
    assert_eq!(stats.offered, all.len() as u64);
    assert_eq!(stats.answered, stats.completed);
    assert_eq!(stats.completed + cancelled, all.len() as u64);
    for d in desktops {
        d.abort();
    }
}
