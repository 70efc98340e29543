//! What the engine tells the world: every decision and state change, in the order it happened.
//!
//! The core emits [`Event`]s without sequence numbers; the event bus numbers them as it publishes,
//! so the numbering is gap-free and matches the order of application.

use std::sync::Arc;

use super::agent::AgentView;
use super::contact::{ContactView, Firing};
use super::history::Interaction;
use super::queue::QueueConfig;
use super::strategy::{AgentTerms, ContactTerms, Strategy};
use super::types::{Channel, ContactId, Millis};

/// Why a decision was taken now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A contact arrived or returned to its queue.
    ContactArrived,
    AgentReady,
    CapacityFreed,
    WrapUpEnded,
    ConfigurationChanged,
    /// A relaxation step loosened the contact's requirements.
    RequirementsRelaxed,
    /// The contact's priority, value, requirements or context changed (UpdateContact).
    ContactUpdated,
    /// An agent transferred the contact to this queue.
    ContactTransferred,
    /// The contact stopped waiting for its preferred (affinity) agent.
    AffinityWaitEnded,
    /// An exception rule of its queue moved it, or changed its priority or requirements.
    ExceptionFired,
    /// A callback's time came (its `not_before`, or a failed attempt's retry delay).
    CallbackDue,
    /// The agent holding the contact asked to consult another agent (warm transfer).
    ConsultRequested,
    /// The contact's queue reached its release wait: agents held back for another queue
    /// (agent reservation) may take it.
    ReservationReleased,
    /// The agent's only work became interruptible (it accepted an email and has no room left):
    /// a waiting contact of a channel that interrupts it may be offered (see `interruption`).
    WorkInterruptible,
}

/// What a decision compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A contact arrived (or came back): eligible agents were compared.
    AgentChosen,
    /// An agent had room: the waiting contacts it can serve were compared.
    ContactChosen,
}

/// The value of every score term for one candidate (weights are on the decision's strategy).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Terms {
    Agent(AgentTerms),
    Contact(ContactTerms),
}

/// One (agent, contact) pair a decision weighed: agents for an arriving contact, contacts for an
/// agent with room.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub agent: Arc<str>,
    pub contact: ContactId,
    pub score: f64,
    pub idle_ms: u64,
    pub terms: Terms,
}

/// Agents a decision could not offer the contact to, by reason. `not_ready`, `wrap_up` and
/// `no_capacity` (full) count logged-in agents holding the contact's rarest required skill (every
/// logged-in agent when it requires none); `missing_skill`, `declined` and the rest of
/// `no_capacity` (no room for this channel) count agents the decision walked past.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exclusions {
    pub not_ready: u32,
    pub wrap_up: u32,
    pub no_capacity: u32,
    pub missing_skill: u32,
    /// Agents that rejected this contact or let its offer time out.
    pub declined: u32,
    /// Eligible agents passed over for being above the queue's occupancy cap.
    pub over_cap: u32,
    /// Every eligible agent was above the cap, so the best of them was chosen anyway.
    pub cap_waived: bool,
    /// Eligible agents held back (kept idle) for a queue closer to missing its target.
    pub held: u32,
}

/// The record of one match: who got what, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub contact: ContactId,
    pub agent: Arc<str>,
    pub queue: Arc<str>,
    /// The queue's strategy (its label, configuration version and weights) at the decision.
    pub strategy: Arc<Strategy>,
    pub side: Side,
    pub trigger: Trigger,
    pub waited_ms: u64,
    /// The chosen pair first, then runners-up, best first (at most
    /// [`super::strategy::CANDIDATES_RECORDED`]).
    pub candidates: Vec<Candidate>,
    /// Agents walked (agent side) or waiting-contact heads scored (contact side).
    pub considered: u32,
    pub excluded: Exclusions,
    /// Relaxation steps in force for the contact (0: its requirements as enqueued).
    pub relaxation_step: u32,
    /// The requirement set the agent was chosen under (index in [`super::Contact::sets`]:
    /// 0 for the requirements, i for the i-th alternative).
    pub alternative: u32,
    /// The customer's recent interactions (the conversation's, when no customer id), oldest
    /// first: the context the agent sees with the offer.
    pub history: Arc<[Interaction]>,
    pub offer_deadline: Millis,
    pub channel: Channel,
    pub priority: u32,
    /// The exception rules that fired for the contact before this decision, oldest first.
    pub exceptions: Arc<[Firing]>,
    /// For a contact that prefers agents (named at enqueue, recalled, or named by a transfer):
    /// whether the agent chosen is one of them. `None` when it prefers nobody.
    pub preferred_met: Option<bool>,
}

