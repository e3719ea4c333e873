//! Every case of the upstream test tables and of the upstream answer sample,
//! checked by one harness: decision and every asserted part must match.

use image_policy_core::reference::{Digest, ImageRef, ParseError, grammar};
use serde_json::Value;

/// One mismatch: the case, and what differed.
struct Failure {
    case: String,
    what: String,
}

/// Collects the checks of one case.
struct Check<'a> {
    case: &'a Value,
    failures: &'a mut Vec<Failure>,
    label: String,
}

impl Check<'_> {
    /// Compares `got` with the case's `key`, when the case asserts it
    /// (`null` asserts absence).
    fn part(&mut self, key: &str, got: Option<String>) {
        let Some(want) = self.case.get(key) else {
            return;
        };
        let want = want.as_str().map(str::to_owned);
        if want != got {
            self.fail(format!("{key}: want {want:?}, got {got:?}"));
        }
    }

    fn fail(&mut self, what: String) {
        self.failures.push(Failure {
            case: self.label.clone(),
            what,
        });
    }

    /// The decision must match; `Ok` means it matched and the case was accepted.
    fn decision<T>(&mut self, got: Result<T, String>) -> Option<T> {
        let want_ok = self.case["ok"].as_bool().expect("ok is a bool");
        match (want_ok, got) {
            (true, Ok(v)) => Some(v),
            (false, Err(_)) => None,
            (true, Err(e)) => {
                self.fail(format!("accepted upstream, rejected here: {e}"));
                None
            }
            (false, Ok(_)) => {
                self.fail("rejected upstream, accepted here".to_owned());
                None
            }
        }
    }

    /// Compares the upstream error name, where the case gives one.
    fn error_name(&mut self, err: Result<(), &ParseError>) {
        let (Some(want), Err(err)) = (self.case.get("error").and_then(Value::as_str), err) else {
            return;
        };
        let got = err.kind().upstream_name();
        let same = match want {
            // Upstream's two lowercase errors are one kind here.
            "fmt:RepositoryNameMustBeLowercase" => got == "ErrNameContainsUppercase",
            // Upstream reports a digest that go-digest rejects as invalid format.
            "digest.ErrDigestInvalidFormat" => got == "ErrReferenceInvalidFormat",
            _ => got == want,
        };
        if !same {
            self.fail(format!("error: want {want}, got {got} ({err})"));
        }
    }
}

fn s(v: impl ToString) -> Option<String> {
    Some(v.to_string())
}

/// Parts of a normalized reference, for the sample and `ParseNormalizedNamed`.
fn check_normalized(c: &mut Check<'_>, r: ImageRef<'_>) {
    c.part("domain", s(r.domain()));
    c.part("path", s(r.path()));
    c.part("tag", r.tag().map(str::to_owned));
    c.part("digest", r.digest().map(|d| d.to_string()));
    c.part("normalized", s(r));
    c.part("string", s(r));
    c.part("familiar", s(r.familiar()));
    c.part("familiar_name", s(r.familiar().name()));
    c.part("docker_ref", s(r.docker_ref()));
}

/// `ParseAnyReference`: an image ID or a bare digest, or else a normalized name.
enum AnyReference<'a> {
    Digest(String),
    Named(ImageRef<'a>),
}

fn parse_any(input: &str) -> Result<AnyReference<'_>, ParseError> {
    if grammar::is_identifier(input) {
        return Ok(AnyReference::Digest(format!("sha256:{input}")));
    }
    if let Ok(d) = Digest::parse(input) {
        return Ok(AnyReference::Digest(d.to_string()));
    }
    ImageRef::parse(input).map(AnyReference::Named)
}

