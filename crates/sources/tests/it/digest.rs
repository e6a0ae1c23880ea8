//! The example CloudTrail digest of shared/data.

use evident_sources::cloudtrail_digest::{Digest, is_digest};

use crate::support::{records_of, shared_dir};

#[test]
fn reads_the_example_digest() {
    let path = shared_dir()
        .join("data/aws-cloudtrail/elastic-integrations/cloudtrail-digest-example.json");
    let record = records_of(&path).swap_remove(0);
    assert!(is_digest(&record));
    let digest = Digest::parse(&record).expect("digest");
    assert_eq!(digest.bucket, "alice-bucket");
    assert_eq!(digest.start, "2020-09-11T18:36:49Z");
    assert_eq!(digest.files.len(), 3);
    assert_eq!(
        digest.files[0].key,
        "AWSLogs/123456789123/CloudTrail/us-west-2/2020/09/11/123456789123_CloudTrail_us-west-2_20200911T1930Z_l2pGqVS53QcGdAkp.json.gz"
    );
    assert_eq!(
        digest.files[0].sha256,
        "420784a5bbc12e9ac442451e8ec1356744fdeabf4fee0d2222508db6d448139c"
    );
    let (_, previous, hash) = digest.previous.expect("a previous digest");
    assert!(previous.ends_with("20200911T183649Z.json.gz"));
    assert_eq!(
        hash.len(),
        63,
        "the example's value is one digit short, as transcribed"
    );
}
