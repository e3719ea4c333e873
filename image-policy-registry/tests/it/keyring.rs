//! The kubelet's credential matching, case by case from
//! `tests/testdata/kubelet-keyring.txt`, and the file formats.

use image_policy_registry::{Credential, Keyring};

#[test]
fn kubelet_matching_cases() {
    let text = include_str!("../testdata/kubelet-keyring.txt");
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split(" | ").collect();
        assert_eq!(parts.len(), 3, "line {}: {line}", i + 1);
        let mut keyring = Keyring::new();
        for key in parts[0].split_whitespace() {
            keyring.add(
                key,
                Credential {
                    username: key.to_owned(),
                    password: String::new(),
                },
            );
        }
        let got = keyring.lookup(parts[1]).map(|c| c.username.as_str());
        let want = (parts[2] != "-").then_some(parts[2]);
        assert_eq!(got, want, "line {}: {line}", i + 1);
        n += 1;
    }
    assert!(n > 40, "{n} cases");
}

#[test]
fn config_json_legacy_dockercfg_and_secrets() {
    let lookup = |text: &str, name: &str| {
        let mut k = Keyring::new();
        k.add_file_contents(text).unwrap();
        k.lookup(name)
            .map(|c| (c.username.clone(), c.password.clone()))
    };
    let alice = Some(("alice".to_owned(), "s:ecret".to_owned()));
    // base64("alice:s:ecret"): the password keeps its colons.
    let auth = "YWxpY2U6czplY3JldA==";
    let config = format!(
        r#"{{"auths":{{"r.io":{{"auth":"{auth}","username":"ignored"}}}},"credsStore":"desktop"}}"#
    );
    assert_eq!(lookup(&config, "r.io/app"), alice);
    let legacy = format!(r#"{{"r.io":{{"auth":"{auth}","email":"a@b"}}}}"#);
    assert_eq!(lookup(&legacy, "r.io/app"), alice);
    let plain = r#"{"auths":{"r.io":{"username":"alice","password":"s:ecret"}}}"#;
    assert_eq!(lookup(plain, "r.io/app"), alice);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &config);
    let secret_json = format!(
        r#"{{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/dockerconfigjson","data":{{".dockerconfigjson":"{b64}"}}}}"#
    );
    assert_eq!(lookup(&secret_json, "r.io/app"), alice);
    let secret_yaml = format!(
        "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{config}'\n"
    );
    assert_eq!(lookup(&secret_yaml, "r.io/app"), alice);
    let dockercfg = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &legacy);
    let secret_cfg =
        format!("kind: Secret\ntype: kubernetes.io/dockercfg\ndata:\n  .dockercfg: {dockercfg}\n");
    assert_eq!(lookup(&secret_cfg, "r.io/app"), alice);

    let err = |text: &str| {
        Keyring::new()
            .add_file_contents(text)
            .unwrap_err()
            .to_string()
    };
    // base64 of "nocolon".
    assert!(
        err(r#"{"auths":{"r.io":{"auth":"bm9jb2xvbg=="}}}"#).contains("base64(username:password)")
    );
    assert!(err(r#"{"auths":{"r.io":{"auth":"%%%"}}}"#).contains("base64(username:password)"));
    assert!(err("kind: Secret\ndata: {}\n").contains("without .dockerconfigjson"));
    assert!(err("kind: Secret\ndata:\n  .dockerconfigjson: '%%'\n").contains("not base64"));
    assert!(err(r#"{"auths":[1]}"#).contains("expected an object"));
    assert!(err("[unclosed").contains("neither JSON"));
}

#[test]
fn passwords_never_print() {
    let c = Credential {
        username: "alice".to_owned(),
        password: "hunter2".to_owned(),
    };
    assert!(!format!("{c:?}").contains("hunter2"));
}
