//! ContactService: what ACD / IVR / chat frontends call.

use tonic::{Request, Response, Status};

use super::auth::caller;
use super::convert::{
    agent_id, attempt_result_from, cancel_reason_from, contact_id, contact_state_to_i32,
    contact_to, contact_update_from, named_agent_from, new_contact_from, outcome_from, skills_from,
};
use super::queues::unexpected;
use crate::access::Role;
use crate::core::{Applied, CallbackRequest, Command};
use crate::proto as pb;
use crate::runtime::EngineHandle;

/// Most contacts one EnqueueContacts call may carry.
pub const MAX_BATCH: usize = 1_000;

fn enqueued(applied: Applied) -> Result<pb::EnqueueContactResponse, Status> {
    match applied {
        Applied::Enqueued {
            contact,
            position,
            estimated_wait_ms,
        } => Ok(pb::EnqueueContactResponse {
            contact_id: contact.id,
            position,
            estimated_wait_ms,
            state: contact_state_to_i32(&contact.state),
            repeated: false,
        }),
        Applied::EnqueueRepeated(answer) => Ok(pb::EnqueueContactResponse {
            contact_id: answer.contact,
            position: answer.position,
            estimated_wait_ms: answer.estimated_wait_ms,
            state: if answer.position == 0 {
                pb::ContactState::Offered
            } else {
                pb::ContactState::Waiting
            } as i32,
            repeated: true,
        }),
        other => Err(unexpected(other)),
    }
}

pub struct Contacts {
    pub handle: EngineHandle,
}

impl Contacts {
    /// A frontend answering an offer on an agent's behalf (accept or reject).
    async fn answer(
        &self,
        request: Request<pb::OfferAnswerRequest>,
        call: &str,
        command: fn(u64, String) -> Command,
    ) -> Result<Response<pb::OfferAnswerResponse>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let agent = agent_id(&r.agent_id)?;
        who.allow(call, &[Role::Frontend, Role::Agent], Some(&agent))?;
        let command = command(contact_id(r.contact_id)?, agent);
        let contact = self.contact_command(command).await?;
        Ok(Response::new(pb::OfferAnswerResponse {
            contact: Some(contact),
        }))
    }

    async fn contact_command(&self, command: Command) -> Result<pb::Contact, Status> {
        match self.handle.apply(command).await? {
            Applied::Contact(view) => Ok(contact_to(&view, true)),
            other => Err(unexpected(other)),
        }
    }
}

#[tonic::async_trait]
impl pb::contact_service_server::ContactService for Contacts {
    async fn enqueue_contact(
        &self,
        request: Request<pb::EnqueueContactRequest>,
    ) -> Result<Response<pb::EnqueueContactResponse>, Status> {
        caller(&request).allow("EnqueueContact", &[Role::Frontend], None)?;
        let new = new_contact_from(request.into_inner())?;
        let applied = self.handle.apply(Command::Enqueue(new)).await?;
        enqueued(applied).map(Response::new)
    }

    async fn enqueue_contacts(
        &self,
        request: Request<pb::EnqueueContactsRequest>,
    ) -> Result<Response<pb::EnqueueContactsResponse>, Status> {
        caller(&request).allow("EnqueueContacts", &[Role::Frontend], None)?;
        let requests = request.into_inner().contacts;
        if requests.is_empty() || requests.len() > MAX_BATCH {
            return Err(Status::invalid_argument(format!(
                "a batch holds 1 to {MAX_BATCH} contacts, not {}",
                requests.len()
            )));
        }
        // Items that do not convert are refused on their own; the rest go in one engine request.
        let converted: Vec<Result<Command, Status>> = requests
            .into_iter()
            .map(|r| new_contact_from(r).map(Command::Enqueue))
            .collect();
        let commands = converted
            .iter()
            .filter_map(|c| c.as_ref().ok().cloned())
            .collect();
        let mut applied = self.handle.apply_many(commands).await?.into_iter();
        let results = converted
            .into_iter()
            .map(|c| {
                let outcome = match c {
                    Ok(_) => match applied.next() {
                        Some(Ok(a)) => enqueued(a),
                        Some(Err(e)) => Err(Status::from(e)),
                        None => Err(Status::internal("the engine answered too few results")),
                    },
                    Err(status) => Err(status),
                };
                pb::EnqueueResult {
                    result: Some(match outcome {
                        Ok(r) => pb::enqueue_result::Result::Enqueued(r),
                        Err(s) => pb::enqueue_result::Result::Refused(pb::Refusal {
                            code: s.code() as i32,
                            message: s.message().to_string(),
                        }),
                    }),
                }
            })
            .collect();
        Ok(Response::new(pb::EnqueueContactsResponse { results }))
    }

