//! `evident match`: true/false per event line, exit 2 on a bad query.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn evident_match(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_evident"))
        .arg("match")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn evident");
    let mut input = child.stdin.take().expect("stdin is piped");
    // A process that rejects its query exits without reading its input.
    if let Err(error) = input.write_all(stdin) {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "write events: {error}"
        );
    }
    drop(input);
    child.wait_with_output().expect("evident finishes")
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

const EVENTS: &str = r#"{"message":"GET request made to /api/v1/dashboards","tags":["source:audit"],"attributes":{"usr":{"email":"alice@example.com"},"evt":{"name":"Request"},"action":"accessed","http":{"status_code":"200"},"network":{"client":{"ip":"10.4.5.6"}}}}
{"message":"dashboard deleted","attributes":{"usr":{"email":"bob@example.com"},"evt":{"name":"Dashboard"},"action":"deleted","network":{"client":{"ip":"84.102.253.215"}}}}

{"message":"api key created","attributes":{"usr":{"email":"alice@example.com"},"evt":{"name":"API Key"},"metadata":{"api_key":{"id":"k-1"}},"status":"error","auth_method":"SESSION"}}
"#;

#[test]
fn prints_one_verdict_per_event_line() {
    let cases: [(&str, [&str; 3]); 7] = [
        ("@usr.email:alice@example.com", ["true", "false", "true"]),
        ("-@action:deleted", ["true", "false", "true"]),
        ("\"dashboard deleted\"", ["false", "true", "false"]),
        (
            "@metadata.api_key.id:* AND @evt.name:\"API Key\"",
            ["false", "false", "true"],
        ),
        (
            "@network.client.ip:CIDR(10.0.0.0/8)",
            ["true", "false", "false"],
        ),
        (
            "CIDR(@network.client.ip, 10.0.0.0/8, 84.0.0.0/8)",
            ["true", "true", "false"],
        ),
        (
            "@status:error AND @auth_method:*",
            ["false", "false", "true"],
        ),
    ];
    for (query, expected) in cases {
        let output = evident_match(&[query], EVENTS.as_bytes());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{query}: {stderr}");
        assert_eq!(stdout_lines(&output), expected, "{query}");
    }
}

#[test]
fn a_bad_query_exits_2_with_the_position() {
    let output = evident_match(&["@usr.email:alice AND @evt.name:"], EVENTS.as_bytes());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("at column 32: expected a value after ':'"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn explain_prints_the_tree() {
    let output = evident_match(
        &[
            "--explain",
            "@evt.name:\"Access Management\" @action:(created OR deleted) | stats count by @usr.email",
        ],
        b"",
    );
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "AND",
        "  attribute @evt.name = phrase \"Access Management\"",
        "  OR",
        "    attribute @action = term \"created\"",
        "  group by attribute @usr.email",
        "canonical: @evt.name:\"Access Management\" AND (@action:created OR @action:deleted) | stats count by @usr.email",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[test]
fn bad_event_lines_are_reported_and_keep_alignment() {
    let input = b"{\"message\":\"hello\"}\n{not json\n{\"usr\":1}\n\xff\xfe\n{\"message\":\"hello again\"}\n";
    let output = evident_match(&["hello"], input);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout_lines(&output),
        ["true", "error", "error", "error", "true"]
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2: invalid event"), "{stderr}");
    assert!(
        stderr.contains("line 3: invalid event: unknown field `usr`"),
        "{stderr}"
    );
    assert!(stderr.contains("line 4: invalid event"), "{stderr}");
}

#[test]
fn a_stats_pipe_prints_one_row_per_group() {
    let output = evident_match(
        &["-@action:deleted | stats count, count(@evt.name) as kinds by @usr.email"],
        EVENTS.as_bytes(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout_lines(&output),
        [r#"{"@usr.email":"alice@example.com","count":2,"kinds":2}"#]
    );
}
