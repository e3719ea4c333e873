//! TEMPORARY stand-ins for contract C (`crate::handler`), removed when the
//! `handler` branch is merged. Only the shapes the server uses are here.
#![allow(missing_docs, dead_code)]

pub use image_policy_core::policy::Policy;

/// Stand-in for `crate::handler::Endpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ImageReview,
    AdmissionReview,
}

/// Stand-in for `crate::handler::Outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    Warned,
    Invalid,
}

/// Stand-in for `crate::handler::ReplySummary`.
#[derive(Debug)]
pub struct ReplySummary {
    pub outcome: Outcome,
    pub uid: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub images: usize,
    pub denied: usize,
    pub break_glass: bool,
    pub message: String,
}

/// Stand-in for `crate::handler::Reply`.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub summary: ReplySummary,
}

/// Stand-in for `crate::handler::DEFAULT_BODY_LIMIT`.
pub const DEFAULT_BODY_LIMIT: usize = 3 * 1024 * 1024;

/// Stand-in for `crate::handler::handle`: answers 400 to everything.
pub fn handle(_policy: &Policy, _endpoint: Endpoint, _body: &[u8]) -> Reply {
    Reply {
        status: 400,
        body: b"{\"error\":\"handler not merged yet\"}".to_vec(),
        summary: ReplySummary {
            outcome: Outcome::Invalid,
            uid: None,
            kind: None,
            namespace: None,
            name: None,
            images: 0,
            denied: 0,
            break_glass: false,
            message: "handler not merged yet".to_owned(),
        },
    }
}
