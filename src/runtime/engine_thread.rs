//! The engine task: the only writer of the routing state.
//!
//! Handlers send [`Request`]s over a bounded channel; the task applies them to the
//! [`Engine`] in arrival order, sleeps until the engine's next deadline when idle (no polling),
//! publishes the events to the bus, delivers each agent's offers to its desktop session, and only
//! then answers the callers — so a caller that got its reply can already see the events it caused.
//!
//! With a journal, every command the engine accepts is appended with the time it was applied at,
//! and the batch's records are written (and synced, by policy) before its events are published or
//! its callers answered. A journal that cannot be written stops the task: nothing is acknowledged
//! that a restart would not bring back.
//!
//! Sessions live here, not in the core: the task maps agent ids to the session that is attached,
//! replaces an older session by a newer one, and takes an agent offline when its session ends,
//! breaks, or stops reading (its bounded queue is full).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::bus::EventBus;
use super::journal::{Journal, JournalError};
use crate::core::{
    AgentView, Applied, Command, ContactState, ContactView, CoreError, Engine, EventBody,
    Interaction, Millis,
};

/// How many queued requests the task applies before it publishes and replies.
const BATCH: usize = 128;

/// Depth of each desktop session's outgoing queue. Offers per agent are bounded by its capacity,
/// so a session this far behind has stopped reading.
pub const SESSION_BUFFER: usize = 256;

/// Why the engine task could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("the routing engine is shutting down")]
    Stopped,
}

/// What a desktop session is told.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionMessage {
    Offer {
        contact: ContactView,
        deadline: Millis,
        /// The customer's recent interactions, oldest first.
        history: Arc<[Interaction]>,
    },
    /// An offer this agent held is gone; `reason` is a stable code.
    Withdrawn {
        contact: u64,
        reason: &'static str,
    },
    /// An offer was accepted (by the desktop or by a frontend on the agent's behalf).
    Assigned(ContactView),
    StateChanged(AgentView),
    /// The session ends: a newer session for the same agent took over, or the agent was removed.
    Closed {
        reason: &'static str,
    },
}

type ApplyReply = oneshot::Sender<Result<Applied, CoreError>>;
type ApplyManyReply = oneshot::Sender<Vec<Result<Applied, CoreError>>>;
type AttachReply = oneshot::Sender<Result<(u64, AgentView), CoreError>>;

/// A reply held until the batch's journal records are written and its events published.
enum Reply {
    One(ApplyReply, Result<Applied, CoreError>),
    Many(ApplyManyReply, Vec<Result<Applied, CoreError>>),
    Attached(AttachReply, Result<(u64, AgentView), CoreError>),
}

/// One request to the engine task.
pub enum Request {
    Apply {
        command: Command,
        reply: ApplyReply,
    },
    /// Several commands applied in order, answered together (each with its own result).
    ApplyMany {
        commands: Vec<Command>,
        reply: ApplyManyReply,
    },
    /// Runs a read-only closure against the engine (the closure carries its own reply channel).
    Query(Box<dyn FnOnce(&Engine) + Send>),
    AttachSession {
        agent: String,
        tx: mpsc::Sender<SessionMessage>,
        reply: AttachReply,
    },
    DetachSession {
        agent: String,
        session: u64,
    },
}

/// Engine time from the wall clock, anchored once so it never goes backwards.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    origin_ms: Millis,
}

impl Clock {
    pub fn start() -> Clock {
        Clock::start_after(0)
    }

    /// A clock that starts no earlier than `earliest` (a recovered engine's time), so engine time
    /// never goes backwards across a restart even if the wall clock did.
    pub fn start_after(earliest: Millis) -> Clock {
        let origin_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis)
            .max(earliest);
        Clock {
            origin: Instant::now(),
            origin_ms,
        }
    }

    pub fn now(&self) -> Millis {
        self.origin_ms + self.origin.elapsed().as_millis() as Millis
    }

    pub fn instant_at(&self, at: Millis) -> Instant {
        self.origin + Duration::from_millis(at.saturating_sub(self.origin_ms))
    }
}

/// A cheap, cloneable handle to the engine task.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Request>,
    bus: Arc<EventBus>,
}

impl EngineHandle {
    pub fn bus(&self) -> &Arc<EventBus> {
        &self.bus
    }

