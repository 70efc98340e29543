//! SupervisorService: the ordered, filterable, resumable event stream and the live snapshot.
//!
//! Served by [`SupervisorEndpoint`], a hand-written tonic service rather than the generated one:
//! StreamEvents sends each event's encoding, made once and shared by every stream (the generated
//! service would convert and encode every event once per subscriber). The wire format is exactly
//! the proto's `Event`; clients use the generated client as usual.
//!
//! Each stream is read straight off the bus by the transport (no task or queue per stream); a
//! stream whose client is slow falls behind on its own bounded receiver, gets a `lagged` event
//! naming where to resume, and ends. Routing never waits on a supervisor. Every stream ends with UNAVAILABLE when the server drains.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{BufMut, Bytes};
use prost::Message;
use tokio_stream::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Context, Poll, http};
use tonic::{Request, Response, Status};

use super::auth::caller;
use super::convert::{event_kind, event_to, snapshot_to};
use crate::access::Role;
use crate::drain::{Drain, SHUTTING_DOWN, drained};
use crate::proto as pb;
use crate::runtime::EngineHandle;
use crate::runtime::bus::{Published, Seat, Subscribers};

pub struct Supervisor {
    pub handle: EngineHandle,
    pub drain: Drain,
    pub subscribers: Subscribers,
}

/// Encoded `pb::Event`s: each event is encoded once, whatever the number of streams.
type EventStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

struct Filter {
    queues: HashSet<String>,
    agents: HashSet<String>,
    kinds: HashSet<i32>,
}

impl Filter {
    fn new(r: &pb::StreamEventsRequest) -> Result<Filter, Status> {
        for kind in &r.kinds {
            match pb::EventKind::try_from(*kind) {
                Ok(pb::EventKind::Unspecified) | Err(_) => {
                    return Err(Status::invalid_argument(format!(
                        "event kind {kind} is not a known kind"
                    )));
                }
                Ok(_) => {}
            }
        }
        Ok(Filter {
            queues: r.queues.iter().cloned().collect(),
            agents: r.agent_ids.iter().cloned().collect(),
            kinds: r.kinds.iter().copied().collect(),
        })
    }

    fn matches(&self, p: &Published) -> bool {
        let e = &p.event;
        (self.kinds.is_empty() || self.kinds.contains(&(event_kind(&e.body) as i32)))
            && (self.queues.is_empty() || e.queue().is_some_and(|q| self.queues.contains(q)))
            && (self.agents.is_empty() || e.agent().is_some_and(|a| self.agents.contains(a)))
    }
}

/// An event's wire form.
fn wire(p: &Published) -> Bytes {
    p.wire(|p| Bytes::from(event_to(p).encode_to_vec()))
}

fn lagged_notice(resume_from: u64) -> Bytes {
    let lagged = pb::Event {
        detail: Some(pb::event::Detail::Lagged(pb::Lagged { resume_from })),
        ..Default::default()
    };
    Bytes::from(lagged.encode_to_vec())
}

/// One subscriber's stream, read straight off the bus by the transport (no task, no extra
/// queue): replayed events, then live ones, filtered; a lag notice and the end if the subscriber
/// fell `subscriber_buffer` events behind; UNAVAILABLE when the server drains.
struct Feed {
    next: u64,
    replay: std::vec::IntoIter<Arc<Published>>,
    live: BroadcastStream<Arc<Published>>,
    filter: Filter,
    drained: Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
    /// Given back when the stream is dropped.
    _seat: Seat,
}

impl Feed {
    /// The message for `p`, if it is new and passes the filter.
    fn take(&mut self, p: &Published) -> Option<Bytes> {
        if p.sequence < self.next {
            return None;
        }
        self.next = p.sequence + 1;
        self.filter.matches(p).then(|| wire(p))
    }
}

