//! `loadgrid infra` against a real moto server: bad configs are refused
//! before any AWS call, and a deploy creates the stack and points
//! loadgrid.toml at it. moto drops most resource properties, so their
//! fidelity is asserted on the template (crates/infra), not here.

mod common;

use common::aws::{AwsWorld, REGION};
use common::{Grid, Outcome};

struct Infra {
    grid: Grid,
    world: AwsWorld,
}

impl Infra {
    fn new(config: &str) -> Infra {
        let infra = Infra { grid: Grid::new(), world: AwsWorld::new() };
        infra.write_config(config);
        infra
    }

    fn write_config(&self, config: &str) {
        std::fs::write(self.grid.path("loadgrid.toml"), config).unwrap();
    }

    fn config(&self) -> String {
        std::fs::read_to_string(self.grid.path("loadgrid.toml")).unwrap()
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let mut command = self.grid.command(args);
        command.envs(self.world.env());
        Outcome::from(command.output().unwrap())
    }

    fn stack_status(&self, name: &str) -> Option<String> {
        let client = aws_sdk_cloudformation::Client::new(&self.world.config);
        let response = self.world.runtime.block_on(client.describe_stacks().stack_name(name).send()).ok()?;
        response.stacks().first()?.stack_status().map(|s| s.as_str().to_owned())
    }
}

#[test]
fn bad_infra_configs_are_refused_before_any_aws_call() {
    let cases = [
        ("[infra]\nnetwork = \"vpn\"\n", "unknown network mode `vpn`"),
        ("[infra]\nnetwork = \"existing\"\n", "needs `subnets"),
        ("[infra.ci]\nrepository = \"acme/shop/extra\"\n", "expected `owner/repo`"),
        ("[infra.ci]\nrepository = \"acme\"\n", "expected `owner/repo`"),
        ("[infra.names]\nbucket = \"K6_Artifacts_{account}\"\n", "not a valid S3 bucket name"),
        ("[infra.names]\nrepository = \"K6 Runner\"\n", "not a valid ECR repository name"),
    ];
    let infra = Infra::new("");
    for (config, message) in cases {
        infra.write_config(config);
        for command in [&["infra", "deploy", "--yes"][..], &["infra", "template"], &["infra", "doctor"]] {
            let outcome = infra.run(command);
            outcome.exit(2).stderr_contains(message);
            assert!(outcome.stderr.contains("[infra]"), "the error names the section: {}", outcome.stderr);
        }
    }
    assert!(infra.world.proxy.calls().is_empty(), "no AWS call: {:?}", infra.world.proxy.calls());
}

#[test]
fn template_needs_no_aws_at_all() {
    let grid = Grid::new();
    std::fs::write(grid.path("loadgrid.toml"), "[infra]\nnetwork = \"static-ip\"\n").unwrap();
    let mut command = grid.command(&["--region", "eu-west-1", "infra", "template", "--format", "json"]);
    command.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_PROFILE");
    let outcome = Outcome::from(command.output().unwrap());
    let template = outcome.exit(0).json();
    assert_eq!(template["Resources"]["NatGatewayA"]["Type"], "AWS::EC2::NatGateway");
    assert!(template["Outputs"]["EgressIps"].is_object());
}

