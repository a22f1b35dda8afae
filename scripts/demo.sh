#!/usr/bin/env bash
# The main job on a fresh machine: install and start the local AWS emulator, build
# hactl, validate, plan and apply config/ha-stack.toml against it, then show the
# result (a second plan with no changes, the state, and what EC2, ECS, ELBv2 and Auto
# Scaling say, through the aws CLI).
#
# Usage: bash scripts/demo.sh [CONFIG]     (default config/ha-stack.toml)
# Leaves the emulator running; stop it with `bash scripts/emulator.sh stop`.
# Remove the stack with `./target/debug/hactl destroy --auto-approve --allow-delete-protected
# --skip-final-snapshot --force-delete-secrets` (after
# `eval "$(bash scripts/emulator.sh env)"`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG="${1:-config/ha-stack.toml}"

command -v cargo >/dev/null || { echo "demo: cargo is needed (https://rustup.rs)" >&2; exit 1; }

echo "==> starting the emulator (LocalStack, host mode; first run installs it: ~1 min)" >&2
bash scripts/emulator.sh start
eval "$(bash scripts/emulator.sh env)"

echo "==> building hactl (first build compiles the AWS SDK: ~10 min on 2 cores)" >&2
cargo build -p hactl
HACTL=(./target/debug/hactl --config "$CONFIG")

echo "==> hactl validate" >&2
"${HACTL[@]}" validate
echo "==> hactl plan" >&2
"${HACTL[@]}" plan
echo "==> hactl apply --auto-approve" >&2
"${HACTL[@]}" --stats apply --auto-approve
echo "==> hactl plan --detailed-exitcode (0 = the stack matches the config)" >&2
"${HACTL[@]}" --stats plan --detailed-exitcode
echo "==> hactl state list" >&2
"${HACTL[@]}" state list

STACK="$(sed -n 's/^name *= *"\(.*\)".*/\1/p' "$CONFIG" | head -n1)"
AWS="$ROOT/.emulator/venv/bin/aws"
F="Name=tag:hactl:stack,Values=$STACK"
echo "==> what EC2 says (aws CLI, filtered by the tag hactl:stack=$STACK)" >&2
printf '  %-22s %s\n' \
  "VPCs" "$("$AWS" ec2 describe-vpcs --filters "$F" --query 'length(Vpcs)')" \
  "subnets" "$("$AWS" ec2 describe-subnets --filters "$F" --query 'length(Subnets)')" \
  "internet gateways" "$("$AWS" ec2 describe-internet-gateways --filters "$F" --query 'length(InternetGateways)')" \
  "NAT gateways" "$("$AWS" ec2 describe-nat-gateways --filter "$F" --query "length(NatGateways[?State=='available'])")" \
  "Elastic IPs" "$("$AWS" ec2 describe-addresses --filters "$F" --query 'length(Addresses)')" \
  "route tables" "$("$AWS" ec2 describe-route-tables --filters "$F" --query 'length(RouteTables)')" \
  "security groups" "$("$AWS" ec2 describe-security-groups --filters "$F" --query 'length(SecurityGroups)')" \
  "VPC endpoints" "$("$AWS" ec2 describe-vpc-endpoints --filters "$F" --query 'length(VpcEndpoints)')"
echo "==> what ECS, ELBv2 and Auto Scaling say (aws CLI)" >&2
printf '  %-22s %s\n' \
  "ECS cluster" "$("$AWS" ecs describe-clusters --clusters "$STACK" --query 'clusters[0].[status, join(`,`, capacityProviders)]' --output text 2>/dev/null || echo none)" \
  "services (run/want)" "$("$AWS" ecs describe-services --cluster "$STACK" --services $("$AWS" ecs list-services --cluster "$STACK" --query 'serviceArns' --output text 2>/dev/null) --query 'services[].join(``, [serviceName, `: `, to_string(runningCount), `/`, to_string(desiredCount)])' --output text 2>/dev/null || echo none)" \
  "load balancers" "$("$AWS" elbv2 describe-load-balancers --query "LoadBalancers[?starts_with(LoadBalancerName, '$STACK-')].[LoadBalancerName, Scheme]" --output text | tr '\t\n' ' ;')" \
  "Auto Scaling groups" "$("$AWS" autoscaling describe-auto-scaling-groups --query "AutoScalingGroups[?starts_with(AutoScalingGroupName, '$STACK-')].[AutoScalingGroupName, length(Instances)]" --output text | tr '\t\n' ' ;')"
# (the CLI's docdb and rds commands ignore AWS_ENDPOINT_URL: the endpoint is passed explicitly)
echo "==> what DocumentDB / RDS and Secrets Manager say (aws CLI; the password is not shown)" >&2
printf '  %-22s %s\n' \
  "DocumentDB cluster" "$("$AWS" --endpoint-url "$AWS_ENDPOINT_URL" docdb describe-db-clusters --db-cluster-identifier "$STACK-docdb" --query 'DBClusters[0].[Status, length(DBClusterMembers), DBClusterMembers[?IsClusterWriter].DBInstanceIdentifier | [0]]' --output text 2>/dev/null | awk '{print $1 ", " $2 " instances, writer " $3}' || echo none)" \
  "RDS instance" "$("$AWS" --endpoint-url "$AWS_ENDPOINT_URL" rds describe-db-instances --db-instance-identifier "$STACK-pg" --query 'DBInstances[0].[DBInstanceStatus, MultiAZ]' --output text 2>/dev/null | awk '{print $1 ", Multi-AZ " $2}' || echo none)" \
  "credentials secret" "$("$AWS" secretsmanager describe-secret --secret-id "hactl/$STACK/db-credentials" --query Name --output text 2>/dev/null || echo none)" \
  "database host" "$("$AWS" secretsmanager get-secret-value --secret-id "hactl/$STACK/db-connection" --query SecretString --output text 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("host"))' 2>/dev/null || echo none)"
echo "==> hactl output (the app's URL, the database endpoints, ...)" >&2
"${HACTL[@]}" output
echo "==> done: stack $STACK is applied to the emulator at $AWS_ENDPOINT_URL" >&2
