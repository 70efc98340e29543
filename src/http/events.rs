//! `GET /api/v1/events`: the event stream as server-sent events, for browsers and `curl -N`.
//!
//! Each event is one SSE message: `id:` its sequence number, `event:` its kind in lower case
//! (`decision`, `contact_queued`, ...), `data:` the event in the protobuf JSON mapping (the
//! same `Event` StreamEvents sends). Where to start: `Last-Event-ID` (what a reconnecting
//! `EventSource` sends: the stream goes on after it), else `?from=N` (from N on), else live.
//! `?queue=` and `?agent_id=` filter (repeatable). A `heartbeat` event every
//! [`HEARTBEAT`] tells a page the stream is alive on a quiet floor.
//!
//! A subscriber that falls `limits.subscriber_buffer` events behind gets a `lagged` event
//! (`{"resumeFrom": N}`) and the stream ends; a reconnect with `Last-Event-ID` resumes where it
//! was, as long as the replay buffer still holds it. On drain the stream ends. Streams count
//! against `limits.max_subscribers` together with gRPC's.
//!
//! Cost: each event is converted and encoded once per subscriber (JSON, unlike the gRPC stream's
//! shared encoding); a wallboard is a handful of subscribers, not thousands.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as Sse, KeepAlive};
use futures_util::Stream;
use futures_util::stream::{self, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{ApiError, AppState};
use crate::drain::drained;
use crate::grpc::convert::event_to;
use crate::proto as pb;
use crate::runtime::bus::{Published, SubscribeError};

/// How often a quiet stream says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// Query parameters (`queue` and `agent_id` may repeat).
#[derive(Debug, Default)]
struct Params {
    from: Option<u64>,
    queues: HashSet<String>,
    agents: HashSet<String>,
}

impl Params {
    fn parse(pairs: Vec<(String, String)>) -> Result<Params, ApiError> {
        let mut params = Params::default();
        for (key, value) in pairs {
            match key.as_str() {
                "from" => {
                    let from = value.parse::<u64>().map_err(|_| {
                        ApiError::invalid(format!("from={value:?} is not a sequence number"))
                    })?;
                    params.from = (from > 0).then_some(from);
                }
                "queue" => drop(params.queues.insert(value)),
                "agent_id" => drop(params.agents.insert(value)),
                "access_token" => {}
                other => {
                    return Err(ApiError::invalid(format!(
                        "unknown parameter {other:?}: the event stream takes from, queue, \
                         agent_id"
                    )));
                }
            }
        }
        Ok(params)
    }

    fn matches(&self, p: &Published) -> bool {
        let e = &p.event;
        (self.queues.is_empty() || e.queue().is_some_and(|q| self.queues.contains(q)))
            && (self.agents.is_empty() || e.agent().is_some_and(|a| self.agents.contains(a)))
    }
}

/// The SSE message for one event.
fn message(p: &Published) -> Sse {
    let event = event_to(p);
    let kind = pb::EventKind::try_from(event.kind)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("EVENT_KIND_")
                .to_lowercase()
        })
        .unwrap_or_default();
    Sse::default()
        .id(p.sequence.to_string())
        .event(kind)
        .json_data(&event)
        .unwrap_or_else(|e| Sse::default().event("error").data(e.to_string()))
}

/// Where a subscriber's stream stands.
enum Step {
    Replay(std::vec::IntoIter<Arc<Published>>),
    Live,
    Done,
}

struct Feed {
    next: u64,
    step: Step,
    live: BroadcastStream<Arc<Published>>,
    params: Params,
    drain: crate::drain::Drain,
    _seat: crate::runtime::bus::Seat,
}

impl Feed {
    /// The message for `p`, if it is new and passes the filter.
    fn take(&mut self, p: &Published) -> Option<Sse> {
        if p.sequence < self.next {
            return None;
        }
        self.next = p.sequence + 1;
        self.params.matches(p).then(|| message(p))
    }

    async fn next_message(&mut self) -> Option<Sse> {
        loop {
            match &mut self.step {
                Step::Done => return None,
                Step::Replay(replay) => match replay.next() {
                    Some(p) => {
                        if let Some(m) = self.take(&p) {
                            return Some(m);
                        }
                    }
                    None => self.step = Step::Live,
                },
                Step::Live => {
                    let received = tokio::select! {
                        r = self.live.next() => r,
                        _ = drained(&mut self.drain) => None,
                    };
                    match received {
                        Some(Ok(p)) => {
                            if let Some(m) = self.take(&p) {
                                return Some(m);
                            }
                        }
                        Some(Err(BroadcastStreamRecvError::Lagged(_))) => {
                            self.step = Step::Done;
                            let lagged = serde_json::json!({ "resumeFrom": self.next });
                            return Some(Sse::default().event("lagged").data(lagged.to_string()));
                        }
                        None => self.step = Step::Done,
                    }
                }
            }
        }
    }
}

/// `GET /api/v1/events`.
pub(super) async fn stream(
    State(shared): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Sse<impl Stream<Item = Result<Sse, Infallible>>>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let mut params = Params::parse(pairs)?;
    if let Some(last) = headers.get("last-event-id") {
        let last = last
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::invalid("Last-Event-ID is not a sequence number"))?;
        params.from = Some(last + 1);
    }
    let seat = shared
        .subscribers
        .take_seat()
        .map_err(|full| ApiError::exhausted(full.to_string()))?;
    let subscription = shared
        .handle
        .bus()
        .subscribe(params.from)
        .map_err(|e| match e {
            // Gone from the replay buffer: the client must start over from a snapshot.
            SubscribeError::TooOld { .. } => ApiError {
                status: axum::http::StatusCode::GONE,
                code: "OUT_OF_RANGE",
                message: e.to_string(),
            },
            SubscribeError::Ahead { .. } => ApiError {
                status: axum::http::StatusCode::BAD_REQUEST,
                code: "OUT_OF_RANGE",
                message: e.to_string(),
            },
        })?;
    let feed = Feed {
        next: params.from.unwrap_or(subscription.next),
        step: Step::Replay(subscription.replay.into_iter()),
        live: BroadcastStream::new(subscription.live),
        params,
        drain: shared.drain.clone(),
        _seat: seat,
    };
    let messages = stream::unfold(feed, |mut feed| async move {
        let message = feed.next_message().await?;
        Some((Ok(message), feed))
    });
    Ok(axum::response::Sse::new(messages).keep_alive(
        KeepAlive::new()
            .interval(HEARTBEAT)
            .event(Sse::default().event("heartbeat").data("{}")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_checked_and_repeat() {
        let p = Params::parse(pairs(&[
            ("from", "7"),
            ("queue", "sales"),
            ("queue", "billing"),
            ("access_token", "x"),
        ]))
        .unwrap();
        assert_eq!(p.from, Some(7));
        assert_eq!(p.queues.len(), 2);
        assert_eq!(Params::parse(pairs(&[("from", "0")])).unwrap().from, None);
        let e = Params::parse(pairs(&[("from", "-1")])).unwrap_err();
        assert!(e.message.contains("not a sequence number"), "{e:?}");
        let e = Params::parse(pairs(&[("kind", "decision")])).unwrap_err();
        assert!(e.message.contains("unknown parameter"), "{e:?}");
    }
}