/// Go's `path.Match`: `*` (not across `/`), `?`, `[...]` classes with ranges and
/// `^` negation, `\` escapes. `Err` for a malformed pattern.
fn go_path_match(pattern: &str, name: &str) -> Result<bool, ()> {
    fn class(p: &[char], c: char) -> Result<(bool, usize), ()> {
        // p starts after '['; returns (matched, chars consumed incl. ']')
        let mut i = 0;
        let negated = p.first() == Some(&'^');
        if negated {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        loop {
            let lo = *p.get(i).ok_or(())?;
            if lo == ']' && !first {
                i += 1;
                break;
            }
            first = false;
            let lo = if lo == '\\' {
                i += 1;
                *p.get(i).ok_or(())?
            } else {
                lo
            };
            if lo == '-' || lo == ']' && i == 0 {
                return Err(());
            }
            i += 1;
            let mut hi = lo;
            if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&x| x != ']') {
                i += 1;
                hi = *p.get(i).ok_or(())?;
                if hi == '\\' {
                    i += 1;
                    hi = *p.get(i).ok_or(())?;
                }
                if hi == '-' {
                    return Err(());
                }
                i += 1;
            } else if p.get(i) == Some(&'-') {
                return Err(());
            }
            if lo <= c && c <= hi {
                matched = true;
            }
        }
        Ok((matched != negated, i))
    }
    fn m(p: &[char], n: &[char]) -> Result<bool, ()> {
        if p.is_empty() {
            return Ok(n.is_empty());
        }
        match p[0] {
            '*' => {
                // Validate the rest of the pattern once, as Go does.
                for k in 0..=n.len() {
                    if k > 0 && n[k - 1] == '/' {
                        break;
                    }
                    if m(&p[1..], &n[k..])? {
                        return Ok(true);
                    }
                }
                m(&p[1..], &[]).map(|_| false)
            }
            '?' => Ok(!n.is_empty() && n[0] != '/' && m(&p[1..], &n[1..])?),
            '[' => {
                let Some(&c) = n.first() else {
                    class(&p[1..], '\0')?;
                    return Ok(false);
                };
                let (ok, used) = class(&p[1..], c)?;
                Ok(ok && c != '/' && m(&p[1 + used..], &n[1..])?)
            }
            '\\' => {
                let lit = *p.get(1).ok_or(())?;
                Ok(n.first() == Some(&lit) && m(&p[2..], &n[1..])?)
            }
            lit => Ok(n.first() == Some(&lit) && m(&p[1..], &n[1..])?),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n)
}

fn run_case(c: &mut Check<'_>) {
    let case = c.case;
    let input = case["input"].as_str().expect("input is a string");
    let func = case["func"].as_str().expect("func is a string");
    match func {
        "Parse" | "Field.UnmarshalText(Parse)" => {
            let parsed = ImageRef::parse_verbatim(input);
            c.error_name(parsed.as_ref().map(|_| ()));
            if let Some(r) = c.decision(parsed.map_err(|e| e.to_string())) {
                c.part("string", s(r));
                c.part("roundtrip", s(r));
                c.part("name", s(r.name()));
                c.part("domain", s(r.domain()));
                c.part("path", s(r.path()));
                c.part("tag", r.tag().map(str::to_owned));
                c.part("digest", r.digest().map(|d| d.to_string()));
            }
        }
        "ParseNormalizedNamed" => {
            let parsed = ImageRef::parse(input);
            c.error_name(parsed.as_ref().map(|_| ()));
            if let Some(r) = c.decision(parsed.map_err(|e| e.to_string())) {
                check_normalized(c, r);
            }
        }
        "ParseNamed" => {
            // ParseNormalizedNamed, then the input must already be canonical.
            let got = ImageRef::parse(input)
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    if r.to_string() == input {
                        Ok(r)
                    } else {
                        Err("ErrNameNotCanonical".to_owned())
                    }
                });
            if let Some(r) = c.decision(got) {
                c.part("domain", s(r.domain()));
                c.part("path", s(r.path()));
            }
        }
        "ParseDockerRef" => {
            if let Some(r) = c.decision(ImageRef::parse(input).map_err(|e| e.to_string())) {
                c.part("docker_ref", s(r.docker_ref()));
            }
        }
        "ParseAnyReference" | "ParseAnyReference+FamiliarMatch" => {
            let Some(any) = c.decision(parse_any(input).map_err(|e| e.to_string())) else {
                return;
            };
            let (string, familiar, familiar_name, digest) = match &any {
                AnyReference::Digest(d) => (d.clone(), d.clone(), d.clone(), Some(d.clone())),
                AnyReference::Named(r) => (
                    r.to_string(),
                    r.familiar().to_string(),
                    r.familiar().name().to_string(),
                    r.digest().map(|d| d.to_string()),
                ),
            };
            c.part("string", Some(string));
            c.part("digest", digest);
            if let AnyReference::Named(r) = any {
                // "result must equal Parse(string)": same parts when re-parsed.
                let canonical = r.to_string();
                let again = ImageRef::parse_verbatim(&canonical).map(|p| p.to_string());
                if again.as_deref() != Ok(canonical.as_str()) {
                    c.fail(format!("re-parse of {r} gave {again:?}"));
                }
            }
            if let Some(pattern) = case.get("pattern").and_then(Value::as_str) {
                let got = go_path_match(pattern, &familiar)
                    .and_then(|a| Ok(a || go_path_match(pattern, &familiar_name)?));
                match (
                    case.get("match_error"),
                    case.get("match").and_then(Value::as_bool),
                ) {
                    (Some(_), _) if got.is_ok() => c.fail("want a pattern error".to_owned()),
                    (None, Some(want)) if got != Ok(want) => {
                        c.fail(format!("match {pattern:?}: want {want}, got {got:?}"))
                    }
                    _ => {}
                }
            }
        }
        "WithName" => {
            let got = grammar::split_name(input)
                .filter(|(_, path)| path.len() <= 255)
                .ok_or_else(|| "invalid name".to_owned());
            if let Some((domain, path)) = c.decision(got) {
                c.part("domain", s(domain.map_or("", |d| d.slice(input))));
                c.part("path", s(path.slice(input)));
            }
        }
        "WithName+WithTag"
        | "WithName+WithDigest"
        | "WithName+WithDigest+WithTag"
        | "WithName+WithTag+WithDigest" => {
            // Upstream's builders check each part against the grammar only.
            let tag = case["with_tag"].as_str();
            let digest = case["with_digest"].as_str();
            let got = grammar::split_name(input)
                .filter(|_| tag.is_none_or(grammar::is_tag))
                .filter(|_| digest.is_none_or(grammar::is_digest))
                .map(|_| {
                    let mut out = input.to_owned();
                    if let Some(t) = tag {
                        out += &format!(":{t}");
                    }
                    if let Some(d) = digest {
                        out += &format!("@{d}");
                    }
                    out
                })
                .ok_or_else(|| "invalid part".to_owned());
            if let Some(out) = c.decision(got) {
                // The composed string must read back as the same parts.
                let split = grammar::split_reference(&out);
                let back = split.map(|(n, t, d)| {
                    (
                        n.slice(&out).to_owned(),
                        t.map(|t| t.slice(&out).to_owned()),
                        d.map(|d| d.slice(&out).to_owned()),
                    )
                });
                let want = (
                    input.to_owned(),
                    tag.map(str::to_owned),
                    digest.map(str::to_owned),
                );
                if back.as_ref() != Some(&want) {
                    c.fail(format!("composed {out:?} splits as {back:?}"));
                }
                c.part("string", Some(out));
            }
        }
        "WithTag" => {
            c.decision(if grammar::is_tag(input) {
                Ok(())
            } else {
                Err("invalid tag".to_owned())
            });
        }
        "WithDigest" => {
            c.decision(if grammar::is_digest(input) {
                Ok(())
            } else {
                Err("invalid digest".to_owned())
            });
        }
        "regexp:^domainAndPort$" => {
            c.decision(if grammar::is_domain(input) {
                Ok(())
            } else {
                Err("no match".to_owned())
            });
        }
        "regexp:anchoredIdentifierRegexp" => {
            c.decision(if grammar::is_identifier(input) {
                Ok(())
            } else {
                Err("no match".to_owned())
            });
        }
        "regexp:anchoredNameRegexp" => {
            if let Some((domain, path)) =
                c.decision(grammar::split_name(input).ok_or_else(|| "no match".to_owned()))
            {
                c.part("sub_domain", s(domain.map_or("", |d| d.slice(input))));
                c.part("sub_path", s(path.slice(input)));
            }
        }
        "regexp:referenceRegexp" => {
            if let Some((name, tag, digest)) =
                c.decision(grammar::split_reference(input).ok_or_else(|| "no match".to_owned()))
            {
                c.part("sub_name", s(name.slice(input)));
                c.part("sub_tag", s(tag.map_or("", |t| t.slice(input))));
                c.part("sub_digest", s(digest.map_or("", |d| d.slice(input))));
            }
        }
        other => c.fail(format!("unknown func {other:?}: teach the harness")),
    }
}

