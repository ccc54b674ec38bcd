//! CodeDeploy blue/green (`deploymentController.type` CODE_DEPLOY): ECS refuses
//! `UpdateService` with a task definition there, so migrail finds the service's
//! deployment group (`ListApplications`, `ListDeploymentGroups`, `BatchGetDeploymentGroups`
//! whose `ecsServices` names the cluster and service; `--codedeploy-app` and
//! `--codedeploy-group` name it outright), creates a deployment whose AppSpec names the new
//! task definition and the container and port of the service's load balancer, and follows
//! `GetDeployment` to Succeeded (Failed or Stopped: the rollout failed, quoting
//! `errorInformation` and `rollbackInfo`). The service's task sets decide the rest
//! ([`super::task_sets`]): only a PRIMARY one on the new revision, and no old task.

use aws_sdk_codedeploy::types::{AppSpecContent, RevisionLocation, RevisionLocationType};
use aws_sdk_ecs::types::Service;

use super::{revision, task_sets, Blocker, RolloutFailure, ServiceTarget};
use crate::ecs::aws::{self, Clients};

/// `--codedeploy-app`, `--codedeploy-group`: the deployment group, when not found by the
/// service it names.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub application: Option<String>,
    pub group: Option<String>,
}

/// The ECS AppSpec of a deployment to `task_definition`.
pub fn appspec(task_definition: &str, container: &str, port: i32) -> String {
    serde_json::json!({
        "version": 0.0,
        "Resources": [{"TargetService": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "TaskDefinition": task_definition,
                "LoadBalancerInfo": {"ContainerName": container, "ContainerPort": port}
            }
        }}]
    })
    .to_string()
}

fn last(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The (application, deployment group) that deploys `service` of `cluster`.
pub async fn find_group(
    clients: &Clients,
    cluster: &str,
    service: &str,
    names: &Names,
) -> Result<(String, String), String> {
    let cd = &clients.codedeploy;
    if let (Some(app), Some(group)) = (&names.application, &names.group) {
        return Ok((app.clone(), group.clone()));
    }
    let mut apps: Vec<String> = Vec::new();
    match &names.application {
        Some(app) => apps.push(app.clone()),
        None => {
            let mut token: Option<String> = None;
            for _ in 0..50 {
                let out = cd
                    .list_applications()
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        aws::describe(&e, "codedeploy:ListApplications", "CodeDeploy").message
                    })?;
                apps.extend(out.applications().iter().cloned());
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
    }
    for app in &apps {
        let groups = cd
            .list_deployment_groups()
            .application_name(app)
            .send()
            .await
            .map_err(|e| {
                aws::describe(&e, "codedeploy:ListDeploymentGroups", "CodeDeploy").message
            })?;
        let names_in: Vec<String> = groups
            .deployment_groups()
            .iter()
            .filter(|g| names.group.as_ref().is_none_or(|want| want == *g))
            .cloned()
            .collect();
        for chunk in names_in.chunks(100) {
            let out = cd
                .batch_get_deployment_groups()
                .application_name(app)
                .set_deployment_group_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    aws::describe(&e, "codedeploy:BatchGetDeploymentGroups", "CodeDeploy").message
                })?;
            for g in out.deployment_groups_info() {
                let ours = g.ecs_services().iter().any(|s| {
                    s.service_name().map(last) == Some(service)
                        && s.cluster_name().map(last) == Some(last(cluster))
                });
                if let (true, Some(name)) = (ours, g.deployment_group_name()) {
                    return Ok((app.clone(), name.to_string()));
                }
            }
        }
    }
    Err(format!(
        "service `{service}` is deployed by CodeDeploy, and no deployment group of {} names it \
         (ecsServices with cluster `{cluster}`): pass --codedeploy-app and --codedeploy-group",
        if apps.is_empty() {
            "any application".to_string()
        } else {
            format!("the applications {}", apps.join(", "))
        }
    ))
}

