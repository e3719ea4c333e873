//! `--format`: one flag name for the output format on every command, and
//! `--output` for files (`lint -o FILE`, `export --output FILE`).
//!
//! `check` and `policy check` used to take the format as `--output
//! text|json`. That spelling still works for one release, hidden from
//! `--help` and with a warning on standard error; afterwards `--output` on
//! these commands will name a file, as it does on `lint` and `export`.
//! `parse --json` stays as the short form of `parse --format json`.

/// `--format` of `parse`, `check` and `policy check`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TextOrJson {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object per line, for programs.
    Json,
}

impl TextOrJson {
    fn as_str(self) -> &'static str {
        match self {
            TextOrJson::Text => "text",
            TextOrJson::Json => "json",
        }
    }
}

/// The format to print in: `--format`, or the deprecated `--output FORMAT`
/// (said so on standard error). clap refuses both together.
pub fn chosen(
    command: &str,
    format: TextOrJson,
    deprecated_output: Option<TextOrJson>,
) -> TextOrJson {
    match deprecated_output {
        Some(old) => {
            eprintln!(
                "image-policy {command}: warning: --output {0} is deprecated, use --format {0} \
                 (--output will name a file, as in lint and export)",
                old.as_str()
            );
            old
        }
        None => format,
    }
}
