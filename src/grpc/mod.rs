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
use crate::server::{Drain, EngineHandle};
use auth::Authenticator;

/// Tonic reports a request over the size limit as OUT_OF_RANGE; routerd reports every limit as
/// RESOURCE_EXHAUSTED naming it. Rewrites that one status on unary responses (a streamed request
/// over the limit ends its stream; the session handler maps it the same way).
pub fn message_limit_status(
    max_message: usize,
) -> impl Fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> + Clone {
    move |mut response| {
        let headers = response.headers_mut();
        let too_large = headers.get("grpc-status").is_some_and(|s| s == "11")
            && headers
                .get("grpc-message")
                .and_then(|m| m.to_str().ok())
                .is_some_and(is_message_too_large);
        if too_large {
            let message = too_large_message(max_message);
            headers.insert("grpc-status", http::HeaderValue::from_static("8"));
            if let Ok(value) = http::HeaderValue::from_str(&message) {
                headers.insert("grpc-message", value);
            }
        }
        response
    }
}

/// Whether a status message is tonic's "decoded message length too large".
pub fn is_message_too_large(message: &str) -> bool {
    message.contains("message length too large")
        || message.contains("message%20length%20too%20large")
}

pub fn too_large_message(max_message: usize) -> String {
    format!("the request is larger than limits.max_message_bytes ({max_message} bytes)")
}

/// The same rewrite for a status read off a request stream.
pub fn limit_status(status: tonic::Status, max_message: usize) -> tonic::Status {
    if status.code() == tonic::Code::OutOfRange && is_message_too_large(status.message()) {
        tonic::Status::resource_exhausted(too_large_message(max_message))
    } else {
        status
    }
}

/// A routing service behind the token check.
pub type Guarded<S> = InterceptedService<S, Authenticator>;

pub fn queue_service(
    handle: EngineHandle,
    auth: Authenticator,
    max_message: usize,
) -> Guarded<QueueServiceServer<queues::Queues>> {
    let server =
        QueueServiceServer::new(queues::Queues { handle }).max_decoding_message_size(max_message);
    InterceptedService::new(server, auth)
}

pub fn agent_service(
    handle: EngineHandle,
    drain: Drain,
    auth: Authenticator,
    max_message: usize,
) -> Guarded<AgentServiceServer<agents::Agents>> {
    let server = AgentServiceServer::new(agents::Agents {
        handle,
        drain,
        max_message,
    })
    .max_decoding_message_size(max_message);
    InterceptedService::new(server, auth)
}

pub fn contact_service(
    handle: EngineHandle,
    auth: Authenticator,
    max_message: usize,
) -> Guarded<ContactServiceServer<contacts::Contacts>> {
    let server = ContactServiceServer::new(contacts::Contacts { handle })
        .max_decoding_message_size(max_message);
    InterceptedService::new(server, auth)
}

pub fn supervisor_service(
    handle: EngineHandle,
    drain: Drain,
    auth: Authenticator,
    max_subscribers: usize,
    max_message: usize,
) -> Guarded<supervisor::SupervisorEndpoint> {
    let supervisor = supervisor::Supervisor {
        handle,
        drain,
        subscribers: supervisor::Subscribers::new(max_subscribers),
    };
    let endpoint = supervisor::SupervisorEndpoint::new(supervisor, max_message);
    InterceptedService::new(endpoint, auth)
}
