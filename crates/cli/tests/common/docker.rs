//! The runner image, built for real as `loadgrid image build` builds it:
//! this loadgrid and the suite's k6 on the offline base image that
//! `scripts/base-image` makes from Debian's packages. Docker's layer cache
//! makes every build after the first take seconds.

use std::process::Command;

use super::Grid;

/// What `scripts/base-image` tags.
pub const BASE_IMAGE: &str = "loadgrid-base:bookworm";
/// The image the docker tests run.
pub const RUNNER_IMAGE: &str = "loadgrid-runner:suite";

/// Builds [`RUNNER_IMAGE`]. The docker tests never skip: without an engine
/// or the base image they fail and say what to do.
pub fn runner_image(grid: &Grid) -> &'static str {
    let engine = Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]).output();
    assert!(
        engine.is_ok_and(|output| output.status.success()),
        "no Docker engine answers: the docker tests need one (start Docker, or set DOCKER_HOST)"
    );
    let base = Command::new("docker").args(["image", "inspect", BASE_IMAGE]).output().unwrap();
    assert!(base.status.success(), "no {BASE_IMAGE} image: run `scripts/base-image` (scripts/test does)");
    grid.run(&["image", "build", "--base-image", BASE_IMAGE, "--tag", RUNNER_IMAGE]).exit(0);
    RUNNER_IMAGE
}

/// `docker inspect` of a container, as JSON.
pub fn inspect(name: &str) -> serde_json::Value {
    let output = Command::new("docker").args(["inspect", name]).output().unwrap();
    assert!(output.status.success(), "docker inspect {name}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()[0].clone()
}

/// The names of the running containers of a run.
pub fn containers_of(run_id: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args(["ps", "--filter", &format!("label=loadgrid.run={run_id}"), "--format", "{{.Names}}"])
        .output()
        .unwrap();
    let mut names: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    names.sort();
    names
}
