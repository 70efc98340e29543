//! The HTTP listener: the wallboard, Prometheus metrics, the JSON snapshot and agent list, and
//! the event stream as server-sent events — for supervisors' browsers and for scrapers.
//!
//! Routes (every `/api` and `/metrics` route needs a supervisor or admin token, as a bearer
//! token in `Authorization` or, for a browser's `EventSource` that cannot set headers, as
//! `?access_token=`; with no tokens configured everything is open, loopback only):
//! - `GET /` (and its `wallboard.js`, `wallboard.css`): the wallboard, embedded in the binary.
//!   The page itself holds no data and needs no token.
//! - `GET /metrics`: Prometheus text exposition ([`metrics`]).
//! - `GET /api/v1/snapshot`, `GET /api/v1/agents`: the read view as JSON, in the protobuf JSON
//!   mapping of `SnapshotResponse` / `ListAgentsResponse` (what grpcurl prints, every field).
//! - `GET /api/v1/events`: the event stream ([`events`]).
//!
//! Invariants: a handler reads the runtime's read view or its event bus, never the engine, so no
//! page or scrape can slow routing. Bad input gets a 4xx with a JSON `{code, message}` body
//! naming the problem, the same words as the gRPC status. On drain the listener stops accepting,
//! open event streams end, and in-flight requests finish (bounded by [`GRACE`]).
//!
//! TLS: the same certificate and key as gRPC (rustls), HTTP/2 and HTTP/1.1 by ALPN.

pub mod events;
pub mod metrics;
mod wallboard;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::access::{AccessError, Authenticator, Principal, Role};
use crate::drain::{Drain, drained};
use crate::grpc::convert;
use crate::proto as pb;
use crate::runtime::bus::Subscribers;
use crate::runtime::leadership::LEADER_HEADER;
use crate::runtime::{EngineHandle, Leadership};

/// How long in-flight requests may run on after the drain.
pub const GRACE: Duration = Duration::from_secs(10);

/// How long a client has to finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// What the HTTP listener needs from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Certificate chain and private key (PEM files) to serve TLS with.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Event streams open at once (shared with the gRPC listener's).
    pub subscribers: Subscribers,
    /// The gRPC listener's calls by method and code, for `/metrics`.
    pub grpc_calls: crate::grpc::calls::CallCounts,
}

/// What every handler shares.
pub(crate) struct Shared {
    pub handle: EngineHandle,
    pub auth: Authenticator,
    pub subscribers: Subscribers,
    pub drain: Drain,
    pub metrics: metrics::Exposition,
}

type AppState = Arc<Shared>;

/// A refusal, as JSON: `{"code": "INVALID_ARGUMENT", "message": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_ARGUMENT",
            message: message.into(),
        }
    }

    pub fn exhausted(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "RESOURCE_EXHAUSTED",
            message: message.into(),
        }
    }

    /// The gRPC status a conversion gave, as the matching HTTP refusal.
    pub fn from_status(status: tonic::Status) -> ApiError {
        let (http, code) = match status.code() {
            tonic::Code::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            tonic::Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED"),
            tonic::Code::OutOfRange => (StatusCode::BAD_REQUEST, "OUT_OF_RANGE"),
            _ => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
        };
        ApiError {
            status: http,
            code,
            message: status.message().to_string(),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> ApiError {
        match e {
            AccessError::Unauthenticated(message) => ApiError {
                status: StatusCode::UNAUTHORIZED,
                code: "UNAUTHENTICATED",
                message,
            },
            AccessError::PermissionDenied(message) => ApiError {
                status: StatusCode::FORBIDDEN,
                code: "PERMISSION_DENIED",
                message,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The caller's token: the `Authorization` header, else `?access_token=` (an `EventSource`
/// cannot set headers). Tokens are never logged.
fn credentials(request: &Request) -> Option<String> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        return Some(value.to_str().unwrap_or("").to_string());
    }
    #[derive(Deserialize)]
    struct Token {
        access_token: Option<String>,
    }
    let Query(token) = Query::<Token>::try_from_uri(request.uri()).ok()?;
    token.access_token.map(|token| format!("Bearer {token}"))
}

/// Supervisors and admins only: every data route goes through this.
async fn supervisors_only(
    State(shared): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal: Principal = shared.auth.principal(credentials(&request).as_deref())?;
    let call = request.uri().path().to_string();
    principal.allow(&call, &[Role::Supervisor], None)?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// Counts every request by its route's pattern and its status code, and times it until its
/// response starts (`routerd_http_requests_total`, `routerd_http_request_seconds`, see
/// [`metrics`]).
async fn count_requests(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unknown", MatchedPath::as_str)
        .to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let metrics = &shared.metrics;
    metrics
        .http_seconds
        .get_or_create(&metrics::RouteLabel {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    let code = response.status().as_str().to_string();
    metrics
        .http_requests
        .get_or_create(&metrics::HttpLabels { route, code })
        .inc();
    response
}

/// The routes, on `shared`.
pub(crate) fn router(shared: AppState) -> Router {
    let data = Router::new()
        .route("/metrics", get(metrics::scrape))
        .route("/api/v1/snapshot", get(snapshot))
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/events", get(events::stream))
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            supervisors_only,
        ));
    Router::new()
        .merge(wallboard::routes())
        .merge(data)
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                code: "NOT_FOUND",
                message: "no such page: see / for the wallboard, /metrics, /api/v1/snapshot, \
                          /api/v1/agents, /api/v1/events"
                    .into(),
            }
        })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            count_requests,
        ))
        .with_state(shared)
}

