//! The S3 run store: `s3://bucket/prefix`, the same [`Store`] (layout,
//! atomic and conditional writes, multipart uploads) as a local directory.
//!
//! Requests are signed with the SDK's credential chain, so SSO, web
//! identity and task roles work here as everywhere else.

use std::sync::Arc;

use anyhow::Context;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use loadgrid_store::Store;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, RetryConfig};

use crate::clients::AwsContext;

/// `s3://bucket/some/prefix` → (`bucket`, `some/prefix`).
pub fn parse_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url.strip_prefix("s3://").with_context(|| format!("`{url}` is not an s3:// URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        anyhow::bail!("`{url}` names no bucket; expected s3://bucket/prefix");
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

/// Opens an S3 store. Nothing is called on AWS; see [`check_bucket`].
pub fn open(aws: &AwsContext, url: &str) -> anyhow::Result<Store> {
    let (bucket, prefix) = parse_url(url)?;
    let credentials = aws.credentials().context("no AWS credentials for the S3 store")?;
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_region(aws.region())
        .with_credentials(Arc::new(SdkCredentials(credentials)))
        .with_retry(RetryConfig {
            max_retries: aws.settings.max_attempts.unwrap_or(crate::clients::DEFAULT_MAX_ATTEMPTS) as usize,
            ..RetryConfig::default()
        });
    if let Some(endpoint) = aws.endpoint_url() {
        // Emulators and most S3-compatible stores want path-style requests.
        builder = builder
            .with_endpoint(endpoint.clone())
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    let s3 = builder.build().with_context(|| format!("cannot open store `{url}`"))?;
    let inner: Arc<dyn ObjectStore> =
        if prefix.is_empty() { Arc::new(s3) } else { Arc::new(PrefixStore::new(s3, prefix.as_str())) };
    Ok(Store::from_object_store(inner, url))
}

/// Fails with a next step when the bucket does not exist or cannot be read.
pub async fn check_bucket(store: &Store) -> anyhow::Result<()> {
    // `runs/` is what every role of `loadgrid infra` may list.
    store.list_dirs("runs").await.map_err(|e| {
        let e = anyhow::Error::from(e);
        anyhow::anyhow!(
            "the store `{}` cannot be used: {e:#}. Next step: check the bucket name and region, or create the bucket \
             with `loadgrid infra deploy`",
            store.url()
        )
    })?;
    Ok(())
}

/// Signs object-store requests with whatever the SDK's chain resolves
/// (the SDK caches and refreshes them).
#[derive(Debug)]
struct SdkCredentials(SharedCredentialsProvider);

#[async_trait::async_trait]
impl object_store::CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let credentials = self
            .0
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic { store: "S3", source: Box::new(e) })?;
        Ok(Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_owned(),
            secret_key: credentials.secret_access_key().to_owned(),
            token: credentials.session_token().map(str::to_owned),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_bucket_and_prefix() {
        assert_eq!(parse_url("s3://b").unwrap(), ("b".into(), "".into()));
        assert_eq!(parse_url("s3://b/team/perf/").unwrap(), ("b".into(), "team/perf".into()));
        assert!(parse_url("s3:///x").is_err());
        assert!(parse_url("/tmp/x").is_err());
    }
}
