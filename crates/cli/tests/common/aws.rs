//! AWS without AWS: a real moto server on a random loopback port, a
//! recording proxy in front of it (API call counts, injected `RunTask`
//! failures), and [`FakeFargate`], which plays Fargate's container runtime:
//! it starts `loadgrid agent` for each RUNNING task with that task's
//! environment overrides, forwards the agent's output to the task's
//! CloudWatch log stream, SIGTERMs the agent when the task is stopped and
//! stops the task when the agent exits.
//!
//! loadgrid talks to the proxy; the harness and the agents talk to moto
//! directly, so the proxy counts the orchestrator's calls only.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

pub const REGION: &str = "us-east-1";
pub const CLUSTER: &str = "loadgrid";
pub const TASK_FAMILY: &str = "loadgrid-runner";
/// The EC2 pool's host-network task definition.
pub const POOL_TASK_FAMILY: &str = "loadgrid-runner-ec2";
/// The task definition's size: CPU units and MiB.
const TASK_CPU: &str = "1024";
const TASK_MEMORY: &str = "2048";
pub const CONTAINER: &str = "loadgrid";
pub const LOG_GROUP: &str = "/loadgrid/runner";
pub const LOG_PREFIX: &str = "runner";
pub const BUCKET: &str = "loadgrid-runs";

fn venv_bin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin").join(name)
}

/// A moto server, stopped on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let server = venv_bin("moto_server");
        assert!(server.is_file(), "moto not found: run `scripts/test` (it installs moto[server] into .venv)");
        let mut child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                // Keep draining: a full pipe would stall moto.
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(at) = line.find("Running on http://") {
                        let _ = sender.send(line[at + "Running on ".len()..].trim().to_owned());
                    }
                }
            });
        }
        let url = receiver.recv_timeout(Duration::from_secs(60)).expect("moto_server did not start within 60 s");
        Moto { child, url }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A canned answer to the next matching calls.
#[derive(Clone)]
pub struct Fault {
    /// e.g. `ecs:RunTask`
    pub action: String,
    /// Only requests whose body contains this.
    pub body_contains: Option<String>,
    pub times: usize,
    pub response: String,
    /// Forward the call to moto first (it takes effect), then answer with
    /// `response`: an answer lost or garbled after AWS acted.
    pub forward: bool,
}

/// One API call that went through the proxy.
#[derive(Clone, Debug)]
pub struct Call {
    pub action: String,
    pub started: Instant,
    pub ended: Instant,
}

#[derive(Default)]
struct ProxyState {
    calls: Vec<Call>,
    faults: Vec<Fault>,
    outage: Option<Outage>,
    /// The actions of the calls an outage dropped.
    dropped: Vec<String>,
    /// Pass moto's ECS answers on as they are, numbers where the SDK
    /// expects strings and all.
    moto_quirks: bool,
}

/// Until `until`, calls whose action starts with `actions` get their
/// connection dropped, as from a server that went away.
struct Outage {
    until: Instant,
    actions: String,
}

/// Forwards to moto, recording each call's action and answering some with
/// injected faults.
pub struct Proxy {
    pub url: String,
    state: Arc<Mutex<ProxyState>>,
}

impl Proxy {
    pub fn start(runtime: &tokio::runtime::Runtime, upstream: &str) -> Proxy {
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let upstream = upstream.to_owned();
        let client = reqwest::Client::new();
        let shared = Arc::clone(&state);
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (state, upstream, client) = (Arc::clone(&shared), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (state, upstream, client) = (Arc::clone(&state), upstream.clone(), client.clone());
                        async move { forward(request, &state, &upstream, &client).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy { url: format!("http://{address}"), state }
    }

    pub fn inject(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    /// For `length` from now, drops every call whose action starts with
    /// `actions` (`""` for all, `"s3:"` for the store).
    pub fn outage(&self, actions: &str, length: Duration) {
        self.state.lock().unwrap().outage =
            Some(Outage { until: Instant::now() + length, actions: actions.to_owned() });
    }

    /// Calls of `action` so far.
    /// From now on, ECS answers reach loadgrid as moto sends them.
    pub fn keep_moto_quirks(&self) {
        self.state.lock().unwrap().moto_quirks = true;
    }

    /// Calls an outage dropped whose action starts with `actions`.
    pub fn dropped(&self, actions: &str) -> usize {
        self.state.lock().unwrap().dropped.iter().filter(|a| a.starts_with(actions)).count()
    }

    pub fn count(&self, action: &str) -> usize {
        self.state.lock().unwrap().calls.iter().filter(|c| c.action == action).count()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }
}

fn action_of(headers: &hyper::HeaderMap, method: &str, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (service, operation) = target.split_once('.').unwrap_or(("", target));
        let service = if service.starts_with("AmazonEC2ContainerService") {
            "ecs"
        } else if service.starts_with("Logs") {
            "logs"
        } else if service.starts_with("secretsmanager") {
            "secretsmanager"
        } else {
            service
        };
        return format!("{service}:{operation}");
    }
    let text = String::from_utf8_lossy(body);
    if let Some(action) = text.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
        return format!("query:{action}");
    }
    format!("s3:{method}")
}

async fn forward(
    request: Request<Incoming>,
    state: &Mutex<ProxyState>,
    upstream: &str,
    client: &reqwest::Client,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let action = action_of(&parts.headers, parts.method.as_str(), &body);
    let down = state
        .lock()
        .unwrap()
        .outage
        .as_ref()
        .is_some_and(|outage| Instant::now() < outage.until && action.starts_with(&outage.actions));
    if down {
        state.lock().unwrap().dropped.push(action);
        return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "the server went away"));
    }
    let response = answer(parts, body, &action, state, upstream, client).await;
    state.lock().unwrap().calls.push(Call { action, started, ended: Instant::now() });
    Ok(response)
}

