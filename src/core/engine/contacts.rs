//! A contact's arrival (enqueue: the door, the customer's history, its deadlines), relaxation
//! of its requirements, and what the engine remembers of each interaction. What happens to it
//! afterwards (offers, answers, returns, endings) is in [`super::lifecycle`].

use super::*;

/// Shared by every contact never transferred.
static NO_TRANSFERS: std::sync::LazyLock<Arc<[crate::core::contact::Transfer]>> =
    std::sync::LazyLock::new(|| Arc::from(Vec::new()));

/// Shared by every contact without requirements of its own.
static NO_SKILLS: std::sync::LazyLock<Arc<[SkillLevel]>> =
    std::sync::LazyLock::new(|| Arc::from(Vec::new()));

/// Shared by every contact no exception rule fired for.
static NO_FIRINGS: std::sync::LazyLock<Arc<[crate::core::contact::Firing]>> =
    std::sync::LazyLock::new(|| Arc::from(Vec::new()));

/// Shared by every contact without alternatives (no allocation per contact).
static NO_ALTERNATIVES: std::sync::LazyLock<Arc<[Vec<SkillLevel>]>> =
    std::sync::LazyLock::new(|| Arc::from(Vec::new()));

impl Engine {
    /// A contact arrives. With a request id, a repeat within the request window gets its first
    /// answer and one with another payload is refused, both before anything else is looked at
    /// (see [`super::requests`]); an admitted contact's answer is remembered under its id.
    pub(super) fn enqueue(&mut self, new: NewContact) -> Result<Applied, CoreError> {
        if new.request_id.is_empty() {
            return self.enqueue_new(new);
        }
        crate::core::types::validate_id(&new.request_id, "request id")?;
        let fingerprint = requests::fingerprint(&new);
        match self.requests.seen(&new.request_id, fingerprint, self.now) {
            requests::Seen::Repeat(answer) => return Ok(Applied::EnqueueRepeated(answer)),
            requests::Seen::Reused { contact } => {
                return Err(CoreError::RequestIdReused {
                    request_id: new.request_id,
                    contact,
                });
            }
            requests::Seen::New => {}
        }
        let request_id = new.request_id.clone();
        let applied = self.enqueue_new(new)?;
        if let Applied::Enqueued {
            contact,
            position,
            estimated_wait_ms,
        } = &applied
        {
            let answer = EnqueueAnswer {
                contact: contact.id,
                position: *position,
                estimated_wait_ms: *estimated_wait_ms,
            };
            let until = self.now + u64::from(self.config.request_window_secs) * 1000;
            let limit = self.config.request_ids;
            self.requests
                .remember(&request_id, fingerprint, answer, until, limit);
        }
        Ok(applied)
    }

