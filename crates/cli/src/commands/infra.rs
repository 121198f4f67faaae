//! `loadgrid infra`: the AWS footprint as a CloudFormation stack. The spec
//! is validated before any AWS call; deploys go through change sets.

use crate::output::{out, outln};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use loadgrid_grid::input_error;
use loadgrid_infra::template::outputs;
use loadgrid_infra::{changes, doctor, InfraSpec};

use crate::cli::{InfraCommand, InfraDestroyArgs, InfraOutputsArgs, InfraTemplateArgs};
use crate::settings::Settings;

pub async fn run(settings: &Settings, command: InfraCommand) -> anyhow::Result<i32> {
    let spec = settings.infra_spec()?;
    match command {
        InfraCommand::Template(args) => template(&spec, &args),
        InfraCommand::Diff => diff(settings, &spec).await,
        InfraCommand::Deploy(args) => deploy(settings, &spec, args.yes).await,
        InfraCommand::Status(args) => status(settings, &spec, args.json).await,
        InfraCommand::Outputs(args) => print_outputs(settings, &spec, &args).await,
        InfraCommand::Doctor(args) => run_doctor(settings, &spec, args.json).await,
        InfraCommand::Destroy(args) => destroy(settings, &spec, &args).await,
    }
}

fn template(spec: &InfraSpec, args: &InfraTemplateArgs) -> anyhow::Result<i32> {
    match (args.format.as_str(), &args.out) {
        ("terraform", Some(dir)) => terraform_module(spec, dir)?,
        ("terraform", None) => {
            return Err(input_error(
                "a Terraform module is several files: pass --out DIR (e.g. --out infra/loadgrid), then use it as a \
                 module from your root module",
            ))
        }
        (_, Some(_)) => {
            return Err(input_error(
                "--out is for `--format terraform`; a CloudFormation template goes to standard output (`> \
                 loadgrid-stack.yaml`)",
            ))
        }
        (format, None) => {
            let template = loadgrid_infra::template::render(spec);
            out!("{}", if format == "json" { template.to_json() } else { template.to_yaml() });
        }
    }
    if let Some(dir) = &args.iam_policies {
        std::fs::create_dir_all(dir).map_err(|e| {
            input_error(format!(
                "cannot create `{}`: {e}; name a directory you can write to with --iam-policies",
                dir.display()
            ))
        })?;
        for (file, document) in loadgrid_infra::policy::sample_documents(spec) {
            crate::files::write_atomically(
                &dir.join(file),
                (serde_json::to_string_pretty(&document)? + "\n").as_bytes(),
            )?;
        }
    }
    Ok(0)
}

/// Writes the Terraform module into `dir`. Files loadgrid wrote there before
/// (they start with its header) are replaced, or removed when this spec no
/// longer has them (a pool taken out); any other file is never touched, and
/// one of the module's names held by someone else's file stops the write
/// before anything changes.
fn terraform_module(spec: &InfraSpec, dir: &std::path::Path) -> anyhow::Result<()> {
    let module = loadgrid_infra::terraform::render(spec);
    let ours = |path: &std::path::Path| {
        crate::files::read_own_file(path).is_ok_and(|text| text.starts_with(loadgrid_infra::terraform::HEADER_PREFIX))
    };
    for name in module.files.keys() {
        let path = dir.join(name);
        if path.exists() && !ours(&path) {
            return Err(input_error(format!(
                "`{}` was not written by loadgrid: nothing was written. Next step: --out an empty directory, or one \
                 holding only the module loadgrid generated",
                path.display()
            )));
        }
    }
    let stale: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "tf"))
                .filter(|p| p.file_name().is_some_and(|n| !module.files.contains_key(&*n.to_string_lossy())))
                .filter(|p| ours(p))
                .collect()
        })
        .unwrap_or_default();
    for (name, text) in &module.files {
        crate::files::write_atomically(&dir.join(name), text.as_bytes())?;
    }
    for path in &stale {
        std::fs::remove_file(path)
            .map_err(|e| anyhow::anyhow!("cannot remove `{}`, which this spec no longer has: {e}", path.display()))?;
    }
    eprintln!(
        "wrote the Terraform module to {} ({}); use it with `module \"loadgrid\" {{ source = \"./{}\" }}`",
        dir.display(),
        module.files.keys().cloned().collect::<Vec<_>>().join(", "),
        dir.display()
    );
    Ok(())
}

async fn diff(settings: &Settings, spec: &InfraSpec) -> anyhow::Result<i32> {
    let (aws, _) = settings.infra_aws(spec).await?;
    let prepared = loadgrid_aws::infra::prepare(&aws, spec).await?;
    if loadgrid_aws::infra::stack_state(&aws, &spec.stack).await?.is_none() {
        outln!("stack `{}` does not exist in {}: a deploy creates it", spec.stack, aws.region());
        let template = loadgrid_infra::template::render(spec);
        out!("{}", changes::render(&changes::for_new_stack(&template)));
        return Ok(0);
    }
    match loadgrid_aws::infra::create_change_set(&aws, spec, &prepared).await? {
        None => out!("{}", changes::render(&[])),
        Some(change_set) => {
            out!("{}", changes::render(&change_set.changes));
            loadgrid_aws::infra::delete_change_set(&aws, &change_set).await?;
        }
    }
    Ok(0)
}

