//! Indexes that keep a decision from scanning the floor.
//!
//! - [`SkillInterner`]: skill names ↔ dense ids.
//! - [`AgentIndex`]: the *available* agents (ready, not in wrap-up, some capacity left), ordered
//!   by `(idle_since, agent id)` — longest idle first, ties by id — once overall and once per
//!   `(skill, level)`. A contact requiring `skill >= L` walks only the sets for levels `L..=10`
//!   of its rarest required skill, merged in order, so every agent it sees already meets that
//!   requirement at its level.
//! - [`WaitingIndex`]: waiting contacts grouped by `(queue, channel, requirements)`, each group
//!   ordered by `(rank desc, enqueue sequence)`, the rank being the queue's contact-strategy key. An agent who frees up looks at each group's
//!   head once, so its cost grows with the number of distinct groups, not with the backlog.
//!
//! Invariant (checked by `Engine::check_invariants`): an agent is in the index exactly when it is
//! available, under its current `idle_since` and skills; a contact is in exactly one group exactly
//! while it waits.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, btree_set};
use std::iter::Peekable;
use std::ops::ControlFlow;
use std::sync::Arc;

use super::types::{Channel, ContactId, Level, Millis, SkillName};

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

type AgentKey = u32;
/// `(idle_since, agent id, agent key)`: ordered longest idle first, ties by id; the key finds the
/// agent without a lookup.
type Entry = (Millis, Arc<str>, AgentKey);
type AgentSet = BTreeSet<Entry>;
type AgentSetIter<'a> = Peekable<btree_set::Iter<'a, Entry>>;
const LEVELS: usize = Level::MAX as usize;

/// Available agents, ordered longest idle first, overall and per (skill, level).
#[derive(serde::Serialize, serde::Deserialize, Debug, Default)]
pub struct AgentIndex {
    all: AgentSet,
    by_skill: Vec<[AgentSet; LEVELS]>,
}

impl AgentIndex {
    pub fn insert(
        &mut self,
        key: AgentKey,
        id: &Arc<str>,
        idle_since: Millis,
        skills: &[(SkillId, u8)],
    ) {
        self.all.insert((idle_since, id.clone(), key));
        for &(skill, level) in skills {
            let skill = skill as usize;
            if self.by_skill.len() <= skill {
                self.by_skill.resize_with(skill + 1, Default::default);
            }
            self.by_skill[skill][level as usize - 1].insert((idle_since, id.clone(), key));
        }
    }

    pub fn remove(
        &mut self,
        key: AgentKey,
        id: &Arc<str>,
        idle_since: Millis,
        skills: &[(SkillId, u8)],
    ) {
        let entry = (idle_since, id.clone(), key);
        self.all.remove(&entry);
        for &(skill, level) in skills {
            if let Some(levels) = self.by_skill.get_mut(skill as usize) {
                levels[level as usize - 1].remove(&entry);
            }
        }
    }