    /// A new contact arrives: admitted (or refused at the door), remembered against the
    /// customer's history, timed, routed at once, and indexed as waiting if no agent took it.
    fn enqueue_new(&mut self, new: NewContact) -> Result<Applied, CoreError> {
        let (slot, required_skills, alternative_skills) = self.admit(&new)?;
        let now = self.now;
        let mut requirements = self.intern_requirements(&required_skills);
        requirements.sort_unstable();
        let mut alternatives = Vec::new();
        let mut named = Vec::new();
        for set in alternative_skills {
            self.add_alternative(&requirements, &mut alternatives, &mut named, set);
        }
        let id = self.next_contact;
        self.next_contact += 1;
        let own_alternatives: Arc<[Vec<SkillLevel>]> = if new.alternatives.is_empty() {
            NO_ALTERNATIVES.clone()
        } else {
            new.alternatives.into()
        };
        // Its own requirements share the effective ones' allocation when they are the same (a
        // queue without defaults), and the empty list when it has none.
        let required_skills: Arc<[SkillLevel]> = required_skills.into();
        let own_skills = if new.required_skills.is_empty() {
            NO_SKILLS.clone()
        } else if *new.required_skills == *required_skills {
            required_skills.clone()
        } else {
            new.required_skills.into()
        };
        let customer_id = shared(new.customer_id);
        let conversation_id = shared(new.conversation_id);
        let queue = self.queue_mut(slot);
        queue.live += 1;
        queue.counters.offered += 1;
        let queue_name = queue.config.name.clone();
        let max_wait = queue.config.max_wait_secs;
        let first_step = queue.config.relaxation.first().map(|s| s.after_secs);
        let strategy = queue.strategy.clone();
        let (new_customer, recalled) =
            self.recall(&customer_id, &conversation_id, strategy.horizon_ms);
        // Agents named at enqueue replace the one recalled; a named agent not on the floor is
        // passed over (the customer's account manager may have left).
        let from_history = new.preferred_agents.is_empty() && recalled.is_some();
        let (preferred, affinity_until) = if new.preferred_agents.is_empty() {
            let wait = strategy.affinity_wait_ms;
            let until = if recalled.is_some() && wait > 0 {
                now + wait
            } else {
                0
            };
            (
                recalled.map(|key| vec![(key, 100)]).unwrap_or_default(),
                until,
            )
        } else {
            let mut named: Vec<(AgentKey, u8)> = new
                .preferred_agents
                .iter()
                .filter_map(|p| Some((*self.agent_ids.get(p.agent.as_str())?, p.score as u8)))
                .collect();
            named.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let wait = u64::from(new.preferred_wait_secs) * 1000;
            let until = if named.is_empty() || wait == 0 {
                0
            } else {
                now + wait
            };
            (named, until)
        };
        let facts = ContactFacts {
            enqueued_at: now,
            priority: new.priority,
            customer_value: new.customer_value,
            new_customer,
        };
        let contact = Contact {
            id,
            queue: queue_name,
            channel: new.channel,
            cost: self.cost_in(slot, new.channel),
            customer_id,
            customer_value: new.customer_value,
            priority: new.priority,
            requirements,
            required_skills: required_skills.clone(),
            own_skills,
            own_alternatives,
            alternatives,
            alternative_skills: if named.is_empty() {
                NO_ALTERNATIVES.clone()
            } else {
                named.into()
            },
            context: Arc::new(new.context),
            conversation_id,
            enqueued_at: now,
            queued_at: now,
            transfers: NO_TRANSFERS.clone(),
            exceptions: NO_FIRINGS.clone(),
            state: ContactState::Waiting,
            answered_at: None,
            excluded: Vec::new(),
            agent_key: None,
            wait_expired: false,
            group: None,
            rank: strategy.contact_key(&facts),
            new_customer,
            preferred,
            recalled: from_history,
            affinity_until,
            reserved: false,
            relax_step: 0,
            offer_timer: None,
            wait_timer: None,
            relax_timer: None,
            affinity_timer: None,
            exception_timer: None,
            exceptions_done: 0,
            callback: None,
            held_until: 0,
            hold_timer: None,
            window_timer: None,
            consult: None,
            consult_key: None,
            consult_timer: None,
            interrupting: false,
            paused_since: None,
            paused_ms: 0,
        };
        self.contacts.insert(id, contact);
        self.start_wait_timers(id, max_wait, first_step, affinity_until);
        if self.emits_events() {
            let view = self.contacts[&id].view();
            self.emit(EventBody::ContactQueued { contact: view });
        }
        // Routed before it is indexed: a contact offered at once never enters the waiting index.
        // Then its queue's arrival rules (it may move, or end).
        self.settle(id, Some(Trigger::ContactArrived), true);
        Ok(self.enqueued(id, slot))
    }

    /// The door: the contact's queue and channel, its effective requirements (the queue's
    /// defaults raised by the contact's own; sorted by name, one entry per skill at the highest
    /// level asked), the queue's length and the engine's live-contact limit. A contact refused
    /// because its queue is full counts as refused in the queue's figures; every other refusal
    /// changes nothing.
    #[allow(clippy::type_complexity)]
    fn admit(
        &mut self,
        new: &NewContact,
    ) -> Result<(usize, Vec<SkillLevel>, Vec<Vec<SkillLevel>>), CoreError> {
        new.validate(self.config.context)?;
        let slot =
            *self
                .queue_ids
                .get(new.queue.as_str())
                .ok_or_else(|| CoreError::UnknownQueue {
                    queue: new.queue.clone(),
                })?;
        let queue = self.queues[slot]
            .as_ref()
            .expect("queue id maps to a queue");
        if !queue.config.accepts(new.channel) {
            return Err(CoreError::invalid(format!(
                "queue {:?} does not accept {} contacts",
                new.queue, new.channel
            )));
        }
        let required_skills = self.effective_requirements(&queue.config, &new.required_skills)?;
        let alternatives: Vec<Vec<SkillLevel>> = queue
            .config
            .alternatives
            .iter()
            .chain(&new.alternatives)
            .cloned()
            .collect();
        if alternatives.is_empty() {
            self.check_skill_names(&required_skills)?;
        } else {
            let named: Vec<SkillLevel> = required_skills
                .iter()
                .chain(alternatives.iter().flatten())
                .cloned()
                .collect();
            self.check_skill_names(&named)?;
        }
        if queue.config.max_length > 0 && queue.waiting.len() >= queue.config.max_length as usize {
            let max_length = queue.config.max_length;
            self.queue_mut(slot).counters.refused += 1;
            return Err(CoreError::QueueFull {
                queue: new.queue.clone(),
                max_length,
            });
        }
        if self.contacts.len() >= self.config.max_contacts {
            return Err(CoreError::LiveContactLimit {
                limit: self.config.max_contacts,
            });
        }
        Ok((slot, required_skills, alternatives))
    }

