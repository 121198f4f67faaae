//! The registry login for `loadgrid image push`, through the SDK (so it
//! works with SSO and OIDC credentials, without the aws CLI).

use anyhow::Context;
use base64::Engine;

use crate::clients::AwsContext;
use crate::error::sdk_message;

pub struct RegistryLogin {
    /// `https://<account>.dkr.ecr.<region>.amazonaws.com`
    pub endpoint: String,
    pub username: String,
    pub password: String,
}

pub async fn login(aws: &AwsContext) -> anyhow::Result<RegistryLogin> {
    let output = aws
        .ecr()
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot get an ECR login: {}", sdk_message(&e)))?;
    let data = output.authorization_data().first().context("ECR returned no authorization data")?;
    let token = data.authorization_token().context("ECR returned no token")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(token).context("ECR token is not base64")?;
    let decoded = String::from_utf8(decoded).context("ECR token is not text")?;
    let (username, password) = decoded.split_once(':').context("ECR token is not user:password")?;
    Ok(RegistryLogin {
        endpoint: data.proxy_endpoint().unwrap_or_default().to_owned(),
        username: username.to_owned(),
        password: password.to_owned(),
    })
}