    pub fn contains(&self, key: AgentKey, id: &Arc<str>, idle_since: Millis) -> bool {
        self.all.contains(&(idle_since, id.clone(), key))
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Available agents with `skill >= level`.
    fn count_at_least(&self, skill: SkillId, level: u8) -> usize {
        self.by_skill.get(skill as usize).map_or(0, |levels| {
            levels[level as usize - 1..].iter().map(BTreeSet::len).sum()
        })
    }

    /// Calls `visit` with available agents holding `rarest` (see [`AgentIndex::rarest`]), highest level of
    /// that skill first and longest idle within a level (the caller checks the rest), until
    /// `visit` breaks. With no requirements, the longest-idle order.
    pub fn visit_by_level(
        &self,
        rarest: Option<(SkillId, u8)>,
        mut visit: impl FnMut(AgentKey) -> ControlFlow<()>,
    ) {
        let Some((skill, level)) = rarest else {
            return self.visit_candidates(None, visit);
        };
        let Some(levels) = self.by_skill.get(skill as usize) else {
            return;
        };
        for set in levels[level as usize - 1..].iter().rev() {
            for (_, _, key) in set {
                if visit(*key).is_break() {
                    return;
                }
            }
        }
    }

    /// The requirement fewest available agents meet (ties to the lower skill id): the one whose
    /// agents a decision walks.
    pub fn rarest(&self, requirements: &[(SkillId, u8)]) -> Option<(SkillId, u8)> {
        requirements
            .iter()
            .min_by_key(|(s, l)| (self.count_at_least(*s, *l), *s))
            .copied()
    }

    /// Calls `visit` with available agents in longest-idle order (ties by id), each of whom meets
    /// `rarest` (the caller checks the other requirements; `None`: every available agent), until
    /// `visit` breaks.
    pub fn visit_candidates(
        &self,
        rarest: Option<(SkillId, u8)>,
        mut visit: impl FnMut(AgentKey) -> ControlFlow<()>,
    ) {
        let Some((skill, level)) = rarest else {
            for (_, _, key) in &self.all {
                if visit(*key).is_break() {
                    return;
                }
            }
            return;
        };
        let Some(levels) = self.by_skill.get(skill as usize) else {
            return;
        };
        // k-way merge of the per-level sets (at most 10), smallest entry first.
        let mut heads: [Option<AgentSetIter<'_>>; LEVELS] = Default::default();
        for (slot, set) in heads.iter_mut().zip(&levels[level as usize - 1..]) {
            if !set.is_empty() {
                *slot = Some(set.iter().peekable());
            }
        }
        loop {
            let mut best: Option<(usize, &Entry)> = None;
            for (i, head) in heads.iter_mut().enumerate() {
                if let Some(&entry) = head.as_mut().and_then(Peekable::peek)
                    && best.is_none_or(|(_, b)| entry < b)
                {
                    best = Some((i, entry));
                }
            }
            let Some((i, &(_, _, key))) = best else {
                return;
            };
            if let Some(head) = heads[i].as_mut() {
                head.next();
            }
            if visit(key).is_break() {
                return;
            }
        }
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
    pub members: BTreeSet<WaitKey>,
}

type GroupSig = (usize, Channel, Vec<(SkillId, u8)>);

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
        requirements: &[(SkillId, u8)],
        key: WaitKey,
    ) -> usize {
        let sig: GroupSig = (queue, channel, requirements.to_vec());
        let slot = match self.by_sig.get(&sig) {
            Some(slot) => *slot,
            None => {
                let group = Group {
                    queue,
                    channel,
                    requirements: requirements.to_vec(),
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
            self.by_sig
                .remove(&(group.queue, group.channel, group.requirements));
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

    fn collect(index: &AgentIndex, reqs: &[(SkillId, u8)]) -> Vec<u32> {
        let mut out = Vec::new();
        index.visit_candidates(index.rarest(reqs), |k| {
            out.push(k);
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn candidates_meet_the_level_and_come_longest_idle_first() {
        let mut index = AgentIndex::default();
        let id = |k: u32| -> Arc<str> { format!("agent-{k}").into() };
        index.insert(1, &id(1), 300, &[(0, 9)]);
        index.insert(2, &id(2), 100, &[(0, 3)]);
        index.insert(3, &id(3), 200, &[(0, 7), (1, 5)]);
        index.insert(4, &id(4), 50, &[(0, 10)]);
        // Same idle time as agent 4, but a later id.
        index.insert(5, &"zed".into(), 50, &[(0, 10)]);
        assert_eq!(collect(&index, &[(0, 7)]), vec![4, 5, 3, 1]);
        assert_eq!(collect(&index, &[(0, 1)]), vec![4, 5, 2, 3, 1]);
        assert_eq!(collect(&index, &[]), vec![4, 5, 2, 3, 1]);
        // Skill 1 is rarer, so only agent 3 is walked.
        assert_eq!(collect(&index, &[(0, 1), (1, 1)]), vec![3]);
        index.remove(4, &id(4), 50, &[(0, 10)]);
        assert_eq!(collect(&index, &[(0, 7)]), vec![5, 3, 1]);
        assert_eq!(collect(&index, &[(7, 1)]), Vec::<u32>::new());
    }

    #[test]
    fn by_level_walks_the_highest_level_first() {
        let mut index = AgentIndex::default();
        let id = |k: u32| -> Arc<str> { format!("agent-{k}").into() };
        index.insert(1, &id(1), 300, &[(0, 9)]);
        index.insert(2, &id(2), 100, &[(0, 3)]);
        index.insert(3, &id(3), 200, &[(0, 9)]);
        let mut out = Vec::new();
        index.visit_by_level(index.rarest(&[(0, 2)]), |k| {
            out.push(k);
            ControlFlow::Continue(())
        });
        assert_eq!(out, vec![3, 1, 2]);
    }

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
        let a = w.insert(0, Channel::Voice, &[(0, 5)], (Reverse(0), 1));
        let b = w.insert(0, Channel::Voice, &[(0, 5)], (Reverse(5), 2));
        assert_eq!(a, b);
        let head = w.group(a).unwrap().members.first().copied();
        assert_eq!(head, Some((Reverse(5), 2)));
        w.remove(a, (Reverse(0), 1));
        w.remove(a, (Reverse(5), 2));
        assert_eq!(w.group_count(), 0);
        let c = w.insert(1, Channel::Chat, &[], (Reverse(0), 3));
        assert_eq!(c, a);
    }
}
