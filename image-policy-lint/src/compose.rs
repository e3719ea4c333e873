//! Images in a compose file: `services.<name>.image`
//! (<https://docs.docker.com/reference/compose-file/services/#image>).
//!
//! Interpolation (`${TAG:-1.0}`, `$$`) is evaluated with the file's defaults
//! and `--var NAME=VALUE`; the process environment is deliberately not read,
//! so a lint result does not depend on the shell it ran in. A variable with no
//! value is reported as [`ProblemCode::UnresolvedVariable`]. A service with
//! only `build:` has no image to judge. A service labelled
//! `image-policy.dev/ignore: "reason"` is skipped and reported as suppressed.

use super::lines::Lines;
use super::report::{
    Extracted, Holder, IGNORE_ANNOTATION, ImageSite, Problem, ProblemCode, Suppression,
};
use super::vars::{self, Overrides, Syntax};
use super::yaml::{self, Scalar};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// The [`Holder::kind`] of a compose service's image.
pub(crate) const HOLDER_KIND: &str = "service";

#[derive(Deserialize)]
struct ComposeFile {
    #[serde(default)]
    services: Option<BTreeMap<String, Option<Service>>>,
}

#[derive(Deserialize)]
struct Service {
    #[serde(default)]
    image: Option<Spanned<String>>,
    #[serde(default)]
    labels: Option<Labels>,
}

/// Compose accepts labels as a map or as a list of `key=value`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Labels {
    Map(BTreeMap<String, Option<Scalar>>),
    List(Vec<String>),
}

impl Labels {
    fn ignore_reason(&self) -> Option<String> {
        match self {
            Labels::Map(map) => map
                .get(IGNORE_ANNOTATION)
                .map(|v| v.as_ref().map(Scalar::text).unwrap_or_default()),
            Labels::List(list) => list.iter().find_map(|l| {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                (k == IGNORE_ANNOTATION).then(|| v.to_owned())
            }),
        }
    }
}

/// Reads the images of a compose file.
pub fn extract(text: &str, overrides: &Overrides) -> Extracted {
    let mut out = Extracted::default();
    let file: ComposeFile = match serde_saphyr::from_str_with_options(text, yaml::options()) {
        Ok(f) => f,
        Err(e) => {
            out.problems.push(yaml::parse_problem(&e, text));
            return out;
        }
    };
    let lookup = |name: &str| overrides.get(name).map(String::as_str);
    let lines = Lines::new(text);
    let at = yaml::Locator::new(text);
    for (name, service) in file.services.unwrap_or_default() {
        out.objects += 1;
        let Some(service) = service else { continue };
        let Some(image) = service.image else { continue };
        let holder = Holder {
            kind: HOLDER_KIND.to_owned(),
            namespace: None,
            name: Some(name),
        };
        let position = at.position(&image.referenced);
        // Labels are read without spans (compose allows a map or a list), so
        // a suppression points at the service's image.
        if let Some(reason) = service.labels.as_ref().and_then(Labels::ignore_reason) {
            out.suppressed.push(Suppression {
                position,
                holder,
                reason,
                images: 1,
            });
            continue;
        }
        let written = image.value;
        match vars::substitute(&written, Syntax::Compose, &lookup) {
            Ok(resolved) => out.sites.push(ImageSite {
                position,
                width: yaml::value_width(&lines, position, &written),
                written: (resolved != written).then(|| written.clone()),
                image: resolved,
                holder,
                container: None,
                path: None,
                namespace: None,
                annotations: Vec::new(),
            }),
            Err(e) => out.problems.push(Problem {
                position: Some(position),
                code: ProblemCode::UnresolvedVariable,
                message: format!("{written}: {e}"),
            }),
        }
    }
    out.sites.sort_by_key(|s| s.position);
    out.problems.sort_by_key(|p| p.position);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Position;

    #[test]
    fn services_images_interpolation_and_labels() {
        let text = "\
x-common: &common
  restart: always
services:
  web:
    <<: *common
    image: \"registry.my.com/web:${TAG:-1.0}\"
  db:
    image: postgres:16
    labels:
      image-policy.dev/ignore: \"vendor image, reviewed\"
  built:
    build: .
  cache:
    image: redis:${REDIS_TAG}
";
        let got = extract(text, &Overrides::new());
        let images: Vec<_> = got
            .sites
            .iter()
            .map(|s| {
                (
                    s.image.as_str(),
                    s.position.line,
                    s.position.column,
                    s.width,
                )
            })
            .collect();
        assert_eq!(images, vec![("registry.my.com/web:1.0", 6, 12, 33)]);
        assert_eq!(got.objects, 4);
        assert_eq!(got.suppressed.len(), 1);
        assert_eq!(got.suppressed[0].reason, "vendor image, reviewed");
        assert_eq!(got.problems.len(), 1);
        assert_eq!(got.problems[0].code, ProblemCode::UnresolvedVariable);
        assert_eq!(
            got.problems[0].position,
            Some(Position {
                line: 14,
                column: 12
            })
        );
    }

    #[test]
    fn broken_compose_is_a_parse_error_with_location() {
        let got = extract(
            "services:\n  web:\n    image: [unclosed\n",
            &Overrides::new(),
        );
        assert_eq!(got.problems.len(), 1);
        assert_eq!(got.problems[0].code, ProblemCode::ParseError);
        assert!(got.problems[0].position.is_some());
    }
}
