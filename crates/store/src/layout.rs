//! Where each object of a run lives. See DESIGN.md, "The store".

pub const RUNS: &str = "runs";

pub fn run_dir(run_id: &str) -> String {
    format!("{RUNS}/{run_id}")
}
pub fn manifest(run_id: &str) -> String {
    format!("{RUNS}/{run_id}/manifest.json")
}
pub fn archive(run_id: &str) -> String {
    format!("{RUNS}/{run_id}/archive.tar")
}
pub fn setup_data(run_id: &str) -> String {
    format!("{RUNS}/{run_id}/setup.json")
}
pub fn heartbeat(run_id: &str) -> String {
    format!("{RUNS}/{run_id}/heartbeat")
}
pub fn go(run_id: &str) -> String {
    format!("{RUNS}/{run_id}/go")
}
/// Written by the orchestrator (or the leader) to make every shard stop early.
pub fn stop(run_id: &str) -> String {
    format!("{RUNS}/{run_id}/stop")
}
pub fn summary(run_id: &str) -> String {
    format!("{RUNS}/{run_id}/summary.json")
}
/// What the script's `handleSummary()` returned for the merged grid.
pub fn handle_summary(run_id: &str) -> String {
    format!("{RUNS}/{run_id}/handle-summary.json")
}
pub fn shard_ready(run_id: &str, shard: u32) -> String {
    format!("{RUNS}/{run_id}/shards/{shard}/ready")
}
pub fn shard_result(run_id: &str, shard: u32) -> String {
    format!("{RUNS}/{run_id}/shards/{shard}/result")
}
pub fn shard_status(run_id: &str, shard: u32) -> String {
    format!("{RUNS}/{run_id}/shards/{shard}/status")
}
/// The shard's latest in-flight aggregates, for live grid-wide thresholds.
pub fn shard_live(run_id: &str, shard: u32) -> String {
    format!("{RUNS}/{run_id}/shards/{shard}/live")
}
/// What the shard's generator health check has found so far (see
/// `loadgrid_plan::records::LiveHealth`).
pub fn shard_health(run_id: &str, shard: u32) -> String {
    format!("{RUNS}/{run_id}/shards/{shard}/health")
}
/// The object an agent writes to read the store's clock.
pub fn shard_clock(run_id: &str, shard: u32) -> String {
    format!("{RUNS}/{run_id}/shards/{shard}/clock")
}
/// Which backend task runs the shard, claimed by the agent (a conditional
/// write: one task per shard). Backends that launch several shards per call
/// hand each task a range and let the agents claim.
pub fn shard_claim(run_id: &str, shard: u32) -> String {
    format!("{RUNS}/{run_id}/shards/{shard}/claim")
}
/// The shard a per-shard key belongs to: `runs/<id>/shards/3/status` → 3.
pub fn shard_of_key(key: &str) -> Option<u32> {
    key.rsplit('/').nth(1)?.parse().ok()
}
/// How the backend saw each shard end (ECS stop code, exit code), written
/// by the orchestrator in one object (shard → note): a second opinion
/// beside the shards' own `status`.
pub fn backend_notes(run_id: &str) -> String {
    format!("{RUNS}/{run_id}/backend-notes.json")
}
/// The backend's own record of what it launched (e.g. ECS task ARNs), so
/// that any machine can attach, list or stop the run.
pub fn launched(run_id: &str) -> String {
    format!("{RUNS}/{run_id}/launched.json")
}
/// The lease of the EC2 pool of ECS cluster `cluster`: which runs hold
/// which instances (`loadgrid_plan::pool`), as numbered versions.
pub fn pool_lease(cluster: &str) -> String {
    format!("pools/{cluster}/lease")
}
/// Version `version` of a record kept as numbered versions under `prefix`;
/// zero-padded so that keys sort as numbers.
pub fn version(prefix: &str, version: u64) -> String {
    format!("{prefix}/{version:020}")
}
