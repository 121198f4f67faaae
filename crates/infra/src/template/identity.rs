//! The identity CI runs loadgrid as: a role GitHub's OIDC provider may
//! assume for one repository, or an IAM user for teams without OIDC. Both
//! get the same managed policy.

use serde_json::{json, Value};

use super::{attr, outputs, reference, sub, Tagging, Template};
use crate::policy;
use crate::spec::{CiIdentity, InfraSpec};

const GITHUB_OIDC_HOST: &str = "token.actions.githubusercontent.com";
/// Long enough for a long soak test from one CI job.
const MAX_SESSION_SECONDS: u32 = 4 * 3600;

pub(super) fn add(template: &mut Template, spec: &InfraSpec) {
    let holder = match &spec.ci {
        CiIdentity::None => return,
        CiIdentity::GithubOidc { provider_arn, .. } => {
            let provider = match provider_arn {
                Some(arn) => json!(arn),
                None => {
                    template.resource(
                        "GithubOidcProvider",
                        "AWS::IAM::OIDCProvider",
                        json!({ "Url": format!("https://{GITHUB_OIDC_HOST}"), "ClientIdList": ["sts.amazonaws.com"] }),
                        Tagging::List,
                    );
                    reference("GithubOidcProvider")
                }
            };
            template.resource(
                "CiRole",
                "AWS::IAM::Role",
                json!({
                    "RoleName": spec.names.ci_role.cfn(),
                    "Description": "loadgrid in GitHub Actions: runs, watches and stops grids on this cluster",
                    "MaxSessionDuration": MAX_SESSION_SECONDS,
                    "AssumeRolePolicyDocument": oidc_trust(provider, spec.ci.oidc_subjects()),
                }),
                Tagging::List,
            );
            template.output(
                outputs::CI_ROLE_ARN,
                "role-to-assume for aws-actions/configure-aws-credentials",
                attr("CiRole", "Arn"),
            );
            json!({ "Roles": [reference("CiRole")] })
        }
        CiIdentity::IamUser => {
            iam_user(template, spec);
            json!({ "Groups": [reference("CiGroup")] })
        }
    };
    let ci = policy::ci(spec);
    let mut properties = json!({
        "Description": "loadgrid CI: RunTask/DescribeTasks/StopTask/ListTasks on one cluster and family, PassRole on the two task roles, the run store, the agents' logs",
        "PolicyDocument": ci.cfn(),
    });
    for (key, value) in holder.as_object().expect("object") {
        properties[key] = value.clone();
    }
    template.resource("CiPolicy", "AWS::IAM::ManagedPolicy", properties, Tagging::None);
}

fn oidc_trust(provider: Value, subjects: Vec<String>) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": provider },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": { format!("{GITHUB_OIDC_HOST}:aud"): "sts.amazonaws.com" },
                "StringLike": { format!("{GITHUB_OIDC_HOST}:sub"): subjects },
            },
        }]
    })
}

/// A user in a group that holds the policy; its access key is kept in
/// Secrets Manager (outside `loadgrid/`, which tasks may read) and never
/// printed unless asked (`loadgrid infra outputs --show-ci-key`).
fn iam_user(template: &mut Template, spec: &InfraSpec) {
    template.resource("CiGroup", "AWS::IAM::Group", json!({ "Path": "/loadgrid/" }), Tagging::None);
    template.resource(
        "CiUser",
        "AWS::IAM::User",
        json!({ "UserName": spec.names.ci_user.cfn(), "Path": "/loadgrid/", "Groups": [reference("CiGroup")] }),
        Tagging::List,
    );
    template.skip_checks(
        "CiUser",
        &[("CKV_AWS_273", "This mode is for teams whose CI cannot use OIDC; the github-oidc mode is the default.")],
    );
    template.resource("CiAccessKey", "AWS::IAM::AccessKey", json!({ "UserName": reference("CiUser") }), Tagging::None);
    template.resource(
        "CiAccessKeySecret",
        "AWS::SecretsManager::Secret",
        json!({
            "Name": format!("loadgrid-ci/{}/access-key", spec.stack),
            "Description": "Access key of the loadgrid CI user: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for CI secrets",
            "SecretString": sub("{\"AWS_ACCESS_KEY_ID\":\"${CiAccessKey}\",\"AWS_SECRET_ACCESS_KEY\":\"${CiAccessKey.SecretAccessKey}\"}"),
        }),
        Tagging::List,
    );
    template.skip_checks(
        "CiAccessKeySecret",
        &[
            ("CKV_AWS_149", "The AWS-managed key suffices: only the account's administrators read this secret."),
            ("CKV2_AWS_57", "Rotating an IAM access key means updating the CI secret by hand; rotate with `loadgrid infra deploy` after replacing CiAccessKey."),
        ],
    );
    template.output(outputs::CI_USER, "The CI user", reference("CiUser"));
    template.output(
        outputs::CI_ACCESS_KEY_SECRET,
        "Its access key (`loadgrid infra outputs --show-ci-key` prints it)",
        reference("CiAccessKeySecret"),
    );
}
