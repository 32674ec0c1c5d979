//! Protecting PII: `hmac` (keyed hash, hex), `mask` (stars, a short tail kept), `drop`, on
//! top-level members as they are written and inside parsed branches for nested paths.

use std::borrow::Cow;
use std::collections::BTreeMap;

use hmac::Mac;
use serde_json::{Map, Value};

use super::{Enricher, Prepared};
use crate::encoding::push_hex_lower;
use crate::spec::PiiAction;

impl Enricher {
    /// Rules on nested paths change the parsed branch; top-level ones are applied while the
    /// member is written.
    pub(super) fn protect_nested(&self, parsed: &mut BTreeMap<String, Value>) {
        for rule in &self.spec.pii {
            if let Some((head, rest)) = rule.field.split_once('.')
                && let Some(Value::Object(branch)) = parsed.get_mut(head)
            {
                self.protect(branch, rest, rule.action);
            }
        }
    }

    /// Applies a PII rule inside a parsed branch (`path` is relative to it).
    fn protect(&self, object: &mut Map<String, Value>, path: &str, action: PiiAction) {
        let (parent, leaf) = match path.rsplit_once('.') {
            Some((parent, leaf)) => match lookup_mut(object, parent) {
                Some(Value::Object(m)) => (m, leaf),
                _ => return,
            },
            None => (object, path),
        };
        match action {
            PiiAction::Drop => {
                parent.remove(leaf);
            }
            PiiAction::Hmac | PiiAction::Mask => {
                let Some(v) = parent.get_mut(leaf) else {
                    return;
                };
                if v.is_null() {
                    return;
                }
                let text = match &mut *v {
                    Value::String(s) => std::mem::take(s),
                    other => other.to_string(),
                };
                *v = Value::String(match action {
                    PiiAction::Hmac => self.hmac_hex(&text),
                    _ => mask(&text),
                });
            }
        }
    }

    pub(super) fn hmac_hex(&self, text: &str) -> String {
        let mut out = Vec::with_capacity(64);
        push_hex_lower(&mut out, &self.hmac_digest(text));
        // push_hex_lower writes 0-9a-f only.
        String::from_utf8(out).expect("hex digits are ASCII")
    }

    /// The keyed hash of `text` as a quoted JSON string of 64 hex digits.
    pub(super) fn write_hmac_hex(&self, out: &mut Vec<u8>, text: &str) {
        out.push(b'"');
        push_hex_lower(out, &self.hmac_digest(text));
        out.push(b'"');
    }

    fn hmac_digest(&self, text: &str) -> [u8; 32] {
        let mut mac = self
            .hmac
            .get()
            .cloned()
            .expect("a spec with hmac rules is keyed before records are finished");
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The PII action on a top-level member, if a rule names it (the last rule wins, as the
    /// spec's order says).
    pub(super) fn top_level_pii(&self, member: &str) -> Option<PiiAction> {
        self.spec
            .pii
            .iter()
            .rev()
            .find(|r| r.field == member)
            .map(|r| r.action)
    }

    /// The value of a key field (partition key) as written to the output, after PII rules.
    pub(super) fn key_view<'p>(
        &self,
        prepared: &'p Prepared<'_>,
        path: &str,
    ) -> Option<Cow<'p, str>> {
        let found = prepared.find(path)?;
        if !path.contains('.') {
            match self.top_level_pii(path) {
                Some(PiiAction::Drop) => return None,
                Some(PiiAction::Hmac) if found.kind() != "null" => {
                    return Some(Cow::Owned(self.hmac_hex(&found.as_text())));
                }
                Some(PiiAction::Mask) if found.kind() != "null" => {
                    return Some(Cow::Owned(mask(&found.as_text())));
                }
                _ => {}
            }
        }
        found.scalar()
    }
}

/// Keeps the last four characters of values longer than eight, stars everything else, so
/// support staff can match a value a user reads out without the log holding it.
pub(super) fn mask(text: &str) -> String {
    let n = text.chars().count();
    let keep = if n > 8 { 4 } else { 0 };
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        out.push(if i < n - keep { '*' } else { c });
    }
    out
}

fn lookup_mut<'a>(object: &'a mut Map<String, Value>, path: &str) -> Option<&'a mut Value> {
    let mut parts = path.split('.');
    let mut current = object.get_mut(parts.next()?)?;
    for part in parts {
        current = current.as_object_mut()?.get_mut(part)?;
    }
    Some(current)
}
