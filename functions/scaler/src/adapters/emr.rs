//! EMR through the AWS SDK: a cluster's state and managed scaling, its instance groups, fleets
//! and instances, resizes, and the steps a Flink resubmission runs.

use aws_sdk_emr::Client;
use aws_sdk_emr::types::{
    ActionOnFailure, HadoopJarStepConfig, InstanceFleetModifyConfig, InstanceGroupModifyConfig,
    InstanceResizePolicy, InstanceState, ShrinkPolicy, StepConfig,
};
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;

use crate::policy::FleetMarket;
use crate::ports::{
    EmrApi, FleetView, GroupResize, GroupView, InstanceView, ManagedScaling, Shrink,
};

pub struct EmrSdk {
    pub client: LazyClient<Client>,
}

fn shrink_policy(shrink: &Shrink) -> ShrinkPolicy {
    let mut resize = InstanceResizePolicy::builder();
    if !shrink.instances_to_terminate.is_empty() {
        resize = resize.set_instances_to_terminate(Some(shrink.instances_to_terminate.clone()));
    }
    ShrinkPolicy::builder()
        .decommission_timeout(shrink.timeout_seconds)
        .instance_resize_policy(
            resize
                .instance_termination_timeout(shrink.timeout_seconds)
                .build(),
        )
        .build()
}

impl EmrApi for EmrSdk {
    async fn cluster_state(&self, cluster_id: &str) -> Result<Option<String>, AwsCallError> {
        let cluster = self
            .client
            .describe_cluster()
            .cluster_id(cluster_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("DescribeCluster", cluster_id, &e))?;
        Ok(cluster
            .cluster()
            .and_then(|c| c.status())
            .and_then(|s| s.state())
            .map(|s| s.as_str().to_string()))
    }

    async fn managed_scaling(
        &self,
        cluster_id: &str,
    ) -> Result<Option<ManagedScaling>, AwsCallError> {
        let managed = self
            .client
            .get_managed_scaling_policy()
            .cluster_id(cluster_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("GetManagedScalingPolicy", cluster_id, &e))?;
        Ok(managed
            .managed_scaling_policy()
            .and_then(|p| p.compute_limits())
            .map(|l| ManagedScaling {
                minimum: l.minimum_capacity_units().unwrap_or_default(),
                maximum: l.maximum_capacity_units().unwrap_or_default(),
                unit: l.unit_type().map(|u| u.as_str().to_string()),
            }))
    }

    async fn instance_groups(&self, cluster_id: &str) -> Result<Vec<GroupView>, AwsCallError> {
        let groups = self
            .client
            .list_instance_groups()
            .cluster_id(cluster_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ListInstanceGroups", cluster_id, &e))?;
        Ok(groups
            .instance_groups()
            .iter()
            .map(|g| GroupView {
                id: g.id().unwrap_or_default().to_string(),
                group_type: g.instance_group_type().map(|t| t.as_str().to_string()),
                has_autoscaling_policy: g.auto_scaling_policy().is_some(),
                state: g
                    .status()
                    .and_then(|s| s.state())
                    .map(|s| s.as_str().to_string()),
                requested: g.requested_instance_count().unwrap_or_default(),
            })
            .collect())
    }

    async fn instance_fleets(&self, cluster_id: &str) -> Result<Vec<FleetView>, AwsCallError> {
        let fleets = self
            .client
            .list_instance_fleets()
            .cluster_id(cluster_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ListInstanceFleets", cluster_id, &e))?;
        Ok(fleets
            .instance_fleets()
            .iter()
            .map(|f| FleetView {
                id: f.id().unwrap_or_default().to_string(),
                state: f
                    .status()
                    .and_then(|s| s.state())
                    .map(|s| s.as_str().to_string()),
                target_on_demand: f.target_on_demand_capacity(),
                provisioned_on_demand: f.provisioned_on_demand_capacity(),
                target_spot: f.target_spot_capacity(),
                provisioned_spot: f.provisioned_spot_capacity(),
            })
            .collect())
    }

    async fn instances(
        &self,
        cluster_id: &str,
        group_id: &str,
    ) -> Result<Vec<InstanceView>, AwsCallError> {
        let out = self
            .client
            .list_instances()
            .cluster_id(cluster_id)
            .instance_group_id(group_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ListInstances", group_id, &e))?;
        Ok(out
            .instances()
            .iter()
            .filter_map(|i| {
                Some(InstanceView {
                    ec2_id: i.ec2_instance_id()?.to_string(),
                    private_dns: i.private_dns_name()?.to_string(),
                    running: i.status().and_then(|s| s.state()) == Some(&InstanceState::Running),
                })
            })
            .collect())
    }

    async fn modify_instance_group(&self, resize: &GroupResize) -> Result<(), AwsCallError> {
        let mut config = InstanceGroupModifyConfig::builder()
            .instance_group_id(&resize.group_id)
            .instance_count(resize.count as i32);
        if let Some(shrink) = &resize.shrink {
            config = config.shrink_policy(shrink_policy(shrink));
        }
        self.client
            .modify_instance_groups()
            .cluster_id(&resize.cluster_id)
            .instance_groups(config.build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsCallError::from_sdk(
                    "ModifyInstanceGroups",
                    format!("{}/{}", resize.cluster_id, resize.group_id),
                    &e,
                )
            })
    }

    async fn modify_instance_fleet(
        &self,
        cluster_id: &str,
        fleet_id: &str,
        market: FleetMarket,
        to: u32,
    ) -> Result<(), AwsCallError> {
        let config = InstanceFleetModifyConfig::builder().instance_fleet_id(fleet_id);
        let config = match market {
            FleetMarket::OnDemand => config.target_on_demand_capacity(to as i32),
            FleetMarket::Spot => config.target_spot_capacity(to as i32),
        };
        self.client
            .modify_instance_fleet()
            .cluster_id(cluster_id)
            .instance_fleet(config.build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsCallError::from_sdk(
                    "ModifyInstanceFleet",
                    format!("{cluster_id}/{fleet_id}"),
                    &e,
                )
            })
    }

    async fn step_state(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<String>, AwsCallError> {
        let out = self
            .client
            .list_steps()
            .cluster_id(cluster_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ListSteps", cluster_id, &e))?;
        Ok(out
            .steps()
            .iter()
            .find(|s| s.name() == Some(name))
            .and_then(|s| s.status())
            .and_then(|s| s.state())
            .map(|s| s.as_str().to_string()))
    }

    async fn add_step(
        &self,
        cluster_id: &str,
        name: &str,
        args: Vec<String>,
    ) -> Result<(), AwsCallError> {
        let config = StepConfig::builder()
            .name(name)
            .action_on_failure(ActionOnFailure::Continue)
            .hadoop_jar_step(
                HadoopJarStepConfig::builder()
                    .jar("command-runner.jar")
                    .set_args(Some(args))
                    .build(),
            )
            .build();
        self.client
            .add_job_flow_steps()
            .job_flow_id(cluster_id)
            .steps(config)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk("AddJobFlowSteps", cluster_id, &e))
    }
}
