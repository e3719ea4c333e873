//! `image-policy parse`: show how the runtime reads image references.

use crate::error::CliError;
use crate::format::TextOrJson;
use crate::input::{self, InputImage};
use image_policy_core::reference::ImageRef;
use serde::Serialize;
use std::io::{self, Write};
use std::process::ExitCode;

/// Parse image references and show their parts, as the container runtime reads them.
///
/// With no IMAGE, or with `-`, reads one reference per line from standard input.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format: text for people, json for one object per reference per
    /// line (keys: input, ok, domain, pull_host, path, tag, digest, canonical,
    /// familiar, error; `normalized`, the same as `canonical`, is deprecated
    /// and will be removed in the next release).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t)]
    format: TextOrJson,
    /// The same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Image references; `-` or none: one per line from standard input
    /// (blank lines are skipped).
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

/// `--help` examples (each runs as written; a test runs the first).
pub const EXAMPLES: crate::help::Examples = &[
    "image-policy parse prometheus:2.6.1 registry.my.com:5000/team/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "kubectl get pods -A -o jsonpath='{..image}' | tr ' ' '\\n' | image-policy parse --json",
];

/// `--help` after the examples.
pub const EXIT_STATUS: &str =
    "Exit status: 0 when every reference parsed, 1 when any did not, 2 on a usage error.";

/// One line of `--format json` output. Field order is the documented key order.
#[derive(Serialize)]
struct JsonLine<'a> {
    input: &'a str,
    ok: bool,
    /// The registry domain; null when the name has none (`x_y.evil.com/app`).
    domain: Option<&'a str>,
    /// The host the runtime contacts (the text before the first `/` of the
    /// normalized reference): the domain, except for a name without one.
    /// The same value as `check --format json` gives (`ImageRef::pull_host`).
    pull_host: Option<&'a str>,
    path: Option<String>,
    tag: Option<&'a str>,
    digest: Option<String>,
    canonical: Option<String>,
    familiar: Option<String>,
    error: Option<String>,
    /// Deprecated: the old name of `canonical` (as `check --format json`
    /// calls it), kept for one release.
    normalized: Option<String>,
}

/// What became of one input.
enum Outcome<'a> {
    Parsed(ImageRef<'a>),
    Failed { message: String, offset: usize },
}

fn parse_one(image: &InputImage) -> Outcome<'_> {
    if let Some(at) = image.invalid_utf8_at {
        return Outcome::Failed {
            message: format!(
                "invalid image reference {:?}: not valid UTF-8 (byte {at})",
                image.text
            ),
            offset: at,
        };
    }
    match ImageRef::parse(&image.text) {
        Ok(r) => Outcome::Parsed(r),
        Err(e) => Outcome::Failed {
            message: e.to_string(),
            offset: e.offset(),
        },
    }
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let images = input::images(args.images)?;
    let json = args.json || args.format == TextOrJson::Json;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut all_ok = true;
    for image in &images {
        let outcome = parse_one(image);
        all_ok &= matches!(outcome, Outcome::Parsed(_));
        let written = if json {
            write_json(&mut out, &image.text, &outcome)
        } else {
            write_text(&mut out, &image.text, &outcome)
        };
        if !CliError::stdout_written(written)? {
            break;
        }
    }
    CliError::stdout_written(out.flush())?;
    Ok(ExitCode::from(if all_ok { 0 } else { 1 }))
}

fn write_json(out: &mut impl Write, input: &str, outcome: &Outcome<'_>) -> io::Result<()> {
    let line = match outcome {
        Outcome::Parsed(r) => JsonLine {
            input,
            ok: true,
            domain: Some(r.domain()).filter(|d| !d.is_empty()),
            pull_host: Some(r.pull_host()),
            path: Some(r.path().to_string()),
            tag: r.tag(),
            digest: r.digest().map(|d| d.to_string()),
            canonical: Some(r.to_string()),
            familiar: Some(r.familiar().to_string()),
            error: None,
            normalized: Some(r.to_string()),
        },
        Outcome::Failed { message, .. } => JsonLine {
            input,
            ok: false,
            domain: None,
            pull_host: None,
            path: None,
            tag: None,
            digest: None,
            canonical: None,
            familiar: None,
            error: Some(message.clone()),
            normalized: None,
        },
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

fn write_text(out: &mut impl Write, input: &str, outcome: &Outcome<'_>) -> io::Result<()> {
    match outcome {
        Outcome::Parsed(r) => {
            writeln!(out, "{input:?}")?;
            writeln!(out, "  canonical  {r}")?;
            writeln!(out, "  familiar   {}", r.familiar())?;
            if r.domain().is_empty() {
                // No valid registry domain, and none implied (the pull host
                // line below says which host the runtime contacts).
                writeln!(out, "  domain     (none)")?;
            } else {
                let implied = if r.is_domain_written() {
                    ""
                } else {
                    " (implied)"
                };
                writeln!(out, "  domain     {}{implied}", r.domain())?;
            }
            let library = if r.path().is_library_implied() {
                " (library/ implied)"
            } else {
                ""
            };
            writeln!(out, "  path       {}{library}", r.path())?;
            match (r.tag(), r.digest()) {
                (Some(tag), _) => writeln!(out, "  tag        {tag}")?,
                (None, None) => writeln!(out, "  tag        latest (implied)")?,
                (None, Some(_)) => {}
            }
            if let Some(d) = r.digest() {
                writeln!(out, "  digest     {d}")?;
            }
            writeln!(out, "  pulls      {}", r.docker_ref())?;
            if r.is_pull_host_from_path() {
                // `pulls` shows the whole reference; say which host that is
                // when the grammar found no domain in it.
                writeln!(
                    out,
                    "  pull host  {} (not a valid registry domain, so the name has none; the runtime contacts it all the same)",
                    r.pull_host()
                )?;
            }
            Ok(())
        }
        Outcome::Failed { message, offset } => {
            writeln!(out, "{input:?}")?;
            writeln!(out, "  error: {message}")?;
            // Point at the byte, when the input prints on one line as itself.
            if !input.is_empty() && input.chars().all(|c| !c.is_control()) && input.len() <= 200 {
                let col = input.get(..*offset).map_or(*offset, |s| s.chars().count());
                writeln!(out, "  {input}")?;
                writeln!(out, "  {}^", " ".repeat(col))?;
            }
            Ok(())
        }
    }
}
