//! The tasks' network, one of four modes. In every mode the tasks' security
//! group allows egress only.

use serde_json::{json, Value};

use super::{outputs, parameters, reference, Skip, Tagging, Template};

/// The tasks' subnets (comma-joined) and security group, as template values.
struct NetworkRefs {
    subnets: Value,
    security_group: Value,
}
use crate::spec::{subnet_bits, InfraSpec, Network};

const AZS: [&str; 2] = ["A", "B"];

const VPC_SKIPS: &[Skip] = &[
    ("CKV2_AWS_11", "Flow logs of a load-test VPC record mostly the test's own traffic; enable them if policy requires, at their cost."),
    ("CKV2_AWS_12", "Nothing uses the VPC's default security group; the tasks use their own egress-only group."),
];

pub(super) fn add(template: &mut Template, spec: &InfraSpec) {
    let refs = match &spec.network {
        Network::DefaultVpc => {
            template.parameter(
                parameters::VPC_ID,
                json!({ "Type": "AWS::EC2::VPC::Id", "Description": "The default VPC (looked up by `loadgrid infra deploy`)" }),
            );
            template.parameter(
                parameters::SUBNET_IDS,
                json!({ "Type": "List<AWS::EC2::Subnet::Id>", "Description": "The default VPC's default subnets (looked up by `loadgrid infra deploy`)" }),
            );
            security_group(template, spec, reference(parameters::VPC_ID));
            NetworkRefs {
                subnets: json!({ "Fn::Join": [",", reference(parameters::SUBNET_IDS)] }),
                security_group: reference("TaskSecurityGroup"),
            }
        }
        Network::Public { cidr } => {
            vpc(template, cidr);
            public_subnets(template, cidr);
            security_group(template, spec, reference("Vpc"));
            NetworkRefs { subnets: join_subnets("PublicSubnet"), security_group: reference("TaskSecurityGroup") }
        }
        Network::StaticIp { cidr, nat_per_az } => {
            vpc(template, cidr);
            public_subnets(template, cidr);
            private_subnets(template, cidr, *nat_per_az);
            security_group(template, spec, reference("Vpc"));
            let eips: Vec<Value> = nat_azs(*nat_per_az).iter().map(|az| reference(&format!("NatEip{az}"))).collect();
            template.output(
                outputs::EGRESS_IPS,
                "Allow-list these addresses: every request of the grid leaves from them",
                json!({ "Fn::Join": [",", eips] }),
            );
            NetworkRefs { subnets: join_subnets("PrivateSubnet"), security_group: reference("TaskSecurityGroup") }
        }
        Network::Existing { subnets, security_group } => {
            NetworkRefs { subnets: json!(subnets.join(",")), security_group: json!(security_group) }
        }
    };
    template.output(outputs::SUBNETS, "The tasks' subnets", refs.subnets.clone());
    template.output(outputs::SECURITY_GROUP, "The tasks' security group (egress only)", refs.security_group.clone());
    template.output(
        outputs::ASSIGN_PUBLIC_IP,
        "Whether tasks need a public IP to reach the internet",
        json!(if spec.network.assign_public_ip() { "ENABLED" } else { "DISABLED" }),
    );
    template.output(outputs::NETWORK, "The network mode", json!(spec.network.mode()));
}

fn nat_azs(per_az: bool) -> &'static [&'static str] {
    if per_az {
        &AZS
    } else {
        &AZS[..1]
    }
}

fn join_subnets(kind: &str) -> Value {
    json!({ "Fn::Join": [",", AZS.iter().map(|az| reference(&format!("{kind}{az}"))).collect::<Vec<_>>()] })
}

fn security_group(template: &mut Template, spec: &InfraSpec, vpc: Value) {
    template.resource(
        "TaskSecurityGroup",
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupName": spec.names.security_group.cfn(),
            "GroupDescription": "loadgrid tasks: egress only, nothing may connect to them",
            "VpcId": vpc,
            "SecurityGroupEgress": [{
                "Description": "Load to the system under test, and AWS APIs",
                "IpProtocol": "-1",
                "CidrIp": "0.0.0.0/0",
            }],
        }),
        Tagging::List,
    );
    template.skip_checks(
        "TaskSecurityGroup",
        &[(
            "CKV_AWS_382",
            "A load generator must reach the system under test wherever it is; there is no ingress at all.",
        )],
    );
}

