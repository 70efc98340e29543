//! The engine's handle: how listeners reach the single writer. Cheap to clone; every call is a
//! request on the engine thread's bounded channel (a full channel makes the caller wait: the
//! backpressure of `limits.command_queue`), answered only once the batch it joined is durable.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::SessionMessage;
use super::bus::EventBus;
use super::clock::Clock;
use super::metrics::RuntimeMetrics;
use super::view::{FloorView, Views};
use crate::core::{AgentView, Applied, Command, CoreError, Engine, Millis};

/// Why the runtime could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("the routing engine is shutting down")]
    Stopped,
}

/// Work whose effect leaves the engine thread only once its batch is durable.
pub(super) type Deferred = Box<dyn FnOnce() + Send>;

/// One request to the engine thread.
pub(super) enum Request {
    Apply {
        command: Command,
        reply: oneshot::Sender<Result<Applied, CoreError>>,
    },
    /// Several commands applied in order, answered together (each with its own result).
    ApplyMany {
        commands: Vec<Command>,
        reply: oneshot::Sender<Vec<Result<Applied, CoreError>>>,
    },
    /// Reads the engine on its thread; what the closure gives is sent with the batch's replies.
    Query(Box<dyn FnOnce(&Engine) -> Deferred + Send>),
    AttachSession {
        agent: String,
        tx: mpsc::Sender<SessionMessage>,
        reply: oneshot::Sender<Result<(u64, AgentView), CoreError>>,
    },
    DetachSession {
        agent: String,
        session: u64,
    },
}

/// A cheap, cloneable handle to the engine runtime.
#[derive(Clone)]
pub struct EngineHandle {
    pub(super) tx: flume::Sender<Request>,
    pub(super) bus: Arc<EventBus>,
    pub(super) views: Arc<Views>,
    pub(super) clock: Clock,
    pub(super) metrics: Arc<RuntimeMetrics>,
}

impl EngineHandle {
    pub fn bus(&self) -> &Arc<EventBus> {
        &self.bus
    }

    /// The runtime's own measurements (batch and commit latency, answer waits).
    pub fn metrics(&self) -> &RuntimeMetrics {
        &self.metrics
    }

    /// The read view published after the latest durable batch: queue figures and agent states,
    /// read without asking the engine (one atomic load).
    pub fn view(&self) -> Arc<FloorView> {
        self.views.current()
    }

    /// Engine time now, by the runtime's clock: what time-running figures of a view (longest
    /// wait, occupancy) are computed at.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    pub async fn apply(&self, command: Command) -> Result<Applied, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Apply { command, reply }).await?;
        Ok(rx.await.map_err(|_| RuntimeError::Stopped)??)
    }

    /// Applies commands in order in one request to the engine thread; one result per command.
    pub async fn apply_many(
        &self,
        commands: Vec<Command>,
    ) -> Result<Vec<Result<Applied, CoreError>>, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::ApplyMany { commands, reply }).await?;
        rx.await.map_err(|_| RuntimeError::Stopped)
    }

    /// Runs a read-only closure against the engine, on its thread. For point lookups the read
    /// view does not hold (a contact, its queue position); anything that walks the floor belongs
    /// in the view instead, or it stalls routing.
    pub async fn query<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Engine) -> T + Send + 'static,
    ) -> Result<T, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        let run = move |engine: &Engine| -> Deferred {
            let value = read(engine);
            Box::new(move || {
                let _ = reply.send(value);
            })
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
            .send_async(request)
            .await
            .map_err(|_| RuntimeError::Stopped)
    }
}
