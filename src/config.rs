//! Server configuration: embedded defaults, overridden by a TOML file, overridden by flags.
//!
//! Every field has a default, so `routerd serve` runs with no file at all; `routerd
//! print-config` prints the defaults as a TOML file to start from. Unknown keys are refused, so a
//! typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::access::TokenConfig;
use crate::core::{EngineConfig, QueueConfig};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the gRPC server listens on.
    pub listen: SocketAddr,
    /// A `tracing` filter, e.g. `info` or `routerd=debug,info`.
    pub log_level: String,
    /// Routing settings and limits (capacities, channel costs, engine limits), journaled at
    /// every start: the engine's own [`EngineConfig`], deserialised as it is.
    pub routing: EngineConfig,
    /// The server's own limits (requests, streams, buffers, keepalive).
    pub limits: Limits,
    pub journal: JournalToml,
    /// The HTTP listener: wallboard, metrics, JSON snapshot and server-sent events.
    pub http: HttpToml,
    /// Queues created (or brought back to this configuration) at start-up.
    pub queues: Vec<QueueConfig>,
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
            routing: EngineConfig::default(),
            limits: Limits::default(),
            journal: JournalToml::default(),
            http: HttpToml::default(),
            queues: vec![QueueConfig::new("general")],
            tokens: Vec::new(),
            tls: None,
        }
    }
}

/// The HTTP listener's settings (`[http]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpToml {
    /// Serve HTTP at all.
    pub enabled: bool,
    /// Address the HTTP listener binds (same loopback rule as `listen` when no tokens are set).
    pub listen: SocketAddr,
}

impl Default for HttpToml {
    fn default() -> Self {
        HttpToml {
            enabled: true,
            listen: "127.0.0.1:8080".parse().expect("valid address"),
        }
    }
}

/// The server's limits; the engine's (agents, queues, contacts, skills, context) are under
/// `[routing]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request accepted, in bytes (RESOURCE_EXHAUSTED beyond).
    pub max_message_bytes: usize,
    /// Events kept for supervisors resuming their stream.
    pub replay_buffer: usize,
    /// Events a supervisor may fall behind before it is told it lagged.
    pub subscriber_buffer: usize,
    /// Supervisor streams open at once; past it, StreamEvents is RESOURCE_EXHAUSTED.
    pub max_subscribers: usize,
    /// Requests queued for the engine before handlers wait.
    pub command_queue: usize,
    /// HTTP/2 ping interval; a connection (desktop session, supervisor stream) that does not
    /// answer within `keepalive_timeout_seconds` is closed, which takes its agent offline.
    pub keepalive_interval_seconds: u64,
    pub keepalive_timeout_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 4 << 20,
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
    /// Start each journal segment as an 8 MiB zero-filled file, so syncs flush data only (on
    /// ext4, 25–35 % off each fdatasync); turn off on copy-on-write file systems (btrfs, ZFS),
    /// where overwriting in place saves nothing.
    pub preallocate: bool,
    /// Keep every journal segment instead of removing those a snapshot covers, so that
    /// `routerd replay` can read the whole history (the disk grows by the journal's size, about
    /// 50 bytes a record, until you move old segments away).
    pub keep_history: bool,
    /// Keep the journal in NATS JetStream instead of `dir` (`serve --nats URL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats: Option<NatsToml>,
}

/// The journal on NATS JetStream (`[journal.nats]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsToml {
    /// Server URLs; any one of the cluster is enough (`nats://127.0.0.1:4222`).
    pub urls: Vec<String>,
    /// The JetStream stream (subject `STREAM.log`; snapshots in the bucket `STREAM_SNAPSHOTS`).
    pub stream: String,
    /// Copies of every record: 1 for development, 3 on a 3-node cluster (survives one node).
    pub replicas: usize,
    /// The leader's lease: renewed every third of it; a standby takes over once it lapses.
    /// On a cluster keep it at [`CLUSTER_LEASE_SECONDS`] or more: when the node leading the
    /// lease's bucket dies, no renewal succeeds until the others elect a new leader, and a leader
    /// that cannot renew within its lease stops.
    pub lease_seconds: u64,
    /// Wait as a standby for the lease instead of refusing to start while another routerd
    /// holds it (`serve --standby`).
    pub standby: bool,
    /// The `HOST:PORT` clients reach this routerd's gRPC listener on, recorded in the lease so
    /// a standby can name the leader (default: the address it listens on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
}

