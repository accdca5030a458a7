//! `ctiproxy demo` runs with nothing but the built plugins and proves byte-exact forwarding.
mod support;

#[test]
fn demo_replays_the_session_through_the_spy_and_exits_zero() {
    let done = support::Running::spawn({
        let mut cmd = support::ctiproxy();
        cmd.arg("demo");
        cmd
    })
    .finish();
    assert!(done.status.success(), "stderr:\n{}", done.stderr);
    let steps = support::session_steps();
    let is_header = |l: &&str| {
        l.starts_with("    ")
            && l.as_bytes()[4].is_ascii_digit()
            && (l.ends_with("Client > Server") || l.ends_with("Server > Client"))
    };
    let headers = done.stdout.lines().filter(is_header);
    assert_eq!(headers.count(), steps.len(), "one header per recorded message:\n{}", done.stdout);
    assert!(
        done.stdout.contains("each side received exactly what the other sent"),
        "{}",
        done.stdout
    );
    // The example MI rules ran in dry-run: each command printed under the message that caused it.
    assert_eq!(done.stdout.matches("mi dry-run: rule mwi-lamp would send").count(), 4);
    assert_eq!(done.stdout.matches("mi dry-run: rule phone-resync would send").count(), 1);
    assert!(done.stdout.contains("pipeline: spy > mi > stats"), "{}", done.stdout);
    // The spy prints keys sorted: login_id's "class" comes before "commandid" and "company".
    assert!(done
        .stdout
        .contains(r#"{"class": "login_id", "commandid": 1804289383, "company": "xivo""#));
    // login_pass's password is shown masked; the wire kept it (checked byte for byte above).
    assert!(done.stdout.contains(r#""password": "***""#), "{}", done.stdout);
    assert!(!done.stdout.contains("secret"), "{}", done.stdout);
}

#[test]
fn the_embedded_session_is_the_shared_fixture() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = manifest.join("../../shared/fixtures/cti/session-login.jsonl");
    // ../shared sits beside the project for every engineer and CI run; a copy kept elsewhere
    // (a packaged source tree) has only the embedded one to go by.
    let Ok(expected) = std::fs::read_to_string(&shared) else {
        eprintln!("{} not present; nothing to compare", shared.display());
        return;
    };
    assert_eq!(
        ctiproxy::demo::SESSION,
        expected,
        "core/demo/session-login.jsonl drifted from the fixture"
    );
}
