//! The labels inhibition rules match on (`Alert::labels`), beyond the built-in ones: facts read
//! from the input (an EMR event's cluster, an alarm's metric and its cluster dimension) and
//! those the operator attaches by resource-name prefix (`ALERTS_RESOURCE_LABELS`), which is how
//! an alarm without a cluster dimension (a stream's iterator age) is tied to its cluster.

use std::collections::BTreeMap;

use streamops_shared::alarm::AlarmTransition;

use super::NormalizeOptions;
use crate::model::{Alert, AlertKind};

/// The label naming an EMR cluster (`j-...`).
pub const CLUSTER_ID: &str = "cluster_id";

/// Metric dimensions that name an EMR cluster: `JobFlowId` (AWS/ElasticMapReduce) and
/// `ClusterId` (CloudWatch agent and custom reporters).
const CLUSTER_DIMENSIONS: &[&str] = &["JobFlowId", "ClusterId"];

/// Labels of an alarm: its first metric's namespace and name, and what its dimensions name.
pub(super) fn from_alarm(t: &AlarmTransition) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    if let Some(m) = t.metrics.iter().find(|m| m.namespace.is_some()) {
        labels.insert("namespace".into(), m.namespace.clone().unwrap_or_default());
        if let Some(name) = &m.name {
            labels.insert("metric".into(), name.clone());
        }
    }
    for (label, names) in DIMENSION_LABELS {
        let value = t.metrics.iter().find_map(|m| {
            m.dimensions
                .iter()
                .find(|(k, v)| names.contains(&k.as_str()) && !v.is_empty())
                .map(|(_, v)| v.clone())
        });
        if let Some(v) = value {
            labels.insert((*label).into(), v);
        }
    }
    labels
}

/// Labels read from an alarm's dimensions (the first metric naming one wins): its EMR
/// cluster, and as the scaler names what it acts on, a Kinesis stream (`StreamName`), a Flink
/// pipeline and job (the reporter's dimensions).
const DIMENSION_LABELS: &[(&str, &[&str])] = &[
    (CLUSTER_ID, CLUSTER_DIMENSIONS),
    ("stream", &["StreamName"]),
    ("pipeline", &["pipeline", "Pipeline"]),
    ("job_name", &["JobName", "job_name"]),
];

/// Adds what every alert gets after normalization: an EMR alert's cluster (its resource is the
/// cluster id, or `cluster/...`), then the operator's labels for the longest matching
/// resource-name prefix. Labels read from the input win over configured ones; empty values
/// (an unset template parameter) are not labels.
pub(super) fn attach(alert: &mut Alert, opts: &NormalizeOptions) {
    let emr = matches!(
        alert.kind,
        AlertKind::EmrCluster
            | AlertKind::EmrStep
            | AlertKind::EmrInstanceGroup
            | AlertKind::EmrInstanceFleet
            | AlertKind::EmrAutoScalingPolicy
    );
    if emr {
        let cluster = alert.resource.split('/').next().unwrap_or_default();
        if !cluster.is_empty() {
            alert.labels.insert(CLUSTER_ID.into(), cluster.to_string());
        }
    }
    let configured = opts
        .resource_labels
        .iter()
        .filter(|(prefix, _)| alert.resource.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len());
    if let Some((_, labels)) = configured {
        for (k, v) in labels.iter().filter(|(_, v)| !v.is_empty()) {
            alert.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}
