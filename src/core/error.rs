//! The core's one error type, typed by meaning. Every refusal names what was wrong; a refused
//! command changes nothing (the engine validates before it mutates), with one documented
//! exception: [`CoreError::QueueFull`] counts the contact as refused at the door in the queue's
//! figures.
//!
//! Each variant belongs to exactly one class ([`CoreError::class`]): the gRPC and HTTP layers map
//! classes to their status codes in one place each, and callers inside the process (the
//! simulator, the runtime) match on the variants themselves.

use thiserror::Error;

use super::types::{Channel, ContactId};

/// Why the engine refused a command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// The request itself is malformed (bad level, empty id, unknown strategy, out-of-range
    /// value…); the message says which field and why.
    #[error("{0}")]
    Invalid(String),

    #[error("queue {queue:?} does not exist")]
    UnknownQueue { queue: String },
    #[error("agent {agent:?} does not exist")]
    UnknownAgent { agent: String },
    #[error("contact {contact} does not exist")]
    UnknownContact { contact: ContactId },

    #[error("contact {contact} has already ended")]
    ContactEnded { contact: ContactId },
    #[error("contact {contact} is offered to another agent")]
    OfferedToAnother { contact: ContactId },
    #[error("contact {contact} is not offered ({state})")]
    NotOffered {
        contact: ContactId,
        state: &'static str,
    },
    #[error("contact {contact} is assigned to another agent")]
    AssignedToAnother { contact: ContactId },
    #[error("contact {contact} is not assigned ({state}); accept it first")]
    NotAssigned {
        contact: ContactId,
        state: &'static str,
    },
    #[error("contact {contact} is not waiting ({state}); only a waiting contact can be updated")]
    NotWaiting {
        contact: ContactId,
        state: &'static str,
    },
    #[error("contact {contact} was accepted by an agent; complete it instead")]
    AlreadyAccepted { contact: ContactId },
    #[error("queue {queue:?} still has {live} live contacts; cancel or complete them first")]
    QueueInUse { queue: String, live: u32 },
    #[error(
        "queue {queue:?} is where an exception rule of queue {by:?} moves contacts; \
         change that rule first"
    )]
    MoveTarget { queue: String, by: String },
    #[error(
        "agent {agent:?} cannot serve this contact in queue {queue:?} (its skills or channels)"
    )]
    AgentCannotServe { agent: String, queue: String },
    #[error("contact {contact} has a consult under way; end it first")]
    ConsultUnderWay { contact: ContactId },
    #[error("contact {contact} has no consult under way")]
    NoConsult { contact: ContactId },
    #[error("the consulted agent has not taken the consult on contact {contact} yet")]
    ConsultNotAccepted { contact: ContactId },
    #[error("{}", match agent {
        Some(a) => format!("agent {a:?} cannot take a consult in queue {queue:?} now (not ready, busy, or lacking the queue's skills)"),
        None => format!("no agent of queue {queue:?} can take a consult now"),
    })]
    NoAgentForConsult {
        queue: String,
        agent: Option<String>,
    },
    #[error("contact {contact} is already a callback")]
    AlreadyCallback { contact: ContactId },
    #[error("contact {contact} is not a callback")]
    NotCallback { contact: ContactId },
    #[error(
        "callback {contact} has had {made} calls reported; a report of call {attempt} must repeat call {attempt}'s agent and result, or be call {next}",
        next = made + 1
    )]
    AttemptMismatch {
        contact: ContactId,
        attempt: u32,
        made: u32,
    },
    #[error(
        "agent {agent:?} holds {held} accepted contacts or pieces of external work; end them first"
    )]
    AgentHoldsContacts { agent: String, held: usize },
    #[error("agent {agent:?} holds {load} capacity units; capacity {capacity} is too low")]
    CapacityBelowLoad {
        agent: String,
        load: u32,
        capacity: u32,
    },
    #[error("agent {agent:?} holds {held} {channel} contacts; the new limit is lower")]
    ChannelLimitBelowHeld {
        agent: String,
        channel: Channel,
        held: u32,
    },

    #[error("agent {agent:?} is not a bot; people transfer contacts, bots escalate them")]
    NotABot { agent: String },
    #[error("agent {agent:?} is offline; it logs in before it registers work")]
    AgentOffline { agent: String },
    #[error(
        "agent {agent:?} has no room for {channel} work costing {cost} \
         ({load} of {capacity} held, or its {channel} limit reached)"
    )]
    NoRoomForWork {
        agent: String,
        channel: Channel,
        cost: u32,
        load: u32,
        capacity: u32,
    },
    #[error("agent {agent:?} has no external work {id:?}")]
    UnknownWork { agent: String, id: String },
    #[error("agent {agent:?} already holds external work {id:?}")]
    WorkExists { agent: String, id: String },

    #[error(
        "request id {request_id:?} was used for another enqueue (contact {contact}); \
         a retry must repeat the same request"
    )]
    RequestIdReused {
        request_id: String,
        contact: ContactId,
    },

    #[error("queue {queue:?} is full: {max_length} contacts wait (its max_length)")]
    QueueFull { queue: String, max_length: u32 },
    #[error("the live-contact limit ({limit}) is reached")]
    LiveContactLimit { limit: usize },
    #[error("the agent limit ({limit}) is reached")]
    AgentLimit { limit: usize },
    #[error("the queue limit ({limit}) is reached")]
    QueueLimit { limit: usize },
    #[error("the skill-name limit ({limit}) is reached")]
    SkillNameLimit { limit: usize },
    #[error("{what} has {skills} skills; the skills-per-agent limit is {limit}")]
    TooManySkills {
        what: &'static str,
        skills: usize,
        limit: usize,
    },
}

