//! Server configuration: embedded defaults, overridden by a TOML file, overridden by flags.
//!
//! Every field has a default, so `routerd serve` runs with no file at all; `routerd
//! print-config` prints the defaults as a TOML file to start from. Unknown keys are refused, so a
//! typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::access::TokenConfig;
use crate::core::contact::ContextLimits;
use crate::core::{
    Channel, ChannelCosts, EngineConfig, QueueConfig, Relax, RelaxStep, SkillLevel, SkillName,
    StrategyConfig,
};
use crate::runtime::journal::JournalConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the gRPC server listens on.
    pub listen: SocketAddr,
    /// A `tracing` filter, e.g. `info` or `routerd=debug,info`.
    pub log_level: String,
    /// Capacity of an agent that names none.
    pub agent_capacity: u32,
    /// The period `fewest-handled` routing counts contacts in, in seconds.
    pub handled_period_seconds: u32,
    pub channel_costs: ChannelCostsConfig,
    pub limits: Limits,
    pub journal: JournalToml,
    /// Queues created at start-up.
    pub queues: Vec<QueueToml>,
    /// Bearer tokens and their roles. None configured: every caller has full access, and the
    /// server listens on loopback only.
    pub tokens: Vec<TokenConfig>,
    /// Serve TLS (rustls) with this certificate chain and private key, both PEM files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// Certificate and key for TLS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:50051".parse().expect("valid address"),
            log_level: "info".into(),
            agent_capacity: 100,
            handled_period_seconds: 3600,
            channel_costs: ChannelCostsConfig::default(),
            limits: Limits::default(),
            journal: JournalToml::default(),
            queues: vec![QueueToml {
                name: "general".into(),
                ..QueueToml::default()
            }],
            tokens: Vec::new(),
            tls: None,
        }
    }
}

/// Capacity cost of one contact per channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelCostsConfig {
    pub voice: u32,
    pub video: u32,
    pub email: u32,
    pub chat: u32,
    pub sms: u32,
    pub social: u32,
    pub callback: u32,
}

impl Default for ChannelCostsConfig {
    fn default() -> Self {
        let c = ChannelCosts::default();
        ChannelCostsConfig {
            voice: c.cost(Channel::Voice),
            video: c.cost(Channel::Video),
            email: c.cost(Channel::Email),
            chat: c.cost(Channel::Chat),
            sms: c.cost(Channel::Sms),
            social: c.cost(Channel::Social),
            callback: c.cost(Channel::Callback),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request accepted, in bytes (RESOURCE_EXHAUSTED beyond).
    pub max_message_bytes: usize,
    pub max_agents: usize,
    pub max_queues: usize,
    /// Live contacts (waiting, offered, assigned) across all queues.
    pub max_contacts: usize,
    pub max_skills_per_agent: usize,
    /// Distinct skill names across agents, queues and contacts.
    pub max_skill_names: usize,
    pub max_context_entries: usize,
    pub max_context_bytes: usize,
    /// Ended contacts kept answerable by GetContact.
    pub ended_history: usize,
    /// Customers (and, separately, conversations) whose recent contacts are remembered for
    /// affinity routing and the offer's history.
    pub customer_history: usize,
    /// Events kept for supervisors resuming their stream.
    pub replay_buffer: usize,
    /// Events a supervisor may fall behind before it is told it lagged.
    pub subscriber_buffer: usize,
    /// Supervisor streams open at once; past it, StreamEvents is RESOURCE_EXHAUSTED.
    pub max_subscribers: usize,
    /// Requests queued for the engine task before handlers wait.
    pub command_queue: usize,
    /// HTTP/2 ping interval; a connection (desktop session, supervisor stream) that does not
    /// answer within `keepalive_timeout_seconds` is closed, which takes its agent offline.
    pub keepalive_interval_seconds: u64,
    pub keepalive_timeout_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        let e = EngineConfig::default();
        Limits {
            max_message_bytes: 4 << 20,
            max_agents: e.max_agents,
            max_queues: e.max_queues,
            max_contacts: e.max_contacts,
            max_skills_per_agent: e.max_skills_per_agent,
            max_skill_names: e.max_skill_names,
            max_context_entries: e.context.max_entries,
            max_context_bytes: e.context.max_bytes,
            ended_history: e.ended_history,
            customer_history: e.history_keys,
            replay_buffer: 100_000,
            subscriber_buffer: 4_096,
            max_subscribers: 256,
            command_queue: 8_192,
            keepalive_interval_seconds: 10,
            keepalive_timeout_seconds: 20,
        }
    }
}

/// Where the routing state is kept across restarts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalToml {
    /// Memory only: nothing is written, nothing survives a restart.
    pub ephemeral: bool,
    /// The data directory (created if missing): journal segments and snapshots.
    pub dir: PathBuf,
    /// 0: every batch of commands is synced to disk before anyone is answered. N > 0: written to
    /// the operating system before answering (a crash of routerd loses nothing) and synced
    /// within N ms (a power cut may lose the last N ms).
    pub fsync_interval_ms: u64,
    /// Take a snapshot every this many journal records, bounding replay at start-up (0: never).
    pub snapshot_every: u64,
}