#[test]
fn the_terraform_module_is_written_into_its_own_directory_and_never_over_a_users_file() {
    let grid = Grid::new();
    let module = grid.path("infra/loadgrid");
    let template = |config: &str, out: &std::path::Path| {
        std::fs::write(grid.path("loadgrid.toml"), config).unwrap();
        let out = out.display().to_string();
        let mut command =
            grid.command(&["--region", "eu-west-1", "infra", "template", "--format", "terraform", "--out", &out]);
        command.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_PROFILE");
        Outcome::from(command.output().unwrap())
    };
    let files = |dir: &std::path::Path| {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    template("[infra]\nnetwork = \"public\"\ncapacity = \"ec2\"\n", &module)
        .exit(0)
        .stderr_contains(&format!("wrote the Terraform module to {}", module.display()));
    let all = [
        "alerts.tf",
        "capacity.tf",
        "compute.tf",
        "main.tf",
        "network.tf",
        "outputs.tf",
        "storage.tf",
        "variables.tf",
        "versions.tf",
    ];
    assert_eq!(files(&module), all);
    assert!(std::fs::read_to_string(module.join("capacity.tf"))
        .unwrap()
        .contains("resource \"aws_instance\" \"pool_instance_1\""));
    // Without the pool, its file goes: the module never keeps what the spec no longer has.
    template("[infra]\nnetwork = \"public\"\n", &module).exit(0);
    assert!(!files(&module).contains(&"capacity.tf".to_owned()), "{:?}", files(&module));
    // A team's own file is never replaced: nothing is written.
    let theirs = grid.path("theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("main.tf"), "# our root module\n").unwrap();
    template("", &theirs).exit(2).stderr_contains(&format!(
        "`{}` was not written by loadgrid: nothing was written. Next step: --out an empty directory, or one holding \
         only the module loadgrid generated",
        theirs.join("main.tf").display()
    ));
    assert_eq!(files(&theirs), ["main.tf"]);
    assert_eq!(std::fs::read_to_string(theirs.join("main.tf")).unwrap(), "# our root module\n");
    let mut command = grid.command(&["--region", "eu-west-1", "infra", "template", "--format", "terraform"]);
    Outcome::from(command.output().unwrap())
        .exit(2)
        .stderr_contains("a Terraform module is several files: pass --out DIR");
}

#[test]
fn deploy_creates_the_stack_and_the_next_ecs_command_finds_it() {
    let infra = Infra::new("# the team's settings\n[run]\nshards = 2\n\n[infra]\nlog_retention_days = 14\n");

    let diff = infra.run(&["infra", "diff"]);
    diff.exit(0);
    assert!(diff.stdout.contains("does not exist") && diff.stdout.contains("+ ArtifactsBucket"), "{}", diff.stdout);
    assert_eq!(infra.stack_status("loadgrid"), None, "diff changes nothing");

    // Without a terminal, deploy does nothing unless told --yes.
    infra.run(&["infra", "deploy"]).exit(2).stderr_contains("--yes");
    assert_eq!(infra.stack_status("loadgrid"), None);

    let deploy = infra.run(&["infra", "deploy", "--yes"]);
    deploy.exit(0);
    assert!(deploy.stderr.contains("+ Cluster"), "the change set is shown: {}", deploy.stderr);
    assert!(deploy.stderr.contains("CREATE_COMPLETE"), "stack events are followed: {}", deploy.stderr);
    assert_eq!(infra.stack_status("loadgrid").as_deref(), Some("CREATE_COMPLETE"));
    // The default VPC's subnets were looked up and passed as parameters.
    assert!(infra.world.proxy.count("query:DescribeSubnets") >= 1);

    // loadgrid.toml now points at the stack, its comments and settings kept.
    let config = infra.config();
    assert!(config.contains("# the team's settings") && config.contains("shards = 2"), "{config}");
    assert!(config.contains("store = \"s3://loadgrid-"), "{config}\n{}", deploy.stderr);
    assert!(config.contains(&format!("-{REGION}\"")), "{config}");
    assert!(config.contains("[ecs]\nstack = \"loadgrid\""), "{config}");

    let outputs = infra.run(&["infra", "outputs", "--format", "json"]);
    let outputs = outputs.exit(0).json();
    assert_eq!(outputs["Cluster"], "loadgrid");
    // What `run` needs to place tasks, even where CloudFormation reported
    // no outputs (moto): the subnets from the deploy's parameters.
    assert!(outputs["Subnets"].as_str().is_some_and(|s| s.starts_with("subnet-")), "{outputs}");
    assert_eq!(outputs["AssignPublicIp"], "ENABLED");
    assert!(outputs["Bucket"].as_str().unwrap().starts_with("loadgrid-"), "{outputs}");
    let env = infra.run(&["infra", "outputs", "--format", "env"]);
    assert!(env.exit(0).stdout.contains("LOADGRID_STORE=s3://loadgrid-"), "{}", env.stdout);
    infra.run(&["infra", "status"]).exit(0);

    // The ECS commands read the cluster from the stack: no copying.
    let before = infra.world.proxy.count("ecs:ListTasks");
    infra.run(&["ps", "--json"]).exit(0);
    assert!(infra.world.proxy.count("ecs:ListTasks") > before, "ps listed the stack's cluster");
    // A run finds everything it needs in the stack, subnets included.
    let script = infra
        .grid
        .script("one.js", "export const options = { vus: 1, iterations: 1 };\nexport default function () {}\n");
    infra
        .run(&["run", &script, "--backend", "ecs", "--shards", "1", "--detach"])
        .exit(0)
        .stderr_contains("`one` on 1 ecs shard (k6");
    assert_eq!(infra.world.proxy.count("ecs:RunTask"), 1);
    infra.run(&["stop", "--all"]).exit(0);

    let destroy = infra.run(&["infra", "destroy", "--yes"]);
    destroy.exit(0).stderr_contains("kept bucket loadgrid-");
    assert_eq!(infra.stack_status("loadgrid").filter(|s| s != "DELETE_COMPLETE"), None);
}
