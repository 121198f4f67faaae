//! List prices, US East (N. Virginia), Linux, on-demand, as published by AWS
//! on the date below. Every price can be overridden in loadgrid.toml:
//!
//! ```toml
//! [cost]
//! fargate_vcpu_hour = 0.04048
//! spot_discount = 0.70
//! ec2 = { "c7i.xlarge" = 0.1785 }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::CostError;

/// When the default prices were read off AWS's pricing pages.
pub const PRICES_AS_OF: &str = "2026-01 (us-east-1)";

/// Every price loadgrid uses, in US dollars.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prices {
    pub fargate_vcpu_hour: f64,
    pub fargate_gb_hour: f64,
    pub fargate_arm_vcpu_hour: f64,
    pub fargate_arm_gb_hour: f64,
    /// Fargate Spot's discount on on-demand (0.70: Spot costs 30 %). AWS
    /// quotes "up to 70 %"; the real discount moves with the market.
    pub spot_discount: f64,
    pub nat_gateway_hour: f64,
    pub nat_gateway_gb: f64,
    /// A public IPv4 address (an Elastic IP, or a task's public IP), per hour.
    pub public_ipv4_hour: f64,
    /// gp3 storage, per GB-month (an EC2 instance's root volume).
    pub ebs_gb_month: f64,
    pub s3_gb_month: f64,
    pub logs_ingest_gb: f64,
    /// EC2 on-demand per hour, by instance type.
    pub ec2: BTreeMap<String, f64>,
}

/// vCPUs and GiB of the EC2 instance types in the default table.
pub const EC2_SIZES: &[(&str, u32, u32)] = &[
    ("t3.medium", 2, 4),
    ("t3.large", 2, 8),
    ("t3.xlarge", 4, 16),
    ("t3.2xlarge", 8, 32),
    ("c6i.large", 2, 4),
    ("c6i.xlarge", 4, 8),
    ("c6i.2xlarge", 8, 16),
    ("c7i.xlarge", 4, 8),
    ("m6i.xlarge", 4, 16),
    ("m6i.2xlarge", 8, 32),
];

/// What an ECS container instance keeps for itself (the ECS agent and the
/// OS), in MiB: its tasks share the rest.
pub const INSTANCE_RESERVED_MIB: u32 = 512;

/// How many tasks of `cpu` units and `memory` MiB one ECS container instance
/// of `instance_type` carries (0: not even one); `None` for a type not in
/// [`EC2_SIZES`].
pub fn tasks_per_instance(instance_type: &str, cpu: u32, memory: u32) -> Option<u32> {
    let &(_, vcpus, gib) = EC2_SIZES.iter().find(|(name, ..)| *name == instance_type)?;
    if cpu == 0 || memory == 0 {
        return Some(0);
    }
    Some((vcpus * 1024 / cpu).min((gib * 1024).saturating_sub(INSTANCE_RESERVED_MIB) / memory))
}

impl Default for Prices {
    fn default() -> Prices {
        let ec2 = [
            ("t3.medium", 0.0416),
            ("t3.large", 0.0832),
            ("t3.xlarge", 0.1664),
            ("t3.2xlarge", 0.3328),
            ("c6i.large", 0.085),
            ("c6i.xlarge", 0.17),
            ("c6i.2xlarge", 0.34),
            ("c7i.xlarge", 0.1785),
            ("m6i.xlarge", 0.192),
            ("m6i.2xlarge", 0.384),
        ];
        Prices {
            fargate_vcpu_hour: 0.04048,
            fargate_gb_hour: 0.004445,
            fargate_arm_vcpu_hour: 0.03238,
            fargate_arm_gb_hour: 0.00356,
            spot_discount: 0.70,
            nat_gateway_hour: 0.045,
            nat_gateway_gb: 0.045,
            public_ipv4_hour: 0.005,
            ebs_gb_month: 0.08,
            s3_gb_month: 0.023,
            logs_ingest_gb: 0.50,
            ec2: ec2.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }
}

impl Prices {
    /// Defaults with `[cost]` laid over them. EC2 overrides add to the table.
    pub fn with_overrides(overrides: Option<&Prices>) -> Prices {
        let Some(overrides) = overrides else { return Prices::default() };
        let mut prices = overrides.clone();
        let mut ec2 = Prices::default().ec2;
        ec2.extend(overrides.ec2.clone());
        prices.ec2 = ec2;
        prices
    }

