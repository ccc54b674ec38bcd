"""Set up and inspect the world of tests/moto.rs in a running moto server, with boto3.

    helper.py URL setup                         cluster, log group, task definition,
                                                service (moto's own subnets), lock table;
                                                prints JSON with the ids
    helper.py URL slow SECONDS                  ECS tasks advance one status every SECONDS
    helper.py URL tasks                         every task, as JSON (with tags)
    helper.py URL register                      web's next revision; prints its ARN
    helper.py URL service                       the service `web`, as JSON
    helper.py URL put-logs GROUP STREAM LINE... create the stream and write the lines
"""

import json
import sys
import time
import urllib.request

import boto3


def clients(url):
    kw = dict(
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    return {n: boto3.client(n, **kw) for n in ("ec2", "ecs", "logs", "dynamodb")}


def setup(c):
    subnets = [s["SubnetId"] for s in c["ec2"].describe_subnets()["Subnets"]][:2]
    vpc = c["ec2"].describe_vpcs()["Vpcs"][0]["VpcId"]
    sg = c["ec2"].create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    c["ecs"].create_cluster(clusterName="prod")
    c["logs"].create_log_group(logGroupName="/ecs/web")
    td = c["ecs"].register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{
            "name": "web",
            "image": "registry.example/web:1",
            "memory": 512,
            "essential": True,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/web",
                "awslogs-region": "eu-west-1",
                "awslogs-stream-prefix": "migrate",
            }},
        }],
    )["taskDefinition"]["taskDefinitionArn"]
    # moto ignores a service's capacityProviderStrategy: the launch type is used here,
    # the strategy is tested with --capacity-provider and in tests/ecs.rs.
    c["ecs"].create_service(
        cluster="prod",
        serviceName="web",
        taskDefinition=td,
        desiredCount=0,
        launchType="FARGATE",
        platformVersion="1.4.0",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED",
        }},
    )
    c["dynamodb"].create_table(
        TableName="migrail-locks",
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return {"subnets": subnets, "security_group": sg, "task_definition": td}


def tasks(c):
    arns = c["ecs"].list_tasks(cluster="prod")["taskArns"]
    if not arns:
        return []
    found = c["ecs"].describe_tasks(cluster="prod", tasks=arns, include=["TAGS"])["tasks"]
    return json.loads(json.dumps(found, default=str))


def main():
    url, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    c = clients(url)
    if cmd == "setup":
        print(json.dumps(setup(c)))
    elif cmd == "slow":
        body = json.dumps({"model_name": "ecs::task",
                           "transition": {"progression": "time", "seconds": int(args[0])}})
        req = urllib.request.Request(url + "/moto-api/state-manager/set-transition",
                                     data=body.encode(), method="POST")
        urllib.request.urlopen(req).read()
    elif cmd == "tasks":
        print(json.dumps(tasks(c)))
    elif cmd == "register":
        current = c["ecs"].describe_task_definition(taskDefinition="web")["taskDefinition"]
        keep = ("family", "networkMode", "requiresCompatibilities", "cpu", "memory",
                "containerDefinitions")
        new = {k: current[k] for k in keep}
        for container in new["containerDefinitions"]:
            container["image"] = container["image"].rsplit(":", 1)[0] + ":new"
        print(c["ecs"].register_task_definition(**new)["taskDefinition"]["taskDefinitionArn"])
    elif cmd == "task-definition":
        found = c["ecs"].describe_task_definition(taskDefinition=args[0])["taskDefinition"]
        print(json.dumps(found, default=str))
    elif cmd == "service":
        found = c["ecs"].describe_services(cluster="prod", services=["web"])["services"][0]
        print(json.dumps(found, default=str))
    elif cmd == "put-logs":
        group, stream, lines = args[0], args[1], args[2:]
        c["logs"].create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(time.time() * 1000)
        c["logs"].put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": now + i, "message": line} for i, line in enumerate(lines)
        ])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
