//! Copies of a task definition. `migrail deploy --image CONTAINER=IMAGE`: a new revision of
//! the task definition a service runs now, with only those containers' images changed.
//! A carrier ([`with_script`]): a revision in the family `<family>-migrail` whose target
//! container holds migrail's packed script in `MIGRAIL_SCRIPT`, for a one-off task whose
//! script does not fit in RunTask's 8 KiB of overrides; deregistered once RunTask answered
//! (a task keeps running on an INACTIVE revision). Every other field is kept as ECS
//! returned it (sidecars, roles, CPU and memory, volumes, runtime platform, ...), the
//! read-only ones (`taskDefinitionArn`, `revision`, `status`, `requiresAttributes`,
//! `compatibilities`, `registeredAt`, `registeredBy`, `deregisteredAt`) are not sent, and
//! the tags are copied.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, TaskDefinitionField};

use super::aws;

/// `--image CONTAINER=IMAGE` flags, checked: each container named once.
pub fn parse_images(flags: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for flag in flags {
        let Some((container, image)) = flag
            .split_once('=')
            .filter(|(c, i)| !c.trim().is_empty() && !i.trim().is_empty())
        else {
            return Err(format!(
                "--image {flag}: expected CONTAINER=IMAGE (e.g. web=123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:0f1e2d3)"
            ));
        };
        if out.iter().any(|(c, _)| c == container.trim()) {
            return Err(format!(
                "--image: container `{}` named twice",
                container.trim()
            ));
        }
        out.push((container.trim().to_string(), image.trim().to_string()));
    }
    Ok(out)
}

/// A revision registered with new images.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Registered {
    /// The revision it was copied from.
    pub from: String,
    /// The new revision's ARN.
    pub arn: String,
    /// `container=image` of each container changed.
    pub images: Vec<String>,
}

/// The environment variable a carried script travels in.
pub const SCRIPT_ENV: &str = "MIGRAIL_SCRIPT";

/// The family of `family`'s carrier revisions (never the one services run).
pub fn carrier_family(family: &str) -> String {
    format!("{family}-migrail")
}

/// Register a copy of `task_definition` with `images` replaced (only the containers it
/// has; at least one must be among them).
pub async fn with_images(
    ecs: &aws_sdk_ecs::Client,
    task_definition: &str,
    images: &[(String, String)],
) -> Result<Registered, String> {
    let resource = format!("task definition `{task_definition}`");
    copy(ecs, task_definition, None, |containers| {
        let mut changed = Vec::new();
        for c in containers.iter_mut() {
            if let Some((_, image)) = images.iter().find(|(n, _)| Some(n.as_str()) == c.name()) {
                changed.push(format!("{}={image}", c.name().unwrap_or_default()));
                c.image = Some(image.clone());
            }
        }
        if changed.is_empty() {
            let have: Vec<&str> = containers.iter().filter_map(|c| c.name()).collect();
            let named: Vec<&str> = images.iter().map(|(c, _)| c.as_str()).collect();
            return Err(format!(
                "--image {}: {resource} has no such container (it has {}): name one of its \
                 containers, or give this service its own task definition (--service \
                 NAME=TASK_DEFINITION)",
                named.join(", "),
                have.join(", ")
            ));
        }
        Ok(changed)
    })
    .await
}

/// Register a carrier of `task_definition`: its copy in the family `<family>-migrail`,
/// with `script` in `container`'s `MIGRAIL_SCRIPT`. Returns the new revision's ARN.
pub async fn with_script(
    ecs: &aws_sdk_ecs::Client,
    task_definition: &str,
    container: &str,
    script: &str,
) -> Result<String, String> {
    let registered = copy(ecs, task_definition, Some("-migrail"), |containers| {
        let Some(c) = containers.iter_mut().find(|c| c.name() == Some(container)) else {
            return Err(format!(
                "task definition `{task_definition}` has no container `{container}`"
            ));
        };
        let mut env: Vec<KeyValuePair> = c
            .environment()
            .iter()
            .filter(|kv| kv.name() != Some(SCRIPT_ENV))
            .cloned()
            .collect();
        env.push(
            KeyValuePair::builder()
                .name(SCRIPT_ENV)
                .value(script)
                .build(),
        );
        c.environment = Some(env);
        Ok(vec![container.to_string()])
    })
    .await
    .map_err(|e| {
        format!(
            "{e}. migrail's script does not fit in the 8 KiB of overrides RunTask accepts, so \
             it travels in a copy of the task definition (family `<family>-migrail`, \
             deregistered once the task started): grant ecs:RegisterTaskDefinition, \
             ecs:DeregisterTaskDefinition and iam:PassRole on the task's roles, or pass \
             --preflight off for a script that fits"
        )
    })?;
    Ok(registered.arn)
}