async fn answer(
    parts: hyper::http::request::Parts,
    body: Bytes,
    action: &str,
    state: &Mutex<ProxyState>,
    upstream: &str,
    client: &reqwest::Client,
) -> Response<Full<Bytes>> {
    let fault = {
        let mut state = state.lock().unwrap();
        let text = String::from_utf8_lossy(&body);
        let matching = state.faults.iter_mut().find(|f| {
            f.times > 0
                && f.action == action
                && f.body_contains.as_ref().is_none_or(|needle| text.contains(needle.as_str()))
        });
        matching.map(|fault| {
            fault.times -= 1;
            (fault.response.clone(), fault.forward)
        })
    };
    if let Some((response, forward)) = fault {
        if forward {
            let url = format!("{upstream}{}", parts.uri.path_and_query().map_or("/", |p| p.as_str()));
            let mut outgoing = client.request(parts.method.clone(), url).body(body.clone());
            for (name, value) in &parts.headers {
                if name != "host" && name != "content-length" {
                    outgoing = outgoing.header(name, value);
                }
            }
            let _ = outgoing.send().await.map(|answer| answer.bytes());
        }
        return Response::builder()
            .header("content-type", "application/x-amz-json-1.1")
            .body(Full::new(Bytes::from(response)))
            .unwrap();
    }
    let url = format!("{upstream}{}", parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut outgoing = client.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            outgoing = outgoing.header(name, value);
        }
    }
    match outgoing.send().await {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            let is_head = parts.method == hyper::Method::HEAD;
            for (name, value) in answer.headers() {
                // A HEAD answer's length describes the object, not this (empty) body.
                if (is_head || name != "content-length") && name != "transfer-encoding" && name != "connection" {
                    response = response.header(name, value);
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            let quirks = state.lock().unwrap().moto_quirks;
            let bytes = if action.starts_with("ecs:") && !quirks { fix_moto_ecs(bytes) } else { bytes };
            response.body(Full::new(bytes)).unwrap()
        }
        Err(error) => Response::builder().status(502).body(Full::new(Bytes::from(error.to_string()))).unwrap(),
    }
}

/// moto 5 returns a container's `cpu` and `memory` as numbers where the
/// ECS API (and so the Rust SDK's strict parser) has strings.
fn fix_moto_ecs(bytes: Bytes) -> Bytes {
    fn fix(value: &mut serde_json::Value) -> bool {
        let mut changed = false;
        match value {
            serde_json::Value::Object(map) => {
                if let Some(containers) = map.get_mut("containers").and_then(|c| c.as_array_mut()) {
                    for container in containers.iter_mut().filter_map(|c| c.as_object_mut()) {
                        for field in ["cpu", "memory", "memoryReservation"] {
                            if let Some(number) = container.get(field).filter(|v| v.is_number()).map(|v| v.to_string())
                            {
                                container.insert(field.to_owned(), serde_json::Value::String(number));
                                changed = true;
                            }
                        }
                    }
                }
                for child in map.values_mut() {
                    changed |= fix(child);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    changed |= fix(item);
                }
            }
            _ => {}
        }
        changed
    }
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return bytes };
    if fix(&mut json) {
        Bytes::from(serde_json::to_vec(&json).unwrap())
    } else {
        bytes
    }
}

/// The AWS side of an ECS test: moto set up with a cluster, a task
/// definition, a log group, a bucket, and a proxy in front.
pub struct AwsWorld {
    pub runtime: tokio::runtime::Runtime,
    pub moto: Moto,
    /// What loadgrid's orchestrator talks to: counted, faults injected.
    pub proxy: Proxy,
    /// What the harness and the agents talk to: only moto's quirks fixed.
    pub direct: Proxy,
    pub subnet: String,
    pub security_group: String,
    pub config: aws_config::SdkConfig,
}

pub fn sdk_config(runtime: &tokio::runtime::Runtime, endpoint: &str) -> aws_config::SdkConfig {
    runtime.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_ecs::config::Credentials::new("test", "test", None, None, "tests"))
            .load(),
    )
}

