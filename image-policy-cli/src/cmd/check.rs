//! `image-policy check`: decide images against a policy, as the webhook would.

use crate::error::CliError;
use crate::format::TextOrJson;
use crate::input::{self, InputImage};
use crate::policy_args::PolicyArgs;
use image_policy_core::policy::{Context, Decision, Policy};
use serde::Serialize;
use std::io::{self, Write};
use std::process::ExitCode;

/// Check images against a policy, exactly as the admission webhook decides.
///
/// With no IMAGE, or with `-`, reads one image per line from standard input.
/// Rules come from --policy FILE, from flags, or both (flags add to the file).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Judge the images as if they were in this namespace (exemptions and
    /// namespace rules apply).
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// An annotation KEY=VALUE of the object (for break-glass); repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    annotation: Vec<String>,
    /// Output format: text for people, json for one object per image per line
    /// (keys: image, allowed, violates, code, reason, rule, mode, canonical, pull_host,
    /// break_glass, rewritten; pull_host is the host the runtime contacts, as in
    /// `parse --format json`, null when the image does not parse; rewritten is null
    /// unless a rewrite rule made the reference that was judged, and then canonical
    /// and pull_host are those of the rewritten one; exemptions, present only when the
    /// image used exempt: rules, lists each with kind, code, reason, exemption, exempted).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t)]
    format: TextOrJson,
    /// Deprecated spelling of --format (`--output json`), for one release.
    #[arg(
        long,
        value_name = "FORMAT",
        value_enum,
        hide = true,
        conflicts_with = "format"
    )]
    output: Option<TextOrJson>,
    /// Images; `-` or none: one per line from standard input (blank lines
    /// are skipped).
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

/// `--help` examples.
pub const EXAMPLES: crate::help::Examples = &[
    "image-policy check --allow-registry registry.my.com prometheus:2.6.1 registry.my.com/prometheus:2.6.1",
    "kubectl get pods -A -o jsonpath='{..image}' | tr ' ' '\\n' | image-policy check --policy examples/seed.yaml --format json",
    "image-policy check prometheus:2.6.1 --allow-registry registry.my.com --rewrite docker.io/library=registry.my.com",
];

/// `--help` after the examples.
pub const EXIT_STATUS: &str = "Exit status: 0 when every image is allowed, 1 when any is denied, 2 on a usage, policy or read error.";

/// One line of `--format json`. Field order is the documented key order.
#[derive(Serialize)]
struct JsonLine<'a> {
    image: &'a str,
    allowed: bool,
    violates: bool,
    code: &'a str,
    reason: String,
    rule: Option<JsonRule<'a>>,
    mode: &'a str,
    canonical: Option<String>,
    /// The host the runtime contacts (`ImageRef::pull_host`, as `parse
    /// --format json` gives it): the domain, or for a name without a valid
    /// one (`x_y.evil.com/app`) the text before its first `/`.
    pull_host: Option<&'a str>,
    break_glass: bool,
    /// The reference a rewrite rule made (and that was judged), if any.
    rewritten: Option<&'a str>,
    /// The exemptions used (`exempt:` rules), present only when some were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    exemptions: Vec<JsonExemption<'a>>,
}

/// One exemption used, in `--format json`.
#[derive(Serialize)]
struct JsonExemption<'a> {
    /// The kind lifted: tags, digest, deny, pin, verify.
    kind: &'a str,
    /// The code the image would have been given without it.
    code: &'a str,
    reason: &'a str,
    /// The exemption (`exempt[0]`).
    exemption: JsonRule<'a>,
    /// The rule it lifted (`tags.deny[0]`).
    exempted: JsonRule<'a>,
}

fn json_rule<'a>(r: image_policy_core::policy::RuleInfo<'a>) -> JsonRule<'a> {
    JsonRule {
        path: r.path,
        index: r.index,
        kind: r.kind.as_str(),
        pattern: r.pattern,
        location: r.location.map(|l| l.to_string()),
        origin: r.origin,
    }
}

