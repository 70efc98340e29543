//! Rebuilding the engine from the command log: the latest snapshot (or an empty engine), then
//! every record after it re-applied in order. Recovery at start-up publishes the events the
//! replay regenerates on the bus (numbered on from the snapshot's sequence: the numbers they had
//! before the restart), so supervisors resume across it; the snapshotter replays the same way with
//! a quiet engine, which builds no events at all.

use std::time::{Duration, Instant};

use super::bus::EventBus;
use crate::command_log::{LogError, LogStore, Position, ReadEnd};
use crate::core::{Engine, EngineConfig, Event};

/// Events replayed are published in chunks of this many.
const CHUNK: usize = 4096;

/// What a rebuild found and did.
#[derive(Debug)]
pub struct Rebuilt {
    pub engine: Engine,
    /// The snapshot it started from (its position), if any.
    pub snapshot: Option<Position>,
    /// Where the log ended, and what was cut off it.
    pub end: ReadEnd,
    /// Records re-applied after the snapshot.
    pub replayed: u64,
    /// Replayed records the engine refused although it had kept them (none, unless the journal
    /// was written by a build that routes differently).
    pub refused: u64,
    pub elapsed: Duration,
}

/// Loads the latest snapshot and replays the records after it up to `to` (`None`: the end),
/// publishing the regenerated events on `bus` (which must not have published yet) if given;
/// without a bus the engine is left quiet ([`Engine::set_quiet`]: it builds no events), as a
/// follower needs it.
/// With `strict`, a record refused although it was kept stops the rebuild
/// ([`LogError::Diverged`]) instead of being counted.
pub fn rebuild(
    store: &dyn LogStore,
    config: EngineConfig,
    to: Option<Position>,
    bus: Option<&EventBus>,
    strict: bool,
) -> Result<Rebuilt, LogError> {
    let started = Instant::now();
    let (mut engine, snapshot, first_sequence) = match store.latest_snapshot()? {
        Some(snap) => match Engine::from_image(&snap.image) {
            Ok(engine) => (engine, Some(snap.position), snap.next_sequence),
            // A snapshot this build cannot load (another build's image), over a log that still
            // holds every record (`[journal] keep_history`): the records alone rebuild it, and
            // regenerate its events with the numbers they had.
            Err(e) if holds_the_first_record(store) => {
                tracing::warn!(position = snap.position, error = %e, "the latest snapshot does not load; rebuilding from the journal's first record");
                (Engine::new(config), None, 1)
            }
            Err(e) => {
                return Err(LogError::Snapshot {
                    position: snap.position,
                    what: e.to_string(),
                });
            }
        },
        None => (Engine::new(config), None, 1),
    };
    if let Some(bus) = bus {
        bus.start_at(first_sequence);
    }
    let from = snapshot.unwrap_or(0);
    let (end, replayed, refused) = replay(store, &mut engine, from, to, bus, strict)?;
    Ok(Rebuilt {
        engine,
        snapshot,
        end,
        replayed,
        refused,
        elapsed: started.elapsed(),
    })
}

/// Whether the log still holds record 0 (nothing was compacted away).
fn holds_the_first_record(store: &dyn LogStore) -> bool {
    let mut found = false;
    let read = store.read(0, Some(1), &mut |_, _, _| {
        found = true;
        Ok(())
    });
    read.is_ok() && found
}

/// Applies the records from `from` to `to` to `engine`, publishing what they regenerate on
/// `bus`: where the log ended, records applied, records refused (see [`rebuild`]).
fn replay(
    store: &dyn LogStore,
    engine: &mut Engine,
    from: Position,
    to: Option<Position>,
    bus: Option<&EventBus>,
    strict: bool,
) -> Result<(ReadEnd, u64, u64), LogError> {
    // Events are built only for a bus to publish: without one the engine is quiet (a follower).
    engine.set_quiet(bus.is_none());
    let mut events: Vec<Event> = Vec::new();
    let (mut replayed, mut refused) = (0, 0);
    let end = store.read(from, to, &mut |position, at, command| {
        // Kept refusals (Command::counts_when_refused) are refused again, as they ran.
        let counted = command.counts_when_refused();
        if let Err(e) = engine.apply(command, at)
            && !counted
        {
            if strict {
                return Err(LogError::Diverged {
                    position,
                    what: e.to_string(),
                });
            }
            refused += 1;
        }
        replayed += 1;
        engine.drain_events(&mut events);
        if events.len() >= CHUNK {
            match bus {
                Some(bus) => bus.publish(events.drain(..)),
                None => events.clear(),
            }
        }
        Ok(())
    })?;
    if let Some(bus) = bus {
        bus.publish(events.drain(..));
    }
    Ok((end, replayed, refused))
}

/// Brings `rebuilt` up to the end of the log as it is now (a standby following the log while
/// it waits for the lease), publishing what the new records regenerate on `bus`. Returns the
/// records applied.
pub fn catch_up(
    store: &dyn LogStore,
    rebuilt: &mut Rebuilt,
    bus: Option<&EventBus>,
) -> Result<u64, LogError> {
    let started = Instant::now();
    let (end, replayed, refused) = replay(
        store,
        &mut rebuilt.engine,
        rebuilt.end.position,
        None,
        bus,
        false,
    )?;
    rebuilt.end = end;
    rebuilt.replayed += replayed;
    rebuilt.refused += refused;
    rebuilt.elapsed = started.elapsed();
    Ok(replayed)
}
