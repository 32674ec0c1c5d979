//! Where a backfill, status or prune takes the values of a table's named keys from: the values
//! the command names, else the rule's enumerated values, else a listing of the key's directory
//! level (for keys that come before the layout's time tokens). Pure: the service lists.

use std::collections::BTreeMap;

use crate::table::TableDef;

/// The most combinations of key values one command covers.
pub const MAX_KEY_COMBINATIONS: usize = 1_000;
/// The most values one listing of a key's directory level may find.
pub const MAX_LISTED_VALUES: usize = 1_000;

/// Where one key's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Named by the command or enumerated by the rule, each checked against the rule.
    Given(Vec<String>),
    /// The directories under the key's level, as a delimited listing finds them.
    Listed,
}

/// Every named key of a table, in layout order, with where its values come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPlan {
    pub keys: Vec<(String, KeySource)>,
}

impl KeyPlan {
    /// Checks the command's `keys` against the table: known names, values that pass the rules,
    /// and a source for every key. Errors name the key.
    pub fn new(
        table: &TableDef,
        mut requested: BTreeMap<String, Vec<String>>,
    ) -> Result<Self, String> {
        if let Some(unknown) = requested.keys().find(|k| !table.keys.has(k)) {
            let known: Vec<&str> = table.keys.names().collect();
            return Err(format!(
                "table {} has no key `{unknown}` (its named keys: [{}])",
                table.id(),
                known.join(", ")
            ));
        }
        let mut keys = Vec::new();
        for name in table.layout.key_names() {
            let source = match requested.remove(name) {
                Some(values) => KeySource::Given(checked(table, name, values)?),
                None => match table.keys.get(name) {
                    Some(crate::named_keys::KeyRule::Values(values)) => {
                        KeySource::Given(values.clone())
                    }
                    _ if table.layout.time_before_key(name) => {
                        return Err(format!(
                            "key `{name}` comes after the time in layout {:?}, so no one listing finds its values: name them (\"keys\": {{\"{name}\": [...]}})",
                            table.layout.source()
                        ));
                    }
                    _ => KeySource::Listed,
                },
            };
            keys.push((name.to_string(), source));
        }
        Ok(Self { keys })
    }
}

fn checked(table: &TableDef, name: &str, values: Vec<String>) -> Result<Vec<String>, String> {
    if values.is_empty() {
        return Err(format!("key `{name}`: no values given"));
    }
    for (i, v) in values.iter().enumerate() {
        table.keys.check_one(name, v)?;
        if values[..i].contains(v) {
            return Err(format!("key `{name}`: {v:?} is given twice"));
        }
    }
    Ok(values)
}

/// Every partial combination extended with each of its `values` (one list per partial, in
/// order) for `name`.
pub fn extend(
    partials: &[BTreeMap<String, String>],
    name: &str,
    values: &[Vec<String>],
) -> Result<Vec<BTreeMap<String, String>>, String> {
    let mut out = Vec::new();
    for (partial, values) in partials.iter().zip(values) {
        for v in values {
            let mut next = partial.clone();
            next.insert(name.to_string(), v.clone());
            out.push(next);
            if out.len() > MAX_KEY_COMBINATIONS {
                return Err(format!(
                    "more than {MAX_KEY_COMBINATIONS} combinations of key values; name fewer values (\"keys\")"
                ));
            }
        }
    }
    Ok(out)
}
