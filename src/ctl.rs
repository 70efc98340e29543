//! `routerd ctl`: the operator's command-line client. Lists, reads and changes queues, agents
//! and contacts, prints the snapshot, and follows the event stream, over the public gRPC API
//! with the same tokens as any client.
//!
//! Output is a table (or readable lines) for people and, with `--format json`, the protobuf
//! JSON mapping for scripts (what grpcurl and the HTTP API print). A refused call prints its
//! gRPC status and the process exits non-zero.
//!
//! `desktop AGENT` is an agent desktop in a terminal: it opens the agent's session, shows each
//! offer with its context and the customer's history, and takes one command a line (`a`
//! accept, `r` reject, `c` complete, `ready`, `break REASON`, `quit`), so it can be driven by a
//! person or by a script on its standard input.
//!
//! Limits: the desktop reads lines, not single key presses (no raw terminal mode); `queues put`
//! takes the configuration file's queue form (TOML), agents are put from flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::core::{QueueConfig, SkillLevel};
use crate::proto as pb;
use crate::proto::agent_service_client::AgentServiceClient;
use crate::proto::contact_service_client::ContactServiceClient;
use crate::proto::queue_service_client::QueueServiceClient;
use crate::proto::supervisor_service_client::SupervisorServiceClient;

/// Where the server is and how to reach it: shared by `ctl` and `loadgen`.
#[derive(Clone, Debug, Args)]
pub struct Connection {
    /// The server, e.g. http://127.0.0.1:50051 or 127.0.0.1:50051 (https://... for TLS).
    #[arg(long, default_value = "http://127.0.0.1:50051", global = true)]
    pub target: String,
    /// Bearer token.
    #[arg(long, env = "ROUTERD_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// A PEM file of the certificate authority to trust for TLS (implies https).
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
}

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct Token(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Token {
    pub fn new(token: Option<&str>) -> anyhow::Result<Token> {
        Ok(Token(match token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| anyhow::anyhow!("the token has characters a header cannot"))?,
            ),
            None => None,
        }))
    }
}

impl Interceptor for Token {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

/// An error and everything under it, on one line ("transport error" alone says little).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// Opens a connection to `target`, with TLS trusting `ca` when given.
pub async fn connect(target: &str, ca: Option<&PathBuf>) -> anyhow::Result<Channel> {
    let mut target = target.to_string();
    if !target.contains("://") {
        // HOST:PORT, as routerd logs its address and a standby names its leader.
        target = format!("http://{target}");
    }
    if ca.is_some() && target.starts_with("http://") {
        target = target.replacen("http://", "https://", 1);
    }
    let mut endpoint = Channel::from_shared(target.clone())
        .map_err(|e| anyhow::anyhow!("{target:?} is not a server address: {e}"))?
        .connect_timeout(Duration::from_secs(10));
    if let Some(ca) = ca {
        let pem =
            std::fs::read(ca).map_err(|e| anyhow::anyhow!("reading {}: {e}", ca.display()))?;
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
            .map_err(|e| anyhow::anyhow!("TLS configuration: {}", chain(&e)))?;
    } else if target.starts_with("https://") {
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().with_enabled_roots())
            .map_err(|e| anyhow::anyhow!("TLS configuration: {}", chain(&e)))?;
    }
    endpoint
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {target}: {}", chain(&e)))
}

#[derive(Clone, Debug, Args)]
pub struct Ctl {
    #[command(flatten)]
    pub connection: Connection,
    /// `table` for people, `json` for scripts.
    #[arg(long, default_value = "table", global = true)]
    pub format: String,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Clone, Debug, Subcommand)]
