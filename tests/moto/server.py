"""moto's server (`moto_server`), with one gap filled so that it behaves as ECS does.

moto's UpdateService sets the service's task definition but leaves its deployments as
they were: the PRIMARY deployment keeps the old task definition and id. ECS starts a new
PRIMARY deployment on the new task definition and the old one turns ACTIVE until it has
drained (`../shared/runner.md`, "Deploying"). Services here run no tasks (moto starts
none), so the new deployment is complete at once and the old one is gone: what ECS
reports once a service with no tasks has rolled out.

    python server.py -H 127.0.0.1 -p PORT
"""

import sys

from moto.core.utils import utcnow
from moto.ecs import models
from moto.moto_api._internal import mock_random

_update_service = models.EC2ContainerServiceBackend.update_service


def update_service(self, service_properties):
    wanted = service_properties.get("task_definition")
    service = _update_service(self, service_properties)
    if wanted and service.deployments:
        arn = self.describe_task_definition(wanted).arn
        current = service.deployments[0]
        if current.get("taskDefinition") != arn:
            deployment_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
            service.deployments = [
                dict(
                    current,
                    id=deployment_id,
                    status="PRIMARY",
                    taskDefinition=arn,
                    rolloutState="COMPLETED",
                    rolloutStateReason=f"ECS deployment {deployment_id} completed.",
                    createdAt=utcnow(),
                    updatedAt=utcnow(),
                )
            ]
    return service


models.EC2ContainerServiceBackend.update_service = update_service

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