impl Default for NatsToml {
    fn default() -> Self {
        NatsToml {
            urls: Vec::new(),
            stream: "ROUTERD".into(),
            replicas: 1,
            lease_seconds: CLUSTER_LEASE_SECONDS,
            standby: false,
            advertise: None,
        }
    }
}

/// The shortest lease that rides out a NATS election, and the default. A stream whose leader's
/// node dies goes without a leader for up to about 10 s: followers wait 4 to 9 s without a
/// heartbeat before they campaign (nats-server's `server/raft.go`, `maxElectionTimeoutDefault`),
/// and a campaign takes up to 0.8 s more. The last renewal may have come up to a third of a
/// lease before the node died, so the lease needs that much more: 15 s.
pub const CLUSTER_LEASE_SECONDS: u64 = 15;

impl NatsToml {
    /// What an operator should hear about these settings, though they are allowed: a lease on a
    /// cluster shorter than an election stops routerd when the wrong node dies.
    pub fn warning(&self) -> Option<String> {
        (self.replicas > 1 && self.lease_seconds < CLUSTER_LEASE_SECONDS).then(|| {
            format!(
                "journal.nats.lease_seconds {} with {} copies: when the NATS node leading the \
                 lease's bucket dies, renewals wait up to about 10 s for a new leader, and \
                 routerd stops if its lease runs out first; {CLUSTER_LEASE_SECONDS} or more \
                 rides it out",
                self.lease_seconds, self.replicas
            )
        })
    }

    /// The runtime's form, or what is wrong with these settings.
    pub fn check(&self) -> Result<crate::command_log::jetstream::JetStreamConfig, String> {
        if !(1..=300).contains(&self.lease_seconds) {
            return Err(format!(
                "journal.nats.lease_seconds {}: 1 to 300",
                self.lease_seconds
            ));
        }
        if self.urls.is_empty() {
            return Err("journal.nats.urls: name at least one server (nats://HOST:PORT)".into());
        }
        if let Some(bad) = self
            .urls
            .iter()
            .find(|u| u.parse::<async_nats::ServerAddr>().is_err())
        {
            return Err(format!(
                "journal.nats.urls: {bad:?} is not a server URL (nats://HOST:PORT)"
            ));
        }
        let name_ok = !self.stream.is_empty()
            && self
                .stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(format!(
                "journal.nats.stream {:?}: letters, digits, '-' and '_' only",
                self.stream
            ));
        }
        if let Some(advertise) = &self.advertise {
            let port = advertise
                .rsplit_once(':')
                .map(|(_, port)| port.parse::<u16>());
            if !matches!(port, Some(Ok(port)) if port > 0) || advertise.starts_with(':') {
                return Err(format!(
                    "journal.nats.advertise {advertise:?}: HOST:PORT, the address clients call"
                ));
            }
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(format!(
                "journal.nats.replicas {}: JetStream keeps 1 to 5 copies",
                self.replicas
            ));
        }
        Ok(crate::command_log::jetstream::JetStreamConfig {
            urls: self.urls.clone(),
            stream: self.stream.clone(),
            replicas: self.replicas,
            lease: std::time::Duration::from_secs(self.lease_seconds),
            standby: self.standby,
            node: String::new(),
            keep_history: false,
        })
    }
}

impl Default for JournalToml {
    fn default() -> Self {
        JournalToml {
            ephemeral: false,
            dir: PathBuf::from("routerd-data"),
            fsync_interval_ms: 0,
            snapshot_every: 100_000,
            preallocate: true,
            keep_history: false,
            nats: None,
        }
    }
}

