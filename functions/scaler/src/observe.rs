//! What a target's service reports, classified: ready to size (and how its sizes align), busy,
//! unsupported, or owned by another autoscaler. Pure: the answers come in through the ports
//! (`targets` asks).

use streamops_shared::AwsCallError;

use crate::flink::{self, FlinkJobView};
use crate::policy::{FleetMarket, FlinkRescaleMode, Observed};
use crate::ports::{
    FleetView, GroupView, ManagedScaling, ShardQuota, StreamSummary, not_in_answer,
};
use crate::sizing::Alignment;

/// UpdateShardCount cannot take a stream beyond this many shards.
pub const KINESIS_MAX_SHARDS: u32 = 10_000;

fn word(s: Option<&str>) -> &str {
    s.unwrap_or("unknown")
}

/// A stream, as a target or as a Flink job's source: on-demand streams are Kinesis' to scale;
/// its open shards otherwise.
pub fn stream(stream: &str, s: &StreamSummary) -> Observed {
    if s.on_demand {
        return Observed::Unsupported {
            detail: format!("stream {stream} is on-demand: Kinesis scales it"),
        };
    }
    if s.status != "ACTIVE" {
        return Observed::Busy {
            detail: format!("stream {stream} is {}", s.status),
        };
    }
    Observed::ready(s.open_shards.max(0) as u32)
}

/// A ready stream as a target: the account's shard quota bounds a scale-out (and a stream takes
/// at most 10,000 shards through UpdateShardCount).
pub fn stream_target(size: u32, quota: ShardQuota) -> Observed {
    let headroom = (quota.limit - quota.open).max(0) as u32;
    Observed::Ready {
        size,
        alignment: Alignment::QuarterSteps { current: size },
        max_size: Some(size.saturating_add(headroom).min(KINESIS_MAX_SHARDS)),
        hdfs_percent: None,
    }
}

/// `Some` when the cluster cannot take a resize now.
pub fn cluster(cluster_id: &str, state: Option<&str>) -> Option<Observed> {
    if matches!(state, Some("RUNNING" | "WAITING")) {
        return None;
    }
    Some(Observed::Busy {
        detail: format!("cluster {cluster_id} is {}", word(state)),
    })
}

/// EMR managed scaling owns the cluster: the scaler does not fight it.
pub fn managed_scaling(cluster_id: &str, limits: &ManagedScaling) -> Observed {
    Observed::OwnedElsewhere {
        detail: format!(
            "EMR managed scaling is on for cluster {cluster_id} ({} to {} {}): the scaler does not fight it",
            limits.minimum,
            limits.maximum,
            limits.unit.as_deref().unwrap_or("units")
        ),
    }
}

/// An instance group: task groups are resized, core groups only with `allow_core`, master
/// groups never; `hdfs_percent` is filled in for core groups afterwards. Also whether the
/// group is a core group.
pub fn group(
    cluster_id: &str,
    group_id: &str,
    groups: &[GroupView],
    allow_core: bool,
    respect_others: bool,
) -> Result<(Observed, bool), AwsCallError> {
    let g = groups
        .iter()
        .find(|g| g.id == group_id)
        .ok_or_else(|| not_in_answer("ListInstanceGroups", &format!("{cluster_id}/{group_id}")))?;
    let kind = g.group_type.as_deref();
    let core = kind == Some("CORE");
    if kind == Some("MASTER") || (core && !allow_core) {
        let detail = format!(
            "instance group {group_id} is a {} group; the scaler resizes task groups, and core groups only with allow_core (they hold HDFS)",
            word(kind)
        );
        return Ok((Observed::Unsupported { detail }, core));
    }
    if respect_others && g.has_autoscaling_policy {
        let detail = format!("instance group {group_id} has an EMR automatic scaling policy");
        return Ok((Observed::OwnedElsewhere { detail }, core));
    }
    if g.state.as_deref() != Some("RUNNING") {
        let detail = format!("instance group {group_id} is {}", word(g.state.as_deref()));
        return Ok((Observed::Busy { detail }, core));
    }
    Ok((Observed::ready(g.requested.max(0) as u32), core))
}

/// An instance fleet: its target capacity of `market`, once provisioned.
pub fn fleet(
    cluster_id: &str,
    fleet_id: &str,
    fleets: &[FleetView],
    market: FleetMarket,
) -> Result<Observed, AwsCallError> {
    let f = fleets
        .iter()
        .find(|f| f.id == fleet_id)
        .ok_or_else(|| not_in_answer("ListInstanceFleets", &format!("{cluster_id}/{fleet_id}")))?;
    if f.state.as_deref() != Some("RUNNING") {
        return Ok(Observed::Busy {
            detail: format!("instance fleet {fleet_id} is {}", word(f.state.as_deref())),
        });
    }
    let (target, provisioned) = match market {
        FleetMarket::OnDemand => (f.target_on_demand, f.provisioned_on_demand),
        FleetMarket::Spot => (f.target_spot, f.provisioned_spot),
    };
    let target = target.unwrap_or_default().max(0) as u32;
    if provisioned.map(|p| p.max(0) as u32) != Some(target) {
        return Ok(Observed::Busy {
            detail: format!(
                "instance fleet {fleet_id} is still provisioning ({} of {target} units)",
                provisioned.unwrap_or_default()
            ),
        });
    }
    Ok(Observed::ready(target))
}

/// A Flink job that is not running is busy; `Ok` with its parallelism and max parallelism.
pub fn flink_running(view: FlinkJobView) -> Result<(String, u32, u32), Observed> {
    match view {
        FlinkJobView::Running {
            job_id,
            parallelism,
            max_parallelism,
        } => Ok((job_id, parallelism, max_parallelism)),
        FlinkJobView::NotRunning(detail) => Err(Observed::Busy { detail }),
    }
}

