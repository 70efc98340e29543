//! The available agents, kept in the orders that decisions walk.
//!
//! An agent is *available* when it is ready, not in wrap-up and has some capacity left. The index
//! holds each available agent once per **order** in use and, inside an order, once overall and
//! once per `(skill, level)` it holds, split by **room class**: the set of channels the agent has
//! room for right now (bit `Channel::index()` set when one more contact of that channel, at the
//! channel's configured cost, fits its capacity and its channel limit). A voice call therefore
//! walks only agents with room for a voice call: on a blended floor where every agent holds a chat
//! it walks nothing, instead of every agent.
//!
//! An order sorts by a **primary** key, then longest idle (`idle_since`), then agent id — so
//! equal primaries come in the tie-break order decisions use:
//!
//! | order | primary (ascending) | the term it bounds |
//! | --- | --- | --- |
//! | `Idle` | 0 | `idle` = now − idle_since (exact) |
//! | `SinceOffer` | last offered at | `since-offer` (exact) |
//! | `FreeCapacity` | load ÷ capacity in 2⁻³² units | `free-capacity` (≥ the exact value) |
//! | `FewestHandled` | contacts handled in the current period | `fewest-handled` (exact) |
//! | `Performance` | the agent's best estimate, descending | `performance` (≥ its value for any skills) |
//! | `Specialist` | number of skills | `specialist` (exact) |
//!
//! `Idle` is always kept; another order is built the first time a decision needs it and kept
//! from then on. Which orders exist changes only the cost of a decision, never its result.
//!
//! Invariant (checked by `Engine::check_invariants`): an agent is in the index exactly when it is
//! available, under the [`Placement`] its current state gives, in every order built.
//!
//! Cost: an agent's change moves its entries in each built order: `(1 + skills) × orders` B-tree
//! updates. A walk merges the sets of the levels ≥ the requirement's and of the room classes
//! with room for the channel (a handful on real floors) and yields each entry in O(sets).
//! `fewest-handled` keys restart at every period: the first change or decision in a new period
//! re-keys that order, O(agents log agents), once per period.
//!
//! Limits: room classes assume the contact costs what its channel costs now; a contact enqueued
//! under other costs (before a `Configure`) walks every class and checks room agent by agent.

use std::collections::{BTreeSet, btree_set};
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::Arc;

use super::{SkillId, rank_bits};
use crate::core::agent::Agent;
use crate::core::types::{Channel, ChannelCosts, Level, Millis};

pub type AgentKey = u32;

/// What an order sorts available agents by, ahead of longest idle and agent id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Idle = 0,
    SinceOffer = 1,
    FreeCapacity = 2,
    FewestHandled = 3,
    Performance = 4,
    Specialist = 5,
}

impl Order {
    pub const COUNT: usize = 6;
    pub const ALL: [Order; Order::COUNT] = [
        Order::Idle,
        Order::SinceOffer,
        Order::FreeCapacity,
        Order::FewestHandled,
        Order::Performance,
        Order::Specialist,
    ];
}

/// The scale of a `FreeCapacity` primary: load ÷ capacity × 2³².
pub const LOAD_SCALE: f64 = 4_294_967_296.0;

/// `(primary, idle_since, agent id, agent key)`.
pub type Entry = (u64, Millis, Arc<str>, AgentKey);
type AgentSet = BTreeSet<Entry>;
const LEVELS: usize = Level::MAX as usize;

/// The channels an agent has room for, one bit per `Channel::index()`.
pub type Room = u8;

/// What an available agent's entries are built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub room: Room,
    pub idle_since: Millis,
    pub primaries: [u64; Order::COUNT],
}

impl Placement {
    /// Where `agent` belongs, with room judged at `costs` and handled counts in `period`.
    pub fn of(agent: &Agent, costs: &ChannelCosts, period: u64) -> Placement {
        let mut room = 0;
        for channel in Channel::ALL {
            if agent.has_room(channel, costs.cost(channel)) {
                room |= 1 << channel.index();
            }
        }
        let mut primaries = [0; Order::COUNT];
        primaries[Order::SinceOffer as usize] = agent.last_offered_at;
        primaries[Order::FreeCapacity as usize] =
            ((agent.load as u64) << 32) / agent.capacity.max(1) as u64;
        primaries[Order::FewestHandled as usize] = agent.handled_in(period) as u64;
        primaries[Order::Performance as usize] = !rank_bits(agent.performance.best());
        primaries[Order::Specialist as usize] = agent.skills.len() as u64;
        Placement {
            room,
            idle_since: agent.idle_since,
            primaries,
        }
    }
}

