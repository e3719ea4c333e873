//! `image-policy serve`: the admission server, configured from flags.

use crate::cmd::resolve::RegistryArgs;
use crate::error::CliError;
use crate::policy_args::PolicyArgs;
use image_policy_registry::CacheOptions;
use image_policy_webhook::server::{
    self, MAX_WEBHOOK_TIMEOUT, PinConfig, PolicySource, ServerConfig, TlsFiles, Transport,
    shutdown_signal,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Run the admission server: an ImageReview backend for the ImagePolicyWebhook
/// admission plugin (POST /imagereview), a ValidatingAdmissionWebhook
/// (POST /validate) and a MutatingAdmissionWebhook applying the policy's
/// rewrite rules (POST /mutate), with GET /healthz, /readyz and /metrics.
///
/// The policy file and the certificate and key are re-read when they change
/// (also through a Kubernetes volume's ..data symlink swap); a policy that does
/// not load is logged and counted, and the previous one stays in force.
/// SIGTERM or SIGINT stops accepting and finishes the requests in flight.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Serving certificate chain (PEM), reloaded when the file changes.
    #[arg(long, value_name = "FILE", required_unless_present = "insecure_http")]
    tls_cert: Option<PathBuf>,
    /// Private key of the serving certificate (PEM), reloaded with it.
    #[arg(long, value_name = "FILE", required_unless_present = "insecure_http")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM): mutual TLS, so
    /// that only the API server can call the webhook.
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,
    /// Address of the main (HTTPS) listener: IP:PORT, or HOST:PORT with a
    /// host name resolved at startup (its first address).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443", value_parser = parse_listen)]
    listen: SocketAddr,
    /// Also serve /healthz, /readyz and /metrics in plain HTTP on this address
    /// (IP:PORT or HOST:PORT).
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    metrics_listen: Option<SocketAddr>,
    /// Serve plain HTTP instead of HTTPS, for local trials only.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key", "client_ca"])]
    insecure_http: bool,
    /// How often to check the policy and certificate files for changes
    /// (500ms, 2s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    reload_interval: Duration,
    /// Most client connections open at once; at the cap the least recently
    /// active idle one is closed for a new one [default: the file-descriptor
    /// limit less 64, at most 1024].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// Close a connection that has had no request in flight for this long
    /// (500ms, 30s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// Close a connection whose answer makes no progress for this long (a
    /// client that does not read it).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    write_timeout: Duration,
    /// Memory for request bodies in flight, over all connections, in MiB; at
    /// the budget the largest bodies are refused (503) to make room. At least
    /// the 7 MiB body limit.
    #[arg(long, value_name = "MIB", default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=65536))]
    body_memory_mib: u32,
    /// Log format: one line per event, as text or JSON.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// The registry flags, for /mutate's pinning (pin: rules). The CA and
    /// credentials files are read once, at startup.
    #[command(flatten)]
    registry: Box<RegistryArgs>,
    /// How long /mutate reuses a tag's digest (0s: no cache; concurrent
    /// reviews of one tag still share one request). Only successes are kept.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_ttl)]
    pin_cache_ttl: Duration,
    /// The deadline of one /mutate review's registry requests: an image not
    /// resolved by then is a failure (denied in enforce mode). Must be below
    /// the MutatingWebhookConfiguration's timeoutSeconds (at most 30 s).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_pin_deadline)]
    pin_deadline: Duration,
    /// How long a verified signature (verify: rules) is reused, keyed on the
    /// repository, digest, signature repository and key set (0s: no cache,
    /// every review verifies again; at most 60m: a signature removed is
    /// noticed within it). Only successes are kept.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_verify_cache_ttl)]
    verify_cache_ttl: Duration,
    /// The most verified signatures kept (1 to 65536; the oldest goes first
    /// when full). Each entry is a few hundred bytes.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=65536))]
    verify_cache_size: u32,
}

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

/// `--help` examples.
pub const EXAMPLES: crate::help::Examples = &[
    "image-policy serve --allow-registry registry.my.com --tls-cert tls.crt --tls-key tls.key",
    "image-policy serve --policy examples/seed.yaml --insecure-http --listen 127.0.0.1:8080",
];

/// `--help` after the examples.
pub const EXIT_STATUS: &str = "Exit status: 0 after a clean shutdown, 2 when the policy, certificate or listen address cannot be used at startup.";

/// Parses a listen address: `IP:PORT` (`0.0.0.0:8443`, `[::]:8443`), or
/// `HOST:PORT` resolved by the system's resolver, whose first address is
/// taken (`localhost:8443`).
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    let expected =
        "expected IP:PORT or HOST:PORT, such as 0.0.0.0:8443, [::]:8443 or localhost:8443";
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} has no port: {expected}"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("{text:?} is not an address: {expected}"));
    }
    match text.to_socket_addrs() {
        Ok(mut addresses) => addresses
            .next()
            .ok_or_else(|| format!("{host:?} resolves to no address: {expected}")),
        Err(e) => Err(format!("cannot resolve {host:?} ({e}): {expected}")),
    }
}

/// Parses `250ms`, `2s` or `1m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |at| text.split_at(at));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 500ms, 2s or 1m"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    if duration.is_zero() {
        return Err("the interval must be more than zero".to_owned());
    }
    Ok(duration)
}

/// `--pin-cache-ttl`: a duration, `0s` turning the cache off.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    if ["0s", "0ms", "0m"].contains(&text) {
        return Ok(Duration::ZERO);
    }
    parse_duration(text)
}

/// The longest `--verify-cache-ttl`.
const MAX_VERIFY_CACHE_TTL: Duration = Duration::from_secs(60 * 60);

