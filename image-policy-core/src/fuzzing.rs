//! The invariants that the reference parser and the policy loader keep on
//! *any* input: the checks of the fuzz targets in `fuzz/`, shared with this
//! crate's tests as `image-policy-lint`'s `fuzzing` module is (feature
//! `fuzzing`, hidden: not an API, it changes with the parser). The tests
//! (`tests/it/fuzz_regressions.rs`) turn the feature on for themselves and
//! replay the committed inputs under `tests/fuzz/testdata/` and the vector
//! files with these checks; the fuzz targets call them on every input.
//!
//! Each check returns `Err` naming the first broken invariant instead of
//! panicking, so that the test can report every failing input at once; the
//! fuzz targets turn an `Err` into a panic, which libFuzzer records as a crash.
//! A panic inside the parser itself is a failure in both places too.
//!
//! The checks of the `oci-spec` conversions and [`check_policy_load`] need
//! the `oci-spec` and `yaml` features; the tests and the fuzz targets build
//! with both.

#[cfg(feature = "yaml")]
use crate::policy::{Context, Policy};
use crate::reference::{Digest, ImageRef, ParseError, Reference, Span, grammar};
#[cfg(feature = "oci-spec")]
use oci_spec::distribution::Reference as OciReference;
#[cfg(feature = "oci-spec")]
use oci_spec::image::Digest as OciDigest;

/// Returns `Err(message)` from the enclosing function when `cond` is false.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

/// The longest repository path, counting an implied `library/`.
const PATH_MAX: usize = 255;
/// The longest tag.
const TAG_MAX: usize = 128;

/// Every invariant of reference parsing on `input`:
///
/// - `ImageRef::parse` either fails with an error that stands on its own (an
///   offset within the input, on a character boundary, and a message that
///   names the input, the problem and the offset), or succeeds, and then:
///   - the spans slice the input to exactly its parts, and the parts with their
///     separators make up the whole input;
///   - the canonical form re-parses to an equal reference that prints the same;
///   - the familiar form and the Docker reference re-parse to the same name;
///   - the path, host, port, tag and digest accessors agree with each other;
/// - `Reference::parse` agrees with `ImageRef::parse`, in success (every
///   accessor) and in failure (the same error), and survives serde and the
///   `oci-spec` conversions;
/// - `ImageRef::parse_verbatim` never panics and keeps the same span and
///   round-trip invariants;
/// - the `grammar` predicates agree with the parser.
pub fn check_reference(input: &str) -> Result<(), String> {
    match ImageRef::parse_verbatim(input) {
        Ok(r) => check_verbatim(input, r)?,
        Err(e) => check_error(input, &e, "ImageRef::parse_verbatim")?,
    }
    match (ImageRef::parse(input), Reference::parse(input)) {
        (Ok(r), Ok(owned)) => {
            check_parsed(input, r)?;
            check_owned(r, &owned)?;
        }
        (Err(e), Err(owned_err)) => {
            check_error(input, &e, "ImageRef::parse")?;
            ensure!(
                e == owned_err,
                "ImageRef::parse and Reference::parse fail differently: {e} / {owned_err}"
            );
        }
        (Ok(r), Err(e)) => {
            return Err(format!(
                "ImageRef::parse accepts ({r}), Reference::parse rejects: {e}"
            ));
        }
        (Err(e), Ok(owned)) => {
            return Err(format!(
                "ImageRef::parse rejects ({e}), Reference::parse accepts: {owned}"
            ));
        }
    }
    check_grammar(input)
}

/// Every invariant of `Digest::parse` on `input`: an error that stands on its
/// own, or a digest that prints as the input, has the length of its algorithm,
/// and converts to and from `oci-spec`'s `Digest` unchanged.
pub fn check_digest(input: &str) -> Result<(), String> {
    let d = match Digest::parse(input) {
        Ok(d) => d,
        Err(e) => return check_error(input, &e, "Digest::parse"),
    };
    check_digest_value(d)?;
    ensure!(
        d.to_string() == input,
        "digest {input:?} prints as {:?}",
        d.to_string()
    );
    ensure!(
        grammar::is_digest(input),
        "Digest::parse accepts {input:?} but grammar::is_digest does not"
    );
    // A valid digest pins any valid name.
    let pinned = format!("app@{input}");
    let r = ImageRef::parse(&pinned)
        .map_err(|e| format!("a valid digest does not pin a valid name: {e}"))?;
    ensure!(
        r.digest() == Some(d),
        "app@{input} has digest {:?}",
        r.digest()
    );
    Ok(())
}

