//! The GitHub Action's install step (`action/install-loadgrid.sh`), run as
//! a runner runs it (a fake `GITHUB_OUTPUT`, `RUNNER_OS`, `RUNNER_ARCH`)
//! against a local HTTP server that serves a release the way GitHub does:
//! `<tag>/loadgrid-<target>.tar.xz` and its `.sha256`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Outcome;

const TAG: &str = "v0.1.0";
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// A release directory served on loopback, and a runner's temp directory.
struct Release {
    dir: tempfile::TempDir,
    server: Child,
    url: String,
}

impl Release {
    /// This loadgrid, packed as the release pipeline packs it.
    fn new() -> Release {
        let dir = tempfile::tempdir().unwrap();
        let release = dir.path().join("releases").join(TAG);
        let packed = release.join(format!("loadgrid-{TARGET}"));
        std::fs::create_dir_all(&packed).unwrap();
        let binary = packed.join("loadgrid");
        let stripped = Command::new("objcopy")
            .args(["--strip-debug", env!("CARGO_BIN_EXE_loadgrid")])
            .arg(&binary)
            .status()
            .unwrap();
        assert!(stripped.success(), "objcopy (binutils) strips the test binary");
        let archive = format!("loadgrid-{TARGET}.tar.xz");
        let packing = Command::new("tar")
            .args(["-c", "-I", "xz -0 -T0", "-f", &archive, &format!("loadgrid-{TARGET}")])
            .current_dir(&release)
            .status()
            .unwrap();
        assert!(packing.success());
        std::fs::remove_dir_all(&packed).unwrap();
        let sum = Command::new("sha256sum").arg(&archive).current_dir(&release).output().unwrap();
        std::fs::write(release.join(format!("{archive}.sha256")), sum.stdout).unwrap();

        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
            .arg(dir.path().join("releases"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the release server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::create_dir(dir.path().join("runner-temp")).unwrap();
        Release { dir, server, url }
    }

    fn archive(&self) -> PathBuf {
        self.dir.path().join("releases").join(TAG).join(format!("loadgrid-{TARGET}.tar.xz"))
    }

    fn runner_temp(&self) -> PathBuf {
        self.dir.path().join("runner-temp")
    }

    fn github_output(&self) -> PathBuf {
        self.dir.path().join("github-output")
    }

    /// The install step on a runner with this OS and architecture.
    fn install(&self, version: &str, os: &str, arch: &str) -> Outcome {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../action/install-loadgrid.sh");
        let output = Command::new("bash")
            .arg(script)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("LOADGRID_VERSION", version)
            .env("LOADGRID_RELEASES_URL", &self.url)
            .env("RUNNER_OS", os)
            .env("RUNNER_ARCH", arch)
            .env("RUNNER_TEMP", self.runner_temp())
            .env("GITHUB_OUTPUT", self.github_output())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Outcome::from(output)
    }

    fn outputs(&self) -> String {
        std::fs::read_to_string(self.github_output()).unwrap_or_default()
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

#[test]
fn the_action_installs_the_release_for_its_runner_and_says_where() {
    let release = Release::new();
    let outcome = release.install(TAG, "Linux", "X64");
    outcome.exit(0);
    let installed = release.runner_temp().join(format!("loadgrid-{TAG}/loadgrid"));
    assert_eq!(release.outputs(), format!("path={}\n", installed.display()));
    let version = Command::new(&installed).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout), format!("loadgrid {}\n", env!("CARGO_PKG_VERSION")));
    assert!(outcome.stdout.contains(&format!("loadgrid {}", env!("CARGO_PKG_VERSION"))), "{}", outcome.stdout);
}

#[test]
fn a_tampered_archive_is_refused_and_nothing_is_installed() {
    let release = Release::new();
    let mut bytes = std::fs::read(release.archive()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(release.archive(), bytes).unwrap();

    release.install(TAG, "Linux", "X64").exit(1).stderr_contains(&format!(
        "::error title=loadgrid install::loadgrid-{TARGET}.tar.xz does not match its published SHA-256"
    ));
    assert_eq!(release.outputs(), "", "no path is given to later steps");
    assert!(!release.runner_temp().join(format!("loadgrid-{TAG}")).exists(), "nothing was unpacked");
}

#[test]
fn runners_and_refs_without_a_release_get_the_way_out() {
    let release = Release::new();
    release.install(TAG, "Windows", "X64").exit(1).stderr_contains(
        "no loadgrid release for Windows on X64: releases are for Linux and macOS on X64 and ARM64; set `source: \
         true` to build from the action's checkout",
    );
    release.install("main", "Linux", "X64").exit(1).stderr_contains(
        "`main` is not a release tag (v1.2.3): pin the action to a release (`uses: <owner>/loadgrid@v1.2.3`), set \
         its `version` input, or set `source: true`",
    );
    release
        .install("v9.9.9", "Linux", "X64")
        .exit(1)
        .stderr_contains(&format!("check that release v9.9.9 exists and has loadgrid-{TARGET}.tar.xz"));
    assert_eq!(release.outputs(), "");
}
