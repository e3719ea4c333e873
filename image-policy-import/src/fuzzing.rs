//! The fuzz targets' checks (`fuzz/fuzz_targets/import_readers.rs`), here so
//! that `cargo test` replays the committed inputs with the same checks.
//! Hidden, outside semver.

use crate::{ImportFormat, Source, import, read_images};
use image_policy_core::policy::PolicyBuilder;

/// The first byte picks the format (its index in `ImportFormat::ALL`,
/// modulo its length: a new format goes last), the rest is the file. No panic; an
/// import that succeeds writes a policy that loads (without `exempt:`
/// rules, which this build's policy loader may not know) and an old policy
/// that judges any image; the images reader never panics either.
pub fn import_readers(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let format = ImportFormat::ALL[usize::from(pick) % ImportFormat::ALL.len()];
    let _ = read_images(&text);
    let Ok(imported) = import(format, &[Source::new("fuzz", &text)]) else {
        return;
    };
    if let Err(e) =
        PolicyBuilder::from_yaml_str(&imported.text, "fuzz").and_then(PolicyBuilder::build)
    {
        panic!("the imported policy does not load: {e}\n{}", imported.text);
    }
    for image in [
        "nginx",
        "registry.my.com/app:1",
        "localhost:5000/x",
        "a@sha256:0",
    ] {
        let _ = imported.old.judge(image, Some("default"));
    }
}
