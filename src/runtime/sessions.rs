//! Desktop sessions: which agent's desktop is attached, and what each is told.
//!
//! Sessions live in the runtime, not in the core: the engine thread maps agent ids to the
//! session that is attached, replaces an older session by a newer one, and turns each batch's
//! events into messages for the sessions they concern. The messages leave only when the batch
//! is durable ([`Delivery::send`], on the log's thread); a session whose queue is full has stopped
//! reading and is reported back, to be taken offline.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::core::{
    AgentView, ConsultEnd, ContactState, ContactView, Engine, Event, EventBody, Interaction,
    Millis, Withdrawal,
};

/// Depth of each desktop session's outgoing queue. Offers per agent are bounded by its capacity,
/// so a session this far behind has stopped reading.
pub const SESSION_BUFFER: usize = 256;

/// What a desktop session is told.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionMessage {
    Offer {
        contact: ContactView,
        deadline: Millis,
        /// The customer's recent interactions, oldest first.
        history: Arc<[Interaction]>,
    },
    /// An offer this agent held is gone, and why.
    Withdrawn {
        contact: u64,
        reason: Withdrawal,
    },
    /// An offer was accepted (by the desktop or by a frontend on the agent's behalf).
    Assigned(ContactView),
    StateChanged(AgentView),
    /// The session ends: a newer session for the same agent took over, or the agent was removed.
    Closed {
        reason: &'static str,
    },
}

struct Session {
    id: u64,
    tx: mpsc::Sender<SessionMessage>,
}

/// The attached sessions, by agent id.
#[derive(Default)]
pub struct Sessions {
    attached: HashMap<String, Session>,
    next_id: u64,
}

/// A message for one session, sent once its batch is durable.
pub struct Delivery {
    pub agent: String,
    pub session: u64,
    tx: mpsc::Sender<SessionMessage>,
    message: SessionMessage,
}

impl Delivery {
    /// Sends without waiting; false if the session stopped reading (or is gone).
    pub fn send(self) -> bool {
        self.tx.try_send(self.message).is_ok()
    }
}

impl Sessions {
    /// Attaches a new session for `agent`, replacing any older one (which is told it was
    /// replaced, in `out`). Gives the new session's id.
    pub fn attach(
        &mut self,
        agent: String,
        tx: mpsc::Sender<SessionMessage>,
        out: &mut Vec<Delivery>,
    ) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        if let Some(old) = self.attached.insert(agent.clone(), Session { id, tx }) {
            out.push(Delivery {
                agent,
                session: old.id,
                tx: old.tx,
                message: SessionMessage::Closed {
                    reason: "replaced by a newer session for this agent",
                },
            });
        }
        id
    }

    /// Whether `session` is `agent`'s current session.
    pub fn is_current(&self, agent: &str, session: u64) -> bool {
        self.attached.get(agent).is_some_and(|s| s.id == session)
    }

    pub fn remove(&mut self, agent: &str) {
        self.attached.remove(agent);
    }

    /// The messages `events` mean for the attached sessions, appended to `out`; sessions of
    /// removed agents are forgotten.
    pub fn deliveries(&mut self, events: &[Event], engine: &Engine, out: &mut Vec<Delivery>) {
        if self.attached.is_empty() {
            return;
        }
        let mut removed = Vec::new();
        for event in events {
            let Some(agent) = event.agent() else { continue };
            let Some(session) = self.attached.get(agent) else {
                continue;
            };
            let Some(message) = message_for(event, engine) else {
                continue;
            };
            if matches!(message, SessionMessage::Closed { .. }) {
                removed.push(agent.to_string());
            }
            out.push(Delivery {
                agent: agent.to_string(),
                session: session.id,
                tx: session.tx.clone(),
                message,
            });
        }
        for agent in removed {
            self.attached.remove(&agent);
        }
    }
}

/// What one event tells the desktop of the agent it concerns, if anything.
fn message_for(event: &Event, engine: &Engine) -> Option<SessionMessage> {
    Some(match &event.body {
        EventBody::Decision(d) => SessionMessage::Offer {
            contact: engine.contact_view(d.contact)?,
            deadline: d.offer_deadline,
            history: d.history.clone(),
        },
        EventBody::OfferAccepted { contact, .. } => {
            SessionMessage::Assigned(engine.contact_view(*contact)?)
        }
        // The consulted agent took the consult: on its desktop, as assigned (the view's
        // `consult` says whose it still is).
        EventBody::ConsultAccepted { contact, .. } => SessionMessage::Assigned(contact.clone()),
        EventBody::ConsultEnded { contact, how, .. } if *how != ConsultEnd::Transferred => {
            SessionMessage::Withdrawn {
                contact: contact.id,
                reason: Withdrawal::ConsultEnded,
            }
        }
        EventBody::OfferTimedOut { contact, .. } => SessionMessage::Withdrawn {
            contact: *contact,
            reason: Withdrawal::TimedOut,
        },
        EventBody::OfferRejected { contact, .. } => SessionMessage::Withdrawn {
            contact: *contact,
            reason: Withdrawal::Rejected,
        },
        EventBody::OfferReturned {
            contact, reason, ..
        } => SessionMessage::Withdrawn {
            contact: *contact,
            reason: Withdrawal::Returned(*reason),
        },
        EventBody::ContactTransferred { contact, .. } => SessionMessage::Withdrawn {
            contact: contact.id,
            reason: Withdrawal::Transferred,
        },
        // A failed call put the callback back to wait for its retry: it left the agent.
        EventBody::CallbackAttempted { contact, .. } if contact.state == ContactState::Waiting => {
            SessionMessage::Withdrawn {
                contact: contact.id,
                reason: Withdrawal::CallbackNotReached,
            }
        }
        EventBody::ContactEnded { contact, .. } => SessionMessage::Withdrawn {
            contact: contact.id,
            reason: match contact.state {
                ContactState::Unreached => Withdrawal::CallbackNotReached,
                ContactState::Abandoned => Withdrawal::Abandoned,
                ContactState::Cancelled => Withdrawal::Cancelled,
                ContactState::Expired => Withdrawal::Expired,
                // The agent's own completion (or a frontend's on its behalf).
                _ => Withdrawal::Completed,
            },
        },
        EventBody::AgentChanged { removed: true, .. } => SessionMessage::Closed {
            reason: "the agent was removed",
        },
        EventBody::AgentStateChanged { agent } | EventBody::AgentChanged { agent, .. } => {
            SessionMessage::StateChanged(agent.clone())
        }
        _ => return None,
    })
}