impl Default for JournalToml {
    fn default() -> Self {
        JournalToml {
            ephemeral: false,
            dir: PathBuf::from("routerd-data"),
            fsync_interval_ms: 0,
            snapshot_every: 100_000,
        }
    }
}

impl JournalToml {
    /// The journal's settings, or `None` when running memory-only.
    pub fn config(&self) -> Option<JournalConfig> {
        (!self.ephemeral).then(|| JournalConfig {
            dir: self.dir.clone(),
            fsync_interval: Duration::from_millis(self.fsync_interval_ms),
            snapshot_every: self.snapshot_every,
        })
    }
}

/// A queue in the configuration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueToml {
    pub name: String,
    /// `skill:level`, e.g. `billing:5`.
    pub skills: Vec<String>,
    /// Channel names; empty means all.
    pub channels: Vec<String>,
    pub sl_threshold_seconds: u32,
    pub sl_target_percent: f64,
    pub offer_timeout_seconds: u32,
    pub wrap_up_seconds: u32,
    pub max_wait_seconds: u32,
    pub max_length: u32,
    /// Agent-side strategy (see the README's routing section).
    pub strategy: String,
    /// Contact-side strategy.
    pub contact_strategy: String,
    /// Term → weight, overriding the strategies' weights term by term.
    pub agent_weights: BTreeMap<String, f64>,
    pub contact_weights: BTreeMap<String, f64>,
    /// Eligible agents a decision scores (1–64; 0: the strategy's default).
    pub window: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_cap: Option<f64>,
    pub affinity_wait_seconds: u32,
    pub affinity_horizon_seconds: u32,
    pub relaxation: Vec<RelaxToml>,
}

/// One relaxation step: after `after_seconds`, `lower = "skill:level"` or `drop = "skill"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaxToml {
    pub after_seconds: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<String>,
}

impl RelaxToml {
    fn to_step(&self) -> anyhow::Result<RelaxStep> {
        let action = match (&self.lower, &self.drop) {
            (Some(lower), None) => {
                let s: SkillLevel = lower.parse()?;
                Relax::Lower {
                    skill: s.skill,
                    level: s.level,
                }
            }
            (None, Some(drop)) => Relax::Drop {
                skill: SkillName::new(drop)?,
            },
            _ => anyhow::bail!("a relaxation step takes exactly one of lower or drop"),
        };
        Ok(RelaxStep {
            after_secs: self.after_seconds,
            action,
        })
    }
}

impl Default for QueueToml {
    fn default() -> Self {
        let q = QueueConfig::new("");
        QueueToml {
            name: String::new(),
            skills: Vec::new(),
            channels: Vec::new(),
            sl_threshold_seconds: q.sl_threshold_secs,
            sl_target_percent: q.sl_target_percent,
            offer_timeout_seconds: q.offer_timeout_secs,
            wrap_up_seconds: q.wrap_up_secs,
            max_wait_seconds: q.max_wait_secs,
            max_length: q.max_length,
            strategy: q.strategy.agent,
            contact_strategy: q.strategy.contact,
            agent_weights: BTreeMap::new(),
            contact_weights: BTreeMap::new(),
            window: q.strategy.window,
            band: None,
            score_cap: None,
            affinity_wait_seconds: q.strategy.affinity_wait_secs,
            affinity_horizon_seconds: q.strategy.affinity_horizon_secs,
            relaxation: Vec::new(),
        }
    }
}

impl QueueToml {
    pub fn to_config(&self) -> anyhow::Result<QueueConfig> {
        let mut q = QueueConfig::new(&self.name);
        q.required_skills = self
            .skills
            .iter()
            .map(|s| s.parse::<SkillLevel>())
            .collect::<Result<_, _>>()?;
        q.channels = self
            .channels
            .iter()
            .map(|c| Channel::from_name(c).ok_or_else(|| anyhow::anyhow!("unknown channel {c:?}")))
            .collect::<Result<_, _>>()?;
        q.sl_threshold_secs = self.sl_threshold_seconds;
        q.sl_target_percent = self.sl_target_percent;
        q.offer_timeout_secs = self.offer_timeout_seconds;
        q.wrap_up_secs = self.wrap_up_seconds;
        q.max_wait_secs = self.max_wait_seconds;
        q.max_length = self.max_length;
        let weights = |w: &BTreeMap<String, f64>| w.iter().map(|(t, w)| (t.clone(), *w)).collect();
        q.strategy = StrategyConfig {
            agent: self.strategy.clone(),
            contact: self.contact_strategy.clone(),
            agent_weights: weights(&self.agent_weights),
            contact_weights: weights(&self.contact_weights),
            window: self.window,
            band: self.band,
            score_cap: self.score_cap,
            affinity_wait_secs: self.affinity_wait_seconds,
            affinity_horizon_secs: self.affinity_horizon_seconds,
        };
        q.relaxation = self
            .relaxation
            .iter()
            .map(RelaxToml::to_step)
            .collect::<Result<_, _>>()?;
        q.validate()?;
        Ok(q)
    }
}

