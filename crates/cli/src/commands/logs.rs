//! `loadgrid logs <run-id>`: the agents' output. ECS runs read CloudWatch
//! Logs (one stream per task); local runs read the files next to the run.

use crate::output::outln;
use std::collections::BTreeMap;

use loadgrid_aws::ecs::read_launched;
use loadgrid_grid::input_error;
use loadgrid_store::layout;

use crate::cli::LogsArgs;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &LogsArgs) -> anyhow::Result<i32> {
    let store = settings.store().await?;
    let manifest = loadgrid_grid::collect::read_manifest(&store, &args.run_id).await?;
    if let Some(shard) = args.shard.filter(|s| *s >= manifest.shards) {
        return Err(input_error(format!("run `{}` has shards 0 to {}, not {shard}", args.run_id, manifest.shards - 1)));
    }
    let Some(launched) = read_launched(&store, &args.run_id).await? else {
        return local_logs(&store, &args.run_id, manifest.shards, args.shard);
    };
    let group = launched.log_group.clone().ok_or_else(|| {
        input_error("the run's task definition does not log through awslogs, so there are no logs to read")
    })?;
    let mut streams = BTreeMap::new();
    for shard in 0..manifest.shards {
        if args.shard.is_some_and(|s| s != shard) {
            continue;
        }
        let Some(claim) = store.get(&layout::shard_claim(&args.run_id, shard)).await? else { continue };
        let task = serde_json::from_slice::<serde_json::Value>(&claim)?["task"].as_str().unwrap_or_default().to_owned();
        if let Some(stream) = launched.log_stream(&task) {
            streams.insert(format!("shard {shard}"), stream);
        }
    }
    if streams.is_empty() {
        eprintln!("no shard of run `{}` has started yet", args.run_id);
        return Ok(0);
    }
    let aws = settings.aws().await?;
    let summary_key = layout::summary(&args.run_id);
    let statuses: Vec<String> = (0..manifest.shards).map(|s| layout::shard_status(&args.run_id, s)).collect();
    loadgrid_aws::logs::print_logs(
        &aws.logs(),
        &group,
        &streams,
        args.follow,
        || {
            let store = store.clone();
            let summary_key = summary_key.clone();
            let statuses = statuses.clone();
            Box::pin(async move {
                if store.exists(&summary_key).await.unwrap_or(false) {
                    return true;
                }
                for key in &statuses {
                    if !store.exists(key).await.unwrap_or(false) {
                        return false;
                    }
                }
                true
            })
        },
        &mut |label, message| crate::output::write_out(format_args!("[{label}] {message}\n")),
    )
    .await?;
    Ok(0)
}

fn local_logs(store: &loadgrid_store::Store, run_id: &str, shards: u32, only: Option<u32>) -> anyhow::Result<i32> {
    let dir = loadgrid_grid::backend::local::log_dir(store.local_root(), run_id);
    if let Some(root) = store.local_root() {
        crate::files::refuse_links_below(root, dir.strip_prefix(root).unwrap_or(&dir))?;
    }
    for shard in (0..shards).filter(|s| only.is_none_or(|o| o == *s)) {
        let path = dir.join(format!("shard-{shard}.log"));
        match crate::files::read_own_file(&path) {
            Ok(text) => {
                for line in text.lines() {
                    outln!("[shard {shard}] {line}");
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) || e.kind() == std::io::ErrorKind::Other => {
                return Err(input_error(format!(
                    "`{}` is not a log loadgrid wrote (a symbolic link, or not a regular file): not read; remove it",
                    path.display()
                )))
            }
            Err(_) => eprintln!("shard {shard}: no log at {}", path.display()),
        }
    }
    Ok(0)
}