/// The kind of refusal, for the transports' status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Malformed input: INVALID_ARGUMENT.
    Invalid,
    /// A named queue, agent or contact does not exist: NOT_FOUND.
    NotFound,
    /// Well-formed, but the current state forbids it: FAILED_PRECONDITION.
    Precondition,
    /// A limit is reached: RESOURCE_EXHAUSTED.
    Exhausted,
    /// The request would create what an earlier request created: ALREADY_EXISTS.
    Exists,
}

impl CoreError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        CoreError::Invalid(msg.into())
    }

    pub fn class(&self) -> ErrorClass {
        use CoreError::*;
        match self {
            Invalid(_) => ErrorClass::Invalid,
            UnknownQueue { .. }
            | UnknownAgent { .. }
            | UnknownContact { .. }
            | UnknownWork { .. } => ErrorClass::NotFound,
            ContactEnded { .. }
            | OfferedToAnother { .. }
            | NotOffered { .. }
            | AssignedToAnother { .. }
            | NotAssigned { .. }
            | NotWaiting { .. }
            | AlreadyAccepted { .. }
            | QueueInUse { .. }
            | MoveTarget { .. }
            | AlreadyCallback { .. }
            | AgentCannotServe { .. }
            | ConsultUnderWay { .. }
            | NoConsult { .. }
            | ConsultNotAccepted { .. }
            | NoAgentForConsult { .. }
            | NotCallback { .. }
            | AttemptMismatch { .. }
            | AgentHoldsContacts { .. }
            | CapacityBelowLoad { .. }
            | ChannelLimitBelowHeld { .. }
            | AgentOffline { .. }
            | NotABot { .. }
            | NoRoomForWork { .. } => ErrorClass::Precondition,
            QueueFull { .. }
            | LiveContactLimit { .. }
            | AgentLimit { .. }
            | QueueLimit { .. }
            | SkillNameLimit { .. }
            | TooManySkills { .. } => ErrorClass::Exhausted,
            RequestIdReused { .. } | WorkExists { .. } => ErrorClass::Exists,
        }
    }
}
