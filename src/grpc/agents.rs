//! AgentService: agent administration, and the desktop's session stream.
//!
//! A session is attached by the engine thread for as long as its stream lives. Requests on the
//! stream act only as the session's own agent; each is answered on the stream with an `ack` or
//! an `error` carrying its `request_id`, and a failed request leaves the session open.

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::auth::caller;
use super::convert::{
    agent_id, agent_spec_from, agent_to, channel_from, contact_id, contact_to, list_agents_to,
    outcome_from, presence_from,
};
use super::queues::unexpected;
use crate::access::{ADMIN_ONLY, Role};
use crate::core::{Applied, Command, CoreError, Presence};
use crate::drain::{Drain, SHUTTING_DOWN, drained};
use crate::proto as pb;
use crate::proto::session_event::Event as Out;
use crate::proto::session_request::Action;
use crate::runtime::SESSION_BUFFER;
use crate::runtime::{EngineHandle, SessionMessage};

pub struct Agents {
    pub handle: EngineHandle,
    pub drain: Drain,
    /// limits.max_message_bytes, to name it when a streamed request exceeds it.
    pub max_message: usize,
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<pb::SessionEvent, Status>> + Send>>;

impl Agents {
    async fn agent_command(&self, command: Command) -> Result<pb::Agent, Status> {
        match self.handle.apply(command).await? {
            Applied::Agent { agent, .. } => Ok(agent_to(&agent, self.handle.now())),
            other => Err(unexpected(other)),
        }
    }
}

#[tonic::async_trait]
impl pb::agent_service_server::AgentService for Agents {
    async fn put_agent(
        &self,
        request: Request<pb::PutAgentRequest>,
    ) -> Result<Response<pb::PutAgentResponse>, Status> {
        caller(&request).allow("PutAgent", ADMIN_ONLY, None)?;
        let spec = request
            .into_inner()
            .agent
            .ok_or_else(|| Status::invalid_argument("agent must be set"))?;
        let spec = agent_spec_from(spec)?;
        match self.handle.apply(Command::PutAgent(spec)).await? {
            Applied::Agent { created, agent } => Ok(Response::new(pb::PutAgentResponse {
                created,
                agent: Some(agent_to(&agent, self.handle.now())),
            })),
            other => Err(unexpected(other)),
        }
    }

    async fn remove_agent(
        &self,
        request: Request<pb::RemoveAgentRequest>,
    ) -> Result<Response<pb::RemoveAgentResponse>, Status> {
        caller(&request).allow("RemoveAgent", ADMIN_ONLY, None)?;
        let r = request.into_inner();
        let id = agent_id(either(&r.agent_id, &r.id))?;
        self.handle.apply(Command::RemoveAgent { id }).await?;
        Ok(Response::new(pb::RemoveAgentResponse {}))
    }

    async fn get_agent(
        &self,
        request: Request<pb::GetAgentRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let id = agent_id(either(&r.agent_id, &r.id))?;
        who.allow("GetAgent", &[Role::Supervisor, Role::Agent], Some(&id))?;
        let view = self.handle.view();
        let agent = view
            .agent(&id)
            .ok_or(CoreError::UnknownAgent { agent: id })?;
        Ok(Response::new(agent_to(agent, self.handle.now())))
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        caller(&request).allow("ListAgents", &[Role::Supervisor], None)?;
        let view = self.handle.view();
        let now = self.handle.now().max(view.at);
        Ok(Response::new(list_agents_to(
            &view,
            request.into_inner(),
            now,
        )?))
    }

    async fn set_agent_state(
        &self,
        request: Request<pb::SetAgentStateRequest>,
    ) -> Result<Response<pb::SetAgentStateResponse>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let agent = agent_id(&r.agent_id)?;
        who.allow(
            "SetAgentState",
            &[Role::Supervisor, Role::Agent],
            Some(&agent),
        )?;
        let command = Command::SetPresence {
            agent,
            presence: presence_from(r.state)?,
        };
        let agent = self.agent_command(command).await?;
        Ok(Response::new(pb::SetAgentStateResponse {
            agent: Some(agent),
        }))
    }

