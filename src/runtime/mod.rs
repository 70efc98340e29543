//! The engine runtime: the engine task (single writer), the event bus and the journal. It knows
//! nothing of gRPC or HTTP: listeners reach it only through its [`EngineHandle`].

pub mod bus;
pub mod engine_thread;
pub mod journal;

use std::sync::Arc;

use tracing::info;

use crate::config::Config;
use crate::core::{Command, Engine};
pub use bus::EventBus;
pub use engine_thread::{Clock, EngineHandle, RuntimeError, SessionMessage};
pub use journal::JournalError;

/// The engine task's join handle: it ends with an error if the journal could not be written.
pub type EngineTask = tokio::task::JoinHandle<Result<(), JournalError>>;

/// Recovers the engine from the journal (or starts it empty when memory-only), starts the engine
/// task, journals the configuration's engine settings, takes every agent that was logged in offline (their desktop sessions died with the old
/// process: offers they held go back to their queues), and applies the configured queues.
pub async fn start_engine(config: &Config) -> anyhow::Result<(EngineHandle, EngineTask)> {
    config.check()?;
    let engine_config = config.routing.clone();
    let startup_queues = config.queues.clone();
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
        engine_thread::spawn(engine, journal, bus, clock, config.limits.command_queue);
    if journaled {
        // Today's settings, journaled: commands from here on replay under them, and those
        // before under the settings they first ran under.
        handle
            .apply(Command::Configure(config.routing.clone()))
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
