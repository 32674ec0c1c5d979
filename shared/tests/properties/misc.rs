//! The smaller readers of outside input in shared: the Flink/YARN REST endpoint and the HTTP
//! responses read from it, the ops-command envelope, the checkpoints book's keys, configuration
//! values, and the one-line cleaning of outside text.

use std::collections::HashMap;

use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use streamops_shared::EnvReader;
use streamops_shared::book_keys::{checkpoint_sk, job_of_sk, job_prefix_pk, job_sk, savepoint_sk};
use streamops_shared::http::{parse_endpoint, parse_response};
use streamops_shared::ops::parse_command;
use streamops_shared::text::{ELLIPSIS, clean_inline, is_unsafe_inline, shorten_at_word};
use streamops_test_support::generate::{json_value_with, nasty, text};

// ------------------------------------------------------------------ REST endpoints

/// A host as `parse_endpoint` should return it: a DNS name or IPv4 address, or a bracketed IPv6
/// literal. Nothing else may reach the `Host:` header or the connect call.
fn is_plain_host(host: &str) -> bool {
    let name = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    let ipv6 = host.len() > 2
        && host.starts_with('[')
        && host.ends_with(']')
        && host[1..host.len() - 1]
            .chars()
            .all(|c| c.is_ascii_hexdigit() || ":.".contains(c));
    name || ipv6
}

fn endpoint_junk() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        (text(), text()).prop_map(|(a, b)| format!("http://{a}:{b}")),
        (
            prop::collection::vec(prop_oneof!["[a-z0-9.]{1,8}", nasty()], 1..4),
            any::<u16>()
        )
            .prop_map(|(parts, port)| format!("http://{}:{port}/", parts.concat())),
    ]
}

// ------------------------------------------------------------------ HTTP responses

/// `body` in chunks cut at `cuts`, each size line in hex (upper or lower case), some with a
/// chunk extension, then the last chunk.
fn chunked(body: &[u8], cuts: &[usize], upper: bool, extension: bool) -> Vec<u8> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.push(0);
    points.push(body.len());
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    for w in points.windows(2) {
        let chunk = &body[w[0]..w[1]];
        let size = if upper {
            format!("{:X}", chunk.len())
        } else {
            format!("{:x}", chunk.len())
        };
        out.extend(size.as_bytes());
        if extension {
            out.extend(b";name=value");
        }
        out.extend(b"\r\n");
        out.extend(chunk);
        out.extend(b"\r\n");
    }
    out.extend(b"0\r\n\r\n");
    out
}

/// A chunked body whose size lines are anything: huge, negative, not hex, cut short.
fn chunk_junk() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        any::<u64>().prop_map(|n| format!("{n:x}")),
        any::<u128>().prop_map(|n| format!("{n:x}")),
        Just("ffffffffffffffff".to_string()),
        Just("fffffffffffffffe".to_string()),
        text(),
    ];
    prop::collection::vec(
        (
            line,
            prop::collection::vec(any::<u8>(), 0..8),
            any::<bool>(),
        ),
        0..4,
    )
    .prop_map(|chunks| {
        let mut out = Vec::new();
        for (size, data, crlf) in chunks {
            out.extend(size.as_bytes());
            out.extend(b"\r\n");
            out.extend(data);
            if crlf {
                out.extend(b"\r\n");
            }
        }
        out
    })
}

// ------------------------------------------------------------------ ops envelope

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
enum Command {
    Pause { target: String },
    SetLimit { limit: u32 },
    Status,
}

const COMMANDS: &str = "pause, set-limit, status";
const KEYS: &[&str] = &["command", "target", "limit", "pause", "status", "set-limit"];

fn command_payload() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        prop::sample::select(&["pause", "set-limit", "status", "reboot", "PAUSE", ""][..])
            .prop_map(Value::from),
        json_value_with(KEYS),
    ];
    (json_value_with(KEYS), prop::option::of(name)).prop_map(|(args, name)| {
        let mut payload = match args {
            Value::Object(o) => Value::Object(o),
            _ => json!({}),
        };
        if let Some(name) = name {
            payload["command"] = name;
        }
        payload
    })
}

