//! Parsing into the borrowed view allocates nothing, counted with a counting
//! global allocator (per thread, so other tests running alongside do not count).

use image_policy_core::reference::ImageRef;

#[test]
fn successful_parse_allocates_nothing() {
    let text =
        std::fs::read_to_string(crate::testdata("reference/reference-sample.jsonl")).unwrap();
    let inputs: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["input"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .filter(|s| ImageRef::parse(s).is_ok())
        .collect();
    assert!(inputs.len() > 100, "the sample has many valid references");
    let mut parts = 0usize;
    let info = allocation_counter::measure(|| {
        for s in &inputs {
            let r = ImageRef::parse(s).unwrap();
            // Reading the parts does not allocate either.
            parts += r.domain().len() + r.path().len() + r.tag().map_or(0, str::len);
            parts += r.digest().map_or(0, |d| d.encoded().len()) + r.path().segments().count();
        }
    });
    assert!(parts > 0);
    assert_eq!(
        info.count_total,
        0,
        "{} allocations parsing {} references",
        info.count_total,
        inputs.len()
    );
}

#[test]
fn owned_reference_is_one_allocation() {
    let info = allocation_counter::measure(|| {
        let r = image_policy_core::reference::Reference::parse("prometheus:2.6.1").unwrap();
        assert_eq!(r.as_str(), "docker.io/library/prometheus:2.6.1");
    });
    assert_eq!(
        info.count_total, 1,
        "the canonical string is the only allocation"
    );
    assert_eq!(info.count_current, 0);
}
