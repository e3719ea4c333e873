//! Writes the image reference corpus, `benches/data/references.txt`, from the
//! fixed seed (see `image_policy_benches::corpus`), and prints how many
//! references each parser accepts.
//!
//! Usage: `cargo run -p image-policy-benches --bin gen-corpus [-- OUTPUT]`

use std::path::PathBuf;
use std::str::FromStr;

use image_policy_benches::corpus::{COUNT, SEED, generate};
use image_policy_core::reference::ImageRef;

fn main() {
    let output = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/references.txt"),
        PathBuf::from,
    );
    let corpus = generate(SEED, COUNT);
    if let Err(e) = std::fs::write(&output, &corpus) {
        eprintln!("gen-corpus: write {}: {e}", output.display());
        std::process::exit(1);
    }
    let lines: Vec<&str> = corpus.lines().collect();
    let ours = lines.iter().filter(|s| ImageRef::parse(s).is_ok()).count();
    let oci = lines
        .iter()
        .filter(|s| oci_spec::distribution::Reference::from_str(s).is_ok())
        .count();
    println!(
        "{}: {} references, {} bytes; image-policy accepts {ours} ({:.1}% invalid), oci-spec accepts {oci}",
        output.display(),
        lines.len(),
        corpus.len(),
        100.0 * (lines.len() - ours) as f64 / lines.len() as f64
    );
}
