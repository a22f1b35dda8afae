#!/usr/bin/env python3
"""Smoke test for the local AWS emulator (scripts/emulator.sh start).

Run with the emulator venv's python:  .emulator/venv/bin/python emulator/smoke.py
For every service it makes one create and one describe call with boto3, prints
PASS/FAIL per service, cleans up what it created and exits non-zero on any FAIL.
Endpoint: $AWS_ENDPOINT_URL or http://127.0.0.1:4566; region us-east-1; creds test/test.
"""

import datetime
import json
import os
import sys
import traceback
import uuid

import boto3
from botocore.config import Config

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
REGION = "us-east-1"
SUFFIX = uuid.uuid4().hex[:8]
NAME = f"smoke-{SUFFIX}"

_session = boto3.session.Session(
    aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
)
_clients = {}


def client(name):
    if name not in _clients:
        _clients[name] = _session.client(
            name,
            endpoint_url=ENDPOINT,
            config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=60),
        )
    return _clients[name]


# cleanup actions, run last-in first-out at the end
cleanups = []


def on_cleanup(label, fn, *args, **kwargs):
    cleanups.append((label, lambda: fn(*args, **kwargs)))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


ctx = {}  # ids shared between checks (vpc, subnets, ecs cluster/service)


# ------------------------------------------------------------------------ checks ----


def check_ec2():
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(
        CidrBlock="10.42.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": NAME}]}],
    )["Vpc"]["VpcId"]
    on_cleanup("ec2 vpc", ec2.delete_vpc, VpcId=vpc_id)
    subnets = []
    for i, az in enumerate(["us-east-1a", "us-east-1b"]):
        sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=az)[
            "Subnet"
        ]["SubnetId"]
        on_cleanup("ec2 subnet", ec2.delete_subnet, SubnetId=sid)
        subnets.append(sid)
    sg_id = ec2.create_security_group(GroupName=NAME, Description="smoke", VpcId=vpc_id)["GroupId"]
    on_cleanup("ec2 sg", ec2.delete_security_group, GroupId=sg_id)

    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Vpcs"]
    check([v["VpcId"] for v in vpcs] == [vpc_id], f"tag filter returned {vpcs}")
    got = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    check(sorted(s["SubnetId"] for s in got) == sorted(subnets), f"subnets {got}")
    ctx.update(vpc=vpc_id, subnets=subnets, sg=sg_id)


def check_ecs():
    ecs = client("ecs")
    cluster = ecs.create_cluster(clusterName=NAME)["cluster"]
    on_cleanup("ecs cluster", ecs.delete_cluster, cluster=NAME)
    check(cluster["status"] == "ACTIVE", f"cluster status {cluster['status']}")
    td = ecs.register_task_definition(
        family=NAME,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx:latest", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]
    on_cleanup("ecs task definition", ecs.deregister_task_definition, taskDefinition=td)
    ecs.create_service(
        cluster=NAME,
        serviceName=NAME,
        taskDefinition=td,
        desiredCount=0,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": ctx["subnets"], "securityGroups": [ctx["sg"]]}
        },
    )
    on_cleanup("ecs service", ecs.delete_service, cluster=NAME, service=NAME, force=True)
    got = ecs.describe_clusters(clusters=[NAME])["clusters"]
    check(len(got) == 1 and got[0]["clusterName"] == NAME, f"describe_clusters {got}")
    svcs = ecs.describe_services(cluster=NAME, services=[NAME])["services"]
    check(len(svcs) == 1 and svcs[0]["serviceName"] == NAME, f"describe_services {svcs}")
    ctx.update(ecs_cluster=NAME, ecs_service=NAME)


def check_elbv2():
    elb = client("elbv2")
    lb = elb.create_load_balancer(
        Name=NAME, Subnets=ctx["subnets"], SecurityGroups=[ctx["sg"]], Type="application"
    )["LoadBalancers"][0]
    on_cleanup("elbv2 lb", elb.delete_load_balancer, LoadBalancerArn=lb["LoadBalancerArn"])
    tg = elb.create_target_group(
        Name=NAME, Protocol="HTTP", Port=80, VpcId=ctx["vpc"], TargetType="ip"
    )["TargetGroups"][0]
    on_cleanup("elbv2 tg", elb.delete_target_group, TargetGroupArn=tg["TargetGroupArn"])
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )["Listeners"][0]
    on_cleanup("elbv2 listener", elb.delete_listener, ListenerArn=listener["ListenerArn"])
    got = elb.describe_load_balancers(Names=[NAME])["LoadBalancers"]
    check(got[0]["VpcId"] == ctx["vpc"], f"lb vpc {got[0].get('VpcId')}")
    tgs = elb.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    check([t["TargetGroupArn"] for t in tgs] == [tg["TargetGroupArn"]], f"target groups {tgs}")


