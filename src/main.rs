//! The `routerd` binary: `serve` runs the routing server; `print-config` prints the embedded
//! defaults as a TOML file to start from; `loadgen` load-tests a running server; `simulate`
//! runs a scenario on the routing engine in virtual time; `replay` runs a journal's recorded
//! traffic through the engine again, as it ran and under changes.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use routerd::config::Config;

/// See `routerd::allocator` for why mimalloc.
#[global_allocator]
static ALLOCATOR: routerd::allocator::Allocator = routerd::allocator::Allocator;

#[derive(Parser)]
#[command(
    name = "routerd",
    version,
    about = "Real-time skills-based routing for contact centers"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gRPC routing server (embedded defaults unless a file or flags override them).
    Serve {
        /// TOML configuration file; see `routerd print-config` for every key.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Listen address, e.g. 127.0.0.1:50051.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// HTTP listen address (wallboard, metrics, JSON API), e.g. 127.0.0.1:8080.
        #[arg(long)]
        http_listen: Option<SocketAddr>,
        /// Keep the journal in NATS JetStream at this server (repeat for a cluster's members),
        /// instead of the data directory; `[journal.nats]` sets the stream and replicas.
        #[arg(long)]
        nats: Vec<String>,
        /// With the journal on NATS: wait for the lease and take over when its holder stops
        /// renewing it, instead of refusing to start while another routerd holds it.
        #[arg(long)]
        standby: bool,
        /// Log filter, e.g. `info` or `routerd=debug`.
        #[arg(long)]
        log_level: Option<String>,
        /// Data directory for the journal and snapshots (default `routerd-data`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Keep everything in memory only: nothing is written, nothing survives a restart.
        #[arg(long)]
        ephemeral: bool,
    },
    /// Print the embedded default configuration as TOML.
    PrintConfig,
    /// Operate a running server: queues, agents, contacts, the snapshot, the event stream.
    Ctl(routerd::ctl::Ctl),
    /// Work on a stopped server's journal.
    #[command(subcommand)]
    Journal(JournalCmd),
    /// Play frontends and agent desktops against a running server and report what it sustained.
    Loadgen(routerd::loadgen::LoadgenConfig),
    /// Run a scenario (see benches/scenarios/) on the routing engine in virtual time and report
    /// service level, waits, abandonment, occupancy and fairness.
    Simulate {
        /// The scenario file.
        scenario: PathBuf,
        /// Run the same traffic under each of these strategies (`agent` or `agent/contact`,
        /// comma-separated) and print them side by side.
        #[arg(long, value_delimiter = ',')]
        compare: Vec<String>,
        /// `table` for people, `json` for machines.
        #[arg(long, default_value = "table")]
        format: String,
        /// Replaces the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Replaces the scenario's measured hours.
        #[arg(long)]
        hours: Option<f64>,
        /// Run each strategy this many times, on seeds seed, seed+1, …, and report means with
        /// 95 % confidence intervals (and, with --compare, paired differences).
        #[arg(long, default_value_t = 1,
              value_parser = clap::value_parser!(u32).range(1..=routerd::sim::MAX_REPLICATIONS as i64))]
        replications: u32,
        /// Also report the measured period interval by interval (the scenario's
        /// interval_minutes).
        #[arg(long)]
        by_interval: bool,
        /// Also write every command the run gave the engine to this directory as a journal,
        /// as the server would have (for `routerd replay`); one run only.
        #[arg(long, value_name = "DIR")]
        journal_out: Option<PathBuf>,
    },
    /// Replay the traffic a journal recorded through the routing engine: the recorded
    /// figures, the same traffic replayed without change (the check of the replay's model), and
    /// under changes of strategy or staffing, side by side. Reads the journal only.
    Replay {
        /// The data directory (default: the configuration's, `routerd-data`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The configuration file whose `[journal] dir` (or, with --nats, `[journal.nats]`
        /// stream) to read.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Read the journal from NATS JetStream at this server (repeat for a cluster's members)
        /// instead of a data directory.
        #[arg(long)]
        nats: Vec<String>,
        /// Also replay under each of these strategies (as `simulate --compare` spells them),
        /// one column each.
        #[arg(long, value_delimiter = ',')]
        compare: Vec<String>,
        /// Take this agent off the floor in the what-if columns (repeatable).
        #[arg(long = "remove-agent", value_name = "AGENT")]
        remove_agents: Vec<String>,
        /// Add an agent NEW who works like the recorded agent LIKE (same skills, hours,
        /// answers and speed) in the what-if columns (repeatable).
        #[arg(long = "add-agent", value_name = "NEW=LIKE")]
        add_agents: Vec<String>,
        /// Change a queue setting in the what-if columns, with its key and value as in the
        /// configuration file, e.g. `en-tech.sl_threshold_seconds=30` or
        /// `billing.relaxation=[{ after_seconds = 60, lower = "billing:2" }]` (repeatable).
        #[arg(long = "queue-set", value_name = "QUEUE.KEY=VALUE")]
        queue_settings: Vec<String>,
        /// Move agents' hours in the what-if columns: their presence and session changes happen
        /// MINUTES later (earlier when negative); AGENTS is an id, or an id's start and `*`
        /// (`en-tech-*=+60`) (repeatable).
        #[arg(
            long = "shift",
            value_name = "AGENTS=MINUTES",
            allow_hyphen_values = true
        )]
        shifts: Vec<String>,
        /// Replications per column, on seeds seed, seed+1, …
        #[arg(long, default_value_t = 5,
              value_parser = clap::value_parser!(u32).range(1..=routerd::sim::MAX_REPLICATIONS as i64))]
        replications: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The length of an interval, from the first record.
        #[arg(long, default_value_t = 30.0)]
        interval_minutes: f64,
        /// Also report interval by interval.
        #[arg(long)]
        by_interval: bool,
        /// `table` for people, `json` for machines.
        #[arg(long, default_value = "table")]
        format: String,
        /// Also write a scenario fitted to the recording (rates per interval, handle and
        /// patience distributions, agent groups) for `routerd simulate`.
        #[arg(long, value_name = "FILE")]
        export_scenario: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum JournalCmd {
    /// Keep every record before a damaged one: back up what is cut, cut the journal there.
    /// Run it with the server stopped.
    Repair {
        /// The configuration file whose `[journal] dir` to repair.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The data directory (default: the configuration's, `routerd-data`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::PrintConfig => {
            print!("{}", Config::default().to_commented_toml());
            Ok(())
        }
        Cmd::Journal(JournalCmd::Repair { config, data_dir }) => {
            let dir = match (data_dir, config) {
                (Some(dir), _) => dir,
                (None, Some(path)) => Config::load(&path)?.journal.dir,
                (None, None) => Config::default().journal.dir,
            };
            anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as u64;
            use routerd::command_log::file::repair::{Repair, repair};
            match repair(&dir, now)? {
                Repair::Sound { records } => {
                    println!(
                        "{}: no damage found ({records} records read)",
                        dir.display()
                    )
                }
                Repair::Repaired {
                    segment,
                    offset,
                    kept_until,
                    backup,
                    moved,
                } => {
                    println!(
                        "{}: cut at byte {offset}; records before {kept_until} are kept",
                        segment.display()
                    );
                    println!(
                        "backed up to {} (the damaged segment, and {} file(s) after it)",
                        backup.display(),
                        moved.len()
                    );
                }
            }
            Ok(())
        }
        Cmd::Replay {
            data_dir,
            config,
            nats,
            compare,
            remove_agents,
            add_agents,
            queue_settings,
            shifts,
            replications,
            seed,
            interval_minutes,
            by_interval,
            format,
            export_scenario,
        } => {
            let json = json_format(&format)?;
            let file_config = match &config {
                Some(path) => Config::load(path)?,
                None => Config::default(),
            };
            let dir = data_dir.unwrap_or(file_config.journal.dir.clone());
            let stream = (!nats.is_empty())
                .then(|| {
                    let mut toml = file_config.journal.nats.clone().unwrap_or_default();
                    toml.urls = nats;
                    toml.check().map_err(|e| anyhow::anyhow!("{e}"))
                })
                .transpose()?;
            anyhow::ensure!(
                interval_minutes.is_finite() && (1.0..=1440.0).contains(&interval_minutes),
                "--interval-minutes is between 1 and 1440, not {interval_minutes}"
            );
            let add_agents = add_agents
                .iter()
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(new, like)| (new.to_string(), like.to_string()))
                        .ok_or_else(|| anyhow::anyhow!("--add-agent takes NEW=LIKE, not {pair:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let shifts = shifts
                .iter()
                .map(|pair| {
                    let (agents, minutes) = pair.rsplit_once('=').ok_or_else(|| {
                        anyhow::anyhow!("--shift takes AGENTS=MINUTES, not {pair:?}")
                    })?;
                    let minutes: i64 = minutes.trim_start_matches('+').parse().map_err(|_| {
                        anyhow::anyhow!("--shift {pair:?}: MINUTES is a whole number, e.g. +60")
                    })?;
                    Ok((agents.to_string(), minutes))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let staffing = |strategy: Option<String>| routerd::replay::Change {
                strategy,
                remove_agents: remove_agents.clone(),
                add_agents: add_agents.clone(),
                queue_settings: queue_settings.clone(),
                shifts: shifts.clone(),
            };
            let changes = if compare.is_empty() {
                vec![staffing(None)]
            } else {
                compare.into_iter().map(|s| staffing(Some(s))).collect()
            };
            let started = std::time::Instant::now();
            let interval_ms = (interval_minutes * 60_000.0).round() as u64;
            // Reading and replaying are blocking work (the JetStream reader runs a runtime of
            // its own): off this one.
            let recording = tokio::task::spawn_blocking(move || match stream {
                Some(stream) => {
                    let name = format!("nats stream {}", stream.stream);
                    let store = routerd::command_log::jetstream::JetStreamStore::open(&stream)?;
                    let log = routerd::replay::WholeLog::new(Box::new(store), &name);
                    routerd::replay::Recording::read(&name, &log, interval_ms, by_interval)
                }
                None => {
                    let journal = routerd::replay::JournalDir::open(&dir)?;
                    let name = dir.display().to_string();
                    routerd::replay::Recording::read(&name, &journal, interval_ms, by_interval)
                }
            })
            .await??;
            let read = started.elapsed();
            if let Some(file) = export_scenario {
                let text = routerd::replay::export::scenario_toml(&recording)?;
                std::fs::write(&file, text)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
                eprintln!("wrote the fitted scenario to {}", file.display());
            }
            let options = routerd::replay::Options {
                changes,
                replications,
                seed,
                by_interval,
            };
            let (recording, options, comparison) = tokio::task::spawn_blocking(move || {
                let comparison = routerd::replay::replay(&recording, &options);
                (recording, options, comparison)
            })
            .await?;
            let comparison = comparison?;
            let runs = comparison.columns.len().saturating_sub(1) * replications as usize;
            let replayed = started.elapsed() - read;
            eprintln!(
                "read {} records ({} contacts) in {:.2} s; {runs} replays in {:.2} s ({:.0} contacts/s per replay)",
                recording.records,
                recording.contacts.len(),
                read.as_secs_f64(),
                replayed.as_secs_f64(),
                (recording.contacts.len() * runs) as f64 / replayed.as_secs_f64().max(1e-9)
            );
            if json {
                println!("{}", recording.to_json(&options.changes, &comparison)?);
            } else {
                println!("{}", recording.summary());
                for change in options.changes.iter().filter(|c| !c.is_none()) {
                    println!("what-if {}: {}", change.label(), change.describe());
                }
                if options.changes.iter().any(|c| !c.is_none()) {
                    println!();
                }
                print!("{}", comparison.to_table());
            }
            Ok(())
        }
        Cmd::Ctl(ctl) => routerd::ctl::run(ctl, &mut std::io::stdout().lock()).await,
        Cmd::Loadgen(config) => {
            let json = json_format(&config.format)?;
            let report = routerd::loadgen::run(config).await?;
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_table());
            }
            Ok(())
        }
        Cmd::Simulate {
            scenario,
            compare,
            format,
            seed,
            hours,
            replications,
            by_interval,
            journal_out,
        } => {
            let json = json_format(&format)?;
            let mut scenario = routerd::sim::Scenario::load(&scenario)?;
            if let Some(seed) = seed {
                scenario.seed = seed;
            }
            if let Some(hours) = hours {
                scenario.duration_secs = hours * 3600.0;
            }
            scenario.by_interval |= by_interval;
            if let Some(dir) = journal_out {
                anyhow::ensure!(
                    compare.is_empty() && replications == 1,
                    "--journal-out records one run: not with --compare or --replications"
                );
                let (report, records) = routerd::sim::record(&scenario)?;
                routerd::replay::write_journal(&dir, &records, 100_000)?;
                eprintln!("wrote {} records to {}", records.len(), dir.display());
                if json {
                    println!("{}", report.to_json());
                } else {
                    print!("{}", report.to_table());
                }
            } else if compare.is_empty() && replications == 1 {
                let report = routerd::sim::run(&scenario)?;
                if json {
                    println!("{}", report.to_json());
                } else {
                    print!("{}", report.to_table());
                }
            } else {
                let comparison = routerd::sim::compare(&scenario, &compare, replications)?;
                if json {
                    println!("{}", comparison.to_json());
                } else {
                    print!("{}", comparison.to_table());
                }
            }
            Ok(())
        }
        Cmd::Serve {
            config,
            listen,
            http_listen,
            nats,
            standby,
            log_level,
            data_dir,
            ephemeral,
        } => {
            let mut cfg = match config {
                Some(path) => Config::load(&path)?,
                None => Config::default(),
            };
            if let Some(listen) = listen {
                cfg.listen = listen;
            }
            if let Some(listen) = http_listen {
                cfg.http.listen = listen;
            }
            if let Some(level) = log_level {
                cfg.log_level = level;
            }
            if let Some(dir) = data_dir {
                cfg.journal.dir = dir;
            }
            cfg.journal.ephemeral |= ephemeral;
            if !nats.is_empty() {
                cfg.journal.nats.get_or_insert_with(Default::default).urls = nats;
            }
            if standby {
                let Some(nats) = &mut cfg.journal.nats else {
                    anyhow::bail!(
                        "--standby follows a journal on NATS: give --nats or [journal.nats]"
                    );
                };
                nats.standby = true;
            }
            tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::try_new(log_filter(&cfg.log_level))?)
                // Colours for a terminal only, not for journald or a log file.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .init();
            let grpc = bind(cfg.bind_address()).await?;
            let http = match cfg.http_bind_address() {
                Some(address) => Some(bind(address).await?),
                None => None,
            };
            let shutdown = shutdown_signal();
            let listeners = routerd::app::Listeners { grpc, http };
            routerd::app::serve(&cfg, listeners, shutdown).await
        }
    }
}

/// A bare level (`debug`, say) means routerd's own logs at that level and its dependencies' at
/// `warn` (HTTP/2 frame logs would drown everything else); a full filter is taken as written.
fn log_filter(level: &str) -> String {
    match level.trim() {
        bare @ ("trace" | "debug" | "info") => format!("warn,routerd={bare}"),
        filter => filter.to_string(),
    }
}

/// Binds a listener, logging the configuration's warning about the address if it has one.
async fn bind(
    (addr, warning): (SocketAddr, Option<String>),
) -> anyhow::Result<tokio::net::TcpListener> {
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// `--format`: true for `json`, false for `table`.
fn json_format(format: &str) -> anyhow::Result<bool> {
    match format {
        "json" => Ok(true),
        "table" => Ok(false),
        other => anyhow::bail!("--format is table or json, not {other:?}"),
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed here, at once (not when the future
/// is first polled), so a signal that comes as soon as routerd logs that it listens stops it
/// cleanly instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (interrupt, terminate) = signals;
            let arrives = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = arrives(interrupt) => {},
                _ = arrives(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}
