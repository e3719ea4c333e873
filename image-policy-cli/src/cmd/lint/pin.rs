//! `lint --fix` with `pin:` rules: the images the fix plan pins, resolved
//! through the registry (`image-policy-registry`) before anything is
//! written, each distinct name once.

use crate::cmd::resolve::{RegistryArgs, resolve_all};
use crate::error::CliError;
use image_policy_core::reference::Reference;
use image_policy_lint::fix::{Pins, Wanted};
use image_policy_lint::render::escape::{message, name as shown};

/// The digests of `wanted`, or `None` when any cannot be resolved: each
/// failure is said on standard error (the image, where the run first met
/// it, and the registry's error), and the run writes nothing (a partial
/// pin of a repository is worse than none: decided per run).
pub(super) fn resolve(
    registry: &RegistryArgs,
    wanted: &[Wanted],
) -> Result<Option<Pins>, CliError> {
    let mut references = Vec::with_capacity(wanted.len());
    let mut failed = false;
    for w in wanted {
        match Reference::parse(&w.image) {
            Ok(r) => references.push(Some(r)),
            Err(e) => {
                failed = true;
                references.push(None);
                say(w, &e.to_string());
            }
        }
    }
    let resolved = resolve_all(registry, references.iter().flatten().cloned().collect())?;
    let mut resolved = resolved.into_iter();
    let mut pins = Pins::new();
    for (w, reference) in wanted.iter().zip(&references) {
        if reference.is_none() {
            continue;
        }
        match resolved.next().flatten() {
            Some(Ok(pinned)) => {
                if let Err(e) = pins.insert(&w.image, &pinned.digest) {
                    failed = true;
                    say(w, &e.to_string());
                }
            }
            // The registry's error names the image (normalized) and the registry.
            Some(Err(e)) => {
                failed = true;
                say_registry(w, &e.to_string());
            }
            None => {
                failed = true;
                say(w, "the resolution stopped");
            }
        }
    }
    Ok((!failed).then_some(pins))
}

/// A failure whose message names the image (the registry's error starts
/// with it): where, then the message.
fn say_registry(w: &Wanted, error: &str) {
    eprintln!(
        "image-policy lint: {}:{}: cannot pin: {}",
        shown(&w.file),
        w.position,
        message(error)
    );
}

fn say(w: &Wanted, why: &str) {
    eprintln!(
        "image-policy lint: cannot pin {} ({}:{}): {}",
        message(&w.image),
        shown(&w.file),
        w.position,
        message(why)
    );
}
