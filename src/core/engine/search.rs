//! The agent-side search: the best eligible agent on the whole floor for one waiting contact,
//! found without walking the floor.
//!
//! **What it returns.** Among the available agents who meet every requirement, have room for the
//! contact's channel and have not declined it, let `best` be the highest score. The chosen agent
//! is the longest idle (then the lowest agent id) of those scoring at least `best − band`. This
//! is exactly what a scan of the whole floor would choose; `proptests` checks it against one on
//! random floors and strategies. With a queue `window` of N > 0 the search is the documented
//! approximation instead: the same rule over the first N eligible agents of the walk.
//!
//! With an occupancy cap, an agent over it (rolling occupancy, see
//! [`crate::core::stats::RollingOccupancy`]) is not eligible; when that leaves nobody but the cap
//! passed someone over, the search runs again with the cap counted and not applied, and the
//! decision says the cap was waived. The cap removes agents, never raises a score, so every bound
//! below still holds.
//!
//! **How.** Two walks of the agent index, interleaved:
//! - *A*, in the order of the strategy's leading term (see [`crate::core::strategy::Walk`]): each
//!   agent it reaches has an **upper bound** on its score — the leading term's value from the
//!   index key, every other weighed term at its best over the floor (`idle`: the longest idle
//!   agent's; `skill`: each required skill's highest level present; `performance`: the highest
//!   estimate of any agent the index has held since it was built; `free-capacity` at 1; a
//!   negative weight at the term's least) — computed with the same arithmetic as the score itself, so rounding can
//!   never put a score above its bound. Bounds never increase along the walk. Once the next bound
//!   is at most `best`, no unseen agent can beat it: `best` is final. A then goes on only while
//!   bounds reach `best − band`, and when it stops every agent in the band has been scored.
//! - *B*, longest idle first, starts once `best` is final: its first eligible agent scoring at
//!   least `best − band` is the answer, and so is A's longest-idle band member once B walks past
//!   it. Whichever walk finishes first answers, so a floor where everyone ties (new agents all at
//!   the neutral performance) costs one step of B, and a band of three experts among hundreds of
//!   novices costs four steps of A.
//!
//! The decision records the chosen agent and the best others scored; when A stopped with fewer
//! than `CANDIDATES_RECORDED` scored, it walks up to `RUNNER_UP_STEPS` more agents for them (and
//! for the exclusion counts, which count the agents A passed over).
//!
//! **Alternatives.** A contact with alternative requirement sets is searched set by set (each
//! walk bounded with that set's skills): first for each set's best score, then again, seeded
//! with the best of all, for each set's longest-idle agent within the band; the longest idle of
//! those wins. An agent's score is its best over the sets it meets, so this is the scan's
//! choice. Cost: two searches per set (none extra without alternatives).
//!
//! The preferred agents of a contact (affinity, or named at enqueue) are scored first, outside
//! the walks: the bound of every other agent leaves the `affinity` term at 0.
//!
//! **Cost.** Agents reached by A until the bound falls below the band, plus B's steps, each a
//! B-tree step and a score. Terms that the leading order cannot bound tightly (a `weighted` mix
//! whose other terms range widely, `skill` over several required skills) make the bound loose and
//! the walk longer; the result stays exact. Room classes keep agents without room for the
//! channel out of both walks. A cap makes both walks step past the agents over it (often the
//! top of the order, where a strategy sends work), and a waived cap costs a second search.
//!
//! **Ties.** Within one primary key of A's order (and one level, when walking by level) entries
//! come in idle order with equal bounds. When A scores a band member whose bound is at most `best`,
//! nothing left at that primary can raise `best` or be longer idle, so A seeks past the rest of it
//! (once it holds `CANDIDATES_RECORDED` for the record): a floor where hundreds tie at the top
//! level costs a handful of steps (`strategy/most-skilled/100000`: 428 → 30 µs).
//!
//! Known limit (measured: `strategy/weighted/100000` ≈ 0.3 ms, 1.3 ms before the performance
//! ceiling): a mix led by `idle` bounds its other terms by their best over the whole floor, so
//! when idle times are close A walks until the idle term alone has fallen by the others' whole
//! spread. A walk with a tight bound on two terms
//! at once (a level tier walked in idle order, say) would need another index; not done.

