//! The HTTP routes: the three review endpoints, which hand the body to
//! [`handle`] and record what it answered, and the health and metrics routes.

use super::State;
use super::limits::{BodyClaim, Connection, Sending};
use crate::handler::{Endpoint, MutateStep, Outcome, ValidateStep, handle};
use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{Request, State as Shared};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Instant;

/// Every route: reviews, health and metrics (the main listener).
pub(crate) fn main_router(state: Arc<State>) -> Router {
    Router::new()
        .route("/imagereview", post(image_review))
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
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

async fn mutate(Shared(state): Shared<Arc<State>>, request: Request) -> Response {
    review(&state, Endpoint::Mutate, request).await
}

/// Reads the body (limit → 413, timeout → 408, memory budget → 503), asks
/// the handler, records and logs the decision.
async fn review(state: &State, endpoint: Endpoint, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let http1 = parts.version < axum::http::Version::HTTP_2;
    let (mut body, mut claim) = match read_body(state, &parts, body).await {
        Ok(read) => read,
        Err((status, message, body)) => {
            return refuse(state, endpoint, status, message, started, body, http1);
        }
    };
    let policy = state.policy();
    // At most `concurrent_reviews` bodies are judged at once: each needs
    // memory of its own beyond its body (bounded; see the handler's docs).
    let mut judging = Some(state.judging.acquire().await);
    let reply = if endpoint == Endpoint::Mutate {
        // Two phases when the policy pins: the handler lists what to
        // resolve, the registry is asked (no permit held, the body freed),
        // the handler completes the answer.
        match crate::handler::mutate(&policy.policy, &body) {
            MutateStep::Done(reply) => reply,
            MutateStep::Resolve(pending) => {
                drop(judging.take());
                drop(std::mem::take(&mut body));
                let resolutions = state.pinning.resolve_and_verify(&policy, &pending).await;
                judging = Some(state.judging.acquire().await);
                pending.complete(&resolutions)
            }
        }
    } else if policy.policy.has_verify_rules() {
        // `/validate` and `/imagereview` under a policy with verify rules:
        // the pinned images in verify scope are verified (a cached success
        // is a look-up), one code path for both.
        match crate::handler::verify::judge(&policy.policy, endpoint, &body) {
            ValidateStep::Done(reply) => reply,
            ValidateStep::Verify(pending) => {
                drop(judging.take());
                drop(std::mem::take(&mut body));
                let results = state.pinning.verify_pending(&policy, &pending).await;
                judging = Some(state.judging.acquire().await);
                pending.complete(&results)
            }
        }
    } else {
        handle(&policy.policy, endpoint, &body)
    };
    drop(judging);
    drop(body);
    // The answer is held until sent: in the budget, in place of the body.
    if !claim.hold_answer(reply.body.len()) {
        let message = format!(
            "answer refused: the server holds {} bytes of request bodies and answers at most",
            state.bodies.limit()
        );
        return refuse(
            state,
            endpoint,
            StatusCode::SERVICE_UNAVAILABLE,
            message,
            started,
            Body::empty(),
            http1,
        );
    }
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
        uid = summary.uid.as_deref().map(bounded_field),
        kind = summary.kind.as_deref().map(bounded_field),
        namespace = summary.namespace.as_deref().map(bounded_field),
        name = summary.name.as_deref().map(bounded_field),
        images = summary.images,
        denied = summary.denied,
        break_glass = summary.break_glass,
        policy = %policy.hash,
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "{}",
        BoundedMessage(&summary.message)
    );
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let connection = parts.extensions.get::<Arc<Connection>>();
    let answer = Answer {
        sending: connection.map(Connection::begin_send),
        data: reply.body,
        sent: 0,
        _claim: claim,
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::new(answer),
    )
        .into_response()
}

/// The largest piece of an answer handed to the connection at once: the
/// connection asks for more only as it writes, so a client that does not read
/// holds at most a piece or two in the connection's buffers, and the rest
/// stays here, counted in the budget, until the write timeout.
const ANSWER_CHUNK: usize = 16 * 1024;

/// An answer being sent: its bytes, claimed from the server's budget until
/// it is dropped (sent, or its connection closed), and the connection's
/// record of its progress, which the write timeout reads.
struct Answer {
    data: Vec<u8>,
    sent: usize,
    sending: Option<Sending>,
    _claim: BodyClaim,
}

impl hyper::body::Body for Answer {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.sent == this.data.len() {
            return std::task::Poll::Ready(None);
        }
        if let Some(sending) = &this.sending {
            sending.progress();
        }
        let chunk = if this.sent == 0 && this.data.len() <= ANSWER_CHUNK {
            // The common case, a small answer: handed over whole, no copy.
            Bytes::from(std::mem::take(&mut this.data))
        } else {
            // A copy, so that the connection never holds the whole answer.
            let end = (this.sent + ANSWER_CHUNK).min(this.data.len());
            Bytes::copy_from_slice(&this.data[this.sent..end])
        };
        this.sent += chunk.len();
        if this.data.is_empty() {
            this.sent = 0;
        }
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent == self.data.len()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact((self.data.len() - self.sent) as u64)
    }
}

