//! The results bucket: private, encrypted, versioned, TLS only, with a
//! lifecycle for `runs/`; kept when the stack is deleted.

use serde_json::json;

use super::{outputs, reference, sub, Tagging, Template};
use crate::spec::InfraSpec;

pub(super) fn add(template: &mut Template, spec: &InfraSpec) {
    let days = spec.results_retention_days;
    template.resource(
        "ArtifactsBucket",
        "AWS::S3::Bucket",
        json!({
            "BucketName": spec.names.bucket.cfn(),
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": true,
                "BlockPublicPolicy": true,
                "IgnorePublicAcls": true,
                "RestrictPublicBuckets": true,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" }, "BucketKeyEnabled": true }
                ]
            },
            "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
            "VersioningConfiguration": { "Status": "Enabled" },
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "expire-run-data",
                        "Status": "Enabled",
                        "Prefix": "runs/",
                        "ExpirationInDays": days,
                        "NoncurrentVersionExpiration": { "NoncurrentDays": 7 },
                    },
                    {
                        "Id": "tidy-versions-and-uploads",
                        "Status": "Enabled",
                        "Prefix": "",
                        "NoncurrentVersionExpiration": { "NoncurrentDays": 30 },
                        "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 1 },
                    },
                ]
            },
        }),
        Tagging::List,
    );
    // Results are the one thing worth keeping: `infra destroy --delete-data` removes them.
    template.attribute("ArtifactsBucket", "DeletionPolicy", json!("Retain"));
    template.attribute("ArtifactsBucket", "UpdateReplacePolicy", json!("Retain"));
    template.skip_checks(
        "ArtifactsBucket",
        &[
            ("CKV_AWS_18", "Access logging needs a second bucket; the run store is written only by loadgrid's roles, whose calls CloudTrail records."),
            ("CKV2_AWS_62", "Nothing consumes event notifications from the run store."),
            ("CKV_AWS_145", "SSE-S3 (AES256) as the requirement asks; a KMS key adds cost and key-policy upkeep for no reader outside loadgrid's roles."),
        ],
    );
    template.resource(
        "ArtifactsBucketPolicy",
        "AWS::S3::BucketPolicy",
        json!({
            "Bucket": reference("ArtifactsBucket"),
            "PolicyDocument": crate::policy::deny_without_tls(sub("${ArtifactsBucket.Arn}"), sub("${ArtifactsBucket.Arn}/*")),
        }),
        Tagging::None,
    );
    template.output(outputs::BUCKET, "The run store's bucket", reference("ArtifactsBucket"));
    template.output(outputs::STORE_URL, "The run store, for `store` in loadgrid.toml", sub("s3://${ArtifactsBucket}"));
}
