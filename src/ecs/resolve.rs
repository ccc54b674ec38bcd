//! What to run, copied from the live service: its task definition (or the one
//! `--task-definition` names: CI passes the revision it just registered, so the
//! migration runs the new image), its network configuration as is, its launch type or
//! capacity provider strategy and platform version; the target container and where its
//! logs go (`awslogs` options); explicit flags for setups without a service.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, LaunchType, LogDriver,
    NetworkConfiguration, TaskDefinition,
};

use super::aws;
use super::EcsRun;

/// ECS rejects a RunTask whose `overrides` JSON is longer than this.
pub const MAX_OVERRIDES_CHARS: usize = 8192;

/// Everything RunTask needs, resolved.
#[derive(Debug, Clone)]
pub struct Target {
    pub cluster: String,
    pub task_definition_arn: String,
    pub family: String,
    pub container: String,
    pub network: Option<NetworkConfiguration>,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    pub platform_version: Option<String>,
    pub logs: Option<LogSource>,
}

/// The container's `awslogs` destination.
#[derive(Debug, Clone)]
pub struct LogSource {
    pub group: String,
    pub region: Option<String>,
    pub prefix: String,
}

impl LogSource {
    /// `PREFIX/CONTAINER/TASK_ID`, the stream the awslogs driver writes for a task.
    pub fn stream(&self, container: &str, task_id: &str) -> String {
        format!("{}/{container}/{task_id}", self.prefix)
    }
}

/// Resolve the target; warnings (no live logs, ...) are returned for the caller to print.
pub async fn resolve(
    ecs: &aws_sdk_ecs::Client,
    spec: &EcsRun,
) -> Result<(Target, Vec<String>), String> {
    let mut warnings = Vec::new();
    let mut network = None;
    let mut launch_type = None;
    let mut strategy = Vec::new();
    let mut platform_version = None;
    let mut task_definition = spec.task_definition.clone();

    if let Some(service) = &spec.service {
        let resource = format!("service `{service}` in cluster `{}`", spec.cluster);
        let out = ecs
            .describe_services()
            .cluster(&spec.cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| aws::describe(&e, "ecs:DescribeServices", &resource).message)?;
        let Some(svc) = out
            .services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
        else {
            let why = out
                .failures()
                .first()
                .and_then(|f| f.reason())
                .unwrap_or("MISSING");
            return Err(format!(
                "{resource} not found ({why}): check --cluster, --service and the region"
            ));
        };
        network = svc.network_configuration().cloned();
        launch_type = svc.launch_type().cloned();
        strategy = svc.capacity_provider_strategy().to_vec();
        platform_version = svc.platform_version().map(str::to_string);
        if task_definition.is_none() {
            task_definition = svc.task_definition().map(str::to_string);
        }
    }
    let Some(task_definition) = task_definition else {
        return Err(
            "no task definition: pass --service (its task definition is used) or \
                    --task-definition FAMILY[:REVISION]"
                .into(),
        );
    };

    // Explicit flags win over the service's configuration.
    if !spec.subnets.is_empty() || !spec.security_groups.is_empty() || spec.assign_public_ip {
        let current = network.as_ref().and_then(|n| n.awsvpc_configuration());
        let subnets = if spec.subnets.is_empty() {
            current.map(|c| c.subnets().to_vec()).unwrap_or_default()
        } else {
            spec.subnets.clone()
        };
        let groups = if spec.security_groups.is_empty() {
            current
                .map(|c| c.security_groups().to_vec())
                .unwrap_or_default()
        } else {
            spec.security_groups.clone()
        };
        let public = if spec.assign_public_ip {
            Some(AssignPublicIp::Enabled)
        } else {
            current.and_then(|c| c.assign_public_ip().cloned())
        };
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(subnets))
            .set_security_groups(Some(groups))
            .set_assign_public_ip(public)
            .build()
            .map_err(|e| format!("network configuration: {e} (pass --subnets)"))?;
        network = Some(
            NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        );
    }
    if let Some(lt) = &spec.launch_type {
        launch_type = Some(LaunchType::from(lt.as_str()));
        strategy.clear();
    }
    if !spec.capacity_providers.is_empty() {
        strategy = spec
            .capacity_providers
            .iter()
            .map(|cp| capacity_provider(cp))
            .collect::<Result<_, _>>()?;
        launch_type = None;
    }
    if spec.platform_version.is_some() {
        platform_version = spec.platform_version.clone();
    }

    let td = describe_task_definition(ecs, &task_definition).await?;
    let container = pick_container(&td, spec.container.as_deref())?;
    // The container's plain environment reaches the run's output: its secret-looking
    // values are redacted from everything migrail republishes.
    if let Some(def) = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(container.as_str()))
    {
        let vars: Vec<(String, String)> = def
            .environment()
            .iter()
            .filter_map(|kv| Some((kv.name()?.to_string(), kv.value()?.to_string())))
            .collect();
        crate::redact::remember_env(&vars);
    }
    let logs = log_source(&td, &container, &mut warnings);
    let target = Target {
        cluster: spec.cluster.clone(),
        task_definition_arn: td
            .task_definition_arn()
            .unwrap_or(&task_definition)
            .to_string(),
        family: td.family().unwrap_or_default().to_string(),
        container,
        network,
        launch_type,
        capacity_provider_strategy: strategy,
        platform_version,
        logs,
    };
    Ok((target, warnings))
}

