//! The window may do only what the UI needs: no dialog, file system or
//! shell plugin permissions, and a content security policy without eval or
//! remote sources. (Being an integration test, this also makes `cargo test`
//! build the app binary that the window tests drive.)

use serde_json::Value;

fn read(path: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

#[test]
fn capabilities_grant_only_what_the_ui_needs() {
    let cap = read("capabilities/default.json");
    let perms: Vec<&str> = cap["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().expect("plain permission names"))
        .collect();
    // Not even the dialog: a page that opened it would get paths back
    // that the app never saw chosen (see commands/access.rs).
    assert_eq!(perms, ["core:default"]);
    assert_eq!(cap["windows"], serde_json::json!(["main"]));
}

#[test]
fn a_strict_content_security_policy_is_set() {
    let conf = read("tauri.conf.json");
    let csp = conf["app"]["security"]["csp"].as_str().expect("a CSP");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    for bad in ["unsafe-eval", "http:", "https:", "*"] {
        let script = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap_or("");
        assert!(!script.contains(bad), "script-src allows {bad}: {csp}");
    }
    assert!(!csp.contains("unsafe-eval"), "{csp}");
}

#[test]
fn the_app_binary_is_built() {
    assert!(std::path::Path::new(env!("CARGO_BIN_EXE_c2s-studio")).is_file());
}