    /// A contact's effective requirements: the queue's defaults raised by the contact's own,
    /// sorted by name, one entry per skill at the highest level asked.
    pub(super) fn effective_requirements(
        &self,
        queue: &QueueConfig,
        own: &[SkillLevel],
    ) -> Result<Vec<SkillLevel>, CoreError> {
        let mut required: Vec<SkillLevel> =
            queue.required_skills.iter().chain(own).cloned().collect();
        required.sort_by(|a, b| a.skill.cmp(&b.skill).then(b.level.cmp(&a.level)));
        required.dedup_by(|later, kept| later.skill == kept.skill);
        if required.len() > self.config.max_skills_per_agent {
            return Err(CoreError::invalid(format!(
                "contact requires {} skills; the limit is {}",
                required.len(),
                self.config.max_skills_per_agent
            )));
        }
        Ok(required)
    }

    /// A waiting contact changes (UpdateContact). Everything is checked before anything
    /// changes; then the contact leaves its place, takes the new values (new requirements get
    /// the queue's defaults and the relaxation steps it already took), is re-keyed by its
    /// queue's contact strategy (its enqueue time unchanged, so its wait keeps counting) and is
    /// routed at once, like a contact that just arrived; if no agent takes it, it waits in its
    /// new place. The change is published (`ContactUpdated`, naming the fields).
    pub(super) fn update(
        &mut self,
        id: ContactId,
        update: ContactUpdate,
    ) -> Result<Applied, CoreError> {
        update.validate()?;
        let contact = self.allow(id, lifecycle::Step::Update)?;
        let mut context = None;
        if !update.context_set.is_empty() || !update.context_removed.is_empty() {
            let mut next = (*contact.context).clone();
            for key in &update.context_removed {
                next.remove(key);
            }
            next.extend(update.context_set.clone());
            crate::core::contact::validate_context(&next, self.config.context)?;
            context = Some(next);
        }
        let slot = self.queue_slot(id);
        let required_skills = match &update.required_skills {
            Some(own) => {
                let queue = &self.queues[slot].as_ref().expect("queue present").config;
                let named = self.effective_requirements(queue, own)?;
                self.check_skill_names(&named)?;
                Some(named)
            }
            None => None,
        };
        // Checked: from here on nothing fails.
        self.remove_waiting(id);
        if let Some(named) = required_skills {
            let mut requirements = self.intern_requirements(&named);
            requirements.sort_unstable();
            let contact = self.contact_mut(id);
            contact.requirements = requirements;
            contact.required_skills = named.into();
            contact.own_skills = update.required_skills.clone().unwrap_or_default().into();
            let taken = contact.relax_step as usize;
            let steps: Vec<Relax> = self.queues[slot]
                .as_ref()
                .expect("queue present")
                .config
                .relaxation
                .iter()
                .take(taken)
                .map(|s| s.action.clone())
                .collect();
            for action in &steps {
                if let Relax::Lower { skill, .. } | Relax::Drop { skill } = action
                    && let Some(skill) = self.skills.id_of(skill)
                {
                    self.loosen(id, skill, action);
                }
            }
        }
        let strategy = self.queues[slot]
            .as_ref()
            .expect("queue present")
            .strategy
            .clone();
        let contact = self.contact_mut(id);
        if let Some(p) = update.priority {
            contact.priority = p;
        }
        if let Some(v) = update.customer_value {
            contact.customer_value = v;
        }
        if let Some(context) = context {
            contact.context = Arc::new(context);
        }
        contact.rank = strategy.contact_key(&matching::contact_facts(contact));
        let view = contact.view();
        self.emit(EventBody::ContactUpdated {
            contact: view,
            changed: update.changed(),
        });
        self.route_contact(id, Trigger::ContactUpdated);
        if self.contacts[&id].state == ContactState::Waiting {
            self.add_waiting(id);
        }
        Ok(Applied::Contact(
            self.contact_view(id).expect("a live contact"),
        ))
    }