impl AwsWorld {
    pub fn new() -> AwsWorld {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let moto = Moto::start();
        let proxy = Proxy::start(&runtime, &moto.url);
        let direct = Proxy::start(&runtime, &moto.url);
        let config = sdk_config(&runtime, &direct.url);
        let (subnet, security_group) = runtime.block_on(set_up(&moto.url, &config));
        AwsWorld { runtime, moto, proxy, direct, subnet, security_group, config }
    }

    /// The environment that points `loadgrid` at the proxy with test credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ENDPOINT_URL", self.proxy.url.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// `loadgrid.toml` for an ECS run against this world.
    pub fn config_toml(&self, extra_run: &str) -> String {
        format!(
            r#"store = "s3://{BUCKET}/team"
backend = "ecs"

[ecs]
cluster = "{CLUSTER}"
task_definition = "{TASK_FAMILY}"
subnets = ["{subnet}"]
security_groups = ["{sg}"]

[run]
{extra_run}
"#,
            subnet = self.subnet,
            sg = self.security_group
        )
    }

    /// A CloudFormation stack whose outputs describe this world, as
    /// `loadgrid infra deploy` would leave them.
    pub fn create_outputs_stack(&self, name: &str) {
        self.create_stack_with_outputs(name, &[]);
    }

    /// A stack with this world's outputs, and `extra` ones.
    pub fn create_stack_with_outputs(&self, name: &str, extra: &[(&str, &str)]) {
        let mut outputs = serde_json::json!({
            "Cluster": { "Value": CLUSTER },
            "TaskDefinition": { "Value": TASK_FAMILY },
            "ContainerName": { "Value": CONTAINER },
            "Subnets": { "Value": self.subnet },
            "SecurityGroup": { "Value": self.security_group },
            "AssignPublicIp": { "Value": "ENABLED" },
        });
        for (key, value) in extra {
            outputs[*key] = serde_json::json!({ "Value": value });
        }
        let template = serde_json::json!({
            "Resources": { "Handle": { "Type": "AWS::CloudFormation::WaitConditionHandle" } },
            "Outputs": outputs,
        });
        let client = aws_sdk_cloudformation::Client::new(&self.config);
        self.runtime
            .block_on(client.create_stack().stack_name(name).template_body(template.to_string()).send())
            .unwrap();
    }

    /// An EC2 pool as `loadgrid infra deploy` with `capacity = "ec2"` leaves
    /// it: `count` instances of `instance_type`, stopped; the host-network
    /// task definition; and stack `name` whose outputs describe it all.
    /// Returns the instance ids.
    pub fn create_pool_stack(&self, name: &str, count: i32, instance_type: &str) -> Vec<String> {
        let ec2 = aws_sdk_ec2::Client::new(&self.config);
        let ecs = aws_sdk_ecs::Client::new(&self.config);
        let ids = self.runtime.block_on(async {
            let launched = ec2
                .run_instances()
                .image_id("ami-12c6146b")
                .instance_type(aws_sdk_ec2::types::InstanceType::from(instance_type))
                .subnet_id(&self.subnet)
                .min_count(count)
                .max_count(count)
                .send()
                .await
                .unwrap();
            let ids: Vec<String> = launched.instances().iter().map(|i| i.instance_id().unwrap().to_owned()).collect();
            ec2.stop_instances().set_instance_ids(Some(ids.clone())).send().await.unwrap();
            use aws_sdk_ecs::types::{Compatibility, NetworkMode};
            register_runner(&ecs, POOL_TASK_FAMILY, Compatibility::Ec2, NetworkMode::Host).await;
            ids
        });
        let instances = ids.join(",");
        self.create_stack_with_outputs(
            name,
            &[
                ("Capacity", "ec2"),
                ("PoolInstances", &instances),
                ("PoolInstanceType", instance_type),
                ("PoolTaskDefinition", POOL_TASK_FAMILY),
            ],
        );
        ids
    }

    /// Each EC2 instance's state: `running`, `stopped`...
    pub fn instance_states(&self) -> BTreeMap<String, String> {
        let ec2 = aws_sdk_ec2::Client::new(&self.config);
        self.runtime.block_on(async {
            let described = ec2.describe_instances().send().await.unwrap();
            described
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .map(|i| {
                    (i.instance_id().unwrap().to_owned(), i.state().and_then(|s| s.name()).unwrap().as_str().to_owned())
                })
                .collect()
        })
    }

    pub fn create_secret(&self, name: &str, value: &str) {
        let client = aws_sdk_secretsmanager::Client::new(&self.config);
        self.runtime.block_on(client.create_secret().name(name).secret_string(value).send()).unwrap();
    }

