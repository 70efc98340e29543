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
use crate::command_log::LogError;
use crate::command_log::file::FileConfig;
use crate::config::Config;
use crate::drain::Drain;
use crate::runtime::bus::Subscribers;
use crate::runtime::leadership::{self, Leadership};
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
///
/// A standby (`[journal.nats] standby`) listens at once and answers as a standby (health
/// `NOT_SERVING`, routing calls `UNAVAILABLE` naming the leader) while it waits for the
/// journal's lease; any other routerd recovers first and listens once it serves.
pub async fn serve(
    config: &Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    config.check()?;
    let auth = Authenticator::new(&config.tokens)?;
    let addr = listeners.grpc.local_addr()?;
    let mut runtime_config = runtime_config(config)?;
    let mut standby = false;
    if let Some(Journal::JetStream(nats)) = &mut runtime_config.journal {
        // The lease names its holder by the address clients reach it on.
        nats.node = config
            .journal
            .nats
            .as_ref()
            .and_then(|n| n.advertise.clone())
            .unwrap_or_else(|| addr.to_string());
        standby = nats.standby;
    }
    warn_on_clear_tokens(config, &auth, &listeners);
    let (drain_tx, drain) = drain::signal();
    let (standing, leadership) = leadership::standing_by();
    let ears = if standby {
        let listening = listen(config, listeners, &leadership, &auth, &drain)?;
        info!(%addr, "standby listening: answering UNAVAILABLE, naming the leader, until it leads");
        Ears::Open(listening)
    } else {
        Ears::Shut(listeners)
    };
    tokio::pin!(shutdown);
    let mut stopping = false;
    let started = {
        let start = runtime::start_as(runtime_config, Some(standing.clone()));
        tokio::pin!(start);
        tokio::select! {
            started = &mut start => started,
            _ = &mut shutdown => {
                // Stop waiting for the lease; a takeover already under way completes, and
                // then stops at once.
                stopping = true;
                standing.cancel();
                start.await
            }
        }
    };
    let runtime::Running {
        handle,
        mut stopped,
    } = match started {
        Ok(running) => running,
        Err(e) => {
            let _ = drain_tx.send(true);
            if let Ears::Open(listening) = ears {
                listening.stop().await?;
            }
            if matches!(e.downcast_ref(), Some(LogError::StoodDown)) {
                info!("routerd stopped while standing by");
                return Ok(());
            }
            return Err(e);
        }
    };
    standing.lead(handle);
    let listening = match ears {
        Ears::Open(listening) => listening,
        Ears::Shut(listeners) => listen(config, listeners, &leadership, &auth, &drain)?,
    };
    info!(%addr, tls = config.tls.is_some(), "routerd listening");
    // The engine stops early only when its journal failed: then the server stops too.
    let mut early = None;
    if !stopping {
        tokio::select! {
            _ = &mut shutdown => {}
            result = &mut stopped => early = Some(result),
        }
    }
    let _ = drain_tx.send(true);
    listening.stop().await?;
    // Every handle went with the listeners: the engine writes out its journal and ends.
    standing.close();
    drop(leadership);
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

/// The sockets, bound and served already (a standby's), or not yet.
enum Ears {
    Open(Listening),
    Shut(Listeners),
}

/// The listeners, serving until the drain.
struct Listening {
    grpc: tokio::task::JoinHandle<anyhow::Result<()>>,
    http: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Listening {
    /// Waits for the listeners to finish (the drain must have flipped).
    async fn stop(self) -> anyhow::Result<()> {
        self.grpc.await??;
        if let Some(http) = self.http {
            http.await??;
        }
        Ok(())
    }
}

/// Starts every listener on `listeners`: serving through the engine once `leadership` leads.
fn listen(
    config: &Config,
    listeners: Listeners,
    leadership: &Leadership,
    auth: &Authenticator,
    drain: &Drain,
) -> anyhow::Result<Listening> {
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
                leadership.clone(),
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
    let grpc = tokio::spawn(grpc::serve(
        settings,
        leadership.clone(),
        auth.clone(),
        listeners.grpc,
        drain.clone(),
    ));
    Ok(Listening { grpc, http })
}

/// Tokens sent in clear text over a non-loopback address deserve a warning.
fn warn_on_clear_tokens(config: &Config, auth: &Authenticator, listeners: &Listeners) {
    if !auth.is_enforced() {
        tracing::warn!("no tokens configured: every caller has full access (loopback only)");
    } else if config.tls.is_none() {
        let grpc = listeners.grpc.local_addr().ok();
        let http = listeners.http.as_ref().and_then(|l| l.local_addr().ok());
        for exposed in [grpc, http].into_iter().flatten() {
            if !exposed.ip().is_loopback() {
                tracing::warn!(
                    addr = %exposed,
                    "tokens are configured without TLS on a non-loopback address: they travel \
                     in clear text (configure [tls])"
                );
            }
        }
    }
}

/// The runtime's part of the configuration.
pub fn runtime_config(config: &Config) -> anyhow::Result<RuntimeConfig> {
    let journal = &config.journal;
    Ok(RuntimeConfig {
        engine: config.routing.clone(),
        journal: match (&journal.nats, journal.ephemeral) {
            (_, true) => None,
            (Some(nats), false) => {
                if let Some(warning) = nats.warning() {
                    tracing::warn!("{warning}");
                }
                let mut nats = nats.check().map_err(|e| anyhow::anyhow!("{e}"))?;
                nats.keep_history = journal.keep_history;
                Some(Journal::JetStream(nats))
            }
            (None, false) => Some(Journal::File(FileConfig {
                dir: journal.dir.clone(),
                fsync_interval: Duration::from_millis(journal.fsync_interval_ms),
                preallocate: journal.preallocate,
                keep_history: journal.keep_history,
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
