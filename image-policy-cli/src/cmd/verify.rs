//! `image-policy verify`: resolve each image to its digest, then verify the
//! cosign signatures the policy's verify rules ask for, through
//! `image-policy-registry` (`Resolver`, then `cosign::Verifier`).

use crate::cmd::resolve::RegistryArgs;
use crate::error::CliError;
use crate::format::TextOrJson;
use crate::input;
use crate::policy_args::PolicyArgs;
use image_policy_core::policy::Policy;
use image_policy_core::reference::Reference;
use image_policy_registry::cosign::{Limits, VerifyCacheOptions};
use image_policy_registry::{CacheOptions, Resolver, Verifier, VerifyErrorKind};
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Verify the cosign signatures of images, as the policy's verify rules
/// ask: resolve each image to the digest its registry serves now, then
/// check that every verify rule matching it has a signature of that digest
/// by one of its keys.
///
/// The image checked is the one the runtime would pull: the policy's
/// rewrite rules apply first. An image that no verify rule matches does not
/// verify (exit status 1): there is nothing to verify it against. With no
/// IMAGE, or with `-`, reads one reference per line from standard input.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The policy file whose verify rules apply (YAML, or JSON when the
    /// name ends in .json); keyFile paths are relative to its directory.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Apply the rules of this namespace (default: the cluster's).
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// Output format: text, one `IMAGE: verified|not verified …` line per
    /// image; json, one object per image per line, in the order given
    /// (keys: image, pinned, verified, rules, error, kind).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t)]
    format: TextOrJson,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Image references; `-` or none: one per line from standard input.
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

/// `--help` examples (they need a registry).
pub const EXAMPLES: crate::help::Examples = &[
    "image-policy verify --policy policy.yaml registry.my.com/team/app:1.4",
    "image-policy verify --policy policy.yaml --registry-ca ca.pem --registry-auth ~/.docker/config.json --format json registry.my.com/team/app@sha256:…",
];

/// `--help` after the examples.
pub const EXIT_STATUS: &str = "Exit status: 0 when every image verifies, 1 when one does not \
(no verify rule matches it, no signature, none by a listed key, a signature of another digest or \
naming another repository; the reason on standard error), 2 on a registry error, an invalid \
reference, or a usage error.";

/// What became of one image.
enum Outcome {
    /// Every matching rule verified: the pinned image and the rules' paths.
    Verified(String, Vec<String>),
    /// A negative answer (exit 1): the pinned image if resolved, why, its kind.
    Refused(Option<String>, String, &'static str),
    /// An error (exit 2).
    Error(Option<String>, String, &'static str),
}

#[derive(Serialize)]
struct JsonLine<'a> {
    image: &'a str,
    pinned: Option<&'a str>,
    verified: bool,
    rules: &'a [String],
    error: Option<&'a str>,
    kind: Option<&'static str>,
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let policy = PolicyArgs {
        policy: Some(args.policy.clone()),
        ..PolicyArgs::default()
    }
    .load()?
    .policy;
    let images = input::images(args.images)?;
    let options = args.registry.client()?.options().clone();
    let client = image_policy_registry::Client::new(options.clone())
        .map_err(|e| CliError::Usage(format!("registry TLS: {e}")))?;
    let resolver = Resolver::new(
        client,
        CacheOptions::with_ttl(std::time::Duration::from_secs(3600)),
    );
    let verifier = Verifier::new(
        Arc::new(
            image_policy_registry::Client::new(options)
                .map_err(|e| CliError::Usage(format!("registry TLS: {e}")))?,
        ),
        Limits::default(),
        VerifyCacheOptions::default(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let outcomes: Vec<Outcome> = runtime.block_on(async {
        let mut outcomes = Vec::with_capacity(images.len());
        for image in &images {
            outcomes.push(
                verify_one(
                    &policy,
                    &resolver,
                    &verifier,
                    &image.text,
                    image.invalid_utf8_at,
                    args.namespace.as_deref(),
                )
                .await,
            );
        }
        outcomes
    });
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let (mut refused, mut errors) = (false, false);
    for (image, outcome) in images.iter().zip(&outcomes) {
        let (pinned, verified, rules, error, kind) = match outcome {
            Outcome::Verified(p, rules) => (Some(p.as_str()), true, rules.as_slice(), None, None),
            Outcome::Refused(p, e, k) => {
                refused = true;
                (p.as_deref(), false, &[][..], Some(e.as_str()), Some(*k))
            }
            Outcome::Error(p, e, k) => {
                errors = true;
                (p.as_deref(), false, &[][..], Some(e.as_str()), Some(*k))
            }
        };
        if let Some(e) = error {
            eprintln!("image-policy verify: {}: {e}", image.text);
        }
        let written = match args.format {
            TextOrJson::Text => match (verified, pinned) {
                (true, Some(p)) => writeln!(
                    out,
                    "{}: verified ({p}, by {})",
                    image.text,
                    rules.join(", ")
                ),
                _ => writeln!(out, "{}: not verified", image.text),
            },
            TextOrJson::Json => {
                let line = JsonLine {
                    image: &image.text,
                    pinned,
                    verified,
                    rules,
                    error,
                    kind,
                };
                serde_json::to_writer(&mut out, &line)
                    .map_err(io::Error::other)
                    .and_then(|()| out.write_all(b"\n"))
            }
        };
        if !CliError::stdout_written(written)? {
            break;
        }
    }
    CliError::stdout_written(out.flush())?;
    Ok(ExitCode::from(if errors {
        2
    } else if refused {
        1
    } else {
        0
    }))
}

async fn verify_one(
    policy: &Policy,
    resolver: &Resolver,
    verifier: &Verifier,
    text: &str,
    invalid_utf8_at: Option<usize>,
    namespace: Option<&str>,
) -> Outcome {
    if let Some(at) = invalid_utf8_at {
        return Outcome::Error(
            None,
            format!("invalid image reference: not valid UTF-8 (byte {at})"),
            "invalid_reference",
        );
    }
    // The image the runtime pulls: after the policy's rewrite rules.
    let pulled = match policy.rewrite_str(text) {
        Ok(Some(r)) => r.as_str().to_owned(),
        Ok(None) => text.to_owned(),
        Err(e) => return Outcome::Error(None, e.to_string(), "rewrite_failed"),
    };
    let reference = match Reference::parse(&pulled) {
        Ok(r) => r,
        Err(e) => return Outcome::Error(None, e.to_string(), "invalid_reference"),
    };
    let requirements = policy.verify_requirements(&pulled, namespace);
    if requirements.is_empty() {
        return Outcome::Refused(
            None,
            "no verify rule of the policy matches this image".to_owned(),
            "not_in_verify_scope",
        );
    }
    let pinned = match resolver.resolve(&reference).await {
        Ok(p) => p.pinned,
        Err(e) => return Outcome::Error(None, e.to_string(), e.kind_name()),
    };
    let shown = pinned.to_string();
    let mut rules = Vec::new();
    for requirement in &requirements {
        match verifier
            .verify(&pinned, requirement.keys, requirement.signature_repository)
            .await
        {
            Ok(_) => rules.push(requirement.rule.path.to_owned()),
            Err(e) => {
                let message = format!("{e}, for {}", requirement.rule);
                return match e.kind {
                    VerifyErrorKind::Registry(_) => {
                        Outcome::Error(Some(shown), message, e.kind.name())
                    }
                    _ => Outcome::Refused(Some(shown), message, e.kind.name()),
                };
            }
        }
    }
    Outcome::Verified(shown, rules)
}