use super::*;
use crate::core::index::agents::{Entry, LOAD_SCALE, Merge, Order, performance_of};

/// At most this many more agents are walked, once the choice is made, to record runners-up.
const RUNNER_UP_STEPS: usize = 16;

/// An eligible agent the search scored.
#[derive(Clone, Copy)]
struct Scored<'a> {
    key: AgentKey,
    score: f64,
    idle_since: Millis,
    id: &'a Arc<str>,
    terms: AgentTerms,
}

impl Scored<'_> {
    /// Longest idle first, then the lower agent id.
    fn idle_key(&self) -> (Millis, &str) {
        (self.idle_since, self.id)
    }
}

/// What a search found: the chosen agent first, then the best of the others it scored (at most
/// `CANDIDATES_RECORDED` in all), how many agents walk A looked at (with the preferred agent),
/// and why A passed some over.
pub(super) struct Found {
    pub chosen: Vec<(AgentKey, f64, AgentTerms)>,
    pub considered: u32,
    pub excluded: Exclusions,
    /// The requirement set searched (index in [`Contact::sets`]).
    pub alternative: u32,
    /// The best score found (at least the seed it was given).
    pub best: f64,
}

/// Walk A: the index in the strategy's order, each entry with the upper bound of its score.
struct Walker<'a> {
    index: &'a AgentIndex,
    strategy: &'a Strategy,
    order: Order,
    channel: Option<Channel>,
    now: Millis,
    merge: Merge<'a>,
    /// The term whose value comes from the entry (weighed positively), if any.
    lead: Option<AgentTerm>,
    /// Every term at its best over the floor (the leading one replaced entry by entry).
    upper: [f64; AgentTerm::COUNT],
    /// By level: the skill walked, the level being walked, the lowest level it may go to, and
    /// the sum of the highest levels present of the other required skills.
    tiers: Option<(SkillId, u8, u8, f64)>,
}

impl<'a> Walker<'a> {
    fn bound(&self, entry: &Entry) -> f64 {
        let mut upper = self.upper;
        if let Some(term) = self.lead {
            upper[term as usize] = match term {
                AgentTerm::Idle => strategy::secs(self.now.saturating_sub(entry.1)),
                AgentTerm::SinceOffer => strategy::secs(self.now.saturating_sub(entry.0)),
                AgentTerm::FreeCapacity => 1.0 - entry.0 as f64 / LOAD_SCALE,
                AgentTerm::FewestHandled => -(entry.0 as f64),
                AgentTerm::Performance => performance_of(entry.0),
                AgentTerm::Specialist => 1.0 / entry.0.max(1) as f64,
                AgentTerm::Skill | AgentTerm::Affinity => upper[term as usize],
            };
        }
        self.strategy.agent_score(&AgentTerms(upper))
    }

    /// The bound of anything at `level` of the walked skill or below.
    fn tier_bound(&self, level: u8) -> f64 {
        let Some((_, _, _, others)) = self.tiers else {
            return f64::NEG_INFINITY;
        };
        let mut upper = self.upper;
        upper[AgentTerm::Skill as usize] = f64::from(level) + others;
        self.strategy.agent_score(&AgentTerms(upper))
    }

    /// Moves to the next lower level whose bound reaches `floor`; false when none does.
    fn next_tier(&mut self, floor: f64) -> bool {
        let Some((skill, level, lowest, others)) = self.tiers else {
            return false;
        };
        if level <= lowest || self.tier_bound(level - 1) < floor {
            return false;
        }
        self.set_tier(skill, level - 1, lowest, others);
        true
    }

