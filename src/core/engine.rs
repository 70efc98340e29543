//! The routing engine: the single owner of agents, queues and waiting contacts.
//!
//! Sans-IO and deterministic: [`Engine::apply`] takes a [`Command`] and the time it happened, and
//! changes state; [`Engine::drain_events`] hands out what happened; [`Engine::next_deadline`] says
//! when the engine must be woken ([`Engine::advance`]) for an offer expiry, a wrap-up end or a
//! maximum wait. No clock, no randomness, no hash-map iteration order in any decision.
//!
//! Invariants (DESIGN.md rules 1–5; [`Engine::check_invariants`] verifies them from scratch):
//! - every contact is in exactly one place: waiting in one group, offered to one agent, assigned
//!   to one agent, or ended (terminal, in the history) — and reaches exactly one terminal state;
//! - an agent's load is the sum of the costs of the contacts it holds and never exceeds its
//!   capacity or a per-channel limit; an agent that is not ready holds no offer;
//! - a decision offers a contact only to an agent meeting every requirement at its level (an
//!   admin may later change the agent's skills; the contact it holds stays with it);
//! - matching is work-conserving: after every command, no available agent and waiting contact
//!   that fit each other (and were not excluded by a reject or timeout) are left unmatched.
//!
//! A refused command returns a [`CoreError`] and changes nothing (due deadlines still fire first,
//! since time has passed).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use super::agent::{AgentSpec, AgentView, MISSED_OFFER_REASON, Presence};
use super::command::{Applied, Command};
use super::contact::{
    CancelReason, Contact, ContactState, ContactView, ContextLimits, NewContact, Outcome,
};
use super::error::CoreError;
use super::events::{Candidate, Decision, Event, EventBody, ReturnReason, Trigger};
use super::index::{AgentIndex, SkillId, SkillInterner, WaitingIndex};
use super::queue::QueueConfig;
use super::stats::{QueueCounters, ServiceLevel};
use super::strategy::{self, AgentFacts, CANDIDATE_WINDOW, ContactFacts, Strategy};
use super::types::{Channel, ChannelCosts, ContactId, Millis, SkillLevel, TimerKey};
use crate::core::agent::Agent;

/// Engine-wide settings and limits.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    pub costs: ChannelCosts,
    /// Capacity of an agent that names none.
    pub default_capacity: u32,
    pub max_agents: usize,
    pub max_queues: usize,
    /// Live contacts (waiting, offered, assigned) across all queues.
    pub max_contacts: usize,
    pub max_skills_per_agent: usize,
    pub context: ContextLimits,
    /// How many ended contacts stay answerable by id.
    pub ended_history: usize,
    /// Offers in a row an agent may let time out before it is set not ready.
    pub missed_offers_limit: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            costs: ChannelCosts::default(),
            default_capacity: 100,
            max_agents: 200_000,
            max_queues: 10_000,
            max_contacts: 1_000_000,
            max_skills_per_agent: 64,
            context: ContextLimits::default(),
            ended_history: 10_000,
            missed_offers_limit: 2,
        }
    }
}

/// A queue inside the engine.
#[derive(Debug)]
struct QueueState {
    config: QueueConfig,
    strategy: Arc<dyn Strategy>,
    requirements: Vec<(SkillId, u8)>,
    counters: QueueCounters,
    /// Waiting contacts per priority, for positions.
    waiting_by_priority: BTreeMap<u32, u32>,
    /// Waiting contacts by enqueue sequence, for the longest wait.
    waiting: BTreeSet<ContactId>,
    offered_now: u32,
    /// Contacts of this queue not yet ended.
    live: u32,
}

/// One queue's live figures.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSnapshot {
    pub config: QueueConfig,
    pub waiting: u32,
    pub offered_now: u32,
    pub longest_wait_ms: u64,
    pub agents_ready: u32,
    pub agents_busy: u32,
    pub agents_not_ready: u32,
    pub agents_wrap_up: u32,
    pub counters: QueueCounters,
    pub service_level: ServiceLevel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    OfferExpiry(ContactId),
    WrapUpEnd(u32),
    MaxWait(ContactId),
}

/// How an offer came back without being accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OfferEnd {
    Rejected,
    TimedOut,
    Returned(ReturnReason),
}

type AgentKey = u32;