    async fn start_external_work(
        &self,
        request: Request<pb::StartExternalWorkRequest>,
    ) -> Result<Response<pb::ExternalWorkResponse>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let agent = agent_id(&r.agent_id)?;
        who.allow(
            "StartExternalWork",
            &[Role::Supervisor, Role::Frontend, Role::Agent],
            Some(&agent),
        )?;
        let command = Command::StartExternalWork {
            agent,
            id: r.work_id,
            channel: channel_from(r.channel)?,
            cost: r.cost,
            label: r.label,
        };
        let agent = self.agent_command(command).await?;
        Ok(Response::new(pb::ExternalWorkResponse {
            agent: Some(agent),
        }))
    }

    async fn end_external_work(
        &self,
        request: Request<pb::EndExternalWorkRequest>,
    ) -> Result<Response<pb::ExternalWorkResponse>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let agent = agent_id(&r.agent_id)?;
        who.allow(
            "EndExternalWork",
            &[Role::Supervisor, Role::Frontend, Role::Agent],
            Some(&agent),
        )?;
        let command = Command::EndExternalWork {
            agent,
            id: r.work_id,
        };
        let agent = self.agent_command(command).await?;
        Ok(Response::new(pb::ExternalWorkResponse {
            agent: Some(agent),
        }))
    }

    type AgentSessionStream = SessionStream;

    async fn agent_session(
        &self,
        request: Request<Streaming<pb::SessionRequest>>,
    ) -> Result<Response<SessionStream>, Status> {
        let who = caller(&request);
        let mut inbound = request.into_inner();
        let max_message = self.max_message;
        let first = inbound
            .message()
            .await
            .map_err(|s| super::limit_status(s, max_message))?
            .ok_or_else(|| Status::invalid_argument("the session ended before login"))?;
        let Some(Action::Login(login)) = first.action else {
            return Err(Status::invalid_argument("the first message must be login"));
        };
        let agent = agent_id(&login.agent_id)?;
        who.allow("AgentSession", &[Role::Agent], Some(&agent))?;
        let (to_session, mut from_engine) = mpsc::channel(SESSION_BUFFER);
        let (session, view) = self
            .handle
            .attach_session(agent.clone(), to_session)
            .await?;
        let (out, out_rx) = mpsc::channel(SESSION_BUFFER);
        let _ = out
            .send(Ok(event(Out::LoggedIn(agent_to(&view, self.handle.now())))))
            .await;
        let handle = self.handle.clone();
        let mut drain = self.drain.clone();
        if login.ready {
            let ready = Command::SetPresence {
                agent: agent.clone(),
                presence: Presence::Ready,
            };
            let reply = reply_for(&handle, first.request_id, ready).await;
            let _ = out.send(Ok(reply)).await;
        }
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    message = from_engine.recv() => match message {
                        Some(SessionMessage::Closed { reason }) => {
                            let _ = out.send(Err(Status::aborted(reason))).await;
                            break;
                        }
                        Some(message) => {
                            let now = handle.now();
                            if out.send(Ok(session_event(message, now))).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    request = inbound.message() => match request {
                        Ok(Some(request)) => {
                            let reply = handle_request(&handle, &agent, request).await;
                            if out.send(Ok(reply)).await.is_err() {
                                break;
                            }
                        }
                        // The desktop closed its side, or the connection broke.
                        Ok(None) => break,
                        Err(status) => {
                            let _ = out.send(Err(super::limit_status(status, max_message))).await;
                            break;
                        }
                    },
                    _ = out.closed() => break,
                    _ = drained(&mut drain) => {
                        let _ = out.send(Err(Status::unavailable(SHUTTING_DOWN))).await;
                        break;
                    }
                }
            }
            handle.detach_session(agent, session).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }
}

fn event(e: Out) -> pb::SessionEvent {
    pb::SessionEvent { event: Some(e) }
}

