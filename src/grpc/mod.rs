//! The gRPC listener: thin handlers that validate, convert proto ⇄ core, send the command to the
//! engine runtime through its [`EngineHandle`] (or read its published views), and map errors to
//! status codes (one mapping, in [`status`]). No routing logic lives here, and the runtime knows
//! nothing of tonic.

pub mod agents;
pub mod auth;
pub mod calls;
pub mod contacts;
pub mod convert;
pub mod leading;
pub mod queues;
pub mod status;
pub mod supervisor;

#[cfg(test)]
mod hostile_input;

use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::access::Authenticator;
use crate::drain::{Drain, drained};
use crate::proto;
use crate::proto::agent_service_server::AgentServiceServer;
use crate::proto::contact_service_server::ContactServiceServer;
use crate::proto::queue_service_server::QueueServiceServer;
use crate::runtime::Leadership;
use crate::runtime::bus::Subscribers;
use calls::{CallCounts, Door};
use leading::Leading;

/// What the gRPC listener needs from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Largest request accepted, in bytes.
    pub max_message_bytes: usize,
    /// Event streams open at once (shared with the HTTP listener's).
    pub subscribers: Subscribers,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// Certificate chain and private key (PEM files) to serve TLS with.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Where calls are counted by method and code (read by the HTTP listener's `/metrics`).
    pub calls: CallCounts,
}

/// The routing services, each opened once the engine runs.
#[derive(Clone)]
struct Services {
    queues: Leading<QueueServiceServer<queues::Queues>>,
    agents: Leading<AgentServiceServer<agents::Agents>>,
    contacts: Leading<ContactServiceServer<contacts::Contacts>>,
    supervisor: Leading<supervisor::SupervisorEndpoint>,
}

/// The routing services' names, as health reports them.
const SERVICE_NAMES: [&str; 4] = [
    "routing.v1.QueueService",
    "routing.v1.AgentService",
    "routing.v1.ContactService",
    "routing.v1.SupervisorService",
];

impl Services {
    /// Each service, made from the engine's handle once `leadership` leads.
    fn waiting(leadership: &Leadership, settings: &Settings, drain: &Drain) -> Services {
        let max_message = settings.max_message_bytes;
        let (drain, subscribers) = (drain.clone(), settings.subscribers.clone());
        let agents_drain = drain.clone();
        Services {
            queues: Leading::waiting(leadership.clone(), move |handle| {
                QueueServiceServer::new(queues::Queues { handle })
                    .max_decoding_message_size(max_message)
            }),
            agents: Leading::waiting(leadership.clone(), move |handle| {
                AgentServiceServer::new(agents::Agents {
                    handle,
                    drain: agents_drain.clone(),
                    max_message,
                })
                .max_decoding_message_size(max_message)
            }),
            contacts: Leading::waiting(leadership.clone(), move |handle| {
                ContactServiceServer::new(contacts::Contacts { handle })
                    .max_decoding_message_size(max_message)
            }),
            supervisor: Leading::waiting(leadership.clone(), move |handle| {
                supervisor::SupervisorEndpoint::new(
                    supervisor::Supervisor {
                        handle,
                        drain: drain.clone(),
                        subscribers: subscribers.clone(),
                    },
                    max_message,
                )
            }),
        }
    }

    /// Makes every service now (the engine runs), rather than at its first call.
    fn open(&self) {
        let _ = (
            self.queues.service(),
            self.agents.service(),
            self.contacts.service(),
            self.supervisor.service(),
        );
    }
}

/// Serves every routerd gRPC service, plus health and reflection, on `listener` until `drain`
/// flips; then stops accepting and returns once the open calls have ended (sessions and
/// supervisor streams end themselves on the drain).
///
/// While `leadership` stands by, health answers `NOT_SERVING` (overall and per service) and
/// every routing call `UNAVAILABLE` naming the leader ([`leading`]); once it leads, the same
/// server serves and health turns `SERVING`.
pub async fn serve(
    settings: Settings,
    leadership: Leadership,
    auth: Authenticator,
    listener: TcpListener,
    drain: Drain,
) -> anyhow::Result<()> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let services = Services::waiting(&leadership, &settings, &drain);
    match leadership.handle() {
        Some(_) => {
            services.open();
            for service in SERVICE_NAMES {
                health_reporter
                    .set_service_status(service, tonic_health::ServingStatus::Serving)
                    .await;
            }
        }
        None => {
            for service in SERVICE_NAMES.into_iter().chain([""]) {
                health_reporter
                    .set_service_status(service, tonic_health::ServingStatus::NotServing)
                    .await;
            }
            let (services, mut leadership, mut drain) =
                (services.clone(), leadership.clone(), drain.clone());
            let health_reporter = health_reporter.clone();
            tokio::spawn(async move {
                tokio::select! {
                    led = leadership.led() => if led.is_some() {
                        services.open();
                        for service in SERVICE_NAMES.into_iter().chain([""]) {
                            health_reporter
                                .set_service_status(service, tonic_health::ServingStatus::Serving)
                                .await;
                        }
                    },
                    _ = drained(&mut drain) => {}
                }
            });
        }
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    // Small replies must not wait for Nagle's algorithm.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut builder = Server::builder();
    if let Some((cert, key)) = &settings.tls {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
        };
        let identity = Identity::from_pem(read(cert)?, read(key)?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| anyhow::anyhow!("TLS configuration: {e}"))?;
    }
    let door = Door {
        auth,
        calls: settings.calls.clone(),
        max_message: settings.max_message_bytes,
    };
    let mut shutdown = drain.clone();
    builder
        // Find dead desktops and supervisors: a connection that stops answering HTTP/2 pings
        // closes, which ends its session (agent offline, offers back to the queue).
        .http2_keepalive_interval(Some(
            settings.keepalive_interval.max(Duration::from_secs(1)),
        ))
        .http2_keepalive_timeout(Some(settings.keepalive_timeout.max(Duration::from_secs(1))))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(door.guard(services.queues))
        .add_service(door.guard(services.agents))
        .add_service(door.guard(services.contacts))
        .add_service(door.guard(services.supervisor))
        .serve_with_incoming_shutdown(incoming, async move { drained(&mut shutdown).await })
        .await?;
    Ok(())
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