/// The performance a `Performance` primary stands for.
pub fn performance_of(primary: u64) -> f64 {
    let bits = !primary;
    f64::from_bits(if bits >> 63 == 1 {
        bits & !(1 << 63)
    } else {
        !bits
    })
}

/// One set per room class present (a handful on real floors), in first-seen order.
#[derive(Debug, Default)]
struct RoomSets(Vec<(Room, AgentSet)>);

impl RoomSets {
    fn insert(&mut self, room: Room, entry: Entry) {
        match self.0.iter_mut().find(|(r, _)| *r == room) {
            Some((_, set)) => {
                set.insert(entry);
            }
            None => self.0.push((room, BTreeSet::from([entry]))),
        }
    }

    fn remove(&mut self, room: Room, entry: &Entry) {
        if let Some((_, set)) = self.0.iter_mut().find(|(r, _)| *r == room) {
            set.remove(entry);
        }
    }

    /// The non-empty sets of agents with room for `channel` (`None`: every set).
    fn with_room(&self, channel: Option<Channel>) -> impl Iterator<Item = &AgentSet> {
        self.0
            .iter()
            .filter(move |(room, set)| {
                !set.is_empty() && channel.is_none_or(|c| room & (1 << c.index()) != 0)
            })
            .map(|(_, set)| set)
    }

    fn len(&self, channel: Option<Channel>) -> usize {
        self.with_room(channel).map(BTreeSet::len).sum()
    }
}

/// One order's sets: overall and per (skill, level).
#[derive(Debug, Default)]
struct OrderSets {
    all: RoomSets,
    by_skill: Vec<[RoomSets; LEVELS]>,
}

impl OrderSets {
    fn insert(&mut self, entry: Entry, room: Room, skills: &[(SkillId, u8)]) {
        for &(skill, level) in skills {
            let skill = skill as usize;
            if self.by_skill.len() <= skill {
                self.by_skill.resize_with(skill + 1, Default::default);
            }
            self.by_skill[skill][level as usize - 1].insert(room, entry.clone());
        }
        self.all.insert(room, entry);
    }

    fn remove(&mut self, entry: &Entry, room: Room, skills: &[(SkillId, u8)]) {
        for &(skill, level) in skills {
            if let Some(levels) = self.by_skill.get_mut(skill as usize) {
                levels[level as usize - 1].remove(room, entry);
            }
        }
        self.all.remove(room, entry);
    }

    /// The room sets of agents with `skill` at exactly `level`.
    fn level(&self, skill: SkillId, level: u8) -> Option<&RoomSets> {
        self.by_skill
            .get(skill as usize)
            .map(|levels| &levels[level as usize - 1])
    }
}

/// Available agents in every order built, by room class, overall and per (skill, level).
#[derive(Debug, Default)]
pub struct AgentIndex {
    orders: [Option<OrderSets>; Order::COUNT],
    /// By agent key: where each indexed agent sits.
    placed: Vec<Option<Placement>>,
    len: usize,
    /// The period `FewestHandled` primaries count contacts in.
    period: u64,
    /// The highest [`crate::core::strategy::Performance::best`] of any agent inserted since the
    /// index was built: an upper bound on the `performance` term of every agent in it (a
    /// tighter one than 1.0 for the search; it never falls while the index lives).
    performance_ceiling: f64,
}

impl AgentIndex {
    pub fn new() -> AgentIndex {
        let mut index = AgentIndex::default();
        index.orders[Order::Idle as usize] = Some(OrderSets::default());
        index
    }

    fn entry(order: Order, key: AgentKey, id: &Arc<str>, placement: &Placement) -> Entry {
        let primary = placement.primaries[order as usize];
        (primary, placement.idle_since, id.clone(), key)
    }

    /// Adds an available agent under `placement` (it must not be in the index).
    pub fn insert(&mut self, key: AgentKey, agent: &Agent, placement: Placement) {
        self.performance_ceiling = self.performance_ceiling.max(agent.performance.best());
        for order in Order::ALL {
            if let Some(sets) = self.orders[order as usize].as_mut() {
                let entry = Self::entry(order, key, &agent.spec.id, &placement);
                sets.insert(entry, placement.room, &agent.skills);
            }
        }
        let slot = key as usize;
        if self.placed.len() <= slot {
            self.placed.resize(slot + 1, None);
        }
        debug_assert!(self.placed[slot].is_none(), "agent indexed twice");
        self.placed[slot] = Some(placement);
        self.len += 1;
    }

