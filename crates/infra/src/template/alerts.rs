//! Where a failing gate is announced, and where a running grid is watched:
//! the alerts topic and a dashboard over the agents' EMF metrics.

use serde_json::json;

use super::{outputs, reference, sub, Tagging, Template};
use crate::spec::InfraSpec;

/// The agents' snapshot lines are CloudWatch EMF: namespace `loadgrid`,
/// dimension `run_id` (see the agent's `snapshot.rs`), at the standard
/// one-minute resolution.
const NAMESPACE: &str = "loadgrid";

pub(super) fn add(template: &mut Template, spec: &InfraSpec) {
    template.resource(
        "AlertsTopic",
        "AWS::SNS::Topic",
        json!({
            "TopicName": spec.names.topic.cfn(),
            "DisplayName": "loadgrid alerts",
            "KmsMasterKeyId": "alias/aws/sns",
        }),
        Tagging::List,
    );
    template.output(
        outputs::ALERTS_TOPIC,
        "Failed gates are published here (`--notify sns:<arn>`)",
        reference("AlertsTopic"),
    );
    if let Some(email) = &spec.alert_email {
        template.resource(
            "AlertsEmailSubscription",
            "AWS::SNS::Subscription",
            json!({ "TopicArn": reference("AlertsTopic"), "Protocol": "email", "Endpoint": email }),
            Tagging::None,
        );
    }

    let widget = |title: &str, metric: &str, stat: &str, y: u32, x: u32| {
        json!({
            "type": "metric",
            "x": x, "y": y, "width": 12, "height": 6,
            "properties": {
                "title": title,
                "region": "${AWS::Region}",
                "stat": stat,
                "period": 60,
                "view": "timeSeries",
                "metrics": [[{
                    "expression": format!("SEARCH('{{{NAMESPACE},run_id}} MetricName=\"{metric}\"', '{stat}', 60)"),
                    "id": format!("{metric}_by_run"),
                }]],
            }
        })
    };
    let body = json!({
        "widgets": [
            widget("Requests per second (sum of shards)", "rps", "Sum", 0, 0),
            widget("p95 latency, ms (highest shard p95; the grid's exact p95 is in the run summary)", "p95_ms", "Maximum", 0, 12),
            widget("Error rate (mean of shards)", "error_rate", "Average", 6, 0),
            widget("Virtual users (sum of shards)", "vus", "Sum", 6, 12),
        ]
    });
    template.resource(
        "Dashboard",
        "AWS::CloudWatch::Dashboard",
        json!({ "DashboardName": spec.names.dashboard.cfn(), "DashboardBody": sub(&body.to_string()) }),
        Tagging::None,
    );
    template.output(
        outputs::DASHBOARD,
        "Live metrics of running grids",
        sub("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#dashboards:name=${Dashboard}"),
    );
}
