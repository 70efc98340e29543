//! Queue configuration: where contacts wait, what they require by default, the service-level
//! target, timers and limits, and the strategy that routes them.
//!
//! Invariant: a [`QueueConfig`] that passed [`QueueConfig::validate`] has a strategy that compiles,
//! unique default skills, a target in (0, 100], an offer timeout of 1–3600 s and at most
//! [`MAX_RELAXATION_STEPS`] relaxation steps at strictly increasing times.

use std::sync::Arc;

use super::error::CoreError;
use super::strategy::{Strategy, StrategyConfig};
use super::types::{Channel, Level, SkillLevel, SkillName, ensure_unique_skills, validate_id};

pub const MAX_RELAXATION_STEPS: usize = 16;

/// What a relaxation step does to a waiting contact's requirements.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub enum Relax {
    /// A required skill's minimum level drops to `level` (if it was higher).
    Lower { skill: SkillName, level: Level },
    /// A required skill is no longer required.
    Drop { skill: SkillName },
}

/// After `after_secs` of waiting, `action` applies to the contact's requirements. Steps are
/// deadlines in the engine; a decision records how many steps were in force.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct RelaxStep {
    pub after_secs: u32,
    pub action: Relax,
}

/// A queue as the admin configures it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct QueueConfig {
    pub name: Arc<str>,
    /// Set by the engine: 1 when created, one more at every update (ignored on input). The
    /// decisions a configuration routes name its version.
    pub version: u64,
    /// Skills every contact of this queue requires (merged with the contact's own).
    pub required_skills: Vec<SkillLevel>,
    /// Channels accepted; empty means all.
    pub channels: Vec<Channel>,
    pub sl_threshold_secs: u32,
    pub sl_target_percent: f64,
    pub offer_timeout_secs: u32,
    pub wrap_up_secs: u32,
    /// 0 = no limit.
    pub max_wait_secs: u32,
    /// 0 = no limit.
    pub max_length: u32,
    pub strategy: StrategyConfig,
    /// Requirements loosened with waiting time, in order.
    pub relaxation: Vec<RelaxStep>,
}

impl QueueConfig {
    /// A queue with the defaults: every channel, 80 % in 20 s, 15 s offer timeout, no wrap-up,
    /// no wait or length limit, longest-idle / priority-FIFO routing, no relaxation.
    pub fn new(name: &str) -> QueueConfig {
        QueueConfig {
            name: name.into(),
            version: 0,
            required_skills: Vec::new(),
            channels: Vec::new(),
            sl_threshold_secs: 20,
            sl_target_percent: 80.0,
            offer_timeout_secs: 15,
            wrap_up_secs: 0,
            max_wait_secs: 0,
            max_length: 0,
            strategy: StrategyConfig::default(),
            relaxation: Vec::new(),
        }
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        validate_id(&self.name, "queue name")?;
        ensure_unique_skills(&self.required_skills, "queue")?;
        if !(self.sl_target_percent > 0.0 && self.sl_target_percent <= 100.0) {
            return Err(CoreError::invalid(format!(
                "service-level target {} must be in (0, 100] percent",
                self.sl_target_percent
            )));
        }
        if !(1..=3600).contains(&self.offer_timeout_secs) {
            return Err(CoreError::invalid(format!(
                "offer timeout {} s must be 1-3600 s",
                self.offer_timeout_secs
            )));
        }
        if self.wrap_up_secs > 86_400 || self.max_wait_secs > 7 * 86_400 {
            return Err(CoreError::invalid(
                "wrap-up is limited to one day and maximum wait to one week",
            ));
        }
        if self.sl_threshold_secs > 86_400 {
            return Err(CoreError::invalid(
                "service-level threshold is limited to one day",
            ));
        }
        Strategy::compile(&self.strategy, 0)?;
        if self.relaxation.len() > MAX_RELAXATION_STEPS {
            return Err(CoreError::invalid(format!(
                "{} relaxation steps; the limit is {MAX_RELAXATION_STEPS}",
                self.relaxation.len()
            )));
        }
        let mut last = 0;
        for step in &self.relaxation {
            if step.after_secs <= last || step.after_secs > 7 * 86_400 {
                return Err(CoreError::invalid(
                    "relaxation steps must come at strictly increasing times, 1 s to one week",
                ));
            }
            last = step.after_secs;
        }
        Ok(())
    }

    pub fn accepts(&self, channel: Channel) -> bool {
        self.channels.is_empty() || self.channels.contains(&channel)
    }
}