    /// Takes the agent out (under the skills it was inserted with); returns where it was.
    pub fn remove(&mut self, key: AgentKey, agent: &Agent) -> Option<Placement> {
        let placement = self.placed.get_mut(key as usize)?.take()?;
        for order in Order::ALL {
            if let Some(sets) = self.orders[order as usize].as_mut() {
                let entry = Self::entry(order, key, &agent.spec.id, &placement);
                sets.remove(&entry, placement.room, &agent.skills);
            }
        }
        self.len -= 1;
        Some(placement)
    }

    /// Whether the agent's entries are where its placement says, in every built order (for
    /// the engine's invariant check).
    pub fn holds(&self, key: AgentKey, agent: &Agent) -> bool {
        let Some(placement) = self.placement(key) else {
            return false;
        };
        Order::ALL.into_iter().all(|order| {
            let Some(sets) = self.orders[order as usize].as_ref() else {
                return true;
            };
            let entry = Self::entry(order, key, &agent.spec.id, placement);
            let found = |rooms: &RoomSets| {
                rooms
                    .0
                    .iter()
                    .any(|(room, set)| *room == placement.room && set.contains(&entry))
            };
            found(&sets.all)
                && agent
                    .skills
                    .iter()
                    .all(|&(s, l)| sets.level(s, l).is_some_and(found))
                && sets.all.len(None) == self.len
        })
    }

    pub fn placement(&self, key: AgentKey) -> Option<&Placement> {
        self.placed.get(key as usize).and_then(Option::as_ref)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn period(&self) -> u64 {
        self.period
    }

    /// No agent in the index has a `performance` term above this.
    pub fn performance_ceiling(&self) -> f64 {
        self.performance_ceiling
    }

    pub fn has(&self, order: Order) -> bool {
        self.orders[order as usize].is_some()
    }

    /// Builds `order` from the agents indexed now (nothing if it exists).
    pub fn build(&mut self, order: Order, agents: &[Option<Agent>]) {
        if self.has(order) {
            return;
        }
        let mut sets = OrderSets::default();
        for (key, placement) in self.placed.iter().enumerate() {
            let (Some(placement), Some(agent)) = (placement, agents[key].as_ref()) else {
                continue;
            };
            let entry = Self::entry(order, key as AgentKey, &agent.spec.id, placement);
            sets.insert(entry, placement.room, &agent.skills);
        }
        self.orders[order as usize] = Some(sets);
    }

    /// Moves `FewestHandled` keys to `period` (every agent's count restarts at 0): re-keys that
    /// order if it is built.
    pub fn set_period(&mut self, period: u64, agents: &[Option<Agent>]) {
        if period == self.period {
            return;
        }
        self.period = period;
        let rebuild = self.orders[Order::FewestHandled as usize].take().is_some();
        for (key, placement) in self.placed.iter_mut().enumerate() {
            if let (Some(placement), Some(agent)) = (placement, agents[key].as_ref()) {
                placement.primaries[Order::FewestHandled as usize] =
                    agent.handled_in(period) as u64;
            }
        }
        if rebuild {
            self.build(Order::FewestHandled, agents);
        }
    }

    fn sets(&self, order: Order) -> &OrderSets {
        self.orders[order as usize]
            .as_ref()
            .expect("the order is built before it is walked")
    }

    /// Available agents with `skill >= level` and room for `channel` (`None`: any room).
    pub fn count_at_least(&self, skill: SkillId, level: u8, channel: Option<Channel>) -> usize {
        let idle = self.sets(Order::Idle);
        (level..=Level::MAX)
            .filter_map(|l| idle.level(skill, l))
            .map(|sets| sets.len(channel))
            .sum()
    }

    /// Available agents meeting `requirement` (`None`: all) without room for `channel`.
    pub fn count_without_room(
        &self,
        requirement: Option<(SkillId, u8)>,
        channel: Channel,
    ) -> usize {
        match requirement {
            None => {
                let all = &self.sets(Order::Idle).all;
                all.len(None) - all.len(Some(channel))
            }
            Some((skill, level)) => {
                self.count_at_least(skill, level, None)
                    - self.count_at_least(skill, level, Some(channel))
            }
        }
    }

    /// The highest level of `skill` an available agent holds.
    pub fn max_level(&self, skill: SkillId) -> Option<u8> {
        let idle = self.sets(Order::Idle);
        (1..=Level::MAX)
            .rev()
            .find(|&l| idle.level(skill, l).is_some_and(|s| s.len(None) > 0))
    }

    /// The requirement fewest available agents with room for `channel` meet (ties to the lower
    /// skill id): the one whose agents a decision walks.
    pub fn rarest(
        &self,
        requirements: &[(SkillId, u8)],
        channel: Option<Channel>,
    ) -> Option<(SkillId, u8)> {
        requirements
            .iter()
            .min_by_key(|(s, l)| (self.count_at_least(*s, *l, channel), *s))
            .copied()
    }

    /// The first entry of `order` over every available agent: the longest idle, in `Idle`.
    pub fn first(&self, order: Order) -> Option<&Entry> {
        self.sets(order)
            .all
            .with_room(None)
            .filter_map(|set| set.first())
            .min()
    }

    /// Agents in `order` meeting `requirement` (`None`: all) with room for `channel`
    /// (`None`: any room), in the order's order.
    pub fn walk(
        &self,
        order: Order,
        requirement: Option<(SkillId, u8)>,
        channel: Option<Channel>,
    ) -> Merge<'_> {
        let sets = self.sets(order);
        let mut heads = Vec::new();
        match requirement {
            None => heads.extend(sets.all.with_room(channel).map(Head::new)),
            Some((skill, level)) => {
                for l in level..=Level::MAX {
                    if let Some(rooms) = sets.level(skill, l) {
                        heads.extend(rooms.with_room(channel).map(Head::new));
                    }
                }
            }
        }
        Merge { heads }
    }