    pub async fn apply(&self, command: Command) -> Result<Applied, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Apply { command, reply }).await?;
        Ok(rx.await.map_err(|_| RuntimeError::Stopped)??)
    }

    /// Applies commands in order in one request to the engine task; one result per command.
    pub async fn apply_many(
        &self,
        commands: Vec<Command>,
    ) -> Result<Vec<Result<Applied, CoreError>>, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::ApplyMany { commands, reply }).await?;
        rx.await.map_err(|_| RuntimeError::Stopped)
    }

    pub async fn query<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Engine) -> T + Send + 'static,
    ) -> Result<T, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        let run = move |engine: &Engine| {
            let _ = reply.send(read(engine));
        };
        self.send(Request::Query(Box::new(run))).await?;
        rx.await.map_err(|_| RuntimeError::Stopped)
    }

    /// Attaches a desktop session; gives its id and the agent's state.
    pub async fn attach_session(
        &self,
        agent: String,
        tx: mpsc::Sender<SessionMessage>,
    ) -> Result<(u64, AgentView), RuntimeError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::AttachSession { agent, tx, reply })
            .await?;
        Ok(rx.await.map_err(|_| RuntimeError::Stopped)??)
    }

    /// Detaches a session (if it is still the agent's current one): the agent goes offline.
    pub async fn detach_session(&self, agent: String, session: u64) {
        let _ = self.send(Request::DetachSession { agent, session }).await;
    }

    async fn send(&self, request: Request) -> Result<(), RuntimeError> {
        self.tx
            .send(request)
            .await
            .map_err(|_| RuntimeError::Stopped)
    }
}

struct Session {
    id: u64,
    tx: mpsc::Sender<SessionMessage>,
}

struct EngineTask {
    engine: Engine,
    bus: Arc<EventBus>,
    clock: Clock,
    sessions: HashMap<String, Session>,
    next_session: u64,
    events: Vec<crate::core::Event>,
    replies: Vec<Reply>,
    journal: Option<Journal>,
}

/// Starts the engine task. It ends when every handle is dropped, or with an error when its
/// journal cannot be written.
pub fn spawn(
    engine: Engine,
    journal: Option<Journal>,
    bus: Arc<EventBus>,
    clock: Clock,
    queue_depth: usize,
) -> (EngineHandle, JoinHandle<Result<(), JournalError>>) {
    let (tx, rx) = mpsc::channel(queue_depth.max(1));
    let task = EngineTask {
        engine,
        bus: bus.clone(),
        clock,
        sessions: HashMap::new(),
        next_session: 1,
        events: Vec::new(),
        replies: Vec::new(),
        journal,
    };
    let join = tokio::spawn(task.run(rx));
    (EngineHandle { tx, bus }, join)
}