/// Why an offer went back to the queue without the agent answering it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnReason {
    AgentNotReady,
    AgentOffline,
    AgentRemoved,
}

impl ReturnReason {
    pub fn code(self) -> &'static str {
        match self {
            ReturnReason::AgentNotReady => "agent-not-ready",
            ReturnReason::AgentOffline => "agent-offline",
            ReturnReason::AgentRemoved => "agent-removed",
        }
    }
}

/// Why an offer left an agent's desktop (the session's `OfferWithdrawn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withdrawal {
    /// The agent did not answer within the queue's offer timeout.
    TimedOut,
    /// The agent (or a frontend on its behalf) rejected it.
    Rejected,
    /// It went back to the queue because the agent left: see [`ReturnReason`].
    Returned(ReturnReason),
    /// The customer hung up (CancelContact with ABANDONED).
    Abandoned,
    /// The frontend withdrew it (CancelContact with WITHDRAWN).
    Cancelled,
    /// The queue's maximum wait passed.
    Expired,
    /// It was completed (only a contact the agent was assigned reaches this).
    Completed,
    /// The agent (or a frontend on its behalf) transferred it to a queue.
    Transferred,
    /// A callback attempt the agent reported failed: the contact waits for its retry, or
    /// ended unreached after its last attempt.
    CallbackNotReached,
    /// The consult this agent was brought into ended without the contact being handed over.
    ConsultEnded,
}

/// How a consult ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsultEnd {
    /// The consulted agent declined it.
    Declined,
    /// The consulted agent did not answer in time (the target queue's offer timeout).
    TimedOut,
    /// The holder ended it and kept the contact.
    Cancelled,
    /// The consulted agent left (not ready while it rang, offline, removed).
    AgentLeft,
    /// The holder handed the contact over: the consulted agent holds it now.
    Transferred,
}

impl ConsultEnd {
    pub fn code(self) -> &'static str {
        match self {
            ConsultEnd::Declined => "declined",
            ConsultEnd::TimedOut => "timed-out",
            ConsultEnd::Cancelled => "cancelled",
            ConsultEnd::AgentLeft => "agent-left",
            ConsultEnd::Transferred => "transferred",
        }
    }
}

