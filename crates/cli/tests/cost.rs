//! `loadgrid cost` and `loadgrid plan` from the command line: the published
//! figures, and bad inputs refused with the reason.

mod common;

use common::Grid;

#[test]
fn the_monthly_comparison_reproduces_the_published_figures() {
    let grid = Grid::new();
    let args = [
        "cost",
        "--runs-per-month",
        "80",
        "--avg-duration",
        "30m",
        "--shards",
        "1",
        "--cpu",
        "4096",
        "--memory",
        "16384",
        "--network",
        "static-ip",
        "--instance",
        "t3.xlarge",
        "--compare",
        "--json",
    ];
    let outcome = grid.run(&args);
    outcome.exit(0).stderr_contains(
        "warning: a t3.xlarge carries no task of 4 vCPU / 16 GB beside the ECS agent's 512 MiB: loadgrid's EC2 pool \
         needs a larger type (the cheapest that fits: t3.2xlarge)",
    );
    let plan = outcome.json();
    let fargate = &plan["options"][0];
    let nat = fargate["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"].as_str().unwrap().starts_with("NAT gateway"))
        .unwrap();
    assert!((nat["usd"].as_f64().unwrap() - 32.85).abs() < 0.005);
    let tasks = fargate["variable"][0]["usd"].as_f64().unwrap();
    assert!((tasks / 40.0 - 0.233).abs() < 0.01, "4 vCPU / 16 GB per hour: {}", tasks / 40.0);
    assert!((plan["nat_fee_in_ec2_hours"].as_f64().unwrap() - 197.0).abs() < 1.0);
    assert_eq!(plan["options"].as_array().unwrap().len(), 3);
    let text = grid.run(&args[..args.len() - 1]).exit(0).stdout.clone();
    assert!(text.contains("buys 197 h of t3.xlarge"), "{text}");
    // Each option's unit price, as the price lists publish it.
    for line in [
        "  unit      Fargate 4 vCPU / 16 GB                   $   0.2330/h",
        "  unit      Fargate Spot 4 vCPU / 16 GB              $   0.0699/h",
        "  unit      EC2 t3.xlarge                            $   0.1664/h",
    ] {
        assert!(text.contains(line), "`{line}` in {text}");
    }
    assert_eq!(plan["options"][0]["unit"]["item"], "Fargate 4 vCPU / 16 GB");
    // Every option is one loadgrid runs, and says how.
    let modes: Vec<&str> = plan["options"].as_array().unwrap().iter().map(|o| o["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["fargate", "fargate-spot", "ec2-pool"]);
    for line in [
        "  run       loadgrid run --backend ecs\n",
        "  run       loadgrid run --backend ecs --spot\n",
        "  run       loadgrid run --backend ecs --capacity ec2 (after `capacity = \"ec2\"` under [infra] and `loadgrid \
         infra deploy`)\n",
    ] {
        assert!(text.contains(line), "`{line}` in {text}");
    }
}

#[test]
fn price_overrides_come_from_the_config() {
    let grid = Grid::new();
    std::fs::write(grid.path("loadgrid.toml"), "[cost]\nnat_gateway_hour = 0.1\n").unwrap();
    let plan = grid.run(&["cost", "--network", "static-ip", "--json"]).exit(0).json();
    assert!((plan["options"][0]["fixed"][0]["usd"].as_f64().unwrap() - 73.0).abs() < 1e-6);
    std::fs::write(grid.path("loadgrid.toml"), "[cost]\nspot_discount = 2\n").unwrap();
    grid.run(&["cost"]).exit(2).stderr_contains("spot_discount");
    std::fs::write(grid.path("loadgrid.toml"), "[cost]\nnat_hour = 0.1\n").unwrap();
    grid.run(&["cost"]).exit(2).stderr_contains("unknown field `nat_hour`");
}

#[test]
fn bad_inputs_are_refused_with_the_reason() {
    let grid = Grid::new();
    grid.run(&["cost", "--avg-duration", "-5m"])
        .exit(2)
        .stderr_contains("error: --avg-duration must be 0s or more, not `-5m`");
    grid.run(&["cost", "--instance", "t3.mega", "--compare"])
        .exit(2)
        .stderr_contains("unknown instance type `t3.mega`");
    grid.run(&["cost", "--cpu", "4096", "--memory", "4096"])
        .exit(2)
        .stderr_contains("Fargate has no task with cpu 4096 and memory 4096");
    grid.run(&["cost", "--network", "vpn"]).exit(2).stderr_contains("unknown network `vpn`");
}

#[test]
fn plan_sizes_the_grid_from_the_scripts_execution_requirements() {
    let grid = Grid::new();
    let script = grid.script(
        "checkout.js",
        "import http from 'k6/http';\nexport const options = { vus: 200, duration: '1m' };\nexport default function () { http.get('http://127.0.0.1:9/'); }\n",
    );
    let outcome = grid.run(&["plan", &script, "--target-rps", "20000"]);
    outcome.exit(0);
    assert!(outcome.stdout.contains("200 VUs at most"), "{}", outcome.stdout);
    assert!(outcome.stdout.contains("suggested: --shards"), "{}", outcome.stdout);
    grid.run(&["plan", &script, "--target-rps", "-1"]).exit(2).stderr_contains("--target-rps");
}
