//! The queues' staffing figures (agents ready, busy, not ready, in wrap-up who can serve each
//! queue), kept as agents change instead of counted by walking the floor.
//!
//! Agents with identical skills share a [`Profile`], which knows which queues its skills meet
//! and how many of its agents are in each [`StaffState`]. An agent changing state moves one
//! count in its profile and in each queue the profile serves; a queue created or given new
//! requirements checks each profile once and recounts from the profiles' counts.
//!
//! Cost: O(queues the agent can serve) per agent state change; O(profiles) per queue created,
//! changed or deleted; O(queues) when a new profile appears. Invariant (checked from scratch by
//! [`Engine::check_invariants`]): every queue's counts equal the logged-in agents meeting its
//! requirements, by state.

use super::*;

/// Agents with identical skills.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub(super) struct Profile {
    skills: Vec<(SkillId, u8)>,
    /// Agents (any state) with this profile.
    members: u32,
    /// Logged-in members by state.
    staffed: [u32; StaffState::COUNT],
    /// Queue slots whose requirements these skills meet.
    serves: Vec<usize>,
}

/// Every profile in use.
#[derive(serde::Serialize, serde::Deserialize, Debug, Default)]
pub(super) struct Profiles {
    list: Vec<Option<Profile>>,
    by_skills: HashMap<Vec<(SkillId, u8)>, u32>,
    free: Vec<u32>,
}

impl Engine {
    /// The profile of agents with `skills` (sorted), created if it is new; counts one member.
    pub(super) fn join_profile(&mut self, skills: &[(SkillId, u8)]) -> u32 {
        if let Some(&id) = self.profiles.by_skills.get(skills) {
            self.profile_mut(id).members += 1;
            return id;
        }
        let serves = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(slot, q)| q.as_ref().filter(|q| q.served_by(skills)).map(|_| slot))
            .collect();
        let profile = Profile {
            skills: skills.to_vec(),
            members: 1,
            staffed: [0; StaffState::COUNT],
            serves,
        };
        let id = match self.profiles.free.pop() {
            Some(id) => {
                self.profiles.list[id as usize] = Some(profile);
                id
            }
            None => {
                self.profiles.list.push(Some(profile));
                (self.profiles.list.len() - 1) as u32
            }
        };
        self.profiles.by_skills.insert(skills.to_vec(), id);
        id
    }

    /// One member leaves a profile (its staffing already taken out); the last one frees it.
    pub(super) fn leave_profile(&mut self, id: u32) {
        let profile = self.profile_mut(id);
        profile.members -= 1;
        if profile.members == 0 {
            let profile = self.profiles.list[id as usize]
                .take()
                .expect("profile present");
            self.profiles.by_skills.remove(&profile.skills);
            self.profiles.free.push(id);
        }
    }

    /// The skills of every profile with a logged-in member.
    pub(super) fn profiles_staffed(&self) -> impl Iterator<Item = &[(SkillId, u8)]> {
        self.profiles
            .list
            .iter()
            .flatten()
            .filter(|p| p.staffed.iter().any(|n| *n > 0))
            .map(|p| &p.skills[..])
    }

    fn profile_mut(&mut self, id: u32) -> &mut Profile {
        self.profiles.list[id as usize]
            .as_mut()
            .expect("profile present")
    }

    /// Moves the agent's staffing count to `state`, in its profile, the floor and every queue
    /// its profile serves.
    pub(super) fn restaff(&mut self, key: AgentKey, state: Option<StaffState>) {
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        let old = std::mem::replace(&mut agent.staffed_as, state);
        let profile = agent.profile as usize;
        let profile = self.profiles.list[profile]
            .as_mut()
            .expect("profile present");
        if let Some(old) = old {
            profile.staffed[old as usize] -= 1;
            self.staffed_on_floor[old as usize] -= 1;
        }
        if let Some(new) = state {
            profile.staffed[new as usize] += 1;
            self.staffed_on_floor[new as usize] += 1;
        }
        for &slot in &profile.serves {
            let queue = self.queues[slot].as_mut().expect("served queue present");
            if let Some(old) = old {
                queue.staffing[old as usize] -= 1;
            }
            if let Some(new) = state {
                queue.staffing[new as usize] += 1;
            }
            if !queue.dirty {
                queue.dirty = true;
                self.changed.queues.push(slot);
            }
        }
    }

    /// The queue in `slot` has new requirements (or is new): every profile checks whether it
    /// serves it, and the queue's counts are summed from the profiles that do.
    pub(super) fn restaff_queue(&mut self, slot: usize) {
        let queue = self.queues[slot].as_ref().expect("queue present");
        let mut staffing = [0; StaffState::COUNT];
        for profile in self.profiles.list.iter_mut().flatten() {
            let serves = queue.served_by(&profile.skills);
            let listed = profile.serves.iter().position(|s| *s == slot);
            match (serves, listed) {
                (true, None) => profile.serves.push(slot),
                (false, Some(i)) => {
                    profile.serves.swap_remove(i);
                }
                _ => {}
            }
            if serves {
                for (total, n) in staffing.iter_mut().zip(profile.staffed) {
                    *total += n;
                }
            }
        }
        self.queue_mut(slot).staffing = staffing;
    }

    /// The queue in `slot` is gone: no profile serves it any more.
    pub(super) fn unstaff_queue(&mut self, slot: usize) {
        for profile in self.profiles.list.iter_mut().flatten() {
            profile.serves.retain(|s| *s != slot);
        }
    }

    /// From scratch: each queue's staffing counts and the floor's, for the invariant check.
    pub(super) fn recount_staffing(
        &self,
    ) -> (Vec<[u32; StaffState::COUNT]>, [u32; StaffState::COUNT]) {
        let mut queues = vec![[0; StaffState::COUNT]; self.queues.len()];
        let mut floor = [0; StaffState::COUNT];
        for agent in self.agents.iter().flatten() {
            let Some(state) = agent.staff_state() else {
                continue;
            };
            floor[state as usize] += 1;
            for (slot, q) in self.queues.iter().enumerate() {
                if let Some(q) = q
                    && q.served_by(&agent.skills)
                {
                    queues[slot][state as usize] += 1;
                }
            }
        }
        (queues, floor)
    }

    /// The profile bookkeeping is consistent with the agents and queues.
    pub(super) fn check_profiles(&self) -> Result<(), String> {
        let mut members = vec![0u32; self.profiles.list.len()];
        for agent in self.agents.iter().flatten() {
            let profile = self.profiles.list[agent.profile as usize]
                .as_ref()
                .ok_or(format!("agent {} in a freed profile", agent.spec.id))?;
            if profile.skills != agent.skills {
                return Err(format!(
                    "agent {} in another skills' profile",
                    agent.spec.id
                ));
            }
            members[agent.profile as usize] += 1;
            if agent.staffed_as != agent.staff_state() {
                return Err(format!(
                    "agent {} staffed under a stale state",
                    agent.spec.id
                ));
            }
        }
        for (id, profile) in self.profiles.list.iter().enumerate() {
            let Some(profile) = profile else { continue };
            if profile.members != members[id] {
                return Err(format!("profile {id} counts {} members", profile.members));
            }
            for (slot, q) in self.queues.iter().enumerate() {
                let meets = q.as_ref().is_some_and(|q| q.served_by(&profile.skills));
                if meets != profile.serves.contains(&slot) {
                    return Err(format!("profile {id} serves queue slot {slot} wrongly"));
                }
            }
        }
        Ok(())
    }
}