/// The error of any parse function on `input`.
fn check_error(input: &str, e: &ParseError, who: &str) -> Result<(), String> {
    let offset = e.offset();
    ensure!(
        offset <= input.len(),
        "{who}: error offset {offset} is past the end of the {}-byte input",
        input.len()
    );
    ensure!(
        input.is_char_boundary(offset),
        "{who}: error offset {offset} is inside a character"
    );
    ensure!(
        e.input() == input,
        "{who}: the error keeps {:?}, not the input",
        e.input()
    );
    let message = e.to_string();
    ensure!(
        message.starts_with("invalid image reference "),
        "{who}: message does not name what is invalid: {message:?}"
    );
    ensure!(
        !e.kind().description().is_empty() && message.contains(e.kind().description()),
        "{who}: message does not say what is wrong: {message:?}"
    );
    ensure!(
        message.ends_with(&format!("(byte {offset})")),
        "{who}: message does not give the offset: {message:?}"
    );
    Ok(())
}

/// Slices `input` by `span`, as an error rather than a panic when it is out of
/// bounds or not on character boundaries.
fn slice<'a>(input: &'a str, span: Span, part: &str) -> Result<&'a str, String> {
    input
        .get(span.start..span.end)
        .ok_or_else(|| format!("{part} span {span:?} does not slice the input"))
}

/// The spans of `r` slice `input` to exactly its parts, and the parts with their
/// separators (`/`, `:`, `@`) are the whole input, in order.
fn check_spans(input: &str, r: ImageRef<'_>, normalized: bool) -> Result<(), String> {
    let mut cursor = 0;
    match r.domain_span() {
        Some(span) => {
            let written = slice(input, span, "domain")?;
            let folded = normalized && written == "index.docker.io" && r.domain() == "docker.io";
            ensure!(
                written == r.domain() || folded,
                "domain span gives {written:?}, domain() gives {:?}",
                r.domain()
            );
            ensure!(r.is_domain_written(), "a domain span, yet not written");
            ensure!(span.start == 0, "the domain does not start the input");
            ensure!(
                input[span.end..].starts_with('/'),
                "no '/' after the domain"
            );
            cursor = span.end + 1;
        }
        None => {
            ensure!(!r.is_domain_written(), "no domain span, yet written");
            let implied = if normalized { "docker.io" } else { "" };
            ensure!(
                r.domain() == implied || r.domain().is_empty(),
                "no domain written, yet domain() is {:?}",
                r.domain()
            );
        }
    }
    let path = r.path_span();
    ensure!(
        path.start == cursor,
        "the path starts at {}, not {cursor}",
        path.start
    );
    ensure!(
        slice(input, path, "path")? == r.path().as_written(),
        "path span and path().as_written() differ"
    );
    cursor = path.end;
    match (r.tag_span(), r.tag()) {
        (Some(span), Some(tag)) => {
            ensure!(
                input[cursor..].starts_with(':') && span.start == cursor + 1,
                "the tag does not follow the path after ':'"
            );
            ensure!(
                slice(input, span, "tag")? == tag,
                "tag span and tag() differ"
            );
            cursor = span.end;
        }
        (None, None) => {}
        (span, tag) => return Err(format!("tag span {span:?} but tag {tag:?}")),
    }
    match (r.digest_span(), r.digest()) {
        (Some(span), Some(digest)) => {
            ensure!(
                input[cursor..].starts_with('@') && span.start == cursor + 1,
                "the digest does not follow after '@'"
            );
            ensure!(
                slice(input, span, "digest")? == digest.to_string(),
                "digest span and digest() differ"
            );
            cursor = span.end;
        }
        (None, None) => {}
        (span, digest) => return Err(format!("digest span {span:?} but digest {digest:?}")),
    }
    ensure!(
        cursor == input.len(),
        "the parts end at byte {cursor}, the input at {}",
        input.len()
    );
    Ok(())
}

