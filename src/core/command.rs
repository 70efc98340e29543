//! The engine's inputs and their direct results. A [`Command`] is plain data: the same sequence
//! of commands at the same times always gives the same state and events, which is what makes
//! replay, simulation and property tests possible.

use super::agent::{AgentSpec, AgentView, Presence};
use super::contact::{
    AttemptResult, CallbackRequest, CancelReason, ContactUpdate, ContactView, NewContact, Outcome,
};
use super::queue::QueueConfig;
use super::types::{ContactId, SkillLevel};

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub enum Command {
    /// Create or update a queue.
    PutQueue(Box<QueueConfig>),
    DeleteQueue {
        name: String,
    },
    /// Create (offline) or update an agent.
    PutAgent(AgentSpec),
    RemoveAgent {
        id: String,
    },
    SetPresence {
        agent: String,
        presence: Presence,
    },
    /// A desktop session attached to or detached from an agent. Detaching takes the agent offline.
    Session {
        agent: String,
        attached: bool,
    },
    Enqueue(NewContact),
    Cancel {
        contact: ContactId,
        reason: CancelReason,
    },
    /// Blind transfer: the agent holding an assigned contact hands it to `queue`, where it
    /// waits again (requiring the queue's defaults raised by `required_skills`).
    Transfer {
        contact: ContactId,
        agent: String,
        queue: String,
        required_skills: Vec<SkillLevel>,
        reason: String,
        /// Blind to a named agent: offered to that agent only, for a while; `queue` is the
        /// fallback it waits in after a timeout or a decline.
        to_agent: Option<NamedAgent>,
    },
    /// A bot hands a contact it holds to a queue of people: a blind transfer that adds the
    /// bot's `summary` (context key `bot.summary`) and the `fields` it collected to the
    /// contact's context, so the person's offer carries them, and counts as an escalation (not
    /// containment) in the bot's queue.
    Escalate {
        contact: ContactId,
        agent: String,
        queue: String,
        summary: String,
        fields: std::collections::BTreeMap<String, String>,
        required_skills: Vec<SkillLevel>,
    },
    /// Consult (warm transfer): the agent holding an assigned contact brings in another agent
    /// of `queue` (the one named, or the longest idle available who can serve it there); both
    /// hold the contact's capacity until the consult ends.
    Consult {
        contact: ContactId,
        agent: String,
        queue: String,
        to_agent: Option<String>,
        reason: String,
    },
    /// The holder ends its consult: `transfer` hands the contact to the consulted agent (who
    /// accepted); otherwise the consulted agent is let go and the holder keeps the contact.
    EndConsult {
        contact: ContactId,
        agent: String,
        transfer: bool,
    },
    /// A waiting customer asks to be called back: the contact keeps its place and becomes a
    /// `callback` contact, offered when its turn comes (not before its time).
    RequestCallback {
        contact: ContactId,
        request: CallbackRequest,
    },
    /// The agent holding a callback reports how its call went. `attempt` names the call: 1 for
    /// the contact's first, counting every call reported before it; 0 for the one the agent
    /// makes now (older frontends, and records written before the field).
    CallbackAttempt {
        contact: ContactId,
        agent: String,
        result: AttemptResult,
        attempt: u32,
    },
    /// Changes a waiting contact; it is re-keyed in its queue and routed again at once.
    UpdateContact {
        contact: ContactId,
        update: ContactUpdate,
    },
    /// The agent's desktop registers work the router did not assign (an outbound call, a task
    /// from another system): it holds capacity, and shows in the agent's state and occupancy,
    /// until `EndExternalWork`. Refused when the agent is offline or has no room for it.
    StartExternalWork {
        agent: String,
        id: String,
        channel: super::types::Channel,
        /// `None`: the channel's cost.
        cost: Option<u32>,
        label: String,
    },
    EndExternalWork {
        agent: String,
        id: String,
    },
    Accept {
        contact: ContactId,
        agent: String,
    },
    Reject {
        contact: ContactId,
        agent: String,
    },
    Complete {
        contact: ContactId,
        agent: String,
        outcome: Outcome,
    },
    /// New engine-wide settings and limits (the server applies its configuration file at every
    /// start, so the journal replays each command under the settings it first ran under).
    /// A journal record names the command by its protobuf tag (routerd.journal.v1), not by its
    /// place in this enum.
    Configure(super::engine::EngineConfig),
    /// Time advanced, nothing else: the deadlines due by then fire. The runtime journals one for
    /// a batch whose events all came from deadlines, so that every event it publishes follows a
    /// durable record (a writer whose log was taken over cannot publish a timeout the log does
    /// not hold). Replay gives the same events with or without it.
    Tick,
}

impl Command {
    /// Whether refusing this command still changes the engine: an enqueue refused at a full
    /// queue counts as a contact refused at the door in the queue's figures. Every other refusal
    /// changes nothing. A journal keeps such commands even when refused, so replay counts alike.
    pub fn counts_when_refused(&self) -> bool {
        matches!(self, Command::Enqueue(_))
    }
}

/// The agent a transfer names, and how long the contact waits for that agent alone.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct NamedAgent {
    pub agent: String,
    /// 1-3,600 seconds.
    pub wait_secs: u32,
}

/// What an accepted command returns to its caller.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Queue {
        created: bool,
        config: QueueConfig,
    },
    Agent {
        created: bool,
        agent: AgentView,
    },
    Enqueued {
        contact: ContactView,
        /// 1-based position among the queue's waiting contacts; 0 if offered at once.
        position: u32,
        estimated_wait_ms: Option<u64>,
    },
    /// An enqueue whose request id was answered within the request window, with the same
    /// payload: the first answer, and nothing changed.
    EnqueueRepeated(super::engine::EnqueueAnswer),
    Contact(ContactView),
    Done,
}
