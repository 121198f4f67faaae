use loadgrid_target::{serve_blocking, TargetConfig};

use crate::cli::TargetArgs;

pub fn run(args: TargetArgs) -> anyhow::Result<i32> {
    serve_blocking(TargetConfig { listen: args.listen, threads: usize::from(args.threads) }, |address| {
        eprintln!("loadgrid target listening on http://{address} (Ctrl-C to stop)");
    })
    .map_err(|e| loadgrid_grid::input_error(format!("cannot serve on {}: {e}", args.listen)))?;
    Ok(0)
}
