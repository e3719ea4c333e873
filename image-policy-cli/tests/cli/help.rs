//! Whole-binary behaviour: help with examples for every command, version,
//! completions.

use super::lint::image_policy;

#[test]
fn every_command_has_help_with_examples() {
    let out = image_policy(&["--help"], None);
    assert_eq!(out.code, 0);
    // Every subcommand listed in the top-level help.
    let commands: Vec<String> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.contains(&"lint".to_owned()), "{commands:?}");
    assert!(commands.contains(&"completions".to_owned()), "{commands:?}");
    for command in &commands {
        let help = image_policy(&[command, "--help"], None);
        assert_eq!(help.code, 0, "{command}");
        assert!(
            help.stdout.contains("Examples:"),
            "`image-policy {command} --help` has no examples:\n{}",
            help.stdout
        );
    }
}

#[test]
fn version() {
    let out = image_policy(&["--version"], None);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout.trim(),
        format!("image-policy {}", env!("CARGO_PKG_VERSION"))
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
