//! `image-policy resolve`: pin image references to the digests their
//! registries serve now, through `image-policy-registry`.

use crate::error::CliError;
use crate::format::TextOrJson;
use crate::input;
use image_policy_core::reference::Reference;
use image_policy_registry::{CacheOptions, Client, Options, Pinned, RegistryError, Resolver};
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Resolve image references to the digests of their manifests, as the
/// registry serves them now.
///
/// Each image is fetched once (GET of its manifest, the digest computed
/// from the bytes received). A multi-platform image is pinned at its index,
/// never at one platform. With no IMAGE, or with `-`, reads one reference
/// per line from standard input.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format: text, one `IMAGE -> PINNED` line per image; json, one
    /// object per image per line, in the order given (keys: image, pinned,
    /// digest, media_type, error, kind; pinned and digest are null and error
    /// and kind set for an image that could not be resolved).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t)]
    format: TextOrJson,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Image references; `-` or none: one per line from standard input
    /// (blank lines are skipped).
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

/// The flags of every command that reaches a registry.
#[derive(clap::Args, Debug, Default)]
pub struct RegistryArgs {
    /// A PEM file of CA certificates to trust besides the system's (which
    /// SSL_CERT_FILE and SSL_CERT_DIR can replace), or a directory whose
    /// *.crt and *.pem files are read (it may be empty). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Vec<PathBuf>,
    /// Registry credentials: a docker config.json, or a Kubernetes Secret of
    /// type kubernetes.io/dockerconfigjson (YAML or JSON), matched to each
    /// image as the kubelet matches them. Repeatable; the first file that
    /// names a key wins.
    #[arg(long, value_name = "FILE")]
    pub registry_auth: Vec<PathBuf>,
    /// Speak plain HTTP to this registry (HOST or HOST:PORT, as written in
    /// image names), for local test registries. Never a fallback:
    /// every other registry is HTTPS with verified certificates. Repeatable.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub registry_plain_http: Vec<String>,
    /// The bound on each registry request, in seconds (connect, TLS,
    /// answer).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub registry_timeout: u64,
}

impl RegistryArgs {
    /// The client these flags describe.
    pub fn client(&self) -> Result<Client, CliError> {
        Client::new(self.options()?).map_err(|e| CliError::Usage(format!("registry TLS: {e}")))
    }

    /// The client's options these flags describe: the CA and credentials
    /// files read now, once.
    pub fn options(&self) -> Result<Options, CliError> {
        let mut options = Options::default();
        for path in &self.registry_ca {
            let read_error = |path: &std::path::Path, source| CliError::Read {
                name: path.display().to_string(),
                source,
            };
            // A directory: every *.crt and *.pem in it (none is fine: a
            // Kubernetes ConfigMap mounted `optional: true` that does not
            // exist), as containerd's certs.d directories hold them.
            let files = if path.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|e| read_error(path, e))?
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.is_file() && p.extension().is_some_and(|e| e == "crt" || e == "pem")
                    })
                    .collect();
                files.sort();
                files
            } else {
                vec![path.clone()]
            };
            for file in files {
                let pem = std::fs::read(&file).map_err(|e| read_error(&file, e))?;
                options.add_ca_pem(&pem).map_err(|e| {
                    CliError::Usage(format!("--registry-ca {}: {e}", file.display()))
                })?;
            }
        }
        for path in &self.registry_auth {
            let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
                name: path.display().to_string(),
                source,
            })?;
            options
                .keyring
                .add_file_contents(&text)
                .map_err(|e| CliError::Usage(format!("--registry-auth {}: {e}", path.display())))?;
        }
        options.plain_http = self.registry_plain_http.clone();
        options.request_timeout = std::time::Duration::from_secs(self.registry_timeout.max(1));
        Ok(options)
    }
}

/// `--help` examples (they need a registry: the tests run `resolve` against a local one).
pub const EXAMPLES: crate::help::Examples = &[
    "image-policy resolve nginx:1.27 registry.my.com/team/app:1.4",
    "image-policy resolve --registry-ca ca.pem --registry-auth ~/.docker/config.json --format json registry.my.com/team/app:1.4",
    "kubectl get pods -A -o jsonpath='{..image}' | tr ' ' '\\n' | sort -u | image-policy resolve",
];