    fn set_tier(&mut self, skill: SkillId, level: u8, lowest: u8, others: f64) {
        self.tiers = Some((skill, level, lowest, others));
        self.upper[AgentTerm::Skill as usize] = f64::from(level) + others;
        self.merge = self
            .index
            .walk_level(self.order, skill, level, self.channel);
    }

    /// The highest bound of any agent not yet walked (−∞ when none is left).
    fn remaining(&mut self) -> f64 {
        loop {
            if let Some(entry) = self.merge.peek() {
                let below = match self.tiers {
                    Some((_, level, lowest, _)) if level > lowest => self.tier_bound(level - 1),
                    _ => f64::NEG_INFINITY,
                };
                return self.bound(entry).max(below);
            }
            if !self.next_tier(f64::NEG_INFINITY) {
                return f64::NEG_INFINITY;
            }
        }
    }

    /// The next agent whose bound reaches `floor`, skipping what cannot (bounds only fall along
    /// a level, and from one level to the next); `None` when nothing left reaches it.
    fn next_reaching(&mut self, floor: f64) -> Option<&'a Entry> {
        loop {
            match self.merge.peek() {
                Some(entry) if self.bound(entry) >= floor => {
                    self.merge.next();
                    return Some(entry);
                }
                _ => {
                    if !self.next_tier(floor) {
                        return None;
                    }
                }
            }
        }
    }
}

impl Engine {
    /// The range of a term over the eligible agents of `contact`, as far as the index knows
    /// without walking: `(least, most)`.
    fn term_range(&self, term: AgentTerm, set: &[(SkillId, u8)]) -> (f64, f64) {
        let now = self.now;
        let levels = |pick: fn(&Self, SkillId, u8) -> u8| -> f64 {
            set.iter().map(|&(s, l)| f64::from(pick(self, s, l))).sum()
        };
        match term {
            AgentTerm::Idle => {
                let oldest = self.available.first(Order::Idle).map_or(now, |e| e.1);
                (0.0, strategy::secs(now.saturating_sub(oldest)))
            }
            AgentTerm::SinceOffer => (0.0, strategy::secs(now)),
            AgentTerm::FreeCapacity => (0.0, 1.0),
            AgentTerm::Performance => (0.0, self.available.performance_ceiling()),
            AgentTerm::FewestHandled => (f64::NEG_INFINITY, 0.0),
            AgentTerm::Skill => (
                levels(|_, _, l| l),
                levels(|e, s, l| e.available.max_level(s).unwrap_or(l)),
            ),
            AgentTerm::Specialist => {
                let most = self.config.max_skills_per_agent.max(1) as f64;
                (1.0 / most, 1.0)
            }
            AgentTerm::Affinity => (0.0, 0.0),
        }
    }