/// `--verify-cache-ttl`: `0s` turns the cache off; at most
/// [`MAX_VERIFY_CACHE_TTL`].
fn parse_verify_cache_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_ttl(text)?;
    if ttl > MAX_VERIFY_CACHE_TTL {
        return Err(format!(
            "{text:?} is longer than 60m: a signature removed must be noticed within the TTL"
        ));
    }
    Ok(ttl)
}

/// `--pin-deadline`: below the API server's largest webhook timeout.
fn parse_pin_deadline(text: &str) -> Result<Duration, String> {
    let deadline = parse_duration(text)?;
    if deadline >= MAX_WEBHOOK_TIMEOUT {
        return Err(format!(
            "{text:?} is not below {} s, the longest timeoutSeconds the API server allows a webhook",
            MAX_WEBHOOK_TIMEOUT.as_secs()
        ));
    }
    Ok(deadline)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if format == LogFormat::Json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// The server's policy source: the flags' policy, re-loaded when the file changes.
fn policy_source(args: PolicyArgs) -> PolicySource {
    let files = args.policy_file().into_iter().collect();
    // The flags (not the file name) are part of the policy's identity.
    let identity = format!(
        "{:?}",
        PolicyArgs {
            policy: None,
            ..args.clone()
        }
    );
    PolicySource {
        files,
        identity,
        load: Box::new(move || Ok(args.load()?)),
    }
}

/// Runs `image-policy serve`.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    init_logging(args.log_format);
    let transport = match (args.insecure_http, args.tls_cert, args.tls_key) {
        (false, Some(cert), Some(key)) => Transport::Https(TlsFiles {
            cert,
            key,
            client_ca: args.client_ca,
        }),
        _ => {
            tracing::warn!("--insecure-http: serving plain HTTP; the API server needs HTTPS");
            Transport::InsecureHttp
        }
    };
    let mut config = ServerConfig::new(args.listen, transport, policy_source(args.policy));
    config.metrics_listen = args.metrics_listen;
    config.reload_interval = args.reload_interval;
    config.max_connections = args.max_connections.map(|n| n as usize);
    config.idle_timeout = args.idle_timeout;
    config.write_timeout = args.write_timeout;
    config.body_memory = args.body_memory_mib as usize * 1024 * 1024;
    let mut pin = PinConfig::default();
    pin.registry = args.registry.options()?;
    pin.cache = CacheOptions::with_ttl(args.pin_cache_ttl);
    pin.deadline = args.pin_deadline;
    pin.verify_cache.ttl = args.verify_cache_ttl;
    pin.verify_cache.max_entries = args.verify_cache_size as usize;
    config.pin = pin;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    // A server error is logged once, in the log's format (`CliError::print`).
    runtime
        .block_on(server::run(config, shutdown_signal()))
        .map_err(CliError::Server)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::{
        parse_duration, parse_listen, parse_pin_deadline, parse_ttl, parse_verify_cache_ttl,
    };

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen("0.0.0.0:8443").unwrap().to_string(),
            "0.0.0.0:8443"
        );
        assert_eq!(parse_listen("[::]:8443").unwrap().to_string(), "[::]:8443");
        // A host name is resolved (localhost is in every /etc/hosts).
        let local = parse_listen("localhost:8443").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 8443, "{local}");
        for (text, says) in [
            ("localhost", "has no port"),
            ("8443", "has no port"),
            (":8443", "is not an address"),
            ("localhost:http", "is not an address"),
            ("localhost:99999", "is not an address"),
        ] {
            let e = parse_listen(text).unwrap_err();
            assert!(
                e.contains(says) && e.contains("such as 0.0.0.0:8443"),
                "{text}: {e}"
            );
        }
    }
    use std::time::Duration;

    #[test]
    fn durations() {
        for (text, expected) in [
            ("250ms", Ok(Duration::from_millis(250))),
            ("2s", Ok(Duration::from_secs(2))),
            ("1m", Ok(Duration::from_secs(60))),
            ("0s", Err(())),
            ("2", Err(())),
            ("s", Err(())),
            ("2h", Err(())),
        ] {
            assert_eq!(parse_duration(text).map_err(|_| ()), expected, "{text}");
        }
    }

    /// `--verify-cache-ttl`: `0s` off, at most 60 minutes.
    #[test]
    fn verify_cache_ttls() {
        for (text, expected) in [
            ("0s", Ok(Duration::ZERO)),
            ("5m", Ok(Duration::from_secs(300))),
            ("60m", Ok(Duration::from_secs(3600))),
            ("61m", Err(())),
            ("5", Err(())),
        ] {
            assert_eq!(
                parse_verify_cache_ttl(text).map_err(|_| ()),
                expected,
                "{text}"
            );
        }
    }

    /// `--pin-cache-ttl 0s` turns the cache off; `--pin-deadline` must be
    /// below the API server's longest webhook timeout.
    #[test]
    fn pin_durations() {
        for (text, expected) in [
            ("0s", Ok(Duration::ZERO)),
            ("0ms", Ok(Duration::ZERO)),
            ("0m", Ok(Duration::ZERO)),
            ("30s", Ok(Duration::from_secs(30))),
            ("0", Err(())),
            ("-1s", Err(())),
        ] {
            assert_eq!(parse_ttl(text).map_err(|_| ()), expected, "{text}");
        }
        for (text, expected) in [
            ("3s", Ok(Duration::from_secs(3))),
            ("29s", Ok(Duration::from_secs(29))),
            ("30s", Err(())),
            ("1m", Err(())),
            ("0s", Err(())),
        ] {
            assert_eq!(parse_pin_deadline(text).map_err(|_| ()), expected, "{text}");
        }
    }
}
