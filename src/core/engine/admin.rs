//! Queue and agent administration: create, update, remove, and agent presence.

use super::*;

impl Engine {
    /// Creates or updates a queue. An update takes effect for the next decision: waiting
    /// contacts keep their place and requirements, are re-ranked under the new contact
    /// strategy, and stop waiting for a preferred agent if affinity was switched off.
    pub(super) fn put_queue(&mut self, mut config: QueueConfig) -> Result<Applied, CoreError> {
        config.validate()?;
        let existing = self.queue_ids.get(&*config.name).copied();
        config.version = existing.map_or(1, |slot| {
            self.queues[slot]
                .as_ref()
                .expect("queue present")
                .config
                .version
                + 1
        });
        let strategy = Arc::new(Strategy::compile(&config)?);
        if existing.is_none() && self.queue_ids.len() >= self.config.max_queues {
            return Err(CoreError::QueueLimit {
                limit: self.config.max_queues,
            });
        }
        self.check_moves(&config)?;
        let required_by_rules = config.exceptions.iter().filter_map(|r| match &r.action {
            crate::core::ExceptionAction::Require { skills } => Some(skills),
            _ => None,
        });
        let widened = config.relaxation.iter().filter_map(|s| match &s.action {
            Relax::Widen { skills } => Some(skills),
            _ => None,
        });
        let named: Vec<SkillLevel> = config
            .required_skills
            .iter()
            .chain(config.alternatives.iter().flatten())
            .chain(widened.flatten())
            .chain(required_by_rules.flatten())
            .cloned()
            .collect();
        self.check_skill_names(&named)?;
        // Interned now, so a widen step never has to intern (or fail) later.
        self.intern_requirements(&named);
        let requirements = self.intern_requirements(&config.required_skills);
        let alternatives: Vec<Vec<(SkillId, u8)>> = config
            .alternatives
            .iter()
            .map(|set| {
                let mut set = self.intern_requirements(set);
                set.sort_unstable();
                set
            })
            .collect();
        let created = match existing {
            Some(slot) => {
                // A reserving queue that changes (its skills, its reserve, or its strategy)
                // releases every hold: the holds were decided under its old settings, and an
                // agent held for it may no longer serve it. Holds form again at the next
                // decisions, under the new settings.
                let was_reserving = if strategy.reserve > 0 {
                    !self.reserving.insert(slot)
                } else {
                    self.reserving.remove(&slot)
                };
                let q = self.queue_mut(slot);
                let new_rules = q.config.exceptions != config.exceptions;
                let new_costs = q.config.channel_costs != config.channel_costs;
                q.config = config.clone();
                q.strategy = strategy.clone();
                let new_requirements =
                    q.requirements != requirements || q.alternatives != alternatives;
                q.requirements = requirements;
                q.alternatives = alternatives;
                let waiting: Vec<ContactId> = q.waiting.iter().map(|(_, id)| *id).collect();
                if new_requirements {
                    self.restaff_queue(slot);
                }
                let mut released = Vec::new();
                for id in waiting {
                    self.remove_waiting(id);
                    let contact = self.contact_mut(id);
                    contact.rank = strategy.contact_key(&matching::contact_facts(contact));
                    if strategy.affinity_wait_ms == 0
                        && contact.affinity_until > 0
                        && contact.recalled
                    {
                        contact.affinity_until = 0;
                        if let Some(timer) = contact.affinity_timer.take() {
                            self.timers.remove(&timer);
                        }
                        released.push(id);
                    }
                    self.add_waiting(id);
                }
                if new_costs {
                    // Every waiting contact takes the new cost, and may fit an agent now.
                    self.recost_waiting(Some(slot));
                    let q = self.queues[slot].as_ref().expect("queue present");
                    released = q.waiting.iter().map(|(_, id)| *id).collect();
                }
                for id in released {
                    self.route_contact(id, Trigger::ConfigurationChanged);
                }
                if was_reserving {
                    self.release_all_holds();
                }
                if new_rules {
                    self.restart_exceptions(slot);
                }
                false
            }
            None => {
                let reserve = strategy.reserve > 0;
                self.queues.push(Some(QueueState {
                    config: config.clone(),
                    strategy,
                    requirements,
                    alternatives,
                    counters: QueueCounters::default(),
                    rolling_sl: RollingServiceLevel::default(),
                    intervals: self.new_marks(),
                    release_timer: None,
                    waiting_by_priority: BTreeMap::new(),
                    waiting: BTreeSet::new(),
                    offered_now: 0,
                    live: 0,
                    staffing: [0; StaffState::COUNT],
                    dirty: false,
                }));
                let slot = self.queues.len() - 1;
                if reserve {
                    self.reserving.insert(slot);
                }
                self.queue_ids.insert(config.name.clone(), slot);
                self.restaff_queue(slot);
                true
            }
        };
        self.emit(EventBody::QueueChanged {
            queue: config.clone(),
            deleted: false,
        });
        Ok(Applied::Queue { created, config })
    }