    /// Walk A for `contact`, set up with every term at its best.
    fn walker<'a>(
        &'a self,
        set: &[(SkillId, u8)],
        strategy: &'a Strategy,
        rarest: Option<(SkillId, u8)>,
        channel: Option<Channel>,
    ) -> Walker<'a> {
        let walk = strategy.walk;
        let lead_term = match walk.order {
            Order::Idle => AgentTerm::Idle,
            Order::SinceOffer => AgentTerm::SinceOffer,
            Order::FreeCapacity => AgentTerm::FreeCapacity,
            Order::FewestHandled => AgentTerm::FewestHandled,
            Order::Performance => AgentTerm::Performance,
            Order::Specialist => AgentTerm::Specialist,
        };
        let lead = (strategy.agent_weights[lead_term as usize] > 0.0).then_some(lead_term);
        let mut upper = [0.0; AgentTerm::COUNT];
        for term in AgentTerm::ALL {
            let w = strategy.agent_weights[term as usize];
            if w != 0.0 {
                let (least, most) = self.term_range(term, set);
                upper[term as usize] = if w > 0.0 { most } else { least };
            }
        }
        let mut walker = Walker {
            index: &self.available,
            strategy,
            order: walk.order,
            channel,
            now: self.now,
            merge: self.available.walk(walk.order, rarest, channel),
            lead,
            upper,
            tiers: None,
        };
        if walk.by_level
            && let Some((skill, lowest)) = rarest
        {
            let others: f64 = set
                .iter()
                .filter(|(s, _)| *s != skill)
                .map(|&(s, l)| f64::from(self.available.max_level(s).unwrap_or(l)))
                .sum();
            let top = self
                .available
                .max_level(skill)
                .unwrap_or(lowest)
                .max(lowest);
            walker.set_tier(skill, top, lowest, others);
        }
        walker
    }

    /// The best eligible agent for a waiting contact on the whole floor (see the module
    /// documentation), or `None` when no agent can take it now. The walked orders must be built.
    ///
    /// With an occupancy cap, agents above it are not eligible; when that leaves nobody but
    /// someone was passed over for it, the search runs again with the cap counted, not applied.
    pub(super) fn search_agents(
        &self,
        id: ContactId,
        strategy: &Strategy,
        held: &[AgentKey],
    ) -> Option<Found> {
        let Some(cap) = strategy.occupancy_cap else {
            return self.search_under(id, strategy, None, held).0;
        };
        match self.search_under(id, strategy, Some((cap, true)), held) {
            (Some(found), _) => Some(found),
            (None, false) => None,
            (None, true) => {
                let mut found = self
                    .search_under(id, strategy, Some((cap, false)), held)
                    .0?;
                found.excluded.cap_waived = true;
                Some(found)
            }
        }
    }

    /// Whether `agent` is above the occupancy `cap` now.
    pub(super) fn over_cap(&self, agent: &Agent, cap: f64) -> bool {
        agent
            .rolling
            .rolling(&agent.occupancy, self.now)
            .occupancy()
            > cap
    }

    /// The search, with `cap` = (cap, whether it excludes or only counts) and the agents
    /// `held` back for other queues left out; also says whether the cap excluded anyone.
    ///
    /// With alternative requirement sets, an agent's score is its best over the sets it meets:
    /// each set is searched for its best score, then each again for its longest idle agent
    /// within the band of the best of all, and the longest idle of those is chosen (the same
    /// agent a scan of the floor picks).
    fn search_under(
        &self,
        id: ContactId,
        strategy: &Strategy,
        cap: Option<(f64, bool)>,
        held: &[AgentKey],
    ) -> (Option<Found>, bool) {
        let contact = &self.contacts[&id];
        let sets = 1 + contact.alternatives.len() as u32;
        if sets == 1 {
            return self.search_set(id, strategy, cap, held, 0, f64::NEG_INFINITY);
        }
        let mut capped = false;
        let mut best = f64::NEG_INFINITY;
        for set in 0..sets {
            let (found, c) = self.search_set(id, strategy, cap, held, set, f64::NEG_INFINITY);
            capped |= c;
            if let Some(found) = found {
                best = best.max(found.best);
            }
        }
        if best == f64::NEG_INFINITY {
            return (None, capped);
        }
        let mut chosen: Option<Found> = None;
        for set in 0..sets {
            let Some(found) = self.search_set(id, strategy, cap, held, set, best).0 else {
                continue;
            };
            let idle_key = |f: &Found| {
                let agent = self.agent(f.chosen[0].0);
                (agent.idle_since, agent.spec.id.clone())
            };
            if chosen
                .as_ref()
                .is_none_or(|c| idle_key(&found) < idle_key(c))
            {
                chosen = Some(found);
            }
        }
        (chosen, capped)
    }

    /// The search over one requirement set of the contact (`set`, an index in
    /// [`Contact::sets`]), with the best score already known to be at least `seed`.
    fn search_set(
        &self,
        id: ContactId,
        strategy: &Strategy,
        cap: Option<(f64, bool)>,
        held: &[AgentKey],
        set_index: u32,
        seed: f64,
    ) -> (Option<Found>, bool) {
        let contact = &self.contacts[&id];
        let set = contact
            .sets()
            .nth(set_index as usize)
            .expect("a set of the contact");
        // Room classes hold when the contact costs what its channel costs now.
        let by_room = contact.cost == self.config.costs.cost(contact.channel);
        let channel = by_room.then_some(contact.channel);
        let rarest = self.available.rarest(set, channel);
        let mut excluded = Exclusions::default();
        let mut considered = 0u32;
        let mut capped = false;
        let mut scored: Vec<Scored<'_>> = Vec::new();
        // Scores an agent reached by a walk if it is eligible; counts why not if `count`.
        let mut score = |entry: &Entry, count: bool, excluded: &mut Exclusions| {
            considered += u32::from(count);
            let agent = self.agent(entry.3);
            let reason = if contact.excluded.contains(&entry.3) {
                &mut excluded.declined
            } else if !by_room && !agent.has_room(contact.channel, contact.cost) {
                &mut excluded.no_capacity
            } else if !agent.meets(set) {
                &mut excluded.missing_skill
            } else if held.contains(&entry.3) {
                &mut excluded.held
            } else {
                if let Some((cap, applied)) = cap
                    && self.over_cap(agent, cap)
                {
                    excluded.over_cap += u32::from(count);
                    capped = true;
                    if applied {
                        return None;
                    }
                }
                let terms = self.agent_terms(entry.3, agent, contact, set, strategy);
                return Some(strategy.agent_score(&terms)).map(|score| Scored {
                    key: entry.3,
                    score,
                    idle_since: entry.1,
                    id: &agent.spec.id,
                    terms,
                });
            };
            if count {
                *reason += 1;
            }
            None
        };
        let mut best = seed;
        // The preferred agents, scored before the walks (which bound `affinity` at 0).
        let mut first: [Option<AgentKey>; PreferredAgent::MAX] = [None; PreferredAgent::MAX];
        if strategy.uses(AgentTerm::Affinity) {
            for (slot, &(pref, _)) in first.iter_mut().zip(&contact.preferred) {
                let Some(agent) = self.agents.get(pref as usize).and_then(Option::as_ref) else {
                    continue;
                };
                if agent.indexed_at.is_none() || !agent.has_room(contact.channel, contact.cost) {
                    continue;
                }
                let entry = (0, agent.idle_since, agent.spec.id.clone(), pref);
                if let Some(s) = score(&entry, true, &mut excluded) {
                    best = best.max(s.score);
                    *slot = Some(pref);
                    scored.push(s);
                }
            }
        }
        let mut a = self.walker(set, strategy, rarest, channel);
        let mut b: Option<Merge<'_>> = None;
        // A's longest-idle agent in the band, once the band is known.
        let mut in_band: Option<Scored<'_>> = None;
        let band = strategy.band;
        let window = strategy.window;
        let mut winner = None;
        loop {
            let floor = best - band;
            if window == 0 && (b.is_some() || a.remaining() <= best) {
                // `best` is final: B looks for the longest idle agent in the band.
                let b = b.get_or_insert_with(|| {
                    in_band = longest_idle_in(&scored, floor);
                    self.available.walk(Order::Idle, rarest, channel)
                });
                let Some(entry) = b.next() else {
                    break;
                };
                if in_band.is_some_and(|c| c.idle_key() < (entry.1, &*entry.2)) {
                    break;
                }
                if let Some(s) = score(entry, false, &mut excluded)
                    && s.score >= floor
                {
                    winner = Some(s);
                    break;
                }
            }
            if window > 0 && scored.len() >= window {
                break;
            }
            let Some(entry) = a.next_reaching(floor) else {
                break;
            };
            if let Some(s) = score(entry, true, &mut excluded)
                && !first.contains(&Some(s.key))
            {
                best = best.max(s.score);
                if s.score >= best - band && in_band.is_none_or(|c| s.idle_key() < c.idle_key()) {
                    in_band = Some(s);
                }
                scored.push(s);
                // The rest of this primary comes later in idle order and cannot raise `best`:
                // none of it can be chosen over `s`. (Once the runners-up are in hand.)
                if window == 0
                    && s.score >= best - band
                    && a.bound(entry) <= best
                    && scored.len() >= CANDIDATES_RECORDED
                {
                    a.merge.skip_primary(entry.0);
                }
            }
        }
        let Some(winner) = winner.or_else(|| longest_idle_in(&scored, best - band)) else {
            return (None, capped);
        };
        // Runners-up for the record: a few more steps of A, when it stopped early.
        let mut steps = 0;
        while window == 0 && scored.len() < CANDIDATES_RECORDED && steps < RUNNER_UP_STEPS {
            let Some(entry) = a.next_reaching(f64::NEG_INFINITY) else {
                break;
            };
            steps += 1;
            if let Some(s) = score(entry, true, &mut excluded)
                && !first.contains(&Some(s.key))
                && s.key != winner.key
            {
                scored.push(s);
            }
        }
        if by_room {
            excluded.no_capacity +=
                self.available.count_without_room(rarest, contact.channel) as u32;
        }
        // The chosen one, then the best others by score (equal scores in the order scored).
        scored.retain(|s| s.key != winner.key);
        scored.sort_by(|x, y| y.score.total_cmp(&x.score));
        let chosen = std::iter::once(winner)
            .chain(scored)
            .take(CANDIDATES_RECORDED)
            .map(|s| (s.key, s.score, s.terms))
            .collect();
        let found = Found {
            chosen,
            considered,
            excluded,
            alternative: set_index,
            best,
        };
        (Some(found), capped)
    }
}

