//! The wallboard: one page, its script and its style sheet, embedded in the binary (no build
//! step, no CDN). The page holds no data: its script reads `/api/v1/snapshot` and
//! `/api/v1/agents` and follows `/api/v1/events`, with the token from the page's address
//! (`/#token=...`) when the server has tokens.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

const PAGE: &str = include_str!("wallboard/index.html");
const SCRIPT: &str = include_str!("wallboard/wallboard.js");
const STYLE: &str = include_str!("wallboard/wallboard.css");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/wallboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/wallboard.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}