impl Config {
    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        Ok(toml::from_str(text)?)
    }

    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Config::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration serialises")
    }

    pub fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        if self.agent_capacity == 0 {
            anyhow::bail!("agent_capacity must be at least 1");
        }
        if self.handled_period_seconds == 0 {
            anyhow::bail!("handled_period_seconds must be at least 1");
        }
        let c = &self.channel_costs;
        let costs = ChannelCosts::new([
            c.voice, c.video, c.email, c.chat, c.sms, c.social, c.callback,
        ]);
        let l = &self.limits;
        Ok(EngineConfig {
            costs,
            default_capacity: self.agent_capacity,
            max_agents: l.max_agents,
            max_queues: l.max_queues,
            max_contacts: l.max_contacts,
            max_skills_per_agent: l.max_skills_per_agent,
            max_skill_names: l.max_skill_names,
            context: ContextLimits {
                max_entries: l.max_context_entries,
                max_bytes: l.max_context_bytes,
            },
            ended_history: l.ended_history,
            history_keys: l.customer_history,
            period_secs: self.handled_period_seconds,
            missed_offers_limit: EngineConfig::default().missed_offers_limit,
        })
    }

    /// The address to bind: the configured one, or — with no tokens configured and a
    /// non-loopback address asked for — the loopback address on the same port, with a warning to
    /// log.
    pub fn bind_address(&self) -> (SocketAddr, Option<String>) {
        if self.tokens.is_empty() && !self.listen.ip().is_loopback() {
            let loopback = SocketAddr::from(([127, 0, 0, 1], self.listen.port()));
            let warning = format!(
                "no tokens configured: listening on {loopback} instead of {} (configure tokens to \
                 serve other hosts)",
                self.listen
            );
            (loopback, Some(warning))
        } else {
            (self.listen, None)
        }
    }

    pub fn startup_queues(&self) -> anyhow::Result<Vec<QueueConfig>> {
        self.queues
            .iter()
            .map(|q| {
                q.to_config()
                    .map_err(|e| anyhow::anyhow!("queue {:?}: {e}", q.name))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = Config::default();
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let c = Config::from_toml(
            r#"
            listen = "0.0.0.0:6000"
            [channel_costs]
            chat = 25
            [[queues]]
            name = "billing"
            skills = ["billing:5", "lang:es:7"]
            channels = ["voice", "chat"]
            wrap_up_seconds = 10
            "#,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 6000);
        assert_eq!(c.channel_costs.chat, 25);
        assert_eq!(c.channel_costs.voice, 100);
        let q = &c.startup_queues().unwrap()[0];
        assert_eq!(q.required_skills.len(), 2);
        assert_eq!(q.channels, vec![Channel::Voice, Channel::Chat]);
        assert_eq!(q.wrap_up_secs, 10);
        assert_eq!(q.offer_timeout_secs, 15);
    }

    #[test]
    fn without_tokens_only_loopback_is_served() {
        let mut c = Config::from_toml("listen = \"0.0.0.0:7000\"").unwrap();
        let (addr, warning) = c.bind_address();
        assert_eq!(addr.to_string(), "127.0.0.1:7000");
        assert!(warning.is_some());
        c = Config::from_toml(
            "listen = \"0.0.0.0:7000\"\n[[tokens]]\ntoken = \"0123456789abcdef\"\nrole = \"admin\"",
        )
        .unwrap();
        assert_eq!(c.bind_address(), ("0.0.0.0:7000".parse().unwrap(), None));
    }

    #[test]
    fn typos_and_bad_values_are_refused() {
        assert!(Config::from_toml("lisen = \"1.2.3.4:5\"").is_err());
        let c = Config::from_toml("[[queues]]\nname = \"q\"\nchannels = [\"fax\"]").unwrap();
        assert!(c.startup_queues().is_err());
        let c = Config::from_toml("[[queues]]\nname = \"q\"\nstrategy = \"random\"").unwrap();
        assert!(c.startup_queues().is_err());
    }

    /// The queue example in the README's routing section parses into the strategy it describes.
    #[test]
    fn the_readme_queue_example_configures_its_strategy() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("  ```toml\n  [[queues]]")
            .expect("example in README")
            + 10;
        let end = start + readme[start..].find("  ```").expect("end of example");
        let toml: String = readme[start..end]
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
            .collect();
        let queues = Config::from_toml(&toml).unwrap().startup_queues().unwrap();
        let q = &queues[0];
        assert_eq!(q.strategy.agent, "performance");
        assert_eq!(q.strategy.contact, "service-level");
        assert_eq!(q.strategy.affinity_wait_secs, 30);
        assert_eq!(q.strategy.agent_weights, vec![("idle".to_string(), 0.001)]);
        assert_eq!(q.relaxation.len(), 2);
        assert!(
            matches!(&q.relaxation[1].action, Relax::Drop { skill } if skill.as_str() == "billing")
        );
    }
}