/// Create the CodeDeploy deployment of `task_definition` to `service`: its id.
pub async fn start(
    clients: &Clients,
    cluster: &str,
    service: &str,
    task_definition: &str,
    load_balancer: Option<&(String, i32)>,
    names: &Names,
) -> Result<String, String> {
    let Some((container, port)) = load_balancer else {
        return Err(format!(
            "service `{service}` is deployed by CodeDeploy but has no load balancer with a \
             container name and port: the AppSpec needs them"
        ));
    };
    let (app, group) = find_group(clients, cluster, service, names).await?;
    let out = clients
        .codedeploy
        .create_deployment()
        .application_name(&app)
        .deployment_group_name(&group)
        .description(format!("migrail deploy: {}", revision(task_definition)))
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::AppSpecContent)
                .app_spec_content(
                    AppSpecContent::builder()
                        .content(appspec(task_definition, container, *port))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            aws::describe(
                &e,
                "codedeploy:CreateDeployment",
                &format!("deployment group `{group}` of application `{app}`"),
            )
            .message
        })?;
    out.deployment_id()
        .map(str::to_string)
        .ok_or_else(|| format!("CreateDeployment in `{app}`/`{group}` returned no deployment id"))
}

/// One round for one service: the CodeDeploy deployment migrail created (if any), then
/// the task sets.
pub async fn judge(
    clients: &Clients,
    svc: &Service,
    target: &ServiceTarget,
) -> Result<Result<Option<Blocker>, RolloutFailure>, aws::ApiError> {
    let Some(id) = &target.deployment else {
        return Ok(task_sets::judge(svc, target));
    };
    let out = clients
        .codedeploy
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(|e| {
            aws::describe(
                &e,
                "codedeploy:GetDeployment",
                &format!("CodeDeploy deployment {id}"),
            )
        })?;
    let info = out.deployment_info();
    let status = info
        .and_then(|i| i.status())
        .map(|s| s.as_str())
        .unwrap_or("Unknown");
    match status {
        "Succeeded" => Ok(task_sets::judge(svc, target)),
        "Failed" | "Stopped" => {
            let error = info
                .and_then(|i| i.error_information())
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.code().map(|c| c.as_str()).unwrap_or("error"),
                        e.message().unwrap_or("no message")
                    )
                })
                .unwrap_or_else(|| "no error information".into());
            let rollback = info
                .and_then(|i| i.rollback_info())
                .and_then(|r| r.rollback_message())
                .map(|m| format!("; rollback: {m}"))
                .unwrap_or_default();
            Ok(Err(RolloutFailure {
                service: target.service.clone(),
                kind: if status == "Failed" {
                    "failed"
                } else {
                    "stopped"
                },
                reason: format!(
                    "the CodeDeploy deployment {id} to {} is {status}: {error}{rollback}",
                    revision(&target.task_definition)
                ),
                events: Vec::new(),
            }))
        }
        // Created, Queued, InProgress, Baking, Ready, and anything new: waiting.
        other => Ok(Ok(Some(Blocker {
            service: target.service.clone(),
            kind: "deployment",
            task_id: None,
            revision: revision(&target.task_definition),
            last_status: Some(other.to_string()),
            desired_status: None,
            stage: Some(other.to_string()),
            detail: format!(
                "CodeDeploy deployment {id} to {} is {other}",
                revision(&target.task_definition)
            ),
        }))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_appspec_names_the_task_definition_and_the_load_balancer_container() {
        let spec: serde_json::Value = serde_json::from_str(&super::appspec(
            "arn:aws:ecs:eu-west-1:1:task-definition/web:43",
            "web",
            8000,
        ))
        .expect("json");
        let props = &spec["Resources"][0]["TargetService"]["Properties"];
        assert_eq!(
            spec["Resources"][0]["TargetService"]["Type"],
            "AWS::ECS::Service"
        );
        assert_eq!(
            props["TaskDefinition"],
            "arn:aws:ecs:eu-west-1:1:task-definition/web:43"
        );
        assert_eq!(props["LoadBalancerInfo"]["ContainerName"], "web");
        assert_eq!(props["LoadBalancerInfo"]["ContainerPort"], 8000);
    }
}
