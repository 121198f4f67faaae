//! Debian's Chromium, headless, driven over the DevTools protocol: for
//! pages that change while a test watches them (the live dashboard). It is
//! installed by `scripts/chromium`, which `scripts/test` runs; without it
//! these tests fail, never skip.
//!
//! Chromium runs with the network cut off, as the report's browser tests
//! run it: host names resolve to nothing and HTTP goes through a closed
//! proxy port, except loopback, where the page under test is (Chromium sends loopback past any proxy). Every request is still
//! *attempted*, so it shows in the net log.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    dir: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run scripts/chromium (it installs Debian's chromium package)"
        );
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("profile");
        let child = Command::new(CHROMIUM)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .args(["--remote-debugging-port=0", "--remote-allow-origins=*"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=127.0.0.1:9"])
            .args(["--enable-logging=stderr", "--v=0"])
            .arg(format!("--log-net-log={}", dir.path().join("net-log.json").display()))
            .arg("about:blank")
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .env("XDG_CACHE_HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}: run scripts/chromium"));
        // Chromium says where its DevTools listen in the profile, once it does.
        let active = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        let port_and_path = loop {
            if let Ok(text) = fs::read_to_string(&active) {
                if let [port, path] = text.lines().collect::<Vec<_>>()[..] {
                    break format!("{port}{path}");
                }
            }
            assert!(Instant::now() < deadline, "chromium never opened its DevTools port");
            std::thread::sleep(Duration::from_millis(100));
        };
        let (socket, _) = tungstenite::connect(format!("ws://127.0.0.1:{port_and_path}")).unwrap();
        Browser { child, socket, next_id: 0, dir }
    }

    /// Opens `url` in a new tab of `width` × `height` CSS pixels.
    pub fn open(&mut self, url: &str, width: u32, height: u32) -> Page<'_> {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = self.call(None, "Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }));
        let session = attached["sessionId"].as_str().unwrap().to_owned();
        let mut page = Page { browser: self, session };
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        page.call("Page.navigate", json!({ "url": url }));
        page
    }

    /// Sends one command and returns its result, skipping the events in between.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket.send(Message::text(message.to_string())).unwrap();
        loop {
            let Message::Text(text) = self.socket.read().unwrap() else { continue };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == json!(id) {
                assert!(reply["error"].is_null(), "{method} failed: {}", reply["error"]);
                return reply["result"].clone();
            }
        }
    }

    /// What Chromium printed: console messages (a CSP violation is one).
    pub fn console(&self) -> Vec<String> {
        let stderr = fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default();
        stderr.lines().filter(|line| line.contains(":CONSOLE")).map(str::to_owned).collect()
    }

    /// Every http(s)/ws(s) URL requested on behalf of a page (not by
    /// Chromium for itself), from the net log. Ends the browser: the log is
    /// complete only once Chromium has exited.
    pub fn page_requests(mut self) -> Vec<String> {
        let _ = self.call(None, "Browser.close", json!({}));
        let _ = self.child.wait();
        let path: PathBuf = self.dir.path().join("net-log.json");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("no net log: {e}"));
        // A log cut short ends without its closing brackets.
        let log: Value = serde_json::from_str(&text)
            .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
            .unwrap_or_else(|e| panic!("the net log is not JSON: {e}"));
        let start_job = &log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
        assert!(start_job.is_number(), "the net log names no URL_REQUEST_START_JOB events");
        log["events"]
            .as_array()
            .expect("net log events")
            .iter()
            .filter(|event| &event["type"] == start_job)
            .map(|event| &event["params"])
            // Chromium's own requests have no initiating origin.
            .filter(|params| params["initiator"].as_str().is_some_and(|initiator| initiator != "not an origin"))
            .filter_map(|params| params["url"].as_str())
            .filter(|url| ["http:", "https:", "ws:", "wss:", "ftp:"].iter().any(|scheme| url.starts_with(scheme)))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One tab.
pub struct Page<'a> {
    browser: &'a mut Browser,
    session: String,
}

impl Page<'_> {
    fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.browser.call(Some(&session), method, params)
    }

    /// The value of a JavaScript expression in the page.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true }));
        assert!(result["exceptionDetails"].is_null(), "`{expression}` threw: {}", result["exceptionDetails"]);
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy in the page; its value.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression);
            if !(value.is_null() || value == json!(false) || value == json!(0) || value == json!("")) {
                return value;
            }
            if Instant::now() >= deadline {
                let shown = self.eval("`${location.href}\n${document.body?.innerText ?? ''}`");
                panic!(
                    "`{expression}` never held within {timeout:?}; the page showed:\n{}",
                    shown.as_str().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The page as a PNG, at its window's size; returns the file's bytes.
    pub fn screenshot(&mut self, path: &Path) -> Vec<u8> {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        fs::write(path, &png).unwrap();
        png
    }
}

/// A `loadgrid` that serves a dashboard, its stderr read as it comes.
pub struct Watched {
    pub child: Child,
    pub url: String,
    pub stderr: Arc<Mutex<String>>,
}

impl Watched {
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the run to end; its exit code.
    pub fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the run did not end:\n{}", self.stderr.lock().unwrap());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stdout(&mut self) -> String {
        let mut stdout = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        stdout
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `child`'s stderr as it comes, until it prints the dashboard's URL.
pub fn watched(mut child: Child) -> Watched {
    let stderr = Arc::new(Mutex::new(String::new()));
    let (sender, receiver) = std::sync::mpsc::channel();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let collected = stderr.clone();
    std::thread::spawn(move || {
        while let Some(Ok(line)) = lines.next() {
            if let Some(url) = line.strip_prefix("dashboard: ") {
                let _ = sender.send(url.split_whitespace().next().unwrap_or_default().to_owned());
            }
            collected.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let url = receiver
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no dashboard URL printed:\n{}", stderr.lock().unwrap()));
    Watched { child, url, stderr }
}

/// `target/test-artifacts`, where screenshots stay for people to look at.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("test-artifacts");
    fs::create_dir_all(&dir).unwrap();
    dir
}
