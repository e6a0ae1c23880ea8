//! Every record of every file in shared/data imports as its source, keeps
//! its original unchanged under the source's namespace and takes its time
//! from the source when it has one.

use evident_model::Event;
use evident_sources::Source;
use serde_json::{Map, Value};

use crate::support::{data_files, records_of, shared_dir};

/// The original as the event keeps it.
fn kept<'a>(event: &'a Event, namespace: &str) -> Option<&'a Value> {
    let mut segments = namespace.split('.');
    let mut current = event.attributes.get(segments.next()?)?;
    for segment in segments {
        current = current.get(segment)?;
    }
    Some(current)
}

fn check_folder(
    source: Source,
    folder: &str,
    namespaces: &[&str],
    times: &[&str],
    expected: usize,
) {
    let files = data_files(&shared_dir().join("data").join(folder));
    let mut total = 0;
    for path in files
        .iter()
        .filter(|path| !path.to_string_lossy().contains("digest"))
    {
        for record in records_of(path) {
            let event = source
                .normalize(record.clone())
                .unwrap_or_else(|error| panic!("{}: {error}: {record:?}", path.display()));
            let original = Value::Object(record.clone());
            assert!(
                namespaces
                    .iter()
                    .any(|namespace| kept(&event, namespace) == Some(&original)),
                "{}: the original is not kept under {namespaces:?}",
                path.display()
            );
            assert!(
                Source::detect(&record).is_some(),
                "{}: not recognized: {record:?}",
                path.display()
            );
            assert!(event.message.is_some() && event.status.is_some());
            check_time(&record, &event, times);
            total += 1;
        }
    }
    assert_eq!(total, expected, "{folder}");
}

/// A record with a parseable time of its own (the first of `keys` it has)
/// keeps it.
fn check_time(record: &Map<String, Value>, event: &Event, keys: &[&str]) {
    for key in keys {
        if let Some(Value::String(text)) = record.get(*key)
            && let Ok(time) = text.parse()
        {
            assert_eq!(event.timestamp, Some(time), "{key}: {text}");
            return;
        }
    }
}

#[test]
fn cloudtrail() {
    // panther-analysis (486) + datadog-forwarder-enriched (12) + the S3
    // layout's re-packed copies (324).
    check_folder(
        Source::CloudTrail,
        "aws-cloudtrail",
        &["aws.cloudtrail"],
        &["eventTime"],
        486 + 12 + 324,
    );
}

#[test]
fn gcp() {
    check_folder(
        Source::Gcp,
        "gcp-audit",
        &["gcp.audit"],
        &["timestamp"],
        198,
    );
}

#[test]
fn azure() {
    // AKS audit records keep the whole record under azure.activity_log.
    check_folder(
        Source::Azure,
        "azure",
        &["azure.activity_log", "azure.entra_id"],
        &["time"],
        293,
    );
}

#[test]
fn okta() {
    check_folder(
        Source::Okta,
        "okta",
        &["okta.system_log"],
        &["published"],
        57,
    );
}

#[test]
fn github() {
    check_folder(
        Source::GitHub,
        "github-audit",
        &["github.audit"],
        &["@timestamp", "created_at"],
        106,
    );
}

#[test]
fn kubernetes() {
    check_folder(
        Source::Kubernetes,
        "kubernetes-audit",
        &["kubernetes.audit", "gcp.audit", "azure.activity_log"],
        &["requestReceivedTimestamp", "timestamp"],
        193,
    );
}