impl Stream for Feed {
    type Item = Result<Bytes, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.drained.as_mut().poll(cx).is_ready() {
            this.done = true;
            return Poll::Ready(Some(Err(Status::unavailable(SHUTTING_DOWN))));
        }
        while let Some(p) = this.replay.next() {
            if let Some(message) = this.take(&p) {
                return Poll::Ready(Some(Ok(message)));
            }
        }
        loop {
            match Pin::new(&mut this.live).poll_next(cx) {
                Poll::Ready(Some(Ok(p))) => {
                    if let Some(message) = this.take(&p) {
                        return Poll::Ready(Some(Ok(message)));
                    }
                }
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(_)))) => {
                    this.done = true;
                    return Poll::Ready(Some(Ok(lagged_notice(this.next))));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Supervisor {
    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        caller(&request).allow("StreamEvents", &[Role::Supervisor], None)?;
        let r = request.into_inner();
        let filter = Filter::new(&r)?;
        let seat = self
            .subscribers
            .take_seat()
            .map_err(|full| Status::resource_exhausted(full.to_string()))?;
        let from = (r.from_sequence > 0).then_some(r.from_sequence);
        let subscription = self.handle.bus().subscribe(from)?;
        let mut drain = self.drain.clone();
        let feed = Feed {
            next: from.unwrap_or(subscription.next),
            replay: subscription.replay.into_iter(),
            live: BroadcastStream::new(subscription.live),
            filter,
            drained: Box::pin(async move { drained(&mut drain).await }),
            done: false,
            _seat: seat,
        };
        Ok(Response::new(Box::pin(feed)))
    }

    async fn get_snapshot(
        &self,
        request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<pb::SnapshotResponse>, Status> {
        caller(&request).allow("GetSnapshot", &[Role::Supervisor], None)?;
        // The read view of the last durable batch: no request to the engine.
        let view = self.handle.view();
        let now = self.handle.now().max(view.at);
        Ok(Response::new(snapshot_to(&view, now)))
    }
}

/// The SupervisorService endpoint (both methods), behind the token check like every service.
#[derive(Clone)]
pub struct SupervisorEndpoint {
    supervisor: Arc<Supervisor>,
    max_message: usize,
}

impl SupervisorEndpoint {
    pub fn new(supervisor: Supervisor, max_message: usize) -> SupervisorEndpoint {
        SupervisorEndpoint {
            supervisor: Arc::new(supervisor),
            max_message,
        }
    }
}

impl tonic::server::NamedService for SupervisorEndpoint {
    const NAME: &'static str = "routing.v1.SupervisorService";
}

struct StreamEvents(Arc<Supervisor>);

impl tonic::server::ServerStreamingService<pb::StreamEventsRequest> for StreamEvents {
    type Response = Bytes;
    type ResponseStream = EventStream;
    type Future = BoxFuture<Response<EventStream>, Status>;
    fn call(&mut self, request: Request<pb::StreamEventsRequest>) -> Self::Future {
        let supervisor = self.0.clone();
        Box::pin(async move { supervisor.stream_events(request).await })
    }
}

struct GetSnapshot(Arc<Supervisor>);

impl tonic::server::UnaryService<pb::SnapshotRequest> for GetSnapshot {
    type Response = pb::SnapshotResponse;
    type Future = BoxFuture<Response<pb::SnapshotResponse>, Status>;
    fn call(&mut self, request: Request<pb::SnapshotRequest>) -> Self::Future {
        let supervisor = self.0.clone();
        Box::pin(async move { supervisor.get_snapshot(request).await })
    }
}

impl<B> tower::Service<http::Request<B>> for SupervisorEndpoint
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let supervisor = self.supervisor.clone();
        let limit = Some(self.max_message);
        match request.uri().path() {
            "/routing.v1.SupervisorService/StreamEvents" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(WireCodec::default())
                    .apply_max_message_size_config(limit, None);
                Ok(grpc
                    .server_streaming(StreamEvents(supervisor), request)
                    .await)
            }),
            "/routing.v1.SupervisorService/GetSnapshot" => Box::pin(async move {
                let codec =
                    tonic_prost::ProstCodec::<pb::SnapshotResponse, pb::SnapshotRequest>::default();
                let mut grpc =
                    tonic::server::Grpc::new(codec).apply_max_message_size_config(limit, None);
                Ok(grpc.unary(GetSnapshot(supervisor), request).await)
            }),
            _ => Box::pin(async move {
                Ok(
                    Status::unimplemented("no such method in routing.v1.SupervisorService")
                        .into_http(),
                )
            }),
        }
    }
}

/// Decodes a `StreamEventsRequest`; sends already-encoded `Event`s as they are.
#[derive(Default)]
struct WireCodec(tonic_prost::ProstCodec<(), pb::StreamEventsRequest>);

impl Codec for WireCodec {
    type Encode = Bytes;
    type Decode = pb::StreamEventsRequest;
    type Encoder = WireEncoder;
    type Decoder = <tonic_prost::ProstCodec<(), pb::StreamEventsRequest> as Codec>::Decoder;

    fn encoder(&mut self) -> WireEncoder {
        WireEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        self.0.decoder()
    }
}

struct WireEncoder;

impl Encoder for WireEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Event, EventBody, QueueConfig};

    #[test]
    fn the_shared_encoding_is_the_events_own() {
        let p = Published {
            sequence: 7,
            event: Event {
                at: 42,
                body: EventBody::QueueChanged {
                    queue: QueueConfig::new("sales"),
                    deleted: false,
                },
            },
            wire: Default::default(),
        };
        let bytes = wire(&p);
        assert_eq!(pb::Event::decode(bytes.clone()).unwrap(), event_to(&p));
        assert_eq!(wire(&p), bytes, "encoded once, shared after");
    }
}