    /// Rejects negative prices and a discount outside 0..1.
    pub fn check(&self) -> Result<(), CostError> {
        let named = [
            ("fargate_vcpu_hour", self.fargate_vcpu_hour),
            ("fargate_gb_hour", self.fargate_gb_hour),
            ("fargate_arm_vcpu_hour", self.fargate_arm_vcpu_hour),
            ("fargate_arm_gb_hour", self.fargate_arm_gb_hour),
            ("nat_gateway_hour", self.nat_gateway_hour),
            ("nat_gateway_gb", self.nat_gateway_gb),
            ("public_ipv4_hour", self.public_ipv4_hour),
            ("ebs_gb_month", self.ebs_gb_month),
            ("s3_gb_month", self.s3_gb_month),
            ("logs_ingest_gb", self.logs_ingest_gb),
        ];
        for (name, value) in named.into_iter().chain(self.ec2.iter().map(|(k, v)| (k.as_str(), *v))) {
            if !value.is_finite() || value < 0.0 {
                return Err(CostError(format!("[cost] `{name}` = {value}: a price is a number of dollars, 0 or more")));
            }
        }
        if !(0.0..1.0).contains(&self.spot_discount) {
            return Err(CostError(format!(
                "[cost] `spot_discount` = {}: a fraction from 0 to below 1 (0.70 = Spot costs 30 %)",
                self.spot_discount
            )));
        }
        Ok(())
    }

    pub fn ec2_hour(&self, instance: &str) -> Result<f64, CostError> {
        self.ec2.get(instance).copied().ok_or_else(|| {
            let known: Vec<&str> = self.ec2.keys().map(String::as_str).collect();
            CostError(format!(
                "unknown instance type `{instance}`; priced: {} (add others under [cost] ec2 = {{ \"{instance}\" = <$/h> }})",
                known.join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_carries_tasks_until_its_cpu_or_its_memory_beside_the_agent_runs_out() {
        // t3.xlarge: 4 vCPU, 16 GiB less 512 MiB for the agent.
        assert_eq!(tasks_per_instance("t3.xlarge", 1024, 2048), Some(4));
        assert_eq!(tasks_per_instance("t3.xlarge", 1024, 8192), Some(1));
        assert_eq!(tasks_per_instance("t3.xlarge", 4096, 16384), Some(0));
        assert_eq!(tasks_per_instance("x9.huge", 1024, 2048), None);
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        #[derive(Deserialize)]
        struct File {
            cost: Prices,
        }
        let file: File = toml::from_str("[cost]\nspot_discount = 0.5\nec2 = { \"c7g.xlarge\" = 0.145 }\n").unwrap();
        let prices = Prices::with_overrides(Some(&file.cost));
        assert_eq!(prices.spot_discount, 0.5);
        assert_eq!(prices.fargate_vcpu_hour, 0.04048);
        assert_eq!(prices.ec2_hour("c7g.xlarge"), Ok(0.145));
        assert_eq!(prices.ec2_hour("t3.xlarge"), Ok(0.1664), "the default table stays");
    }

    #[test]
    fn bad_prices_and_unknown_instances_say_what_to_do() {
        let mut prices = Prices::default();
        assert!(prices.ec2_hour("t9.huge").unwrap_err().0.contains("unknown instance type `t9.huge`"));
        prices.spot_discount = 1.5;
        assert!(prices.check().unwrap_err().0.contains("spot_discount"));
        prices.spot_discount = 0.7;
        prices.nat_gateway_hour = -1.0;
        assert!(prices.check().unwrap_err().0.contains("nat_gateway_hour"));
    }
}
