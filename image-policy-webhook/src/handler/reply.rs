//! What [`handle`](super::handle) returns, and the parts of the encoding both
//! reviews share: the 400 answer, a Kubernetes `Status`, JSON strings. The
//! verdict itself is [`image_policy_core::admission`]'s.

use image_policy_core::admission::{NAMED_IMAGES, NAMED_TEXT};
use serde::Serialize;

use super::json::write_str;

/// The answer to one request: HTTP status, body, and a summary for logs and
/// metrics.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The HTTP status: 200 with a review, or 400 for a request that could not
    /// be read.
    pub status: u16,
    /// The response body (JSON): the review with its answer, or a Kubernetes
    /// `Status` for a 400.
    pub body: Vec<u8>,
    /// What was decided, for the server's decision log and metrics.
    pub summary: ReplySummary,
}

/// The result of a request, for the server's logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Every image is allowed, without a warning.
    Allowed,
    /// At least one image is denied (or the object's images cannot be found).
    Denied,
    /// Allowed, with at least one violation in warn or audit mode, an existing
    /// image that violates, or break-glass used.
    Warned,
    /// The request could not be read (HTTP 400; the server adds 413 and 408).
    Invalid,
}

impl Outcome {
    /// The outcome's name for logs and metric labels: `allowed`, `denied`,
    /// `warned` or `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Warned => "warned",
            Self::Invalid => "invalid",
        }
    }
}

/// A summary of one request, for the server's logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplySummary {
    /// What was decided.
    pub outcome: Outcome,
    /// The AdmissionReview's `request.uid`.
    pub uid: Option<String>,
    /// The object's kind (`Pod` for an ImageReview).
    pub kind: Option<String>,
    /// The namespace.
    pub namespace: Option<String>,
    /// The object's name (or `generateName`).
    pub name: Option<String>,
    /// How many images were evaluated.
    pub images: usize,
    /// How many of them are denied.
    pub denied: usize,
    /// Whether a break-glass annotation admitted an image.
    pub break_glass: bool,
    /// One line: the reason given to the API server, or why the request could
    /// not be read.
    pub message: String,
}

impl ReplySummary {
    pub(super) fn new(outcome: Outcome, message: String) -> Self {
        ReplySummary {
            outcome,
            uid: None,
            kind: None,
            namespace: None,
            name: None,
            images: 0,
            denied: 0,
            break_glass: false,
            message,
        }
    }
}

/// A Kubernetes `Status`: the body of a 400, and the `status` of a review's
/// response.
#[derive(Serialize)]
pub(super) struct Status<'a> {
    #[serde(rename = "apiVersion", skip_serializing_if = "Option::is_none")]
    pub api_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub status: &'static str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub reason: &'static str,
    pub code: u16,
}

impl Status<'_> {
    /// The JSON serde_json writes for the derived `Serialize`, appended to
    /// `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if let Some(v) = self.api_version {
            out.extend_from_slice(b"\"apiVersion\":");
            write_str(out, v);
            out.push(b',');
        }
        if let Some(k) = self.kind {
            out.extend_from_slice(b"\"kind\":");
            write_str(out, k);
            out.push(b',');
        }
        out.extend_from_slice(b"\"status\":");
        write_str(out, self.status);
        out.extend_from_slice(b",\"message\":");
        write_str(out, self.message);
        if !self.reason.is_empty() {
            out.extend_from_slice(b",\"reason\":");
            write_str(out, self.reason);
        }
        out.extend_from_slice(b",\"code\":");
        out.extend_from_slice(decimal(usize::from(self.code), &mut [0; 20]).as_bytes());
        out.push(b'}');
    }
}

/// The answer to a request that could not be read: HTTP 400 with a `Status`.
pub(super) fn bad_request(message: String) -> Reply {
    let status = Status {
        api_version: Some("v1"),
        kind: Some("Status"),
        status: "Failure",
        message: &message,
        reason: "BadRequest",
        code: 400,
    };
    Reply {
        status: 400,
        body: encode(&status),
        summary: ReplySummary::new(Outcome::Invalid, message),
    }
}