async fn deploy(settings: &Settings, spec: &InfraSpec, yes: bool) -> anyhow::Result<i32> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(input_error(
            "`loadgrid infra deploy` asks before it changes anything: pass --yes when there is no terminal",
        ));
    }
    let (aws, _) = settings.infra_aws(spec).await?;
    let prepared = loadgrid_aws::infra::prepare(&aws, spec).await?;
    eprintln!("computing the change set for stack `{}` in {}...", spec.stack, aws.region());
    let outputs = match loadgrid_aws::infra::create_change_set(&aws, spec, &prepared).await? {
        None => {
            eprintln!("no changes: the stack matches the template");
            loadgrid_aws::infra::stack_state(&aws, &spec.stack).await?.map(|s| s.outputs).unwrap_or_default()
        }
        Some(change_set) => {
            eprint!("{}", changes::render(&change_set.changes));
            if !yes && !confirm(&format!("apply these changes to stack `{}`?", spec.stack))? {
                loadgrid_aws::infra::delete_change_set(&aws, &change_set).await?;
                eprintln!("nothing changed");
                return Ok(1);
            }
            let mut progress = |line: &str| eprintln!("  {line}");
            loadgrid_aws::infra::execute(&aws, &change_set, &mut progress).await?
        }
    };
    let written = write_outputs_to_config(settings, spec, &outputs)?;
    eprintln!("stack `{}` is ready; {written}", spec.stack);
    if let Some(ips) = outputs.get(outputs::EGRESS_IPS) {
        let many = ips.contains(',');
        eprintln!(
            "allow-list {} on the system under test: {}",
            if many { "these addresses" } else { "this address" },
            ips.replace(',', ", ")
        );
    }
    Ok(0)
}

async fn status(settings: &Settings, spec: &InfraSpec, json: bool) -> anyhow::Result<i32> {
    let (aws, _) = settings.infra_aws(spec).await?;
    let state = loadgrid_aws::infra::stack_state(&aws, &spec.stack).await?;
    if json {
        let value = match &state {
            None => serde_json::json!({ "stack": spec.stack, "region": aws.region(), "status": null }),
            Some(s) => serde_json::json!({
                "stack": spec.stack, "region": aws.region(), "status": s.status, "reason": s.reason,
                "last_updated": s.last_updated, "outputs": s.outputs,
            }),
        };
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        match &state {
            None => {
                outln!("stack `{}` does not exist in {}. Next step: `loadgrid infra deploy`", spec.stack, aws.region())
            }
            Some(s) => {
                outln!("stack    {} ({})", spec.stack, aws.region());
                outln!("status   {}{}", s.status, s.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default());
                if let Some(when) = &s.last_updated {
                    outln!("updated  {when}");
                }
                outln!("network  {}", s.outputs.get(outputs::NETWORK).map_or("?", String::as_str));
            }
        }
    }
    Ok(if state.is_some() { 0 } else { 1 })
}

async fn print_outputs(settings: &Settings, spec: &InfraSpec, args: &InfraOutputsArgs) -> anyhow::Result<i32> {
    let (aws, _) = settings.infra_aws(spec).await?;
    let Some(state) = loadgrid_aws::infra::stack_state(&aws, &spec.stack).await? else {
        return Err(input_error(format!(
            "stack `{}` does not exist in {}. Next step: `loadgrid infra deploy`",
            spec.stack,
            aws.region()
        )));
    };
    let values = &state.outputs;
    let variables = github_variables(spec, &aws.region(), values);
    let get = |key: &str| values.get(key).cloned().unwrap_or_default();
    match args.format.as_str() {
        "json" => outln!("{}", serde_json::to_string_pretty(values)?),
        "toml" => out!("{}", config_snippet(spec, &get(outputs::STORE_URL))),
        "env" => {
            for (k, v) in &variables {
                outln!("{k}={v}");
            }
        }
        "github" => {
            for (k, v) in &variables {
                outln!("gh variable set {k} --body '{v}'");
            }
        }
        _ => {
            outln!("# loadgrid.toml (`loadgrid infra deploy` writes this for you)");
            out!("{}", config_snippet(spec, &get(outputs::STORE_URL)));
            outln!("\n# GitHub Actions variables (Settings > Secrets and variables > Actions > Variables)");
            for (k, v) in &variables {
                outln!("{k}={v}");
            }
            outln!("\n# every output");
            for (k, v) in values {
                outln!("{k:<22} {v}");
            }
        }
    }
    if args.show_ci_key {
        let key = loadgrid_aws::infra::ci_access_key(&aws, values).await?;
        outln!("\n# CI access key: store it as GitHub secrets, never in the repository");
        outln!("{key}");
    } else if values.contains_key(outputs::CI_ACCESS_KEY_SECRET) {
        outln!("\n# the CI user's access key is in Secrets Manager: --show-ci-key prints it");
    }
    Ok(0)
}