    /// Tasks in moto by last status, for the tasks `loadgrid` started.
    pub fn task_statuses(&self) -> BTreeMap<String, String> {
        let ecs = aws_sdk_ecs::Client::new(&self.config);
        self.runtime.block_on(async {
            let mut statuses = BTreeMap::new();
            for status in [aws_sdk_ecs::types::DesiredStatus::Running, aws_sdk_ecs::types::DesiredStatus::Stopped] {
                let arns =
                    ecs.list_tasks().cluster(CLUSTER).desired_status(status).send().await.unwrap().task_arns().to_vec();
                for chunk in arns.chunks(100) {
                    let tasks =
                        ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(chunk.to_vec())).send().await.unwrap();
                    for task in tasks.tasks() {
                        statuses
                            .insert(task.task_arn().unwrap().to_owned(), task.last_status().unwrap_or("?").to_owned());
                    }
                }
            }
            statuses
        })
    }

    /// Every object in the bucket, with its bytes (read with signed requests, as loadgrid does).
    pub fn bucket_objects(&self) -> Vec<(String, Vec<u8>)> {
        use futures::TryStreamExt;
        use object_store::{ObjectStore, ObjectStoreExt};
        let s3 = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_region(REGION)
            .with_endpoint(&self.moto.url)
            .with_allow_http(true)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap();
        self.runtime.block_on(async {
            let listed: Vec<object_store::ObjectMeta> = s3.list(None).try_collect().await.unwrap();
            let mut objects = Vec::new();
            for meta in listed {
                let bytes = s3.get(&meta.location).await.unwrap().bytes().await.unwrap();
                objects.push((meta.location.to_string(), bytes.to_vec()));
            }
            objects.sort();
            objects
        })
    }

    /// The runs with a key of the run store ending in `suffix`.
    pub fn runs_with(&self, suffix: &str) -> Vec<String> {
        let keys = self.bucket_objects().into_iter().map(|(key, _)| key).filter(|key| key.ends_with(suffix));
        keys.map(|key| key.split('/').nth(2).unwrap().to_owned()).collect()
    }

    /// Waits for a key of the run store ending in `suffix`; returns the id
    /// of the run it is in.
    pub fn wait_for_object(&self, suffix: &str, timeout: Duration) -> String {
        self.wait_for_object_of_a_new_run(suffix, &[], timeout)
    }

    /// As [`AwsWorld::wait_for_object`], for a run not in `known`.
    pub fn wait_for_object_of_a_new_run(&self, suffix: &str, known: &[String], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let runs = self.runs_with(suffix);
            if let Some(run_id) = runs.iter().find(|run_id| !known.contains(run_id)) {
                return run_id.clone();
            }
            assert!(Instant::now() < deadline, "no new `{suffix}` in the store after {timeout:?}: {runs:#?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every log line in the runner log group.
    pub fn log_lines(&self) -> Vec<String> {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.config);
        self.runtime.block_on(async {
            let mut lines = Vec::new();
            let mut token = None;
            loop {
                let page =
                    logs.filter_log_events().log_group_name(LOG_GROUP).set_next_token(token).send().await.unwrap();
                lines.extend(page.events().iter().filter_map(|e| e.message().map(str::to_owned)));
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    return lines;
                }
            }
        })
    }
}