    pub(super) fn delete_queue(&mut self, name: &str) -> Result<Applied, CoreError> {
        let slot = *self
            .queue_ids
            .get(name)
            .ok_or_else(|| CoreError::UnknownQueue { queue: name.into() })?;
        let q = self.queues[slot]
            .as_ref()
            .expect("queue id maps to a queue");
        if q.live > 0 {
            return Err(CoreError::QueueInUse {
                queue: name.into(),
                live: q.live,
            });
        }
        if let Some(by) = self.moved_to_by(name) {
            return Err(CoreError::MoveTarget {
                queue: name.into(),
                by: by.to_string(),
            });
        }
        let q = self.queues[slot].take().expect("queue present");
        self.queue_ids.remove(name);
        if let Some(timer) = q.release_timer {
            self.timers.remove(&timer);
        }
        let was_reserving = self.reserving.remove(&slot);
        self.unstaff_queue(slot);
        self.changed_gone_queue(slot, q.config.name.clone(), q.dirty);
        self.emit(EventBody::QueueChanged {
            queue: q.config,
            deleted: true,
        });
        // Once the queue is gone from every count: routing may offer contacts again.
        if was_reserving {
            self.release_all_holds();
        }
        Ok(Applied::Done)
    }

    pub(super) fn put_agent(&mut self, spec: AgentSpec) -> Result<Applied, CoreError> {
        spec.validate(self.config.max_skills_per_agent)?;
        let capacity = spec.capacity.unwrap_or(match spec.kind {
            AgentKind::Human => self.config.default_capacity,
            AgentKind::Bot => AgentKind::BOT_DEFAULT_CAPACITY,
        });
        let mut limits = [u32::MAX; Channel::COUNT];
        for (channel, max) in &spec.channel_limits {
            limits[channel.index()] = *max;
        }
        let existing = self.agent_ids.get(&*spec.id).copied();
        if let Some(key) = existing {
            let agent = self.agent(key);
            if capacity < agent.load {
                return Err(CoreError::CapacityBelowLoad {
                    agent: spec.id.to_string(),
                    load: agent.load,
                    capacity,
                });
            }
            if let Some(c) = Channel::ALL
                .into_iter()
                .find(|c| agent.per_channel[c.index()] > limits[c.index()])
            {
                return Err(CoreError::ChannelLimitBelowHeld {
                    agent: spec.id.to_string(),
                    channel: c,
                    held: agent.per_channel[c.index()],
                });
            }
        } else if self.agent_ids.len() >= self.config.max_agents {
            return Err(CoreError::AgentLimit {
                limit: self.config.max_agents,
            });
        }
        self.check_skill_names(&spec.skills)?;
        let mut skills = self.intern_requirements(&spec.skills);
        skills.sort_unstable();
        let now = self.now;
        match existing {
            Some(key) => {
                self.unindex(key);
                self.uncount(key);
                self.restaff(key, None);
                let old_profile = self.agent(key).profile;
                let profile = self.join_profile(&skills);
                self.leave_profile(old_profile);
                let agent = self.agent_mut(key);
                agent.spec = spec;
                agent.skills = skills;
                agent.capacity = capacity;
                agent.limits = limits;
                agent.profile = profile;
                self.sync_index(key);
                let view = self.view_of(key);
                self.emit(EventBody::AgentChanged {
                    agent: view,
                    removed: false,
                });
                self.route_agent(key, Trigger::ConfigurationChanged);
                Ok(Applied::Agent {
                    created: false,
                    agent: self.view_of(key),
                })
            }
            None => {
                let key = self.agents.len() as AgentKey;
                let profile = self.join_profile(&skills);
                self.agent_ids.insert(spec.id.clone(), key);
                let mut agent = Agent::new(spec, skills, capacity, limits, now);
                agent.profile = profile;
                self.agents.push(Some(agent));
                // New to the read view.
                self.agent_mut(key);
                let view = self.view_of(key);
                self.emit(EventBody::AgentChanged {
                    agent: view.clone(),
                    removed: false,
                });
                Ok(Applied::Agent {
                    created: true,
                    agent: view,
                })
            }
        }
    }