/// `GET /api/v1/snapshot`: GetSnapshot's answer, as JSON.
async fn snapshot(State(shared): State<AppState>) -> axum::Json<pb::SnapshotResponse> {
    let view = shared.handle.view();
    let now = shared.handle.now().max(view.at);
    axum::Json(convert::snapshot_to(&view, now))
}

/// `GET /api/v1/agents` parameters: ListAgents' paging and filters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentsQuery {
    page_size: Option<u32>,
    page_token: Option<String>,
    queue: Option<String>,
    access_token: Option<String>,
}

/// `GET /api/v1/agents?page_size=&page_token=&queue=`: ListAgents' answer, as JSON.
async fn agents(
    State(shared): State<AppState>,
    query: Result<Query<AgentsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<pb::ListAgentsResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let _ = query.access_token;
    let request = pb::ListAgentsRequest {
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
        queue: query.queue.unwrap_or_default(),
        ..Default::default()
    };
    let view = shared.handle.view();
    let now = shared.handle.now().max(view.at);
    convert::list_agents_to(&view, request, now)
        .map(axum::Json)
        .map_err(ApiError::from_status)
}

/// The routes of a standby: each answers 503 naming the leader until this routerd leads, then
/// as [`router`] does (made by `open` at the first request after it leads).
fn standing_by(
    leadership: Leadership,
    open: impl Fn(EngineHandle) -> Router + Send + Sync + 'static,
) -> Router {
    let routes: Arc<std::sync::OnceLock<Router>> = Arc::default();
    let open = Arc::new(open);
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let routes = routes.get().cloned().or_else(|| {
            let handle = leadership.handle()?;
            Some(routes.get_or_init(|| open(handle)).clone())
        });
        let leadership = leadership.clone();
        async move {
            use tower::ServiceExt;
            match routes {
                Some(routes) => routes.oneshot(request).await,
                None => {
                    let (message, leader) = leadership.refusal();
                    let refused = ApiError {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        code: "UNAVAILABLE",
                        message,
                    };
                    let mut response = refused.into_response();
                    if let Some(value) = leader.and_then(|l| l.parse().ok()) {
                        response.headers_mut().insert(LEADER_HEADER, value);
                    }
                    Ok(response)
                }
            }
        }
    }))
}

/// Reads the TLS identity for the HTTP listener (the same files gRPC serves).
fn tls_acceptor((cert, key): &(PathBuf, PathBuf)) -> anyhow::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| anyhow::anyhow!("HTTP TLS configuration: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves HTTP on `listener` until `drain` flips; then stops accepting, lets open event streams
/// end and in-flight requests finish (at most [`GRACE`]), and returns.
///
/// While `leadership` stands by, every route answers 503 `UNAVAILABLE` naming the leader (in
/// the message and the `routerd-leader` header); once it leads, the same listener serves.
pub async fn serve(
    settings: Settings,
    leadership: Leadership,
    auth: Authenticator,
    listener: TcpListener,
    mut drain: Drain,
) -> anyhow::Result<()> {
    let tls = settings.tls.as_ref().map(tls_acceptor).transpose()?;
    let open = {
        let drain = drain.clone();
        move |handle: EngineHandle| {
            let metrics = metrics::Exposition::new(
                handle.clone(),
                settings.subscribers.clone(),
                settings.grpc_calls.clone(),
            );
            router(Arc::new(Shared {
                handle,
                auth: auth.clone(),
                subscribers: settings.subscribers.clone(),
                drain: drain.clone(),
                metrics,
            }))
        }
    };
    let app = match leadership.handle() {
        Some(handle) => open(handle),
        None => standing_by(leadership, open),
    };
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = drained(&mut drain) => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let connection =
                                builder.serve_connection(TokioIo::new(stream), service);
                            watcher.watch(connection.into_owned()).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "HTTP TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open {GRACE:?} after the drain: closing them");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_comes_from_the_header_or_the_query() {
        let request = |uri: &str, header: Option<&str>| {
            let mut builder = axum::http::Request::builder().uri(uri);
            if let Some(h) = header {
                builder = builder.header(header::AUTHORIZATION, h);
            }
            builder.body(axum::body::Body::empty()).unwrap()
        };
        assert_eq!(
            credentials(&request("/api/v1/events", Some("Bearer abc"))).as_deref(),
            Some("Bearer abc")
        );
        assert_eq!(
            credentials(&request("/api/v1/events?from=3&access_token=a%2Bb", None)).as_deref(),
            Some("Bearer a+b")
        );
        assert_eq!(credentials(&request("/api/v1/events?from=3", None)), None);
    }
}
