//! Replay and what-if: the traffic a journal recorded, reconstructed and run through the engine
//! again, unchanged (to check the replay against the record) or under a change of strategy or
//! staffing, on virtual time.
//!
//! - [`recording`]: reads the journal's commands in order through an engine, exactly as
//!   recovery does, and keeps what happened: every contact's arrival and contents, its waits, its
//!   legs of handling (who, how long, how it ended), the customer's own acts, each agent's
//!   answers to offers, and the commands that shaped the floor (queues, agents, presence). The
//!   recorded figures are measured on that engine with the simulator's code and definitions.
//! - [`patience`]: the patience distribution per queue, from abandoned (events) and answered or
//!   withdrawn waits (censored), by Kaplan–Meier with an exponential tail.
//! - `whatif`: the discrete-event loop that runs the recorded traffic under a [`Change`].
//!
//! What a change makes unobservable, and how it is modelled:
//! - Patience: an abandoned customer's is the wait they had; any other customer's is drawn from
//!   their queue's estimate beyond the wait they had.
//! - Handling: the recorded leg's duration when the same agent takes it; another agent's takes
//!   it times the ratio of the two agents' speed indexes (each agent's mean of leg duration ÷
//!   its queue's mean). A contact the recording never had handled (abandoned there) gets the
//!   duration of a random handled contact of its queue, scaled the same way. Resolution keeps
//!   the recorded outcome with the same agent; with another, a uniform draw consistent with the
//!   recorded outcome under the first agent's rate is compared with the second agent's rate.
//! - Answers to offers: the recorded answer (accept, reject, no answer, with its delay) when
//!   the same agent is offered the same contact; otherwise a random one of that agent's
//!   recorded answers (the floor's when the agent answered none).
//! - Everything else the floor did (queues, agents, presence, sessions, settings) is applied at
//!   its recorded time; a customer's own acts (withdrawal, callback request, update) too, when
//!   the contact is still there to act on.
//!
//! Invariants:
//! - The journal is only read: [`FileStore::open_read_only`] creates and removes nothing, so a
//!   running server's directory can be replayed.
//! - The same recording, change and seed give the same report, byte for byte; each contact draws
//!   from a generator of its own, seeded by its place in the recording.
//! - Every figure is computed by the simulator's report code over the engine's counters, for
//!   the recording and for every replay alike.
//!
//! Cost: the recording holds one entry per contact (its contents and legs: about 1.6 KB of
//! resident memory per contact, measured) and the floor's commands; a replay runs the engine
//! once per replication, 75–90k contacts/s on one core. Known limits: consults are
//! folded into the holder's handling (a consult that ended in a transfer replays as a blind
//! transfer to the consult's queue); a journal compacted by snapshots cannot be replayed
//! (`[journal] keep_history = true` keeps it whole, in a data directory or on JetStream).

pub mod export;
pub mod patience;
pub mod recording;
mod whatif;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::command_log::file::FileStore;
use crate::command_log::{LogError, LogStore};
use crate::core::{Command, ContactState, Engine, EventBody, Millis};
use crate::sim::report::{Measurements, Returns};
use crate::sim::scenario::StrategyChoice;
use crate::sim::{Column, Comparison, SimReport};

pub use recording::Recording;

/// Where a recording's commands come from, read from the start each time.
pub trait Source {
    fn each(&self, f: &mut dyn FnMut(Millis, Command) -> anyhow::Result<()>) -> anyhow::Result<()>;
}

impl Source for Vec<(Millis, Command)> {
    fn each(&self, f: &mut dyn FnMut(Millis, Command) -> anyhow::Result<()>) -> anyhow::Result<()> {
        self.iter().try_for_each(|(at, c)| f(*at, c.clone()))
    }
}

/// A command log read from its first record, as a [`Source`]: the JetStream journal
/// (`routerd replay --nats URL`), or any [`LogStore`].
pub struct WholeLog {
    store: Box<dyn LogStore>,
    /// What the log is, for messages.
    name: String,
}

impl WholeLog {
    pub fn new(store: Box<dyn LogStore>, name: &str) -> WholeLog {
        WholeLog {
            store,
            name: name.to_string(),
        }
    }
}

