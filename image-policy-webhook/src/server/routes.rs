//! The HTTP routes: the two review endpoints, which hand the body to
//! [`handle`] and record what it answered, and the health and metrics routes.

use super::State;
use crate::handler::{Endpoint, Outcome, handle};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as Shared};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use std::time::Instant;

/// Every route: reviews, health and metrics (the main listener).
pub(crate) fn main_router(state: Arc<State>) -> Router {
    Router::new()
        .route("/imagereview", post(image_review))
        .route("/validate", post(validate))
        .merge(health_router(Arc::clone(&state)))
        .with_state(state)
}

/// Health and metrics only (the `--metrics-listen` listener).
pub(crate) fn health_router<S>(state: Arc<State>) -> Router<S> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn image_review(Shared(state): Shared<Arc<State>>, request: Request) -> Response {
    review(&state, Endpoint::ImageReview, request).await
}

async fn validate(Shared(state): Shared<Arc<State>>, request: Request) -> Response {
    review(&state, Endpoint::AdmissionReview, request).await
}

/// Reads the body (limit → 413, timeout → 408), asks the handler, records and
/// logs the decision.
async fn review(state: &State, endpoint: Endpoint, request: Request) -> Response {
    let started = Instant::now();
    let limit = state.body_limit;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    // Refused by its declared length before reading, or while reading.
    let too_large = |state| {
        let message = format!("request body is larger than the limit of {limit} bytes");
        refuse(
            state,
            endpoint,
            StatusCode::PAYLOAD_TOO_LARGE,
            message,
            started,
        )
    };
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large(state);
    }
    let read = Limited::new(request.into_body(), limit).collect();
    let body = match tokio::time::timeout(state.request_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => {
            return too_large(state);
        }
        Ok(Err(err)) => {
            let message = format!("cannot read the request body: {err}");
            return refuse(state, endpoint, StatusCode::BAD_REQUEST, message, started);
        }
        Err(_) => {
            let message = format!(
                "request body not received within {} ms",
                state.request_timeout.as_millis()
            );
            return refuse(
                state,
                endpoint,
                StatusCode::REQUEST_TIMEOUT,
                message,
                started,
            );
        }
    };
    let policy = state.policy();
    let reply = handle(&policy.policy, endpoint, &body);
    let elapsed = started.elapsed();
    state
        .metrics
        .observe_review(endpoint, reply.status, reply.summary.outcome, elapsed);
    let summary = &reply.summary;
    tracing::info!(
        target: "image_policy::decision",
        endpoint = endpoint.as_str(),
        status = reply.status,
        result = summary.outcome.as_str(),
        uid = summary.uid.as_deref(),
        kind = summary.kind.as_deref(),
        namespace = summary.namespace.as_deref(),
        name = summary.name.as_deref(),
        images = summary.images,
        denied = summary.denied,
        break_glass = summary.break_glass,
        policy = %policy.hash,
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "{}",
        summary.message
    );
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(reply.body),
    )
        .into_response()
}

/// An answer the server gives without the handler (the body never arrived
/// whole): counted as an invalid request and logged like a decision.
fn refuse(
    state: &State,
    endpoint: Endpoint,
    status: StatusCode,
    message: String,
    started: Instant,
) -> Response {
    let elapsed = started.elapsed();
    state
        .metrics
        .observe_review(endpoint, status.as_u16(), Outcome::Invalid, elapsed);
    tracing::info!(
        target: "image_policy::decision",
        endpoint = endpoint.as_str(),
        status = status.as_u16(),
        result = Outcome::Invalid.as_str(),
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "{message}"
    );
    (status, [(header::CONTENT_TYPE, "text/plain")], message).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(Shared(state): Shared<Arc<State>>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(Shared(state): Shared<Arc<State>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