/// Accessors of one parsed reference that must agree with each other.
fn check_parts(r: ImageRef<'_>) -> Result<(), String> {
    let path = r.path();
    let path_string = path.to_string();
    let joined = path.segments().collect::<Vec<_>>().join("/");
    ensure!(
        joined == path_string,
        "path segments {joined:?} differ from the path {path_string:?}"
    );
    ensure!(
        path.len() == path_string.len() && !path.is_empty(),
        "path len() {} for {path_string:?}",
        path.len()
    );
    ensure!(
        path.len() <= PATH_MAX,
        "accepted a {}-byte path",
        path.len()
    );
    ensure!(
        path == path_string.as_str() && path.to_cow() == path_string,
        "the path does not equal its own string"
    );
    ensure!(
        path.segments().all(|s| !s.is_empty()),
        "an empty path component in {path_string:?}"
    );
    if path.is_library_implied() {
        ensure!(
            !path.as_written().contains('/') && r.domain() == "docker.io",
            "library/ implied for {path_string:?} in {}",
            r.domain()
        );
    }

    let domain = r.domain();
    match r.port() {
        Some(port) => {
            ensure!(
                format!("{}:{port}", r.host()) == domain,
                "host {:?} and port {port:?} do not make the domain {domain:?}",
                r.host()
            );
            ensure!(
                !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()),
                "port {port:?} is not a number"
            );
        }
        None => ensure!(r.host() == domain, "host {:?} of {domain:?}", r.host()),
    }

    if let Some(tag) = r.tag() {
        ensure!(
            (1..=TAG_MAX).contains(&tag.len()) && grammar::is_tag(tag),
            "accepted the tag {tag:?}"
        );
    }
    if let Some(d) = r.digest() {
        check_digest_value(d)?;
    }

    let name = r.name().to_string();
    let want_name = if domain.is_empty() {
        path_string.clone()
    } else {
        format!("{domain}/{path_string}")
    };
    ensure!(name == want_name, "name {name:?}, expected {want_name:?}");
    let canonical = r.to_string();
    ensure!(
        canonical == format!("{name}{}", suffix(r.tag(), r.digest())),
        "canonical {canonical:?} is not name, tag, digest"
    );
    match (r.digest(), r.tag(), r.effective_tag()) {
        (Some(_), _, None) => {}
        (None, Some(tag), Some(effective)) if tag == effective => {}
        (None, None, Some("latest")) if r.is_tag_implied() => {}
        (digest, tag, effective) => {
            return Err(format!(
                "effective tag {effective:?} for tag {tag:?}, digest {digest:?}"
            ));
        }
    }
    Ok(())
}

/// `:tag` and `@digest`, as written after a name.
fn suffix(tag: Option<&str>, digest: Option<Digest<'_>>) -> String {
    let mut s = String::new();
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(d) = digest {
        s.push('@');
        s.push_str(&d.to_string());
    }
    s
}

/// A validated digest: supported length, lowercase hex, and a lossless
/// round trip through its string and through `oci-spec`.
fn check_digest_value(d: Digest<'_>) -> Result<(), String> {
    let encoded = d.encoded();
    ensure!(
        encoded.len() == d.algorithm().hex_len(),
        "{} digest with {} hex digits",
        d.algorithm(),
        encoded.len()
    );
    ensure!(
        encoded
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
        "digest hex {encoded:?} is not lowercase hex"
    );
    let s = d.to_string();
    ensure!(
        s == format!("{}:{encoded}", d.algorithm().as_str()),
        "digest prints as {s:?}"
    );
    ensure!(
        Digest::parse(&s) == Ok(d),
        "digest {s:?} does not re-parse to itself"
    );
    #[cfg(feature = "oci-spec")]
    {
        let oci = OciDigest::from(d);
        ensure!(
            oci.to_string() == s,
            "oci-spec digest {oci} differs from {s}"
        );
        ensure!(
            Digest::try_from(&oci) == Ok(d),
            "digest {s} does not come back from oci-spec"
        );
    }
    Ok(())
}

