//! EMR events: cluster state, step status, instance group (and fleet) state and automatic
//! scaling policy state. Each has a resource of its own (cluster, cluster/step, cluster/group,
//! cluster/group/autoscaling-policy), so an instance group's or a policy's change never shares
//! the cluster's dedup record (and cannot make the cluster's own state change look old).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{
    EMR_AUTOSCALING_DETAIL_TYPE, EMR_CLUSTER_DETAIL_TYPE, EMR_FLEET_DETAIL_TYPE,
    EMR_GROUP_DETAIL_TYPE, EMR_STEP_DETAIL_TYPE, NormalizeOptions, runbook_for,
};
use crate::model::{Alert, AlertKind, Severity, fingerprint};

/// `stateChangeReason` is a JSON string in EMR events; sometimes an object; sometimes absent.
fn json_string_or_object(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => {
            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
        }
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmrClusterDetail {
    cluster_id: String,
    state: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    state_change_reason: Option<Value>,
}

pub(super) fn from_emr_cluster(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let d: EmrClusterDetail =
        serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    let reason = json_string_or_object(d.state_change_reason.as_ref());
    let code = reason
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let severity = match d.state.as_str() {
        "TERMINATED_WITH_ERRORS" => Severity::Critical,
        "TERMINATED" if matches!(code.as_str(), "USER_REQUEST" | "ALL_STEPS_COMPLETED") => {
            Severity::Info
        }
        "TERMINATED" => Severity::Warning,
        _ => Severity::Info,
    };
    let label = d
        .name
        .clone()
        .map(|n| format!("{} ({n})", d.cluster_id))
        .unwrap_or_else(|| d.cluster_id.clone());
    let mut details = vec![];
    if !code.is_empty() {
        details.push(("reason code".into(), code.clone()));
    }
    if let Some(m) = reason.get("message").and_then(Value::as_str) {
        details.push(("reason".into(), m.to_string()));
    }
    let region = event.region.clone();
    Ok(Alert {
        kind: AlertKind::EmrCluster,
        severity,
        title: format!("EMR cluster {label} {}", d.state),
        summary: d
            .message
            .clone()
            .unwrap_or_else(|| format!("EMR cluster {label} is now {}", d.state)),
        source: event.source.clone(),
        detail_type: EMR_CLUSTER_DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            event.account.as_deref(),
            region.as_deref(),
            &event.source,
            &d.cluster_id,
        ),
        console_url: region.as_deref().map(|r| emr_console(r, &d.cluster_id)),
        runbook_url: runbook_for(d.name.as_deref().unwrap_or(&d.cluster_id), opts),
        resource: d.cluster_id.clone(),
        region,
        account: event.account.clone(),
        time: event.time.unwrap_or(now),
        state: d.state,
        previous_state: None,
        event_id: event
            .id
            .clone()
            .unwrap_or_else(|| format!("{}@{}", d.cluster_id, now.timestamp_millis())),
        details,
        suppressed_by: None,
        labels: Default::default(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmrStepDetail {
    cluster_id: String,
    step_id: String,
    state: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    action_on_failure: Option<String>,
    #[serde(default)]
    state_change_reason: Option<Value>,
    #[serde(default)]
    log_uri: Option<String>,
}

pub(super) fn from_emr_step(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let d: EmrStepDetail =
        serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    let severity = match d.state.as_str() {
        "FAILED" => Severity::Critical,
        "CANCELLED" | "INTERRUPTED" => Severity::Warning,
        _ => Severity::Info,
    };
    let label = d
        .name
        .clone()
        .map(|n| format!("{} ({n})", d.step_id))
        .unwrap_or_else(|| d.step_id.clone());
    let mut details = vec![("cluster".into(), d.cluster_id.clone())];
    if let Some(a) = &d.action_on_failure {
        details.push(("action on failure".into(), a.clone()));
    }
    let reason = json_string_or_object(d.state_change_reason.as_ref());
    if let Some(m) = reason.get("message").and_then(Value::as_str) {
        details.push(("reason".into(), m.to_string()));
    }
    if let Some(l) = &d.log_uri {
        details.push(("logs".into(), l.clone()));
    }
    let resource = format!("{}/{}", d.cluster_id, d.step_id);
    let region = event.region.clone();
    Ok(Alert {
        kind: AlertKind::EmrStep,
        severity,
        title: format!("EMR step {label} {}", d.state),
        summary: d.message.clone().unwrap_or_else(|| {
            format!(
                "Step {label} on cluster {} is now {}",
                d.cluster_id, d.state
            )
        }),
        source: event.source.clone(),
        detail_type: EMR_STEP_DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            event.account.as_deref(),
            region.as_deref(),
            &event.source,
            &resource,
        ),
        console_url: region.as_deref().map(|r| emr_console(r, &d.cluster_id)),
        runbook_url: runbook_for(d.name.as_deref().unwrap_or(&resource), opts),
        resource,
        region,
        account: event.account.clone(),
        time: event.time.unwrap_or(now),
        state: d.state,
        previous_state: None,
        event_id: event.id.clone().unwrap_or_else(|| {
            format!("{}/{}@{}", d.cluster_id, d.step_id, now.timestamp_millis())
        }),
        details,
        suppressed_by: None,
        labels: Default::default(),
    })
}

fn emr_console(region: &str, cluster: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/emr/home?region={region}#/clusterDetails/{cluster}"
    )
}

/// The `severity` EMR puts in its events (`INFO`, `WARN`, `ERROR`, `CRITICAL`).
fn emr_severity(detail: &Value) -> Option<Severity> {
    match detail
        .get("severity")?
        .as_str()?
        .to_ascii_uppercase()
        .as_str()
    {
        "CRITICAL" => Some(Severity::Critical),
        "ERROR" => Some(Severity::Error),
        "WARN" | "WARNING" => Some(Severity::Warning),
        "INFO" => Some(Severity::Info),
        _ => None,
    }
}

/// A count EMR writes as a string (`"2"`) or a number.
fn count(detail: &Value, key: &str) -> Option<String> {
    match detail.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(detail: &Value, key: &str) -> Option<String> {
    detail
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// What an instance group, fleet or policy event is about.
struct EmrPart {
    kind: AlertKind,
    detail_type: &'static str,
    cluster: String,
    /// The resource: cluster/id, and a suffix for the policy.
    resource: String,
    label: String,
    state: String,
    severity: Severity,
    details: Vec<(String, String)>,
}

/// "EMR Instance Group State Change" and "EMR Instance Fleet State Change": the group's state,
/// its requested and running instance counts, and the reason EMR gives.
pub(super) fn from_emr_instances(
    event: &EventBridgeEvent<Value>,
    fleet: bool,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let d = &event.detail;
    let (id_key, type_key, word) = if fleet {
        ("instanceFleetId", "instanceFleetType", "fleet")
    } else {
        ("instanceGroupId", "instanceGroupType", "group")
    };
    let cluster = text(d, "clusterId").ok_or("detail.clusterId is missing")?;
    let id = text(d, id_key).ok_or_else(|| format!("detail.{id_key} is missing"))?;
    let state = text(d, "state").ok_or("detail.state is missing")?;
    let by_state = match state.as_str() {
        "ARRESTED" | "SUSPENDED" => Severity::Warning,
        _ => Severity::Info,
    };
    let mut details = vec![("cluster".to_string(), cluster.clone())];
    let role = text(d, type_key);
    for (label, value) in [
        ("role", role.clone()),
        ("instance type", text(d, "instanceType")),
        ("market", text(d, "market")),
        ("requested instances", count(d, "requestedInstanceCount")),
        ("running instances", count(d, "runningInstanceCount")),
        (
            "target on-demand capacity",
            count(d, "targetOnDemandCapacity"),
        ),
        ("target spot capacity", count(d, "targetSpotCapacity")),
        (
            "provisioned on-demand capacity",
            count(d, "provisionedOnDemandCapacity"),
        ),
        (
            "provisioned spot capacity",
            count(d, "provisionedSpotCapacity"),
        ),
        ("reason", text(d, "message")),
    ] {
        if let Some(v) = value {
            details.push((label.to_string(), v));
        }
    }
    let label = match role {
        Some(r) => format!("{id} ({r})"),
        None => id.clone(),
    };
    Ok(emr_part_alert(
        event,
        EmrPart {
            kind: if fleet {
                AlertKind::EmrInstanceFleet
            } else {
                AlertKind::EmrInstanceGroup
            },
            detail_type: if fleet {
                EMR_FLEET_DETAIL_TYPE
            } else {
                EMR_GROUP_DETAIL_TYPE
            },
            resource: format!("{cluster}/{id}"),
            label: format!("instance {word} {label}"),
            severity: by_state.min(emr_severity(d).unwrap_or(by_state)),
            cluster,
            state,
            details,
        },
        now,
        opts,
    ))
}

/// "EMR Auto Scaling Policy State Change": the policy of an instance group (`resourceId`).
pub(super) fn from_emr_autoscaling(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let d = &event.detail;
    let cluster = text(d, "clusterId").ok_or("detail.clusterId is missing")?;
    let id = text(d, "resourceId").ok_or("detail.resourceId is missing")?;
    let state = text(d, "state").ok_or("detail.state is missing")?;
    let by_state = match state.as_str() {
        "FAILED" => Severity::Warning,
        _ => Severity::Info,
    };
    let mut details = vec![("cluster".to_string(), cluster.clone())];
    if let Some(m) = text(d, "message") {
        details.push(("reason".into(), m));
    }
    if let Some(t) = text(d, "scalingResourceType") {
        details.push(("scaling resource".into(), t));
    }
    Ok(emr_part_alert(
        event,
        EmrPart {
            kind: AlertKind::EmrAutoScalingPolicy,
            detail_type: EMR_AUTOSCALING_DETAIL_TYPE,
            resource: format!("{cluster}/{id}/autoscaling-policy"),
            label: format!("automatic scaling policy of {id}"),
            severity: by_state.min(emr_severity(d).unwrap_or(by_state)),
            cluster,
            state,
            details,
        },
        now,
        opts,
    ))
}

fn emr_part_alert(
    event: &EventBridgeEvent<Value>,
    p: EmrPart,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Alert {
    let region = event.region.clone();
    Alert {
        kind: p.kind,
        severity: p.severity,
        title: format!("EMR {} {}", p.label, p.state),
        summary: format!(
            "EMR {} on cluster {} is now {}",
            p.label, p.cluster, p.state
        ),
        source: event.source.clone(),
        detail_type: p.detail_type.into(),
        fingerprint: fingerprint(
            event.account.as_deref(),
            region.as_deref(),
            &event.source,
            &p.resource,
        ),
        console_url: region.as_deref().map(|r| emr_console(r, &p.cluster)),
        runbook_url: runbook_for(&p.resource, opts),
        event_id: event
            .id
            .clone()
            .unwrap_or_else(|| format!("{}@{}", p.resource, now.timestamp_millis())),
        resource: p.resource,
        region,
        account: event.account.clone(),
        time: event.time.unwrap_or(now),
        state: p.state,
        previous_state: None,
        details: p.details,
        suppressed_by: None,
        labels: Default::default(),
    }
}
