//! Answers one AdmissionReview many times with one participant, for counting
//! instructions under callgrind (`benches/callgrind-handler.sh`), which is
//! stable on a busy machine where wall time is not.
//!
//! Usage: `handler-instructions image-policy|regorus|cel allowed|denied [N]`
//! (N iterations, default 1000). The reviews happen in `review_loop`, the
//! function that `callgrind-handler.sh` collects; setup (compiling the
//! policies, one warm-up review that checks the answer) is left out of the
//! count. The participants are those of the criterion bench
//! ([`image_policy_benches::handler`]).

use std::hint::black_box;
use std::process::ExitCode;

use image_policy_benches::handler::{Cel, Rego, allowed_of, policy, reviews};
use image_policy_webhook::handler::{Endpoint, handle};

/// One participant: a review body in, the response body out.
type Participant<'p> = Box<dyn FnMut(&[u8]) -> Vec<u8> + 'p>;

/// Answers `body` `n` times with `review`.
#[inline(never)]
fn review_loop(n: usize, body: &[u8], review: &mut dyn FnMut(&[u8]) -> Vec<u8>) -> usize {
    (0..n).map(|_| review(black_box(body)).len()).sum()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!("usage: handler-instructions image-policy|regorus|cel allowed|denied [N]");
        ExitCode::from(2)
    };
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
    let mut rego;
    let cel;
    let mut review: Participant<'_> = match who.as_str() {
        "image-policy" => Box::new(|b| handle(&policy, Endpoint::AdmissionReview, b).body),
        "regorus" => {
            rego = Rego::new();
            Box::new(move |b| rego.review(b))
        }
        "cel" => {
            cel = Cel::new();
            Box::new(move |b| cel.review(b))
        }
        _ => return usage(),
    };
    // Warm-up outside the collected function, and the answer checked.
    assert_eq!(allowed_of(&review(&body)), want, "{who} on {case}");
    let bytes = review_loop(n, &body, &mut review);
    println!(
        "{who} {case}: {n} reviews of {} bytes, {bytes} bytes answered",
        body.len()
    );
    ExitCode::SUCCESS
}
