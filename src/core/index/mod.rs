//! Indexes that keep a decision from scanning the floor.
//!
//! - [`SkillInterner`]: skill names ↔ dense ids.
//! - [`AgentIndex`] (in [`agents`]): the *available* agents (ready, not in wrap-up, some
//!   capacity left) in the orders decisions walk, by room class, overall and per
//!   `(skill, level)`. A contact requiring `skill >= L` walks only the sets for levels `L..=10`
//!   of its rarest required skill with room for its channel, merged in order, so every agent it
//!   sees already meets that requirement and has room.
//! - [`WaitingIndex`]: waiting contacts grouped by `(queue, channel, requirements)`, each group
//!   ordered by `(rank desc, enqueue sequence)`, the rank being the queue's contact-strategy key. An agent who frees up looks at each group's
//!   head once, so its cost grows with the number of distinct groups, not with the backlog.
//!
//! Invariant (checked by `Engine::check_invariants`): a contact is in exactly one group exactly
//! while it waits.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::types::{Channel, ContactId, HashMap, SkillName};

pub mod agents;

pub use agents::{AgentIndex, AgentKey, Order, Placement};

/// Dense id of an interned skill.
pub type SkillId = u32;

/// Skill names ↔ dense ids. Ids are handed out in first-seen order and never reused.
#[derive(serde::Serialize, serde::Deserialize, Debug, Default)]
pub struct SkillInterner {
    ids: HashMap<SkillName, SkillId>,
    names: Vec<SkillName>,
}

impl SkillInterner {
    pub fn intern(&mut self, name: &SkillName) -> SkillId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as SkillId;
        self.names.push(name.clone());
        self.ids.insert(name.clone(), id);
        id
    }

    pub fn contains(&self, name: &SkillName) -> bool {
        self.ids.contains_key(name)
    }

    pub fn id_of(&self, name: &SkillName) -> Option<SkillId> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: SkillId) -> &SkillName {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Ordering of contacts inside a group: higher rank (the strategy's key) first, then earlier
/// enqueue.
pub type WaitKey = (Reverse<u64>, ContactId);

/// Maps a rank to bits that order as the numbers do (a total order: -0.0 < 0.0).
pub fn rank_bits(rank: f64) -> u64 {
    let bits = rank.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Waiting contacts sharing a queue, a channel and requirements.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct Group {
    pub queue: usize,
    pub channel: Channel,
    pub requirements: Vec<(SkillId, u8)>,
    /// Other requirement sets its contacts may be served under instead.
    pub alternatives: Vec<Vec<(SkillId, u8)>>,
    pub members: BTreeSet<WaitKey>,
}

impl Group {
    /// Whether `agent` meets one of the group's requirement sets.
    pub fn served_by(&self, agent: &crate::core::agent::Agent) -> bool {
        agent.meets(&self.requirements) || self.alternatives.iter().any(|a| agent.meets(a))
    }
}

/// A requirement set: (skill, minimum level), sorted by skill.
pub type Requirements = Vec<(SkillId, u8)>;

/// A contact's requirement sets: its requirements, then its alternatives.
pub type RequirementSets<'a> = (&'a [(SkillId, u8)], &'a [Requirements]);

type GroupSig = (usize, Channel, Requirements, Vec<Requirements>);

/// Waiting contacts, grouped so an agent looks at each group's head once.
#[derive(serde::Serialize, serde::Deserialize, Debug, Default)]
pub struct WaitingIndex {
    groups: Vec<Option<Group>>,
    free: Vec<usize>,
    by_sig: HashMap<GroupSig, usize>,
}

impl WaitingIndex {
    /// Adds a waiting contact; returns its group's slot.
    pub fn insert(
        &mut self,
        queue: usize,
        channel: Channel,
        (requirements, alternatives): RequirementSets<'_>,
        key: WaitKey,
    ) -> usize {
        let sig: GroupSig = (queue, channel, requirements.to_vec(), alternatives.to_vec());
        let slot = match self.by_sig.get(&sig) {
            Some(slot) => *slot,
            None => {
                let group = Group {
                    queue,
                    channel,
                    requirements: requirements.to_vec(),
                    alternatives: alternatives.to_vec(),
                    members: BTreeSet::new(),
                };
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.groups[slot] = Some(group);
                        slot
                    }
                    None => {
                        self.groups.push(Some(group));
                        self.groups.len() - 1
                    }
                };
                self.by_sig.insert(sig, slot);
                slot
            }
        };
        if let Some(group) = self.groups[slot].as_mut() {
            group.members.insert(key);
        }
        slot
    }

    /// Removes a waiting contact from its group; drops the group when it empties.
    pub fn remove(&mut self, slot: usize, key: WaitKey) {
        let Some(group) = self.groups.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        group.members.remove(&key);
        if group.members.is_empty() {
            let group = self.groups[slot].take().expect("group present");
            self.by_sig.remove(&(
                group.queue,
                group.channel,
                group.requirements,
                group.alternatives,
            ));
            self.free.push(slot);
        }
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().flatten()
    }

    pub fn group(&self, slot: usize) -> Option<&Group> {
        self.groups.get(slot).and_then(Option::as_ref)
    }

    pub fn group_count(&self) -> usize {
        self.by_sig.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_bits_order_like_the_numbers() {
        let ranks = [f64::NEG_INFINITY, -1e9, -1.5, -0.0, 0.0, 1e-9, 2.0, 1e300];
        for pair in ranks.windows(2) {
            assert!(rank_bits(pair[0]) < rank_bits(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn groups_are_dropped_when_empty_and_slots_reused() {
        let mut w = WaitingIndex::default();
        let a = w.insert(0, Channel::Voice, (&[(0, 5)], &[]), (Reverse(0), 1));
        let b = w.insert(0, Channel::Voice, (&[(0, 5)], &[]), (Reverse(5), 2));
        assert_eq!(a, b);
        let head = w.group(a).unwrap().members.first().copied();
        assert_eq!(head, Some((Reverse(5), 2)));
        w.remove(a, (Reverse(0), 1));
        w.remove(a, (Reverse(5), 2));
        assert_eq!(w.group_count(), 0);
        let c = w.insert(1, Channel::Chat, (&[], &[]), (Reverse(0), 3));
        assert_eq!(c, a);
    }
}