impl Withdrawal {
    /// The stable text code, as sessions sent it before the enum existed.
    pub fn code(self) -> &'static str {
        match self {
            Withdrawal::TimedOut => "timed-out",
            Withdrawal::Rejected => "rejected",
            Withdrawal::Returned(r) => r.code(),
            Withdrawal::Abandoned => "abandoned",
            Withdrawal::Cancelled => "cancelled",
            Withdrawal::Expired => "expired",
            Withdrawal::Completed => "completed",
            Withdrawal::Transferred => "transferred",
            Withdrawal::CallbackNotReached => "callback-not-reached",
            Withdrawal::ConsultEnded => "consult-ended",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventBody {
    ContactQueued {
        contact: ContactView,
    },
    /// An agent handed an assigned contact to a queue (blind transfer): its view after the
    /// transfer (the last of `transfers` says from where), and the agent it left.
    ContactTransferred {
        contact: ContactView,
        agent: Arc<str>,
    },
    /// An exception rule of the contact's queue fired: the contact's view after it (a move
    /// shows the new queue; an `end` the diverted contact, whose `ContactEnded` follows), and
    /// the firing (its queue is where the rule is).
    ExceptionFired {
        contact: ContactView,
        firing: Firing,
    },
    /// The consulted agent took the consult: `agent` now talks with the holder (the view's
    /// `consult`), and holds the contact's capacity too.
    ConsultAccepted {
        contact: ContactView,
        agent: Arc<str>,
    },
    /// A consult ended (`how`): the consulted agent (`agent`) is let go, or, for `Transferred`,
    /// now holds the contact (its holder left; `ContactTransferred` went before).
    ConsultEnded {
        contact: ContactView,
        agent: Arc<str>,
        how: ConsultEnd,
    },
    /// A waiting customer asked to be called back: the contact's view as a callback.
    CallbackRequested {
        contact: ContactView,
    },
    /// The agent holding a callback reported an attempt (the last of the view's attempts): a
    /// failed one with attempts left puts it back to wait for its retry (`ContactEnded`, state
    /// `Unreached`, follows a failed last one).
    CallbackAttempted {
        contact: ContactView,
        agent: Arc<str>,
    },
    /// A waiting contact changed (UpdateContact): its view after the change, and which fields.
    ContactUpdated {
        contact: ContactView,
        changed: Vec<&'static str>,
    },
    Decision(Decision),
    OfferAccepted {
        contact: ContactId,
        agent: Arc<str>,
        queue: Arc<str>,
        waited_ms: u64,
    },
    OfferRejected {
        contact: ContactId,
        agent: Arc<str>,
        queue: Arc<str>,
    },
    OfferTimedOut {
        contact: ContactId,
        agent: Arc<str>,
        queue: Arc<str>,
    },
    OfferReturned {
        contact: ContactId,
        agent: Arc<str>,
        queue: Arc<str>,
        reason: ReturnReason,
    },
    /// The contact reached its terminal state (the view's `state` says which). `agent` is the
    /// agent that held it (offer or assignment) at that moment, if any.
    ContactEnded {
        contact: ContactView,
        agent: Option<Arc<str>>,
    },
    AgentStateChanged {
        agent: AgentView,
    },
    AgentChanged {
        agent: AgentView,
        removed: bool,
    },
    QueueChanged {
        queue: QueueConfig,
        deleted: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at: Millis,
    pub body: EventBody,
}

impl Event {
    /// The queue this event concerns, if any.
    pub fn queue(&self) -> Option<&str> {
        match &self.body {
            EventBody::ContactQueued { contact }
            | EventBody::ContactUpdated { contact, .. }
            | EventBody::ContactTransferred { contact, .. }
            | EventBody::CallbackRequested { contact }
            | EventBody::CallbackAttempted { contact, .. }
            | EventBody::ContactEnded { contact, .. } => Some(&contact.queue),
            EventBody::ConsultAccepted { contact, .. }
            | EventBody::ConsultEnded { contact, .. } => contact
                .consult
                .as_ref()
                .map(|c| &*c.queue)
                .or(Some(&contact.queue)),
            EventBody::ExceptionFired { firing, .. } => Some(&firing.queue),
            EventBody::Decision(d) => Some(&d.queue),
            EventBody::OfferAccepted { queue, .. }
            | EventBody::OfferRejected { queue, .. }
            | EventBody::OfferTimedOut { queue, .. }
            | EventBody::OfferReturned { queue, .. } => Some(queue),
            EventBody::QueueChanged { queue, .. } => Some(&queue.name),
            EventBody::AgentStateChanged { .. } | EventBody::AgentChanged { .. } => None,
        }
    }

    /// The agent this event concerns, if any.
    pub fn agent(&self) -> Option<&str> {
        match &self.body {
            EventBody::Decision(d) => Some(&d.agent),
            EventBody::OfferAccepted { agent, .. }
            | EventBody::OfferRejected { agent, .. }
            | EventBody::OfferTimedOut { agent, .. }
            | EventBody::OfferReturned { agent, .. } => Some(agent),
            EventBody::ContactEnded { agent, .. } => agent.as_deref(),
            EventBody::ContactTransferred { agent, .. }
            | EventBody::CallbackAttempted { agent, .. }
            | EventBody::ConsultAccepted { agent, .. }
            | EventBody::ConsultEnded { agent, .. } => Some(agent),
            EventBody::AgentStateChanged { agent } | EventBody::AgentChanged { agent, .. } => {
                Some(&agent.spec.id)
            }
            EventBody::ContactQueued { .. }
            | EventBody::ContactUpdated { .. }
            | EventBody::ExceptionFired { .. }
            | EventBody::CallbackRequested { .. }
            | EventBody::QueueChanged { .. } => None,
        }
    }

    /// The contact this event concerns, if any.
    pub fn contact(&self) -> Option<ContactId> {
        match &self.body {
            EventBody::ContactQueued { contact }
            | EventBody::ContactUpdated { contact, .. }
            | EventBody::ContactTransferred { contact, .. }
            | EventBody::ExceptionFired { contact, .. }
            | EventBody::CallbackRequested { contact }
            | EventBody::CallbackAttempted { contact, .. }
            | EventBody::ConsultAccepted { contact, .. }
            | EventBody::ConsultEnded { contact, .. }
            | EventBody::ContactEnded { contact, .. } => Some(contact.id),
            EventBody::Decision(d) => Some(d.contact),
            EventBody::OfferAccepted { contact, .. }
            | EventBody::OfferRejected { contact, .. }
            | EventBody::OfferTimedOut { contact, .. }
            | EventBody::OfferReturned { contact, .. } => Some(*contact),
            _ => None,
        }
    }
}