impl Source for WholeLog {
    fn each(&self, f: &mut dyn FnMut(Millis, Command) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let mut failure = None;
        let end = self.store.read(0, None, &mut |_, at, command| {
            f(at, command).map_err(|e| {
                let what = format!("{e:#}");
                failure = Some(e);
                LogError::Stopped(what)
            })
        });
        if let Some(e) = failure {
            return Err(e);
        }
        match end {
            Err(LogError::Gap { from: 0, to }) => bail!(
                "the journal {} starts at record {to}: the records before it were removed after a \
                 snapshot. A replay needs them all; `[journal] keep_history = true` keeps every \
                 record from then on",
                self.name
            ),
            Err(e) => Err(e.into()),
            Ok(end) => {
                if let Some((bytes, what)) = end.cut {
                    tracing::warn!(bytes, %what, "the journal ends in a torn record; replaying what precedes it");
                }
                Ok(())
            }
        }
    }
}

/// A file journal's data directory, read only.
pub struct JournalDir;

impl JournalDir {
    /// Opens `dir` to read from its first record (nothing in it is created or removed);
    /// refuses a journal whose first records were compacted away.
    pub fn open(dir: &Path) -> anyhow::Result<WholeLog> {
        let store = FileStore::open_read_only(dir)?;
        match store.first_position()? {
            None => bail!("{} holds no journal segment", dir.display()),
            Some(_) => Ok(WholeLog::new(Box::new(store), &dir.display().to_string())),
        }
    }
}

/// Writes `records` as a file journal in `dir` (which must hold none), as the server writes
/// one: segments of at most `segment_records` records, synced when closed. `routerd simulate
/// --journal-out` uses it, so a simulated day can be replayed like a recorded one.
pub fn write_journal(
    dir: &Path,
    records: &[(Millis, Command)],
    segment_records: usize,
) -> anyhow::Result<()> {
    use crate::command_log::file::{FileConfig, FileLog};
    use crate::command_log::{Batch, CommandLog, ReadEnd};
    let store = FileStore::open(dir)?.preallocating(false);
    if store.first_position()?.is_some() {
        bail!("{} already holds a journal", dir.display());
    }
    let config = FileConfig {
        dir: dir.to_path_buf(),
        fsync_interval: std::time::Duration::from_secs(1),
        preallocate: false,
        keep_history: true,
    };
    let mut log = FileLog::open(&store, config, &ReadEnd::default())?;
    let failed = Arc::new(parking_lot::Mutex::new(None::<String>));
    for chunk in records.chunks(segment_records.max(1)) {
        let mut batch = Batch::default();
        for (at, command) in chunk {
            batch.push(*at, command);
        }
        batch.rotate = true;
        let failed = failed.clone();
        log.append(
            batch,
            Box::new(move |result| {
                if let Err(e) = result {
                    *failed.lock() = Some(e.to_string());
                }
            }),
        );
    }
    Box::new(log).close()?;
    if let Some(e) = failed.lock().take() {
        bail!("writing the journal: {e}");
    }
    Ok(())
}

/// What a what-if changes.
#[derive(Default)]
pub struct Change {
    /// Every queue's strategy, as `routerd simulate --compare` spells it.
    pub strategy: Option<String>,
    /// Agents taken off the floor (their recorded commands are dropped).
    pub remove_agents: Vec<String>,
    /// Agents added, each (new id, recorded agent it works like: same skills, hours, answers
    /// and speed).
    pub add_agents: Vec<(String, String)>,
    /// Queue settings changed, each `QUEUE.KEY=VALUE` with the key and value as in the
    /// configuration file (`en-tech.sl_threshold_seconds=30`,
    /// `billing.relaxation=[{ after_seconds = 60, lower = "billing:2" }]`).
    pub queue_settings: Vec<String>,
    /// Agents' hours moved, each (agents, minutes): every presence and session change of the
    /// agents happens that many minutes later (earlier when negative). Agents are named by id,
    /// or by the start of their ids followed by `*` (`en-tech-*`).
    pub shifts: Vec<(String, i64)>,
}

/// Whether `pattern` (an id, or an id's start followed by `*`) names `agent`.
pub(crate) fn names_agent(pattern: &str, agent: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => agent.starts_with(prefix),
        None => agent == pattern,
    }
}

