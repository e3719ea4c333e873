//! The fuzz targets' committed inputs (`tests/fuzz/testdata/<target>/`),
//! replayed with the targets' own checks (`image_policy_import::fuzzing`).

#[test]
fn import_readers_inputs() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/testdata/import_readers");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        image_policy_import::fuzzing::import_readers(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 4, "the seeds are in {}", dir.display());
}