    /// Agents in `order` holding `skill` at exactly `level`, with room for `channel`.
    pub fn walk_level(
        &self,
        order: Order,
        skill: SkillId,
        level: u8,
        channel: Option<Channel>,
    ) -> Merge<'_> {
        let heads = self
            .sets(order)
            .level(skill, level)
            .map(|rooms| rooms.with_room(channel).map(Head::new).collect())
            .unwrap_or_default();
        Merge { heads }
    }
}

/// One set being walked: the set (to seek in) and where the walk is.
struct Head<'a> {
    set: &'a AgentSet,
    at: Peekable<Cursor<'a>>,
}

/// Where a walk stands in one set: from its start (an iterator that descends to its first
/// entry only when asked: half the B-tree steps of a range, no key comparisons, which counts on
/// floors whose index has left the caches), or from a key sought.
enum Cursor<'a> {
    Whole(btree_set::Iter<'a, Entry>),
    From(btree_set::Range<'a, Entry>),
}

impl<'a> Iterator for Cursor<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        match self {
            Cursor::Whole(iter) => iter.next(),
            Cursor::From(range) => range.next(),
        }
    }
}

impl<'a> Head<'a> {
    fn new(set: &'a AgentSet) -> Head<'a> {
        Head {
            set,
            at: Cursor::Whole(set.iter()).peekable(),
        }
    }
}

/// A merge of sorted sets, smallest entry first.
pub struct Merge<'a> {
    heads: Vec<Head<'a>>,
}

impl<'a> Merge<'a> {
    pub fn peek(&mut self) -> Option<&'a Entry> {
        self.heads
            .iter_mut()
            .filter_map(|h| h.at.peek().copied())
            .min()
    }

    /// Skips the entries next in the walk whose primary is `primary` (a B-tree seek per set
    /// whose next entry has it), so a walk standing at `primary` goes on at the next one.
    pub fn skip_primary(&mut self, primary: u64) {
        let Some(next) = primary.checked_add(1) else {
            self.heads
                .retain_mut(|h| h.at.peek().is_none_or(|e| e.0 != primary));
            return;
        };
        let from: Entry = (next, 0, Arc::from(""), 0);
        for head in &mut self.heads {
            if head.at.peek().is_some_and(|e| e.0 == primary) {
                let range = head.set.range((Bound::Included(&from), Bound::Unbounded));
                head.at = Cursor::From(range).peekable();
            }
        }
    }
}

