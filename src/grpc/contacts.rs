//! ContactService: what ACD / IVR / chat frontends call.

use tonic::{Request, Response, Status};

use super::auth::{Principal, Role};
use super::convert::{
    agent_id, cancel_reason_from, contact_id, contact_state_to_i32, contact_to, new_contact_from,
    outcome_from,
};
use super::queues::unexpected;
use crate::core::{Applied, Command};
use crate::proto as pb;
use crate::server::EngineHandle;

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
        let who = Principal::of(&request);
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
        Principal::of(&request).allow("EnqueueContact", &[Role::Frontend], None)?;
        let new = new_contact_from(request.into_inner())?;
        match self.handle.apply(Command::Enqueue(new)).await? {
            Applied::Enqueued {
                contact,
                position,
                estimated_wait_ms,
            } => Ok(Response::new(pb::EnqueueContactResponse {
                contact_id: contact.id,
                position,
                estimated_wait_ms,
                state: contact_state_to_i32(&contact.state),
            })),
            other => Err(unexpected(other)),
        }
    }

    async fn cancel_contact(
        &self,
        request: Request<pb::CancelContactRequest>,
    ) -> Result<Response<pb::CancelContactResponse>, Status> {
        Principal::of(&request).allow("CancelContact", &[Role::Frontend], None)?;
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
        Principal::of(&request).allow("GetContact", &[Role::Frontend, Role::Supervisor], None)?;
        let id = contact_id(request.into_inner().contact_id)?;
        let (view, place) = self
            .handle
            .query(move |engine| (engine.contact_view(id), engine.queue_position(id)))
            .await?;
        let view = view.ok_or_else(|| Status::not_found(format!("contact {id} is not known")))?;
        let mut contact = contact_to(&view, true);
        if let Some((position, estimated_wait_ms)) = place {
            contact.position = position;
            contact.estimated_wait_ms = estimated_wait_ms;
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
        let who = Principal::of(&request);
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