/// `--help` after the examples.
pub const EXIT_STATUS: &str = "Exit status: 0 when every image resolved, 2 when any did not \
(each failure named on standard error; the others are still printed) or on a usage error.";

/// At most this many images are resolved at once.
const CONCURRENCY: usize = 8;

#[derive(Serialize)]
struct JsonLine<'a> {
    image: &'a str,
    pinned: Option<String>,
    digest: Option<&'a str>,
    media_type: Option<&'a str>,
    error: Option<String>,
    kind: Option<&'static str>,
}

enum Outcome {
    Pinned(Pinned),
    Invalid(String),
    Failed(RegistryError),
}

/// Resolves `references` through a client made from `registry`, at most
/// [`CONCURRENCY`] at once, each distinct name once (the resolver's single
/// flight): one answer per reference, in order (`None` for a resolution
/// that stopped, a task that panicked). The commands that pin call it.
pub(crate) fn resolve_all(
    registry: &RegistryArgs,
    references: Vec<Reference>,
) -> Result<Vec<Option<Result<Pinned, RegistryError>>>, CliError> {
    let client = registry.client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    // No cache needed within one run beyond its single flight (a name
    // given twice is fetched once).
    let resolver = Arc::new(Resolver::new(
        client,
        CacheOptions::with_ttl(std::time::Duration::from_secs(3600)),
    ));
    Ok(runtime.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        let mut outcomes: Vec<Option<_>> = (0..references.len()).map(|_| None).collect();
        for (i, reference) in references.into_iter().enumerate() {
            let resolver = Arc::clone(&resolver);
            let limit = Arc::clone(&limit);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (i, resolver.resolve(&reference).await)
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, result)) = done {
                outcomes[i] = Some(result);
            }
        }
        outcomes
    }))
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let images = input::images(args.images)?;
    let mut outcomes: Vec<Option<Outcome>> = (0..images.len()).map(|_| None).collect();
    let mut references = Vec::new();
    for (i, image) in images.iter().enumerate() {
        match (image.invalid_utf8_at, Reference::parse(&image.text)) {
            (Some(at), _) => {
                outcomes[i] = Some(Outcome::Invalid(format!(
                    "invalid image reference {:?}: not valid UTF-8 (byte {at})",
                    image.text
                )));
            }
            (None, Err(e)) => outcomes[i] = Some(Outcome::Invalid(e.to_string())),
            (None, Ok(r)) => references.push((i, r)),
        }
    }
    let (indices, references): (Vec<usize>, Vec<Reference>) = references.into_iter().unzip();
    let resolved = resolve_all(&args.registry, references)?;
    for (i, result) in indices.into_iter().zip(resolved) {
        outcomes[i] = Some(match result {
            Some(Ok(p)) => Outcome::Pinned(p),
            Some(Err(e)) => Outcome::Failed(e),
            None => Outcome::Invalid("the resolution stopped".to_owned()),
        });
    }
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Outcome::Invalid("the resolution stopped".to_owned())))
        .collect();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut all_ok = true;
    for (image, outcome) in images.iter().zip(&outcomes) {
        let error = match outcome {
            Outcome::Pinned(_) => None,
            Outcome::Invalid(e) => Some((e.clone(), "invalid_reference")),
            // The registry's error names the image (normalized) and the registry.
            Outcome::Failed(e) => Some((e.to_string(), e.kind_name())),
        };
        if let Some((message, _)) = &error {
            all_ok = false;
            eprintln!("image-policy resolve: {message}");
        }
        let written = match (args.format, outcome) {
            (TextOrJson::Text, Outcome::Pinned(p)) => {
                writeln!(out, "{} -> {}", image.text, p.pinned)
            }
            (TextOrJson::Text, _) => Ok(()),
            (TextOrJson::Json, outcome) => {
                let pinned = match outcome {
                    Outcome::Pinned(p) => Some(p),
                    _ => None,
                };
                let line = JsonLine {
                    image: &image.text,
                    pinned: pinned.map(|p| p.pinned.to_string()),
                    digest: pinned.map(|p| p.digest.as_str()),
                    media_type: pinned.map(|p| p.media_type.as_str()),
                    error: error.as_ref().map(|(m, _)| m.clone()),
                    kind: error.as_ref().map(|(_, k)| *k),
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
    Ok(ExitCode::from(if all_ok { 0 } else { 2 }))
}
