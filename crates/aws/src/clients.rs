//! The one place AWS clients are built.

use std::time::Duration;

use anyhow::Context;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;

use crate::error::sdk_message;

/// How to reach AWS. Every field is optional: the SDK's own chain
/// (environment, profile, SSO, web identity/OIDC, container and instance
/// roles) fills the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// An endpoint for every service, e.g. a local emulator. `AWS_ENDPOINT_URL`
    /// is read by the SDK too; this wins over it.
    pub endpoint_url: Option<String>,
    /// Attempts per API call, retries included (default 5).
    pub max_attempts: Option<u32>,
}

pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Credentials and clients for one set of [`AwsSettings`].
#[derive(Clone, Debug)]
pub struct AwsContext {
    pub settings: AwsSettings,
    sdk: SdkConfig,
}

const NO_CREDENTIALS_HINT: &str = "no AWS credentials were found. Next step: `aws configure` or `aws sso login` \
(then --profile or AWS_PROFILE), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; in GitHub Actions use \
aws-actions/configure-aws-credentials with OIDC";

impl AwsContext {
    /// Resolves region and credentials. Fails with a next step when there is
    /// no region or no credentials; nothing is called on AWS yet.
    pub async fn load(settings: &AwsSettings) -> anyhow::Result<AwsContext> {
        let attempts = settings.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1);
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(
            RetryConfig::standard().with_max_attempts(attempts).with_max_backoff(Duration::from_secs(10)),
        );
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(endpoint) = settings.endpoint_url.as_deref().filter(|e| !e.is_empty()) {
            loader = loader.endpoint_url(endpoint);
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            anyhow::bail!(
                "no AWS region is set. Next step: --region, `region` under [aws] in loadgrid.toml, or AWS_REGION"
            );
        }
        let provider = sdk.credentials_provider().context(NO_CREDENTIALS_HINT)?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| anyhow::anyhow!("{NO_CREDENTIALS_HINT} ({})", sdk_message(&e)))?;
        Ok(AwsContext { settings: settings.clone(), sdk })
    }

    /// Checks that the credentials are accepted and the endpoint answers.
    /// Returns the account id.
    pub async fn verify(&self) -> anyhow::Result<String> {
        let identity = self.sts().get_caller_identity().send().await.map_err(|e| {
            let message = sdk_message(&e);
            if crate::error::is_unreachable(&message) {
                anyhow::anyhow!("cannot check the AWS credentials, AWS did not answer: {message}")
            } else {
                anyhow::anyhow!("AWS did not accept the credentials: {message}")
            }
        })?;
        Ok(identity.account().unwrap_or_default().to_owned())
    }

    pub fn region(&self) -> String {
        self.sdk.region().map(|r| r.to_string()).unwrap_or_default()
    }

    /// The endpoint override in effect, if any (flag, config or `AWS_ENDPOINT_URL`).
    pub fn endpoint_url(&self) -> Option<String> {
        self.sdk.endpoint_url().map(str::to_owned)
    }

    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.sdk)
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk)
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.sdk)
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk)
    }

    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.sdk)
    }

    /// S3 through the SDK (the run store itself goes through `object_store`):
    /// path-style when an endpoint override is set, as emulators need.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config =
            aws_sdk_s3::config::Builder::from(&self.sdk).force_path_style(self.endpoint_url().is_some()).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.sdk)
    }

    /// The SDK's credential chain, for the S3 store's signer.
    pub(crate) fn credentials(&self) -> Option<aws_credential_types::provider::SharedCredentialsProvider> {
        self.sdk.credentials_provider()
    }
}
