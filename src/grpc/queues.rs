//! QueueService: queue administration.

use tonic::{Request, Response, Status};

use super::auth::caller;
use super::convert::{queue_from, queue_to};
use crate::access::{ADMIN_ONLY, Role};
use crate::core::{Applied, Command, CoreError};
use crate::proto as pb;
use crate::runtime::EngineHandle;

pub struct Queues {
    pub handle: EngineHandle,
}

#[tonic::async_trait]
impl pb::queue_service_server::QueueService for Queues {
    async fn put_queue(
        &self,
        request: Request<pb::PutQueueRequest>,
    ) -> Result<Response<pb::PutQueueResponse>, Status> {
        caller(&request).allow("PutQueue", ADMIN_ONLY, None)?;
        let queue = request
            .into_inner()
            .queue
            .ok_or_else(|| Status::invalid_argument("queue must be set"))?;
        let config = queue_from(queue)?;
        match self
            .handle
            .apply(Command::PutQueue(Box::new(config)))
            .await?
        {
            Applied::Queue { created, config } => Ok(Response::new(pb::PutQueueResponse {
                created,
                queue: Some(queue_to(&config)),
            })),
            other => Err(unexpected(other)),
        }
    }

    async fn delete_queue(
        &self,
        request: Request<pb::DeleteQueueRequest>,
    ) -> Result<Response<pb::DeleteQueueResponse>, Status> {
        caller(&request).allow("DeleteQueue", ADMIN_ONLY, None)?;
        let name = request.into_inner().name;
        self.handle.apply(Command::DeleteQueue { name }).await?;
        Ok(Response::new(pb::DeleteQueueResponse {}))
    }

    async fn get_queue(
        &self,
        request: Request<pb::GetQueueRequest>,
    ) -> Result<Response<pb::Queue>, Status> {
        caller(&request).allow("GetQueue", &[Role::Supervisor, Role::Frontend], None)?;
        let name = request.into_inner().name;
        let view = self.handle.view();
        let queue = view
            .queue(&name)
            .ok_or(CoreError::UnknownQueue { queue: name })?;
        Ok(Response::new(queue_to(&queue.config)))
    }

    async fn list_queues(
        &self,
        request: Request<pb::ListQueuesRequest>,
    ) -> Result<Response<pb::ListQueuesResponse>, Status> {
        caller(&request).allow("ListQueues", &[Role::Supervisor, Role::Frontend], None)?;
        let view = self.handle.view();
        Ok(Response::new(pb::ListQueuesResponse {
            queues: view.queues().map(|q| queue_to(&q.config)).collect(),
        }))
    }
}

/// A command answered with the wrong kind of result: a bug in the engine, not the client's fault.
pub(crate) fn unexpected(applied: Applied) -> Status {
    // The kind only: a contact's view carries customer context, which stays out of logs.
    let kind = match applied {
        Applied::Queue { .. } => "queue",
        Applied::Agent { .. } => "agent",
        Applied::Enqueued { .. } => "enqueued",
        Applied::EnqueueRepeated(_) => "enqueue repeated",
        Applied::Contact(_) => "contact",
        Applied::Done => "done",
    };
    tracing::error!(kind, "engine answered with an unexpected result");
    Status::internal("the engine answered with an unexpected result")
}
