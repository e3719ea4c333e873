//! What the load generators (`loadgen`, `hostile`) share: one request sent
//! over an HTTP/1.1 connection, its whole answer read, its status checked.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

/// The sending half of an HTTP/1.1 client connection with in-memory bodies.
pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Sends `request`, reads the whole answer and checks its status: `Ok` when
/// it is `expect_status`, else the status or the transport error as text.
pub async fn send_expecting(
    sender: &mut Sender,
    request: hyper::Request<Full<Bytes>>,
    expect_status: u16,
) -> Result<(), String> {
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    if status == expect_status {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}
