//! The script's `handleSummary()`, run once for the whole grid.
//!
//! Shards run k6 with `--no-summary`: each has only part of the data, and
//! every shard writing the script's summary files would leave one shard's
//! numbers behind. Once the shards are merged, loadgrid calls the script's
//! `handleSummary(data)` with the grid's data in k6's own summary shape,
//! through k6 itself, unmodified:
//!
//! 1. the run's archive gets a generated main module (the wrapper) that
//!    imports the script as a module, reads the merged data from a file
//!    packed into the archive, and exports a `handleSummary` that passes
//!    that data to the script's;
//! 2. `k6 run` of that archive runs one empty iteration, then the wrapper's
//!    `handleSummary`; k6 writes what the script returned exactly as it
//!    always does (`stdout`, `stderr`, and paths relative to the working
//!    directory);
//! 3. the wrapper also writes a record of every output, which loadgrid
//!    keeps under the run in the store.
//!
//! Everything the script imports, remote modules included, comes from the
//! archive, so nothing is fetched again and the script's code is what the
//! shards ran. Its init code runs once more, as it does in every k6 VU.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};

use crate::{K6Error, K6};

/// The wrapper's name, next to the script in the archive.
const WRAPPER: &str = "__loadgrid_handle_summary__.js";
/// The merged data's name, next to the script in the archive.
const DATA: &str = "__loadgrid_summary_data__.json";

/// What the script's `handleSummary` did with the grid's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRecord {
    /// Whether the script exports a `handleSummary`.
    pub defined: bool,
    /// What it threw, if it did. As in k6, nothing was written then, and
    /// the default summary stands.
    pub error: Option<String>,
    /// Everything it returned, in order: `stdout`, `stderr` or a path.
    pub outputs: Vec<SummaryOutput>,
}

/// One entry of what `handleSummary` returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryOutput {
    /// `stdout`, `stderr`, or a file path (relative to the working
    /// directory k6 ran in, or absolute).
    pub target: String,
    /// A string value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An `ArrayBuffer` value, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

impl SummaryRecord {
    fn not_defined() -> SummaryRecord {
        SummaryRecord { defined: false, error: None, outputs: Vec::new() }
    }

    /// Whether the script's output replaces the default summary on
    /// standard output, as in k6.
    pub fn wrote_stdout(&self) -> bool {
        self.error.is_none() && self.outputs.iter().any(|output| output.target == "stdout")
    }
}

/// Where k6's standard output goes: the terminal's, or (when loadgrid's
/// own standard output carries JSON) its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryStdout {
    Stdout,
    Stderr,
}

impl K6 {
    /// Runs the script's `handleSummary(data)` in `working_dir`, `data`
    /// being k6's summary shape of the merged grid. A script without one
    /// costs nothing: the archive is only read.
    pub async fn handle_summary(
        &self,
        archive: &Path,
        data: &serde_json::Value,
        working_dir: &Path,
        stdout: SummaryStdout,
    ) -> Result<SummaryRecord, K6Error> {
        let unreadable = |e: std::io::Error| K6Error::Script {
            action: "handleSummary",
            script: archive.to_owned(),
            message: format!("cannot read the run's archive: {e}"),
        };
        if !mentions(archive, "handleSummary").map_err(unreadable)? {
            return Ok(SummaryRecord::not_defined());
        }
        let work = tempfile::Builder::new().prefix("loadgrid-summary-").tempdir().map_err(unreadable)?;
        let record_path = work.path().join("record.json");
        let wrapped = work.path().join("handle-summary.tar");
        wrap(archive, &wrapped, data, &record_path).map_err(unreadable)?;

        let mut command = self.command();
        command
            .args(["run", "--quiet", "--no-usage-report", "--address", "127.0.0.1:0"])
            .arg(&wrapped)
            .current_dir(working_dir)
            .stderr(Stdio::inherit());
        match stdout {
            SummaryStdout::Stdout => command.stdout(Stdio::inherit()),
            SummaryStdout::Stderr => command.stdout(Stdio::from(std::io::stderr())),
        };
        let status = command
            .status()
            .await
            .map_err(|e| K6Error::NotRunnable { path: self.path.clone(), reason: e.to_string() })?;
        let record = std::fs::read(&record_path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        match record {
            Some(record) => Ok(record),
            None => Err(K6Error::Script {
                action: "handleSummary",
                script: archive.to_owned(),
                message: format!("k6 exited with {status} before handleSummary() returned (its log is above)"),
            }),
        }
    }
}

/// Whether any file of the archive contains `needle`.
fn mentions(archive: &Path, needle: &str) -> std::io::Result<bool> {
    let mut tar = tar::Archive::new(std::fs::File::open(archive)?);
    let needle = needle.as_bytes();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        if bytes.windows(needle.len()).any(|window| window == needle) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The run's archive with the wrapper as its main module and the data
/// packed next to it. k6 archives keep the main script as `data` (its
/// path in the tree is a hard link to it) and its URL in
/// `metadata.json`'s `filename`.
fn wrap(archive: &Path, out: &Path, data: &serde_json::Value, record_path: &Path) -> std::io::Result<()> {
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidData, message);
    let mut entries: Vec<(tar::Header, PathBuf, Vec<u8>)> = Vec::new();
    let mut tar = tar::Archive::new(std::fs::File::open(archive)?);
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let header = entry.header().clone();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        entries.push((header, path, bytes));
    }
    let find = |name: &str| entries.iter().position(|(_, path, _)| path == Path::new(name));
    let metadata_at = find("metadata.json").ok_or_else(|| invalid("a k6 archive without metadata.json".into()))?;
    let main_at = find("data").ok_or_else(|| invalid("a k6 archive without its main script (`data`)".into()))?;
    let mut metadata: serde_json::Value =
        serde_json::from_slice(&entries[metadata_at].2).map_err(|e| invalid(format!("metadata.json: {e}")))?;
    let filename = metadata["filename"].as_str().ok_or_else(|| invalid("metadata.json has no filename".into()))?;
    let (directory, script_name) = filename.rsplit_once('/').ok_or_else(|| invalid(format!("`{filename}`")))?;
    let tree_dir = tree_path(directory).ok_or_else(|| invalid(format!("main script `{filename}`")))?;
    let main_source = entries[main_at].2.clone();
    let wrapper = wrapper_source(script_name, record_path);
    metadata["filename"] = serde_json::Value::String(format!("{directory}/{WRAPPER}"));
    // k6 runs an archive with the options frozen in its metadata: the
    // wrapper's own, one empty iteration (and none of the script's
    // thresholds, which the grid has already judged).
    metadata["options"] = serde_json::json!({
        "scenarios": { "loadgrid_handle_summary": {
            "executor": "shared-iterations", "vus": 1, "iterations": 1, "exec": "loadgridNoIteration"
        } }
    });

