//! The running server: the engine task (single writer), the event bus, and the gRPC server that
//! fronts them.

pub mod bus;
pub mod engine_task;
pub mod journal;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, ServerTlsConfig};
use tracing::info;

use crate::config::Config;
use crate::core::{Command, Engine};
use crate::grpc;
use crate::proto;
pub use bus::EventBus;
pub use engine_task::{Clock, EngineHandle, ServerError, SessionMessage};
pub use journal::JournalError;

/// The server's drain signal: `true` once shutdown began. Long-lived streams (sessions,
/// supervisor streams) watch it and end with UNAVAILABLE, so a graceful shutdown never waits on
/// a client that would otherwise stay connected forever.
pub type Drain = tokio::sync::watch::Receiver<bool>;

/// The status message a stream ends with when the server drains.
pub const SHUTTING_DOWN: &str = "routerd is shutting down";

/// Completes once the server drains (or its drain signal is gone).
pub async fn drained(drain: &mut Drain) {
    while !*drain.borrow_and_update() {
        if drain.changed().await.is_err() {
            return;
        }
    }
}

/// The engine task's join handle: it ends with an error if the journal could not be written.
pub type EngineTask = tokio::task::JoinHandle<Result<(), JournalError>>;

/// Recovers the engine from the journal (or starts it empty when memory-only), starts the engine
/// task, journals the configuration's engine settings, takes every agent that was logged in offline (their desktop sessions died with the old
/// process: offers they held go back to their queues), and applies the configured queues.
pub async fn start_engine(config: &Config) -> anyhow::Result<(EngineHandle, EngineTask)> {
    let engine_config = config.engine_config()?;
    let startup_queues = config.startup_queues()?;
    let bus = Arc::new(EventBus::new(
        config.limits.replay_buffer,
        config.limits.subscriber_buffer,
    ));
    let (engine, journal) = match config.journal.config() {
        None => {
            info!("memory only (journal.ephemeral): nothing survives a restart");
            (Engine::new(engine_config), None)
        }
        Some(journal_config) => {
            let bus = bus.clone();
            let dir = journal_config.dir.clone();
            let opened = tokio::task::spawn_blocking(move || {
                journal::open(&journal_config, engine_config, &bus)
            })
            .await??;
            let r = &opened.report;
            if r.refused > 0 {
                tracing::warn!(
                    refused = r.refused,
                    "replayed commands refused: the journal does not replay as it ran (written by another build?)"
                );
            }
            info!(
                dir = %dir.display(),
                snapshot = ?r.snapshot,
                replayed = r.replayed,
                ms = r.elapsed.as_millis() as u64,
                "routing state recovered"
            );
            (opened.engine, Some(opened.journal))
        }
    };
    let logged_in = engine.logged_in_agents();
    let clock = Clock::start_after(engine.now());
    let journaled = journal.is_some();
    let (handle, task) =
        engine_task::spawn(engine, journal, bus, clock, config.limits.command_queue);
    if journaled {
        // Today's settings, journaled: commands from here on replay under them, and those
        // before under the settings they first ran under.
        handle
            .apply(Command::Configure(config.engine_config()?))
            .await?;
    }
    for agent in logged_in {
        handle
            .apply(Command::Session {
                agent,
                attached: false,
            })
            .await?;
    }
    for queue in startup_queues {
        let name = queue.name.clone();
        let same = queue.clone();
        let unchanged = handle
            .query(move |engine| engine.queue_config(&same.name).as_ref() == Some(&same))
            .await?;
        if !unchanged {
            handle
                .apply(Command::PutQueue(Box::new(queue)))
                .await
                .map_err(|e| anyhow::anyhow!("queue {name:?} in the configuration: {e}"))?;
        }
    }
    Ok((handle, task))
}

/// Serves every routerd gRPC service, plus health and reflection, on `listener` until
/// `shutdown` completes.
pub async fn serve(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let auth = grpc::auth::Authenticator::new(&config.tokens)?;
    let (handle, engine_task) = start_engine(config).await?;
    let addr: SocketAddr = listener.local_addr()?;
    if !auth.is_enforced() {
        tracing::warn!("no tokens configured: every caller has full access (loopback only)");
    }
    // The engine task ends early only when its journal failed: then the server stops too.
    let (engine_ended_tx, engine_ended) = tokio::sync::oneshot::channel::<()>();
    let engine_task = tokio::spawn(async move {
        let result = engine_task.await;
        let _ = engine_ended_tx.send(());
        result
    });
    let (drain_tx, drain) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = engine_ended => {}
        }
        let _ = drain_tx.send(true);
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    for service in [
        "routing.v1.QueueService",
        "routing.v1.AgentService",
        "routing.v1.ContactService",
        "routing.v1.SupervisorService",
    ] {
        health_reporter
            .set_service_status(service, tonic_health::ServingStatus::Serving)
            .await;
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
    let max_message = config.limits.max_message_bytes;
    let mut builder = Server::builder();
    if let Some(tls) = &config.tls {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
        };
        let identity = Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| anyhow::anyhow!("TLS configuration: {e}"))?;
    }
    info!(%addr, tls = config.tls.is_some(), "routerd listening");
    builder
        .layer(tower::util::MapResponseLayer::new(
            grpc::message_limit_status(max_message),
        ))
        // Find dead desktops and supervisors: a connection that stops answering HTTP/2 pings
        // closes, which ends its session (agent offline, offers back to the queue).
        .http2_keepalive_interval(Some(Duration::from_secs(
            config.limits.keepalive_interval_seconds.max(1),
        )))
        .http2_keepalive_timeout(Some(Duration::from_secs(
            config.limits.keepalive_timeout_seconds.max(1),
        )))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(grpc::queue_service(
            handle.clone(),
            auth.clone(),
            max_message,
        ))
        .add_service(grpc::agent_service(
            handle.clone(),
            drain.clone(),
            auth.clone(),
            max_message,
        ))
        .add_service(grpc::contact_service(
            handle.clone(),
            auth.clone(),
            max_message,
        ))
        .add_service(grpc::supervisor_service(
            handle,
            drain,
            auth,
            config.limits.max_subscribers,
            max_message,
        ))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    // Every handle is gone with the services: the engine task writes out its journal and ends.
    match tokio::time::timeout(Duration::from_secs(30), engine_task).await {
        Ok(Ok(Ok(Ok(())))) => info!("routerd stopped"),
        Ok(Ok(Ok(Err(e)))) => return Err(e.into()),
        Ok(Ok(Err(e))) | Ok(Err(e)) => anyhow::bail!("the engine task failed: {e}"),
        Err(_) => anyhow::bail!("the engine task did not end within 30 s of the server"),
    }
    Ok(())
}