proptest! {
    #[test]
    fn endpoints_read_back_host_and_port(
        host in prop_oneof!["[a-z0-9][a-z0-9.-]{0,30}", "[0-9]{1,3}(\\.[0-9]{1,3}){3}", Just("[::1]".to_string())],
        port in prop::option::of(any::<u16>()),
        slash in any::<bool>(),
    ) {
        let url = match port {
            Some(p) => format!("http://{host}:{p}"),
            None => format!("http://{host}"),
        } + if slash { "/" } else { "" };
        match (parse_endpoint(&url), port) {
            (Ok(read), Some(p)) => prop_assert_eq!(read, (host, p)),
            (Ok(read), None) => prop_assert_eq!(read, (host, 8081)),
            // A bracketed IPv6 literal needs its port spelled out.
            (Err(e), None) if host.starts_with('[') => prop_assert!(e.contains(&format!("{url:?}")), "{}", e),
            (Err(e), _) => prop_assert!(false, "{url:?} rejected: {e}"),
        }
    }

    #[test]
    fn endpoints_are_plain_hosts_or_errors_that_quote_them(url in endpoint_junk()) {
        match parse_endpoint(&url) {
            Ok((host, port)) => {
                prop_assert!(is_plain_host(&host), "{:?} gave host {:?}", url, host);
                prop_assert_eq!(parse_endpoint(&format!("http://{host}:{port}")), Ok((host, port)));
            }
            Err(e) => prop_assert!(e.contains(&format!("{url:?}")), "{}", e),
        }
    }

    #[test]
    fn responses_read_back_status_and_body(
        status in 100u16..600,
        body in prop::collection::vec(any::<u8>(), 0..64),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
        encoding in 0u8..3,
        upper in any::<bool>(),
        extension in any::<bool>(),
    ) {
        let head = match encoding {
            0 => format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n", body.len()),
            1 => format!("HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n"),
            _ => format!("HTTP/1.1 {status} X\r\nServer: y\r\ntransfer-encoding: gzip, Chunked\r\n\r\n"),
        };
        let mut raw = head.into_bytes();
        if encoding == 0 {
            raw.extend(&body);
        } else {
            raw.extend(chunked(&body, &cuts, upper, extension));
        }
        prop_assert_eq!(parse_response(&raw), Ok((status, body)));
    }

    #[test]
    fn any_response_reads_or_fails_without_panicking(
        chunked_head in any::<bool>(),
        rest in prop_oneof![chunk_junk(), prop::collection::vec(any::<u8>(), 0..64)],
    ) {
        let mut raw = if chunked_head {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
        } else {
            Vec::new()
        };
        raw.extend(&rest);
        match parse_response(&raw) {
            // What a read returns is never more than what arrived.
            Ok((_, body)) => prop_assert!(body.len() <= raw.len()),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    #[test]
    fn ops_envelopes_name_the_command_and_what_is_accepted(payload in command_payload()) {
        let name = payload.get("command").cloned();
        let read = parse_command::<Command>(&payload, "scaler", COMMANDS);
        match (name, read) {
            (None, None) => {}
            (Some(Value::String(n)), Some(Ok(c))) => {
                let want = match c { Command::Pause { .. } => "pause", Command::SetLimit { .. } => "set-limit", Command::Status => "status" };
                prop_assert_eq!(n.as_str(), want);
            }
            (Some(Value::String(n)), Some(Err(e))) => {
                if COMMANDS.split(", ").any(|c| c == n) {
                    prop_assert!(e.starts_with(&format!("invalid {n} command: ")), "{}", e);
                } else {
                    prop_assert!(e.contains(&format!("unknown command {n:?}")) && e.contains(COMMANDS), "{}", e);
                }
            }
            (Some(_), Some(Err(e))) => prop_assert!(e.contains("must be a string") && e.contains(COMMANDS), "{}", e),
            (name, read) => prop_assert!(false, "command {:?} read as {:?}", name, read),
        }
    }

    #[test]
    fn well_formed_commands_read_as_themselves(target in text(), limit in any::<u32>()) {
        let read = |v: Value| parse_command::<Command>(&v, "scaler", COMMANDS);
        prop_assert_eq!(read(json!({"command": "pause", "target": target.clone()})), Some(Ok(Command::Pause { target })));
        prop_assert_eq!(read(json!({"command": "set-limit", "limit": limit})), Some(Ok(Command::SetLimit { limit })));
        let e = read(json!({"command": "set-limit", "limit": u64::from(limit) + u64::from(u32::MAX) + 1})).unwrap().unwrap_err();
        prop_assert!(e.starts_with("invalid set-limit command: "), "{}", e);
    }

    #[test]
    fn book_keys_round_trip_and_sort(job in text(), a in any::<u64>(), b in any::<u64>(),
                                     name in "[a-z0-9-]{1,40}", slashes in 0usize..3) {
        let sk = job_sk(&job);
        prop_assert_eq!(job_of_sk(&sk), Some(job.as_str()));
        // Checkpoint sort keys sort as their ids do.
        prop_assert_eq!(checkpoint_sk(a).cmp(&checkpoint_sk(b)), a.cmp(&b));
        let dir = format!("flink/savepoints/{name}{}", "/".repeat(slashes));
        prop_assert_eq!(savepoint_sk(&dir), format!("POINT#S#{name}"));
        let prefix: String = job.chars().take(6).collect();
        prop_assert_eq!(job_prefix_pk(&job), format!("JOBPREFIX#{prefix}"));
    }

    #[test]
    fn outside_text_is_one_safe_line_and_shortens_within_budget(s in text(), max in 0usize..40) {
        let clean = clean_inline(&s);
        prop_assert!(!clean.chars().any(is_unsafe_inline), "{:?}", clean);
        prop_assert_eq!(clean.chars().count(), s.chars().count());
        if !s.chars().any(is_unsafe_inline) {
            prop_assert_eq!(clean.as_ref(), s.as_str());
        }
        let short = shorten_at_word(&s, max);
        prop_assert!(short.chars().count() <= max, "{:?} -> {:?}", s, short);
        if s.chars().count() <= max {
            prop_assert_eq!(short.as_ref(), s.as_str());
        } else if max > 0 {
            let head = short.strip_suffix(ELLIPSIS).expect("ends with the ellipsis");
            prop_assert!(s.starts_with(head), "{:?} -> {:?}", s, short);
        }
    }

    #[test]
    fn configuration_problems_name_the_variable(
        number in text(), flag in text(), doc in text(), required in prop::option::of(text()),
    ) {
        let mut vars = HashMap::from([
            ("N".to_string(), number.clone()),
            ("F".to_string(), flag.clone()),
            ("J".to_string(), doc.clone()),
        ]);
        if let Some(r) = &required {
            vars.insert("R".into(), r.clone());
        }
        let mut r = EnvReader::from_map(vars);
        let n: u32 = r.parsed_or("N", "a number", 7);
        let f = r.flag_or("F", false);
        let j: Option<HashMap<String, u32>> = r.json_optional("J", "a JSON object of numbers");
        let req = r.required("R", "anything");
        match r.finish((n, f, j, req)) {
            Ok((n, _, j, req)) => {
                if !number.trim().is_empty() {
                    prop_assert_eq!(number.trim().parse::<u32>().ok(), Some(n));
                }
                prop_assert_eq!(j.is_some(), !doc.trim().is_empty());
                prop_assert_eq!(Some(req), required);
            }
            Err(e) => {
                let text = e.to_string();
                for p in &e.problems {
                    prop_assert!(["N", "F", "J", "R"].contains(&p.variable.as_str()));
                    prop_assert!(text.contains(&format!("{} ", p.variable)), "{}", text);
                }
            }
        }
    }
}