    /// Adds `set` (interned, sorted) to a contact's alternatives unless it equals its
    /// requirements or an alternative it has.
    pub(super) fn add_alternative(
        &mut self,
        requirements: &[(SkillId, u8)],
        alternatives: &mut Vec<Vec<(SkillId, u8)>>,
        named: &mut Vec<Vec<SkillLevel>>,
        mut set: Vec<SkillLevel>,
    ) {
        set.sort_by(|a, b| a.skill.cmp(&b.skill));
        let mut interned = self.intern_requirements(&set);
        interned.sort_unstable();
        if interned == requirements || alternatives.contains(&interned) {
            return;
        }
        alternatives.push(interned);
        named.push(set);
    }

    /// What the engine remembers of this customer (or, without an id, this conversation) within
    /// `horizon_ms`: whether they count as new (never seen, or last seen abandoning or expiring),
    /// and the agent they last talked to, if still on the floor.
    fn recall(
        &self,
        customer_id: &Arc<str>,
        conversation_id: &Arc<str>,
        horizon_ms: u64,
    ) -> (bool, Option<AgentKey>) {
        let since = self.now.saturating_sub(horizon_ms);
        let by_customer = self.customers.get(customer_id);
        let by_conversation = self.conversations.get(conversation_id);
        let new_customer = !customer_id.is_empty()
            && by_customer.and_then(|h| h.last()).is_none_or(|last| {
                last.at >= since
                    && matches!(
                        last.outcome,
                        InteractionOutcome::Abandoned | InteractionOutcome::Expired
                    )
            });
        // The last person they talked to: a bot's leg is passed over.
        let person = |agent: &Arc<str>| {
            self.agent_ids
                .get(agent)
                .is_none_or(|k| !self.agent(*k).is_bot())
        };
        let preferred = by_conversation
            .and_then(|h| history::last_agent(h, since, person))
            .or_else(|| by_customer.and_then(|h| history::last_agent(h, since, person)))
            .and_then(|agent| self.agent_ids.get(agent).copied());
        (new_customer, preferred)
    }

    /// A new contact's deadlines: its queue's maximum wait, its first relaxation step, the end of
    /// its wait for a preferred agent (each only when set).
    pub(super) fn start_wait_timers(
        &mut self,
        id: ContactId,
        max_wait_secs: u32,
        first_step_secs: Option<u32>,
        affinity_until: Millis,
    ) {
        let now = self.now;
        if max_wait_secs > 0 {
            let timer = self.add_timer(now + max_wait_secs as u64 * 1000, Timer::MaxWait(id));
            self.contact_mut(id).wait_timer = Some(timer);
        }
        if let Some(after) = first_step_secs {
            let timer = self.add_timer(now + after as u64 * 1000, Timer::Relax(id));
            self.contact_mut(id).relax_timer = Some(timer);
        }
        if affinity_until > 0 {
            let timer = self.add_timer(affinity_until, Timer::AffinityEnd(id));
            self.contact_mut(id).affinity_timer = Some(timer);
        }
    }

    /// The enqueue's answer: the contact (in the queue it is in: an exception rule may have
    /// moved it, or ended it), its place among the waiting (0 if offered at once or ended) and
    /// the estimated wait for that place.
    fn enqueued(&self, id: ContactId, arrived_in: usize) -> Applied {
        let Some(contact) = self.contacts.get(&id) else {
            return Applied::Enqueued {
                contact: self.contact_view(id).expect("an ended contact is kept"),
                position: 0,
                estimated_wait_ms: None,
            };
        };
        let arrived = self.queues[arrived_in].as_ref().expect("queue present");
        let queue = if Arc::ptr_eq(&arrived.config.name, &contact.queue) {
            arrived
        } else {
            self.queues[self.queue_slot(id)]
                .as_ref()
                .expect("queue present")
        };
        let position = if contact.state == ContactState::Waiting {
            queue
                .waiting_by_priority
                .range(contact.priority..)
                .map(|(_, n)| *n)
                .sum()
        } else {
            0
        };
        Applied::Enqueued {
            contact: contact.view(),
            position,
            estimated_wait_ms: self.wait_estimate(queue, queue.strategy.wait_estimator, position),
        }
    }

    pub(super) fn live_contact(&self, id: ContactId) -> Result<&Contact, CoreError> {
        self.contacts.get(&id).ok_or_else(|| {
            if self.ended.contains_key(&id) || (id > 0 && id < self.next_contact) {
                CoreError::ContactEnded { contact: id }
            } else {
                CoreError::UnknownContact { contact: id }
            }
        })
    }
}