pub enum CtlCommand {
    /// Queues: list, get, put (from a TOML file), delete.
    #[command(subcommand)]
    Queues(QueuesCommand),
    /// Agents: list, get, put, state, remove.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Contacts: get, update, cancel.
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// Every queue's figures, now, for the interval and for today.
    Snapshot,
    /// An agent desktop in the terminal: offers with their context, one command a line.
    Desktop {
        agent: String,
        /// Log in ready (else not ready, `ready` to start).
        #[arg(long)]
        ready: bool,
    },
    /// Follow the event stream in readable lines (Ctrl-C to stop).
    Watch {
        /// Only these queues (repeatable).
        #[arg(long)]
        queue: Vec<String>,
        /// Only these agents (repeatable).
        #[arg(long)]
        agent: Vec<String>,
        /// Only these kinds, e.g. decision, contact_queued (repeatable).
        #[arg(long)]
        kind: Vec<String>,
        /// Replay from this sequence number first.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub enum QueuesCommand {
    List,
    Get {
        name: String,
    },
    /// Create or update a queue from a TOML file holding one queue in the configuration
    /// file's form (`name = "billing"`, `skills = ["billing:5"]`, ...).
    Put {
        file: PathBuf,
    },
    Delete {
        name: String,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub enum AgentsCommand {
    List {
        /// Only agents who can serve this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Agents per page (the server's limit is 1,000); `--all` follows every page.
        #[arg(long, default_value_t = 100)]
        page_size: u32,
        #[arg(long)]
        all: bool,
    },
    Get {
        id: String,
    },
    /// Create or update an agent.
    Put {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Skills as name:level, comma-separated (e.g. billing:7,lang:es:9).
        #[arg(long, value_delimiter = ',')]
        skills: Vec<String>,
        /// Capacity units (0: the server's default).
        #[arg(long, default_value_t = 0)]
        capacity: u32,
    },
    /// Set an agent's state: ready, not-ready REASON, or offline.
    State {
        id: String,
        state: String,
        reason: Option<String>,
    },
    Remove {
        id: String,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub enum ContactsCommand {
    Get {
        id: u64,
    },
    /// Cancel a waiting or offered contact: the customer hung up (`abandoned`, the default) or
    /// the frontend withdrew it (`--withdrawn`).
    Cancel {
        id: u64,
        #[arg(long)]
        withdrawn: bool,
    },
    /// Change a waiting contact (a supervisor raising a caller's priority, say): what is given
    /// replaces the contact's own; it is routed again at once. An offered or assigned contact is
    /// refused. Needs a frontend or admin token.
    Update {
        id: u64,
        #[arg(long)]
        priority: Option<u32>,
        /// The customer's value (0 or more).
        #[arg(long)]
        value: Option<f64>,
        /// The contact's own requirements as name:level, comma-separated (e.g. billing:5);
        /// the queue's defaults still apply.
        #[arg(long, value_delimiter = ',')]
        requires: Option<Vec<String>>,
        /// A context entry KEY=VALUE, added or replaced (repeat for more).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// A context key removed (repeat for more).
        #[arg(long = "unset", value_name = "KEY")]
        unset: Vec<String>,
    },
}

type Authed = InterceptedService<Channel, Token>;

/// Runs one `ctl` command; what it prints goes to `out`.
pub async fn run(ctl: Ctl, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let json = match ctl.format.as_str() {
        "json" => true,
        "table" => false,
        other => anyhow::bail!("--format {other:?}: table or json"),
    };
    let channel = connect(&ctl.connection.target, ctl.connection.ca.as_ref()).await?;
    let token = Token::new(ctl.connection.token.as_deref())?;
    let authed = || InterceptedService::new(channel.clone(), token.clone());
    match ctl.command {
        CtlCommand::Queues(command) => {
            let mut queues = QueueServiceClient::new(authed());
            match command {
                QueuesCommand::List => {
                    let list = queues
                        .list_queues(pb::ListQueuesRequest {})
                        .await
                        .map_err(refused)?
                        .into_inner();
                    if json {
                        return print_json(out, &list);
                    }
                    let rows = list.queues.iter().map(|q| {
                        vec![
                            q.name.clone(),
                            skills_text(&q.required_skills),
                            format!("{}% in {}s", q.sl_target_percent, q.sl_threshold_seconds),
                            format!("{}/{}", q.strategy, q.contact_strategy),
                            q.version.to_string(),
                        ]
                    });
                    table(
                        out,
                        &["QUEUE", "SKILLS", "TARGET", "STRATEGY", "VERSION"],
                        rows,
                    )
                }
                QueuesCommand::Get { name } => {
                    let queue = queues
                        .get_queue(pb::GetQueueRequest { name })
                        .await
                        .map_err(refused)?
                        .into_inner();
                    if json {
                        return print_json(out, &queue);
                    }
                    let config = crate::grpc::convert::queue_from(queue).map_err(refused)?;
                    write!(out, "{}", toml::to_string_pretty(&config)?)?;
                    Ok(())
                }
                QueuesCommand::Put { file } => {
                    let text = std::fs::read_to_string(&file)
                        .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
                    let config: QueueConfig = toml::from_str(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                    let reply = queues
                        .put_queue(pb::PutQueueRequest {
                            queue: Some(crate::grpc::convert::queue_to(&config)),
                        })
                        .await
                        .map_err(refused)?
                        .into_inner();
                    if json {
                        return print_json(out, &reply);
                    }
                    let q = reply.queue.unwrap_or_default();
                    let verb = if reply.created { "created" } else { "updated" };
                    writeln!(out, "queue {} {verb} (version {})", q.name, q.version)?;
                    Ok(())
                }
                QueuesCommand::Delete { name } => {
                    queues
                        .delete_queue(pb::DeleteQueueRequest { name: name.clone() })
                        .await
                        .map_err(refused)?;
                    writeln!(out, "queue {name} deleted")?;
                    Ok(())
                }
            }
        }
        CtlCommand::Agents(command) => agents(command, authed(), json, out).await,
        CtlCommand::Desktop { agent, ready } => {
            let lines = tokio::io::BufReader::new(tokio::io::stdin());
            desktop(authed(), &agent, ready, lines, out).await
        }
        CtlCommand::Contacts(command) => {
            let mut contacts = ContactServiceClient::new(authed());
            let contact = match command {
                ContactsCommand::Get { id } => contacts
                    .get_contact(pb::GetContactRequest { contact_id: id })
                    .await
                    .map_err(refused)?
                    .into_inner(),
                ContactsCommand::Cancel { id, withdrawn } => {
                    let reason = if withdrawn {
                        pb::CancelReason::Withdrawn
                    } else {
                        pb::CancelReason::Abandoned
                    };
                    contacts
                        .cancel_contact(pb::CancelContactRequest {
                            contact_id: id,
                            reason: reason as i32,
                        })
                        .await
                        .map_err(refused)?
                        .into_inner()
                        .contact
                        .unwrap_or_default()
                }
                ContactsCommand::Update {
                    id,
                    priority,
                    value,
                    requires,
                    set,
                    unset,
                } => {
                    let request = update_request(id, priority, value, requires, set, unset)?;
                    contacts
                        .update_contact(request)
                        .await
                        .map_err(refused)?
                        .into_inner()
                        .contact
                        .unwrap_or_default()
                }
            };
            if json {
                return print_json(out, &contact);
            }
            let state = enum_name(
                pb::ContactState::try_from(contact.state).ok(),
                "CONTACT_STATE_",
            );
            let fields = [
                ("contact", contact.id.to_string()),
                ("queue", contact.queue.clone()),
                (
                    "channel",
                    enum_name(pb::Channel::try_from(contact.channel).ok(), "CHANNEL_"),
                ),
                ("state", state),
                ("customer", contact.customer_id.clone()),
                ("priority", contact.priority.to_string()),
                ("agent", contact.agent_id.clone()),
                ("position", contact.position.to_string()),
                ("requires", skills_text(&contact.required_skills)),
                ("prefers", preference_text(&contact)),
                (
                    "context",
                    contact
                        .context
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            ];
            for (name, value) in fields {
                writeln!(out, "{name:<10} {value}")?;
            }
            Ok(())
        }
        CtlCommand::Snapshot => {
            let snapshot = SupervisorServiceClient::new(authed())
                .get_snapshot(pb::SnapshotRequest {})
                .await
                .map_err(refused)?
                .into_inner();
            if json {
                return print_json(out, &snapshot);
            }
            writeln!(
                out,
                "{} waiting · {} agents logged in · {} ready · event {}",
                snapshot.contacts_waiting,
                snapshot.agents_logged_in,
                snapshot.agents_ready,
                snapshot.last_sequence
            )?;
            let percent = |v: f64| format!("{:.1}%", v * 100.0);
            let rows = snapshot.queues.iter().map(|q| {
                let interval = q.interval.unwrap_or_default();
                let today = q.today.unwrap_or_default();
                vec![
                    q.queue.clone(),
                    q.waiting.to_string(),
                    format!("{:.0}s", q.longest_wait_ms as f64 / 1000.0),
                    format!(
                        "{}/{}/{}/{}",
                        q.agents_ready, q.agents_busy, q.agents_wrap_up, q.agents_not_ready
                    ),
                    percent(interval.sl_offered),
                    percent(today.sl_offered),
                    format!("{:.0}s", today.asa_ms as f64 / 1000.0),
                    percent(today.abandon_rate),
                    format!("{}/{}", today.answered, today.offered),
                ]
            });
            table(
                out,
                &[
                    "QUEUE",
                    "WAITING",
                    "LONGEST",
                    "RDY/BSY/WRP/NR",
                    "SL INTERVAL",
                    "SL TODAY",
                    "ASA TODAY",
                    "ABANDON TODAY",
                    "ANSWERED/ENTERED TODAY",
                ],
                rows,
            )
        }
        CtlCommand::Watch {
            queue,
            agent,
            kind,
            from,
        } => {
            let kinds = kind
                .iter()
                .map(|k| {
                    let name = format!("EVENT_KIND_{}", k.to_uppercase().replace('-', "_"));
                    pb::EventKind::from_str_name(&name)
                        .map(|k| k as i32)
                        .ok_or_else(|| anyhow::anyhow!("--kind {k:?} is not an event kind"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut stream = SupervisorServiceClient::new(authed())
                .stream_events(pb::StreamEventsRequest {
                    queues: queue,
                    agent_ids: agent,
                    kinds,
                    from_sequence: from,
                })
                .await
                .map_err(refused)?
                .into_inner();
            while let Some(event) = stream.message().await.map_err(refused)? {
                if json {
                    writeln!(out, "{}", serde_json::to_string(&event)?)?;
                } else {
                    writeln!(out, "{}", event_line(&event))?;
                }
                out.flush()?;
            }
            Ok(())
        }
    }
}

async fn agents(
    command: AgentsCommand,
    channel: Authed,
    json: bool,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let mut agents = AgentServiceClient::new(channel);
    match command {
        AgentsCommand::List {
            queue,
            page_size,
            all,
        } => {
            let mut listed = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = agents
                    .list_agents(pb::ListAgentsRequest {
                        page_size,
                        page_token: page_token.clone(),
                        queue: queue.clone().unwrap_or_default(),
                        ..Default::default()
                    })
                    .await
                    .map_err(refused)?
                    .into_inner();
                listed.extend(page.agents);
                page_token = page.next_page_token;
                if !all || page_token.is_empty() {
                    break;
                }
            }
            if json {
                return print_json(
                    out,
                    &pb::ListAgentsResponse {
                        agents: listed,
                        next_page_token: page_token,
                    },
                );
            }
            let rows = listed.iter().map(|a| {
                let spec = a.spec.clone().unwrap_or_default();
                vec![
                    spec.id.clone(),
                    spec.name.clone(),
                    agent_state(a),
                    format!("{}/{}", a.load, spec.capacity),
                    (a.assigned_contacts.len() + a.offered_contacts.len()).to_string(),
                    a.missed_offers_in_row.to_string(),
                    skills_text(&spec.skills),
                ]
            });
            table(
                out,
                &[
                    "AGENT", "NAME", "STATE", "LOAD", "CONTACTS", "MISSED", "SKILLS",
                ],
                rows,
            )?;
            if !page_token.is_empty() {
                writeln!(out, "(more: --all, or a larger --page-size)")?;
            }
            Ok(())
        }
        AgentsCommand::Get { id } => {
            let agent = agents
                .get_agent(pb::GetAgentRequest {
                    agent_id: id,
                    ..Default::default()
                })
                .await
                .map_err(refused)?
                .into_inner();
            if json {
                return print_json(out, &agent);
            }
            let spec = agent.spec.clone().unwrap_or_default();
            let fields = [
                ("agent", spec.id.clone()),
                ("name", spec.name.clone()),
                ("state", agent_state(&agent)),
                ("skills", skills_text(&spec.skills)),
                ("load", format!("{}/{}", agent.load, spec.capacity)),
                ("offered", ids(&agent.offered_contacts)),
                ("assigned", ids(&agent.assigned_contacts)),
                ("handled", agent.contacts_handled.to_string()),
                ("occupancy", format!("{:.1}%", agent.occupancy * 100.0)),
                ("session", agent.session_attached.to_string()),
            ];
            for (name, value) in fields {
                writeln!(out, "{name:<10} {value}")?;
            }
            Ok(())
        }
        AgentsCommand::Put {
            id,
            name,
            skills,
            capacity,
        } => {
            let skills = skill_levels("--skills", &skills)?;
            let reply = agents
                .put_agent(pb::PutAgentRequest {
                    agent: Some(pb::AgentSpec {
                        id: id.clone(),
                        name: name.unwrap_or_default(),
                        skills: crate::grpc::convert::skills_to(&skills),
                        capacity,
                        ..Default::default()
                    }),
                })
                .await
                .map_err(refused)?
                .into_inner();
            if json {
                return print_json(out, &reply);
            }
            let verb = if reply.created { "created" } else { "updated" };
            writeln!(out, "agent {id} {verb}")?;
            Ok(())
        }
        AgentsCommand::State { id, state, reason } => {
            use pb::agent_state_change::{NotReady, Offline, Ready, State};
            let state = match (state.as_str(), reason) {
                ("ready", None) => State::Ready(Ready {}),
                ("not-ready" | "not_ready", Some(reason)) => State::NotReady(NotReady { reason }),
                ("not-ready" | "not_ready", None) => {
                    anyhow::bail!("not-ready needs a reason, e.g. `not-ready lunch`")
                }
                ("offline", None) => State::Offline(Offline {}),
                (other, _) => {
                    anyhow::bail!("state {other:?}: ready, not-ready REASON or offline")
                }
            };
            let reply = agents
                .set_agent_state(pb::SetAgentStateRequest {
                    agent_id: id.clone(),
                    state: Some(pb::AgentStateChange { state: Some(state) }),
                })
                .await
                .map_err(refused)?
                .into_inner();
            if json {
                return print_json(out, &reply);
            }
            let agent = reply.agent.unwrap_or_default();
            writeln!(out, "agent {id} is {}", agent_state(&agent))?;
            Ok(())
        }
        AgentsCommand::Remove { id } => {
            agents
                .remove_agent(pb::RemoveAgentRequest {
                    agent_id: id.clone(),
                    ..Default::default()
                })
                .await
                .map_err(refused)?;
            writeln!(out, "agent {id} removed")?;
            Ok(())
        }
    }
}

const DESKTOP_HELP: &str = "commands: a = accept the offer, r = reject it, c [ID] = complete \
(the only or given contact), ready, break REASON, quit";

/// The terminal desktop: the session's messages as lines on `out`, commands from `input`.
pub async fn desktop(
    channel: Authed,
    agent: &str,
    ready: bool,
    input: impl tokio::io::AsyncBufRead + Unpin,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    use pb::session_event::Event as In;
    use pb::session_request::{Action, Complete, Login, OfferAnswer};
    use tokio::io::AsyncBufReadExt;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut next_request = 1u64;
    let mut send = |action: Action| {
        let request = pb::SessionRequest {
            request_id: next_request,
            action: Some(action),
        };
        next_request += 1;
        tx.try_send(request)
            .map_err(|_| anyhow::anyhow!("the session is not taking requests"))
    };
    send(Action::Login(Login {
        agent_id: agent.to_string(),
        ready,
    }))?;
    let mut inbound = AgentServiceClient::new(channel)
        .agent_session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(refused)?
        .into_inner();
    writeln!(out, "{DESKTOP_HELP}")?;
    let mut lines = input.lines();
    let mut offered: Option<u64> = None;
    let mut assigned: Vec<u64> = Vec::new();
    let mut input_open = true;
    loop {
        tokio::select! {
            message = inbound.message() => {
                let Some(message) = message.map_err(refused)? else {
                    writeln!(out, "session ended")?;
                    return Ok(());
                };
                match message.event {
                    Some(In::LoggedIn(a)) | Some(In::StateChanged(a)) => {
                        writeln!(out, "{agent} is {}", agent_state(&a))?;
                    }
                    Some(In::Offer(offer)) => {
                        let c = offer.contact.unwrap_or_default();
                        offered = Some(c.id);
                        let channel = enum_name(pb::Channel::try_from(c.channel).ok(), "CHANNEL_");
                        writeln!(
                            out,
                            "OFFER contact {} · {} · {} · customer {} · press a to accept, r to reject",
                            c.id, c.queue, channel, c.customer_id
                        )?;
                        let mut context: Vec<_> = c.context.iter().collect();
                        context.sort();
                        for (k, v) in context {
                            writeln!(out, "  {k}: {v}")?;
                        }
                        for h in &offer.history {
                            writeln!(
                                out,
                                "  before: contact {} in {} with {} ({})",
                                h.contact_id,
                                h.queue,
                                if h.agent_id.is_empty() { "nobody" } else { &h.agent_id },
                                h.outcome
                            )?;
                        }
                    }
                    Some(In::OfferWithdrawn(w)) => {
                        if offered == Some(w.contact_id) {
                            offered = None;
                        }
                        let why = enum_name(
                            pb::WithdrawalReason::try_from(w.withdrawal).ok(),
                            "WITHDRAWAL_REASON_",
                        );
                        writeln!(out, "contact {} withdrawn ({why})", w.contact_id)?;
                        assigned.retain(|id| *id != w.contact_id);
                    }
                    Some(In::Assigned(c)) => {
                        if offered == Some(c.id) {
                            offered = None;
                        }
                        assigned.push(c.id);
                        writeln!(out, "TALKING contact {} · {} · c to complete", c.id, c.queue)?;
                    }
                    Some(In::Error(e)) => {
                        writeln!(out, "refused: {}: {}", crate::grpc::status::code_name(e.code), e.message)?;
                    }
                    Some(In::Ack(_)) | None => {}
                }
                out.flush()?;
            }
            line = lines.next_line(), if input_open => {
                let Some(line) = line? else {
                    // The input ended (a script ran out): keep showing the session.
                    input_open = false;
                    continue;
                };
                let mut words = line.split_whitespace();
                match (words.next(), words.next()) {
                    (None, _) => {}
                    (Some("a"), _) => match offered {
                        Some(id) => send(Action::Accept(OfferAnswer { contact_id: id }))?,
                        None => writeln!(out, "no offer to accept")?,
                    },
                    (Some("r"), _) => match offered.take() {
                        Some(id) => send(Action::Reject(OfferAnswer { contact_id: id }))?,
                        None => writeln!(out, "no offer to reject")?,
                    },
                    (Some("c"), id) => {
                        let id = match id.map(str::parse::<u64>) {
                            Some(Ok(id)) => Some(id),
                            Some(Err(_)) => None,
                            None if assigned.len() == 1 => Some(assigned[0]),
                            None => None,
                        };
                        match id {
                            Some(id) => {
                                assigned.retain(|a| *a != id);
                                send(Action::Complete(Complete {
                                    contact_id: id,
                                    outcome: None,
                                }))?;
                                writeln!(out, "completed contact {id}")?;
                            }
                            None => writeln!(out, "complete which contact? c ID ({assigned:?})")?,
                        }
                    }
                    (Some("ready"), _) => send(Action::SetState(pb::AgentStateChange {
                        state: Some(pb::agent_state_change::State::Ready(Default::default())),
                    }))?,
                    (Some("break"), reason) => send(Action::SetState(pb::AgentStateChange {
                        state: Some(pb::agent_state_change::State::NotReady(
                            pb::agent_state_change::NotReady {
                                reason: reason.unwrap_or("break").to_string(),
                            },
                        )),
                    }))?,
                    (Some("quit"), _) => {
                        writeln!(out, "logged out")?;
                        return Ok(());
                    }
                    (Some(other), _) => writeln!(out, "{other:?}? {DESKTOP_HELP}")?,
                }
                out.flush()?;
            }
        }
    }
}

/// A refused call, as gRPC names its status.
fn refused(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: {}",
        crate::grpc::status::code_name(e.code() as i32),
        e.message()
    )
}

fn print_json(out: &mut impl std::io::Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// Columns padded to their widest cell.
fn table(
    out: &mut impl std::io::Write,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .collect();
    let mut widths = vec![0; header.len()];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

/// Skills given as `name:level` on the command line, for `flag`'s error.
fn skill_levels(flag: &str, given: &[String]) -> anyhow::Result<Vec<SkillLevel>> {
    given
        .iter()
        .map(|s| {
            s.parse::<SkillLevel>()
                .map_err(|e| anyhow::anyhow!("{flag} {s:?}: {e}"))
        })
        .collect()
}

/// The UpdateContact request `ctl contacts update` sends; bad arguments are caught here, before
/// any call.
fn update_request(
    id: u64,
    priority: Option<u32>,
    value: Option<f64>,
    requires: Option<Vec<String>>,
    set: Vec<String>,
    unset: Vec<String>,
) -> anyhow::Result<pb::UpdateContactRequest> {
    let required_skills = match requires {
        Some(skills) => Some(pb::SkillRequirements {
            skills: crate::grpc::convert::skills_to(&skill_levels("--requires", &skills)?),
        }),
        None => None,
    };
    let context_set = set
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(anyhow::anyhow!("--set {entry:?}: expected KEY=VALUE")),
        })
        .collect::<anyhow::Result<_>>()?;
    if priority.is_none()
        && value.is_none()
        && required_skills.is_none()
        && set.is_empty()
        && unset.is_empty()
    {
        anyhow::bail!("nothing to change: give --priority, --value, --requires, --set or --unset");
    }
    Ok(pb::UpdateContactRequest {
        contact_id: id,
        priority,
        customer_value: value,
        required_skills,
        context_set,
        context_removed: unset,
    })
}

/// `manager 90, deputy 40 · only them until <ms>`; `(recalled)` for an agent recalled from the
/// customer's history; empty when it prefers nobody.
fn preference_text(contact: &pb::Contact) -> String {
    let mut text = contact
        .preferred_agents
        .iter()
        .map(|p| format!("{} {}", p.agent_id, p.score))
        .collect::<Vec<_>>()
        .join(", ");
    if contact.preference_recalled {
        text.push_str(" (recalled)");
    }
    if contact.preferred_until_ms > 0 {
        text.push_str(&format!(
            " · only them until {}",
            contact.preferred_until_ms
        ));
    }
    text
}

fn skills_text(skills: &[pb::Skill]) -> String {
    skills
        .iter()
        .map(|s| format!("{}:{}", s.name, s.level))
        .collect::<Vec<_>>()
        .join(",")
}

fn ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// An enum value's name without its prefix, in lower case (`CHANNEL_VOICE` → `voice`).
fn enum_name<E: EnumName>(value: Option<E>, prefix: &str) -> String {
    value
        .map(|v| v.name().trim_start_matches(prefix).to_lowercase())
        .unwrap_or_else(|| "unknown".into())
}

trait EnumName {
    fn name(&self) -> &'static str;
}

impl EnumName for pb::ContactState {
    fn name(&self) -> &'static str {
        self.as_str_name()
    }
}

impl EnumName for pb::Channel {
    fn name(&self) -> &'static str {
        self.as_str_name()
    }
}

impl EnumName for pb::WithdrawalReason {
    fn name(&self) -> &'static str {
        self.as_str_name()
    }
}

impl EnumName for pb::EventKind {
    fn name(&self) -> &'static str {
        self.as_str_name()
    }
}

/// An agent's state as people say it: ready, busy, wrap-up, not ready (reason), offline.
fn agent_state(agent: &pb::Agent) -> String {
    match pb::AgentPresence::try_from(agent.presence) {
        Ok(pb::AgentPresence::Ready) if agent.load > 0 => "busy".into(),
        Ok(pb::AgentPresence::Ready) => "ready".into(),
        Ok(pb::AgentPresence::NotReady) => format!("not ready ({})", agent.not_ready_reason),
        Ok(pb::AgentPresence::WrapUp) => "wrap-up".into(),
        Ok(pb::AgentPresence::Offline) => "offline".into(),
        _ => "unknown".into(),
    }
}

/// One event as a readable line.
pub fn event_line(e: &pb::Event) -> String {
    use pb::event::Detail;
    let kind = enum_name(pb::EventKind::try_from(e.kind).ok(), "EVENT_KIND_");
    let mut line = format!("#{} {kind}", e.sequence);
    if !e.queue.is_empty() {
        line.push_str(&format!(" queue={}", e.queue));
    }
    if e.contact_id != 0 {
        line.push_str(&format!(" contact={}", e.contact_id));
    }
    if !e.agent_id.is_empty() {
        line.push_str(&format!(" agent={}", e.agent_id));
    }
    if !e.reason.is_empty() {
        line.push_str(&format!(" reason={}", e.reason));
    }
    match &e.detail {
        Some(Detail::Decision(d)) => line.push_str(&format!(
            " waited={:.1}s strategy={} considered={}",
            d.waited_ms as f64 / 1000.0,
            d.strategy,
            d.considered
        )),
        Some(Detail::Lagged(l)) => line.push_str(&format!(
            " (fell behind: resume with --from {})",
            l.resume_from
        )),
        _ => {}
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_and_errors_keep_their_causes() {
        let mut out = Vec::new();
        table(
            &mut out,
            &["QUEUE", "WAITING"],
            vec![vec!["billing".to_string(), "3".to_string()]].into_iter(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "QUEUE    WAITING\nbilling  3\n"
        );
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let wrapped = anyhow::Error::new(io).context("transport error");
        let e: &(dyn std::error::Error + 'static) = wrapped.as_ref();
        assert_eq!(chain(e), "transport error: Connection refused");
    }

    #[test]
    fn an_update_takes_what_is_given_and_refuses_bad_arguments_before_any_call() {
        let request = update_request(
            7,
            Some(5),
            None,
            Some(vec!["billing:5".into()]),
            vec!["tier=gold".into(), "note=a=b".into()],
            vec!["old".into()],
        )
        .unwrap();
        assert_eq!(request.contact_id, 7);
        assert_eq!(request.priority, Some(5));
        assert_eq!(request.customer_value, None);
        let skills = request.required_skills.unwrap().skills;
        assert_eq!((skills[0].name.as_str(), skills[0].level), ("billing", 5));
        assert_eq!(request.context_set["tier"], "gold");
        assert_eq!(request.context_set["note"], "a=b", "the first = splits");
        assert_eq!(request.context_removed, ["old"]);
        let e = update_request(7, None, None, None, vec![], vec![]).unwrap_err();
        assert!(e.to_string().contains("nothing to change"), "{e}");
        let e = update_request(7, None, None, None, vec!["tier".into()], vec![]).unwrap_err();
        assert!(e.to_string().contains("KEY=VALUE"), "{e}");
        let e = update_request(7, None, None, Some(vec!["billing".into()]), vec![], vec![]);
        assert!(e.unwrap_err().to_string().contains("--requires"));
    }

    #[test]
    fn a_preference_reads_as_agents_with_scores_and_the_wait() {
        let preferred = |agent: &str, score| pb::PreferredAgent {
            agent_id: agent.into(),
            score,
        };
        let mut contact = pb::Contact::default();
        assert_eq!(preference_text(&contact), "");
        contact.preferred_agents = vec![preferred("manager", 90), preferred("deputy", 40)];
        contact.preferred_until_ms = 1_700_000_030_000;
        assert_eq!(
            preference_text(&contact),
            "manager 90, deputy 40 · only them until 1700000030000"
        );
        contact.preferred_agents = vec![preferred("alice", 100)];
        contact.preference_recalled = true;
        contact.preferred_until_ms = 0;
        assert_eq!(preference_text(&contact), "alice 100 (recalled)");
    }
}