/// A queue setting a what-if changes: the queue, the key, the value.
pub(crate) struct QueueSetting {
    pub(crate) queue: String,
    key: String,
    value: toml::Value,
}

impl QueueSetting {
    pub(crate) fn parse(text: &str) -> anyhow::Result<QueueSetting> {
        let bad = || anyhow::anyhow!("--queue-set takes QUEUE.KEY=VALUE, not {text:?}");
        let (target, value) = text.split_once('=').ok_or_else(bad)?;
        let (queue, key) = target.trim().rsplit_once('.').ok_or_else(bad)?;
        let table: toml::Table = toml::from_str(&format!("v = {}", value.trim()))
            .map_err(|e| anyhow::anyhow!("--queue-set {text:?}: the value is not TOML: {e}"))?;
        let value = table.get("v").cloned().ok_or_else(bad)?;
        anyhow::ensure!(
            key != "name",
            "--queue-set {text:?}: a queue keeps its name"
        );
        Ok(QueueSetting {
            queue: queue.to_string(),
            key: key.to_string(),
            value,
        })
    }

    /// The queue with the setting changed (an error when the key or value does not fit).
    pub(crate) fn apply(
        &self,
        queue: &crate::core::QueueConfig,
    ) -> anyhow::Result<crate::core::QueueConfig> {
        let mut table = toml::Table::try_from(queue)?;
        table.insert(self.key.clone(), self.value.clone());
        let changed: crate::core::QueueConfig = table
            .try_into()
            .map_err(|e| anyhow::anyhow!("queue {:?}, {}: {e}", self.queue, self.key))?;
        changed
            .validate()
            .map_err(|e| anyhow::anyhow!("queue {:?}, {}: {e}", self.queue, self.key))?;
        Ok(changed)
    }
}

impl Change {
    pub fn is_none(&self) -> bool {
        self.strategy.is_none()
            && self.remove_agents.is_empty()
            && self.add_agents.is_empty()
            && self.queue_settings.is_empty()
            && self.shifts.is_empty()
    }

    /// A short label for the report's column.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.strategy {
            parts.push(s.clone());
        }
        match self.remove_agents.as_slice() {
            [] => {}
            [one] => parts.push(format!("-{one}")),
            many => parts.push(format!("-{} agents", many.len())),
        }
        match self.add_agents.as_slice() {
            [] => {}
            [(new, _)] => parts.push(format!("+{new}")),
            many => parts.push(format!("+{} agents", many.len())),
        }
        for (agents, minutes) in &self.shifts {
            parts.push(format!("{agents} {minutes:+} min"));
        }
        match self.queue_settings.as_slice() {
            [] => {}
            [one] if one.len() <= 32 => parts.push(one.clone()),
            many => parts.push(format!(
                "{} queue setting{}",
                many.len(),
                if many.len() == 1 { "" } else { "s" }
            )),
        }
        if parts.is_empty() {
            "replay".into()
        } else {
            parts.join(", ")
        }
    }

    /// Everything the change does, for the reader of a report.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.strategy {
            parts.push(format!("every queue's strategy {s}"));
        }
        if !self.remove_agents.is_empty() {
            parts.push(format!("without {}", self.remove_agents.join(", ")));
        }
        for (new, like) in &self.add_agents {
            parts.push(format!("{new} added like {like}"));
        }
        parts.extend(self.queue_settings.iter().cloned());
        for (agents, minutes) in &self.shifts {
            parts.push(format!("the hours of {agents} moved {minutes:+} minutes"));
        }
        if parts.is_empty() {
            "no change".into()
        } else {
            parts.join("; ")
        }
    }

    /// Refuses a change naming what the recording does not have (nothing is run then).
    pub fn check(&self, recording: &Recording) -> anyhow::Result<()> {
        if let Some(s) = &self.strategy {
            let choice = StrategyChoice::parse(s)?;
            if choice.agent == crate::sim::scenario::REFERENCE {
                bail!("{s:?}: the reference strategy needs the simulator's true rates");
            }
            if !choice.interrupt {
                bail!(
                    "{s:?}: interrupt=off is for simulate; a replay runs under the interruptible \
                     work the journal recorded"
                );
            }
            let mut queues = recording.queue_configs();
            choice.apply(&mut queues)?;
        }
        for text in &self.queue_settings {
            let setting = QueueSetting::parse(text)?;
            let Some(queue) = recording.configs.get(&setting.queue) else {
                bail!(
                    "--queue-set {text:?}: the recording has no queue {:?}",
                    setting.queue
                );
            };
            setting.apply(queue)?;
        }
        for (agents, minutes) in &self.shifts {
            if !recording.agents.iter().any(|a| names_agent(agents, a)) {
                bail!("--shift {agents}={minutes}: the recording has no such agent");
            }
            if minutes.unsigned_abs() > 24 * 60 {
                bail!("--shift {agents}={minutes}: at most a day (1440 minutes) either way");
            }
        }
        for a in &self.remove_agents {
            if !recording.has_agent(a) {
                bail!("--remove-agent {a:?}: the recording has no such agent");
            }
        }
        for (new, like) in &self.add_agents {
            if !recording.has_agent(like) {
                bail!("--add-agent {new}={like}: the recording has no agent {like:?}");
            }
            if recording.has_agent(new)
                || self.add_agents.iter().filter(|(n, _)| n == new).count() > 1
            {
                bail!("--add-agent {new}={like}: {new:?} is already an agent");
            }
            crate::core::types::validate_id(new, "agent id")
                .map_err(|e| anyhow::anyhow!("--add-agent {new}={like}: {e}"))?;
        }
        Ok(())
    }
}

