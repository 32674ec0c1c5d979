//! EMR clusters on moto for the scaler's moto and Flink tests: one with instance groups, one with
//! a spot task fleet, one with its master only.

// The Flink tests use only the master-only cluster.
#![allow(dead_code)]

use aws_config::SdkConfig;
use aws_sdk_emr::types::{InstanceGroupConfig, InstanceRoleType, JobFlowInstancesConfig};

/// A cluster `name` kept alive without steps, with these instances; its id.
async fn job_flow(
    emr: &aws_sdk_emr::Client,
    name: &str,
    instances: JobFlowInstancesConfig,
) -> String {
    emr.run_job_flow()
        .name(name)
        .release_label("emr-7.5.0")
        .job_flow_role("EMR_EC2_DefaultRole")
        .service_role("EMR_DefaultRole")
        .instances(instances)
        .send()
        .await
        .unwrap()
        .job_flow_id()
        .unwrap()
        .to_string()
}

/// A cluster `name` with one m5.xlarge master and nothing else; its id.
pub async fn master_only_cluster(sdk: &SdkConfig, name: &str) -> String {
    let master_only = JobFlowInstancesConfig::builder()
        .master_instance_type("m5.xlarge")
        .instance_count(1)
        .keep_job_flow_alive_when_no_steps(true)
        .build();
    job_flow(&aws_sdk_emr::Client::new(sdk), name, master_only).await
}

/// A cluster with a master, 2 core and 2 task instances in groups: (cluster id, task group id).
pub async fn emr_cluster(sdk: &SdkConfig) -> (String, String) {
    let emr = aws_sdk_emr::Client::new(sdk);
    let group = |name: &str, role: InstanceRoleType, n: i32| {
        InstanceGroupConfig::builder()
            .name(name)
            .instance_role(role)
            .instance_type("m5.xlarge")
            .instance_count(n)
            .build()
    };
    let groups = JobFlowInstancesConfig::builder()
        .instance_groups(group("master", InstanceRoleType::Master, 1))
        .instance_groups(group("core", InstanceRoleType::Core, 2))
        .instance_groups(group("task", InstanceRoleType::Task, 2))
        .keep_job_flow_alive_when_no_steps(true)
        .build();
    let cluster = job_flow(&emr, "flink", groups).await;
    let groups = emr
        .list_instance_groups()
        .cluster_id(&cluster)
        .send()
        .await
        .unwrap();
    let task = groups
        .instance_groups()
        .iter()
        .find(|g| g.name() == Some("task"))
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    (cluster, task)
}

/// A cluster with a spot task fleet (AddInstanceFleet: the moto extension's fleets):
/// (cluster id, fleet id).
pub async fn emr_fleet_cluster(sdk: &SdkConfig) -> (String, String) {
    use aws_sdk_emr::types::{InstanceFleetConfig, InstanceFleetType, InstanceTypeConfig};
    let cluster = master_only_cluster(sdk, "flink-fleets").await;
    let fleet = aws_sdk_emr::Client::new(sdk)
        .add_instance_fleet()
        .cluster_id(&cluster)
        .instance_fleet(
            InstanceFleetConfig::builder()
                .instance_fleet_type(InstanceFleetType::Task)
                .target_spot_capacity(4)
                .instance_type_configs(
                    InstanceTypeConfig::builder()
                        .instance_type("m5.xlarge")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .instance_fleet_id()
        .unwrap()
        .to_string();
    (cluster, fleet)
}