fn report(name: &str, total: usize, failures: Vec<Failure>) {
    for f in &failures {
        eprintln!("FAIL {}: {}", f.case, f.what);
    }
    eprintln!(
        "{name}: {} cases, {} passed, {} failed",
        total,
        total - failures.len().min(total),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} {name} cases disagree with upstream",
        failures.len()
    );
}

#[test]
fn upstream_test_tables() {
    let text = std::fs::read_to_string(crate::testdata(
        "reference/distribution-reference-tests.json",
    ))
    .expect("vectors are readable");
    let mut cases: Vec<Value> = serde_json::from_str(&text).expect("vectors are JSON");
    assert_eq!(cases.len(), 353, "the upstream tables have 353 cases");
    // Where the upstream test environment differs from the runtime's, the case
    // is overridden by data that says why (see deviations.json).
    let text = std::fs::read_to_string(crate::testdata("reference/deviations.json"))
        .expect("deviations are readable");
    let deviations: Vec<Value> = serde_json::from_str(&text).expect("deviations are JSON");
    for d in &deviations {
        let i = d["case"].as_u64().expect("case index") as usize;
        assert_eq!(
            cases[i]["input"], d["input"],
            "deviation {i} names its case's input"
        );
        assert!(
            !d["why"].as_str().unwrap_or_default().is_empty(),
            "deviation {i} says why"
        );
        let case = cases[i].as_object_mut().expect("case is an object");
        case.insert("ok".into(), Value::Bool(d["ours"] == "accepted"));
        case.remove("error");
        eprintln!(
            "case #{i}: upstream {} here {} ({})",
            d["upstream"], d["ours"], d["why"]
        );
    }
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let label = format!(
            "#{i} {} {} {:?}",
            case["source"].as_str().unwrap_or_default(),
            case["func"].as_str().unwrap_or_default(),
            case["input"].as_str().unwrap_or_default()
        );
        run_case(&mut Check {
            case,
            failures: &mut failures,
            label,
        });
    }
    report("upstream table", cases.len(), failures);
}

