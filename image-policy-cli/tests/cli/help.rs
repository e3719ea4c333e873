//! Whole-binary behaviour: help with examples for every command, version,
//! completions.

use super::lint::image_policy;

/// The subcommands listed under `Commands:` in a help text.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A command's line starts with two spaces; a wrapped description more.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn every_command_has_help_with_examples() {
    let out = image_policy(&["--help"], None);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Examples:"));
    let commands = subcommands(&out.stdout);
    assert!(commands.contains(&"lint".to_owned()), "{commands:?}");
    assert!(commands.contains(&"completions".to_owned()), "{commands:?}");
    // Every command, and every command of a command group (`policy check`).
    let mut queue: Vec<Vec<String>> = commands.into_iter().map(|c| vec![c]).collect();
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = image_policy(&args, None);
        assert_eq!(help.code, 0, "{path:?}");
        assert!(
            help.stdout.contains("Examples:"),
            "`image-policy {}` has no examples:\n{}",
            args.join(" "),
            help.stdout
        );
        for sub in subcommands(&help.stdout) {
            let mut deeper = path.clone();
            deeper.push(sub);
            queue.push(deeper);
        }
    }
}

/// `--version` names the crate version and the git revision of the checkout
/// (build.rs; this test's binary is built from the same checkout).
#[test]
fn version() {
    let out = image_policy(&["--version"], None);
    assert_eq!(out.code, 0);
    let revision = match std::env::var("IMAGE_POLICY_REVISION") {
        Ok(r) if !r.trim().is_empty() => r.trim().to_owned(),
        _ => {
            let git = std::process::Command::new("git")
                .args(["rev-parse", "HEAD"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output();
            match git {
                Ok(o) if o.status.success() => {
                    String::from_utf8(o.stdout).unwrap().trim().to_owned()
                }
                // A source tree without git: build.rs says so.
                _ => "unknown".to_owned(),
            }
        }
    };
    assert_eq!(
        out.stdout.trim(),
        format!(
            "image-policy {} (revision {revision})",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn completions_for_each_shell() {
    // What each shell's script must contain to complete the lint command.
    for (shell, marker, option) in [
        ("bash", "complete -F", "--allow-registry"),
        ("zsh", "#compdef image-policy", "--allow-registry"),
        ("fish", "complete -c image-policy", "-l allow-registry"),
    ] {
        let out = image_policy(&["completions", shell], None);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains(marker), "{shell}");
        assert!(out.stdout.contains("lint"), "{shell}");
        assert!(out.stdout.contains(option), "{shell}");
    }
    let bad = image_policy(&["completions", "tcsh"], None);
    assert_eq!(bad.code, 2);
}

/// `--help` of `args` with the terminal `columns` wide.
fn help_at(args: &[&str], columns: usize) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_image-policy"))
        .args(args)
        .arg("--help")
        .env("COLUMNS", columns.to_string())
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The commands of the `Examples:` section, with continuation lines (ending
/// in ` \`) joined as the shell joins them, comments left out; and the
/// section's lines.
fn examples(help: &str) -> (Vec<String>, Vec<String>) {
    let lines: Vec<String> = help
        .lines()
        .skip_while(|l| *l != "Examples:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in &lines {
        let line = line.trim_start();
        if line.starts_with('#') && current.is_empty() {
            continue;
        }
        // `word \` or, after a word too long for the line, `word\`: the
        // shell drops the backslash and the line break; the next line's
        // indentation separates the words.
        match line.strip_suffix('\\').map(str::trim_end) {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
    }
    (commands, lines)
}

/// Help printed on a narrow terminal keeps each example runnable: a long
/// command is continued with ` \`, never broken where the shell would see two
/// commands; every line fits the width.
#[test]
fn examples_survive_a_narrow_terminal() {
    let paths: &[&[&str]] = &[
        &[],
        &["parse"],
        &["check"],
        &["lint"],
        &["serve"],
        &["completions"],
        &["policy"],
        &["policy", "check"],
        &["policy", "schema"],
    ];
    for path in paths {
        let (wide, wide_lines) = examples(&help_at(path, 400));
        assert!(!wide.is_empty(), "{path:?} has examples");
        for line in &wide_lines {
            assert!(
                !line.ends_with('\\'),
                "{path:?}: wide help needs no continuation: {line}"
            );
        }
        for columns in [30, 40, 60, 80] {
            let (narrow, lines) = examples(&help_at(path, columns));
            assert_eq!(narrow, wide, "{path:?} at {columns} columns");
            for line in &lines {
                // A single word longer than the terminal cannot be broken.
                let longest_word = line.split(' ').map(str::len).max().unwrap_or(0);
                assert!(
                    line.chars().count() < columns || longest_word + 8 >= columns,
                    "{path:?} at {columns} columns: {line:?}"
                );
            }
        }
    }
}

/// The first `parse` example runs as written and succeeds.
#[test]
fn the_parse_example_runs() {
    let (commands, _) = examples(&help_at(&["parse"], 400));
    let words: Vec<&str> = commands[0].split_whitespace().collect();
    assert_eq!(words[..2], ["image-policy", "parse"]);
    let out = image_policy(&words[1..], None);
    assert_eq!(out.code, 0, "{}\n{}", commands[0], out.stdout);
}
