//! The server's routes: one handler per endpoint, and the 404 and 405
//! answers for everything else.

use super::lifecycle::LifecycleRequest;
use super::{WebState, cardinality_api, targets_api};
use axum::Router;
use axum::extract::Request;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The content type of `/metrics`: the Prometheus text format 0.0.4.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every endpoint, serving `state`. Routes go before the fallbacks: the
/// 405 answer covers the routes added before it.
pub(super) fn routes(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/status/cardinality", get(cardinality))
        .route("/api/v1/write", post(write).fallback(only_post))
        .route(
            "/-/reload",
            post(reload).put(reload).fallback(lifecycle_method),
        )
        .route("/-/quit", post(quit).put(quit).fallback(lifecycle_method))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(state)
}

async fn metrics(State(state): State<Arc<WebState>>) -> Response {
    ([(CONTENT_TYPE, METRICS_TYPE)], state.registry.render()).into_response()
}

async fn healthy() -> Response {
    text(StatusCode::OK, "levee is Healthy.\n")
}

async fn ready(State(state): State<Arc<WebState>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        text(StatusCode::OK, "levee is Ready.\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "levee is not ready.\n")
    }
}

async fn targets(State(state): State<Arc<WebState>>, uri: Uri) -> Response {
    json(
        StatusCode::OK,
        targets_api::render(
            state.targets.as_deref(),
            targets_api::Wanted::from_query(uri.query()),
        ),
    )
}

async fn cardinality(State(state): State<Arc<WebState>>, uri: Uri) -> Response {
    match cardinality_api::parse_limit(uri.query()) {
        Ok(limit) => {
            let targets = state
                .targets
                .as_ref()
                .map(|v| v.cardinality(limit))
                .unwrap_or_default();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let sources = state
                .receiver
                .as_ref()
                .map(|r| r.sources().cardinality(now, limit))
                .unwrap_or_default();
            json(StatusCode::OK, cardinality_api::render(&targets, &sources))
        }
        Err(message) => json(
            StatusCode::BAD_REQUEST,
            cardinality_api::render_error(&message),
        ),
    }
}

async fn write(State(state): State<Arc<WebState>>, req: Request) -> Response {
    match &state.receiver {
        Some(receiver) => Arc::clone(receiver).serve(req).await,
        None => text(
            StatusCode::NOT_FOUND,
            "remote write receiver needs to be enabled with --web.enable-remote-write-receiver or a receiver: section\n",
        ),
    }
}

async fn only_post() -> Response {
    text(StatusCode::METHOD_NOT_ALLOWED, "only POST is served here\n")
}

/// Prometheus' answer when the lifecycle API is off.
const LIFECYCLE_OFF: &str = "Lifecycle API is not enabled.";

/// `/-/reload`: the run loop reloads and says how it went: 200, or 500
/// with the reason (the running configuration stays).
async fn reload(State(state): State<Arc<WebState>>) -> Response {
    let Some(lifecycle) = &state.lifecycle else {
        return text(StatusCode::FORBIDDEN, LIFECYCLE_OFF);
    };
    let (answer, result) = tokio::sync::oneshot::channel();
    if lifecycle
        .send(LifecycleRequest::Reload(answer))
        .await
        .is_err()
    {
        return text(StatusCode::SERVICE_UNAVAILABLE, "levee is shutting down\n");
    }
    match result.await {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "failed to reload config: {}\n",
                crate::http_client::error_chain(&*e)
            ),
        )
            .into_response(),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "levee is shutting down\n"),
    }
}

/// `/-/quit`: a clean stop, as on SIGTERM.
async fn quit(State(state): State<Arc<WebState>>) -> Response {
    let Some(lifecycle) = &state.lifecycle else {
        return text(StatusCode::FORBIDDEN, LIFECYCLE_OFF);
    };
    // A closed channel: the run loop is already stopping.
    let _ = lifecycle.send(LifecycleRequest::Quit).await;
    text(StatusCode::OK, "Requesting termination... Goodbye!")
}

/// Any other method on a lifecycle endpoint.
async fn lifecycle_method() -> Response {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        "only POST or PUT is served here\n",
    )
}

async fn method_not_allowed() -> Response {
    text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here\n")
}

/// An unknown path: 404, or 405 for a method no endpoint serves.
async fn not_found(method: Method) -> Response {
    if method == Method::GET || method == Method::HEAD {
        text(StatusCode::NOT_FOUND, "404 page not found\n")
    } else {
        method_not_allowed().await
    }
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}
