//! `instructions policy N-rules|50-regexes`: decides every image of the
//! policy benchmark's corpus once with one of its policies
//! ([`image_policy_benches::policy`]: the 1,000 images, N registry and
//! repository rules, or the 50 regexes). The decisions (parse and
//! `Policy::evaluate`, as in the criterion bench) happen in `decide_corpus`;
//! compiling the policy and one warm-up decision are left out of the count.

use std::hint::black_box;
use std::process::ExitCode;

use image_policy_benches::policy::{images, regex_policy, rules};
use image_policy_core::policy::{Context, Policy};

/// Decides every image of `images` with `policy`; returns how many it allowed.
#[inline(never)]
fn decide_corpus(policy: &Policy, images: &[&str], context: &Context<'_>) -> usize {
    images
        .iter()
        .filter(|image| policy.evaluate(black_box(image), context).allowed())
        .count()
}

pub fn main(args: &[String]) -> ExitCode {
    let policy = match args.first().map(String::as_str) {
        Some("50-regexes") => regex_policy(),
        Some(n_rules) => match n_rules.strip_suffix("-rules").map(str::parse) {
            Some(Ok(n)) => rules(n),
            _ => return super::usage(),
        },
        None => return super::usage(),
    };
    let images = images();
    let context = Context::new().namespace("default");
    // Warm-up outside the collected function: lazy statics, first allocations.
    black_box(policy.evaluate(images[0], &context));
    let allowed = decide_corpus(&policy, &images, &context);
    println!("{} images, {allowed} allowed", images.len());
    ExitCode::SUCCESS
}
