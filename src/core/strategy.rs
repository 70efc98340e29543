//! Routing strategies: the pluggable part of a decision.
//!
//! A strategy scores, never filters: the engine hands it only eligible pairs (ready, room for the
//! channel, every requirement met, not excluded by an earlier reject), so no strategy can break
//! the routing invariants. Scores are compared higher-first and ties break on explicit keys
//! (the agent's index order, the contact's enqueue sequence), never on map order.
//!
//! How the engine uses a strategy:
//! - contact side of a decision (an agent frees): the head of each eligible group of waiting
//!   contacts is scored with [`Strategy::contact_score`]; the highest wins, ties to the earlier
//!   enqueue.
//! - agent side (a contact arrives): the engine walks eligible agents in its index order
//!   (longest idle first, ties by agent id) and scores the first [`CANDIDATE_WINDOW`] with
//!   [`Strategy::agent_score`]; the highest wins, ties to index order.

use std::fmt::Debug;
use std::sync::Arc;

use super::error::CoreError;
use super::types::{Channel, Millis};

/// The strategy a queue gets when it names none.
pub const DEFAULT: &str = "longest-idle";

/// How many eligible agents a decision scores (the chosen one and its runners-up).
pub const CANDIDATE_WINDOW: usize = 4;

/// What a strategy may read about an eligible agent.
#[derive(Clone, Copy, Debug)]
pub struct AgentFacts {
    /// When the agent last got or finished work, or became ready.
    pub idle_since: Millis,
    pub load: u32,
    pub capacity: u32,
    pub handled: u64,
}

/// What a strategy may read about a waiting contact.
#[derive(Clone, Copy, Debug)]
pub struct ContactFacts {
    pub sequence: u64,
    pub enqueued_at: Millis,
    pub priority: u32,
    pub customer_value: f64,
    pub channel: Channel,
}

pub trait Strategy: Send + Sync + Debug {
    fn name(&self) -> &'static str;
    /// Higher is better.
    fn agent_score(&self, agent: &AgentFacts, contact: &ContactFacts, now: Millis) -> f64;
    /// Higher is served first.
    fn contact_score(&self, contact: &ContactFacts, now: Millis) -> f64;
}

/// Longest-idle agent first; contacts by priority, then enqueue order (priority-FIFO).
#[derive(Debug, Default)]
pub struct LongestIdle;

impl Strategy for LongestIdle {
    fn name(&self) -> &'static str {
        "longest-idle"
    }
    /// Seconds since the agent last got or finished work.
    fn agent_score(&self, agent: &AgentFacts, _contact: &ContactFacts, now: Millis) -> f64 {
        now.saturating_sub(agent.idle_since) as f64 / 1000.0
    }
    /// The priority; equal priorities fall back to the enqueue sequence.
    fn contact_score(&self, contact: &ContactFacts, _now: Millis) -> f64 {
        contact.priority as f64
    }
}

/// The strategy a queue holds until its configured one is looked up (loading an image).
pub fn fallback() -> Arc<dyn Strategy> {
    Arc::new(LongestIdle)
}

/// Looks a strategy up by its configured name.
pub fn by_name(name: &str) -> Result<Arc<dyn Strategy>, CoreError> {
    match name {
        "" | "longest-idle" => Ok(Arc::new(LongestIdle)),
        other => Err(CoreError::invalid(format!(
            "unknown strategy {other:?}; known: longest-idle"
        ))),
    }
}