/// What a workflow needs, as GitHub Actions variables (none is a secret:
/// an OIDC role ARN only works from the trusted repository).
fn github_variables(spec: &InfraSpec, region: &str, values: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut variables = vec![
        ("AWS_REGION".to_owned(), region.to_owned()),
        ("LOADGRID_STORE".to_owned(), values.get(outputs::STORE_URL).cloned().unwrap_or_default()),
        ("LOADGRID_STACK".to_owned(), spec.stack.clone()),
    ];
    if let Some(role) = values.get(outputs::CI_ROLE_ARN) {
        variables.push(("LOADGRID_AWS_ROLE_ARN".to_owned(), role.clone()));
    }
    if let Some(topic) = values.get(outputs::ALERTS_TOPIC) {
        variables.push(("LOADGRID_ALERTS_TOPIC".to_owned(), topic.clone()));
    }
    variables
}

fn config_snippet(spec: &InfraSpec, store: &str) -> String {
    format!("store = \"{store}\"\n\n[ecs]\nstack = \"{}\"\n", spec.stack)
}

/// Points loadgrid.toml at the stack so that `loadgrid run --backend ecs`
/// works next: `store` and `[ecs] stack` (and `[aws] region` when only
/// `[infra] region` named it). Edits keep the file's comments and layout.
fn write_outputs_to_config(
    settings: &Settings,
    spec: &InfraSpec,
    values: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let Some(store) = values.get(outputs::STORE_URL) else {
        return Ok("the stack has no StoreUrl output; loadgrid.toml left as it was".to_owned());
    };
    let path = settings.config.path.clone().unwrap_or_else(|| PathBuf::from(loadgrid_plan::config::FILE_NAME));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(input_error(format!(
                "cannot read `{}`: {e}; make it a readable file, or name another with --config",
                path.display()
            )))
        }
    };
    let mut document: toml_edit::DocumentMut =
        text.parse().map_err(|e| input_error(format!("cannot edit `{}`: {e}; fix its TOML first", path.display())))?;
    document["store"] = toml_edit::value(store.as_str());
    ensure_table(&mut document, "ecs")["stack"] = toml_edit::value(spec.stack.as_str());
    if settings.config.aws.region.is_none() && settings.config.infra.region.is_some() {
        ensure_table(&mut document, "aws")["region"] = toml_edit::value(spec.region.as_str());
    }
    crate::files::write_atomically(&path, document.to_string().as_bytes())?;
    Ok(format!("{} now points at it (store = \"{store}\", [ecs] stack = \"{}\")", path.display(), spec.stack))
}

fn ensure_table<'a>(document: &'a mut toml_edit::DocumentMut, name: &str) -> &'a mut toml_edit::Item {
    if !document.contains_table(name) {
        document[name] = toml_edit::table();
    }
    &mut document[name]
}

async fn run_doctor(settings: &Settings, spec: &InfraSpec, json: bool) -> anyhow::Result<i32> {
    let (aws, account) = settings.infra_aws(spec).await?;
    let mut facts = loadgrid_aws::infra::gather_facts(&aws, spec, &account).await?;
    if let Some(path) = &settings.config.ecs.terraform_outputs {
        // Deployed with the Terraform module: its outputs stand for the stack.
        let outputs = crate::settings::terraform_outputs(path)?;
        facts.deployment = doctor::Deployment::Terraform {
            outputs: path.clone(),
            cluster: outputs.get(loadgrid_infra::template::outputs::CLUSTER).cloned(),
        };
    }
    if let Some(pool) = facts.pool.as_mut() {
        // The lease is in the store the runs use.
        let cluster = spec.names.cluster.resolve(&account, &aws.region());
        pool.held = match settings.store().await {
            Ok(store) => loadgrid_aws::ecs::pool::held_instances(&store, &cluster).await.ok(),
            Err(_) => None,
        };
    }
    let checks = doctor::checks(spec, &facts);
    if json {
        let list: Vec<_> = checks
            .iter()
            .map(|c| serde_json::json!({ "area": c.area, "requirement": c.requirement, "passed": c.passed, "found": c.found, "fix": c.fix }))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        out!("{}", doctor::render(&checks, crate::output::unicode_stdout()));
    }
    Ok(if checks.iter().all(|c| c.passed) { 0 } else { 1 })
}

async fn destroy(settings: &Settings, spec: &InfraSpec, args: &InfraDestroyArgs) -> anyhow::Result<i32> {
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(input_error("`loadgrid infra destroy` asks first: pass --yes when there is no terminal"));
    }
    let (aws, _) = settings.infra_aws(spec).await?;
    let what = if args.delete_data { "and EVERY stored run and its history" } else { "(the results bucket is kept)" };
    if !args.yes && !confirm(&format!("delete stack `{}` in {} {what}?", spec.stack, aws.region()))? {
        eprintln!("nothing deleted");
        return Ok(1);
    }
    let mut progress = |line: &str| eprintln!("  {line}");
    loadgrid_aws::infra::destroy(&aws, spec, args.delete_data, &mut progress).await?;
    eprintln!("stack `{}` deleted", spec.stack);
    Ok(0)
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