fn session_event(message: SessionMessage, now: crate::core::Millis) -> pb::SessionEvent {
    event(match message {
        SessionMessage::Offer {
            contact,
            deadline,
            history,
        } => Out::Offer(pb::Offer {
            contact: Some(contact_to(&contact, true)),
            deadline_ms: deadline,
            history: history.iter().map(super::convert::interaction_to).collect(),
        }),
        SessionMessage::Withdrawn { contact, reason } => {
            #[allow(deprecated)]
            let withdrawn = pb::OfferWithdrawn {
                contact_id: contact,
                reason: reason.code().to_string(),
                withdrawal: super::convert::withdrawal_to(reason) as i32,
            };
            Out::OfferWithdrawn(withdrawn)
        }
        SessionMessage::Assigned(contact) => Out::Assigned(contact_to(&contact, true)),
        SessionMessage::StateChanged(agent) => Out::StateChanged(agent_to(&agent, now)),
        SessionMessage::Closed { reason } => Out::Error(pb::SessionError {
            request_id: 0,
            code: tonic::Code::Aborted as i32,
            message: reason.into(),
        }),
    })
}

/// Runs one desktop request as the session's agent and answers it.
async fn handle_request(
    handle: &EngineHandle,
    agent: &str,
    request: pb::SessionRequest,
) -> pb::SessionEvent {
    let id = request.request_id;
    let command = (|| -> Result<Command, Status> {
        let agent = agent.to_string();
        Ok(match request.action {
            Some(Action::SetState(change)) => Command::SetPresence {
                agent,
                presence: presence_from(Some(change))?,
            },
            Some(Action::Accept(a)) => Command::Accept {
                contact: contact_id(a.contact_id)?,
                agent,
            },
            Some(Action::Reject(a)) => Command::Reject {
                contact: contact_id(a.contact_id)?,
                agent,
            },
            Some(Action::Complete(c)) => Command::Complete {
                contact: contact_id(c.contact_id)?,
                agent,
                outcome: outcome_from(c.outcome)?,
            },
            Some(Action::Transfer(t)) => Command::Transfer {
                to_agent: super::convert::named_agent_from(t.to_agent_id, t.agent_wait_seconds),
                contact: contact_id(t.contact_id)?,
                agent,
                queue: t.queue,
                required_skills: super::convert::skills_from(&t.required_skills)?,
                reason: t.reason,
            },
            Some(Action::Consult(c)) => Command::Consult {
                contact: contact_id(c.contact_id)?,
                agent,
                queue: c.queue,
                to_agent: (!c.to_agent_id.is_empty()).then_some(c.to_agent_id),
                reason: c.reason,
            },
            Some(Action::EndConsult(e)) => Command::EndConsult {
                contact: contact_id(e.contact_id)?,
                agent,
                transfer: e.transfer,
            },
            Some(Action::CallbackAttempt(a)) => Command::CallbackAttempt {
                contact: contact_id(a.contact_id)?,
                agent,
                result: super::convert::attempt_result_from(a.result)?,
                attempt: a.attempt,
            },
            Some(Action::Login(_)) => {
                return Err(Status::failed_precondition(
                    "this session is already logged in",
                ));
            }
            None => return Err(Status::invalid_argument("the request names no action")),
        })
    })();
    match command {
        Ok(command) => reply_for(handle, id, command).await,
        Err(status) => error_event(id, status),
    }
}

async fn reply_for(handle: &EngineHandle, id: u64, command: Command) -> pb::SessionEvent {
    match handle.apply(command).await {
        Ok(_) => event(Out::Ack(pb::Ack { request_id: id })),
        Err(e) => error_event(id, e.into()),
    }
}

fn error_event(id: u64, status: Status) -> pb::SessionEvent {
    event(Out::Error(pb::SessionError {
        request_id: id,
        code: status.code() as i32,
        message: status.message().to_string(),
    }))
}

/// `agent_id`, or the older `id` when it is empty.
fn either<'a>(agent_id: &'a str, id: &'a str) -> &'a str {
    if agent_id.is_empty() { id } else { agent_id }
}