impl Engine {
    /// The choice a scan of the whole floor makes (the definition the search must meet):
    /// every eligible agent scored, the longest idle (then lowest id) within the band of the
    /// best. Tests compare it with [`Engine::search_agents`] at every exact decision.
    #[cfg(test)]
    pub(super) fn scan_floor(
        &self,
        id: ContactId,
        strategy: &Strategy,
        held: &[AgentKey],
    ) -> Option<AgentKey> {
        let contact = &self.contacts[&id];
        let scored: Vec<(f64, Millis, &str, AgentKey, bool)> = self
            .agents
            .iter()
            .enumerate()
            .filter_map(|(key, agent)| Some((key as AgentKey, agent.as_ref()?)))
            .filter(|(key, agent)| {
                agent.is_available()
                    && agent.has_room(contact.channel, contact.cost)
                    && agent.meets_one_of(contact.sets()).is_some()
                    && !contact.excluded.contains(key)
                    && !held.contains(key)
            })
            .map(|(key, agent)| {
                // Its best score over the sets it meets.
                let score = contact
                    .sets()
                    .filter(|set| agent.meets(set))
                    .map(|set| {
                        strategy.agent_score(&self.agent_terms(key, agent, contact, set, strategy))
                    })
                    .fold(f64::NEG_INFINITY, f64::max);
                let over = strategy
                    .occupancy_cap
                    .is_some_and(|cap| self.over_cap(agent, cap));
                (score, agent.idle_since, &*agent.spec.id, key, over)
            })
            .collect();
        // The cap applies when it leaves someone.
        let scored: Vec<_> = if scored.iter().any(|s| !s.4) {
            scored.into_iter().filter(|s| !s.4).collect()
        } else {
            scored
        };
        let best = scored.iter().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
        scored
            .iter()
            .filter(|s| s.0 >= best - strategy.band)
            .min_by(|x, y| (x.1, x.2).cmp(&(y.1, y.2)))
            .map(|s| s.3)
    }
}

/// The longest idle (then lowest id) of `scored` scoring at least `floor`.
fn longest_idle_in<'a>(scored: &[Scored<'a>], floor: f64) -> Option<Scored<'a>> {
    scored
        .iter()
        .filter(|s| s.score >= floor)
        .min_by(|x, y| x.idle_key().cmp(&y.idle_key()))
        .copied()
}
