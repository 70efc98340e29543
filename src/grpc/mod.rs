//! The gRPC layer: thin handlers that validate, convert proto ⇄ core, send the command to the
//! engine task, and map errors to status codes (one mapping, in [`status`]). No routing logic
//! lives here.

pub mod agents;
pub mod contacts;
pub mod convert;
pub mod queues;
pub mod status;
pub mod supervisor;

#[cfg(test)]
mod hostile_input;

use crate::proto::agent_service_server::AgentServiceServer;
use crate::proto::contact_service_server::ContactServiceServer;
use crate::proto::queue_service_server::QueueServiceServer;
use crate::proto::supervisor_service_server::SupervisorServiceServer;
use crate::server::{Drain, EngineHandle};

pub fn queue_service(handle: EngineHandle) -> QueueServiceServer<queues::Queues> {
    QueueServiceServer::new(queues::Queues { handle })
}

pub fn agent_service(handle: EngineHandle, drain: Drain) -> AgentServiceServer<agents::Agents> {
    AgentServiceServer::new(agents::Agents { handle, drain })
}

pub fn contact_service(handle: EngineHandle) -> ContactServiceServer<contacts::Contacts> {
    ContactServiceServer::new(contacts::Contacts { handle })
}

pub fn supervisor_service(
    handle: EngineHandle,
    drain: Drain,
) -> SupervisorServiceServer<supervisor::Supervisor> {
    SupervisorServiceServer::new(supervisor::Supervisor { handle, drain })
}