/// `Some` when the job's configuration rules the scaler out: another autoscaler owns it, or an
/// in-place rescale needs the adaptive scheduler it does not run on.
pub fn flink_config(
    job_name: &str,
    mode: FlinkRescaleMode,
    config: &[(String, String)],
    respect_others: bool,
) -> Option<Observed> {
    if respect_others && let Some(why) = flink::other_autoscaler(config) {
        return Some(Observed::OwnedElsewhere {
            detail: format!("job {job_name}: {why}"),
        });
    }
    if mode == FlinkRescaleMode::Adaptive && !flink::adaptive_scheduler(config) {
        return Some(Observed::Unsupported {
            detail: format!(
                "job {job_name} does not run on the adaptive scheduler (jobmanager.scheduler: adaptive), so it cannot rescale in place; use mode savepoint"
            ),
        });
    }
    None
}

/// A running job ready to rescale: aligned to its key groups, or to its source stream's shards
/// when the stream is ready.
pub fn flink_ready(parallelism: u32, max_parallelism: u32, source: Option<&Observed>) -> Observed {
    let alignment = match source {
        Some(Observed::Ready { size, .. }) => Alignment::Shards {
            shards: *size,
            max_parallelism,
        },
        _ => Alignment::KeyGroups { max_parallelism },
    };
    Observed::Ready {
        size: parallelism,
        alignment,
        max_size: Some(max_parallelism),
        hdfs_percent: None,
    }
}

/// Instances (EC2 id, private DNS name) whose YARN node (host name, containers) is empty.
pub fn empty_instances(
    nodes: &[(String, u64)],
    instances: &[(String, String)],
    count: usize,
) -> Vec<String> {
    let host = |h: &str| h.split('.').next().unwrap_or(h).to_ascii_lowercase();
    instances
        .iter()
        .filter(|(_, dns)| {
            nodes
                .iter()
                .any(|(n, containers)| *containers == 0 && host(n) == host(dns))
        })
        .map(|(id, _)| id.clone())
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_nodes_are_matched_by_host() {
        let nodes = vec![
            ("ip-10-0-0-1.ec2.internal".to_string(), 0),
            ("ip-10-0-0-2.ec2.internal".to_string(), 3),
            ("ip-10-0-0-3".to_string(), 0),
        ];
        let instances = vec![
            ("i-1".to_string(), "ip-10-0-0-1.ec2.internal".to_string()),
            ("i-2".to_string(), "ip-10-0-0-2.ec2.internal".to_string()),
            ("i-3".to_string(), "IP-10-0-0-3.ec2.internal".to_string()),
        ];
        assert_eq!(empty_instances(&nodes, &instances, 5), vec!["i-1", "i-3"]);
        assert_eq!(empty_instances(&nodes, &instances, 1), vec!["i-1"]);
    }

    fn group_view(kind: &str, state: &str) -> GroupView {
        GroupView {
            id: "ig-1".into(),
            group_type: Some(kind.into()),
            has_autoscaling_policy: false,
            state: Some(state.into()),
            requested: 3,
        }
    }

    #[test]
    fn groups_fleets_and_streams_are_classified() {
        let g = |v: GroupView, core: bool| group("j-1", "ig-1", &[v], core, true).unwrap().0;
        assert_eq!(g(group_view("TASK", "RUNNING"), false), Observed::ready(3));
        assert!(matches!(
            g(group_view("CORE", "RUNNING"), false),
            Observed::Unsupported { .. }
        ));
        assert!(matches!(
            g(group_view("MASTER", "RUNNING"), true),
            Observed::Unsupported { .. }
        ));
        assert!(
            matches!(g(group_view("TASK", "RESIZING"), false), Observed::Busy { detail } if detail.contains("RESIZING"))
        );
        let owned = GroupView {
            has_autoscaling_policy: true,
            ..group_view("TASK", "RUNNING")
        };
        assert!(matches!(g(owned, false), Observed::OwnedElsewhere { .. }));
        let e = group("j-1", "ig-9", &[group_view("TASK", "RUNNING")], false, true).unwrap_err();
        assert_eq!(
            (e.operation, e.resource.as_str()),
            ("ListInstanceGroups", "j-1/ig-9")
        );
        let f = FleetView {
            id: "if-1".into(),
            state: Some("RUNNING".into()),
            target_on_demand: Some(0),
            provisioned_on_demand: Some(0),
            target_spot: Some(8),
            provisioned_spot: Some(4),
        };
        assert!(matches!(
            fleet("j-1", "if-1", std::slice::from_ref(&f), FleetMarket::Spot).unwrap(),
            Observed::Busy { detail } if detail.contains("4 of 8")
        ));
        assert_eq!(
            fleet("j-1", "if-1", &[f], FleetMarket::OnDemand).unwrap(),
            Observed::ready(0)
        );
        let summary = |on_demand, status: &str| StreamSummary {
            on_demand,
            status: status.into(),
            open_shards: 4,
        };
        assert_eq!(stream("s", &summary(false, "ACTIVE")), Observed::ready(4));
        assert!(matches!(
            stream("s", &summary(true, "ACTIVE")),
            Observed::Unsupported { .. }
        ));
        assert!(matches!(
            stream("s", &summary(false, "UPDATING")),
            Observed::Busy { .. }
        ));
        assert!(matches!(
            stream_target(4, ShardQuota { limit: 10, open: 8 }),
            Observed::Ready {
                max_size: Some(6),
                ..
            }
        ));
        assert_eq!(cluster("j-1", Some("WAITING")), None);
        assert!(cluster("j-1", None).is_some());
    }
}
