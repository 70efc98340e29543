//! Exactly-once enqueue: the request ids the engine remembers, with the answer each got.
//!
//! A frontend that retries an `Enqueue` after a timeout or a reconnect cannot know whether the
//! first attempt reached the engine. With a request id, it does not have to: the engine
//! remembers every admitted enqueue's id for the request window (`request_id_window_seconds`),
//! with a fingerprint of its payload and the answer it got.
//! - The same id with the same payload returns that first answer (contact id, position,
//!   estimated wait, offered at once or not) and changes nothing: no contact, no event, no count.
//! - The same id with another payload is refused ([`CoreError::RequestIdReused`]), and changes
//!   nothing either.
//! - A refused enqueue is not remembered: its retry is a new attempt (a queue that was full may
//!   have room now).
//!
//! Answers of accept, reject and complete need no id: a repeat by the same agent is recognised
//! from the contact itself (see [`super::lifecycle`]).
//!
//! Invariants: an id is remembered at most once; the forgetting order holds every remembered
//! id, oldest first. Both live in the engine's image, and the journal replays each enqueue with
//! its id at its time, so a retry after a restart is recognised like one before it.
//!
//! Cost: a hash look-up per enqueue with an id, and a payload fingerprint (FNV-1a over its
//! fields, about its size in bytes). Forgetting happens as time advances, amortised O(1).
//! Memory: about 100 bytes per id remembered plus the id itself.
//!
//! Limits: at most `request_ids` ids are remembered; beyond that the oldest is forgotten before
//! its window ends (a retry that late is taken as new). The fingerprint is 64 bits: two different
//! payloads under one id collide with probability 2⁻⁶⁴.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::core::types::HashMap;

use crate::core::contact::NewContact;
use crate::core::types::{ContactId, Millis};

/// What an admitted enqueue was answered.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnqueueAnswer {
    pub contact: ContactId,
    /// 1-based position in its queue; 0 when it was offered at once.
    pub position: u32,
    pub estimated_wait_ms: Option<u64>,
}

#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Remembered {
    fingerprint: u64,
    answer: EnqueueAnswer,
    /// When the window of this id ends.
    until: Millis,
}

/// What a request id says of an enqueue.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not remembered: enqueue it.
    New,
    /// The same request again: its first answer.
    Repeat(EnqueueAnswer),
    /// The id was used for another payload, answered with this contact.
    Reused { contact: ContactId },
}

/// Remembered request ids and their answers.
#[derive(serde::Serialize, serde::Deserialize, Debug, Default)]
pub struct RequestIds {
    by_id: HashMap<Arc<str>, Remembered>,
    /// Every remembered id with its window's end, in the order remembered.
    order: VecDeque<(Millis, Arc<str>)>,
}

impl RequestIds {
    /// What an enqueue under request id `id` with payload fingerprint `fingerprint` is, at
    /// `now`.
    pub fn seen(&self, id: &str, fingerprint: u64, now: Millis) -> Seen {
        match self.by_id.get(id) {
            Some(r) if r.until > now => {
                if r.fingerprint == fingerprint {
                    Seen::Repeat(r.answer)
                } else {
                    Seen::Reused {
                        contact: r.answer.contact,
                    }
                }
            }
            _ => Seen::New,
        }
    }

    /// Remembers the answer the enqueue under `id` got, until `until`; keeps at most `limit`
    /// ids.
    pub fn remember(
        &mut self,
        id: &str,
        fingerprint: u64,
        answer: EnqueueAnswer,
        until: Millis,
        limit: usize,
    ) {
        let id: Arc<str> = Arc::from(id);
        let remembered = Remembered {
            fingerprint,
            answer,
            until,
        };
        // An id whose window ended may still sit here until time moves on: replace it.
        if self.by_id.insert(id.clone(), remembered).is_some() {
            self.order.retain(|(_, i)| *i != id);
        }
        self.order.push_back((until, id));
        while self.order.len() > limit.max(1) {
            self.forget_oldest();
        }
    }

