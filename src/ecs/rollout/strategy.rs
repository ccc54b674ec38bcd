//! Which kind of deployment a service uses, read once from `DescribeServices`
//! (`deploymentController.type`, `deploymentConfiguration.strategy`), and the one place
//! that picks the module driving it: [`super::rolling`] (ROLLING, and a strategy migrail
//! does not know), [`super::service_deployment`] (BLUE_GREEN, LINEAR, CANARY) and
//! [`super::task_sets`] (CODE_DEPLOY and EXTERNAL controllers, whose services list task
//! sets instead of deployments). Values are read as strings: an SDK enum may lack a value
//! ECS already returns.

use aws_sdk_ecs::types::Service;
use serde::Serialize;

/// How a service rolls out a new task definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Rolling,
    BlueGreen,
    Linear,
    Canary,
    /// `deploymentController.type` CODE_DEPLOY: CodeDeploy shifts traffic between task sets.
    CodeDeploy,
    /// `deploymentController.type` EXTERNAL: a third-party controller drives task sets.
    External,
    /// A controller or strategy migrail does not know (the value as ECS returned it).
    Unknown(String),
}

impl Strategy {
    /// The service's deployment type.
    pub fn of(svc: &Service) -> Strategy {
        let controller = svc
            .deployment_controller()
            .map(|c| c.r#type().as_str())
            .unwrap_or("ECS");
        match controller {
            "ECS" => {
                let strategy = svc
                    .deployment_configuration()
                    .and_then(|c| c.strategy())
                    .map(|s| s.as_str())
                    .unwrap_or("ROLLING");
                match strategy {
                    "ROLLING" => Strategy::Rolling,
                    "BLUE_GREEN" => Strategy::BlueGreen,
                    "LINEAR" => Strategy::Linear,
                    "CANARY" => Strategy::Canary,
                    other => Strategy::Unknown(format!("strategy {other}")),
                }
            }
            "CODE_DEPLOY" => Strategy::CodeDeploy,
            "EXTERNAL" => Strategy::External,
            other => Strategy::Unknown(format!("controller {other}")),
        }
    }

    /// In words, for the plan line: `rolling`, `blue/green, bake 30 min`, ...
    pub fn describe(&self, svc: &Service) -> String {
        let config = svc.deployment_configuration();
        let bake = config
            .and_then(|c| c.bake_time_in_minutes())
            .map(|m| format!(", bake {m} min"))
            .unwrap_or_default();
        match self {
            Strategy::Rolling => "rolling update".into(),
            Strategy::BlueGreen => format!("ECS blue/green{bake}"),
            Strategy::Linear => format!("ECS linear{bake}"),
            Strategy::Canary => format!("ECS canary{bake}"),
            Strategy::CodeDeploy => "CodeDeploy blue/green".into(),
            Strategy::External => "external controller".into(),
            Strategy::Unknown(what) => format!("unknown deployment type ({what})"),
        }
    }

    /// Whether the service's progress lives in service deployments.
    pub fn has_service_deployments(&self) -> bool {
        matches!(
            self,
            Strategy::BlueGreen | Strategy::Linear | Strategy::Canary
        )
    }

    /// Why `migrail deploy` cannot roll this service out itself (checked before any
    /// change), with what to do instead; `None` when it can.
    pub fn cannot_deploy(&self, service: &str) -> Option<String> {
        match self {
            Strategy::External => Some(format!(
                "service `{service}` has an EXTERNAL deployment controller: its task sets are \
                 driven by another tool, which migrail cannot start or follow. Deploy with that \
                 tool, and run the post phase behind the gate afterwards: `migrail run --phase \
                 post --service {service} ...`"
            )),
            Strategy::Unknown(what) => Some(format!(
                "service `{service}` uses a deployment type migrail does not know ({what}): it \
                 cannot tell when the old release is gone"
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        DeploymentConfiguration, DeploymentController, DeploymentControllerType, DeploymentStrategy,
    };

    fn svc(controller: Option<&str>, strategy: Option<&str>) -> Service {
        let mut b = Service::builder().service_name("web");
        if let Some(c) = controller {
            b = b.deployment_controller(
                DeploymentController::builder()
                    .r#type(DeploymentControllerType::from(c))
                    .build()
                    .expect("controller"),
            );
        }
        if let Some(s) = strategy {
            b = b.deployment_configuration(
                DeploymentConfiguration::builder()
                    .strategy(DeploymentStrategy::from(s))
                    .bake_time_in_minutes(30)
                    .build(),
            );
        }
        b.build()
    }

    #[test]
    fn the_type_is_read_from_the_controller_and_the_strategy() {
        assert_eq!(Strategy::of(&svc(None, None)), Strategy::Rolling);
        assert_eq!(
            Strategy::of(&svc(Some("ECS"), Some("ROLLING"))),
            Strategy::Rolling
        );
        let bg = svc(Some("ECS"), Some("BLUE_GREEN"));
        assert_eq!(Strategy::of(&bg), Strategy::BlueGreen);
        assert_eq!(
            Strategy::of(&bg).describe(&bg),
            "ECS blue/green, bake 30 min"
        );
        assert_eq!(Strategy::of(&svc(None, Some("LINEAR"))), Strategy::Linear);
        assert_eq!(Strategy::of(&svc(None, Some("CANARY"))), Strategy::Canary);
        assert_eq!(
            Strategy::of(&svc(Some("CODE_DEPLOY"), None)),
            Strategy::CodeDeploy
        );
        assert_eq!(
            Strategy::of(&svc(Some("EXTERNAL"), None)),
            Strategy::External
        );
        // A value the SDK does not know yet is kept, and never driven.
        let new = Strategy::of(&svc(None, Some("SHADOW")));
        assert_eq!(new, Strategy::Unknown("strategy SHADOW".into()));
        assert!(new.cannot_deploy("web").is_some());
        assert!(Strategy::External
            .cannot_deploy("web")
            .is_some_and(|m| m.contains("EXTERNAL")));
        assert!(Strategy::BlueGreen.cannot_deploy("web").is_none());
        assert!(Strategy::CodeDeploy.cannot_deploy("web").is_none());
    }
}
