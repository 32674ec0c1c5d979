//! Routing, pure: `ALERTS_ROUTES`, an ordered list of routes, each label matchers (the
//! inhibition rules' matcher; none: every alert) to a topic and a format. An alert goes to the
//! first route that matches and stops there, unless that route says `continue` (as in
//! Alertmanager), when later matching routes get it too. An alert no route takes goes to the
//! default route: `ALERTS_TOPIC_ARN` in `ALERTS_MESSAGE_FORMAT`, today's single topic.

use serde_json::Value;

use crate::matcher::{Matcher, parse_matcher};
use crate::render::MessageFormat;

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    /// `None`: every alert.
    pub matchers: Option<Matcher>,
    pub topic_arn: String,
    pub format: MessageFormat,
    /// Keep matching later routes after this one took the alert.
    pub continue_matching: bool,
}

/// Where one message goes: a route's topic (`None`: the default topic) in a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination<'a> {
    pub route: Option<&'a str>,
    pub topic_arn: Option<&'a str>,
    pub format: MessageFormat,
}

/// The destinations of something whose labels `matches` tests, in route order; the default
/// alone when no route took it.
pub fn destinations<'a>(
    routes: &'a [Route],
    default_format: MessageFormat,
    matches: impl Fn(&Matcher) -> bool,
) -> Vec<Destination<'a>> {
    let mut out = Vec::new();
    for r in routes {
        if r.matchers.as_ref().is_none_or(&matches) {
            out.push(Destination {
                route: Some(&r.name),
                topic_arn: Some(&r.topic_arn),
                format: r.format,
            });
            if !r.continue_matching {
                break;
            }
        }
    }
    if out.is_empty() {
        out.push(Destination {
            route: None,
            topic_arn: None,
            format: default_format,
        });
    }
    out
}

/// Parses `ALERTS_ROUTES`; the error names the route (by name and position) and the field.
pub fn parse_routes(text: &str) -> Result<Vec<Route>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Array(items) = v else {
        return Err("not a JSON array of routes".into());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = item.get("name").and_then(Value::as_str).unwrap_or("");
            parse_route(item).map_err(|e| format!("route {name:?} (#{}): {e}", i + 1))
        })
        .collect()
}

const FIELDS: &[&str] = &["name", "matchers", "topic_arn", "format", "continue"];

fn parse_route(item: &Value) -> Result<Route, String> {
    let obj = item.as_object().ok_or("not an object")?;
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field {unknown:?} ({})", FIELDS.join(", ")));
    }
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or("name: a non-empty string is required")?;
    let topic_arn = obj
        .get("topic_arn")
        .and_then(Value::as_str)
        .filter(|a| a.starts_with("arn:") && a.contains(":sns:"))
        .ok_or("topic_arn: an SNS topic ARN is required")?;
    let format = match obj.get("format") {
        None => MessageFormat::Text,
        Some(f) => f
            .as_str()
            .ok_or_else(|| "format: a string".to_string())?
            .parse()
            .map_err(|e| format!("format: {e} (text, json, chatbot, pagerduty)"))?,
    };
    let matchers = match obj.get("matchers") {
        None => None,
        Some(Value::Object(m)) => Some(parse_matcher(m).map_err(|e| format!("matchers: {e}"))?),
        Some(_) => return Err("matchers: an object of labels to values".into()),
    };
    let continue_matching = match obj.get("continue") {
        None => false,
        Some(c) => c.as_bool().ok_or("continue: true or false")?,
    };
    Ok(Route {
        name: name.to_string(),
        matchers,
        topic_arn: topic_arn.to_string(),
        format,
        continue_matching,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = r#"[
      {"name": "pager", "matchers": {"severity": ["critical", "resolved"]},
       "topic_arn": "arn:aws:sns:us-east-1:1:pager", "format": "pagerduty", "continue": true},
      {"name": "emr-chat", "matchers": {"namespace": "AWS/ElasticMapReduce"},
       "topic_arn": "arn:aws:sns:us-east-1:1:emr-chat", "format": "chatbot"},
      {"name": "chat", "topic_arn": "arn:aws:sns:us-east-1:1:chat", "format": "chatbot"}]"#;

    fn topics(labels: &[(&str, &str)]) -> Vec<Option<String>> {
        let routes = parse_routes(ROUTES).unwrap();
        let label = |n: &str| labels.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        destinations(&routes, MessageFormat::Text, |m| m.matches_with(label, "x"))
            .iter()
            .map(|d| {
                d.topic_arn
                    .map(|t| t.rsplit(':').next().unwrap_or("").to_string())
            })
            .collect()
    }

    #[test]
    fn the_first_match_takes_it_and_continue_lets_later_routes_match_too() {
        let pager_and_chat = topics(&[("severity", "critical")]);
        assert_eq!(pager_and_chat, [Some("pager".into()), Some("chat".into())]);
        let emr = topics(&[
            ("severity", "warning"),
            ("namespace", "AWS/ElasticMapReduce"),
        ]);
        assert_eq!(
            emr,
            [Some("emr-chat".into())],
            "the first match stops there"
        );
        let routes = parse_routes(ROUTES).unwrap();
        let none = destinations(&routes[..1], MessageFormat::Json, |m| {
            m.matches_with(|_| Some("warning"), "x")
        });
        assert_eq!(
            none,
            [Destination {
                route: None,
                topic_arn: None,
                format: MessageFormat::Json
            }]
        );
    }

    #[test]
    fn errors_name_the_route_and_the_field() {
        let e = parse_routes(r#"[{"name": "pager", "topic_arn": "pager"}]"#).unwrap_err();
        assert_eq!(
            e,
            r#"route "pager" (#1): topic_arn: an SNS topic ARN is required"#
        );
        let e =
            parse_routes(r#"[{"name": "p", "topic_arn": "arn:aws:sns:r:1:t", "format": "xml"}]"#)
                .unwrap_err();
        assert!(e.contains("format: unknown format"), "{e}");
        let e = parse_routes(
            r#"[{"name": "p", "topic_arn": "arn:aws:sns:r:1:t", "matchers": {"kind": "x"}}]"#,
        )
        .unwrap_err();
        assert!(e.contains("matchers: kind: unknown kind"), "{e}");
        let e = parse_routes(r#"[{"name": "p", "topic": "arn:aws:sns:r:1:t"}]"#).unwrap_err();
        assert!(e.contains("unknown field \"topic\""), "{e}");
    }
}
