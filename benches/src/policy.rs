//! The policy benchmark's images and policies, shared by the criterion bench
//! (`benches/policy.rs`, which adds the peers' versions of the same rules) and
//! the instruction counter (`instructions policy`, counted by
//! `benches/gate.sh`), so both measure the same decisions:
//!
//! - [`IMAGES`] (`data/policy/images.txt`): 1,000 image references;
//! - [`rules`]: policies of `n` registry and repository rules (rule `i` is
//!   `registry-{i}.example.com` for even `i`, `quay.io/team-{i}/*` for odd
//!   `i`), with each rule as the peers' prefix too;
//! - [`regexes`]: a policy of 50 name regexes, and the peers' whole-image
//!   equivalents.

use image_policy_core::policy::Policy;

/// The images of the policy benchmark, one reference per line.
pub const IMAGES: &str = include_str!("../data/policy/images.txt");

/// The references of [`IMAGES`], in order.
pub fn images() -> Vec<&'static str> {
    IMAGES.lines().collect()
}

/// Rule `i`: ours, the peers' prefix, and whether it is a registry rule.
pub fn rule(i: usize) -> (String, String, bool) {
    if i.is_multiple_of(2) {
        let r = format!("registry-{i}.example.com");
        let prefix = format!("{r}/");
        (r, prefix, true)
    } else {
        let r = format!("quay.io/team-{i}/*");
        let prefix = format!("quay.io/team-{i}/");
        (r, prefix, false)
    }
}

/// Our policy of rules `0..n`.
pub fn rules(n: usize) -> Policy {
    let mut b = Policy::builder();
    for i in 0..n {
        let (r, _, registry) = rule(i);
        b = if registry {
            b.allow_registry(&r)
        } else {
            b.allow_repository(&r)
        };
    }
    b.build().expect("the benchmark policy compiles").policy
}

/// The peers' prefixes of rules `0..n`.
pub fn prefixes(n: usize) -> Vec<String> {
    (0..n).map(|i| rule(i).1).collect()
}

/// The 50 regexes of the regex policy: ours match the name, the peers' the
/// whole image string, so theirs accept an optional tag and digest.
pub fn regexes() -> (Vec<String>, Vec<String>) {
    let ours: Vec<String> = (0..50)
        .map(|i| format!(r"registry-{i}[0-9]*\.example\.com/[a-z0-9-]+(/[a-z0-9-]+)*"))
        .collect();
    let peers = ours
        .iter()
        .map(|r| format!(r"^{r}(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?(@sha256:[0-9a-f]{{64}})?$"))
        .collect();
    (ours, peers)
}

/// Our policy of the 50 regexes of [`regexes`].
pub fn regex_policy() -> Policy {
    let mut builder = Policy::builder();
    for r in &regexes().0 {
        builder = builder.allow_regex(r);
    }
    builder.build().expect("the regex policy compiles").policy
}