/// The routing engine. See the module documentation for its contract.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    now: Millis,
    skills: SkillInterner,
    queues: Vec<Option<QueueState>>,
    queue_ids: HashMap<Arc<str>, usize>,
    /// Agents by key; keys are never reused, so a stale key in a contact's exclusions is harmless.
    agents: Vec<Option<Agent>>,
    agent_ids: HashMap<Arc<str>, AgentKey>,
    available: AgentIndex,
    waiting: WaitingIndex,
    contacts: HashMap<ContactId, Contact>,
    ended: BTreeMap<ContactId, ContactView>,
    next_contact: ContactId,
    timers: BTreeMap<TimerKey, Timer>,
    next_timer: u64,
    events: Vec<Event>,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            config,
            now: 0,
            skills: SkillInterner::default(),
            queues: Vec::new(),
            queue_ids: HashMap::new(),
            agents: Vec::new(),
            agent_ids: HashMap::new(),
            available: AgentIndex::default(),
            waiting: WaitingIndex::default(),
            contacts: HashMap::new(),
            ended: BTreeMap::new(),
            next_contact: 1,
            timers: BTreeMap::new(),
            next_timer: 0,
            events: Vec::new(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The engine's time: the latest `now` it was given or deadline it processed.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// The earliest pending deadline, if any: call [`Engine::advance`] then.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timers.first_key_value().map(|(k, _)| k.0)
    }

    /// Moves the engine's time to `now`, processing every deadline due by then at its own time.
    /// Time never goes backwards: an earlier `now` is taken as the engine's current time.
    pub fn advance(&mut self, now: Millis) {
        while let Some((&key, &timer)) = self.timers.first_key_value() {
            if key.0 > now {
                break;
            }
            self.timers.remove(&key);
            self.now = self.now.max(key.0);
            self.fire(key, timer);
        }
        self.now = self.now.max(now);
    }

    /// Moves the events emitted since the last call into `out`, in order.
    pub fn drain_events(&mut self, out: &mut Vec<Event>) {
        out.append(&mut self.events);
    }

    /// Applies one command at `now` (after processing deadlines due by then).
    pub fn apply(&mut self, command: Command, now: Millis) -> Result<Applied, CoreError> {
        self.advance(now);
        match command {
            Command::PutQueue(config) => self.put_queue(config),
            Command::DeleteQueue { name } => self.delete_queue(&name),
            Command::PutAgent(spec) => self.put_agent(spec),
            Command::RemoveAgent { id } => self.remove_agent(&id),
            Command::SetPresence { agent, presence } => {
                if let Presence::NotReady(reason) = &presence {
                    validate_reason(reason)?;
                }
                let key = self.agent_key(&agent)?;
                self.set_presence(key, presence);
                Ok(self.agent_applied(key))
            }
            Command::Session { agent, attached } => {
                let key = self.agent_key(&agent)?;
                self.agent_mut(key).session_attached = attached;
                if attached || self.agent(key).presence == Presence::Offline {
                    let view = self.agent(key).view();
                    self.emit(EventBody::AgentStateChanged { agent: view });
                } else {
                    self.set_presence(key, Presence::Offline);
                }
                Ok(self.agent_applied(key))
            }
            Command::Enqueue(new) => self.enqueue(new),
            Command::Cancel { contact, reason } => self.cancel(contact, reason),
            Command::Accept { contact, agent } => self.accept(contact, &agent),
            Command::Reject { contact, agent } => self.reject(contact, &agent),
            Command::Complete {
                contact,
                agent,
                outcome,
            } => self.complete(contact, &agent, outcome),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Queries
    // ----------------------------------------------------------------------------------------

    pub fn agent_view(&self, id: &str) -> Option<AgentView> {
        let key = *self.agent_ids.get(id)?;
        Some(self.agent(key).view())
    }

    /// Every agent, ordered by id.
    pub fn agent_views(&self) -> Vec<AgentView> {
        let mut views: Vec<AgentView> = self.agents.iter().flatten().map(Agent::view).collect();
        views.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        views
    }

    pub fn agent_count(&self) -> usize {
        self.agent_ids.len()
    }

    /// A live contact, or an ended one still in the history.
    pub fn contact_view(&self, id: ContactId) -> Option<ContactView> {
        match self.contacts.get(&id) {
            Some(c) => Some(c.view()),
            None => self.ended.get(&id).cloned(),
        }
    }

    pub fn queue_config(&self, name: &str) -> Option<QueueConfig> {
        let slot = *self.queue_ids.get(name)?;
        self.queues[slot].as_ref().map(|q| q.config.clone())
    }

    /// Every queue's configuration, ordered by name.
    pub fn queue_configs(&self) -> Vec<QueueConfig> {
        let mut configs: Vec<QueueConfig> = self
            .queues
            .iter()
            .flatten()
            .map(|q| q.config.clone())
            .collect();
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        configs
    }

    pub fn waiting_count(&self) -> usize {
        self.queues.iter().flatten().map(|q| q.waiting.len()).sum()
    }

    /// Every queue's live figures, ordered by queue name. Counting agents per queue walks the
    /// floor once per queue: a supervisor query, not a routing path.
    pub fn queue_snapshots(&self) -> Vec<QueueSnapshot> {
        let now = self.now;
        let mut out: Vec<QueueSnapshot> = self
            .queues
            .iter()
            .flatten()
            .map(|q| {
                let (mut ready, mut busy, mut not_ready, mut wrap) = (0, 0, 0, 0);
                for agent in self.agents.iter().flatten() {
                    if agent.presence == Presence::Offline || !agent.meets(&q.requirements) {
                        continue;
                    }
                    if agent.load > 0 {
                        busy += 1;
                    } else if matches!(agent.presence, Presence::NotReady(_)) {
                        not_ready += 1;
                    } else if agent.wrap_up_until.is_some() {
                        wrap += 1;
                    } else {
                        ready += 1;
                    }
                }
                let longest_wait_ms = q
                    .waiting
                    .first()
                    .and_then(|id| self.contacts.get(id))
                    .map_or(0, |c| now.saturating_sub(c.enqueued_at));
                QueueSnapshot {
                    config: q.config.clone(),
                    waiting: q.waiting.len() as u32,
                    offered_now: q.offered_now,
                    longest_wait_ms,
                    agents_ready: ready,
                    agents_busy: busy,
                    agents_not_ready: not_ready,
                    agents_wrap_up: wrap,
                    counters: q.counters.clone(),
                    service_level: q.counters.service_level(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.config.name.cmp(&b.config.name));
        out
    }

    // ----------------------------------------------------------------------------------------
    // Queues
    // ----------------------------------------------------------------------------------------

    fn put_queue(&mut self, config: QueueConfig) -> Result<Applied, CoreError> {
        config.validate()?;
        let strategy = strategy::by_name(&config.strategy)?;
        let existing = self.queue_ids.get(&*config.name).copied();
        if existing.is_none() && self.queue_ids.len() >= self.config.max_queues {
            return Err(CoreError::exhausted(format!(
                "the queue limit ({}) is reached",
                self.config.max_queues
            )));
        }
        let requirements = self.intern_requirements(&config.required_skills);
        let created = match existing {
            Some(slot) => {
                let q = self.queues[slot]
                    .as_mut()
                    .expect("queue id maps to a queue");
                q.config = config.clone();
                q.strategy = strategy;
                q.requirements = requirements;
                false
            }
            None => {
                self.queues.push(Some(QueueState {
                    config: config.clone(),
                    strategy,
                    requirements,
                    counters: QueueCounters::default(),
                    waiting_by_priority: BTreeMap::new(),
                    waiting: BTreeSet::new(),
                    offered_now: 0,
                    live: 0,
                }));
                self.queue_ids
                    .insert(config.name.clone(), self.queues.len() - 1);
                true
            }
        };
        self.emit(EventBody::QueueChanged {
            queue: config.clone(),
            deleted: false,
        });
        Ok(Applied::Queue { created, config })
    }

    fn delete_queue(&mut self, name: &str) -> Result<Applied, CoreError> {
        let slot = *self
            .queue_ids
            .get(name)
            .ok_or_else(|| CoreError::not_found(format!("queue {name:?} does not exist")))?;
        let q = self.queues[slot]
            .as_ref()
            .expect("queue id maps to a queue");
        if q.live > 0 {
            return Err(CoreError::precondition(format!(
                "queue {name:?} still has {} live contacts; cancel or complete them first",
                q.live
            )));
        }
        let q = self.queues[slot].take().expect("queue present");
        self.queue_ids.remove(name);
        self.emit(EventBody::QueueChanged {
            queue: q.config,
            deleted: true,
        });
        Ok(Applied::Done)
    }

    // ----------------------------------------------------------------------------------------
    // Agents
    // ----------------------------------------------------------------------------------------

    fn put_agent(&mut self, spec: AgentSpec) -> Result<Applied, CoreError> {
        spec.validate(self.config.max_skills_per_agent)?;
        let capacity = spec.capacity.unwrap_or(self.config.default_capacity);
        let mut limits = [u32::MAX; Channel::COUNT];
        for (channel, max) in &spec.channel_limits {
            limits[channel.index()] = *max;
        }
        let existing = self.agent_ids.get(&*spec.id).copied();
        if let Some(key) = existing {
            let agent = self.agent(key);
            if capacity < agent.load {
                return Err(CoreError::precondition(format!(
                    "agent {:?} holds {} capacity units; capacity {capacity} is too low",
                    spec.id, agent.load
                )));
            }
            if let Some(c) = Channel::ALL
                .into_iter()
                .find(|c| agent.per_channel[c.index()] > limits[c.index()])
            {
                return Err(CoreError::precondition(format!(
                    "agent {:?} holds {} {c} contacts; the new limit is lower",
                    spec.id,
                    agent.per_channel[c.index()]
                )));
            }
        } else if self.agent_ids.len() >= self.config.max_agents {
            return Err(CoreError::exhausted(format!(
                "the agent limit ({}) is reached",
                self.config.max_agents
            )));
        }
        let mut skills = self.intern_requirements(&spec.skills);
        skills.sort_unstable();
        let now = self.now;
        match existing {
            Some(key) => {
                self.unindex(key);
                let agent = self.agent_mut(key);
                agent.spec = spec;
                agent.skills = skills;
                agent.capacity = capacity;
                agent.limits = limits;
                self.sync_index(key);
                let view = self.agent(key).view();
                self.emit(EventBody::AgentChanged {
                    agent: view,
                    removed: false,
                });
                self.route_agent(key, Trigger::ConfigurationChanged);
                Ok(Applied::Agent {
                    created: false,
                    agent: self.agent(key).view(),
                })
            }
            None => {
                let key = self.agents.len() as AgentKey;
                self.agent_ids.insert(spec.id.clone(), key);
                self.agents.push(Some(Agent {
                    spec,
                    skills,
                    capacity,
                    limits,
                    presence: Presence::Offline,
                    wrap_up_until: None,
                    load: 0,
                    per_channel: [0; Channel::COUNT],
                    offers: Vec::new(),
                    assigned: Vec::new(),
                    idle_since: now,
                    missed_in_row: 0,
                    handled: 0,
                    session_attached: false,
                    wrap_timer: None,
                    indexed_at: None,
                }));
                let view = self.agent(key).view();
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

    fn remove_agent(&mut self, id: &str) -> Result<Applied, CoreError> {
        let key = self.agent_key(id)?;
        let agent = self.agent(key);
        if !agent.assigned.is_empty() {
            return Err(CoreError::precondition(format!(
                "agent {id:?} holds {} accepted contacts; complete them first",
                agent.assigned.len()
            )));
        }
        self.agent_mut(key).presence = Presence::Offline;
        let returned = self.return_all_offers(key, ReturnReason::AgentRemoved);
        self.unindex(key);
        if let Some(timer) = self.agent_mut(key).wrap_timer.take() {
            self.timers.remove(&timer);
        }
        let agent = self.agents[key as usize].take().expect("agent present");
        self.agent_ids.remove(id);
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
    fn set_presence(&mut self, key: AgentKey, presence: Presence) {
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
            self.return_all_offers(key, reason)
        };
        self.sync_index(key);
        let view = self.agent(key).view();
        self.emit(EventBody::AgentStateChanged { agent: view });
        for contact in returned {
            self.route_contact(contact, Trigger::ContactArrived);
        }
        if becomes_ready {
            self.route_agent(key, Trigger::AgentReady);
        }
    }

    /// Returns every offer an agent holds to its queue; gives the contacts now waiting again.
    fn return_all_offers(&mut self, key: AgentKey, reason: ReturnReason) -> Vec<ContactId> {
        let offers = self.agent(key).offers.clone();
        offers
            .into_iter()
            .filter(|c| self.end_offer(*c, OfferEnd::Returned(reason)))
            .collect()
    }

    // ----------------------------------------------------------------------------------------
    // Contacts
    // ----------------------------------------------------------------------------------------

    fn enqueue(&mut self, new: NewContact) -> Result<Applied, CoreError> {
        new.validate(self.config.context)?;
        let slot = *self
            .queue_ids
            .get(new.queue.as_str())
            .ok_or_else(|| CoreError::not_found(format!("queue {:?} does not exist", new.queue)))?;
        let queue = self.queues[slot]
            .as_ref()
            .expect("queue id maps to a queue");
        if !queue.config.accepts(new.channel) {
            return Err(CoreError::invalid(format!(
                "queue {:?} does not accept {} contacts",
                new.queue, new.channel
            )));
        }
        // Effective requirements: the queue's defaults, raised by the contact's own.
        let mut required: BTreeMap<&str, SkillLevel> = BTreeMap::new();
        for s in queue
            .config
            .required_skills
            .iter()
            .chain(&new.required_skills)
        {
            let entry = required
                .entry(s.skill.as_str())
                .or_insert_with(|| s.clone());
            entry.level = entry.level.max(s.level);
        }
        if required.len() > self.config.max_skills_per_agent {
            return Err(CoreError::invalid(format!(
                "contact requires {} skills; the limit is {}",
                required.len(),
                self.config.max_skills_per_agent
            )));
        }
        let required_skills: Vec<SkillLevel> = required.into_values().collect();
        if queue.config.max_length > 0 && queue.waiting.len() >= queue.config.max_length as usize {
            let max = queue.config.max_length;
            let q = self.queues[slot].as_mut().expect("queue present");
            q.counters.refused += 1;
            return Err(CoreError::exhausted(format!(
                "queue {:?} is full: {max} contacts wait (its max_length)",
                new.queue
            )));
        }
        if self.contacts.len() >= self.config.max_contacts {
            return Err(CoreError::exhausted(format!(
                "the live-contact limit ({}) is reached",
                self.config.max_contacts
            )));
        }

        let now = self.now;
        let mut requirements = self.intern_requirements(&required_skills);
        requirements.sort_unstable();
        let id = self.next_contact;
        self.next_contact += 1;
        let queue = self.queues[slot].as_mut().expect("queue present");
        queue.live += 1;
        queue.counters.offered += 1;
        let queue_name = queue.config.name.clone();
        let max_wait = queue.config.max_wait_secs;
        let contact = Contact {
            id,
            queue: queue_name,
            channel: new.channel,
            cost: self.config.costs.cost(new.channel),
            customer_id: new.customer_id,
            customer_value: new.customer_value,
            priority: new.priority,
            requirements,
            required_skills,
            context: Arc::new(new.context),
            conversation_id: new.conversation_id,
            enqueued_at: now,
            state: ContactState::Waiting,
            answered_at: None,
            excluded: Vec::new(),
            agent_key: None,
            wait_expired: false,
            group: None,
            offer_timer: None,
            wait_timer: None,
        };
        self.contacts.insert(id, contact);
        if max_wait > 0 {
            let timer = self.add_timer(now + max_wait as u64 * 1000, Timer::MaxWait(id));
            self.contact_mut(id).wait_timer = Some(timer);
        }
        self.add_waiting(id);
        let view = self.contacts[&id].view();
        self.emit(EventBody::ContactQueued { contact: view });
        self.route_contact(id, Trigger::ContactArrived);

        let contact = &self.contacts[&id];
        let queue = self.queues[slot].as_ref().expect("queue present");
        let position = if contact.state == ContactState::Waiting {
            queue
                .waiting_by_priority
                .range(contact.priority..)
                .map(|(_, n)| *n)
                .sum()
        } else {
            0
        };
        Ok(Applied::Enqueued {
            contact: contact.view(),
            position,
            estimated_wait_ms: queue.counters.estimated_wait(position, now),
        })
    }

    fn live_contact(&self, id: ContactId) -> Result<&Contact, CoreError> {
        self.contacts.get(&id).ok_or_else(|| {
            if self.ended.contains_key(&id) || (id > 0 && id < self.next_contact) {
                CoreError::precondition(format!("contact {id} has already ended"))
            } else {
                CoreError::not_found(format!("contact {id} does not exist"))
            }
        })
    }

    fn cancel(&mut self, id: ContactId, reason: CancelReason) -> Result<Applied, CoreError> {
        let contact = self.live_contact(id)?;
        let waited = self.now.saturating_sub(contact.enqueued_at);
        let holder = match contact.state {
            ContactState::Waiting => None,
            ContactState::Offered { .. } => contact.agent_key,
            _ => {
                return Err(CoreError::precondition(format!(
                    "contact {id} was accepted by an agent; complete it instead"
                )));
            }
        };
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_mut().expect("queue present");
        let threshold = queue.config.sl_threshold_secs as u64 * 1000;
        let terminal = match reason {
            CancelReason::Abandoned => {
                queue.counters.record_abandon(waited, threshold);
                ContactState::Abandoned
            }
            CancelReason::Withdrawn => {
                queue.counters.withdrawn += 1;
                ContactState::Cancelled
            }
        };
        if holder.is_some() {
            queue.offered_now -= 1;
        }
        let view = self.end_contact(id, terminal);
        if let Some(key) = holder {
            self.route_agent(key, Trigger::CapacityFreed);
        }
        Ok(Applied::Contact(view))
    }

    /// The contact must be offered to `agent`; gives the agent's key.
    fn offered_to(&self, id: ContactId, agent: &str) -> Result<AgentKey, CoreError> {
        let contact = self.live_contact(id)?;
        let key = self.agent_key(agent)?;
        match &contact.state {
            ContactState::Offered { .. } if contact.agent_key == Some(key) => Ok(key),
            ContactState::Offered { .. } => Err(CoreError::precondition(format!(
                "contact {id} is offered to another agent"
            ))),
            state => Err(CoreError::precondition(format!(
                "contact {id} is not offered ({})",
                state_name(state)
            ))),
        }
    }

    fn accept(&mut self, id: ContactId, agent: &str) -> Result<Applied, CoreError> {
        let key = self.offered_to(id, agent)?;
        let now = self.now;
        let contact = self.contacts.get_mut(&id).expect("live contact");
        let timer = contact.offer_timer.take();
        let agent_name = contact.state.agent().cloned().expect("offered has agent");
        contact.state = ContactState::Assigned {
            agent: agent_name.clone(),
        };
        contact.answered_at = Some(now);
        let waited = now.saturating_sub(contact.enqueued_at);
        let queue_name = contact.queue.clone();
        if let Some(timer) = timer {
            self.timers.remove(&timer);
        }
        let a = self.agent_mut(key);
        a.offers.retain(|c| *c != id);
        a.assigned.push(id);
        a.missed_in_row = 0;
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_mut().expect("queue present");
        queue.offered_now -= 1;
        let threshold = queue.config.sl_threshold_secs as u64 * 1000;
        queue.counters.record_answer(waited, threshold, now);
        self.emit(EventBody::OfferAccepted {
            contact: id,
            agent: agent_name,
            queue: queue_name,
            waited_ms: waited,
        });
        Ok(Applied::Contact(self.contacts[&id].view()))
    }

    fn reject(&mut self, id: ContactId, agent: &str) -> Result<Applied, CoreError> {
        let key = self.offered_to(id, agent)?;
        self.end_offer(id, OfferEnd::Rejected);
        let view = self.contact_view(id).expect("contact known");
        self.route_contact(id, Trigger::ContactArrived);
        self.route_agent(key, Trigger::CapacityFreed);
        Ok(Applied::Contact(view))
    }

    fn complete(
        &mut self,
        id: ContactId,
        agent: &str,
        outcome: Outcome,
    ) -> Result<Applied, CoreError> {
        outcome.validate()?;
        let contact = self.live_contact(id)?;
        let key = self.agent_key(agent)?;
        match &contact.state {
            ContactState::Assigned { .. } if contact.agent_key == Some(key) => {}
            ContactState::Assigned { .. } => {
                return Err(CoreError::precondition(format!(
                    "contact {id} is assigned to another agent"
                )));
            }
            state => {
                return Err(CoreError::precondition(format!(
                    "contact {id} is not assigned ({}); accept it first",
                    state_name(state)
                )));
            }
        }
        let now = self.now;
        let handle_ms = match outcome.handle_secs {
            0 => now.saturating_sub(contact.answered_at.unwrap_or(now)),
            secs => secs as u64 * 1000,
        };
        let agent_name = contact.state.agent().cloned().expect("assigned has agent");
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_mut().expect("queue present");
        queue.counters.completed += 1;
        queue.counters.total_handle_ms += handle_ms;
        let wrap_up = queue.config.wrap_up_secs as u64 * 1000;
        self.end_contact(
            id,
            ContactState::Completed {
                agent: agent_name,
                outcome,
            },
        );
        let agent = self.agent_mut(key);
        agent.handled += 1;
        agent.idle_since = now;
        let mut wrapping = false;
        if wrap_up > 0 {
            let until = agent
                .wrap_up_until
                .map_or(now + wrap_up, |t| t.max(now + wrap_up));
            agent.wrap_up_until = Some(until);
            if let Some(old) = agent.wrap_timer.take() {
                self.timers.remove(&old);
            }
            let timer = self.add_timer(until, Timer::WrapUpEnd(key));
            self.agent_mut(key).wrap_timer = Some(timer);
            wrapping = true;
        }
        self.sync_index(key);
        if wrapping {
            let view = self.agent(key).view();
            self.emit(EventBody::AgentStateChanged { agent: view });
        }
        self.route_agent(key, Trigger::CapacityFreed);
        Ok(Applied::Contact(
            self.contact_view(id).expect("ended contact kept"),
        ))
    }

    // ----------------------------------------------------------------------------------------
    // Deadlines
    // ----------------------------------------------------------------------------------------

    fn add_timer(&mut self, at: Millis, timer: Timer) -> TimerKey {
        let key = (at, self.next_timer);
        self.next_timer += 1;
        self.timers.insert(key, timer);
        key
    }

    fn fire(&mut self, key: TimerKey, timer: Timer) {
        match timer {
            Timer::OfferExpiry(id) => {
                let Some(contact) = self.contacts.get_mut(&id) else {
                    return;
                };
                if contact.offer_timer != Some(key) {
                    return;
                }
                contact.offer_timer = None;
                let Some(agent) = contact.agent_key else {
                    return;
                };
                self.end_offer(id, OfferEnd::TimedOut);
                let limit = self.config.missed_offers_limit;
                let a = self.agent_mut(agent);
                a.missed_in_row += 1;
                if a.missed_in_row >= limit {
                    self.set_presence(agent, Presence::NotReady(MISSED_OFFER_REASON.into()));
                }
                self.route_contact(id, Trigger::ContactArrived);
                self.route_agent(agent, Trigger::CapacityFreed);
            }
            Timer::WrapUpEnd(agent) => {
                let Some(a) = self.agents.get_mut(agent as usize).and_then(Option::as_mut) else {
                    return;
                };
                if a.wrap_timer != Some(key) {
                    return;
                }
                a.wrap_timer = None;
                a.wrap_up_until = None;
                self.sync_index(agent);
                let view = self.agent(agent).view();
                self.emit(EventBody::AgentStateChanged { agent: view });
                self.route_agent(agent, Trigger::WrapUpEnded);
            }
            Timer::MaxWait(id) => {
                let Some(contact) = self.contacts.get_mut(&id) else {
                    return;
                };
                contact.wait_timer = None;
                match contact.state {
                    ContactState::Waiting => self.expire(id),
                    ContactState::Offered { .. } => contact.wait_expired = true,
                    _ => {}
                }
            }
        }
    }

    fn expire(&mut self, id: ContactId) {
        let slot = self.queue_slot(id);
        self.queues[slot]
            .as_mut()
            .expect("queue present")
            .counters
            .expired += 1;
        self.end_contact(id, ContactState::Expired);
    }

    // ----------------------------------------------------------------------------------------
    // Matching
    // ----------------------------------------------------------------------------------------

    /// A waiting contact looks for the best eligible agent; offers it if one fits.
    fn route_contact(&mut self, id: ContactId, trigger: Trigger) {
        let now = self.now;
        let Some(contact) = self.contacts.get(&id) else {
            return;
        };
        if contact.state != ContactState::Waiting {
            return;
        }
        let Some(slot) = self.queue_ids.get(&*contact.queue).copied() else {
            return;
        };
        let strategy = &self.queues[slot].as_ref().expect("queue present").strategy;
        let facts = contact_facts(contact);
        let mut found = [(0 as AgentKey, 0f64); CANDIDATE_WINDOW];
        let mut n = 0;
        let mut considered = 0u32;
        let agents = &self.agents;
        self.available
            .visit_candidates(&contact.requirements, |key| {
                considered += 1;
                let Some(agent) = agents[key as usize].as_ref() else {
                    return ControlFlow::Continue(());
                };
                if !agent.has_room(contact.channel, contact.cost)
                    || !agent.meets(&contact.requirements)
                    || contact.excluded.contains(&key)
                {
                    return ControlFlow::Continue(());
                }
                found[n] = (key, strategy.agent_score(&agent_facts(agent), &facts, now));
                n += 1;
                if n == CANDIDATE_WINDOW {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
        if n == 0 {
            return;
        }
        // Stable: equal scores keep index order (longest idle, then agent id).
        found[..n].sort_by(|a, b| b.1.total_cmp(&a.1));
        let strategy_name = strategy.name();
        let candidates = found[..n]
            .iter()
            .map(|&(key, score)| {
                let agent = self.agent(key);
                Candidate {
                    agent: agent.spec.id.clone(),
                    score,
                    idle_ms: now.saturating_sub(agent.idle_since),
                }
            })
            .collect();
        self.offer(
            id,
            found[0].0,
            trigger,
            strategy_name,
            candidates,
            considered,
        );
    }

    /// An agent with room takes the best waiting contacts it can serve, while any fits.
    fn route_agent(&mut self, key: AgentKey, trigger: Trigger) {
        let now = self.now;
        loop {
            let Some(agent) = self.agents.get(key as usize).and_then(Option::as_ref) else {
                return;
            };
            if agent.indexed_at.is_none() {
                return;
            }
            let mut best: Option<(f64, ContactId, usize)> = None;
            let mut considered = 0u32;
            for group in self.waiting.groups() {
                let cost = self.config.costs.cost(group.channel);
                if !agent.has_room(group.channel, cost) || !agent.meets(&group.requirements) {
                    continue;
                }
                let queue = self.queues[group.queue].as_ref().expect("queue present");
                let head = group
                    .members
                    .iter()
                    .map(|(_, id)| &self.contacts[id])
                    .find(|c| !c.excluded.contains(&key));
                let Some(contact) = head else { continue };
                considered += 1;
                let score = queue.strategy.contact_score(&contact_facts(contact), now);
                if best.is_none_or(|(s, id, _)| score > s || (score == s && contact.id < id)) {
                    best = Some((score, contact.id, group.queue));
                }
            }
            let Some((_, id, slot)) = best else { return };
            let strategy = &self.queues[slot].as_ref().expect("queue present").strategy;
            let score = strategy.agent_score(
                &agent_facts(agent),
                &contact_facts(&self.contacts[&id]),
                now,
            );
            let candidates = vec![Candidate {
                agent: agent.spec.id.clone(),
                score,
                idle_ms: now.saturating_sub(agent.idle_since),
            }];
            let strategy_name = strategy.name();
            self.offer(id, key, trigger, strategy_name, candidates, considered);
        }
    }

    /// Reserves a waiting contact for an agent until the queue's offer timeout.
    fn offer(
        &mut self,
        id: ContactId,
        key: AgentKey,
        trigger: Trigger,
        strategy: &'static str,
        candidates: Vec<Candidate>,
        considered: u32,
    ) {
        let now = self.now;
        self.remove_waiting(id);
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_mut().expect("queue present");
        queue.offered_now += 1;
        let deadline = now + queue.config.offer_timeout_secs as u64 * 1000;
        let timer = self.add_timer(deadline, Timer::OfferExpiry(id));
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        let agent_name = agent.spec.id.clone();
        let contact = self.contacts.get_mut(&id).expect("live contact");
        agent.load += contact.cost;
        agent.per_channel[contact.channel.index()] += 1;
        agent.offers.push(id);
        agent.idle_since = now;
        contact.state = ContactState::Offered {
            agent: agent_name.clone(),
            deadline,
        };
        contact.agent_key = Some(key);
        contact.offer_timer = Some(timer);
        let decision = Decision {
            contact: id,
            agent: agent_name,
            queue: contact.queue.clone(),
            strategy,
            trigger,
            waited_ms: now.saturating_sub(contact.enqueued_at),
            candidates,
            considered,
            offer_deadline: deadline,
            channel: contact.channel,
            priority: contact.priority,
        };
        self.sync_index(key);
        self.emit(EventBody::Decision(decision));
    }

    /// Ends an offer without acceptance; the contact goes back to its place in the queue (or
    /// expires, if its maximum wait passed meanwhile). Gives true if it is waiting again.
    fn end_offer(&mut self, id: ContactId, how: OfferEnd) -> bool {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return false;
        };
        let ContactState::Offered { agent: name, .. } = &contact.state else {
            return false;
        };
        let name = name.clone();
        let Some(key) = contact.agent_key else {
            return false;
        };
        if let Some(timer) = contact.offer_timer.take() {
            self.timers.remove(&timer);
        }
        if how != OfferEnd::Returned(ReturnReason::AgentOffline)
            && how != OfferEnd::Returned(ReturnReason::AgentNotReady)
            && how != OfferEnd::Returned(ReturnReason::AgentRemoved)
        {
            contact.excluded.push(key);
        }
        let queue = contact.queue.clone();
        self.release(id);
        let slot = self.queue_slot(id);
        self.queues[slot]
            .as_mut()
            .expect("queue present")
            .offered_now -= 1;
        self.emit(match how {
            OfferEnd::Rejected => EventBody::OfferRejected {
                contact: id,
                agent: name,
                queue,
            },
            OfferEnd::TimedOut => EventBody::OfferTimedOut {
                contact: id,
                agent: name,
                queue,
            },
            OfferEnd::Returned(reason) => EventBody::OfferReturned {
                contact: id,
                agent: name,
                queue,
                reason,
            },
        });
        let contact = self.contact_mut(id);
        if contact.wait_expired {
            self.expire(id);
            return false;
        }
        contact.state = ContactState::Waiting;
        self.add_waiting(id);
        true
    }

    /// Takes a contact off its agent (offer or assignment), freeing the capacity.
    fn release(&mut self, id: ContactId) {
        let contact = self.contacts.get_mut(&id).expect("live contact");
        let Some(key) = contact.agent_key.take() else {
            return;
        };
        let (cost, channel) = (contact.cost, contact.channel);
        let agent = self.agent_mut(key);
        agent.load -= cost;
        agent.per_channel[channel.index()] -= 1;
        agent.offers.retain(|c| *c != id);
        agent.assigned.retain(|c| *c != id);
        self.sync_index(key);
    }

    /// Moves a contact to its terminal state and into the history.
    fn end_contact(&mut self, id: ContactId, terminal: ContactState) -> ContactView {
        let now = self.now;
        if self.contacts[&id].state == ContactState::Waiting {
            self.remove_waiting(id);
        }
        let holder = self.contacts[&id].state.agent().cloned();
        self.release(id);
        let slot = self.queue_slot(id);
        self.queues[slot].as_mut().expect("queue present").live -= 1;
        let mut contact = self.contacts.remove(&id).expect("live contact");
        for timer in [contact.offer_timer.take(), contact.wait_timer.take()]
            .into_iter()
            .flatten()
        {
            self.timers.remove(&timer);
        }
        contact.state = terminal;
        let mut view = contact.view();
        view.ended_at = Some(now);
        self.ended.insert(id, view.clone());
        while self.ended.len() > self.config.ended_history {
            self.ended.pop_first();
        }
        self.emit(EventBody::ContactEnded {
            contact: view.clone(),
            agent: holder,
        });
        view
    }

    fn add_waiting(&mut self, id: ContactId) {
        let contact = self.contacts.get_mut(&id).expect("live contact");
        let slot = *self
            .queue_ids
            .get(&*contact.queue)
            .expect("queue of live contact");
        let group = self.waiting.insert(
            slot,
            contact.channel,
            &contact.requirements,
            (Reverse(contact.priority), id),
        );
        contact.group = Some(group);
        let priority = contact.priority;
        let queue = self.queues[slot].as_mut().expect("queue present");
        *queue.waiting_by_priority.entry(priority).or_default() += 1;
        queue.waiting.insert(id);
    }

    fn remove_waiting(&mut self, id: ContactId) {
        let contact = self.contacts.get_mut(&id).expect("live contact");
        let Some(group) = contact.group.take() else {
            return;
        };
        let priority = contact.priority;
        self.waiting.remove(group, (Reverse(priority), id));
        let slot = self.queue_slot(id);
        let queue = self.queues[slot].as_mut().expect("queue present");
        if let Some(n) = queue.waiting_by_priority.get_mut(&priority) {
            *n -= 1;
            if *n == 0 {
                queue.waiting_by_priority.remove(&priority);
            }
        }
        queue.waiting.remove(&id);
    }

    // ----------------------------------------------------------------------------------------
    // Helpers
    // ----------------------------------------------------------------------------------------

    fn emit(&mut self, body: EventBody) {
        self.events.push(Event { at: self.now, body });
    }

    fn agent_key(&self, id: &str) -> Result<AgentKey, CoreError> {
        self.agent_ids
            .get(id)
            .copied()
            .ok_or_else(|| CoreError::not_found(format!("agent {id:?} does not exist")))
    }

    fn agent(&self, key: AgentKey) -> &Agent {
        self.agents[key as usize].as_ref().expect("agent present")
    }

    fn agent_mut(&mut self, key: AgentKey) -> &mut Agent {
        self.agents[key as usize].as_mut().expect("agent present")
    }

    fn agent_applied(&self, key: AgentKey) -> Applied {
        Applied::Agent {
            created: false,
            agent: self.agent(key).view(),
        }
    }

    fn contact_mut(&mut self, id: ContactId) -> &mut Contact {
        self.contacts.get_mut(&id).expect("live contact")
    }

    fn queue_slot(&self, id: ContactId) -> usize {
        *self
            .queue_ids
            .get(&*self.contacts[&id].queue)
            .expect("queue of live contact")
    }

    fn intern_requirements(&mut self, skills: &[SkillLevel]) -> Vec<(SkillId, u8)> {
        skills
            .iter()
            .map(|s| (self.skills.intern(&s.skill), s.level.get()))
            .collect()
    }

    fn unindex(&mut self, key: AgentKey) {
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        if let Some(at) = agent.indexed_at.take() {
            self.available
                .remove(key, &agent.spec.id, at, &agent.skills);
        }
    }

    /// Puts the agent in the available index under its current key exactly when it is available.
    fn sync_index(&mut self, key: AgentKey) {
        self.unindex(key);
        let agent = self.agents[key as usize].as_mut().expect("agent present");
        if agent.is_available() {
            self.available
                .insert(key, &agent.spec.id, agent.idle_since, &agent.skills);
            agent.indexed_at = Some(agent.idle_since);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Invariants
    // ----------------------------------------------------------------------------------------

    /// Verifies every invariant in the module documentation from scratch. For tests: it walks
    /// every agent against every waiting contact.
    pub fn check_invariants(&self) -> Result<(), String> {
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
            if load != agent.load || per_channel != agent.per_channel {
                return Err(format!("agent {id} load {} != held {load}", agent.load));
            }
            if agent.load > agent.capacity {
                return Err(format!("agent {id} over capacity"));
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
                    if !self.available.contains(key, &agent.spec.id, at) {
                        return Err(format!("agent {id} missing from the index"));
                    }
                    indexed += 1;
                }
                None if !should => {}
                _ => return Err(format!("agent {id} index membership is stale")),
            }
        }
        if indexed != self.available.len() {
            return Err("the available index holds agents it should not".into());
        }
        let mut waiting = 0;
        for (id, c) in &self.contacts {
            match &c.state {
                ContactState::Waiting => {
                    waiting += 1;
                    let group = c
                        .group
                        .and_then(|g| self.waiting.group(g))
                        .ok_or(format!("waiting contact {id} is in no group"))?;
                    if !group.members.contains(&(Reverse(c.priority), *id)) {
                        return Err(format!("waiting contact {id} missing from its group"));
                    }
                    if c.agent_key.is_some() {
                        return Err(format!("waiting contact {id} has an agent"));
                    }
                }
                ContactState::Offered { .. } | ContactState::Assigned { .. } => {
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
        if grouped != waiting || self.waiting_count() != waiting {
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
        // Work conservation.
        for (key, agent) in self.agents.iter().enumerate() {
            let Some(agent) = agent.as_ref().filter(|a| a.indexed_at.is_some()) else {
                continue;
            };
            for c in self.contacts.values() {
                if c.state == ContactState::Waiting
                    && agent.has_room(c.channel, c.cost)
                    && agent.meets(&c.requirements)
                    && !c.excluded.contains(&(key as AgentKey))
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

fn agent_facts(agent: &Agent) -> AgentFacts {
    AgentFacts {
        idle_since: agent.idle_since,
        load: agent.load,
        capacity: agent.capacity,
        handled: agent.handled,
    }
}

fn contact_facts(contact: &Contact) -> ContactFacts {
    ContactFacts {
        sequence: contact.id,
        enqueued_at: contact.enqueued_at,
        priority: contact.priority,
        customer_value: contact.customer_value,
        channel: contact.channel,
    }
}

fn state_name(state: &ContactState) -> &'static str {
    match state {
        ContactState::Waiting => "waiting",
        ContactState::Offered { .. } => "offered",
        ContactState::Assigned { .. } => "assigned",
        ContactState::Completed { .. } => "completed",
        ContactState::Abandoned => "abandoned",
        ContactState::Cancelled => "cancelled",
        ContactState::Expired => "expired",
    }
}

fn validate_reason(reason: &str) -> Result<(), CoreError> {
    if reason.is_empty() || reason.len() > 64 || reason.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "a not-ready reason must be 1-64 bytes without control characters",
        ));
    }
    Ok(())
}
