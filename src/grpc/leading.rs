//! A routing service that exists once this routerd leads.
//!
//! A standby listens before its engine runs (see [`crate::runtime::leadership`]): each routing
//! service is a [`Leading`] whose cell is empty until the engine runs, and until then every call
//! is refused `UNAVAILABLE` with the leader's address in the `routerd-leader` metadata, so a
//! frontend or desktop can go there at once instead of guessing. The first call after the
//! engine runs fills the cell (from the handle the leadership holds, so no call made after the
//! routerd leads is refused), and the same server routes: no listener is rebound and no
//! connection is dropped.
//!
//! Cost on a served call: one atomic load (the cell) and the service's clone (an `Arc`), next
//! to the clone tonic's router already makes per call.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use tonic::Status;
use tonic::body::Body;

use crate::runtime::leadership::LEADER_HEADER;
use crate::runtime::{EngineHandle, Leadership};

/// A service that answers once its cell is filled (the engine runs), and refuses until then.
pub struct Leading<S> {
    service: Arc<OnceLock<S>>,
    /// Makes the service from the engine's handle.
    open: Arc<dyn Fn(EngineHandle) -> S + Send + Sync>,
    leadership: Leadership,
}

impl<S> Clone for Leading<S> {
    fn clone(&self) -> Leading<S> {
        Leading {
            service: self.service.clone(),
            open: self.open.clone(),
            leadership: self.leadership.clone(),
        }
    }
}

impl<S> Leading<S> {
    /// Refuses, naming the leader `leadership` reports, until it leads; then serves through
    /// what `open` makes of the handle.
    pub fn waiting(
        leadership: Leadership,
        open: impl Fn(EngineHandle) -> S + Send + Sync + 'static,
    ) -> Leading<S> {
        Leading {
            service: Arc::new(OnceLock::new()),
            open: Arc::new(open),
            leadership,
        }
    }

    /// The service, once this routerd leads (made at the first ask).
    pub fn service(&self) -> Option<&S> {
        if let Some(service) = self.service.get() {
            return Some(service);
        }
        let handle = self.leadership.handle()?;
        Some(self.service.get_or_init(|| (self.open)(handle)))
    }
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for Leading<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for Leading<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>
        + Clone,
    S::Future: Unpin,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<http::Response<Body>, Infallible>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The generated services are always ready; the one called is a fresh clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.service() {
            Some(service) => Either::Left(service.clone().call(request)),
            None => Either::Right(ready(Ok(refusal(&self.leadership).into_http()))),
        }
    }
}

/// UNAVAILABLE, naming the leader (in the message and the `routerd-leader` metadata).
pub fn refusal(leadership: &Leadership) -> Status {
    let (message, leader) = leadership.refusal();
    let mut status = Status::unavailable(message);
    if let Some(value) = leader.and_then(|l| l.parse().ok()) {
        status.metadata_mut().insert(LEADER_HEADER, value);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::leadership::standing_by;
    use tower::ServiceExt;

    #[tokio::test]
    async fn refuses_naming_the_leader_until_opened_then_serves() {
        let (standing, leadership) = standing_by();
        standing.following(Some("10.1.2.3:50051 (process 7, 00000001)"));
        let answered = tower::service_fn(|_: http::Request<Body>| async {
            Ok::<_, Infallible>(http::Response::new(Body::empty()))
        });
        let answered = tower::util::MapFuture::new(answered, Box::pin);
        let leading = Leading::waiting(leadership, move |_| answered.clone());
        let call = || {
            http::Request::builder()
                .uri("/routing.v1.ContactService/EnqueueContact")
                .body(Body::empty())
                .unwrap()
        };
        let refused = leading.clone().oneshot(call()).await.unwrap();
        let headers = refused.headers();
        assert_eq!(headers["grpc-status"], "14", "UNAVAILABLE");
        assert_eq!(headers[LEADER_HEADER], "10.1.2.3:50051");
        // Served from the first call after it leads.
        let running = crate::runtime::start(crate::runtime::RuntimeConfig::ephemeral())
            .await
            .unwrap();
        standing.lead(running.handle.clone());
        let served = leading.clone().oneshot(call()).await.unwrap();
        assert!(served.headers().get("grpc-status").is_none());
    }
}