/// The message of a review denied for what a registry phase found
/// (`/mutate`'s pins, the signatures of `/validate` and `/imagereview`):
/// `LABEL: 2 of 3 images HEADLINE: PLACE image IMAGE: WHY; …; and 4 more`.
/// `headline` is said of one image and of several; `failures` gives each
/// blocking image's place, the image as written and why, of which the first
/// [`NAMED_IMAGES`] are named (fewer past [`NAMED_TEXT`] bytes), then a
/// count of the rest.
pub(super) fn failures_message<'a, P: std::fmt::Display>(
    label: &str,
    images: usize,
    headline: (&str, &str),
    blocking: usize,
    failures: impl Iterator<Item = (P, &'a str, &'a str)>,
) -> String {
    let mut message = String::with_capacity(label.len() + 256);
    message.push_str(label);
    message.push_str(&format!(
        ": {blocking} of {images} {} {}: ",
        if images == 1 { "image" } else { "images" },
        if images == 1 { headline.0 } else { headline.1 },
    ));
    let start = message.len();
    for (named, (place, written, error)) in failures.enumerate() {
        if named == NAMED_IMAGES || message.len() - start >= NAMED_TEXT {
            message.push_str(&format!("; and {} more", blocking - named));
            break;
        }
        if named > 0 {
            message.push_str("; ");
        }
        message.push_str(&format!("{place} image {written}: {error}"));
    }
    message
}

/// Encodes a response. Serializing these types cannot fail (string keys,
/// no floats); should it ever, the body says so rather than panicking.
pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Most responses fit: one allocation.
    let mut out = Vec::with_capacity(384);
    match serde_json::to_writer(&mut out, value) {
        Ok(()) => out,
        Err(e) => {
        format!(r#"{{"kind":"Status","apiVersion":"v1","status":"Failure","message":"cannot encode the response: {e}","code":500}}"#)
            .into_bytes()
        }
    }
}

/// Decodes a review, which must be a JSON object (serde would also fill a
/// struct from an array, by position, which no API server sends); the error
/// is the message of the 400.
pub(super) fn decode<'a, T: serde::Deserialize<'a>>(
    what: &str,
    body: &'a [u8],
) -> Result<T, String> {
    // One UTF-8 check of the whole body, so that the parser need not check
    // each string again.
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "the request body is not JSON: invalid UTF-8 at byte {}",
            e.valid_up_to()
        )
    })?;
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let not_an_object =
        || format!("the request body is not a valid {what}: expected a JSON object");
    match serde_json::from_str(text) {
        Ok(review) if first == Some(&b'{') => Ok(review),
        Ok(_) => Err(not_an_object()),
        // A valid JSON value of another type: say so, rather than serde's
        // message about the struct.
        Err(_)
            if first != Some(&b'{')
                && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() =>
        {
            Err(not_an_object())
        }
        Err(e) => Err(decode_error(what, &e)),
    }
}

/// Why a body could not be decoded, with where: `serde_json` gives line and
/// column; a syntax error means it is not JSON at all.
pub(super) fn decode_error(what: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let mut message = match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            format!("the request body is not JSON: {e}")
        }
        Category::Data => format!("the request body is not a valid {what}: {e}"),
    };
    // serde_json quotes a string of the wrong type whole: a body of one long
    // string would be answered back.
    if message.len() > MAX_ERROR_MESSAGE {
        let mut end = MAX_ERROR_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let len = message.len();
        message.truncate(end);
        message.push_str(&format!("… ({len} bytes)"));
    }
    message
}

/// The longest message of a 400 before it is cut.
const MAX_ERROR_MESSAGE: usize = 1024;

/// `n` in decimal, as `{}` writes it, without the formatting machinery.
fn decimal(mut n: usize, digits: &mut [u8; 20]) -> &str {
    let mut start = digits.len();
    loop {
        start -= 1;
        // `n % 10` is below 10: the cast cannot truncate.
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: always UTF-8.
    std::str::from_utf8(&digits[start..]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, usize::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string());
        }
    }
}