/// The full ARN of a task definition named by FAMILY[:REVISION] or ARN.
pub async fn task_definition_arn(ecs: &aws_sdk_ecs::Client, name: &str) -> Result<String, String> {
    let td = describe_task_definition(ecs, name).await?;
    Ok(td.task_definition_arn().unwrap_or(name).to_string())
}

async fn describe_task_definition(
    ecs: &aws_sdk_ecs::Client,
    name: &str,
) -> Result<TaskDefinition, String> {
    let resource = format!("task definition `{name}`");
    let out = ecs
        .describe_task_definition()
        .task_definition(name)
        .send()
        .await
        .map_err(|e| {
            let err = aws::describe(&e, "ecs:DescribeTaskDefinition", &resource);
            if err.code.as_deref() == Some("ClientException") {
                format!("{resource}: {}", e.message().unwrap_or("not found"))
            } else {
                err.message
            }
        })?;
    out.task_definition()
        .cloned()
        .ok_or_else(|| format!("{resource}: DescribeTaskDefinition returned no task definition"))
}

use aws_sdk_ecs::error::ProvideErrorMetadata;

/// `--container`, else the only essential container; an error names the candidates.
pub fn pick_container(td: &TaskDefinition, wanted: Option<&str>) -> Result<String, String> {
    let names: Vec<&str> = td
        .container_definitions()
        .iter()
        .filter_map(|c| c.name())
        .collect();
    let arn = td.task_definition_arn().unwrap_or("the task definition");
    if let Some(wanted) = wanted {
        return if names.contains(&wanted) {
            Ok(wanted.to_string())
        } else {
            Err(format!(
                "--container `{wanted}` is not in {arn}: its containers are {}",
                quoted(&names)
            ))
        };
    }
    // `essential` defaults to true when absent.
    let essential: Vec<&str> = td
        .container_definitions()
        .iter()
        .filter(|c| c.essential().unwrap_or(true))
        .filter_map(|c| c.name())
        .collect();
    match essential.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(format!(
            "{arn} has no essential container: pass --container (one of {})",
            quoted(&names)
        )),
        many => Err(format!(
            "{arn} has {} essential containers ({}): pass --container to say which one runs \
             the migrations",
            many.len(),
            quoted(many)
        )),
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn log_source(
    td: &TaskDefinition,
    container: &str,
    warnings: &mut Vec<String>,
) -> Option<LogSource> {
    let def = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(container))?;
    let Some(config) = def.log_configuration() else {
        warnings.push(format!(
            "container `{container}` has no logConfiguration: no live logs (the verdict is \
             unaffected); add the awslogs driver to see the migration's output here"
        ));
        return None;
    };
    if config.log_driver() != &LogDriver::Awslogs {
        warnings.push(format!(
            "container `{container}` logs with `{}`, not awslogs: no live logs (the verdict \
             is unaffected)",
            config.log_driver().as_str()
        ));
        return None;
    }
    let options = config.options();
    let get = |k: &str| options.and_then(|o| o.get(k)).cloned();
    let (Some(group), Some(prefix)) = (get("awslogs-group"), get("awslogs-stream-prefix")) else {
        warnings.push(format!(
            "container `{container}`: awslogs needs `awslogs-group` and \
             `awslogs-stream-prefix` for migrail to find the task's stream: no live logs"
        ));
        return None;
    };
    Some(LogSource {
        group,
        region: get("awslogs-region"),
        prefix,
    })
}

