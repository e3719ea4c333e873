//! The checks of the `handler` fuzz target, shared with this crate's tests
//! (feature `fuzzing`, hidden: not an API, it changes with the handler), as
//! `image-policy-lint`'s `fuzzing` module is: the target
//! (`fuzz/fuzz_targets/handler.rs`) calls [`check`] on every input, and the
//! tests replay the committed inputs of `tests/fuzz/testdata/handler/` with
//! it (`cargo test` turns the feature on for them).
//!
//! For any body, on every endpoint: [`handle`] does not panic, answers 200
//! with a JSON review or 400 with a JSON `Status`, of at most
//! [`MAX_REPLY_BYTES`]. On `/mutate`, moreover:
//!
//! - a `patch` comes only with `allowed: true` and `patchType: JSONPatch`; it
//!   is base64 of a JSON array of `replace` operations whose `path` is a JSON
//!   pointer to a string of the request's `object`, and whose `value` parses
//!   as an image reference (the webhook never writes an invalid one); the
//!   `rewritten-images` audit annotation comes with it, and only with it;
//! - the object with the patch applied, sent again, gets no patch (the API
//!   server's reinvocation is harmless).
//!
//! And the AdmissionReview scanner reads a UTF-8 body as serde does, or
//! leaves it to serde ([`scanner_agrees_with_serde`]).

use crate::handler::{Endpoint, MAX_REPLY_BYTES, handle};
use base64::Engine as _;
use image_policy_core::policy::Policy;
use image_policy_core::reference::ImageRef;
use serde_json::Value;

/// Whether the AdmissionReview scanner reads `body` itself (`Ok(true)`) or
/// leaves it to serde (`Ok(false)`); `Err` says how it read something serde
/// would not read the same way.
pub fn scanner_agrees_with_serde(body: &str) -> Result<bool, String> {
    crate::handler::scan::agrees_with_serde(body)
}

/// The policies the checks use: the multi-team example (allow and deny rules,
/// tags, an exempt namespace, namespace rules, warn mode and break-glass, so
/// that every kind of decision and message is made) for `/validate` and
/// `/imagereview`, and the rewrite example (Docker Hub and quay.io sent to
/// `registry.my.com`) for `/mutate`.
pub struct Policies {
    /// `examples/multi-team.yaml`.
    pub judge: Policy,
    /// `examples/rewrite.yaml`.
    pub rewrite: Policy,
}

impl Policies {
    /// Compiles both examples from their text (the fuzz target and the tests
    /// compile `examples/multi-team.yaml` and `examples/rewrite.yaml` in;
    /// the published crate holds neither).
    pub fn from_yaml(multi_team: &str, rewrite: &str) -> Policies {
        let load = |source: &str, name: &str| match Policy::from_yaml_str(source, name) {
            Ok(loaded) => loaded.policy,
            Err(e) => panic!("the fuzz policy {name} does not load: {e}"),
        };
        Policies {
            judge: load(multi_team, "multi-team.yaml"),
            rewrite: load(rewrite, "rewrite.yaml"),
        }
    }
}

/// Checks one input; `Err` says which invariant broke, `Ok` whether
/// `/mutate` answered a patch.
pub fn check(policies: &Policies, data: &[u8]) -> Result<bool, String> {
    for endpoint in [Endpoint::AdmissionReview, Endpoint::ImageReview] {
        answer(&policies.judge, endpoint, data)?;
    }
    let patched = check_mutate(&policies.rewrite, data, true)?;
    if let Ok(text) = std::str::from_utf8(data) {
        scanner_agrees_with_serde(text)?;
    }
    Ok(patched)
}

/// The answer of `endpoint`: 200 or 400, and JSON.
fn answer(policy: &Policy, endpoint: Endpoint, data: &[u8]) -> Result<(u16, Value), String> {
    let reply = handle(policy, endpoint, data);
    if !matches!(reply.status, 200 | 400) {
        return Err(format!("{endpoint:?}: status {}", reply.status));
    }
    if reply.body.len() > MAX_REPLY_BYTES {
        return Err(format!(
            "{endpoint:?}: an answer of {} bytes, over MAX_REPLY_BYTES",
            reply.body.len()
        ));
    }
    let value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("{endpoint:?}: the response is not JSON ({e})"))?;
    Ok((reply.status, value))
}

/// The `/mutate` invariants of the module docs; `again`: also send the
/// patched review once more. `Ok`: whether there was a patch.
fn check_mutate(policy: &Policy, data: &[u8], again: bool) -> Result<bool, String> {
    let (status, answer) = answer(policy, Endpoint::Mutate, data)?;
    if status != 200 {
        return Ok(false);
    }
    let response = &answer["response"];
    let Some(patch) = response.get("patch") else {
        if response.get("patchType").is_some() {
            return Err(format!("a patchType without a patch: {answer}"));
        }
        if response.get("auditAnnotations").is_some() {
            return Err(format!("audit annotations without a patch: {answer}"));
        }
        return Ok(false);
    };
    if !response["auditAnnotations"]["rewritten-images"].is_string() {
        return Err(format!("a patch without rewritten-images: {answer}"));
    }
    if response["allowed"] != true {
        return Err(format!("a patch on a denial: {answer}"));
    }
    if response["patchType"] != "JSONPatch" {
        return Err(format!("a patch without patchType JSONPatch: {answer}"));
    }
    let patch = patch
        .as_str()
        .ok_or_else(|| format!("the patch is not a string: {answer}"))?;
    let patch = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .map_err(|e| format!("the patch is not base64 ({e}): {answer}"))?;
    let patch: Value = serde_json::from_slice(&patch)
        .map_err(|e| format!("the patch is not JSON ({e}): {answer}"))?;
    let ops = patch
        .as_array()
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| format!("the patch is not a list of operations: {patch}"))?;
    // The review as serde_json reads it into a `Value` (which may refuse
    // what the handler skipped, such as a number past f64 in an ignored
    // field: then the pointers are not checked).
    let Ok(mut review) = serde_json::from_slice::<Value>(data) else {
        return Ok(true);
    };
    let object = review
        .pointer_mut("/request/object")
        .ok_or("a patch for a review without request.object")?;
    for op in ops {
        let (Some("replace"), Some(path), Some(value)) =
            (op["op"].as_str(), op["path"].as_str(), op["value"].as_str())
        else {
            return Err(format!("not a replace of a string: {op}"));
        };
        if let Err(e) = ImageRef::parse(value) {
            return Err(format!("the patch writes {value:?}, not a reference: {e}"));
        }
        match object.pointer_mut(path) {
            Some(slot @ Value::String(_)) => *slot = Value::from(value),
            _ => return Err(format!("{path} is not a string of the object: {op}")),
        }
    }
    if again {
        let patched = serde_json::to_vec(&review).map_err(|e| e.to_string())?;
        let (_, answer) = self::answer(policy, Endpoint::Mutate, &patched)?;
        if answer["response"].get("patch").is_some() {
            return Err(format!("the patched object gets another patch: {answer}"));
        }
        check_mutate(policy, &patched, false)?;
    }
    Ok(true)
}
