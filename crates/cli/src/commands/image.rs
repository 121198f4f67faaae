//! `loadgrid image build|push`: the runner image (the official k6 plus
//! `loadgrid`, `loadgrid agent` as entrypoint) with the docker CLI; the ECR
//! login comes from the SDK, so SSO and OIDC credentials work.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use loadgrid_grid::input_error;

use anyhow::Context;

use crate::cli::{ImageArgs, ImageBuildArgs, ImageCommand};
use crate::settings::Settings;

/// The Dockerfile, built into loadgrid: an installed loadgrid builds its
/// image without the source tree.
const DOCKERFILE: &str = include_str!("../../../../docker/Dockerfile");
/// What `loadgrid image build` tags without a stack, and what the docker
/// backend runs by default.
pub const LOCAL_REPOSITORY: &str = "loadgrid-runner";

pub async fn run(settings: &Settings, command: ImageCommand) -> anyhow::Result<i32> {
    match command {
        ImageCommand::Build(args) => {
            let tag = image_tag(settings, &args.image).await?;
            build(settings, &args, &tag)?;
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
    Ok(format!("{LOCAL_REPOSITORY}:{version}"))
}

fn build(settings: &Settings, args: &ImageBuildArgs, tag: &str) -> anyhow::Result<()> {
    let loadgrid = match &args.loadgrid {
        Some(path) => path.clone(),
        None => std::env::current_exe()?,
    };
    let k6 = match &args.k6 {
        Some(path) => path.clone(),
        None => settings.k6()?.path,
    };
    let arch = linux_arch(&loadgrid, "loadgrid", "--loadgrid")?;
    let k6_arch = linux_arch(&k6, "k6", "--k6")?;
    if k6_arch != arch {
        return Err(input_error(format!(
            "`{}` is for {k6_arch} but `{}` is for {arch}: one image holds binaries of one architecture. Next step: \
             pass --k6 for {arch}",
            k6.display(),
            loadgrid.display()
        )));
    }
    check_docker_engine()?;
    let context = tempfile::Builder::new().prefix("loadgrid-image-").tempdir()?;
    std::fs::write(context.path().join("Dockerfile"), DOCKERFILE)?;
    let bin = context.path().join("bin").join(arch);
    std::fs::create_dir_all(&bin)?;
    std::fs::copy(&k6, bin.join("k6")).with_context(|| format!("cannot copy `{}`", k6.display()))?;
    stage_loadgrid(&loadgrid, &bin.join("loadgrid"))?;
    let mut command = Command::new("docker");
    command.arg("build").args(["-t", tag, "--build-arg", &format!("TARGETARCH={arch}")]);
    if let Some(base) = &args.base_image {
        command.args(["--build-arg", &format!("BASE_IMAGE={base}")]);
    }
    command.arg(context.path());
    step(&mut command, "docker build")?;
    eprintln!("built {tag} (loadgrid from `{}`, k6 from `{}`)", loadgrid.display(), k6.display());
    Ok(())
}

/// Copies loadgrid into the image's context without its debug info: a
/// development build carries hundreds of MB of it, which no task needs.
fn stage_loadgrid(from: &Path, to: &Path) -> anyhow::Result<()> {
    let stripped = Command::new("objcopy")
        .args(["--strip-debug"])
        .arg(from)
        .arg(to)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !stripped {
        std::fs::copy(from, to).with_context(|| format!("cannot copy `{}`", from.display()))?;
    }
    Ok(())
}

/// Docker's name for the architecture of a Linux executable (`amd64`,
/// `arm64`), read from its ELF header: the image runs it on Linux whatever
/// this machine is.
fn linux_arch(path: &Path, what: &str, flag: &str) -> anyhow::Result<&'static str> {
    let mut header = [0u8; 20];
    let read = std::fs::File::open(path).and_then(|mut file| {
        use std::io::Read;
        file.read_exact(&mut header)
    });
    if let Err(error) = read {
        return Err(input_error(format!(
            "cannot read {what} at `{}`: {error}. Next step: pass {flag}",
            path.display()
        )));
    }
    // e_machine, little-endian, at offset 18 of a 64-bit ELF header.
    let machine = u16::from_le_bytes([header[18], header[19]]);
    match (&header[..4] == b"\x7fELF", header[4], machine) {
        (true, 2, 62) => Ok("amd64"),
        (true, 2, 183) => Ok("arm64"),
        _ => Err(input_error(format!(
            "`{}` is not a 64-bit x86 or ARM Linux executable, and the runner image runs {what} on Linux. Next \
             step: pass {flag} with the Linux build (the release's `{what}` for x86_64 or aarch64 Linux)",
            path.display()
        ))),
    }
}

fn check_docker_engine() -> anyhow::Result<()> {
    loadgrid_grid::backend::docker::check_engine("`loadgrid image`").map_err(input_error)
}

fn step(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command.status().map_err(|e| anyhow::anyhow!("cannot run {what}: {e}"))?;
    if !status.success() {
        anyhow::bail!("{what} failed ({status}); its output above says why");
    }
    Ok(())
}
