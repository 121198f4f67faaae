//! ECS answers that arrived with success but that the SDK could not read:
//! a field loadgrid does not need, in a shape the SDK's strict parser does
//! not expect (moto sends a container's `cpu` as a number; an ECS-compatible
//! API or a newer ECS may differ in other fields). The tasks and failures
//! are read from the answer's JSON instead, keeping only what loadgrid
//! uses, so that launching, watching, `ps` and `stop` never act on an
//! answer as if it had failed.

use aws_sdk_ecs::config::http::HttpResponse as Response;
use aws_sdk_ecs::error::SdkError;
use aws_sdk_ecs::primitives::DateTime;
use aws_sdk_ecs::types::{Container, Failure, Tag, Task, TaskStopCode};
use serde_json::Value;

/// `RunTask`'s and `DescribeTasks`' answer: tasks and failures.
pub struct TasksAnswer {
    pub tasks: Vec<Task>,
    pub failures: Vec<Failure>,
}

impl TasksAnswer {
    /// An answer the SDK read.
    pub fn read(tasks: &[Task], failures: &[Failure]) -> TasksAnswer {
        TasksAnswer { tasks: tasks.to_vec(), failures: failures.to_vec() }
    }
}

/// The answer of a call the SDK reports as failed, when ECS in fact
/// succeeded and only reading the answer failed.
pub fn tasks_answer<E>(error: &SdkError<E, Response>) -> Option<TasksAnswer> {
    let SdkError::ResponseError(response) = error else { return None };
    let raw = response.raw();
    if !raw.status().is_success() {
        return None;
    }
    let json: Value = serde_json::from_slice(raw.body().bytes()?).ok()?;
    read_tasks_answer(&json)
}

/// `None` unless every task has its ARN and both lists are lists: an
/// answer whose tasks cannot be told apart is no answer.
fn read_tasks_answer(json: &Value) -> Option<TasksAnswer> {
    let list = |name: &str| match json.get(name) {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => Some(items.clone()),
        Some(_) => None,
    };
    let (tasks, failures) = (list("tasks")?, list("failures")?);
    if !tasks.iter().all(|t| t.get("taskArn").and_then(Value::as_str).is_some_and(|arn| arn.starts_with("arn:"))) {
        return None;
    }
    Some(TasksAnswer {
        tasks: tasks.iter().map(task).collect(),
        failures: failures
            .iter()
            .map(|f| {
                Failure::builder()
                    .set_arn(text(f, "arn"))
                    .set_reason(text(f, "reason"))
                    .set_detail(text(f, "detail"))
                    .build()
            })
            .collect(),
    })
}

/// A string field, or a number given where a string is expected.
fn text(json: &Value, name: &str) -> Option<String> {
    match json.get(name)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A timestamp: seconds since the epoch, as ECS's JSON protocol sends it.
fn time(json: &Value, name: &str) -> Option<DateTime> {
    json.get(name)?.as_f64().map(DateTime::from_secs_f64)
}

fn task(json: &Value) -> Task {
    let containers = json.get("containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let tags = json.get("tags").and_then(Value::as_array).cloned().unwrap_or_default();
    Task::builder()
        .set_task_arn(text(json, "taskArn"))
        .set_last_status(text(json, "lastStatus"))
        .set_desired_status(text(json, "desiredStatus"))
        .set_stop_code(text(json, "stopCode").map(|code| TaskStopCode::from(code.as_str())))
        .set_stopped_reason(text(json, "stoppedReason"))
        .set_started_by(text(json, "startedBy"))
        .set_group(text(json, "group"))
        .set_cpu(text(json, "cpu"))
        .set_memory(text(json, "memory"))
        .set_capacity_provider_name(text(json, "capacityProviderName"))
        .set_created_at(time(json, "createdAt"))
        .set_pull_started_at(time(json, "pullStartedAt"))
        .set_started_at(time(json, "startedAt"))
        .set_stopped_at(time(json, "stoppedAt"))
        .set_containers(Some(
            containers
                .iter()
                .map(|c| {
                    Container::builder()
                        .set_name(text(c, "name"))
                        .set_exit_code(c.get("exitCode").and_then(Value::as_i64).map(|code| code as i32))
                        .set_reason(text(c, "reason"))
                        .build()
                })
                .collect(),
        ))
        .set_tags(Some(
            tags.iter().map(|t| Tag::builder().set_key(text(t, "key")).set_value(text(t, "value")).build()).collect(),
        ))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What moto answers `DescribeTasks` with: numbers where ECS has strings.
    const MOTO_ANSWER: &str = r#"{
      "tasks": [{
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/loadgrid/abc",
        "lastStatus": "STOPPED", "desiredStatus": "STOPPED", "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited", "startedBy": "loadgrid-r1",
        "cpu": 1024, "memory": 2048, "createdAt": 1700000000.5, "startedAt": 1700000010, "stoppedAt": 1700000070,
        "containers": [{ "name": "loadgrid", "cpu": 1024, "memory": 2048, "exitCode": 0 }],
        "tags": [{ "key": "loadgrid:run-id", "value": "r1" }]
      }],
      "failures": [{ "arn": "arn:aws:ecs:us-east-1:123456789012:task/loadgrid/gone", "reason": "MISSING" }]
    }"#;

    #[test]
    fn an_answer_the_sdk_cannot_read_keeps_what_loadgrid_uses() {
        let answer = read_tasks_answer(&serde_json::from_str(MOTO_ANSWER).unwrap()).unwrap();
        let task = &answer.tasks[0];
        assert_eq!(task.task_arn(), Some("arn:aws:ecs:us-east-1:123456789012:task/loadgrid/abc"));
        assert_eq!(task.last_status(), Some("STOPPED"));
        assert_eq!(task.stop_code(), Some(&TaskStopCode::EssentialContainerExited));
        assert_eq!(task.cpu(), Some("1024"));
        assert_eq!(task.started_by(), Some("loadgrid-r1"));
        assert_eq!(task.created_at().map(|t| t.as_secs_f64()), Some(1_700_000_000.5));
        assert_eq!(task.containers()[0].exit_code(), Some(0));
        assert_eq!(task.tags()[0].value(), Some("r1"));
        assert_eq!(answer.failures[0].reason(), Some("MISSING"));
    }

    #[test]
    fn an_answer_whose_tasks_cannot_be_told_apart_is_no_answer() {
        assert!(read_tasks_answer(&serde_json::json!({ "tasks": "?" })).is_none());
        assert!(read_tasks_answer(&serde_json::json!({ "tasks": [{ "taskArn": 17 }] })).is_none());
        assert!(read_tasks_answer(&serde_json::json!({ "tasks": [], "failures": "garbled" })).is_none());
        let empty = read_tasks_answer(&serde_json::json!({ "failures": null })).unwrap();
        assert!(empty.tasks.is_empty() && empty.failures.is_empty());
    }
}