    async fn transfer_contact(
        &self,
        request: Request<pb::TransferContactRequest>,
    ) -> Result<Response<pb::TransferContactResponse>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let agent = agent_id(&r.agent_id)?;
        who.allow(
            "TransferContact",
            &[Role::Frontend, Role::Agent],
            Some(&agent),
        )?;
        let command = Command::Transfer {
            to_agent: named_agent_from(r.to_agent_id, r.agent_wait_seconds),
            contact: contact_id(r.contact_id)?,
            agent,
            queue: r.queue,
            required_skills: skills_from(&r.required_skills)?,
            reason: r.reason,
        };
        let contact = self.contact_command(command).await?;
        Ok(Response::new(pb::TransferContactResponse {
            contact: Some(contact),
        }))
    }

    async fn escalate_contact(
        &self,
        request: Request<pb::EscalateContactRequest>,
    ) -> Result<Response<pb::EscalateContactResponse>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let agent = agent_id(&r.agent_id)?;
        who.allow(
            "EscalateContact",
            &[Role::Frontend, Role::Agent],
            Some(&agent),
        )?;
        let command = Command::Escalate {
            contact: contact_id(r.contact_id)?,
            agent,
            queue: r.queue,
            summary: r.summary,
            fields: r.fields.into_iter().collect(),
            required_skills: skills_from(&r.required_skills)?,
        };
        let contact = self.contact_command(command).await?;
        Ok(Response::new(pb::EscalateContactResponse {
            contact: Some(contact),
        }))
    }

    async fn consult_contact(
        &self,
        request: Request<pb::ConsultContactRequest>,
    ) -> Result<Response<pb::ConsultContactResponse>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let agent = agent_id(&r.agent_id)?;
        who.allow(
            "ConsultContact",
            &[Role::Frontend, Role::Agent],
            Some(&agent),
        )?;
        let command = Command::Consult {
            contact: contact_id(r.contact_id)?,
            agent,
            queue: r.queue,
            to_agent: (!r.to_agent_id.is_empty()).then_some(r.to_agent_id),
            reason: r.reason,
        };
        let contact = self.contact_command(command).await?;
        Ok(Response::new(pb::ConsultContactResponse {
            contact: Some(contact),
        }))
    }

    async fn end_consult(
        &self,
        request: Request<pb::EndConsultRequest>,
    ) -> Result<Response<pb::EndConsultResponse>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let agent = agent_id(&r.agent_id)?;
        who.allow("EndConsult", &[Role::Frontend, Role::Agent], Some(&agent))?;
        let command = Command::EndConsult {
            contact: contact_id(r.contact_id)?,
            agent,
            transfer: r.transfer,
        };
        let contact = self.contact_command(command).await?;
        Ok(Response::new(pb::EndConsultResponse {
            contact: Some(contact),
        }))
    }

    async fn request_callback(
        &self,
        request: Request<pb::RequestCallbackRequest>,
    ) -> Result<Response<pb::RequestCallbackResponse>, Status> {
        caller(&request).allow("RequestCallback", &[Role::Frontend], None)?;
        let r = request.into_inner();
        let command = Command::RequestCallback {
            contact: contact_id(r.contact_id)?,
            request: CallbackRequest {
                not_before: r.not_before_ms,
                window_end: r.window_end_ms,
                number: r.number,
            },
        };
        let contact = self.contact_command(command).await?;
        Ok(Response::new(pb::RequestCallbackResponse {
            contact: Some(contact),
        }))
    }

    async fn report_callback_attempt(
        &self,
        request: Request<pb::ReportCallbackAttemptRequest>,
    ) -> Result<Response<pb::ReportCallbackAttemptResponse>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let agent = agent_id(&r.agent_id)?;
        who.allow(
            "ReportCallbackAttempt",
            &[Role::Frontend, Role::Agent],
            Some(&agent),
        )?;
        let command = Command::CallbackAttempt {
            contact: contact_id(r.contact_id)?,
            agent,
            result: attempt_result_from(r.result)?,
            attempt: r.attempt,
        };
        let contact = self.contact_command(command).await?;
        Ok(Response::new(pb::ReportCallbackAttemptResponse {
            contact: Some(contact),
        }))
    }

    async fn update_contact(
        &self,
        request: Request<pb::UpdateContactRequest>,
    ) -> Result<Response<pb::UpdateContactResponse>, Status> {
        caller(&request).allow("UpdateContact", &[Role::Frontend, Role::Supervisor], None)?;
        let r = request.into_inner();
        let command = Command::UpdateContact {
            contact: contact_id(r.contact_id)?,
            update: contact_update_from(r)?,
        };
        let contact = self.contact_command(command).await?;
        Ok(Response::new(pb::UpdateContactResponse {
            contact: Some(contact),
        }))
    }

    async fn cancel_contact(
        &self,
        request: Request<pb::CancelContactRequest>,
    ) -> Result<Response<pb::CancelContactResponse>, Status> {
        caller(&request).allow("CancelContact", &[Role::Frontend], None)?;
        let r = request.into_inner();
        let command = Command::Cancel {
            contact: contact_id(r.contact_id)?,
            reason: cancel_reason_from(r.reason)?,
        };
        let contact = self.contact_command(command).await?;
        Ok(Response::new(pb::CancelContactResponse {
            contact: Some(contact),
        }))
    }

    async fn get_contact(
        &self,
        request: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        caller(&request).allow("GetContact", &[Role::Frontend, Role::Supervisor], None)?;
        let id = contact_id(request.into_inner().contact_id)?;
        let (view, place, preference) = self
            .handle
            .query(move |engine| {
                (
                    engine.contact_view(id),
                    engine.queue_position(id),
                    engine.preference_of(id),
                )
            })
            .await?;
        let view = view.ok_or_else(|| Status::not_found(format!("contact {id} is not known")))?;
        let mut contact = contact_to(&view, true);
        if let Some((position, estimated_wait_ms)) = place {
            contact.position = position;
            contact.estimated_wait_ms = estimated_wait_ms;
        }
        if let Some(preference) = preference {
            contact.preferred_agents = preference
                .agents
                .into_iter()
                .map(|p| pb::PreferredAgent {
                    agent_id: p.agent,
                    score: p.score,
                })
                .collect();
            contact.preferred_until_ms = preference.until;
            contact.preference_recalled = preference.recalled;
        }
        Ok(Response::new(contact))
    }

    async fn accept_offer(
        &self,
        request: Request<pb::OfferAnswerRequest>,
    ) -> Result<Response<pb::OfferAnswerResponse>, Status> {
        self.answer(request, "AcceptOffer", |contact, agent| Command::Accept {
            contact,
            agent,
        })
        .await
    }

    async fn reject_offer(
        &self,
        request: Request<pb::OfferAnswerRequest>,
    ) -> Result<Response<pb::OfferAnswerResponse>, Status> {
        self.answer(request, "RejectOffer", |contact, agent| Command::Reject {
            contact,
            agent,
        })
        .await
    }

    async fn complete_contact(
        &self,
        request: Request<pb::CompleteContactRequest>,
    ) -> Result<Response<pb::CompleteContactResponse>, Status> {
        let who = caller(&request);
        let r = request.into_inner();
        let agent = agent_id(&r.agent_id)?;
        who.allow(
            "CompleteContact",
            &[Role::Frontend, Role::Agent],
            Some(&agent),
        )?;
        let command = Command::Complete {
            contact: contact_id(r.contact_id)?,
            agent,
            outcome: outcome_from(r.outcome)?,
        };
        let contact = self.contact_command(command).await?;
        Ok(Response::new(pb::CompleteContactResponse {
            contact: Some(contact),
        }))
    }
}