/// How to replay.
pub struct Options {
    pub changes: Vec<Change>,
    pub replications: u32,
    pub seed: u64,
    pub by_interval: bool,
}

/// The recording, the no-change replay, and each change, side by side: the recorded column
/// repeats the one recording in every replication, so each other column's paired difference
/// from it is the replay's mean difference with its interval.
pub fn replay(recording: &Recording, options: &Options) -> anyhow::Result<Comparison> {
    anyhow::ensure!(
        (1..=crate::sim::MAX_REPLICATIONS).contains(&options.replications),
        "replications must be between 1 and {}",
        crate::sim::MAX_REPLICATIONS
    );
    for change in &options.changes {
        change.check(recording)?;
    }
    let unchanged = Change::default();
    let mut changes: Vec<&Change> = vec![&unchanged];
    changes.extend(options.changes.iter().filter(|c| !c.is_none()));
    let mut columns = vec![Column {
        strategy: "recorded".into(),
        runs: vec![recording.report.clone(); options.replications as usize],
    }];
    let jobs: Vec<(usize, u64)> = (0..changes.len())
        .flat_map(|c| (0..options.replications).map(move |r| (c, u64::from(r))))
        .collect();
    let results = run_parallel(&jobs, |&(c, r)| {
        whatif::run(
            recording,
            changes[c],
            options.seed.wrapping_add(r),
            options.by_interval,
        )
    });
    let mut results = results.into_iter();
    for change in &changes {
        let runs = results
            .by_ref()
            .take(options.replications as usize)
            .collect::<anyhow::Result<Vec<_>>>()
            .with_context(|| format!("replaying under {}", change.label()))?;
        columns.push(Column {
            strategy: change.label(),
            runs,
        });
    }
    Ok(Comparison {
        replications: options.replications,
        columns,
    })
}

