//! `lint --fix`: write each image as the policy's rewrite rules rewrite it,
//! changing only the bytes of the image itself.
//!
//! # Design
//!
//! Planning is a pure function of a file's text and the sites the linter
//! found in it ([`plan`]): each site whose image a rewrite rule changes
//! ([`Policy::rewrite_str`](image_policy_core::policy::Policy::rewrite_str), the core's own rewriting) becomes an [`Edit`]
//! (a byte range and its replacement), or an [`Unfixable`] with the reason.
//! [`Fix::apply`] splices the edits in; nothing else of the text is touched,
//! so quoting, comments, key order, line ends (CRLF) and every other
//! document of the file stay byte for byte. [`fix`] does a whole run: it
//! plans every file of a lint, checks each fixed text (*Verification*
//! below) and keeps it only when it is proven to read as the same sites
//! with the rewritten images; the CLI only writes the texts (or prints
//! [`unified_diff`]). A proof that fails is data: [`check_edits`] says which
//! edit and why ([`EditError`]), [`verify`] what reads otherwise
//! ([`NotAsPlanned`]), and a file left as it is says why
//! ([`FileFix::not_touched`], a [`NotTouched`]).
//!
//! One file per concern, each calling only downward: `plan.rs` (the edits),
//! `proof.rs` (the local and full proofs, and what a file's fix comes to),
//! `diff.rs` (the unified diff) and `run.rs` ([`fix`], on the linter's
//! threads, which in turn run the planning and the proofs).
//!
//! ```
//! use image_policy_core::policy::Policy;
//! use image_policy_lint::{Options, Source, SourceKind, fix};
//!
//! let policy = Policy::builder()
//!     .allow_registry("registry.my.com")
//!     .rewrite("docker.io/library", "registry.my.com")
//!     .build()?
//!     .policy;
//! let text = "kind: Pod\r\napiVersion: v1\r\nmetadata: {name: web}\r\nspec:\r\n  containers:\r\n  \
//!             - name: web\r\n    image: \"prometheus:2.6.1\"  # pinned\r\n";
//! let source = Source { name: "pod.yaml".to_owned(), kind: SourceKind::Manifests, text: Ok(text.to_owned()) };
//! let fixed = fix::fix(vec![source], &Options::default(), &policy);
//! let change = fixed.files[0].change.as_ref().expect("a rewrite applies");
//! assert_eq!(change.after, text.replace("prometheus:2.6.1", "registry.my.com/prometheus:2.6.1"));
//! assert_eq!(fixed.report.exit_code(false), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is edited
//!
//! The readers report where each image starts (line and column) and what
//! it is; the planner never trusts a span it has not checked: the bytes at
//! the position must be the image (or, for a quoted YAML scalar, the quote
//! and then exactly the image, with no escape, and the same quote after it).
//! Anything else is [`Unfixable`] with its reason, never a guess:
//!
//! | where | edited | not fixable |
//! | --- | --- | --- |
//! | YAML scalar (manifests, compose `image:`) | the scalar's characters, inside its quotes if quoted | an escape or a line break inside it; a compose `${VAR}` |
//! | YAML alias of a scalar used as an image (`image: *img`) | the alias, replaced by the rewritten image written literally (the anchor keeps its value for every other alias) | an alias of a whole mapping or list (`*container`, a merge key `<<: *base`) |
//! | YAML anchored scalar (`image: &img nginx`) | the scalar; when an alias that is no image (a `command`, an env value, a label) uses it, the first such alias becomes `&img nginx` (the old value, as written), which the later aliases then read | an old value that cannot stand elsewhere as written (a tag, an escape, a flow indicator) |
//! | anything inside an anchored mapping or list that an alias repeats | nothing: a change there changes every copy | always |
//! | kustomization `images:` | `newName` (the tag and digest are kept in their own fields) | an entry without `newName` (changing `name` changes what it matches) |
//! | Dockerfile `FROM`, `COPY`/`ADD --from=`, `RUN --mount=...,from=...` (any option order, up to the next `,`), `ONBUILD`, `# syntax=` | the word, inside its quotes if quoted | text mixed with variables (`nginx:$TAG`), the JSON form of the syntax directive, `--var BUILDKIT_SYNTAX` |
//! | Dockerfile `FROM $BASE` (`${BASE}`, `"$BASE"`) | the default of the one `ARG BASE=...` of the file (inside its quotes) | no default (a build argument), more than one, or `--var BASE` given |
//! | an image in pin scope (`pin:` rules), anywhere above | the same bytes, written `NAME@DIGEST` (the rewritten name when a rule rewrites it; the tag kept, an implied tag left implied) | what the rows above refuse; a digest not given in [`Options::pins`](crate::Options::pins) |
//! | kustomization `images:` entry in pin scope | a `digest: DIGEST` line added after the line of the site's key (`newName`, else `name`), at its indentation, with that line's line end (kustomize renders `NAME:newTag@digest`) | an entry without `newTag` (its tag comes from the resources, which `digest:` drops), a flow-style entry |
//!
//! An image a rule rewrites that the plan cannot change is reported as
//! such ([`crate::report::SiteVerdict::unfixable`], also by [`crate::lint`],
//! which runs the same plan, so "fixable with --fix" is said only of what
//! the fix does), and `lint --fix` exits 2 naming its file and position.
//!
//! A new plain scalar stays plain: a rewritten reference always has a `/`,
//! and only the characters of the reference grammar, so it reads as the same
//! string in YAML 1.1 and 1.2 (never a number, boolean, null or timestamp,
//! never a comment or a flow indicator); anything else is refused.
//!
//! # Pinning
//!
//! With `pin:` rules, a site is pinned when the image the file will hold
//! (rewritten, if a rule rewrites it) is in pin scope for the site's
//! namespace and annotations: the policy denies it `pin-required`. The
//! digest comes from [`Options::pins`](crate::Options::pins), a [`Pins`]
//! map from the normalized reference (`Pins::key`) to the digest, which the
//! caller fills: the crate does no network I/O and nothing here is async.
//! [`wanted`] lists the distinct images a run needs (the CLI resolves them
//! with `image-policy-registry` and fails the run, writing nothing, if one
//! cannot be resolved). With `pins` `None` ([`crate::lint`]), the plan
//! writes a placeholder digest only to prove where the pin would go, so the
//! report's "fixable with --fix" comes from the same plan; [`fix`] never
//! writes it (`None` is no digest: each such image is not fixable). A
//! kustomization's added `digest:` line moves the lines after it, so that
//! file is read again in full and compared with [`verify`] instead of its
//! reading being derived. Without pin rules none of this runs (one look at
//! the policy's rules per file).
//!
//! # Idempotence
//!
//! The core refuses rewrite rules whose `to` a `from` could match again, so
//! a rewritten image is never rewritten, and a pinned image has a digest,
//! so it is out of pin scope: a second plan of a fixed file is
//! empty (tested, and checked by the `lint_readers` fuzz target through
//! `fuzzing::check_fix`).
//!
//! # Verification
//!
//! No fixed text is written or printed unless it reads as the planned sites
//! with the rewritten images and nothing else changed. [`fix`] proves it
//! locally, per edit, rather than by reading the whole fixed text again:
//!
//! - The first reading of the file is complete (no input error, or the file
//!   is not touched) and, for each site, says what scalar or word holds the
//!   image and where it starts; the planner checked those bytes against the
//!   image (see the table).
//! - [`check_edits`] then finds each edit in the fixed text and checks that
//!   it is a word of the reference grammar that makes up a whole token: a
//!   quoted YAML scalar that closes right after it (and, single-quoted, not
//!   with an escaped `''`), a plain scalar or a Dockerfile word with a
//!   separator on each side, never ending in `:`. Such a word has no quote,
//!   escape, space, comment, flow indicator, `$` or line break, starts with a
//!   letter or digit and has a `/`: it cannot open or close anything, or read
//!   as anything but that string (never a number, boolean, null, a stage
//!   name or a variable).
//! - Everything outside the edits is the same bytes, on the same lines (an
//!   edit never crosses a line), so every other token reads as before, and
//!   the fixed text reads as the original with each edited token's value
//!   replaced: the same objects, containers and paths, each image as the
//!   plan expects (an alias written literally reads as the new image, an
//!   alias given the moved anchor as the old value; a `FROM $BASE` its
//!   `ARG`'s new default).
//!
//! The anchors and aliases are read with the parser's own anchor events
//! (granit-parser, under serde-saphyr), so every alias of an anchor is
//! known, wherever it stands; the test
//! `fix_changes_only_planned_images_as_kubectl_reads_them` checks, over
//! generated files with anchors, aliases, merge keys and flow style, that
//! kubectl reads each fixed file as the original with only the planned
//! image fields changed (whole objects compared).
//!
//! So the fixed file's reading is derived from the first one instead of
//! read again: each site takes its expected image, and positions after an
//! edit on the same line move by the edit's growth; then each image is
//! judged once, as it reads in the fixed text (the same judge [`crate::lint`]
//! calls, on the same site). A file with problems (whose messages may quote
//! what changed) is read again in full and compared with [`verify`], as
//! every file was before. Local proof and full reading are kept equal by
//! tests: the `lint_readers` fuzz target and the property tests run
//! `fuzzing::check_fix` on every input, which requires
//! [`check_edits`] to accept every plan that reads as planned in full, and
//! [`fix`]'s derived report and text to be exactly what reading the fixed
//! text gives.
//!
//! # Performance
//!
//! Planning costs one pass over the text to index lines, and per site one
//! rewrite and one comparison. [`fix`] costs what [`crate::lint`] does (one
//! reading and one judgement per image, files on
//! [`Options::threads`](crate::Options::threads) threads) plus, per
//! fixed file, the plan, one copy of the text and the local check of each
//! edit: not a second reading. With rewrite rules, [`crate::lint`] runs the
//! same plan and local check on each file a rule rewrites (one copy of its
//! text), so that its report says "fixable" only of what the fix does. A
//! text with anchors and aliases is parsed once more for its anchor events
//! when an edit needs them. [`unified_diff`] is written from the edits: one pass to
//! find the line starts, then only the hunks (`similar`'s line diff of the
//! whole texts is its oracle in the tests).

mod diff;
mod pin;
mod plan;
mod proof;
mod run;

pub use pin::{PinError, Pins, Wanted, policy_pins, wanted};

pub use diff::unified_diff;
pub use plan::{Edit, Fix, Unfixable, plan};
pub use proof::{EditError, EditErrorKind, NotAsPlanned, NotTouched, check_edits, verify};
pub use run::{Change, FileFix, Fixed, fix};

pub(crate) use proof::{assess, mark_unfixable};
