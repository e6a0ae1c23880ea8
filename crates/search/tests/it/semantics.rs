//! The project's decisions where the conformance corpus is silent, one
//! table row each: query, event, expected answer.

use evident_model::Event;

const CASES: &[(&str, &str, bool)] = &[
    // status: the reserved field, else the attribute; @status: the attribute,
    // else the reserved field (imported and evident's own events keep it
    // there only, and the seed's `@status:error AND @auth_method:*` must
    // find their failures).
    ("status:error", r#"{"attributes":{"status":"error"}}"#, true),
    (
        "status:error",
        r#"{"status":"info","attributes":{"status":"error"}}"#,
        false,
    ),
    ("@status:error", r#"{"status":"error"}"#, true),
    ("@status:*", r#"{"status":"error"}"#, true),
    (
        "@status:error",
        r#"{"status":"error","attributes":{"status":"info"}}"#,
        false,
    ),
    (
        "@status:error AND @auth_method:*",
        r#"{"status":"error","attributes":{"auth_method":"password"}}"#,
        true,
    ),
    (
        "@status:error",
        r#"{"status":"error","attributes":{"status":[]}}"#,
        true,
    ),
    ("@status:error", r#"{"status":"info"}"#, false),
    ("-@status:*", r#"{"message":"no status anywhere"}"#, true),
    // source: the reserved field or a source: tag.
    ("source:audit", r#"{"tags":["source:audit"]}"#, true),
    ("source:audit", r#"{"source":"audit"}"#, true),
    ("source:audit", r#"{"tags":["source:cloudtrail"]}"#, false),
    // timestamp compares instants, whatever the spelling.
    (
        "timestamp:>2024-05-01",
        r#"{"timestamp":"2024-05-01T12:00:00Z"}"#,
        true,
    ),
    (
        "timestamp:[2024-05-01T13:00:00+02:00 TO 2024-05-02]",
        r#"{"timestamp":"2024-05-01T12:00:00Z"}"#,
        true,
    ),
    (
        "timestamp:\"2024-05-01T14:00:00+02:00\"",
        r#"{"timestamp":"2024-05-01T12:00:00Z"}"#,
        true,
    ),
    (
        "timestamp:<1714564800000",
        r#"{"timestamp":"2024-05-01T12:00:00Z"}"#,
        false,
    ),
    (
        "timestamp:2024-05-01T12*",
        r#"{"timestamp":"2024-05-01T12:00:00Z"}"#,
        true,
    ),
    (
        "timestamp:>yesterday",
        r#"{"timestamp":"2024-05-01T12:00:00Z"}"#,
        false,
    ),
    // Presence: null exists, an empty array does not.
    ("_exists_:@a", r#"{"attributes":{"a":null}}"#, true),
    ("@a:*", r#"{"attributes":{"a":[]}}"#, false),
    ("@a:[* TO *]", r#"{"attributes":{"a":true}}"#, true),
    ("@a:[* TO 5]", r#"{"attributes":{"a":true}}"#, false),
    // Numbers: numeric equality, exact for big integers, text for the rest.
    ("@a:200", r#"{"attributes":{"a":200.0}}"#, true),
    ("@a:200", r#"{"attributes":{"a":"200.0"}}"#, false),
    (
        "@id:9007199254740993",
        r#"{"attributes":{"id":9007199254740993}}"#,
        true,
    ),
    (
        "@id:9007199254740993",
        r#"{"attributes":{"id":9007199254740992}}"#,
        false,
    ),
    (
        "@id:18446744073709551615",
        r#"{"attributes":{"id":18446744073709551615}}"#,
        true,
    ),
    ("@a:>=1e3", r#"{"attributes":{"a":1000}}"#, true),
    ("@a:-5", r#"{"attributes":{"a":-5}}"#, true),
    ("@a:2*", r#"{"attributes":{"a":204}}"#, true),
    // Arrays of objects are walked element by element.
    (
        "@Event.EventData.Data.Name:ObjectServer",
        r#"{"attributes":{"Event":{"EventData":{"Data":[{"Name":"Other"},{"Name":"ObjectServer"}]}}}}"#,
        true,
    ),
    (
        "@a.b:2",
        r#"{"attributes":{"a":[[{"b":1}],[{"b":2}]]}}"#,
        true,
    ),
    // Dotted keys: escaped dot or quoted segment.
    ("@a\\.b:x", r#"{"attributes":{"a.b":"x"}}"#, true),
    ("@a\\.b:x", r#"{"attributes":{"a":{"b":"x"}}}"#, false),
    // CIDR: arrays, IPv6, IPv4-mapped, non-IP values.
    (
        "CIDR(@ips, 15.0.0.0/8)",
        r#"{"attributes":{"ips":["13.1.1.1","15.2.2.2"]}}"#,
        true,
    ),
    (
        "@ip:CIDR(2001:db8::/32)",
        r#"{"attributes":{"ip":"2001:db8:0:1::5"}}"#,
        true,
    ),
    (
        "@ip:CIDR(10.0.0.0/8)",
        r#"{"attributes":{"ip":"::ffff:10.9.8.7"}}"#,
        true,
    ),
    (
        "@ip:CIDR(10.0.0.0/8)",
        r#"{"attributes":{"ip":"ec2.amazonaws.com"}}"#,
        false,
    ),
    (
        "host:CIDR(192.168.0.0/16)",
        r#"{"host":"192.168.1.20"}"#,
        true,
    ),
    // Free text: the default attributes are tokenised, others are not searched.
    (
        "boom",
        r#"{"attributes":{"error":{"stack":"at main: Boom!"}}}"#,
        true,
    ),
    ("boom", r#"{"attributes":{"title":"BOOM"}}"#, true),
    ("boom", r#"{"attributes":{"detail":"boom"}}"#, false),
    (
        "@error.message:timeout",
        r#"{"attributes":{"error":{"message":"read Timeout after 5s"}}}"#,
        true,
    ),
    (
        "@other:timeout",
        r#"{"attributes":{"other":"read timeout after 5s"}}"#,
        false,
    ),
    ("/api/v1", r#"{"message":"GET /api/v1/users"}"#, true),
    ("/api/v*", r#"{"message":"GET /api/v2/users"}"#, true),
    ("/api/v*", r#"{"message":"GET /v2/api/users"}"#, false),
    ("\"a-b\"", r#"{"message":"x a b y"}"#, false),
    // *: searches every attribute value and the message, case-insensitively.
    (
        "*:alice",
        r#"{"attributes":{"usr":{"name":"Alice Smith"}}}"#,
        true,
    ),
    (
        "*:hello*",
        r#"{"attributes":{"a":{"b":["x","hello_world"]}}}"#,
        true,
    ),
    (
        "*:200",
        r#"{"attributes":{"http":{"status_code":200}}}"#,
        true,
    ),
    ("*:alice", r#"{"tags":["alice:1"]}"#, false),
    // Tags: exact, case-sensitive, first colon splits the key.
    ("env:Prod", r#"{"tags":["env:prod"]}"#, false),
    ("url:http\\://x", r#"{"tags":["url:http://x"]}"#, true),
    ("url:http://x", r#"{"tags":["url:http://x"]}"#, true),
    ("tags:env*", r#"{"tags":["environment"]}"#, true),
    // Operators.
    ("!(a OR b)", r#"{"message":"c"}"#, true),
    ("a && b || c", r#"{"message":"c"}"#, true),
    ("+a", r#"{"message":"a"}"#, true),
    ("NOT *", r#"{"message":"a"}"#, false),
    ("@a:(x -y)", r#"{"attributes":{"a":"x"}}"#, true),
    ("@a:(x AND y)", r#"{"attributes":{"a":["x","y"]}}"#, true),
    ("@a:(x @b:y)", r#"{"attributes":{"a":"x","b":"y"}}"#, true),
];

#[test]
fn decisions_beyond_the_corpus() {
    let mut failures = Vec::new();
    for (query, event, expected) in CASES {
        let event: Event =
            serde_json::from_str(event).unwrap_or_else(|error| panic!("{event}: {error}"));
        let filter =
            evident_search::parse_filter(query).unwrap_or_else(|error| panic!("{query}: {error}"));
        if evident_search::matches(&filter, &event) != *expected {
            failures.push(format!("{query:?} on {event:?}: expected {expected}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