    /// Forgets every id whose window ended by `now`. Windows end in the order ids were
    /// remembered unless the window was shortened meanwhile; an id behind a longer-lived one
    /// waits for it here, and [`RequestIds::seen`] ignores it already.
    pub fn forget_until(&mut self, now: Millis) {
        while self.order.front().is_some_and(|(until, _)| *until <= now) {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((_, id)) = self.order.pop_front() {
            self.by_id.remove(&id);
        }
    }

    /// How many ids are remembered.
    pub fn remembered(&self) -> usize {
        self.by_id.len()
    }

    /// Both structures hold the same ids (for the engine's invariant check).
    pub fn consistent(&self) -> bool {
        self.order.len() == self.by_id.len()
            && self
                .order
                .iter()
                .all(|(until, id)| self.by_id.get(id).is_some_and(|r| r.until == *until))
    }
}

/// FNV-1a, 64 bits: a fingerprint that is the same on every run and every build, so one taken
/// before a restart compares with one taken after it.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The payload of an enqueue, field by field (its request id left out).
pub fn fingerprint(new: &NewContact) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    new.queue.hash(&mut h);
    (new.channel.index() as u8).hash(&mut h);
    new.customer_id.hash(&mut h);
    new.customer_value.to_bits().hash(&mut h);
    new.priority.hash(&mut h);
    let skills = |h: &mut Fnv, set: &[crate::core::types::SkillLevel]| {
        (set.len() as u64).hash(h);
        for s in set {
            s.skill.as_str().hash(h);
            s.level.get().hash(h);
        }
    };
    skills(&mut h, &new.required_skills);
    (new.alternatives.len() as u64).hash(&mut h);
    for set in &new.alternatives {
        skills(&mut h, set);
    }
    (new.context.len() as u64).hash(&mut h);
    for (k, v) in &new.context {
        k.hash(&mut h);
        v.hash(&mut h);
    }
    new.conversation_id.hash(&mut h);
    // Only when named: a request without preferences keeps the fingerprint it always had.
    if !new.preferred_agents.is_empty() {
        (new.preferred_agents.len() as u64).hash(&mut h);
        for p in &new.preferred_agents {
            p.agent.hash(&mut h);
            p.score.hash(&mut h);
        }
        new.preferred_wait_secs.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::types::Channel;

    fn request(id: &str, priority: u32) -> NewContact {
        let mut new = NewContact::new("q", Channel::Voice);
        new.request_id = id.into();
        new.priority = priority;
        new
    }

    fn seen(ids: &RequestIds, new: &NewContact, now: Millis) -> Seen {
        ids.seen(&new.request_id, fingerprint(new), now)
    }

    fn remember(
        ids: &mut RequestIds,
        new: &NewContact,
        a: EnqueueAnswer,
        until: Millis,
        limit: usize,
    ) {
        ids.remember(&new.request_id, fingerprint(new), a, until, limit);
    }

    fn answer(contact: ContactId) -> EnqueueAnswer {
        EnqueueAnswer {
            contact,
            position: 1,
            estimated_wait_ms: None,
        }
    }

    #[test]
    fn the_same_payload_repeats_and_another_is_reused() {
        let mut ids = RequestIds::default();
        remember(&mut ids, &request("r1", 1), answer(7), 1_000, 10);
        assert_eq!(seen(&ids, &request("r1", 1), 999), Seen::Repeat(answer(7)));
        assert_eq!(
            seen(&ids, &request("r1", 2), 999),
            Seen::Reused { contact: 7 }
        );
        assert_eq!(seen(&ids, &request("r2", 1), 999), Seen::New);
        // The window ends at `until`, whether or not time has moved the id out yet.
        assert_eq!(seen(&ids, &request("r1", 1), 1_000), Seen::New);
        ids.forget_until(1_000);
        assert!(ids.remembered() == 0 && ids.consistent());
    }

    #[test]
    fn beyond_the_limit_the_oldest_is_forgotten_first() {
        let mut ids = RequestIds::default();
        for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
            remember(&mut ids, &request(id, 0), answer(i as u64 + 1), 1_000, 2);
        }
        assert_eq!(ids.remembered(), 2);
        assert_eq!(seen(&ids, &request("a", 0), 0), Seen::New);
        assert_eq!(seen(&ids, &request("c", 0), 0), Seen::Repeat(answer(3)));
        assert!(ids.consistent());
    }

    #[test]
    fn an_id_remembered_again_after_its_window_is_held_once() {
        let mut ids = RequestIds::default();
        remember(&mut ids, &request("a", 0), answer(1), 100, 10);
        remember(&mut ids, &request("a", 0), answer(2), 300, 10);
        assert!(ids.consistent() && ids.remembered() == 1);
        ids.forget_until(200);
        assert_eq!(seen(&ids, &request("a", 0), 200), Seen::Repeat(answer(2)));
    }

    #[test]
    fn every_field_but_the_request_id_is_in_the_fingerprint() {
        let base = request("x", 0);
        let mut changed = Vec::new();
        let mut c = base.clone();
        c.queue = "other".into();
        changed.push(c);
        let mut c = base.clone();
        c.channel = Channel::Chat;
        changed.push(c);
        let mut c = base.clone();
        c.customer_id = "cust".into();
        changed.push(c);
        let mut c = base.clone();
        c.customer_value = 1.5;
        changed.push(c);
        let mut c = base.clone();
        c.required_skills = vec![crate::core::types::SkillLevel::new("billing", 3).unwrap()];
        changed.push(c);
        let mut c = base.clone();
        c.alternatives = vec![vec![
            crate::core::types::SkillLevel::new("billing", 3).unwrap(),
        ]];
        changed.push(c);
        let mut c = base.clone();
        c.context.insert("k".into(), "v".into());
        changed.push(c);
        let mut c = base.clone();
        c.conversation_id = "conv".into();
        changed.push(c);
        for c in &changed {
            assert_ne!(fingerprint(c), fingerprint(&base), "{c:?}");
        }
        let mut same = base.clone();
        same.request_id = "y".into();
        assert_eq!(fingerprint(&same), fingerprint(&base));
        // Fixed across runs and builds (no random seed, fields in a set order): a fingerprint
        // taken before a restart or an upgrade compares with one taken after it.
        assert_eq!(fingerprint(&base), 0x92ad_fc36_c47c_6a29);
    }
}