/// Deregister a carrier revision (its task keeps running).
pub async fn deregister(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<(), String> {
    ecs.deregister_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            aws::describe(
                &e,
                "ecs:DeregisterTaskDefinition",
                &format!("task definition `{arn}`"),
            )
            .message
        })
}

/// Register a copy of `task_definition` (in its family, or the family with `suffix`),
/// its containers changed by `edit` (which says what it changed).
async fn copy(
    ecs: &aws_sdk_ecs::Client,
    task_definition: &str,
    suffix: Option<&str>,
    edit: impl FnOnce(&mut Vec<ContainerDefinition>) -> Result<Vec<String>, String>,
) -> Result<Registered, String> {
    let resource = format!("task definition `{task_definition}`");
    let described = ecs
        .describe_task_definition()
        .task_definition(task_definition)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| {
            let err = aws::describe(&e, "ecs:DescribeTaskDefinition", &resource);
            match e.code() {
                Some("ClientException") => {
                    format!("{resource}: {}", e.message().unwrap_or("not found"))
                }
                _ => err.message,
            }
        })?;
    let Some(td) = described.task_definition() else {
        return Err(format!(
            "{resource}: DescribeTaskDefinition returned no task definition"
        ));
    };
    let mut containers = td.container_definitions().to_vec();
    let changed = edit(&mut containers)?;
    let tags = described.tags().to_vec();
    let family = format!(
        "{}{}",
        td.family().unwrap_or_default(),
        suffix.unwrap_or("")
    );
    let out = ecs
        .register_task_definition()
        .family(&family)
        .set_task_role_arn(td.task_role_arn().map(str::to_string))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
        .set_network_mode(td.network_mode().cloned())
        .set_container_definitions(Some(containers))
        .set_volumes(Some(td.volumes().to_vec()).filter(|v| !v.is_empty()))
        .set_placement_constraints(
            Some(td.placement_constraints().to_vec()).filter(|v| !v.is_empty()),
        )
        .set_requires_compatibilities(
            Some(td.requires_compatibilities().to_vec()).filter(|v| !v.is_empty()),
        )
        .set_cpu(td.cpu().map(str::to_string))
        .set_memory(td.memory().map(str::to_string))
        .set_tags(Some(tags).filter(|t| !t.is_empty()))
        .set_pid_mode(td.pid_mode().cloned())
        .set_ipc_mode(td.ipc_mode().cloned())
        .set_proxy_configuration(td.proxy_configuration().cloned())
        .set_ephemeral_storage(td.ephemeral_storage().cloned())
        .set_runtime_platform(td.runtime_platform().cloned())
        .set_enable_fault_injection(td.enable_fault_injection())
        .send()
        .await
        .map_err(|e| {
            aws::describe(
                &e,
                "ecs:RegisterTaskDefinition",
                &format!("family `{family}`"),
            )
            .message
        })?;
    let arn = out
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .ok_or_else(|| format!("RegisterTaskDefinition of family `{family}` returned no ARN"))?;
    Ok(Registered {
        from: td
            .task_definition_arn()
            .unwrap_or(task_definition)
            .to_string(),
        arn: arn.to_string(),
        images: changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_flags_are_container_equals_image() {
        let flags = |f: &[&str]| parse_images(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            flags(&["web=repo/shop:abc", "worker=repo/shop:abc"]),
            Ok(vec![
                ("web".to_string(), "repo/shop:abc".to_string()),
                ("worker".to_string(), "repo/shop:abc".to_string())
            ])
        );
        assert!(flags(&["repo/shop:abc"]).is_err_and(|e| e.contains("CONTAINER=IMAGE")));
        assert!(flags(&["web="]).is_err());
        assert!(flags(&["web=a", "web=b"]).is_err_and(|e| e.contains("named twice")));
    }
}