fn run_sample(file: &str, expected_len: Option<usize>) {
    let text = std::fs::read_to_string(crate::testdata(file)).expect("sample is readable");
    let mut failures = Vec::new();
    let mut total = 0;
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        total += 1;
        let case: Value = serde_json::from_str(line).expect("each line is JSON");
        let input = case["input"].as_str().expect("input is a string");
        let label = format!("{file}:{} {input:?}", line_no + 1);
        let mut c = Check {
            case: &case,
            failures: &mut failures,
            label,
        };
        let parsed = ImageRef::parse(input);
        c.error_name(parsed.as_ref().map(|_| ()));
        if let Some(r) = c.decision(parsed.map_err(|e| e.to_string())) {
            check_normalized(&mut c, r);
        }
    }
    if let Some(n) = expected_len {
        assert_eq!(total, n, "{file} has {n} lines");
    }
    report(file, total, failures);
}

#[test]
fn upstream_answer_sample() {
    run_sample("reference/reference-sample.jsonl", Some(300));
}

#[test]
fn our_own_cases() {
    run_sample("reference/extra.jsonl", None);
}

#[test]
fn go_path_match_agrees_with_go_on_basics() {
    assert_eq!(go_path_match("a*", "abc"), Ok(true));
    assert_eq!(go_path_match("a*", "a/b"), Ok(false));
    assert_eq!(go_path_match("[-x]", "x"), Err(()));
    assert_eq!(go_path_match("ba[rz]", "baz"), Ok(true));
}