    pub(super) fn remove_agent(&mut self, id: &str) -> Result<Applied, CoreError> {
        let key = self.agent_key(id)?;
        let agent = self.agent(key);
        let talking = agent
            .consults
            .iter()
            .filter(|c| {
                self.contacts[c]
                    .consult
                    .as_ref()
                    .is_some_and(|c| c.accepted_at.is_some())
            })
            .count();
        if !agent.assigned.is_empty() || talking > 0 || !agent.external.is_empty() {
            return Err(CoreError::AgentHoldsContacts {
                agent: id.into(),
                held: agent.assigned.len() + talking + agent.external.len(),
            });
        }
        self.drop_consults(key, true);
        self.agent_mut(key).presence = Presence::Offline;
        let mut returned = self.return_all_offers(key, ReturnReason::AgentRemoved);
        self.unindex(key);
        self.uncount(key);
        self.restaff(key, None);
        let profile = self.agent(key).profile;
        self.leave_profile(profile);
        // Contacts waiting for this agent stop waiting for it (and keep waiting for their
        // other preferred agents, if any).
        let held: Vec<ContactId> = self
            .reserved
            .range((key, 0)..=(key, ContactId::MAX))
            .map(|(_, id)| *id)
            .collect();
        for id in held {
            self.remove_waiting(id);
            self.contact_mut(id).preferred.retain(|(k, _)| *k != key);
            if self.contacts[&id].preferred.is_empty() {
                self.end_affinity_wait(id);
            }
            self.add_waiting(id);
            returned.push(id);
        }
        if let Some(timer) = self.agent_mut(key).wrap_timer.take() {
            self.timers.remove(&timer);
        }
        let agent = self.agents[key as usize].take().expect("agent present");
        self.agent_ids.remove(id);
        self.changed_gone_agent(key, agent.spec.id.clone(), agent.dirty);
        self.emit(EventBody::AgentChanged {
            agent: agent.view(),
            removed: true,
        });
        for contact in returned {
            self.route_contact(contact, Trigger::ContactArrived);
        }
        Ok(Applied::Done)
    }

    /// Changes an agent's presence; leaving ready returns the offers it holds.
    pub(super) fn set_presence(&mut self, key: AgentKey, presence: Presence) {
        let now = self.now;
        let agent = self.agent_mut(key);
        if agent.presence == presence {
            return;
        }
        let becomes_ready = presence == Presence::Ready;
        let reason = match &presence {
            Presence::Offline => ReturnReason::AgentOffline,
            _ => ReturnReason::AgentNotReady,
        };
        agent.presence = presence;
        if becomes_ready {
            agent.idle_since = now;
            agent.missed_in_row = 0;
        }
        let returned = if becomes_ready {
            Vec::new()
        } else {
            self.drop_consults(key, reason == ReturnReason::AgentOffline);
            self.return_all_offers(key, reason)
        };
        self.sync_index(key);
        let view = self.view_of(key);
        self.emit(EventBody::AgentStateChanged { agent: view });
        for contact in returned {
            self.route_contact(contact, Trigger::ContactArrived);
        }
        if becomes_ready {
            self.route_agent(key, Trigger::AgentReady);
        }
    }

    /// Returns every offer an agent holds to its queue; gives the contacts now waiting again.
    pub(super) fn return_all_offers(
        &mut self,
        key: AgentKey,
        reason: ReturnReason,
    ) -> Vec<ContactId> {
        let offers = self.agent(key).offers.clone();
        offers
            .into_iter()
            .filter(|c| self.end_offer(*c, OfferEnd::Returned(reason)))
            .collect()
    }
}
