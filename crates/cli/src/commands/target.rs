use loadgrid_target::{serve_blocking, TargetConfig};

use crate::cli::TargetArgs;

pub fn run(args: TargetArgs) -> anyhow::Result<i32> {
    serve_blocking(TargetConfig { listen: args.listen, threads: usize::from(args.threads) }, |address| {
        eprintln!("loadgrid target listening on http://{address} (Ctrl-C to stop)");
    })
    .map_err(|e| {
        let next = match e.kind() {
            std::io::ErrorKind::AddrInUse => "stop what serves there, or pick another address with --listen",
            std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges: pick another with --listen",
            _ => "pick another address with --listen (127.0.0.1:0 takes a free port)",
        };
        loadgrid_grid::input_error(format!("{e}; {next}"))
    })?;
    Ok(0)
}