impl<'a> Iterator for Merge<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        let mut best: Option<(usize, &'a Entry)> = None;
        for (i, head) in self.heads.iter_mut().enumerate() {
            if let Some(&entry) = head.at.peek()
                && best.is_none_or(|(_, b)| entry < b)
            {
                best = Some((i, entry));
            }
        }
        let (i, entry) = best?;
        self.heads[i].at.next();
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::agent::AgentSpec;

    fn agent(id: &str, idle_since: Millis, skills: &[(SkillId, u8)], load: u32) -> Agent {
        let mut a = Agent::new(
            AgentSpec::new(id),
            skills.to_vec(),
            100,
            [10; Channel::COUNT],
            0,
        );
        a.idle_since = idle_since;
        a.load = load;
        a
    }

    fn index_of(agents: &[Option<Agent>]) -> AgentIndex {
        let mut index = AgentIndex::new();
        let costs = ChannelCosts::default();
        for (key, a) in agents.iter().enumerate() {
            if let Some(a) = a {
                index.insert(key as AgentKey, a, Placement::of(a, &costs, 0));
            }
        }
        index
    }

    fn keys(merge: Merge<'_>) -> Vec<AgentKey> {
        merge.map(|e| e.3).collect()
    }

    #[test]
    fn walks_meet_the_level_and_come_longest_idle_first() {
        let agents = vec![
            Some(agent("a1", 300, &[(0, 9)], 0)),
            Some(agent("a2", 100, &[(0, 3)], 0)),
            Some(agent("a3", 200, &[(0, 7), (1, 5)], 0)),
            Some(agent("a4", 50, &[(0, 10)], 0)),
            Some(agent("zed", 50, &[(0, 10)], 0)),
        ];
        let index = index_of(&agents);
        assert_eq!(
            keys(index.walk(Order::Idle, Some((0, 7)), None)),
            [3, 4, 2, 0]
        );
        assert_eq!(keys(index.walk(Order::Idle, None, None)), [3, 4, 1, 2, 0]);
        assert_eq!(index.rarest(&[(0, 1), (1, 1)], None), Some((1, 1)));
        assert_eq!(keys(index.walk_level(Order::Idle, 0, 10, None)), [3, 4]);
        assert_eq!(index.max_level(1), Some(5));
        assert_eq!(index.max_level(7), None);
    }

    #[test]
    fn a_voice_call_walks_only_agents_with_room_for_one() {
        let costs = ChannelCosts::default();
        let chat = costs.cost(Channel::Chat);
        let agents = vec![
            Some(agent("busy", 0, &[(0, 5)], chat)),
            Some(agent("free", 10, &[(0, 5)], 0)),
        ];
        let index = index_of(&agents);
        let voice = Some(Channel::Voice);
        assert_eq!(keys(index.walk(Order::Idle, Some((0, 1)), voice)), [1]);
        assert_eq!(
            keys(index.walk(Order::Idle, Some((0, 1)), Some(Channel::Chat))),
            [0, 1]
        );
        assert_eq!(index.count_without_room(Some((0, 1)), Channel::Voice), 1);
        assert_eq!(index.count_without_room(None, Channel::Chat), 0);
    }

    #[test]
    fn a_built_order_sorts_by_its_primary_then_longest_idle() {
        let mut agents = vec![
            Some(agent("a", 0, &[], 50)),
            Some(agent("b", 10, &[], 0)),
            Some(agent("c", 5, &[], 0)),
        ];
        let mut index = index_of(&agents);
        index.build(Order::FreeCapacity, &agents);
        assert_eq!(keys(index.walk(Order::FreeCapacity, None, None)), [2, 1, 0]);
        // Moving an agent re-keys it in every built order.
        let a = agents[0].as_mut().unwrap();
        index.remove(0, a);
        a.load = 0;
        let placement = Placement::of(a, &ChannelCosts::default(), 0);
        index.insert(0, a, placement);
        assert_eq!(keys(index.walk(Order::FreeCapacity, None, None)), [0, 2, 1]);
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn skipping_a_primary_goes_on_at_the_next_one_in_every_set() {
        let costs = ChannelCosts::default();
        let chat = costs.cost(Channel::Chat);
        // Two room classes, so the merge has two sets to seek in.
        let agents = vec![
            Some(agent("a", 0, &[], 0)),
            Some(agent("b", 1, &[], chat)),
            Some(agent("c", 2, &[], 0)),
            Some(agent("d", 3, &[(0, 1)], chat)),
            Some(agent("e", 4, &[(0, 1)], 0)),
        ];
        let mut index = index_of(&agents);
        index.build(Order::Specialist, &agents);
        let mut walk = index.walk(Order::Specialist, None, None);
        assert_eq!(walk.next().map(|e| e.3), Some(0));
        walk.skip_primary(0);
        assert_eq!(keys(walk), [3, 4], "b and c share a's primary");
        let mut walk = index.walk(Order::Specialist, None, None);
        walk.skip_primary(1);
        assert_eq!(keys(walk), [0, 1, 2, 3, 4], "only what is next is skipped");
        let mut walk = index.walk(Order::Specialist, None, None);
        walk.skip_primary(0);
        walk.skip_primary(1);
        assert_eq!(keys(walk), Vec::<AgentKey>::new());
    }

    #[test]
    fn performance_primaries_decode_to_the_estimate() {
        for p in [0.0, 0.25, 0.5, 0.98, 1.0] {
            assert_eq!(performance_of(!rank_bits(p)), p);
        }
        assert!(
            !rank_bits(0.9) < !rank_bits(0.1),
            "higher performance first"
        );
    }
}