/// Runs `job` on every input, as many at once as the machine has cores; results in input order.
fn run_parallel<T: Sync, R: Send>(inputs: &[T], job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |c| c.get())
        .clamp(1, inputs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(input) = inputs.get(i) else {
                            return mine;
                        };
                        mine.push((i, job(input)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The measuring both a recording and a replay do, from the engine's events and the
/// customers' conversations, with the simulator's [`Measurements`].
pub(crate) struct Tally {
    pub(crate) measurements: Measurements,
    queue_index: HashMap<Arc<str>, usize>,
    /// Each conversation's last agent to complete one of its contacts ("" before any did).
    conversations: HashMap<Arc<str>, Arc<str>>,
    /// Contacts (by engine id) that came back in a conversation already seen.
    repeats: HashMap<crate::core::ContactId, Arc<str>>,
    /// Every estimator's wait estimate for contacts that joined a line, until answered.
    estimates: HashMap<crate::core::ContactId, [Option<u64>; 4]>,
}

impl Tally {
    pub(crate) fn new(measurements: Measurements, queues: &[String]) -> Tally {
        Tally {
            measurements,
            queue_index: queues
                .iter()
                .enumerate()
                .map(|(i, q)| (Arc::from(q.as_str()), i))
                .collect(),
            conversations: HashMap::new(),
            repeats: HashMap::new(),
            estimates: HashMap::new(),
        }
    }

    fn returns(&mut self, queue: &str) -> Option<&mut Returns> {
        let q = *self.queue_index.get(queue)?;
        Some(self.measurements.returns(q))
    }

    /// A contact joined `queue` in `conversation` (empty: none), just now.
    pub(crate) fn arrived(
        &mut self,
        engine: &Engine,
        id: crate::core::ContactId,
        queue: &str,
        conversation: &str,
    ) {
        // Waiting in line (not offered at once): its wait estimates are scored when answered.
        if let Some((_, estimates)) = engine.wait_estimates(id) {
            self.estimates.insert(id, estimates);
        }
        if conversation.is_empty() {
            return;
        }
        if let Some(last) = self.conversations.get(conversation) {
            let last = last.clone();
            self.repeats.insert(id, last);
            if let Some(r) = self.returns(queue) {
                r.repeats += 1;
            }
        } else {
            self.conversations.insert(conversation.into(), "".into());
        }
    }

    /// A contact of `queue` in `conversation` was completed by `agent`.
    pub(crate) fn completed(
        &mut self,
        id: crate::core::ContactId,
        queue: &str,
        conversation: &str,
        agent: &Arc<str>,
        resolved: bool,
    ) {
        if !self.repeats.contains_key(&id)
            && let Some(r) = self.returns(queue)
        {
            r.first_completed += 1;
            r.first_resolved += u64::from(resolved);
        }
        if !conversation.is_empty() {
            self.conversations
                .insert(conversation.into(), agent.clone());
        }
    }

    /// Applies a floor command; a queue's deletion keeps its counts. Whether the engine took it.
    /// An agent's removal keeps its clock likewise.
    pub(crate) fn floor(&mut self, engine: &mut Engine, command: Command, at: Millis) -> bool {
        engine.advance(at);
        match &command {
            Command::DeleteQueue { name } => {
                let name = name.clone();
                let kept = engine.queue_counters(&name).map(|(c, _)| c.clone());
                let deleted = engine.apply(command, at).is_ok();
                if deleted && let Some(counters) = kept {
                    self.measurements.queue_deleted(&name, &counters);
                }
                deleted
            }
            Command::RemoveAgent { id } => {
                let id = id.clone();
                let kept = engine.agent_clock(&id);
                let removed = engine.apply(command, at).is_ok();
                if removed && let Some(clock) = kept {
                    self.measurements.agent_removed(&id, clock);
                }
                removed
            }
            _ => engine.apply(command, at).is_ok(),
        }
    }

    /// What the engine just did, measured.
    pub(crate) fn event(&mut self, engine: &Engine, body: &EventBody) {
        match body {
            EventBody::OfferAccepted {
                contact,
                agent,
                queue,
                waited_ms,
            } => {
                let Some(&q) = self.queue_index.get(queue) else {
                    return;
                };
                // A callback's customer was off the line: not a wait in it.
                let on_line = engine
                    .contact_view(*contact)
                    .is_none_or(|c| c.callback.is_none());
                let estimates = self.estimates.remove(contact);
                if on_line {
                    self.measurements.wait(q, *waited_ms);
                    if let Some(estimates) = estimates {
                        self.measurements.estimated(q, *waited_ms, estimates);
                    }
                }
                if let Some(last) = self.repeats.get(contact).cloned() {
                    let r = self.measurements.returns(q);
                    r.repeats_answered += 1;
                    r.repeats_answered_familiar += u64::from(last == *agent);
                }
            }
            EventBody::ContactEnded { contact, .. } => {
                self.repeats.remove(&contact.id);
                self.estimates.remove(&contact.id);
                if contact.state == ContactState::Abandoned
                    && let Some(&q) = self.queue_index.get(&contact.queue)
                {
                    let waited = contact
                        .ended_at
                        .unwrap_or(engine.now())
                        .saturating_sub(contact.enqueued_at);
                    self.measurements.wait(q, waited);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn report(self, heading: crate::sim::report::Heading, engine: &Engine) -> SimReport {
        self.measurements.report_as(heading, engine)
    }
}