    let mut builder = tar::Builder::new(std::fs::File::create(out)?);
    for (header, path, bytes) in &entries {
        let contents: &[u8] = match path.to_str() {
            Some("metadata.json") => &serde_json::to_vec(&metadata)?,
            Some("data") => wrapper.as_bytes(),
            // The script's own path is a hard link to `data`, now the
            // wrapper: it becomes a file with the script's source again.
            _ if header.entry_type().is_hard_link() => &main_source,
            _ => bytes,
        };
        if header.entry_type().is_dir() {
            builder.append_data(&mut header.clone(), path, std::io::empty())?;
        } else {
            append_file(&mut builder, path, contents)?;
        }
    }
    append_file(&mut builder, &tree_dir.join(WRAPPER), wrapper.as_bytes())?;
    append_file(&mut builder, &tree_dir.join(DATA), &serde_json::to_vec(data)?)?;
    builder.into_inner()?;
    Ok(())
}

fn append_file(builder: &mut tar::Builder<std::fs::File>, path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(contents.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, path, contents)
}

/// Where a module URL's directory lives in a k6 archive's tree:
/// `file:///home/u/tests` → `file/home/u/tests`, `https://host/a` →
/// `https/host/a`.
fn tree_path(directory: &str) -> Option<PathBuf> {
    let (scheme, rest) = directory.split_once("://")?;
    Some(PathBuf::from(scheme).join(rest.trim_start_matches('/')))
}

/// The generated main module. `JSON` quoting makes every string a valid JS
/// string literal.
fn wrapper_source(script_name: &str, record_path: &Path) -> String {
    let quote = |text: &str| serde_json::Value::String(text.to_owned()).to_string();
    let script = quote(&format!("./{script_name}"));
    let data = quote(&format!("./{DATA}"));
    let record = quote(&record_path.display().to_string());
    format!(
        r#"// Generated by loadgrid: runs the script's handleSummary() once, with the
// whole grid's data.
import * as script from {script};
import encoding from "k6/encoding";

const gridData = JSON.parse(open({data}));

export function loadgridNoIteration() {{}}

export function handleSummary() {{
  const record = {{ defined: typeof script.handleSummary === "function", error: null, outputs: [] }};
  let result = {{}};
  if (record.defined) {{
    try {{
      result = script.handleSummary(gridData) || {{}};
    }} catch (error) {{
      record.error = String(error && error.stack ? error.stack : error);
      result = {{}};
    }}
  }}
  for (const [target, value] of Object.entries(result)) {{
    if (typeof value === "string") {{
      record.outputs.push({{ target, text: value }});
    }} else {{
      record.outputs.push({{ target, base64: encoding.b64encode(value) }});
    }}
  }}
  return Object.assign({{}}, result, {{ [{record}]: JSON.stringify(record) }});
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_urls_map_to_the_archive_tree() {
        assert_eq!(tree_path("file:///home/u/tests"), Some(PathBuf::from("file/home/u/tests")));
        assert_eq!(tree_path("https://jslib.k6.io/x"), Some(PathBuf::from("https/jslib.k6.io/x")));
        assert_eq!(tree_path("relative"), None);
    }

    #[test]
    fn the_wrapper_quotes_every_name() {
        let source = wrapper_source("a \"b\".js", Path::new("/tmp/r\\ecord.json"));
        assert!(source.contains(r#"import * as script from "./a \"b\".js";"#), "{source}");
        assert!(source.contains(r#"[“/tmp/r\\ecord.json”]"#.replace(['“', '”'], "\"").as_str()), "{source}");
    }
}