impl Engine {
    /// Records a contact's interaction under its customer and its conversation.
    pub(super) fn remember(
        &mut self,
        id: ContactId,
        agent: Option<Arc<str>>,
        outcome: InteractionOutcome,
    ) {
        let c = &self.contacts[&id];
        if c.customer_id.is_empty() && c.conversation_id.is_empty() {
            return;
        }
        let interaction = Interaction {
            contact: id,
            at: self.now,
            channel: c.channel,
            queue: c.queue.clone(),
            agent,
            outcome,
        };
        let limit = self.config.history_keys;
        let (customer, conversation) = (c.customer_id.clone(), c.conversation_id.clone());
        self.customers.record(&customer, interaction.clone(), limit);
        self.conversations.record(&conversation, interaction, limit);
    }

    /// A `lower` or `drop` step on `skill`, in every requirement set of the contact. Sets keep
    /// their places (a decision names one by index), even when two become equal.
    fn loosen(&mut self, id: ContactId, skill: SkillId, action: &Relax) {
        let loosen_set = |set: &mut Vec<(SkillId, u8)>| match action {
            Relax::Lower { level, .. } => {
                for (s, l) in set.iter_mut() {
                    if *s == skill {
                        *l = (*l).min(level.get());
                    }
                }
            }
            _ => set.retain(|(s, _)| *s != skill),
        };
        let loosen_named = |set: &[SkillLevel]| -> Vec<SkillLevel> {
            set.iter()
                .filter_map(|s| match action {
                    Relax::Lower { skill, level } if s.skill == *skill => Some(SkillLevel {
                        skill: s.skill.clone(),
                        level: s.level.min(*level),
                    }),
                    Relax::Drop { skill } if s.skill == *skill => None,
                    _ => Some(s.clone()),
                })
                .collect()
        };
        let contact = self.contact_mut(id);
        loosen_set(&mut contact.requirements);
        contact.required_skills = loosen_named(&contact.required_skills).into();
        contact.alternatives.iter_mut().for_each(loosen_set);
        contact.alternative_skills = contact
            .alternative_skills
            .iter()
            .map(|names| loosen_named(names))
            .collect();
    }

    /// Applies a contact's next relaxation step and schedules the one after; a waiting contact
    /// is routed again under its looser requirements.
    pub(super) fn relax(&mut self, id: ContactId) {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return;
        };
        contact.relax_timer = None;
        let step = contact.relax_step as usize;
        let slot = self.queue_slot(id);
        let steps = &self.queues[slot]
            .as_ref()
            .expect("queue present")
            .config
            .relaxation;
        let Some(action) = steps.get(step).map(|s| s.action.clone()) else {
            return;
        };
        let next = steps.get(step + 1).map(|s| s.after_secs);
        let waiting = self.contacts[&id].state == ContactState::Waiting;
        if waiting {
            self.remove_waiting(id);
        }
        self.contact_mut(id).relax_step += 1;
        match &action {
            Relax::Lower { skill, .. } | Relax::Drop { skill } => {
                if let Some(skill) = self.skills.id_of(skill) {
                    self.loosen(id, skill, &action);
                }
            }
            Relax::Widen { skills } => {
                let contact = self.contacts.get_mut(&id).expect("live contact");
                let requirements = std::mem::take(&mut contact.requirements);
                let mut alternatives = std::mem::take(&mut contact.alternatives);
                let mut named = contact.alternative_skills.to_vec();
                self.add_alternative(&requirements, &mut alternatives, &mut named, skills.clone());
                let contact = self.contact_mut(id);
                contact.requirements = requirements;
                contact.alternatives = alternatives;
                contact.alternative_skills = named.into();
            }
        }
        if let Some(after) = next {
            let at = self.contacts[&id].queued_at + after as u64 * 1000;
            let timer = self.add_timer(at, Timer::Relax(id));
            self.contact_mut(id).relax_timer = Some(timer);
        }
        if waiting {
            self.route_contact(id, Trigger::RequirementsRelaxed);
            if self.contacts[&id].state == ContactState::Waiting {
                self.add_waiting(id);
            }
        }
    }
}

/// The recent interactions of a contact's customer (of its conversation, without a customer
/// id), oldest first.
pub(super) fn history_of(engine: &Engine, contact: &Contact) -> Arc<[Interaction]> {
    static EMPTY: std::sync::LazyLock<Arc<[Interaction]>> =
        std::sync::LazyLock::new(|| Arc::from(Vec::new()));
    let found = if contact.customer_id.is_empty() {
        engine.conversations.get(&contact.conversation_id)
    } else {
        engine.customers.get(&contact.customer_id)
    };
    found.cloned().unwrap_or_else(|| EMPTY.clone())
}

/// A string for sharing between a contact and its views; the empty string is allocated once.
fn shared(s: String) -> Arc<str> {
    static EMPTY: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));
    if s.is_empty() {
        EMPTY.clone()
    } else {
        s.into()
    }
}