def check_autoscaling():
    ec2, asg = client("ec2"), client("autoscaling")
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    image_id = images[0]["ImageId"] if images else "ami-12c6146b"
    lt = ec2.create_launch_template(
        LaunchTemplateName=NAME,
        LaunchTemplateData={"ImageId": image_id, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]
    on_cleanup("ec2 launch template", ec2.delete_launch_template, LaunchTemplateId=lt["LaunchTemplateId"])
    asg.create_auto_scaling_group(
        AutoScalingGroupName=NAME,
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        VPCZoneIdentifier=",".join(ctx["subnets"]),
    )
    on_cleanup(
        "autoscaling group", asg.delete_auto_scaling_group, AutoScalingGroupName=NAME, ForceDelete=True
    )
    got = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[NAME])["AutoScalingGroups"]
    check(len(got) == 1 and got[0]["MaxSize"] == 1, f"asg {got}")


def check_rds():
    rds = client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName=NAME, DBSubnetGroupDescription="smoke", SubnetIds=ctx["subnets"]
    )
    on_cleanup("rds subnet group", rds.delete_db_subnet_group, DBSubnetGroupName=NAME)
    ctx["db_subnet_group"] = NAME
    rds.create_db_instance(
        DBInstanceIdentifier=NAME,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        EngineVersion="16.3",
        MasterUsername="smoke",
        MasterUserPassword="smoke-password-1",
        AllocatedStorage=20,
        MultiAZ=True,
        DBSubnetGroupName=NAME,
        VpcSecurityGroupIds=[ctx["sg"]],
    )
    on_cleanup(
        "rds instance", rds.delete_db_instance, DBInstanceIdentifier=NAME, SkipFinalSnapshot=True
    )
    got = rds.describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"]
    check(got[0]["Engine"] == "postgres" and got[0]["MultiAZ"] is True, f"db instance {got}")


def check_docdb():
    docdb = client("docdb")
    cid = f"{NAME}-docdb"
    docdb.create_db_cluster(
        DBClusterIdentifier=cid,
        Engine="docdb",
        MasterUsername="smoke",
        MasterUserPassword="smoke-password-1",
        DBSubnetGroupName=ctx["db_subnet_group"],
        VpcSecurityGroupIds=[ctx["sg"]],
    )
    on_cleanup(
        "docdb cluster", docdb.delete_db_cluster, DBClusterIdentifier=cid, SkipFinalSnapshot=True
    )
    docdb.create_db_instance(
        DBInstanceIdentifier=f"{cid}-1",
        DBInstanceClass="db.r5.large",
        Engine="docdb",
        DBClusterIdentifier=cid,
    )
    on_cleanup("docdb instance", docdb.delete_db_instance, DBInstanceIdentifier=f"{cid}-1")
    clusters = docdb.describe_db_clusters(
        Filters=[{"Name": "engine", "Values": ["docdb"]}]
    )["DBClusters"]
    mine = [c for c in clusters if c["DBClusterIdentifier"] == cid]
    check(len(mine) == 1, f"docdb clusters {clusters}")
    c = mine[0]
    check(c["Engine"] == "docdb" and c["Port"] == 27017, f"cluster {c}")
    check([m["DBInstanceIdentifier"] for m in c["DBClusterMembers"]] == [f"{cid}-1"], f"members {c}")
    inst = docdb.describe_db_instances(DBInstanceIdentifier=f"{cid}-1")["DBInstances"]
    check(inst[0]["Engine"] == "docdb", f"docdb instance {inst}")


def check_application_autoscaling():
    aas = client("application-autoscaling")
    resource_id = f"service/{ctx['ecs_cluster']}/{ctx['ecs_service']}"
    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=resource_id,
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    on_cleanup(
        "application-autoscaling target",
        aas.deregister_scalable_target,
        ServiceNamespace="ecs",
        ResourceId=resource_id,
        ScalableDimension="ecs:service:DesiredCount",
    )
    aas.put_scaling_policy(
        PolicyName=NAME,
        ServiceNamespace="ecs",
        ResourceId=resource_id,
        ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
            },
        },
    )
    got = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource_id])[
        "ScalableTargets"
    ]
    check(len(got) == 1 and got[0]["MaxCapacity"] == 4, f"scalable targets {got}")
    pols = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource_id)[
        "ScalingPolicies"
    ]
    check([p["PolicyName"] for p in pols] == [NAME], f"policies {pols}")


def check_secretsmanager():
    sm = client("secretsmanager")
    arn = sm.create_secret(Name=NAME, SecretString=json.dumps({"password": "x"}))["ARN"]
    on_cleanup("secret", sm.delete_secret, SecretId=arn, ForceDeleteWithoutRecovery=True)
    check(sm.describe_secret(SecretId=NAME)["ARN"] == arn, "describe_secret arn mismatch")


