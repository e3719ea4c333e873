//! `instructions pin phases|warm|warm-async [N]`: `/mutate` of the benchmark review
//! under a policy that allows and pins its registry
//! ([`image_policy_benches::pin`]), N times (default 1000), in `pin_loop`;
//! setup (the policy, one warm-up review that checks the answer pins every
//! image) is left out of the count.
//!
//! - `phases`: both pure phases, each reference answered with a digest given
//!   (what a warm cache answers): the handler's work, what `benches/gate.sh`
//!   counts (`handler/mutate-pin-warm`);
//! - `warm` (the `load` feature: the registry client): the same with each
//!   reference looked up in a `Resolver`'s cache (`Resolver::cached_digest`,
//!   as the server's resolution phase does first), warmed before counting
//!   from a stub registry on loopback: the whole warm path of the server
//!   but the HTTP exchange;
//! - `warm-async` (`load`): the same through `Resolver::resolve`, awaited
//!   in `block_on` of a multi-threaded runtime (the runtime's cost beside
//!   the look-up).

use std::hint::black_box;
use std::process::ExitCode;

use image_policy_benches::handler::REGISTRY;
use image_policy_benches::pin::{digests, pin_policy, pinned, pinned_review, warm};

/// Answers `body` `n` times with `review`.
#[inline(never)]
fn pin_loop(n: usize, body: &[u8], review: &mut dyn FnMut(&[u8]) -> Vec<u8>) -> usize {
    (0..n).map(|_| review(black_box(body)).len()).sum()
}

pub fn main(args: &[String]) -> ExitCode {
    let usage = super::usage;
    let n: usize = match args.get(1).map(|n| n.parse()) {
        None => 1000,
        Some(Ok(n)) => n,
        Some(Err(_)) => return usage(),
    };
    let how = args.first().map(String::as_str);
    let (body, bytes) = match how {
        Some("phases") => {
            let policy = pin_policy(REGISTRY);
            let body = pinned_review(REGISTRY);
            let mut review = |b: &[u8]| warm(&policy, b, digests);
            assert!(
                pinned(&review(&body), 4),
                "pin phases: not every image pinned"
            );
            let bytes = pin_loop(n, &body, &mut review);
            (body, bytes)
        }
        #[cfg(feature = "load")]
        Some("warm" | "warm-async") => {
            use image_policy_benches::pin::stub;
            use image_policy_webhook::handler::Resolution;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime");
            let (addr, _) = stub::registry(&runtime, std::time::Duration::ZERO);
            let resolver = stub::resolver(&addr, std::time::Duration::from_secs(3600));
            let policy = pin_policy(&addr);
            let body = pinned_review(&addr);
            // Warm the cache: every reference resolved once.
            let first = warm(&policy, &body, |r| {
                match runtime.block_on(resolver.resolve(r)) {
                    Ok(p) => Resolution::pinned(p.digest),
                    Err(e) => Resolution::failed(e.to_string()),
                }
            });
            assert!(pinned(&first, 4), "pin warm: not every image pinned");
            let mut review = |b: &[u8]| {
                warm(&policy, b, |r| {
                    if how == Some("warm-async") {
                        // Awaited on the runtime, as the pin bench's
                        // `mutate-warm-async`.
                        return match runtime.block_on(resolver.resolve(r)) {
                            Ok(p) => Resolution::pinned(p.digest),
                            Err(e) => Resolution::failed(e.to_string()),
                        };
                    }
                    // The server's warm path: the cache, without a task.
                    resolver
                        .cached_digest(r)
                        .map_or_else(|| Resolution::failed("not cached"), Resolution::pinned)
                })
            };
            let bytes = pin_loop(n, &body, &mut review);
            (body, bytes)
        }
        _ => return usage(),
    };
    println!(
        "pin {}: {n} reviews of {} bytes, {bytes} bytes answered",
        how.unwrap_or_default(),
        body.len()
    );
    ExitCode::SUCCESS
}
