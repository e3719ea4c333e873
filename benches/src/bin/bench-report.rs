//! Prints the latest criterion results as Markdown tables: for every group, the
//! median time of each benchmark (per iteration and, when the benchmark sets
//! `Throughput::Elements`, per element; `Throughput::Bytes` gives a rate), then
//! how many times faster each of our benchmarks is than each peer's on the same
//! case (see the crate docs for the naming convention).
//!
//! It reads `<criterion dir>/**/new/{benchmark,estimates}.json`, which
//! `cargo bench` writes; the default directory is the workspace's
//! `target/criterion` (or `$CARGO_TARGET_DIR/criterion`).
//!
//! Usage: `cargo run -p image-policy-benches --bin bench-report [-- CRITERION_DIR]`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

/// Function ids (up to the first `/`) that name this project's code, and
/// those that name a peer, besides the `ours: ` and `peer: ` prefixes.
const OURS: &[&str] = &["image-policy"];
const PEERS: &[&str] = &["oci-spec", "regorus", "cel"];

/// One benchmark's latest result.
struct Measurement {
    /// The function id, with the parameter (`image-policy/100-rules`).
    function: String,
    /// Median time of one iteration, with its 95% confidence interval, in ns.
    median: [f64; 3],
    /// Elements per iteration, when the benchmark declares them.
    elements: Option<u64>,
    /// Bytes per iteration, when the benchmark declares them.
    bytes: Option<u64>,
}

impl Measurement {
    /// Who the benchmark measures: the function id up to the first `/`.
    fn implementation(&self) -> &str {
        self.function.split('/').next().unwrap_or_default()
    }

    /// What it measures, when the group has several cases: the rest.
    fn case(&self) -> Option<&str> {
        self.function.split_once('/').map(|(_, case)| case)
    }

    fn side(&self) -> Side {
        let name = self.implementation();
        let is = |names: &[&str]| names.iter().any(|n| name.starts_with(n));
        if name.starts_with("ours:") || is(OURS) {
            Side::Ours
        } else if name.starts_with("peer:") || is(PEERS) {
            Side::Peer
        } else {
            Side::Other
        }
    }

    /// Median time per element (or per iteration), in ns.
    fn per_item(&self) -> f64 {
        self.median[1] / self.elements.unwrap_or(1) as f64
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Ours,
    Peer,
    Other,
}

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(default_dir, PathBuf::from);
    let mut groups: BTreeMap<String, Vec<Measurement>> = BTreeMap::new();
    if let Err(e) = collect(&dir, &mut groups) {
        eprintln!("bench-report: {e}");
        return ExitCode::from(2);
    }
    if groups.is_empty() {
        eprintln!(
            "bench-report: no criterion results under {}; run `cargo bench -p image-policy-benches` first",
            dir.display()
        );
        return ExitCode::from(2);
    }
    print!("{}", report(&groups));
    ExitCode::SUCCESS
}

fn default_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => PathBuf::from(target).join("criterion"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"),
    }
}

/// Finds every `new/benchmark.json` under `dir` and reads it with its estimates.
fn collect(dir: &Path, groups: &mut BTreeMap<String, Vec<Measurement>>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("read {}: {e}", dir.display()))?
            .path();
        if !path.is_dir() {
            continue;
        }
        let benchmark = path.join("benchmark.json");
        if path.file_name().is_some_and(|n| n == "new") && benchmark.is_file() {
            let (group, result) = read_result(&benchmark, &path.join("estimates.json"))?;
            groups.entry(group).or_default().push(result);
        } else {
            collect(&path, groups)?;
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_result(benchmark: &Path, estimates: &Path) -> Result<(String, Measurement), String> {
    let meta = read_json(benchmark)?;
    let est = read_json(estimates)?;
    let text = |v: &Value, key: &str| v[key].as_str().map(str::to_owned);
    let group =
        text(&meta, "group_id").ok_or_else(|| format!("{}: no group_id", benchmark.display()))?;
    let mut function = text(&meta, "function_id").unwrap_or_default();
    if let Some(value) = text(&meta, "value_str") {
        function = format!("{function}/{value}");
    }
    let median = &est["median"];
    let number = |v: &Value| {
        v.as_f64()
            .ok_or_else(|| format!("{}: median is incomplete", estimates.display()))
    };
    let median = [
        number(&median["confidence_interval"]["lower_bound"])?,
        number(&median["point_estimate"])?,
        number(&median["confidence_interval"]["upper_bound"])?,
    ];
    let elements = meta["throughput"]["Elements"].as_u64();
    let bytes = meta["throughput"]["Bytes"].as_u64();
    Ok((
        group,
        Measurement {
            function,
            median,
            elements,
            bytes,
        },
    ))
}

/// A duration in ns, with a unit that keeps 3 or 4 significant digits.
fn duration(ns: f64) -> String {
    match ns {
        ns if ns < 1e3 => format!("{ns:.1} ns"),
        ns if ns < 1e6 => format!("{:.2} µs", ns / 1e3),
        ns if ns < 1e9 => format!("{:.2} ms", ns / 1e6),
        ns => format!("{:.2} s", ns / 1e9),
    }
}

fn rate(per_second: f64) -> String {
    match per_second {
        r if r >= 1e6 => format!("{:.2} M/s", r / 1e6),
        r if r >= 1e3 => format!("{:.1} K/s", r / 1e3),
        r => format!("{r:.0} /s"),
    }
}

fn report(groups: &BTreeMap<String, Vec<Measurement>>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {}, {} logical CPUs. Medians of criterion's samples, 95% confidence interval in brackets.\n",
        cpu_model().unwrap_or_else(|| "unknown CPU".to_owned()),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    for (group, results) in groups {
        let mut results: Vec<&Measurement> = results.iter().collect();
        results.sort_by(|a, b| (a.side(), &a.function).cmp(&(b.side(), &b.function)));
        let _ = writeln!(out, "### {group}\n");
        let _ = writeln!(
            out,
            "| benchmark | per iteration | elements | per element | throughput |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for r in &results {
            let [lo, median, hi] = r.median;
            let (elements, per_element, throughput) = match r.elements {
                Some(n) => {
                    let n_f = n as f64;
                    (
                        n.to_string(),
                        format!(
                            "**{}** [{} – {}]",
                            duration(median / n_f),
                            duration(lo / n_f),
                            duration(hi / n_f)
                        ),
                        rate(n_f * 1e9 / median),
                    )
                }
                None => (
                    String::new(),
                    String::new(),
                    r.bytes
                        .map(|n| format!("{:.1} MB/s", n as f64 * 1e3 / median))
                        .unwrap_or_default(),
                ),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {elements} | {per_element} | {throughput} |",
                r.function,
                duration(median)
            );
        }
        let ours: Vec<&&Measurement> = results.iter().filter(|r| r.side() == Side::Ours).collect();
        let peers: Vec<&&Measurement> = results.iter().filter(|r| r.side() == Side::Peer).collect();
        if !ours.is_empty() && !peers.is_empty() {
            let _ = writeln!(out, "\n| ours | peer | peer time / our time |");
            let _ = writeln!(out, "|---|---|---:|");
            for o in &ours {
                for p in peers.iter().filter(|p| p.case() == o.case()) {
                    let _ = writeln!(
                        out,
                        "| {} | {} | **{:.1}×** |",
                        o.function,
                        p.function,
                        p.per_item() / o.per_item()
                    );
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The CPU model, from `/proc/cpuinfo` where there is one.
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}