/// A reference from the normalizing parser.
fn check_parsed(input: &str, r: ImageRef<'_>) -> Result<(), String> {
    ensure!(r.input() == input, "input() is {:?}", r.input());
    check_spans(input, r, true)?;
    check_parts(r)?;
    ensure!(
        !grammar::is_identifier(input),
        "accepted a 64-hex image ID as a name"
    );

    let canonical = r.to_string();
    let again = ImageRef::parse(&canonical)
        .map_err(|e| format!("canonical {canonical:?} does not re-parse: {e}"))?;
    ensure!(
        again == r,
        "canonical {canonical:?} re-parses to a different reference"
    );
    ensure!(
        again.to_string() == canonical,
        "canonical {canonical:?} re-parses and prints as {again}"
    );
    ensure!(
        again.familiar().to_string() == r.familiar().to_string(),
        "canonical {canonical:?} has another familiar form"
    );

    let familiar = r.familiar().to_string();
    match (ImageRef::parse(&familiar), familiar_is_ambiguous(r)) {
        (Ok(from_familiar), false) => ensure!(
            from_familiar.to_string() == canonical,
            "familiar {familiar:?} re-parses as {from_familiar}, not {canonical:?}"
        ),
        (Err(e), false) => return Err(format!("familiar {familiar:?} does not re-parse: {e}")),
        // Upstream prints these familiar forms too; they read back with a
        // registry host or as an image ID, never as the same reference.
        (Ok(other), true) => ensure!(
            other.to_string() != canonical,
            "ambiguous familiar {familiar:?} re-parses as {other}"
        ),
        (Err(_), true) => {}
    }
    ensure!(
        familiar == format!("{}{}", r.familiar().name(), suffix(r.tag(), r.digest())),
        "familiar {familiar:?} is not the familiar name, tag, digest"
    );

    let docker_ref = r.docker_ref().to_string();
    let pulled = ImageRef::parse(&docker_ref)
        .map_err(|e| format!("docker_ref {docker_ref:?} does not parse: {e}"))?;
    ensure!(
        pulled.name().to_string() == r.name().to_string(),
        "docker_ref {docker_ref:?} names another repository"
    );
    ensure!(
        pulled.docker_ref().to_string() == docker_ref,
        "docker_ref {docker_ref:?} is not a fixed point"
    );
    ensure!(
        pulled.digest() == r.digest(),
        "docker_ref {docker_ref:?} changes the digest"
    );
    if r.digest().is_none() {
        ensure!(
            pulled.tag() == r.effective_tag(),
            "docker_ref {docker_ref:?} pulls tag {:?}, effective tag is {:?}",
            pulled.tag(),
            r.effective_tag()
        );
    }
    Ok(())
}

/// Whether the familiar form of `r` is one that upstream prints but that does
/// not read back as `r`: a Docker Hub path whose first component looks like a
/// registry host once `docker.io/` is dropped (`docker.io/a.b/c`,
/// `docker.io/localhost/c`), or a bare 64-hex name (`docker.io/<64 hex>`),
/// which reads as an image ID. Policies must decide on the canonical form.
fn familiar_is_ambiguous(r: ImageRef<'_>) -> bool {
    if r.domain() != "docker.io" {
        return false;
    }
    let name = r.familiar().name().to_string();
    let first_looks_like_host = name
        .split_once('/')
        .is_some_and(|(first, _)| first.contains('.') || first == "localhost");
    first_looks_like_host || grammar::is_identifier(&r.familiar().to_string())
}

/// A reference from the verbatim parser: no normalization, same round trips.
fn check_verbatim(input: &str, r: ImageRef<'_>) -> Result<(), String> {
    check_spans(input, r, false)?;
    check_parts(r)?;
    ensure!(
        !r.path().is_library_implied(),
        "parse_verbatim implied library/"
    );
    ensure!(
        r.domain_span().is_some() || r.domain().is_empty(),
        "parse_verbatim implied the domain {:?}",
        r.domain()
    );
    let printed = r.to_string();
    ensure!(
        printed == input,
        "parse_verbatim prints {input:?} as {printed:?}"
    );
    Ok(())
}