fn vpc(template: &mut Template, cidr: &str) {
    template.resource(
        "Vpc",
        "AWS::EC2::VPC",
        json!({ "CidrBlock": cidr, "EnableDnsHostnames": true, "EnableDnsSupport": true }),
        Tagging::List,
    );
    template.skip_checks("Vpc", VPC_SKIPS);
    template.resource("InternetGateway", "AWS::EC2::InternetGateway", json!({}), Tagging::List);
    template.resource(
        "InternetGatewayAttachment",
        "AWS::EC2::VPCGatewayAttachment",
        json!({ "VpcId": reference("Vpc"), "InternetGatewayId": reference("InternetGateway") }),
        Tagging::None,
    );
    template.resource("PublicRouteTable", "AWS::EC2::RouteTable", json!({ "VpcId": reference("Vpc") }), Tagging::List);
    template.resource(
        "PublicDefaultRoute",
        "AWS::EC2::Route",
        json!({
            "RouteTableId": reference("PublicRouteTable"),
            "DestinationCidrBlock": "0.0.0.0/0",
            "GatewayId": reference("InternetGateway"),
        }),
        Tagging::None,
    );
    template.attribute("PublicDefaultRoute", "DependsOn", json!("InternetGatewayAttachment"));
}

/// Subnet `index` of four equal blocks of the VPC, in AZ `az` (0 or 1).
fn subnet(template: &mut Template, id: &str, cidr: &str, index: usize, az: usize) {
    template.resource(
        id,
        "AWS::EC2::Subnet",
        json!({
            "VpcId": reference("Vpc"),
            "CidrBlock": { "Fn::Select": [index, { "Fn::Cidr": [cidr, 4, subnet_bits(cidr).to_string()] }] },
            "AvailabilityZone": { "Fn::Select": [az, { "Fn::GetAZs": "" }] },
            "MapPublicIpOnLaunch": false,
        }),
        Tagging::List,
    );
}

fn public_subnets(template: &mut Template, cidr: &str) {
    for (az_index, az) in AZS.iter().enumerate() {
        let id = format!("PublicSubnet{az}");
        subnet(template, &id, cidr, az_index, az_index);
        template.resource(
            &format!("PublicSubnet{az}RouteTableAssociation"),
            "AWS::EC2::SubnetRouteTableAssociation",
            json!({ "SubnetId": reference(&id), "RouteTableId": reference("PublicRouteTable") }),
            Tagging::None,
        );
    }
}

/// Private subnets whose default route is a NAT gateway with an Elastic IP:
/// one for both AZs, or one per AZ (no cross-AZ dependency, twice the fee).
fn private_subnets(template: &mut Template, cidr: &str, nat_per_az: bool) {
    for az in nat_azs(nat_per_az) {
        template.resource(&format!("NatEip{az}"), "AWS::EC2::EIP", json!({ "Domain": "vpc" }), Tagging::List);
        template.attribute(&format!("NatEip{az}"), "DependsOn", json!("InternetGatewayAttachment"));
        template.resource(
            &format!("NatGateway{az}"),
            "AWS::EC2::NatGateway",
            json!({
                "AllocationId": super::attr(&format!("NatEip{az}"), "AllocationId"),
                "SubnetId": reference(&format!("PublicSubnet{az}")),
            }),
            Tagging::List,
        );
    }
    for (az_index, az) in AZS.iter().enumerate() {
        let id = format!("PrivateSubnet{az}");
        subnet(template, &id, cidr, 2 + az_index, az_index);
        let table = format!("PrivateRouteTable{az}");
        template.resource(&table, "AWS::EC2::RouteTable", json!({ "VpcId": reference("Vpc") }), Tagging::List);
        let nat = if nat_per_az { format!("NatGateway{az}") } else { "NatGatewayA".to_owned() };
        template.resource(
            &format!("PrivateDefaultRoute{az}"),
            "AWS::EC2::Route",
            json!({ "RouteTableId": reference(&table), "DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": reference(&nat) }),
            Tagging::None,
        );
        template.resource(
            &format!("PrivateSubnet{az}RouteTableAssociation"),
            "AWS::EC2::SubnetRouteTableAssociation",
            json!({ "SubnetId": reference(&id), "RouteTableId": reference(&table) }),
            Tagging::None,
        );
    }
}
