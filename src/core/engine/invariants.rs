//! The invariants of the engine, checked from scratch (for tests).

use super::*;

impl Engine {
    /// Verifies every invariant in the module documentation from scratch. For tests: it walks
    /// every agent against every waiting contact.
    pub fn check_invariants(&self) -> Result<(), String> {
        if !self.requests.consistent() {
            return Err("the remembered request ids and their forgetting order differ".into());
        }
        if self.requests.remembered() > self.config.request_ids {
            return Err(format!(
                "{} request ids remembered; the limit is {}",
                self.requests.remembered(),
                self.config.request_ids
            ));
        }
        let mut indexed = 0;
        for (key, agent) in self.agents.iter().enumerate() {
            let Some(agent) = agent else { continue };
            let key = key as AgentKey;
            let id = &agent.spec.id;
            let mut load = 0;
            let mut per_channel = [0u32; Channel::COUNT];
            for (list, offered) in [(&agent.offers, true), (&agent.assigned, false)] {
                for cid in list {
                    let c = self
                        .contacts
                        .get(cid)
                        .ok_or(format!("agent {id} holds unknown contact {cid}"))?;
                    if c.agent_key != Some(key) {
                        return Err(format!("agent {id} holds contact {cid} of another agent"));
                    }
                    let state_ok = match &c.state {
                        ContactState::Offered { .. } => offered,
                        ContactState::Assigned { .. } => !offered,
                        _ => false,
                    };
                    if !state_ok {
                        return Err(format!("agent {id} lists contact {cid} in the wrong state"));
                    }
                    load += c.cost;
                    per_channel[c.channel.index()] += 1;
                }
            }
            // A consult holds capacity on both agents: its holder (above) and this one.
            for cid in &agent.consults {
                let c = self
                    .contacts
                    .get(cid)
                    .ok_or(format!("agent {id} is consulted on unknown contact {cid}"))?;
                if c.consult_key != Some(key) || c.agent_key == Some(key) {
                    return Err(format!("agent {id} lists a consult on {cid} not its own"));
                }
                let ringing = c.consult.as_ref().is_some_and(|k| k.accepted_at.is_none());
                if ringing && agent.presence != Presence::Ready {
                    return Err(format!("agent {id} is not ready but a consult rings at it"));
                }
                load += c.cost;
                per_channel[c.channel.index()] += 1;
            }
            // Work outside the router holds capacity as a contact does.
            for (i, w) in agent.external.iter().enumerate() {
                if agent.external[..i].iter().any(|v| v.id == w.id) {
                    return Err(format!("agent {id} holds external work {} twice", w.id));
                }
                load += w.cost;
                per_channel[w.channel.index()] += 1;
            }
            if load != agent.load || per_channel != agent.per_channel {
                return Err(format!("agent {id} load {} != held {load}", agent.load));
            }
            if agent.occupancy.activity() != agent.activity() {
                return Err(format!("agent {id} occupancy clock is in a stale state"));
            }
            // Over capacity only by the work an interruption pauses: the interrupting contact
            // alone fits, and everything else it holds is accepted work it may interrupt.
            match agent.interrupted_by {
                None if agent.load > agent.capacity => {
                    return Err(format!("agent {id} over capacity"));
                }
                None => {}
                Some(by) => {
                    let c = self
                        .contacts
                        .get(&by)
                        .filter(|c| c.interrupting && c.agent_key == Some(key))
                        .ok_or(format!(
                            "agent {id} interrupted by a contact it does not hold"
                        ))?;
                    let others_ok = agent.offers.iter().all(|o| *o == by)
                        && agent.external.is_empty()
                        && agent.assigned.iter().filter(|a| **a != by).all(|a| {
                            self.config
                                .interruptible
                                .get(&self.contacts[a].channel)
                                .is_some_and(|chs| chs.contains(&c.channel))
                        });
                    if !others_ok || c.cost > agent.capacity {
                        return Err(format!("agent {id} is interrupted beyond what may be"));
                    }
                    // Paused exactly while the interrupting contact is accepted.
                    let accepted = matches!(c.state, ContactState::Assigned { .. });
                    for a in agent.assigned.iter().filter(|a| **a != by) {
                        if self.contacts[a].paused_since.is_some() != accepted {
                            return Err(format!("contact {a} paused out of step with {by}"));
                        }
                    }
                }
            }
            if agent.interrupted_by.is_none()
                && agent
                    .assigned
                    .iter()
                    .any(|a| self.contacts[a].paused_since.is_some())
            {
                return Err(format!(
                    "agent {id} has a paused contact and no interruption"
                ));
            }
            if self.interruptible_agents.contains(&key) != self.could_be_interrupted(agent) {
                return Err(format!("agent {id} interruptible membership is stale"));
            }
            if (0..Channel::COUNT).any(|i| per_channel[i] > agent.limits[i]) {
                return Err(format!("agent {id} over a channel limit"));
            }
            if agent.presence != Presence::Ready && !agent.offers.is_empty() {
                return Err(format!("agent {id} is not ready but holds an offer"));
            }
            let should = agent.is_available();
            match agent.indexed_at {
                Some(at) if should && at == agent.idle_since => {
                    let period = self.available.period();
                    let placement = Placement::of(agent, &self.config.costs, period);
                    if self.available.placement(key) != Some(&placement)
                        || !self.available.holds(key, agent)
                    {
                        return Err(format!("agent {id} is not indexed where its state says"));
                    }
                    indexed += 1;
                }
                None if !should && self.available.placement(key).is_none() => {}
                _ => return Err(format!("agent {id} index membership is stale")),
            }
        }
        if indexed != self.available.len() {
            return Err("the available index holds agents it should not".into());
        }
        for (id, c) in &self.contacts {
            let interrupts = c
                .agent_key
                .and_then(|k| self.agents[k as usize].as_ref()?.interrupted_by)
                == Some(*id);
            if c.interrupting != interrupts {
                return Err(format!(
                    "contact {id} interrupting out of step with its agent"
                ));
            }
            if c.paused_since.is_some() && !matches!(c.state, ContactState::Assigned { .. }) {
                return Err(format!("contact {id} is paused but not assigned"));
            }
        }
        let mut waiting = 0;
        let mut held_back = 0;
        for (id, c) in &self.contacts {
            match &c.state {
                ContactState::Waiting => {
                    waiting += 1;
                    if c.held_until > 0 {
                        // A callback waiting for its time: in no group, its timer pending.
                        held_back += 1;
                        let timer = c
                            .hold_timer
                            .ok_or(format!("held contact {id} has no timer"))?;
                        if c.group.is_some()
                            || c.reserved
                            || c.held_until <= self.now
                            || self.timers.get(&timer) != Some(&Timer::CallbackDue(*id))
                        {
                            return Err(format!("callback {id} is not held as its time says"));
                        }
                    } else if c.reserved {
                        if c.preferred.is_empty() {
                            return Err(format!("contact {id} held for no one"));
                        }
                        if c.group.is_some()
                            || c.preferred
                                .iter()
                                .any(|(pref, _)| !self.reserved.contains(&(*pref, *id)))
                        {
                            return Err(format!("held contact {id} is not held exactly once"));
                        }
                        if c.affinity_until <= self.now {
                            return Err(format!("contact {id} held after its affinity wait"));
                        }
                    } else {
                        let group = c
                            .group
                            .and_then(|g| self.waiting.group(g))
                            .ok_or(format!("waiting contact {id} is in no group"))?;
                        if !group.members.contains(&(Reverse(rank_bits(c.rank)), *id)) {
                            return Err(format!("waiting contact {id} missing from its group"));
                        }
                    }
                    if c.agent_key.is_some() {
                        return Err(format!("waiting contact {id} has an agent"));
                    }
                }
                ContactState::Offered { .. } | ContactState::Assigned { .. } => {
                    if let Some(consult) = &c.consult {
                        let k = c
                            .consult_key
                            .ok_or(format!("consult on {id} has no agent"))?;
                        let consulted = self.agents[k as usize]
                            .as_ref()
                            .ok_or(format!("consult on {id} with a removed agent"))?;
                        let ringing = consult.accepted_at.is_none();
                        let timer_ok = c.consult_timer.is_some_and(|t| {
                            self.timers.get(&t) == Some(&Timer::ConsultExpiry(*id))
                        });
                        if !matches!(c.state, ContactState::Assigned { .. })
                            || !consulted.consults.contains(id)
                            || ringing != timer_ok
                        {
                            return Err(format!("consult on {id} is not where its state says"));
                        }
                    } else if c.consult_key.is_some() || c.consult_timer.is_some() {
                        return Err(format!("contact {id} has a stale consult"));
                    }
                    let key = c.agent_key.ok_or(format!("contact {id} has no agent"))?;
                    let agent = self.agents[key as usize]
                        .as_ref()
                        .ok_or(format!("contact {id} held by a removed agent"))?;
                    let held = agent.offers.iter().chain(&agent.assigned);
                    if held.filter(|x| *x == id).count() != 1 {
                        return Err(format!("contact {id} not held exactly once by its agent"));
                    }
                    if c.group.is_some() {
                        return Err(format!("contact {id} is held and waiting"));
                    }
                }
                terminal => return Err(format!("live contact {id} is {terminal:?}")),
            }
        }
        let grouped: usize = self.waiting.groups().map(|g| g.members.len()).sum();
        let in_line = waiting - held_back;
        // A contact held for its preferred agents sits once under each of them.
        let reserved: usize = self
            .contacts
            .values()
            .filter(|c| c.reserved)
            .map(|c| c.preferred.len())
            .sum();
        let reserved_contacts = self.contacts.values().filter(|c| c.reserved).count();
        if self.reserved.len() != reserved
            || grouped + reserved_contacts != in_line
            || self.waiting_count() != in_line
        {
            return Err("waiting index and queues disagree with the live contacts".into());
        }
        let held: usize = self
            .agents
            .iter()
            .flatten()
            .map(|a| a.offers.len() + a.assigned.len())
            .sum();
        if held + waiting != self.contacts.len() {
            return Err("a contact is held twice or lost".into());
        }
        // Exclusion and staffing counts, against a count from scratch.
        let mut floor = [0u32; Unavailable::COUNT];
        let mut by_skill = vec![[0u32; Unavailable::COUNT]; self.unavailable_by_skill.len()];
        for agent in self.agents.iter().flatten() {
            if agent.unavailable_as != agent.unavailable() {
                return Err(format!(
                    "agent {} counted under a stale reason",
                    agent.spec.id
                ));
            }
            if let Some(class) = agent.unavailable_as {
                floor[class as usize] += 1;
                for (skill, _) in &agent.skills {
                    by_skill[*skill as usize][class as usize] += 1;
                }
            }
        }
        if floor != self.unavailable_on_floor || by_skill != self.unavailable_by_skill {
            return Err("exclusion counts disagree with the agents".into());
        }
        self.check_profiles()?;
        let (queues, floor) = self.recount_staffing();
        if floor != self.staffed_on_floor {
            return Err("the floor's staffing counts disagree with the agents".into());
        }
        for (slot, q) in self.queues.iter().enumerate() {
            if let Some(q) = q
                && q.staffing != queues[slot]
            {
                return Err(format!(
                    "queue {} staffing {:?} != {:?} counted",
                    q.config.name, q.staffing, queues[slot]
                ));
            }
        }
        // A waiting contact holds no capacity: it costs what its queue says now.
        for c in self.contacts.values() {
            if c.state == ContactState::Waiting {
                let slot = self.queue_ids[&*c.queue];
                if c.cost != self.cost_in(slot, c.channel) {
                    return Err(format!(
                        "waiting contact {} costs {}, its queue says {}",
                        c.id,
                        c.cost,
                        self.cost_in(slot, c.channel)
                    ));
                }
            }
        }
        // Work conservation (a contact held for its preferred agent waits for that one only, and
        // one whose queue is held for a reserving queue waits until the queue's release timer).
        for (slot, q) in self.queues.iter().enumerate() {
            let Some(q) = q else { continue };
            if let Some(timer) = q.release_timer
                && self.timers.get(&timer) != Some(&Timer::Release(slot))
            {
                return Err(format!("queue {} release timer is stale", q.config.name));
            }
        }
        // Held: the contact's queue awaits its release, and the agent could serve another
        // queue that reserves agents.
        let held = |c: &Contact, agent: &Agent| {
            let slot = self.queue_ids[&*c.queue];
            let q = self.queues[slot].as_ref().expect("queue");
            q.release_timer.is_some_and(|t| t.0 > self.now)
                && self.reserving.iter().any(|&r| {
                    r != slot
                        && self.queues[r]
                            .as_ref()
                            .expect("queue")
                            .served_by(&agent.skills)
                })
        };
        for (key, agent) in self.agents.iter().enumerate() {
            let Some(agent) = agent.as_ref().filter(|a| {
                a.indexed_at.is_some() || self.interruptible_agents.contains(&(key as AgentKey))
            }) else {
                continue;
            };
            for c in self.contacts.values() {
                if c.state == ContactState::Waiting
                    && c.held_until == 0
                    && (!c.reserved || c.preference_for(key as AgentKey).is_some())
                    && self.fits(agent, c.channel, c.cost)
                    && agent.meets_one_of(c.sets()).is_some()
                    && !c.excluded.contains(&(key as AgentKey))
                    && !held(c, agent)
                {
                    return Err(format!(
                        "agent {} and contact {} fit but were left unmatched",
                        agent.spec.id, c.id
                    ));
                }
            }
        }
        Ok(())
    }
}
