//! The composition root: `routerd serve` is built here and nowhere else.
//!
//! [`serve`] recovers the engine runtime (journal, engine thread, snapshotter, event bus), builds the access
//! control, starts every listener (gRPC, and HTTP unless it is off) with the drain signal, and waits: for
//! the shutdown signal, or for the engine to stop on its own (a journal that cannot be written).
//! Then it flips the drain, waits for the listeners to finish, drops the last engine handle and
//! waits for the engine to write out its journal. The layers below point one way: listeners see
//! the runtime only through its handle, and the runtime imports no listener.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::info;

use crate::access::Authenticator;
use crate::command_log::file::FileConfig;
use crate::config::Config;
use crate::runtime::bus::Subscribers;
use crate::runtime::{Journal, RuntimeConfig};
use crate::{drain, grpc, http, runtime};

/// How long the engine may take to write out its journal once the listeners are done.
const ENGINE_STOP: Duration = Duration::from_secs(30);

/// The sockets routerd serves on, bound by the caller (so tests can bind port 0).
pub struct Listeners {
    pub grpc: TcpListener,
    /// The wallboard, metrics and JSON API; `None` serves no HTTP.
    pub http: Option<TcpListener>,
}

/// Runs routerd on `listeners` until `shutdown` completes (or the engine stops on its own).
pub async fn serve(
    config: &Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    config.check()?;
    let auth = Authenticator::new(&config.tokens)?;
    let addr = listeners.grpc.local_addr()?;
    let mut runtime_config = runtime_config(config)?;
    if let Some(Journal::JetStream(nats)) = &mut runtime_config.journal {
        // The lease names its holder by the address it serves on.
        nats.node = addr.to_string();
    }
    let runtime::Running {
        handle,
        mut stopped,
    } = runtime::start(runtime_config).await?;
    if !auth.is_enforced() {
        tracing::warn!("no tokens configured: every caller has full access (loopback only)");
    } else if config.tls.is_none() {
        let http = listeners.http.as_ref().and_then(|l| l.local_addr().ok());
        for exposed in [Some(addr), http].into_iter().flatten() {
            if !exposed.ip().is_loopback() {
                tracing::warn!(
                    addr = %exposed,
                    "tokens are configured without TLS on a non-loopback address: they travel \
                     in clear text (configure [tls])"
                );
            }
        }
    }
    let (drain_tx, drain) = drain::signal();
    // One limit for event streams, whichever listener serves them.
    let subscribers = Subscribers::new(config.limits.max_subscribers);
    let tls = config.tls.as_ref().map(|t| (t.cert.clone(), t.key.clone()));
    let calls = grpc::calls::CallCounts::default();
    let http = match listeners.http {
        Some(listener) => {
            let http_addr = listener.local_addr()?;
            let settings = http::Settings {
                tls: tls.clone(),
                subscribers: subscribers.clone(),
                grpc_calls: calls.clone(),
            };
            let task = http::serve(
                settings,
                handle.clone(),
                auth.clone(),
                listener,
                drain.clone(),
            );
            info!(addr = %http_addr, "HTTP listening: wallboard at /, metrics at /metrics");
            Some(tokio::spawn(task))
        }
        None => None,
    };
    let settings = grpc_settings(config, tls, subscribers, calls);
    info!(%addr, tls = config.tls.is_some(), "routerd listening");
    let grpc = tokio::spawn(grpc::serve(settings, handle, auth, listeners.grpc, drain));
    // The engine stops early only when its journal failed: then the server stops too.
    let mut early = None;
    tokio::select! {
        _ = shutdown => {}
        result = &mut stopped => early = Some(result),
    }
    let _ = drain_tx.send(true);
    grpc.await??;
    if let Some(http) = http {
        http.await??;
    }
    // Every handle went with the listeners: the engine writes out its journal and ends.
    let result = match early {
        Some(result) => result,
        None => tokio::time::timeout(ENGINE_STOP, stopped)
            .await
            .map_err(|_| {
                anyhow::anyhow!("the engine did not stop within {ENGINE_STOP:?} of the listeners")
            })?,
    };
    match result {
        Ok(Ok(())) => info!("routerd stopped"),
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => anyhow::bail!("the engine thread ended without a word (it panicked)"),
    }
    Ok(())
}

/// The runtime's part of the configuration.
pub fn runtime_config(config: &Config) -> anyhow::Result<RuntimeConfig> {
    let journal = &config.journal;
    Ok(RuntimeConfig {
        engine: config.routing.clone(),
        journal: match (&journal.nats, journal.ephemeral) {
            (_, true) => None,
            (Some(nats), false) => Some(Journal::JetStream(
                nats.check().map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
            (None, false) => Some(Journal::File(FileConfig {
                dir: journal.dir.clone(),
                fsync_interval: Duration::from_millis(journal.fsync_interval_ms),
                preallocate: journal.preallocate,
            })),
        },
        snapshot_every: journal.snapshot_every,
        replay_buffer: config.limits.replay_buffer,
        subscriber_buffer: config.limits.subscriber_buffer,
        command_queue: config.limits.command_queue,
        queues: config.queues.clone(),
    })
}

fn grpc_settings(
    config: &Config,
    tls: Option<(PathBuf, PathBuf)>,
    subscribers: Subscribers,
    calls: grpc::calls::CallCounts,
) -> grpc::Settings {
    let limits = &config.limits;
    grpc::Settings {
        max_message_bytes: limits.max_message_bytes,
        subscribers,
        keepalive_interval: Duration::from_secs(limits.keepalive_interval_seconds),
        keepalive_timeout: Duration::from_secs(limits.keepalive_timeout_seconds),
        tls,
        calls,
    }
}
