//! `loadgrid image build|push`: the runner image (the official k6 plus
//! `loadgrid`, `loadgrid agent` as entrypoint) with the docker CLI; the ECR
//! login comes from the SDK, so SSO and OIDC credentials work.

use std::io::Write;
use std::process::{Command, Stdio};

use loadgrid_grid::input_error;

use crate::cli::{ImageArgs, ImageCommand};
use crate::settings::Settings;

const DOCKERFILE: &str = "docker/Dockerfile";

pub async fn run(settings: &Settings, command: ImageCommand) -> anyhow::Result<i32> {
    match command {
        ImageCommand::Build(args) => {
            let tag = image_tag(settings, &args).await?;
            build(&args, &tag)?;
            Ok(0)
        }
        ImageCommand::Push(args) => {
            let tag = image_tag(settings, &args).await?;
            check_docker_engine()?;
            let aws = settings.aws().await?;
            let login = loadgrid_aws::ecr::login(&aws).await?;
            let registry = login.endpoint.trim_start_matches("https://").to_owned();
            let mut docker = Command::new("docker")
                .args(["login", "--username", &login.username, "--password-stdin", &registry])
                .stdin(Stdio::piped())
                .spawn()
                .map_err(|e| input_error(format!("cannot run docker: {e}")))?;
            docker.stdin.take().expect("piped").write_all(login.password.as_bytes())?;
            if !docker.wait()?.success() {
                anyhow::bail!(
                    "docker login to {registry} failed (docker's output above says why); the credentials need \
                     `ecr:GetAuthorizationToken`"
                );
            }
            step(Command::new("docker").args(["push", &tag]), "docker push")?;
            eprintln!("pushed {tag}");
            Ok(0)
        }
    }
}

/// `--tag`, else the stack's repository with this loadgrid's version.
async fn image_tag(settings: &Settings, args: &ImageArgs) -> anyhow::Result<String> {
    if let Some(tag) = &args.tag {
        return Ok(tag.clone());
    }
    let version = env!("CARGO_PKG_VERSION");
    if let Some(stack) = &settings.config.ecs.stack {
        let aws = settings.aws().await?;
        let outputs = loadgrid_aws::stack::outputs(&aws, stack).await?;
        if let Some(repository) = outputs.get("RepositoryUri") {
            return Ok(format!("{repository}:{version}"));
        }
    }
    Ok(format!("loadgrid-runner:{version}"))
}

fn build(args: &ImageArgs, tag: &str) -> anyhow::Result<()> {
    let dockerfile = args.context.join(DOCKERFILE);
    if !dockerfile.is_file() {
        return Err(input_error(format!(
            "no {} under `{}`: run from the loadgrid source tree or pass --context",
            DOCKERFILE,
            args.context.display()
        )));
    }
    check_docker_engine()?;
    let mut command = Command::new("docker");
    command.arg("build").arg("-f").arg(&dockerfile).args(["-t", tag]);
    if let Some(k6_image) = &args.k6_image {
        command.args(["--build-arg", &format!("K6_IMAGE={k6_image}")]);
    }
    command.arg(&args.context);
    step(&mut command, "docker build")?;
    eprintln!("built {tag}");
    Ok(())
}

/// The docker CLI alone cannot build: it needs a reachable engine.
fn check_docker_engine() -> anyhow::Result<()> {
    let output = Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]).output();
    match output {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(input_error(format!(
            "no docker engine is reachable ({}). Next step: start Docker (Engine 23+ with BuildKit), or set DOCKER_HOST",
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("no answer").trim()
        ))),
        Err(error) => Err(input_error(format!("cannot run the docker CLI: {error}. Next step: install Docker"))),
    }
}

fn step(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command.status().map_err(|e| anyhow::anyhow!("cannot run {what}: {e}"))?;
    if !status.success() {
        anyhow::bail!("{what} failed ({status}); its output above says why");
    }
    Ok(())
}
