//! How the runner container runs, wherever it runs: the ECS task
//! definition and the docker backend both take these.

/// Where the release pipeline publishes the runner image, multi-arch,
/// tagged with loadgrid's version.
pub const PUBLIC_REPOSITORY: &str = "ghcr.io/loadgrid/loadgrid-runner";

/// The released runner image of this loadgrid's version.
pub fn public_image() -> String {
    format!("{PUBLIC_REPOSITORY}:{}", env!("CARGO_PKG_VERSION"))
}

/// The unprivileged user the runner image is built with.
pub const USER: &str = "10001";
/// Where the runner writes (its root filesystem is read-only).
pub const SCRATCH: &str = "/tmp";
/// Seconds between SIGTERM and SIGKILL when a task is stopped: an agent
/// saves what it measured first.
pub const STOP_TIMEOUT_SECONDS: u32 = 60;
/// Open files per task: every VU's connections are file descriptors.
pub const NOFILE: u32 = 1_048_576;
