//! Counting gRPC calls by method and status code, for `routerd_grpc_calls_total`.
//!
//! A tower layer around the whole tonic server. The code is read where gRPC puts it: in the
//! response headers for a refusal (a "trailers-only" response), else in the trailers at the
//! end of the body; a call whose body is dropped before its trailers (the client went away) is
//! counted as `CANCELLED`. Streams are counted once, when they end.
//!
//! Labels stay bounded: the method is the request path (`routing.v1.ContactService/...`) only
//! when the server knew it; calls to unknown paths (answered `UNIMPLEMENTED`) share the method
//! label `unknown`, so a client cannot grow the series by inventing paths.
//!
//! Cost: a label lookup and an atomic add per call, and a wrapper around the response body.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tonic::codegen::BoxFuture;

/// A call's label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabel {
    pub method: String,
    pub code: String,
}

/// gRPC calls by method and code (clones share the same series).
#[derive(Clone, Debug, Default)]
pub struct CallMetrics {
    pub calls: Family<CallLabel, Counter>,
}

/// The name gRPC gives a status code.
pub fn code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

fn status_code(headers: &http::HeaderMap) -> Option<i32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

impl CallMetrics {
    fn count(&self, path: &str, code: i32) {
        let method = if code == 12 {
            "unknown"
        } else {
            path.trim_start_matches('/')
        };
        self.calls
            .get_or_create(&CallLabel {
                method: method.to_string(),
                code: code_name(code).to_string(),
            })
            .inc();
    }
}

/// The layer: wraps the server's service in [`CountCalls`].
#[derive(Clone, Debug)]
pub struct CountCallsLayer(pub CallMetrics);

impl<S> tower::Layer<S> for CountCallsLayer {
    type Service = CountCalls<S>;

    fn layer(&self, inner: S) -> CountCalls<S> {
        CountCalls {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct CountCalls<S> {
    inner: S,
    metrics: CallMetrics,
}

impl<S, B> tower::Service<http::Request<B>> for CountCalls<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        let metrics = self.metrics.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            // A refusal carries its code in the headers, with no body to wait for.
            if let Some(code) = status_code(response.headers()) {
                metrics.count(&path, code);
                return Ok(response);
            }
            Ok(response.map(|body| {
                tonic::body::Body::new(Counted {
                    body,
                    call: Some((metrics, path)),
                })
            }))
        })
    }
}

/// A response body that counts its call when its trailers pass (or when it is dropped first).
struct Counted {
    body: tonic::body::Body,
    /// Taken when counted.
    call: Option<(CallMetrics, String)>,
}

impl Counted {
    fn count(&mut self, code: i32) {
        if let Some((metrics, path)) = self.call.take() {
            metrics.count(&path, code);
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // Dropped before its trailers: the client went away (or the server is stopping).
        self.count(1);
    }
}

impl Body for Counted {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_code) {
                    self.count(code);
                }
            }
            Poll::Ready(Some(Err(status))) => self.count(status.code() as i32),
            // The end without trailers: gRPC says the call failed.
            Poll::Ready(None) => self.count(2),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_share_one_label_and_codes_are_named() {
        let metrics = CallMetrics::default();
        metrics.count("/routing.v1.ContactService/EnqueueContact", 0);
        metrics.count("/routing.v1.ContactService/EnqueueContact", 3);
        metrics.count("/made.up/Path1", 12);
        metrics.count("/made.up/Path2", 12);
        let get = |method: &str, code: &str| {
            metrics
                .calls
                .get_or_create(&CallLabel {
                    method: method.into(),
                    code: code.into(),
                })
                .get()
        };
        assert_eq!(get("routing.v1.ContactService/EnqueueContact", "OK"), 1);
        assert_eq!(
            get(
                "routing.v1.ContactService/EnqueueContact",
                "INVALID_ARGUMENT"
            ),
            1
        );
        assert_eq!(get("unknown", "UNIMPLEMENTED"), 2);
        assert_eq!(code_name(99), "UNKNOWN");
    }
}