/// The owned reference agrees with the borrowed one, and survives serde, its
/// `with_*` builders and the `oci-spec` conversions.
fn check_owned(r: ImageRef<'_>, owned: &Reference) -> Result<(), String> {
    let canonical = r.to_string();
    ensure!(
        owned.as_str() == canonical && owned.to_string() == canonical,
        "Reference {owned} differs from ImageRef {canonical}"
    );
    ensure!(
        owned.domain() == r.domain()
            && r.path() == owned.path()
            && owned.name() == r.name().to_string()
            && owned.tag() == r.tag()
            && owned.digest() == r.digest()
            && owned.effective_tag() == r.effective_tag()
            && owned.is_domain_written() == r.is_domain_written(),
        "Reference {owned} has other parts than ImageRef {canonical}"
    );
    ensure!(
        owned.familiar().to_string() == r.familiar().to_string()
            && owned.docker_ref().to_string() == r.docker_ref().to_string(),
        "Reference {owned} has another familiar form or Docker reference"
    );
    ensure!(
        owned.as_image_ref() == r && r.into_owned() == *owned,
        "Reference {owned} and ImageRef {canonical} do not convert into each other"
    );
    check_parts(owned.as_image_ref())?;
    let reparsed = Reference::parse(owned.as_str())
        .map_err(|e| format!("Reference {owned} does not re-parse: {e}"))?;
    ensure!(
        reparsed == *owned,
        "Reference {owned} re-parses as {reparsed}"
    );

    let json = serde_json::to_string(owned).map_err(|e| format!("serialize {owned}: {e}"))?;
    let back: Reference =
        serde_json::from_str(&json).map_err(|e| format!("deserialize {json}: {e}"))?;
    ensure!(back == *owned, "serde turns {owned} into {back}");

    let tagged = owned
        .with_tag("fuzz")
        .map_err(|e| format!("with_tag(\"fuzz\") on {owned}: {e}"))?;
    let want = format!("{}:fuzz{}", owned.name(), suffix(None, owned.digest()));
    ensure!(
        tagged.as_str() == want && Reference::parse(&want).as_ref() == Ok(&tagged),
        "with_tag gives {tagged}, expected {want}"
    );
    ensure!(
        tagged.tag() == Some("fuzz") && tagged.domain() == owned.domain(),
        "with_tag gives parts tag {:?}, domain {:?}",
        tagged.tag(),
        tagged.domain()
    );
    ensure!(
        owned.with_tag(".bad").is_err(),
        "with_tag accepts an invalid tag"
    );
    let pin =
        Digest::parse("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
            .map_err(|e| format!("the fixed digest: {e}"))?;
    let pinned = owned.with_digest(pin);
    let want = format!("{}{}", owned.name(), suffix(owned.tag(), Some(pin)));
    ensure!(
        pinned.as_str() == want
            && Reference::parse(&want).as_ref() == Ok(&pinned)
            && pinned.digest() == Some(pin)
            && pinned.tag() == owned.tag(),
        "with_digest gives {pinned}, expected {want}"
    );

    // oci-spec fills in `latest` when neither tag nor digest is written.
    #[cfg(feature = "oci-spec")]
    {
        let oci = OciReference::from(owned);
        let expected = if r.is_tag_implied() {
            owned
                .with_tag("latest")
                .map_err(|e| format!("with_tag(\"latest\"): {e}"))?
        } else {
            owned.clone()
        };
        let back = Reference::try_from(&oci)
            .map_err(|e| format!("{owned} comes back from oci-spec ({oci}) as an error: {e}"))?;
        ensure!(
            back == expected,
            "{owned} comes back from oci-spec ({oci}) as {back}, expected {expected}"
        );
    }
    Ok(())
}

/// The `grammar` predicates never panic, return spans within the input, and
/// agree with the parser on the strings they accept.
fn check_grammar(input: &str) -> Result<(), String> {
    if grammar::is_tag(input) {
        let tagged = format!("app:{input}");
        let r = ImageRef::parse_verbatim(&tagged)
            .map_err(|e| format!("grammar::is_tag accepts {input:?}, the parser does not: {e}"))?;
        ensure!(
            r.tag() == Some(input),
            "tag {input:?} parses as {:?}",
            r.tag()
        );
    }
    if grammar::is_domain(input) {
        let with_path = format!("{input}/app");
        let r = ImageRef::parse_verbatim(&with_path).map_err(|e| {
            format!("grammar::is_domain accepts {input:?}, the parser does not: {e}")
        })?;
        ensure!(
            r.domain() == input,
            "domain {input:?} parses as {:?}",
            r.domain()
        );
    }
    if let Some((domain, path)) = grammar::split_name(input) {
        if let Some(domain) = domain {
            ensure!(
                grammar::is_domain(slice(input, domain, "split_name domain")?),
                "split_name gives a domain that is_domain rejects"
            );
        }
        ensure!(
            path.end == input.len() && slice(input, path, "split_name path").is_ok(),
            "split_name path {path:?} does not end the input"
        );
    }
    if let Some((name, tag, digest)) = grammar::split_reference(input) {
        ensure!(
            name.start == 0 && slice(input, name, "split_reference name").is_ok(),
            "split_reference name {name:?}"
        );
        if let Some(tag) = tag {
            ensure!(
                grammar::is_tag(slice(input, tag, "split_reference tag")?),
                "split_reference gives a tag that is_tag rejects"
            );
        }
        if let Some(digest) = digest {
            ensure!(
                grammar::is_digest(slice(input, digest, "split_reference digest")?),
                "split_reference gives a digest that is_digest rejects"
            );
        }
    }
    Ok(())
}

/// Images every policy that loads is asked about in [`check_policy_load`]:
/// short names, a rewritten registry, a digest, a port, nonsense, nothing.
#[cfg(feature = "yaml")]
const POLICY_IMAGES: [&str; 6] = [
    "prometheus:2.6.1",
    "registry.my.com/prometheus:2.6.1",
    "quay.io/prometheus/prometheus@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "localhost:5000/app:latest",
    "Not A Reference",
    "",
];

/// Every invariant of loading a policy from untrusted text (the `policy_load`
/// fuzz target), as YAML and as JSON:
/// - loading never panics (the caller sees a panic as a failure) and every
///   error has a message;
/// - a policy that loads judges [`POLICY_IMAGES`] in a namespace with a
///   break-glass annotation, and every decision explains itself;
/// - a rewrite gives a reference that parses and that no rule rewrites again
///   (a rewrite loop is a load error), or fails with a message.
#[cfg(feature = "yaml")]
pub fn check_policy_load(source: &str) -> Result<(), String> {
    for loaded in [
        Policy::from_yaml_str(source, "fuzz.yaml"),
        Policy::from_json_str(source, "fuzz.json"),
    ] {
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                ensure!(!e.to_string().is_empty(), "an error without a message");
                continue;
            }
        };
        let annotations = [("break-glass.image-policy.k8s.io/ticket", "true")];
        let ctx = Context::new()
            .namespace("kube-system")
            .annotations(&annotations);
        let policy = &loaded.policy;
        for image in POLICY_IMAGES {
            let decision = policy.evaluate(image, &ctx);
            ensure!(
                !decision.to_string().is_empty(),
                "{image:?}: a decision without a reason"
            );
            match policy.rewrite_str(image) {
                Ok(Some(rewritten)) => {
                    ensure!(
                        ImageRef::parse(rewritten.as_str()).is_ok(),
                        "{image:?} is rewritten to {rewritten:?}, which does not parse"
                    );
                    ensure!(
                        policy.rewrite_str(rewritten.as_str()) == Ok(None),
                        "{image:?} is rewritten to {rewritten:?}, which is rewritten again"
                    );
                    let decision = policy.evaluate_rewritten(image, Some(&rewritten), &ctx);
                    ensure!(
                        !decision.to_string().is_empty(),
                        "{image:?}: a decision on the rewritten image without a reason"
                    );
                }
                Ok(None) => {}
                Err(e) => ensure!(
                    !e.to_string().is_empty(),
                    "{image:?}: a rewrite error without a message"
                ),
            }
        }
    }
    Ok(())
}
