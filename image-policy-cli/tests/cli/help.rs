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