impl EngineTask {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) -> Result<(), JournalError> {
        let result = self.serve(&mut rx).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "the journal cannot be written: routing stops");
            // Unanswered callers hear that the engine stopped; nothing unjournaled is published.
            self.replies.clear();
            return result;
        }
        // Ending: every session stream closes as its sender drops.
        self.flush()?;
        match &mut self.journal {
            Some(journal) => journal.close(),
            None => Ok(()),
        }
    }

    async fn serve(&mut self, rx: &mut mpsc::Receiver<Request>) -> Result<(), JournalError> {
        loop {
            let deadline = self.engine.next_deadline();
            let wake = deadline.map(|at| self.clock.instant_at(at));
            let sync = self
                .journal
                .as_ref()
                .and_then(Journal::sync_due)
                .map(Instant::from_std);
            let first = tokio::select! {
                biased;
                request = rx.recv() => match request {
                    Some(request) => Some(request),
                    None => return Ok(()),
                },
                _ = sleep_until(wake), if wake.is_some() => None,
                _ = sleep_until(sync), if sync.is_some() => None,
            };
            match first {
                Some(request) => self.handle(request)?,
                None => self.engine.advance(self.clock.now()),
            }
            for _ in 1..BATCH {
                match rx.try_recv() {
                    Ok(request) => self.handle(request)?,
                    Err(_) => break,
                }
            }
            self.flush()?;
        }
    }

    /// Applies a command now, journaling it if the engine accepts it.
    fn apply(&mut self, command: Command) -> Result<Applied, CoreError> {
        let now = self.clock.now();
        let Some(journal) = &mut self.journal else {
            return self.engine.apply(command, now);
        };
        let mark = journal.mark();
        journal.append(now, &command);
        // A refused command is not kept unless its refusal counts (Command::counts_when_refused).
        let counted = command.counts_when_refused();
        let result = self.engine.apply(command, now);
        if result.is_err() && !counted {
            journal.rollback(mark);
        }
        result
    }

    fn handle(&mut self, request: Request) -> Result<(), JournalError> {
        match request {
            Request::Apply { command, reply } => {
                let result = self.apply(command);
                if let Err(e) = &result {
                    tracing::debug!(error = %e, "command refused");
                }
                self.replies.push(Reply::One(reply, result));
            }
            Request::ApplyMany { commands, reply } => {
                let results = commands.into_iter().map(|c| self.apply(c)).collect();
                self.replies.push(Reply::Many(reply, results));
            }
            Request::Query(read) => {
                // Bring the engine to the present (deadlines due fire now), and publish what
                // earlier requests caused, so a reader sees current state and events that agree
                // with it (e.g. a snapshot's time and last sequence number).
                self.engine.advance(self.clock.now());
                self.flush()?;
                read(&self.engine)
            }
            Request::AttachSession { agent, tx, reply } => {
                let result = self.attach(agent, tx);
                self.replies.push(Reply::Attached(reply, result));
            }
            Request::DetachSession { agent, session } => {
                if self.sessions.get(&agent).is_some_and(|s| s.id == session) {
                    self.detach(&agent);
                }
            }
        }
        Ok(())
    }

    fn attach(
        &mut self,
        agent: String,
        tx: mpsc::Sender<SessionMessage>,
    ) -> Result<(u64, AgentView), CoreError> {
        let command = Command::Session {
            agent: agent.clone(),
            attached: true,
        };
        let Applied::Agent { agent: view, .. } = self.apply(command)? else {
            unreachable!("a session command answers with the agent");
        };
        let id = self.next_session;
        self.next_session += 1;
        tracing::info!(agent = %agent, session = id, "desktop session attached");
        if let Some(old) = self.sessions.insert(agent, Session { id, tx }) {
            let _ = old.tx.try_send(SessionMessage::Closed {
                reason: "replaced by a newer session for this agent",
            });
        }
        Ok((id, view))
    }

    fn detach(&mut self, agent: &str) {
        self.sessions.remove(agent);
        tracing::info!(agent = %agent, "desktop session ended; agent offline");
        let command = Command::Session {
            agent: agent.to_string(),
            attached: false,
        };
        // The agent may have been removed meanwhile; then there is nothing to take offline.
        let _ = self.apply(command);
    }

    /// Journals what was accepted, publishes what happened, tells the desktops, then answers
    /// the callers.
    fn flush(&mut self) -> Result<(), JournalError> {
        loop {
            self.engine.drain_events(&mut self.events);
            if let Some(journal) = &mut self.journal {
                journal.commit()?;
            }
            if self.events.is_empty() {
                break;
            }
            let (broken, removed) = self.deliver_to_sessions();
            for agent in removed {
                self.sessions.remove(&agent);
            }
            self.bus.publish(self.events.drain(..));
            // Sessions that stopped reading are detached, which emits more events: loop.
            for agent in broken {
                self.detach(&agent);
            }
        }
        for reply in self.replies.drain(..) {
            match reply {
                Reply::One(reply, result) => {
                    let _ = reply.send(result);
                }
                Reply::Many(reply, results) => {
                    let _ = reply.send(results);
                }
                Reply::Attached(reply, result) => {
                    let _ = reply.send(result);
                }
            }
        }
        if let Some(journal) = &mut self.journal
            && journal.wants_snapshot()
        {
            journal.snapshot(&self.engine, self.bus.last_sequence() + 1)?;
        }
        Ok(())
    }

    /// Sends each session the events that concern its agent; gives the sessions that are broken
    /// (to detach) and those whose agent was removed (to forget).
    fn deliver_to_sessions(&mut self) -> (Vec<String>, Vec<String>) {
        let mut broken = Vec::new();
        let mut removed = Vec::new();
        if self.sessions.is_empty() {
            return (broken, removed);
        }
        for event in &self.events {
            let Some(agent) = event.agent() else { continue };
            let Some(session) = self.sessions.get(agent) else {
                continue;
            };
            let message = match &event.body {
                EventBody::Decision(d) => match self.engine.contact_view(d.contact) {
                    Some(contact) => SessionMessage::Offer {
                        contact,
                        deadline: d.offer_deadline,
                        history: d.history.clone(),
                    },
                    None => continue,
                },
                EventBody::OfferAccepted { contact, .. } => {
                    match self.engine.contact_view(*contact) {
                        Some(view) => SessionMessage::Assigned(view),
                        None => continue,
                    }
                }
                EventBody::OfferTimedOut { contact, .. } => SessionMessage::Withdrawn {
                    contact: *contact,
                    reason: "timed-out",
                },
                EventBody::OfferRejected { contact, .. } => SessionMessage::Withdrawn {
                    contact: *contact,
                    reason: "rejected",
                },
                EventBody::OfferReturned {
                    contact, reason, ..
                } => SessionMessage::Withdrawn {
                    contact: *contact,
                    reason: reason.code(),
                },
                EventBody::ContactEnded { contact, .. } => SessionMessage::Withdrawn {
                    contact: contact.id,
                    reason: match contact.state {
                        ContactState::Abandoned => "abandoned",
                        ContactState::Cancelled => "cancelled",
                        ContactState::Expired => "expired",
                        // The agent's own completion (or a frontend's on its behalf).
                        _ => "completed",
                    },
                },
                EventBody::AgentChanged { removed: true, .. } => {
                    removed.push(agent.to_string());
                    SessionMessage::Closed {
                        reason: "the agent was removed",
                    }
                }
                EventBody::AgentStateChanged { agent } | EventBody::AgentChanged { agent, .. } => {
                    SessionMessage::StateChanged(agent.clone())
                }
                _ => continue,
            };
            if session.tx.try_send(message).is_err() && !broken.iter().any(|b| b == agent) {
                broken.push(agent.to_string());
            }
        }
        (broken, removed)
    }
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