async fn set_up(moto: &str, config: &aws_config::SdkConfig) -> (String, String) {
    let http = reqwest::Client::new();
    // Tasks stay RUNNING until stopped (moto otherwise advances them on every DescribeTasks).
    http.post(format!("{moto}/moto-api/state-manager/set-transition"))
        .json(&serde_json::json!({"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1_000_000}}))
        .send()
        .await
        .unwrap();
    http.put(format!("{moto}/{BUCKET}")).send().await.unwrap().error_for_status().unwrap();
    let ecs = aws_sdk_ecs::Client::new(config);
    ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    use aws_sdk_ecs::types::{Compatibility, NetworkMode};
    register_runner(&ecs, TASK_FAMILY, Compatibility::Fargate, NetworkMode::Awsvpc).await;
    aws_sdk_cloudwatchlogs::Client::new(config).create_log_group().log_group_name(LOG_GROUP).send().await.unwrap();
    let ec2 = aws_sdk_ec2::Client::new(config);
    let subnet = ec2.describe_subnets().send().await.unwrap().subnets()[0].subnet_id().unwrap().to_owned();
    let group =
        ec2.describe_security_groups().send().await.unwrap().security_groups()[0].group_id().unwrap().to_owned();
    (subnet, group)
}

/// The runner's task definition as `loadgrid infra` registers it: Fargate's
/// (awsvpc), or the EC2 pool's (host network). The container's own CPU and
/// memory are what moto places tasks on container instances by.
async fn register_runner(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    compatibility: aws_sdk_ecs::types::Compatibility,
    network: aws_sdk_ecs::types::NetworkMode,
) {
    use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
    let log_options: HashMap<String, String> =
        [("awslogs-group", LOG_GROUP), ("awslogs-stream-prefix", LOG_PREFIX), ("awslogs-region", REGION)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    ecs.register_task_definition()
        .family(family)
        .requires_compatibilities(compatibility)
        .network_mode(network)
        .cpu(TASK_CPU)
        .memory(TASK_MEMORY)
        .container_definitions(
            ContainerDefinition::builder()
                .name(CONTAINER)
                .image("loadgrid-runner:test")
                .cpu(1024)
                .memory(2048)
                .essential(true)
                .log_configuration(
                    LogConfiguration::builder()
                        .log_driver(LogDriver::Awslogs)
                        .set_options(Some(log_options))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Plays Fargate's container runtime for the tasks in moto.
pub struct FakeFargate {
    /// The next this many tasks fail to start, stopped with this reason.
    pub fail_next: Arc<Mutex<(usize, String)>>,
    /// Set: the EC2 instances' ECS agents never join the cluster (a bad
    /// `ECS_CLUSTER` or instance role).
    pub ecs_agents_down: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub started: Arc<Mutex<Vec<String>>>,
}

struct RunningAgent {
    child: tokio::process::Child,
    terminated: bool,
}

/// How a task's agent is started: a process, or a container of an image.
struct Runtime {
    agent_env: Vec<(String, String)>,
    image: Option<String>,
    /// Also play the ECS agent of EC2 instances: register each running
    /// instance as a container instance, drop it when it stops.
    ec2_agent: bool,
    /// [`FakeFargate::ecs_agents_down`].
    agents_down: Arc<AtomicBool>,
}

impl Runtime {
    fn command(&self, task_id: &str, env: Vec<(String, String)>, work_dir: &Path) -> tokio::process::Command {
        match &self.image {
            None => {
                let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgrid"));
                command
                    .arg("agent")
                    .envs(env)
                    .envs(self.agent_env.iter().cloned())
                    .env("LOADGRID_WORK_DIR", work_dir.join(task_id));
                command
            }
            // The task definition's settings.
            Some(image) => {
                use loadgrid_infra::runner::{SCRATCH, STOP_TIMEOUT_SECONDS, USER};
                let mut command = tokio::process::Command::new("docker");
                command
                    .args(["run", "--rm", "--name", &format!("fargate-{task_id}"), "--network", "host", "--read-only"])
                    .args(["--tmpfs", &format!("{SCRATCH}:rw,exec,mode=1777"), "--user", &format!("{USER}:{USER}")])
                    .args(["--cap-drop", "ALL", "--stop-timeout", &STOP_TIMEOUT_SECONDS.to_string()])
                    .args(["--label", "loadgrid.fake-fargate=1"]);
                for (name, value) in env {
                    command.args(["--env", &format!("{name}={value}")]);
                }
                command.arg(image);
                command
            }
        }
    }
}

impl FakeFargate {
    /// `agent_env` is added to every agent's environment (e.g. LOADGRID_K6).
    pub fn start(world: &AwsWorld, work_dir: &Path, agent_env: Vec<(String, String)>) -> FakeFargate {
        FakeFargate::launch(world, work_dir, agent_env, None, false)
    }

    /// Runs each task as a container of the runner `image`, with the task
    /// definition's settings, instead of a `loadgrid agent` process.
    pub fn start_image(world: &AwsWorld, image: &str) -> FakeFargate {
        FakeFargate::launch(world, Path::new("/tmp"), Vec::new(), Some(image.to_owned()), false)
    }

    /// As [`FakeFargate::start`], and the ECS agent of the EC2 pool's
    /// instances too: what runs on them is played the same way.
    pub fn start_with_pool(world: &AwsWorld, work_dir: &Path, agent_env: Vec<(String, String)>) -> FakeFargate {
        FakeFargate::launch(world, work_dir, agent_env, None, true)
    }

    fn launch(
        world: &AwsWorld,
        work_dir: &Path,
        agent_env: Vec<(String, String)>,
        image: Option<String>,
        ec2_agent: bool,
    ) -> FakeFargate {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(Mutex::new(Vec::new()));
        let (moto, config, work_dir) = (world.direct.url.clone(), world.config.clone(), work_dir.to_owned());
        let (stop_flag, started_list) = (Arc::clone(&stop), Arc::clone(&started));
        let fail_next: Arc<Mutex<(usize, String)>> = Arc::default();
        let failing = Arc::clone(&fail_next);
        let ecs_agents_down: Arc<AtomicBool> = Arc::default();
        let agents_down = Arc::clone(&ecs_agents_down);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(run_fargate(
                moto,
                config,
                work_dir,
                Runtime { agent_env, image, ec2_agent, agents_down },
                stop_flag,
                started_list,
                failing,
            ));
        });
        FakeFargate { fail_next, ecs_agents_down, stop, thread: Some(thread), started }
    }
}

impl Drop for FakeFargate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn run_fargate(
    moto: String,
    config: aws_config::SdkConfig,
    work_dir: PathBuf,
    agents_runtime: Runtime,
    stop: Arc<AtomicBool>,
    started: Arc<Mutex<Vec<String>>>,
    fail_next: Arc<Mutex<(usize, String)>>,
) {
    let ecs = aws_sdk_ecs::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let metadata = MetadataServer::start().await;
    let (line_sender, line_receiver) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let forwarder = tokio::spawn(forward_logs(logs, line_receiver));
    let mut agents: HashMap<String, RunningAgent> = HashMap::new();
    let mut finished: std::collections::HashSet<String> = Default::default();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let mut registered: HashMap<String, String> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        if agents_runtime.ec2_agent && !agents_runtime.agents_down.load(Ordering::SeqCst) {
            play_ecs_agents(&ec2, &ecs, &mut registered).await;
        }
        let arns = match ecs.list_tasks().cluster(CLUSTER).send().await {
            Ok(listing) => listing.task_arns().to_vec(),
            Err(_) => Vec::new(),
        };
        let known: Vec<String> = arns
            .iter()
            .filter(|arn| !finished.contains(*arn))
            .chain(agents.keys())
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in known.chunks(100) {
            let Ok(described) = ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(chunk.to_vec())).send().await
            else {
                continue;
            };
            for task in described.tasks() {
                let arn = task.task_arn().unwrap_or_default().to_owned();
                let wants_stop = task.desired_status() == Some("STOPPED") || task.last_status() == Some("STOPPED");
                if let Some(agent) = agents.get_mut(&arn) {
                    if wants_stop && !agent.terminated {
                        // What ECS does on StopTask: SIGTERM, then SIGKILL after the stop timeout.
                        if let Some(pid) = agent.child.id() {
                            let _ = nix::sys::signal::kill(
                                nix::unistd::Pid::from_raw(pid as i32),
                                nix::sys::signal::Signal::SIGTERM,
                            );
                        }
                        agent.terminated = true;
                    }
                    continue;
                }
                if wants_stop || finished.contains(&arn) {
                    continue;
                }
                let failure = {
                    let mut fail = fail_next.lock().unwrap();
                    (fail.0 > 0).then(|| {
                        fail.0 -= 1;
                        fail.1.clone()
                    })
                };
                if let Some(reason) = failure {
                    finished.insert(arn.clone());
                    let _ = ecs.stop_task().cluster(CLUSTER).task(&arn).reason(reason).send().await;
                    continue;
                }
                let task_id = arn.rsplit('/').next().unwrap().to_owned();
                // The task's size, as Fargate's metadata endpoint gives it: vCPUs and MiB.
                // A RunTask override wins over the task definition's size.
                let size = |over: Option<&str>, own: Option<&str>, default: &str| {
                    over.or(own).unwrap_or(default).parse::<f64>().unwrap()
                };
                let overrides = task.overrides();
                let limits = serde_json::json!({
                    "CPU": size(overrides.and_then(|o| o.cpu()), task.cpu(), TASK_CPU) / 1024.0,
                    "Memory": size(overrides.and_then(|o| o.memory()), task.memory(), TASK_MEMORY) as u64,
                });
                metadata.register(&task_id, serde_json::json!({"TaskARN": arn, "Limits": limits}));
                let env: Vec<(String, String)> = task
                    .overrides()
                    .map(|o| o.container_overrides())
                    .unwrap_or_default()
                    .iter()
                    .flat_map(|c| c.environment())
                    .filter_map(|kv| Some((kv.name()?.to_owned(), kv.value()?.to_owned())))
                    .collect();
                let mut env = env;
                // Tasks on the EC2 pool share the host network and say so
                // (port 0); a Fargate task has its own, 6565 is free.
                if !env.iter().any(|(name, _)| name == "LOADGRID_K6_ADDRESS") {
                    let k6_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
                    env.push(("LOADGRID_K6_ADDRESS".to_owned(), format!("127.0.0.1:{k6_port}")));
                }
                env.extend([
                    ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
                    ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
                    ("AWS_ENDPOINT_URL".to_owned(), moto.clone()),
                    ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
                    ("ECS_CONTAINER_METADATA_URI_V4".to_owned(), format!("{}/{task_id}", metadata.url)),
                ]);
                let mut command = agents_runtime.command(&task_id, env, &work_dir);
                command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
                let Ok(mut child) = command.spawn() else { continue };
                let stream = format!("{LOG_PREFIX}/{CONTAINER}/{task_id}");
                for output in [
                    child.stdout.take().map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                    child.stderr.take().map(|e| Box::new(e) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                ]
                .into_iter()
                .flatten()
                {
                    let (sender, stream) = (line_sender.clone(), stream.clone());
                    tokio::spawn(async move {
                        use tokio::io::AsyncBufReadExt;
                        let mut lines = tokio::io::BufReader::new(output).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            let _ = sender.send((stream.clone(), line));
                        }
                    });
                }
                started.lock().unwrap().push(arn.clone());
                agents.insert(arn, RunningAgent { child, terminated: false });
            }
        }
        let mut exited = Vec::new();
        for (arn, agent) in agents.iter_mut() {
            if let Ok(Some(_)) = agent.child.try_wait() {
                exited.push(arn.clone());
            }
        }
        for arn in exited {
            agents.remove(&arn);
            finished.insert(arn.clone());
            let _ =
                ecs.stop_task().cluster(CLUSTER).task(&arn).reason("Essential container in task exited").send().await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    for (_, mut agent) in agents {
        let _ = agent.child.kill().await;
    }
    if agents_runtime.image.is_some() {
        // Killing `docker run` leaves its container running.
        let listed = tokio::process::Command::new("docker")
            .args(["ps", "-q", "--filter", "label=loadgrid.fake-fargate=1"])
            .output()
            .await;
        if let Ok(listed) = listed {
            let ids: Vec<String> = String::from_utf8_lossy(&listed.stdout).lines().map(str::to_owned).collect();
            if !ids.is_empty() {
                let _ = tokio::process::Command::new("docker").arg("kill").args(&ids).output().await;
            }
        }
    }
    drop(line_sender);
    let _ = tokio::time::timeout(Duration::from_secs(5), forwarder).await;
}

/// What the ECS agent on each EC2 instance does: a running instance joins
/// the cluster as a container instance; a stopped one leaves it (ECS keeps
/// a stopped instance registered but disconnected, which moto cannot
/// show, so the harness deregisters it).
async fn play_ecs_agents(
    ec2: &aws_sdk_ec2::Client,
    ecs: &aws_sdk_ecs::Client,
    registered: &mut HashMap<String, String>,
) {
    let Ok(described) = ec2.describe_instances().send().await else { return };
    for instance in described.reservations().iter().flat_map(|r| r.instances()) {
        let Some(id) = instance.instance_id() else { continue };
        let running = instance.state().and_then(|s| s.name()) == Some(&aws_sdk_ec2::types::InstanceStateName::Running);
        match (running, registered.get(id)) {
            (true, None) => {
                let document = serde_json::json!({ "instanceId": id }).to_string();
                let joined = ecs
                    .register_container_instance()
                    .cluster(CLUSTER)
                    .instance_identity_document(document)
                    .send()
                    .await;
                if let Some(arn) =
                    joined.ok().and_then(|j| j.container_instance()?.container_instance_arn().map(str::to_owned))
                {
                    registered.insert(id.to_owned(), arn);
                }
            }
            (false, Some(arn)) => {
                let _ = ecs
                    .deregister_container_instance()
                    .cluster(CLUSTER)
                    .container_instance(arn)
                    .force(true)
                    .send()
                    .await;
                registered.remove(id);
            }
            _ => {}
        }
    }
}

/// Batches agent output into PutLogEvents, like the awslogs driver.
async fn forward_logs(
    logs: aws_sdk_cloudwatchlogs::Client,
    mut lines: tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    let mut created: std::collections::HashSet<String> = Default::default();
    loop {
        let mut batch: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let first = lines.recv().await;
        let Some((stream, line)) = first else { return };
        batch.entry(stream).or_default().push(line);
        while let Ok((stream, line)) = lines.try_recv() {
            batch.entry(stream).or_default().push(line);
        }
        for (stream, messages) in batch {
            if created.insert(stream.clone()) {
                let _ = logs.create_log_stream().log_group_name(LOG_GROUP).log_stream_name(&stream).send().await;
            }
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
            let events = messages.into_iter().map(|m| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(now).message(m).build().unwrap()
            });
            let _ = logs
                .put_log_events()
                .log_group_name(LOG_GROUP)
                .log_stream_name(&stream)
                .set_log_events(Some(events.collect()))
                .send()
                .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ECS task metadata endpoint (v4): `GET /<task-id>/task` →
/// `{"TaskARN": ..., "Limits": {"CPU": vCPUs, "Memory": MiB}}`.
struct MetadataServer {
    url: String,
    tasks: Arc<Mutex<HashMap<String, serde_json::Value>>>,
}

impl MetadataServer {
    async fn start() -> MetadataServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tasks: Arc<Mutex<HashMap<String, serde_json::Value>>> = Arc::default();
        let shared = Arc::clone(&tasks);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let tasks = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let id = request.uri().path().trim_start_matches('/').trim_end_matches("/task").to_owned();
                        let task = tasks.lock().unwrap().get(&id).cloned();
                        async move {
                            let response = match task {
                                Some(task) => Response::new(Full::new(Bytes::from(task.to_string()))),
                                None => Response::builder().status(404).body(Full::new(Bytes::new())).unwrap(),
                            };
                            Ok::<_, hyper::Error>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        MetadataServer { url, tasks }
    }

    fn register(&self, task_id: &str, task: serde_json::Value) {
        self.tasks.lock().unwrap().insert(task_id.to_owned(), task);
    }
}

/// Raw calls to moto for the services the tests have no SDK crate for
/// (S3 bucket settings, IAM, ECR, SNS, CloudWatch). moto routes a request
/// by the service its signature names and does not check the signature.
impl AwsWorld {
    fn raw(&self, service: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        raw_request(&self.moto.url, service, method, path)
    }

    fn send(&self, what: &str, request: reqwest::RequestBuilder) -> String {
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(status.is_success(), "{what}: {status}\n{text}");
            text
        })
    }

    /// A query-protocol call (IAM, SNS, CloudWatch); returns the XML answer.
    pub fn query(&self, service: &str, action: &str, params: &[(&str, &str)]) -> String {
        let mut form = vec![("Action", action)];
        form.extend_from_slice(params);
        self.send(&format!("{service}:{action}"), self.raw(service, reqwest::Method::POST, "/").form(&form))
    }

    /// A JSON-protocol call (ECR): `target` is the `X-Amz-Target` header.
    pub fn json_rpc(&self, service: &str, target: &str, body: serde_json::Value) -> serde_json::Value {
        let request = self
            .raw(service, reqwest::Method::POST, "/")
            .header("x-amz-target", target)
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string());
        serde_json::from_str(&self.send(target, request)).unwrap()
    }

    /// A path-style S3 `PUT`, e.g. `/bucket?versioning` with its XML body.
    pub fn s3_put(&self, path: &str, body: &str) {
        self.send(&format!("s3 PUT {path}"), self.raw("s3", reqwest::Method::PUT, path).body(body.to_owned()));
    }
}

/// A request to moto that names `service` in an (unchecked) signature.
fn raw_request(moto: &str, service: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let scope = format!("test/20250101/{REGION}/{service}/aws4_request");
    reqwest::Client::new()
        .request(method, format!("{moto}{path}"))
        .header("authorization", format!("AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"))
}

/// The text of the first `<tag>` in an XML answer.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].to_owned())
}

/// moto has no CloudWatch over Smithy RPC v2 CBOR, the only protocol the
/// Rust SDK's CloudWatch client speaks. This answers its `GetDashboard` in
/// CBOR from moto's own dashboards (read over the query protocol); other
/// operations are refused. `loadgrid` uses it through
/// `AWS_ENDPOINT_URL_CLOUDWATCH`, which wins over `AWS_ENDPOINT_URL`.
impl AwsWorld {
    pub fn cloudwatch_cbor_endpoint(&self) -> String {
        let listener = self.runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let moto = self.moto.url.clone();
        self.runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let moto = moto.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let moto = moto.clone();
                        async move { Ok::<_, hyper::Error>(get_dashboard_in_cbor(request, &moto).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        url
    }
}

async fn get_dashboard_in_cbor(request: Request<Incoming>, moto: &str) -> Response<Full<Bytes>> {
    let answer = |status: u16, error: Option<&str>, pairs: &[(&str, &str)]| {
        let mut response = Response::builder()
            .status(status)
            .header("smithy-protocol", "rpc-v2-cbor")
            .header("content-type", "application/cbor");
        if let Some(code) = error {
            response = response.header("x-amzn-query-error", format!("{code};Sender"));
        }
        response.body(Full::new(Bytes::from(cbor_map(pairs)))).unwrap()
    };
    if !request.uri().path().ends_with("/operation/GetDashboard") {
        let message = format!("the test harness answers GetDashboard only, not {}", request.uri().path());
        return answer(400, Some("NotImplemented"), &[("__type", "NotImplemented"), ("message", &message)]);
    }
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let name = cbor_text_after(&body, "DashboardName").unwrap_or_default();
    let request = raw_request(moto, "monitoring", reqwest::Method::POST, "/")
        .form(&[("Action", "GetDashboard"), ("DashboardName", name.as_str())]);
    let response = request.send().await.unwrap();
    let found = response.status().is_success();
    let xml = response.text().await.unwrap_or_default();
    if found {
        let arn = xml_text(&xml, "DashboardArn").unwrap_or_default();
        answer(200, None, &[("DashboardName", &name), ("DashboardArn", &arn)])
    } else {
        let code = xml_text(&xml, "Code").unwrap_or_else(|| "InternalServiceError".into());
        let message = xml_text(&xml, "Message").unwrap_or_default();
        answer(400, Some(&code), &[("__type", &code), ("message", &message)])
    }
}

/// A CBOR map of text strings (fewer than 24 pairs).
fn cbor_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![0xa0 | u8::try_from(pairs.len()).unwrap()];
    for text in pairs.iter().flat_map(|(key, value)| [key, value]) {
        match text.len() {
            len @ 0..=23 => out.push(0x60 | len as u8),
            len @ 24..=255 => out.extend([0x78, len as u8]),
            len => {
                out.push(0x79);
                out.extend(u16::try_from(len).unwrap().to_be_bytes());
            }
        }
        out.extend(text.as_bytes());
    }
    out
}

/// The text string that follows the text `key` in a CBOR map.
fn cbor_text_after(body: &[u8], key: &str) -> Option<String> {
    let at = body.windows(key.len()).position(|w| w == key.as_bytes())? + key.len();
    let (len, start) = match *body.get(at)? {
        header @ 0x60..=0x77 => (usize::from(header - 0x60), at + 1),
        0x78 => (usize::from(*body.get(at + 1)?), at + 2),
        0x79 => (usize::from(u16::from_be_bytes([*body.get(at + 1)?, *body.get(at + 2)?])), at + 3),
        _ => return None,
    };
    String::from_utf8(body.get(start..start + len)?.to_vec()).ok()
}