/// `NAME[:WEIGHT[:BASE]]`.
fn capacity_provider(text: &str) -> Result<CapacityProviderStrategyItem, String> {
    let mut parts = text.split(':');
    let name = parts.next().unwrap_or_default();
    let number = |p: Option<&str>, what: &str| -> Result<Option<i32>, String> {
        p.map(|v| {
            v.parse::<i32>().map_err(|_| {
                format!("--capacity-provider `{text}`: {what} `{v}` is not a number (NAME[:WEIGHT[:BASE]])")
            })
        })
        .transpose()
    };
    let weight = number(parts.next(), "weight")?;
    let base = number(parts.next(), "base")?;
    if name.is_empty() || parts.next().is_some() {
        return Err(format!(
            "--capacity-provider `{text}`: expected NAME[:WEIGHT[:BASE]]"
        ));
    }
    CapacityProviderStrategyItem::builder()
        .capacity_provider(name)
        .set_weight(weight.or(Some(1)))
        .set_base(base)
        .build()
        .map_err(|e| format!("--capacity-provider `{text}`: {e}"))
}

/// migrail's own Django-side scripts (`manage.py shell -c <script>`: the lock guard, the
/// phase script) travel zlib-compressed and base64-encoded, unpacked by Python itself
/// (`exec(zlib.decompress(...))`): ECS accepts at most [`MAX_OVERRIDES_CHARS`] of
/// overrides, and the scripts with a long history of post-deploy migrations do not fit
/// as text. Other commands are sent as given.
pub fn pack_scripts(command: &[String]) -> Vec<String> {
    use base64::Engine;
    let is_ours = |i: usize, a: &String| {
        i >= 2 && command[i - 1] == "-c" && command[i - 2] == "shell" && a.contains("def migrail_")
    };
    command
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if !is_ours(i, a) {
                return a.clone();
            }
            let packed = miniz_oxide::deflate::compress_to_vec_zlib(a.as_bytes(), 9);
            format!(
                "{PACKED}{}{PACKED_END}",
                base64::engine::general_purpose::STANDARD.encode(packed)
            )
        })
        .collect()
}

/// The command that runs a packed script from the `MIGRAIL_SCRIPT` variable instead of its
/// argument, and the script's packed text: for a task whose script does not fit in the
/// overrides (it travels in a carrier revision of the task definition).
pub fn carry(command: &[String]) -> Option<(Vec<String>, String)> {
    let at = command.iter().position(|a| a.starts_with(PACKED))?;
    let payload = command[at].strip_prefix(PACKED)?.strip_suffix(PACKED_END)?;
    let mut out = command.to_vec();
    out[at] = BOOTSTRAP.to_string();
    Some((out, payload.to_string()))
}

const PACKED: &str = "import base64,zlib;exec(zlib.decompress(base64.b64decode(\"";
const PACKED_END: &str = "\")))";
/// A carried script's command: it runs the script `MIGRAIL_SCRIPT` holds.
const BOOTSTRAP: &str =
    "import base64,os,zlib;exec(zlib.decompress(base64.b64decode(os.environ[\"MIGRAIL_SCRIPT\"])))";

/// The script [`pack_scripts`] packed, as Python will run it (for tests and messages).
pub fn unpack_script(arg: &str) -> Option<String> {
    unpack(arg.strip_prefix(PACKED)?.strip_suffix(PACKED_END)?)
}

/// The script a command of migrail's runs, unpacked: from the command itself, or, for a
/// carried script's bootstrap, from `MIGRAIL_SCRIPT` in `environment` (the carrier's
/// container). For tests and messages.
pub fn script_of(command: &[String], environment: &[(String, String)]) -> Option<String> {
    if command.iter().any(|a| a == BOOTSTRAP) {
        let (_, payload) = environment
            .iter()
            .find(|(k, _)| k == super::register::SCRIPT_ENV)?;
        return unpack(payload);
    }
    command.iter().find_map(|a| unpack_script(a))
}

fn unpack(b64: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = miniz_oxide::inflate::decompress_to_vec_zlib(&bytes).ok()?;
    String::from_utf8(text).ok()
}

/// The `overrides` document RunTask will send, as ECS measures it.
pub fn overrides_json(container: &str, command: &[String], env: &[(String, String)]) -> String {
    let environment: Vec<_> = env
        .iter()
        .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
        .collect();
    let mut over = serde_json::json!({"name": container, "command": command});
    if !environment.is_empty() {
        over["environment"] = serde_json::Value::Array(environment);
    }
    serde_json::json!({"containerOverrides": [over]}).to_string()
}

