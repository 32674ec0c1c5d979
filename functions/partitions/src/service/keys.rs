//! The named-key values an ops command covers: the plan's given values, and for a listed key the
//! directories at its level in the data bucket, each checked against the key's rule (a directory
//! whose name fails it is reported, never used).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{PartitionsError, PartitionsService};
use crate::key_plan::{KeyPlan, KeySource, MAX_LISTED_VALUES, extend};
use crate::named_keys::KeyValues;
use crate::ports::{DataListing, DdlRunner, PartitionCatalog, RegistryStore};
use crate::table::TableDef;

/// Every combination of key values a command covers (one empty one for a table without keys),
/// and the listed directories refused.
#[derive(Debug, Clone)]
pub(super) struct ResolvedKeys {
    pub(super) combinations: Vec<KeyValues>,
    /// `s3://bucket/prefix/dir/: why`, for directories whose name fails the key's rule.
    pub(super) refused: Vec<String>,
}

impl ResolvedKeys {
    /// The answer's view: the values of each key, how many combinations, what was refused.
    pub(super) fn to_json(&self) -> Value {
        let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for combination in &self.combinations {
            for (k, v) in combination.iter() {
                values.entry(k).or_default().insert(v);
            }
        }
        json!({"values": values, "combinations": self.combinations.len(), "refused": self.refused})
    }
}

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    R: RegistryStore,
    A: DdlRunner,
    G: PartitionCatalog,
    D: DataListing,
{
    /// Walks the keys in layout order, each combination so far extended with the key's values
    /// (listed under that combination's directory when the key is listed).
    pub(super) async fn resolve_keys(
        &self,
        table: &TableDef,
        plan: &KeyPlan,
        verb: &str,
    ) -> Result<ResolvedKeys, PartitionsError> {
        let bad = |e: String| PartitionsError::BadCommand(format!("{verb} `keys`: {e}"));
        let mut partials = vec![BTreeMap::new()];
        let mut refused = Vec::new();
        for (name, source) in &plan.keys {
            let mut values = Vec::with_capacity(partials.len());
            for partial in &partials {
                values.push(match source {
                    KeySource::Given(v) => v.clone(),
                    KeySource::Listed => {
                        self.listed_values(table, name, partial, &mut refused)
                            .await?
                    }
                });
            }
            partials = extend(&partials, name, &values).map_err(bad)?;
        }
        let combinations = partials
            .into_iter()
            .map(|raw| table.keys.check(raw))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        Ok(ResolvedKeys {
            combinations,
            refused,
        })
    }

    /// The directories at `name`'s level under `partial`'s values that pass the key's rule.
    async fn listed_values(
        &self,
        table: &TableDef,
        name: &str,
        partial: &BTreeMap<String, String>,
        refused: &mut Vec<String>,
    ) -> Result<Vec<String>, PartitionsError> {
        // The plan lists only keys with no time token before them, so the prefix is known.
        let Some(level) = table.layout.prefix_before_key(name, partial) else {
            return Err(PartitionsError::BadCommand(format!(
                "key `{name}` cannot be listed in layout {:?}",
                table.layout.source()
            )));
        };
        let prefix = format!("{}{level}", table.prefix);
        let found = self
            .data
            .directories(&table.bucket, &prefix, MAX_LISTED_VALUES)
            .await?;
        if found.len() > MAX_LISTED_VALUES {
            return Err(PartitionsError::BadCommand(format!(
                "more than {MAX_LISTED_VALUES} directories under s3://{}/{prefix}; name the values of key `{name}` (\"keys\")",
                table.bucket
            )));
        }
        let mut ok = Vec::new();
        for dir in found {
            match table.keys.check_one(name, &dir) {
                Ok(()) => ok.push(dir),
                Err(e) => {
                    tracing::warn!(table = %table.id(), prefix = %prefix, error = %e, "listed directory refused by its key's rule");
                    refused.push(format!("s3://{}/{prefix}{dir}/: {e}", table.bucket));
                }
            }
        }
        Ok(ok)
    }
}
