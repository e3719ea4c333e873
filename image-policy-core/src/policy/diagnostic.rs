//! Problems found while loading a policy: errors (the policy is rejected) and
//! warnings (it loads, but probably does not say what its author meant).

use std::fmt;

/// Where something is in a policy source, 1-based. `Display` is
/// `origin:line:column`, the form editors and terminals link.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file name, or a pseudo-origin such as `<flags>` or `<builder>`.
    pub origin: String,
    /// The line, from 1.
    pub line: usize,
    /// The column (in characters), from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

/// How bad a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// The policy loads, but a rule probably does not do what was meant.
    Warning,
    /// The policy is rejected.
    Error,
}

impl Severity {
    /// `"warning"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a policy: what, how bad, a stable machine-readable code and
/// where. `Display` is `origin:line:column: severity[code]: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable, machine-readable code such as `unknown-key`, `bad-registry`,
    /// `regex-unescaped-dot` (listed in the [module docs](super#diagnostics)).
    pub code: &'static str,
    /// A sentence a person understands, naming the offending text.
    pub message: String,
    /// Where the problem is, when the source had positions.
    pub location: Option<Location>,
}

impl Diagnostic {
    pub(crate) fn error(
        code: &'static str,
        message: impl Into<String>,
        location: Option<Location>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            location,
        }
    }

    pub(crate) fn warning(
        code: &'static str,
        message: impl Into<String>,
        location: Option<Location>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            code,
            message: message.into(),
            location,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)
    }
}

/// A policy that cannot be loaded, with *every* problem found (errors, and the
/// warnings found along the way), sorted by position.
///
/// `Display` prints one diagnostic per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    diagnostics: Vec<Diagnostic>,
}

impl PolicyError {
    /// `diagnostics` must hold at least one error.
    pub(crate) fn new(mut diagnostics: Vec<Diagnostic>) -> Self {
        debug_assert!(diagnostics.iter().any(|d| d.severity == Severity::Error));
        sort(&mut diagnostics);
        Self { diagnostics }
    }

    /// Every problem, errors and warnings, in source order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
}

/// Sorts diagnostics by origin, line and column (those without a location last),
/// keeping the order of finding among equals.
pub(crate) fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            d.location
                .as_ref()
                .map(|l| (0, l.origin.clone(), l.line, l.column))
                .unwrap_or((1, String::new(), 0, 0))
        };
        key(a).cmp(&key(b))
    });
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}