/// Fail before calling RunTask when the overrides are too large.
pub fn check_overrides_size(json: &str) -> Result<(), String> {
    let n = json.chars().count();
    if n > MAX_OVERRIDES_CHARS {
        return Err(format!(
            "the command and --env overrides are {n} characters of JSON; ECS accepts at most \
             {MAX_OVERRIDES_CHARS}: move long values into the task definition (environment, \
             secrets) instead"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::ContainerDefinition;

    fn td(containers: &[(&str, Option<bool>)]) -> TaskDefinition {
        TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:eu-west-1:1:task-definition/web:3")
            .set_container_definitions(Some(
                containers
                    .iter()
                    .map(|(n, e)| {
                        ContainerDefinition::builder()
                            .name(*n)
                            .set_essential(*e)
                            .build()
                    })
                    .collect(),
            ))
            .build()
    }

    #[test]
    fn the_only_essential_container_is_the_target() {
        let t = td(&[("web", None), ("xray", Some(false))]);
        assert_eq!(pick_container(&t, None).as_deref(), Ok("web"));
        assert_eq!(pick_container(&t, Some("xray")).as_deref(), Ok("xray"));
        let err = pick_container(&t, Some("app")).unwrap_err();
        assert!(err.contains("`web`, `xray`"), "{err}");
    }

    #[test]
    fn several_essential_containers_need_a_choice() {
        let t = td(&[("web", Some(true)), ("nginx", None)]);
        let err = pick_container(&t, None).unwrap_err();
        assert!(
            err.contains("2 essential containers (`web`, `nginx`)") && err.contains("--container"),
            "{err}"
        );
    }

    #[test]
    fn migrails_scripts_are_packed_and_unpack_to_the_same_text() {
        let script = format!(
            "def migrail_phase():\n    return 0\n{}",
            "x = 1\n".repeat(2000)
        );
        let cmd: Vec<String> = ["python", "manage.py", "shell", "-c", &script]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let packed = pack_scripts(&cmd);
        assert_eq!(&packed[..4], &cmd[..4]);
        assert!(packed[4].len() < 1000, "{}", packed[4].len());
        assert_eq!(unpack_script(&packed[4]).as_deref(), Some(script.as_str()));
        // Anything else is sent as given.
        let plain: Vec<String> = ["sh", "-c", "echo def migrail_x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pack_scripts(&plain), plain);
    }

    #[test]
    fn a_script_too_large_for_the_overrides_is_carried_and_the_bootstrap_fits() {
        // The phase script behind the lock guard and the preflight, 40 migrations waiting:
        // more than RunTask's overrides hold; carried, the command is a few dozen bytes.
        let waiting: Vec<(String, String, crate::lint::phase::Phase)> = (0..40)
            .map(|i| {
                (
                    "inventory".to_string(),
                    format!("{i:04}_remove_stockitem_legacy_code"),
                    crate::lint::phase::Phase::Post,
                )
            })
            .collect();
        let command = pack_scripts(&crate::run::phase::command(
            &["python".into(), "manage.py".into()],
            crate::run::phase::RunPhase::Pre,
            &waiting,
            &crate::run::locks::LockGuard::default(),
        ));
        assert!(check_overrides_size(&overrides_json("web", &command, &[])).is_err());
        let (bootstrap, payload) = carry(&command).expect("ours");
        assert_eq!(&bootstrap[..4], &command[..4]);
        assert!(
            bootstrap[4].contains("os.environ[\"MIGRAIL_SCRIPT\"]"),
            "{}",
            bootstrap[4]
        );
        assert!(check_overrides_size(&overrides_json("web", &bootstrap, &[])).is_ok());
        assert!(BOOTSTRAP.contains(crate::ecs::register::SCRIPT_ENV));
        let env = [(crate::ecs::register::SCRIPT_ENV.to_string(), payload)];
        let script = script_of(&bootstrap, &env).expect("carried");
        assert!(script.contains("def mg_preflight") && script.contains("def migrail_phase"));
        // A command of the user's own is never carried.
        assert_eq!(carry(&["make".to_string(), "migrate".to_string()]), None);
    }

    #[test]
    fn overrides_size_is_checked() {
        let cmd = vec!["python".to_string(), "manage.py".into(), "migrate".into()];
        let small = overrides_json("web", &cmd, &[("A".into(), "1".into())]);
        assert!(check_overrides_size(&small).is_ok());
        assert!(
            small.contains(r#""environment":[{"name":"A","value":"1"}]"#),
            "{small}"
        );
        let big = overrides_json("web", &cmd, &[("BIG".into(), "x".repeat(9000))]);
        let err = check_overrides_size(&big).unwrap_err();
        assert!(err.contains("at most 8192"), "{err}");
    }

    #[test]
    fn capacity_providers_parse() {
        let cp = capacity_provider("FARGATE_SPOT:3:1").expect("valid");
        assert_eq!(
            (cp.capacity_provider(), cp.weight(), cp.base()),
            ("FARGATE_SPOT", 3, 1)
        );
        assert!(capacity_provider("FARGATE:x").is_err());
        assert!(capacity_provider(":1").is_err());
    }
}
