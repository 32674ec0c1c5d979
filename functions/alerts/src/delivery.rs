//! Sending one message to every destination its routes give (`route.rs`): an alert's, or a
//! group notification's. Each destination is one SNS publish in its route's format; a failure
//! fails the whole delivery, so the caller's claim protocol retries it, and a destination that
//! took the message before another failed gets it again on the retry (at-least-once per
//! destination, the same `fingerprint` attribute).

use streamops_shared::AwsCallError;

use crate::group::{Group, Member, Sending};
use crate::group_render::{MutedLists, render_group};
use crate::model::Alert;
use crate::ports::Publisher;
use crate::render::render_routed;
use crate::route::destinations;
use crate::service::AlertsService;

impl<S, P: Publisher, Q, B> AlertsService<S, P, Q, B> {
    /// Publishes `alert` to each of its routes; the message ids, comma-separated.
    pub(crate) async fn publish_routed(&self, alert: &Alert) -> Result<String, AwsCallError> {
        let c = &self.config;
        let mut ids = Vec::new();
        for d in destinations(&c.routes, c.format, |m| m.matches(alert)) {
            let mut message = render_routed(alert, d.format, &c.pagerduty_routing_key);
            message.topic = d.topic_arn.map(str::to_string);
            ids.push(self.publisher.publish(&message).await?);
            if let Some(route) = d.route {
                tracing::info!(fingerprint = %alert.fingerprint, route, "alert routed");
            }
        }
        Ok(ids.join(","))
    }

    /// Publishes a group's notification to each route its labels and severity take.
    pub(crate) async fn publish_group_routed(
        &self,
        group: &Group,
        sending: &Sending,
        members: &[&Member],
        muted: &MutedLists,
    ) -> Result<String, AwsCallError> {
        let c = &self.config;
        // Routed like an alert with the group's labels and `severity` the notification's;
        // no other label (its members differ in them) and its resource is the group key, so a
        // route on `kind` or `resource_prefix` never takes a group notification.
        let severity = crate::group_render::severity_of(sending, members);
        let label = |name: &str| match name {
            "severity" => Some(severity.as_str()),
            other => group.labels.get(other).map(String::as_str),
        };
        let mut ids = Vec::new();
        for d in destinations(&c.routes, c.format, |m| m.matches_with(label, &group.key)) {
            let key = &c.pagerduty_routing_key;
            let mut message = render_group(group, sending, members, muted, d.format, key);
            message.topic = d.topic_arn.map(str::to_string);
            ids.push(self.publisher.publish(&message).await?);
        }
        Ok(ids.join(","))
    }
}
