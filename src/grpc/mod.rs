//! The gRPC layer: thin handlers that validate, convert proto ⇄ core, send the command to the
//! engine task, and map errors to status codes (one mapping, in [`status`]). No routing logic
//! lives here.

pub mod agents;
pub mod auth;
pub mod contacts;
pub mod convert;
pub mod queues;
pub mod status;
pub mod supervisor;

#[cfg(test)]
mod hostile_input;

use tonic::service::interceptor::InterceptedService;

use crate::proto::agent_service_server::AgentServiceServer;
use crate::proto::contact_service_server::ContactServiceServer;
use crate::proto::queue_service_server::QueueServiceServer;
use crate::proto::supervisor_service_server::SupervisorServiceServer;
use crate::server::{Drain, EngineHandle};
use auth::Authenticator;

/// A routing service behind the token check.
pub type Guarded<S> = InterceptedService<S, Authenticator>;

pub fn queue_service(
    handle: EngineHandle,
    auth: Authenticator,
) -> Guarded<QueueServiceServer<queues::Queues>> {
    QueueServiceServer::with_interceptor(queues::Queues { handle }, auth)
}

pub fn agent_service(
    handle: EngineHandle,
    drain: Drain,
    auth: Authenticator,
) -> Guarded<AgentServiceServer<agents::Agents>> {
    AgentServiceServer::with_interceptor(agents::Agents { handle, drain }, auth)
}

pub fn contact_service(
    handle: EngineHandle,
    auth: Authenticator,
) -> Guarded<ContactServiceServer<contacts::Contacts>> {
    ContactServiceServer::with_interceptor(contacts::Contacts { handle }, auth)
}

pub fn supervisor_service(
    handle: EngineHandle,
    drain: Drain,
    auth: Authenticator,
    max_subscribers: usize,
) -> Guarded<SupervisorServiceServer<supervisor::Supervisor>> {
    let supervisor = supervisor::Supervisor {
        handle,
        drain,
        subscribers: supervisor::Subscribers::new(max_subscribers),
    };
    SupervisorServiceServer::with_interceptor(supervisor, auth)
}
