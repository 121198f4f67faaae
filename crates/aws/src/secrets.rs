//! Secret values for k6, read by the agent with the task role. A value
//! lives only in the agent's memory and k6's environment: never in a log
//! line, the store, a summary or a report.

use loadgrid_agent::SecretSource;

use crate::clients::AwsContext;
use crate::error::sdk_message;

pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub fn new(aws: &AwsContext) -> SecretsManager {
        SecretsManager { client: aws.secrets() }
    }
}

#[async_trait::async_trait]
impl SecretSource for SecretsManager {
    async fn read(&self, secret_id: &str) -> anyhow::Result<String> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("Secrets Manager: {}", sdk_message(&e)))?;
        output
            .secret_string()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("secret `{secret_id}` holds binary data; loadgrid passes text secrets only"))
    }
}
