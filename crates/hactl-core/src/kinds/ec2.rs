//! `ec2.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `ec2.eip` (provider: `hactl-aws/src/ec2/eip.rs`).
    Eip = "ec2.eip" {
        reads: ["ec2:DescribeAddresses"],
        reads_account_wide: [],
        domain / DOMAIN: replace,
        tags / TAGS: in_place,
    }
    /// `ec2.internet_gateway` (provider: `hactl-aws/src/ec2/internet_gateway.rs`).
    InternetGateway = "ec2.internet_gateway" {
        reads: ["ec2:DescribeInternetGateways"],
        reads_account_wide: [],
        tags / TAGS: in_place,
    }
    /// `ec2.internet_gateway_attachment` (provider: `hactl-aws/src/ec2/internet_gateway_attachment.rs`).
    InternetGatewayAttachment = "ec2.internet_gateway_attachment" {
        reads: ["ec2:DescribeInternetGateways"],
        reads_account_wide: [],
        internet_gateway_id / INTERNET_GATEWAY_ID: replace,
        vpc_id / VPC_ID: replace,
    }
    /// `ec2.launch_template` (provider: `hactl-aws/src/ec2/launch_template.rs`).
    LaunchTemplate = "ec2.launch_template" {
        reads: ["ec2:DescribeLaunchTemplateVersions", "ec2:DescribeLaunchTemplates"],
        reads_account_wide: [],
        name / NAME: replace,
        image_id / IMAGE_ID: in_place,
        instance_type / INSTANCE_TYPE: in_place,
        instance_profile_arn / INSTANCE_PROFILE_ARN: in_place,
        security_group_ids / SECURITY_GROUP_IDS: in_place.as_set,
        user_data / USER_DATA: in_place,
        metadata_options / METADATA_OPTIONS: in_place,
        associate_public_ip_address / ASSOCIATE_PUBLIC_IP_ADDRESS: in_place,
        root_volume / ROOT_VOLUME: in_place,
        tags / TAGS: in_place,
    }
    /// `ec2.nat_gateway` (provider: `hactl-aws/src/ec2/nat_gateway.rs`).
    NatGateway = "ec2.nat_gateway" {
        reads: ["ec2:DescribeNatGateways"],
        reads_account_wide: [],
        subnet_id / SUBNET_ID: replace,
        allocation_id / ALLOCATION_ID: replace,
        connectivity_type / CONNECTIVITY_TYPE: replace,
        tags / TAGS: in_place,
    }
    /// `ec2.network_acl` (provider: `hactl-aws/src/ec2/network_acl.rs`): a network ACL with
    /// its numbered entries and the subnets associated with it.
    NetworkAcl = "ec2.network_acl" {
        reads: ["ec2:DescribeNetworkAcls"],
        reads_account_wide: [],
        vpc_id / VPC_ID: replace,
        subnet_ids / SUBNET_IDS: in_place.as_set,
        ingress / INGRESS: in_place.as_set,
        egress / EGRESS: in_place.as_set,
        tags / TAGS: in_place,
    }
    /// `ec2.route` (provider: `hactl-aws/src/ec2/route.rs`).
    Route = "ec2.route" {
        reads: ["ec2:DescribeRouteTables"],
        reads_account_wide: [],
        route_table_id / ROUTE_TABLE_ID: replace,
        destination_cidr_block / DESTINATION_CIDR_BLOCK: replace,
        gateway_id / GATEWAY_ID: in_place,
        nat_gateway_id / NAT_GATEWAY_ID: in_place,
    }
    /// `ec2.route_table` (provider: `hactl-aws/src/ec2/route_table.rs`).
    RouteTable = "ec2.route_table" {
        reads: ["ec2:DescribeRouteTables"],
        reads_account_wide: [],
        vpc_id / VPC_ID: replace,
        tags / TAGS: in_place,
    }
    /// `ec2.security_group` (provider: `hactl-aws/src/ec2/security_group.rs`).
    SecurityGroup = "ec2.security_group" {
        reads: ["ec2:DescribeSecurityGroups"],
        reads_account_wide: [],
        vpc_id / VPC_ID: replace,
        group_name / GROUP_NAME: replace,
        description / DESCRIPTION: replace,
        tags / TAGS: in_place,
    }
    /// `ec2.security_group_rules` (provider: `hactl-aws/src/ec2/security_group_rules.rs`).
    SecurityGroupRules = "ec2.security_group_rules" {
        reads: ["ec2:DescribeSecurityGroups"],
        reads_account_wide: [],
        group_id / GROUP_ID: replace,
        ingress / INGRESS: in_place.as_set,
        egress / EGRESS: in_place.as_set,
    }
    /// `ec2.subnet` (provider: `hactl-aws/src/ec2/subnet.rs`).
    Subnet = "ec2.subnet" {
        reads: ["ec2:DescribeRouteTables", "ec2:DescribeSubnets"],
        reads_account_wide: [],
        vpc_id / VPC_ID: replace,
        cidr_block / CIDR_BLOCK: replace,
        availability_zone / AVAILABILITY_ZONE: replace,
        map_public_ip_on_launch / MAP_PUBLIC_IP_ON_LAUNCH: in_place,
        route_table_id / ROUTE_TABLE_ID: in_place,
        tags / TAGS: in_place,
    }
    /// `ec2.vpc` (provider: `hactl-aws/src/ec2/vpc.rs`).
    Vpc = "ec2.vpc" {
        reads: ["ec2:DescribeVpcs"],
        reads_account_wide: [],
        cidr_block / CIDR_BLOCK: replace,
        enable_dns_support / ENABLE_DNS_SUPPORT: in_place,
        enable_dns_hostnames / ENABLE_DNS_HOSTNAMES: in_place,
        tags / TAGS: in_place,
    }
    /// `ec2.vpc_endpoint` (provider: `hactl-aws/src/ec2/vpc_endpoint.rs`).
    VpcEndpoint = "ec2.vpc_endpoint" {
        reads: ["ec2:DescribeVpcEndpoints"],
        reads_account_wide: [],
        vpc_id / VPC_ID: replace,
        service_name / SERVICE_NAME: replace,
        vpc_endpoint_type / VPC_ENDPOINT_TYPE: replace,
        route_table_ids / ROUTE_TABLE_IDS: in_place.as_set,
        subnet_ids / SUBNET_IDS: in_place.as_set,
        security_group_ids / SECURITY_GROUP_IDS: in_place.as_set,
        private_dns_enabled / PRIVATE_DNS_ENABLED: in_place,
        tags / TAGS: in_place,
    }
}