/// Why a body was not read: the status, the message, and the request's body
/// (kept until the answer is sent; see [`AnswerThenClose`]).
type Unread = (StatusCode, String, Body);

/// Reads the request body into one buffer whose capacity is claimed from the
/// server's body budget as it grows; refuses it when the declared or received
/// length passes the limit (413), when it does not arrive within the request
/// timeout (408), or when the budget has no room even after evicting larger
/// bodies, or this body was evicted for a smaller one (503).
async fn read_body(
    state: &State,
    parts: &axum::http::request::Parts,
    mut body: Body,
) -> Result<(Vec<u8>, BodyClaim), Unread> {
    let limit = state.body_limit;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_large = |body| -> Unread {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {limit} bytes"),
            body,
        )
    };
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(body));
    }
    let connection = parts.extensions.get::<Arc<Connection>>();
    let mut claim = state.bodies.claim();
    let evicted = Arc::clone(&claim.evicted);
    let deadline = tokio::time::sleep(state.request_timeout);
    let mut deadline = std::pin::pin!(deadline);
    // The first allocation: the declared length, or what arrives.
    let first = declared.map_or(0, |length| length as usize);
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            () = evicted.wait() => {
                let message = format!(
                    "request body refused: the server holds {} bytes of request bodies at most, and larger ones arrived",
                    state.bodies.limit()
                );
                return Err((StatusCode::SERVICE_UNAVAILABLE, message, body));
            }
            () = &mut deadline => {
                let message = format!(
                    "request body not received within {} ms",
                    state.request_timeout.as_millis()
                );
                return Err((StatusCode::REQUEST_TIMEOUT, message, body));
            }
        };
        let data = match frame {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                // Trailers: nothing to read.
                Err(_) => continue,
            },
            Some(Err(err)) => {
                let message = format!("cannot read the request body: {err}");
                return Err((StatusCode::BAD_REQUEST, message, body));
            }
        };
        if let Some(connection) = connection {
            connection.touch();
        }
        let needed = buffer.len() + data.len();
        if needed > limit {
            return Err(too_large(body));
        }
        if needed > buffer.capacity() {
            let target = needed.max(first).max(buffer.capacity() * 2).min(limit);
            if !claim.grow(target - buffer.capacity()) {
                let message = format!(
                    "request body refused: the server holds {} bytes of request bodies at most",
                    state.bodies.limit()
                );
                return Err((StatusCode::SERVICE_UNAVAILABLE, message, body));
            }
            buffer.reserve_exact(target - buffer.len());
        }
        buffer.extend_from_slice(&data);
    }
    Ok((buffer, claim))
}

/// An answer the server gives without the handler (the body never arrived
/// whole): counted as an invalid request and logged like a decision.
fn refuse(
    state: &State,
    endpoint: Endpoint,
    status: StatusCode,
    message: String,
    started: Instant,
    request_body: Body,
    http1: bool,
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
    let body = AnswerThenClose {
        answer: Some(Bytes::from(message)),
        _request_body: request_body,
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain")],
        Body::new(body),
    )
        .into_response();
    if http1 {
        // The rest of the body is not read, so the connection cannot carry
        // another request (HTTP/2 resets the stream instead).
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// The body of a refusal, which holds the unread request body until the
/// answer is sent. Over HTTP/2, dropping a request body that is still
/// arriving resets its stream; dropped before the answer is sent, the reset
/// goes first and the client sees a reset instead of the 413. Dropped after,
/// the client has its answer and the reset only stops the upload.
struct AnswerThenClose {
    answer: Option<Bytes>,
    _request_body: Body,
}

impl hyper::body::Body for AnswerThenClose {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(
            self.answer
                .take()
                .map(|data| Ok(hyper::body::Frame::data(data))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.answer.is_none()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.answer.as_ref().map_or(0, |a| a.len() as u64))
    }
}

/// The longest field of a review (uid, kind, namespace, name) the decision
/// log writes; the API server's are far shorter, a hostile body's need not be.
const LOG_FIELD_BYTES: usize = 256;

/// The longest message the decision log writes (the handler's is a few KiB).
const LOG_MESSAGE_BYTES: usize = 8 * 1024;

/// `s` cut to at most `max` bytes, at a character boundary.
fn truncated(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn bounded_field(s: &str) -> &str {
    truncated(s, LOG_FIELD_BYTES)
}

/// A message for the log, cut at [`LOG_MESSAGE_BYTES`] with a note of its
/// length; written without a copy.
struct BoundedMessage<'a>(&'a str);

impl std::fmt::Display for BoundedMessage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = truncated(self.0, LOG_MESSAGE_BYTES);
        f.write_str(cut)?;
        if cut.len() < self.0.len() {
            write!(f, "... ({} bytes in all)", self.0.len())?;
        }
        Ok(())
    }
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
        {
            let mut text = state.metrics.render();
            state.pinning.render_metrics(&mut text);
            text
        },
    )
        .into_response()
}
