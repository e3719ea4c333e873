//! `instructions handler image-policy|image-policy-mutate|regorus|cel
//! allowed|denied [N]`: answers one AdmissionReview N times (default 1000)
//! with one participant. The reviews happen in `review_loop`; setup
//! (compiling the policies, one warm-up review that checks the answer) is
//! left out of the count. The participants are those of the criterion bench
//! ([`image_policy_benches::handler`]): `image-policy` is `/validate` with
//! the bench's policy, `image-policy-mutate` is `/mutate` with its rewrite
//! rules (the answer must carry a JSON patch).

use std::hint::black_box;
use std::process::ExitCode;

#[cfg(feature = "peers")]
use image_policy_benches::handler::{Cel, Rego};
use image_policy_benches::handler::{allowed_of, policy, reviews, rewrite_policy};
use image_policy_webhook::handler::{Endpoint, handle};

/// One participant: a review body in, the response body out.
type Participant<'p> = Box<dyn FnMut(&[u8]) -> Vec<u8> + 'p>;

/// Answers `body` `n` times with `review`.
#[inline(never)]
fn review_loop(n: usize, body: &[u8], review: &mut dyn FnMut(&[u8]) -> Vec<u8>) -> usize {
    (0..n).map(|_| review(black_box(body)).len()).sum()
}

/// Whether a `/mutate` answer carries a JSON patch.
fn patched(response: &[u8]) -> bool {
    let v: serde_json::Value = serde_json::from_slice(response).expect("response is JSON");
    v["response"]["patchType"] == "JSONPatch"
}

pub fn main(args: &[String]) -> ExitCode {
    let usage = super::usage;
    let (Some(who), Some(case)) = (args.first(), args.get(1)) else {
        return usage();
    };
    let n: usize = match args.get(2).map(|n| n.parse()) {
        None => 1000,
        Some(Ok(n)) => n,
        Some(Err(_)) => return usage(),
    };
    let Some((_, body, want)) = reviews().into_iter().find(|(name, ..)| name == case) else {
        return usage();
    };
    let policy = policy();
    let rewrite = rewrite_policy();
    #[cfg(feature = "peers")]
    let mut rego;
    #[cfg(feature = "peers")]
    let cel;
    let mut review: Participant<'_> = match who.as_str() {
        "image-policy" => Box::new(|b| handle(&policy, Endpoint::AdmissionReview, b).body),
        "image-policy-mutate" => Box::new(|b| handle(&rewrite, Endpoint::Mutate, b).body),
        #[cfg(feature = "peers")]
        "regorus" => {
            rego = Rego::new();
            Box::new(move |b| rego.review(b))
        }
        #[cfg(feature = "peers")]
        "cel" => {
            cel = Cel::new();
            Box::new(move |b| cel.review(b))
        }
        _ => return usage(),
    };
    // Warm-up outside the collected function, and the answer checked.
    let answer = review(&body);
    if who == "image-policy-mutate" {
        assert!(patched(&answer), "{who} on {case}: no JSON patch");
    } else {
        assert_eq!(allowed_of(&answer), want, "{who} on {case}");
    }
    let bytes = review_loop(n, &body, &mut review);
    println!(
        "{who} {case}: {n} reviews of {} bytes, {bytes} bytes answered",
        body.len()
    );
    ExitCode::SUCCESS
}
