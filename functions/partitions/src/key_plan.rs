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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Tables;

    fn tables() -> Tables {
        Tables::from_json(
            r#"[{"bucket":"b-1","prefix":"s/","database":"db","table":"s","layout":"source={source}/tenant={tenant}/{yyyy}/{MM}/{dd}/{HH}/",
                 "keys":{"source":{"values":["web","app"]},"tenant":{"pattern":"a-z0-9","max_len":8}},
                 "columns":[{"name":"source","value":"{source}"},{"name":"tenant","value":"{tenant}"},{"name":"dt","value":"{yyyy}-{MM}-{dd}"},{"name":"hour","value":"{HH}"}]},
                {"bucket":"b-1","prefix":"l/","database":"db","table":"late","layout":"{yyyy}/{MM}/{dd}/region={region}/",
                 "keys":{"region":{"pattern":"a-z","max_len":8}},
                 "columns":[{"name":"dt","value":"{yyyy}-{MM}-{dd}"},{"name":"region","value":"{region}"}]}]"#,
        )
        .unwrap()
    }

    fn plan(table: &str, requested: &[(&str, &[&str])]) -> Result<KeyPlan, String> {
        let t = tables();
        let requested = requested
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        KeyPlan::new(t.find(table).unwrap(), requested)
    }

    #[test]
    fn values_come_from_the_command_then_the_rule_then_a_listing() {
        let p = plan("s", &[]).unwrap();
        assert_eq!(
            p.keys,
            vec![
                (
                    "source".into(),
                    KeySource::Given(vec!["web".into(), "app".into()])
                ),
                ("tenant".into(), KeySource::Listed)
            ]
        );
        let p = plan("s", &[("source", &["app"]), ("tenant", &["t1", "t2"])]).unwrap();
        assert_eq!(p.keys[0].1, KeySource::Given(vec!["app".into()]));
        assert_eq!(
            p.keys[1].1,
            KeySource::Given(vec!["t1".into(), "t2".into()])
        );
    }

    #[test]
    fn named_values_are_checked_by_the_rule() {
        for (key, value, why) in [
            (
                "source",
                "mobile",
                "key `source`: \"mobile\" is not one of web, app",
            ),
            ("tenant", "t'1", "key `tenant`: \"t'1\" has '\\''"),
            ("tenant", "../x", "key `tenant`"),
            ("tenant", "a--b", "key `tenant`"),
            ("tenant", "", "empty"),
        ] {
            let e = plan("s", &[(key, &[value])]).unwrap_err();
            assert!(e.contains(why), "{value:?}: {e}");
        }
        assert_eq!(
            plan("s", &[("tenant", &["a", "a"])]).unwrap_err(),
            "key `tenant`: \"a\" is given twice"
        );
        assert_eq!(
            plan("s", &[("tenant", &[])]).unwrap_err(),
            "key `tenant`: no values given"
        );
        assert_eq!(
            plan("s", &[("region", &["eu"])]).unwrap_err(),
            "table db.s has no key `region` (its named keys: [source, tenant])"
        );
    }

    #[test]
    fn a_key_after_the_time_must_be_named() {
        let e = plan("late", &[]).unwrap_err();
        assert!(e.starts_with("key `region` comes after the time"), "{e}");
        assert!(plan("late", &[("region", &["eu"])]).is_ok());
    }

    #[test]
    fn combinations_extend_each_partial_and_are_bounded() {
        let one = vec![BTreeMap::new()];
        let two = extend(&one, "source", &[vec!["web".into(), "app".into()]]).unwrap();
        let four = extend(
            &two,
            "tenant",
            &[vec!["t1".into()], vec!["t2".into(), "t3".into()]],
        )
        .unwrap();
        let shown: Vec<String> = four
            .iter()
            .map(|m| format!("{}/{}", m["source"], m["tenant"]))
            .collect();
        assert_eq!(shown, vec!["web/t1", "app/t2", "app/t3"]);
        let many: Vec<String> = (0..=MAX_KEY_COMBINATIONS)
            .map(|i| format!("v{i}"))
            .collect();
        let e = extend(&one, "tenant", &[many]).unwrap_err();
        assert!(e.starts_with("more than 1000 combinations"), "{e}");
    }
}
