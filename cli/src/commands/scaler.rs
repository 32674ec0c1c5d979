//! `streamops scaler ...`: the scaler function's commands (functions/scaler/src/ops.rs).

use clap::Subcommand;
use scaler::ops::parse_command;
use serde_json::json;

use super::{Effect, Follow, FunctionKind, Request, Wait, json_file, parsed, payload};

#[derive(Debug, Subcommand)]
pub enum ScalerCmd {
    /// Every target: size, bounds, last action, cooldowns, pause, open decisions.
    Status,
    /// Scale a target to a size (bounds apply, cooldowns do not): plans unless --apply. A
    /// Flink rescale by savepoint still running when the answer comes is followed until it
    /// is done, failed or the timeout passes (--no-wait returns at once).
    Scale {
        target: String,
        size: u32,
        /// Why (recorded in the audit trail; default: streamops CLI and $USER).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        apply: bool,
        /// Do not follow a rescale left running: print the first answer and return.
        #[arg(long)]
        no_wait: bool,
        /// The longest wait for a rescale left running (90s, 15m, 1h).
        #[arg(long, value_parser = duration, default_value = "15m")]
        timeout: std::time::Duration,
        /// How often its status is read while it runs.
        #[arg(long, value_parser = duration, default_value = "5s")]
        interval: std::time::Duration,
    },
    /// Stop the scaler acting on a target.
    Pause { target: String },
    /// Let it act again (also lifts a block after an ineffective scale-up).
    Resume { target: String },
    /// What an alarm event (a JSON file, `-` for standard input) would do, without doing it.
    Explain { file: String },
    /// The schedule's pass by hand (resumes rescales, re-evaluates waiting decisions, may
    /// scale); needs --apply.
    Tick {
        #[arg(long)]
        apply: bool,
    },
}

impl ScalerCmd {
    pub fn request(&self) -> Result<Request, String> {
        let (payload, effect) = match self {
            ScalerCmd::Status => (payload("status", []), Effect::Read),
            ScalerCmd::Scale {
                target,
                size,
                reason,
                apply,
                ..
            } => {
                let reason = reason.clone().unwrap_or_else(default_reason);
                let fields = [
                    ("target", Some(json!(target))),
                    ("size", Some(json!(size))),
                    ("reason", Some(json!(reason))),
                    ("dry_run", Some(json!(!apply))),
                ];
                (payload("scale", fields), Effect::Planned { apply: *apply })
            }
            ScalerCmd::Pause { target } => (
                payload("pause", [("target", Some(json!(target)))]),
                Effect::Write,
            ),
            ScalerCmd::Resume { target } => (
                payload("resume", [("target", Some(json!(target)))]),
                Effect::Write,
            ),
            ScalerCmd::Explain { file } => (
                payload("explain", [("event", Some(json_file(file)?))]),
                Effect::Read,
            ),
            ScalerCmd::Tick { apply } => (payload("tick", []), Effect::Guarded { apply: *apply }),
        };
        parsed(parse_command(&payload))?;
        let mut request = Request::new(FunctionKind::Scaler, payload, effect);
        if let ScalerCmd::Scale {
            apply: true,
            no_wait: false,
            timeout,
            interval,
            ..
        } = self
        {
            request.follow = Follow::Rescale(Wait {
                timeout: *timeout,
                interval: *interval,
            });
        }
        Ok(request)
    }
}

fn default_reason() -> String {
    match std::env::var("USER") {
        Ok(user) => format!("streamops CLI ({user})"),
        Err(_) => "streamops CLI".into(),
    }
}

/// `900`, `90s`, `15m` or `1h` as a duration (the wait's `--timeout`).
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not a duration (e.g. 90s, 15m, 1h)");
    let (digits, per) = match text.char_indices().last() {
        Some((i, 's')) => (&text[..i], 1),
        Some((i, 'm')) => (&text[..i], 60),
        Some((i, 'h')) => (&text[..i], 3600),
        _ => (text, 1),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(per)
        .filter(|s| *s > 0)
        .map(std::time::Duration::from_secs)
        .ok_or_else(bad)
}