#[derive(Serialize)]
struct JsonRule<'a> {
    path: &'a str,
    index: usize,
    kind: &'a str,
    pattern: &'a str,
    location: Option<String>,
    origin: &'a str,
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let loaded = args.policy.load()?;
    for warning in &loaded.warnings {
        eprintln!("image-policy check: {warning}");
    }
    let mut annotations = Vec::new();
    for a in &args.annotation {
        match a.split_once('=') {
            Some((k, v)) => annotations.push((k, v)),
            None => {
                return Err(CliError::Usage(format!(
                    "--annotation {a:?}: expected KEY=VALUE"
                )));
            }
        }
    }
    let images = input::images(args.images)?;
    let mut ctx = Context::new().annotations(&annotations);
    if let Some(ns) = &args.namespace {
        ctx = ctx.namespace(ns);
    }
    let json = crate::format::chosen("check", args.format, args.output) == TextOrJson::Json;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut all_allowed = true;
    for image in &images {
        let written = judge(
            &loaded.policy,
            image,
            &ctx,
            json,
            &mut out,
            &mut all_allowed,
        );
        if !CliError::stdout_written(written)? {
            break;
        }
    }
    CliError::stdout_written(out.flush())?;
    Ok(ExitCode::from(if all_allowed { 0 } else { 1 }))
}

fn judge(
    policy: &Policy,
    image: &InputImage,
    ctx: &Context<'_>,
    json: bool,
    out: &mut impl Write,
    all_allowed: &mut bool,
) -> io::Result<()> {
    if let Some(at) = image.invalid_utf8_at {
        // Not a string the runtime could pull: denied, as any unparseable image.
        *all_allowed = false;
        let reason = format!(
            "invalid image reference {:?}: not valid UTF-8 (byte {at})",
            image.text
        );
        return if json {
            let line = JsonLine {
                image: &image.text,
                allowed: false,
                violates: true,
                code: "unparseable",
                reason,
                rule: None,
                mode: policy.mode().as_str(),
                canonical: None,
                pull_host: None,
                break_glass: false,
                rewritten: None,
                exemptions: Vec::new(),
            };
            write_json(out, &line)
        } else {
            writeln!(out, "DENIED  {reason}")
        };
    }
    let rewritten = match policy.rewrite_str(&image.text) {
        Ok(rewritten) => rewritten,
        Err(e) => {
            // A rule matched but made no valid reference: nothing valid
            // could run, so the image is denied.
            *all_allowed = false;
            return if json {
                let line = JsonLine {
                    image: &image.text,
                    allowed: false,
                    violates: true,
                    code: "rewrite-failed",
                    reason: e.to_string(),
                    rule: None,
                    mode: policy.mode().as_str(),
                    canonical: None,
                    pull_host: None,
                    break_glass: false,
                    rewritten: None,
                    exemptions: Vec::new(),
                };
                write_json(out, &line)
            } else {
                writeln!(out, "DENIED   {e}")
            };
        }
    };
    let decision = policy.evaluate_rewritten(&image.text, rewritten.as_ref(), ctx);
    *all_allowed &= decision.allowed();
    if json {
        write_json(out, &json_line(&decision))
    } else {
        writeln!(out, "{}  {decision}", label(&decision))
    }
}

fn label(d: &Decision<'_>) -> &'static str {
    match (d.allowed(), d.violates()) {
        (false, _) => "DENIED ",
        (true, false) => "ALLOWED",
        (true, true) if d.break_glass_used() => "BREAK-GLASS",
        (true, true) => "WARNING",
    }
}

fn json_line<'d>(d: &'d Decision<'d>) -> JsonLine<'d> {
    JsonLine {
        image: d.image(),
        allowed: d.allowed(),
        violates: d.violates(),
        code: d.code().as_str(),
        reason: d.to_string(),
        rule: d.rule().map(json_rule),
        mode: d.mode().as_str(),
        canonical: d.reference().map(|r| r.to_string()),
        pull_host: d.reference().map(|r| r.pull_host()),
        break_glass: d.break_glass_used(),
        rewritten: d.rewritten().map(|r| r.as_str()),
        exemptions: d
            .exemptions()
            .map(|u| JsonExemption {
                kind: u.kind.as_str(),
                code: u.code.as_str(),
                reason: u.reason,
                exemption: json_rule(u.exemption),
                exempted: json_rule(u.exempted),
            })
            .collect(),
    }
}

fn write_json(out: &mut impl Write, line: &JsonLine<'_>) -> io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}