const PRINT_HEADER: &str = "\
# routerd configuration: every setting with its embedded default (`routerd print-config`).
# Keep only what you change; unknown keys are refused. See the README's \"Configuration\".

";

const PRINT_FOOTER: &str = r#"
# Bearer tokens, each with a role: admin, supervisor, frontend, or agent (with agent_id).
# With none, every caller has full access and routerd listens on loopback only.
# [[tokens]]
# token = "a-long-random-secret-for-the-ivr"
# role = "frontend"
#
# The journal on NATS JetStream instead of the data directory (`serve --nats URL`).
# [journal.nats]
# urls = ["nats://127.0.0.1:4222"]
# stream = "ROUTERD"
# replicas = 3
# lease_seconds = 15
# advertise = "10.0.0.5:50051"
#
# TLS for gRPC and HTTP alike (PEM files).
# [tls]
# cert = "/etc/routerd/server.crt"
# key = "/etc/routerd/server.key"
"#;

/// Removes empty arrays and tables, recursively.
fn prune_empty(value: &mut toml::Value) {
    match value {
        toml::Value::Table(table) => {
            for (_, v) in table.iter_mut() {
                prune_empty(v);
            }
            table.retain(|_, v| match v {
                toml::Value::Array(a) => !a.is_empty(),
                toml::Value::Table(t) => !t.is_empty(),
                _ => true,
            });
        }
        toml::Value::Array(items) => items.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

impl Config {
    /// Parses a configuration file and checks what the engine would refuse at start-up (routing
    /// settings, queues), so a bad file is named before anything runs.
    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        let mut config: Config = toml::from_str(text)?;
        config.check()?;
        // Queues are created in file order, except that a queue an exception rule moves
        // contacts to is created before the queue naming it.
        config.queues =
            crate::core::queue::order_by_move_targets(std::mem::take(&mut config.queues))?;
        Ok(config)
    }

    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Config::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration serialises")
    }

    /// The configuration as a file to start from (`routerd print-config`): every key that has a
    /// value, empty lists and tables left out (so a `[[tokens]]` or `relaxation` block can be
    /// added without clashing with an empty one), with commented examples of tokens and TLS.
    pub fn to_commented_toml(&self) -> String {
        let mut value = toml::Value::try_from(self).expect("the configuration serialises");
        prune_empty(&mut value);
        let body = toml::to_string_pretty(&value).expect("the configuration serialises");
        format!("{PRINT_HEADER}{body}{PRINT_FOOTER}")
    }

    /// What the engine would refuse: the routing settings and every queue.
    pub fn check(&self) -> anyhow::Result<()> {
        self.routing
            .validate()
            .map_err(|e| anyhow::anyhow!("[routing]: {e}"))?;
        for q in &self.queues {
            q.validate()
                .map_err(|e| anyhow::anyhow!("queue {:?}: {e}", q.name))?;
        }
        if let Some(nats) = &self.journal.nats {
            nats.check().map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    }

    /// The address to bind: the configured one, or — with no tokens configured and a
    /// non-loopback address asked for — the loopback address on the same port, with a warning to
    /// log.
    pub fn bind_address(&self) -> (SocketAddr, Option<String>) {
        self.bind(self.listen)
    }

    /// The HTTP listener's address to bind, by the same rule; `None` when HTTP is off.
    pub fn http_bind_address(&self) -> Option<(SocketAddr, Option<String>)> {
        self.http.enabled.then(|| self.bind(self.http.listen))
    }

    fn bind(&self, listen: SocketAddr) -> (SocketAddr, Option<String>) {
        if self.tokens.is_empty() && !listen.ip().is_loopback() {
            let loopback = SocketAddr::from(([127, 0, 0, 1], listen.port()));
            let warning = format!(
                "no tokens configured: listening on {loopback} instead of {listen} (configure \
                 tokens to serve other hosts)"
            );
            (loopback, Some(warning))
        } else {
            (listen, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Channel, Relax};

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = Config::default();
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
        assert_eq!(Config::from_toml(&c.to_commented_toml()).unwrap(), c);
    }

    /// What a reader does with `print-config`: append a tokens block, a relaxation step and the
    /// TLS example uncommented. The result parses.
    #[test]
    fn printed_config_combines_with_tokens_tls_and_relaxation_blocks() {
        let mut text = Config::default().to_commented_toml();
        text.push_str(
            "[[queues.relaxation]]\nafter_seconds = 30\ndrop = \"billing\"\n\
             [[tokens]]\ntoken = \"0123456789abcdef0123\"\nrole = \"admin\"\n\
             [tls]\ncert = \"a.crt\"\nkey = \"a.key\"\n",
        );
        let c = Config::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(c.tokens.len(), 1);
        assert!(c.tls.is_some());
        assert_eq!(c.queues[0].relaxation.len(), 1);
        let uncommented: String = Config::default()
            .to_commented_toml()
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.starts_with('[') || rest.contains(" = ") => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = Config::from_toml(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert_eq!(c.tokens[0].role, crate::access::Role::Frontend);
        let nats = c.journal.nats.as_ref().expect("the [journal.nats] example");
        assert_eq!(nats.check().unwrap().replicas, 3);
    }

    #[test]
    fn a_lease_shorter_than_a_nats_election_on_a_cluster_is_warned_about() {
        let cluster = NatsToml {
            urls: vec!["nats://127.0.0.1:4222".into()],
            replicas: 3,
            ..NatsToml::default()
        };
        assert_eq!(
            cluster.warning(),
            None,
            "the default lease rides out an election"
        );
        let short = NatsToml {
            lease_seconds: CLUSTER_LEASE_SECONDS - 1,
            ..cluster.clone()
        };
        assert!(
            short
                .warning()
                .unwrap()
                .contains("lease_seconds 14 with 3 copies")
        );
        assert!(short.check().is_ok(), "allowed, only warned about");
        let one_copy = NatsToml {
            replicas: 1,
            ..short
        };
        assert_eq!(one_copy.warning(), None, "one node: no election to outlast");
    }

    #[test]
    fn nats_journal_settings_are_checked_by_name() {
        let good = NatsToml {
            urls: vec!["nats://127.0.0.1:4222".into()],
            ..NatsToml::default()
        };
        assert_eq!(good.check().unwrap().stream, "ROUTERD");
        let refused = |n: NatsToml| n.check().unwrap_err();
        assert!(refused(NatsToml::default()).contains("journal.nats.urls"));
        assert!(
            refused(NatsToml {
                urls: vec!["nats://[oops".into()],
                ..good.clone()
            })
            .contains("not a server URL")
        );
        assert!(
            refused(NatsToml {
                stream: "ROUTER.D".into(),
                ..good.clone()
            })
            .contains("journal.nats.stream")
        );
        assert!(
            refused(NatsToml {
                replicas: 0,
                ..good.clone()
            })
            .contains("journal.nats.replicas")
        );
        assert!(
            refused(NatsToml {
                lease_seconds: 0,
                ..good.clone()
            })
            .contains("journal.nats.lease_seconds")
        );
        assert!(
            refused(NatsToml {
                advertise: Some("routerd-a".into()),
                ..good.clone()
            })
            .contains("journal.nats.advertise")
        );
        // The whole configuration refuses them at load, before anything starts.
        let text = "[journal.nats]\nurls = []\n";
        assert!(
            Config::from_toml(text)
                .unwrap_err()
                .to_string()
                .contains("journal.nats.urls")
        );
    }

    /// Every queue setting a file can hold comes back from its TOML form as it was: the one
    /// schema of a queue is its core type.
    #[test]
    fn a_queue_with_every_setting_round_trips() {
        let mut q = QueueConfig::new("billing");
        q.required_skills = vec!["billing:5".parse().unwrap(), "lang:es:7".parse().unwrap()];
        q.channels = vec![Channel::Voice, Channel::Chat];
        q.sl_threshold_secs = 30;
        q.sl_target_percent = 92.5;
        q.offer_timeout_secs = 20;
        q.wrap_up_secs = 15;
        q.max_wait_secs = 600;
        q.max_length = 200;
        q.strategy = "weighted".into();
        q.contact_strategy = "service-level".into();
        q.agent_weights = [("idle".into(), 0.001), ("performance".into(), 1.0)].into();
        q.contact_weights = [("sl-risk".into(), 5.0)].into();
        q.window = 12;
        q.band = Some(0.1);
        q.score_cap = Some(50.0);
        q.occupancy_cap_percent = 85.0;
        q.affinity_wait_secs = 30;
        q.affinity_horizon_secs = 3600;
        q.relaxation = vec![
            crate::core::RelaxStep {
                after_secs: 60,
                action: Relax::Lower {
                    skill: crate::core::SkillName::new("billing").unwrap(),
                    level: crate::core::Level::new(3).unwrap(),
                },
            },
            crate::core::RelaxStep {
                after_secs: 180,
                action: Relax::Drop {
                    skill: crate::core::SkillName::new("lang:es").unwrap(),
                },
            },
        ];
        let c = Config {
            queues: vec![q],
            ..Config::default()
        };
        let text = c.to_toml();
        assert_eq!(Config::from_toml(&text).unwrap(), c, "{text}");
    }

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let c = Config::from_toml(
            r#"
            listen = "0.0.0.0:6000"
            [routing]
            missed_offers_limit = 3
            [routing.channel_costs]
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
        assert_eq!(c.routing.costs.cost(Channel::Chat), 25);
        assert_eq!(c.routing.costs.cost(Channel::Voice), 100);
        assert_eq!(c.routing.missed_offers_limit, 3);
        assert_eq!(c.routing.max_agents, EngineConfig::default().max_agents);
        let q = &c.queues[0];
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
        assert!(Config::from_toml("[routing]\nagent_capacty = 3").is_err());
        assert!(Config::from_toml("[routing]\nagent_capacity = 0").is_err());
        assert!(Config::from_toml("[routing.channel_costs]\nfax = 3").is_err());
        assert!(Config::from_toml("[[queues]]\nname = \"q\"\nchannels = [\"fax\"]").is_err());
        assert!(Config::from_toml("[[queues]]\nname = \"q\"\nstrategy = \"random\"").is_err());
        assert!(Config::from_toml("[[queues]]\nname = \"q\"\nskills = [\"billing\"]").is_err());
        let both = "[[queues]]\nname = \"q\"\n[[queues.relaxation]]\nafter_seconds = 5\n\
                    lower = \"a:1\"\ndrop = \"a\"";
        assert!(Config::from_toml(both).is_err());
        // The version is the engine's to set, not the file's.
        assert!(Config::from_toml("[[queues]]\nname = \"q\"\nversion = 3").is_err());
    }

    /// The configuration example in the README parses and means what it says.
    #[test]
    fn the_readme_configuration_example_parses() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("```toml\n[routing]")
            .expect("example in README")
            + 8;
        let end = start + readme[start..].find("```").expect("end of example");
        let c = Config::from_toml(&readme[start..end]).unwrap();
        assert_eq!(c.routing.missed_offers_limit, 3);
        assert_eq!(c.routing.costs.cost(Channel::Chat), 25);
        assert_eq!(c.queues[0].max_length, 200);
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
        let queues = Config::from_toml(&toml).unwrap().queues;
        let q = &queues[0];
        assert_eq!(q.strategy, "performance");
        assert_eq!(q.contact_strategy, "service-level");
        assert_eq!(q.affinity_wait_secs, 30);
        assert_eq!(q.occupancy_cap_percent, 85.0);
        assert_eq!(q.alternatives, vec![vec!["overflow:1".parse().unwrap()]]);
        assert_eq!(q.agent_weights, [("idle".to_string(), 0.001)].into());
        assert_eq!(q.relaxation.len(), 2);
        assert!(
            matches!(&q.relaxation[1].action, Relax::Drop { skill } if skill.as_str() == "billing")
        );
    }
}