def check_cloudwatch():
    cw = client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName=NAME,
        Namespace="AWS/ECS",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=80.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    on_cleanup("cloudwatch alarm", cw.delete_alarms, AlarmNames=[NAME])
    got = cw.describe_alarms(AlarmNames=[NAME])["MetricAlarms"]
    check(len(got) == 1, f"alarms {got}")


def check_logs():
    logs = client("logs")
    logs.create_log_group(logGroupName=f"/smoke/{NAME}")
    on_cleanup("log group", logs.delete_log_group, logGroupName=f"/smoke/{NAME}")
    got = logs.describe_log_groups(logGroupNamePrefix=f"/smoke/{NAME}")["logGroups"]
    check(len(got) == 1, f"log groups {got}")


def check_iam():
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=NAME, AssumeRolePolicyDocument=json.dumps(trust))
    on_cleanup("iam role", iam.delete_role, RoleName=NAME)
    check(iam.get_role(RoleName=NAME)["Role"]["RoleName"] == NAME, "get_role")
    ctx["role_arn"] = iam.get_role(RoleName=NAME)["Role"]["Arn"]


def check_sns():
    sns = client("sns")
    arn = sns.create_topic(Name=NAME)["TopicArn"]
    on_cleanup("sns topic", sns.delete_topic, TopicArn=arn)
    check(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["TopicArn"] == arn, "topic attrs")
    ctx["topic_arn"] = arn


def check_ssm():
    ssm = client("ssm")
    ssm.put_parameter(Name=f"/smoke/{NAME}", Value="v1", Type="String")
    on_cleanup("ssm parameter", ssm.delete_parameter, Name=f"/smoke/{NAME}")
    check(ssm.get_parameter(Name=f"/smoke/{NAME}")["Parameter"]["Value"] == "v1", "get_parameter")
    got = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [f"/smoke/{NAME}"]}]
    )["Parameters"]
    check(len(got) == 1, f"describe_parameters {got}")


def _self_signed_cert():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{NAME}.example.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(f"{NAME}.example.test")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


def check_acm():
    acm = client("acm")
    cert_pem, key_pem = _self_signed_cert()
    arn = acm.import_certificate(Certificate=cert_pem, PrivateKey=key_pem)["CertificateArn"]
    on_cleanup("acm certificate", acm.delete_certificate, CertificateArn=arn)
    got = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    check(got["DomainName"] == f"{NAME}.example.test", f"certificate {got.get('DomainName')}")


def check_events():
    ev = client("events")
    ev.put_rule(Name=NAME, ScheduleExpression="rate(5 minutes)", State="ENABLED")
    on_cleanup("events rule", ev.delete_rule, Name=NAME)
    check(ev.describe_rule(Name=NAME)["ScheduleExpression"] == "rate(5 minutes)", "describe_rule")


def check_scheduler():
    sch = client("scheduler")
    sch.create_schedule(
        Name=NAME,
        ScheduleExpression="rate(5 minutes)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": ctx.get("topic_arn", f"arn:aws:sns:{REGION}:000000000000:{NAME}"),
            "RoleArn": ctx.get("role_arn", f"arn:aws:iam::000000000000:role/{NAME}"),
        },
    )
    on_cleanup("scheduler schedule", sch.delete_schedule, Name=NAME)
    check(sch.get_schedule(Name=NAME)["Name"] == NAME, "get_schedule")


# ------------------------------------------------------------------------ main ------

CHECKS = [
    ("ec2", check_ec2, []),
    ("ecs", check_ecs, ["ec2"]),
    ("elbv2", check_elbv2, ["ec2"]),
    ("autoscaling", check_autoscaling, ["ec2"]),
    ("rds", check_rds, ["ec2"]),
    ("docdb", check_docdb, ["rds"]),
    ("application-autoscaling", check_application_autoscaling, ["ecs"]),
    ("secretsmanager", check_secretsmanager, []),
    ("cloudwatch", check_cloudwatch, []),
    ("logs", check_logs, []),
    ("iam", check_iam, []),
    ("sns", check_sns, []),
    ("ssm", check_ssm, []),
    ("acm", check_acm, []),
    ("events", check_events, []),
    ("scheduler", check_scheduler, []),
]


def main() -> int:
    verbose = "-v" in sys.argv
    results = {}
    for name, fn, deps in CHECKS:
        missing = [d for d in deps if results.get(d) != "PASS"]
        if missing:
            results[name] = "FAIL"
            print(f"FAIL {name}: skipped, depends on {', '.join(missing)}", flush=True)
            continue
        try:
            fn()
            results[name] = "PASS"
            print(f"PASS {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - report everything
            results[name] = "FAIL"
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            if verbose:
                traceback.print_exc()

    cleanup_errors = 0
    for label, fn in reversed(cleanups):
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            cleanup_errors += 1
            print(f"WARN cleanup {label}: {type(e).__name__}: {e}", flush=True)

    passed = sum(1 for r in results.values() if r == "PASS")
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
