//! CloudTrail log files in an S3 bucket (any S3 API: `--endpoint-url`),
//! read through `object_store`. Credentials and region come from the
//! usual `AWS_*` variables unless given. The delivery layout is
//! `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz`;
//! digests (`CloudTrail-Digest/`) are not log files.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

/// `s3://bucket[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUrl {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the whole bucket.
    pub prefix: String,
}

impl BucketUrl {
    pub fn parse(url: &str) -> Result<BucketUrl, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url:?} is not an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{url:?} names no bucket"));
        }
        Ok(BucketUrl {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// The origin of an object: `s3://bucket/key`.
    pub fn origin(&self, key: &Path) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn path(&self, rest: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{}/{rest}", self.prefix))
        }
    }
}

impl std::fmt::Display for BucketUrl {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(formatter, "s3://{}", self.bucket)
        } else {
            write!(formatter, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// How to reach the S3 API.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub region: Option<String>,
    /// Another S3 API than AWS's (MinIO, a test server).
    pub endpoint_url: Option<String>,
}

/// The bucket of `url`, through object_store's S3 client.
pub fn open(url: &BucketUrl, options: &S3Options) -> Result<Arc<dyn ObjectStore>, String> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&url.bucket);
    if let Some(region) = &options.region {
        builder = builder.with_region(region);
    }
    if let Some(endpoint) = &options.endpoint_url {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    builder
        .build()
        .map(|store| Arc::new(store) as Arc<dyn ObjectStore>)
        .map_err(|error| format!("opening {url}: {error}"))
}

/// Whether `key` is a log file: JSON, gzip'ed or not, not a digest.
pub fn is_log_file(key: &Path) -> bool {
    let text = key.as_ref();
    (text.ends_with(".json.gz") || text.ends_with(".json"))
        && !key.parts().any(|part| part.as_ref() == "CloudTrail-Digest")
}

/// Whether `key` is a CloudTrail digest file.
pub fn is_digest_file(key: &Path) -> bool {
    key.as_ref().ends_with(".json.gz")
        && key.parts().any(|part| part.as_ref() == "CloudTrail-Digest")
}

/// Every log file and every digest file under the URL's prefix, from one
/// listing, each in key order: digests of one trail and region then come
/// oldest first, as their chain runs.
pub async fn all_files(
    store: &dyn ObjectStore,
    url: &BucketUrl,
) -> object_store::Result<(Vec<ObjectMeta>, Vec<ObjectMeta>)> {
    let prefix = (!url.prefix.is_empty()).then(|| Path::from(url.prefix.as_str()));
    let mut files: Vec<ObjectMeta> = store
        .list(prefix.as_ref())
        .try_filter(|meta| {
            std::future::ready(is_log_file(&meta.location) || is_digest_file(&meta.location))
        })
        .try_collect()
        .await?;
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files
        .into_iter()
        .partition(|meta| is_log_file(&meta.location)))
}

/// The per-account, per-region folders CloudTrail delivers into:
/// `AWSLogs/<account>/<kind>/<region>/`, `kind` being `CloudTrail` (log
/// files) or `CloudTrail-Digest`.
pub async fn trail_folders(
    store: &dyn ObjectStore,
    url: &BucketUrl,
    kind: &str,
) -> object_store::Result<Vec<Path>> {
    let mut folders = Vec::new();
    let accounts = store
        .list_with_delimiter(Some(&url.path("AWSLogs")))
        .await?;
    for account in accounts.common_prefixes {
        let trail = account.clone().join(kind);
        let regions = store.list_with_delimiter(Some(&trail)).await?;
        folders.extend(regions.common_prefixes);
    }
    folders.sort();
    Ok(folders)
}

/// The files of one trail folder from day `since` (`YYYY/MM/DD`) on, or
/// all of them, in key order: log files, or digests with `digests`.
pub async fn files_since(
    store: &dyn ObjectStore,
    folder: &Path,
    since: Option<&str>,
    digests: bool,
) -> object_store::Result<Vec<ObjectMeta>> {
    let listing = match since {
        // Keys of that day sort after `<folder>/YYYY/MM/DD`.
        Some(day) => store.list_with_offset(Some(folder), &Path::from(format!("{folder}/{day}"))),
        None => store.list(Some(folder)),
    };
    let wanted = if digests { is_digest_file } else { is_log_file };
    let mut files: Vec<ObjectMeta> = listing
        .try_filter(|meta| std::future::ready(wanted(&meta.location)))
        .try_collect()
        .await?;
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}

/// The delivery day (`YYYY/MM/DD`) of a key under `folder`.
pub fn day_of(folder: &Path, key: &Path) -> Option<String> {
    let rest = key.prefix_match(folder)?;
    let parts: Vec<String> = rest.take(3).map(|part| part.as_ref().to_string()).collect();
    let valid = parts.len() == 3
        && parts
            .iter()
            .all(|part| part.bytes().all(|byte| byte.is_ascii_digit()));
    valid.then(|| parts.join("/"))
}

/// The day before `day` (`YYYY/MM/DD`).
pub fn day_before(day: &str) -> Option<String> {
    let date: jiff::civil::Date = day.replace('/', "-").parse().ok()?;
    let before = date.yesterday().ok()?;
    Some(before.strftime("%Y/%m/%d").to_string())
}

/// Reads one object whole.
pub async fn read(store: &dyn ObjectStore, key: &Path) -> object_store::Result<Vec<u8>> {
    Ok(store.get(key).await?.bytes().await?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keys_and_days() {
        let url = BucketUrl::parse("s3://trail-bucket/org/").expect("url");
        assert_eq!(
            url,
            BucketUrl {
                bucket: "trail-bucket".into(),
                prefix: "org".into()
            }
        );
        assert_eq!(url.to_string(), "s3://trail-bucket/org");
        assert!(BucketUrl::parse("https://x").is_err());
        assert!(BucketUrl::parse("s3:///x").is_err());

        let folder = Path::from("AWSLogs/1/CloudTrail/us-east-1");
        let key = Path::from(
            "AWSLogs/1/CloudTrail/us-east-1/2024/01/15/1_CloudTrail_us-east-1_20240115T1050Z_x.json.gz",
        );
        assert!(is_log_file(&key));
        assert!(!is_log_file(&Path::from(
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/15/d.json.gz"
        )));
        assert_eq!(day_of(&folder, &key).as_deref(), Some("2024/01/15"));
        assert_eq!(day_before("2024/03/01").as_deref(), Some("2024/02/29"));
        assert_eq!(url.origin(&key), format!("s3://trail-bucket/{key}"));
    }
}
