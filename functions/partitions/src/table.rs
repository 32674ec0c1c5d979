//! Table configuration (validated once at cold start) and the partitions of a table.
//!
//! A table is a bucket and key prefix, a Glue database and table, partition columns, and a
//! layout that maps the key's directory segments to an hour (or day) and the values of its named
//! keys. Column values are rendered from those with each column's own template, then validated
//! against the column's type, so nothing from an object key reaches SQL except digits that parsed
//! as a real date and hour and named values that passed their key's rule.

use chrono::{Datelike, NaiveDateTime};
use serde::Serialize;

use crate::columns::{Column, ColumnType, validate_value};
use crate::iceberg::IcebergTable;
use crate::keys::SkipReason;
use crate::layout::{Granularity, Template};
use crate::named_keys::{KeyRules, KeyValues};

/// A validated table.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub bucket: String,
    pub prefix: String,
    pub database: String,
    pub table: String,
    pub layout: Template,
    pub granularity: Granularity,
    pub columns: Vec<Column>,
    pub error_prefix: Option<String>,
    /// The rules of the layout's named keys (empty for time tokens only).
    pub keys: KeyRules,
}

/// One partition of one table: what the DDL, the Glue call and the registry need.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PartitionSpec {
    pub database: String,
    pub table: String,
    /// Column name and value, in the table's partition column order.
    pub values: Vec<(String, String)>,
    /// `s3://bucket/prefix/.../`, always ending in `/`.
    pub location: String,
    /// The hour (or day) this partition holds.
    #[serde(skip)]
    pub period: NaiveDateTime,
    #[serde(skip)]
    pub int_columns: Vec<bool>,
}

impl PartitionSpec {
    /// The registry key: `database.table/col=value/...`.
    pub fn registry_key(&self) -> String {
        let mut key = format!("{}.{}", self.database, self.table);
        for (c, v) in &self.values {
            key.push('/');
            key.push_str(c);
            key.push('=');
            key.push_str(v);
        }
        key
    }

    pub fn table_id(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    pub fn value_list(&self) -> Vec<String> {
        self.values.iter().map(|(_, v)| v.clone()).collect()
    }

    /// The location's bucket.
    pub fn location_bucket(&self) -> &str {
        let rest = self.location.trim_start_matches("s3://");
        rest.split_once('/').map(|(b, _)| b).unwrap_or(rest)
    }

    /// The location's key prefix inside the bucket (`prefix/.../`).
    pub fn location_key_prefix(&self) -> &str {
        let rest = self.location.trim_start_matches("s3://");
        rest.split_once('/').map(|(_, p)| p).unwrap_or("")
    }
}

impl TableDef {
    pub fn id(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    /// The partition of `period` (truncated to the table's granularity) of a table without
    /// named keys.
    pub fn spec_for(&self, period: NaiveDateTime) -> Result<PartitionSpec, String> {
        self.spec_at(period, &KeyValues::none())
    }

    /// The partition of `period` (truncated to the table's granularity) and `keys`, which must
    /// name exactly the table's keys.
    pub fn spec_at(
        &self,
        period: NaiveDateTime,
        keys: &KeyValues,
    ) -> Result<PartitionSpec, String> {
        if !keys.same_names(&self.keys) {
            let want: Vec<&str> = self.keys.names().collect();
            return Err(format!(
                "table {} has the named keys [{}]; values were given for [{}]",
                self.id(),
                want.join(", "),
                keys.iter().map(|(k, _)| k).collect::<Vec<_>>().join(", ")
            ));
        }
        let period = self.granularity.truncate(period);
        // `{yyyy}` is four digits: another year renders a location no key can match.
        if !(0..=9999).contains(&period.year()) {
            return Err(format!(
                "{period} is outside the years 0000 to 9999 that layout {:?} can name",
                self.layout.source()
            ));
        }
        let mut values = Vec::with_capacity(self.columns.len());
        let mut int_columns = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let v = c.value.render(period, keys);
            validate_value(c.kind, &v).map_err(|e| format!("column `{}`: {e}", c.name))?;
            values.push((c.name.clone(), v));
            int_columns.push(c.kind == ColumnType::Int);
        }
        Ok(PartitionSpec {
            database: self.database.clone(),
            table: self.table.clone(),
            values,
            location: format!(
                "s3://{}/{}{}",
                self.bucket,
                self.prefix,
                self.layout.render(period, keys)
            ),
            period,
            int_columns,
        })
    }

    /// The partition a decoded object key belongs to, or why it is poison.
    pub fn spec_for_key(&self, key: &str) -> Result<PartitionSpec, String> {
        let rest = key
            .strip_prefix(self.prefix.as_str())
            .ok_or_else(|| format!("key is not under prefix {:?}", self.prefix))?;
        let matched = self.layout.match_start(rest).ok_or_else(|| {
            format!(
                "key does not match layout {:?} of {} after prefix {:?}",
                self.layout.source(),
                self.id(),
                self.prefix
            )
        })?;
        if rest.len() == matched.used {
            return Err("key names the partition directory, not an object".into());
        }
        let keys = self.keys.check(matched.raw_keys)?;
        // The directory the checked values render must be the one the key is under.
        if self.layout.render(matched.period, &keys) != rest[..matched.used] {
            return Err(format!(
                "key does not render back from layout {:?} of {}",
                self.layout.source(),
                self.id()
            ));
        }
        self.spec_at(matched.period, &keys)
    }
}

/// Every configured table.
#[derive(Debug, Clone)]
pub struct Tables {
    /// The tables whose partitions are registered.
    pub tables: Vec<TableDef>,
    /// The Iceberg tables: maintained, never registered.
    pub iceberg: Vec<IcebergTable>,
}

/// What one object key means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    Partition(Box<PartitionSpec>),
    Skip(SkipReason, Option<String>),
}

impl Tables {
    /// The Iceberg table `id` names (`database.table`, or the table alone).
    pub fn find_iceberg(&self, id: &str) -> Option<&IcebergTable> {
        self.iceberg.iter().find(|t| t.id() == id || t.table == id)
    }

    pub fn find(&self, id: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.id() == id || t.table == id)
    }

    /// Classifies a decoded key of `bucket`: its partition, or the reason it is skipped.
    pub fn classify(&self, bucket: &str, key: &str, size: Option<i64>) -> KeyOutcome {
        if self.tables.iter().any(|t| {
            t.bucket == bucket
                && t.error_prefix
                    .as_deref()
                    .is_some_and(|p| key.starts_with(p))
        }) {
            return KeyOutcome::Skip(SkipReason::FirehoseErrorOutput, None);
        }
        if self
            .iceberg
            .iter()
            .any(|t| t.bucket == bucket && key.starts_with(t.prefix.as_str()))
        {
            return KeyOutcome::Skip(SkipReason::IcebergTable, None);
        }
        let Some(table) = self
            .tables
            .iter()
            .find(|t| t.bucket == bucket && key.starts_with(t.prefix.as_str()))
        else {
            return KeyOutcome::Skip(SkipReason::NoMatchingTable, None);
        };
        if let Some(reason) = crate::keys::skip_reason(key, size) {
            return KeyOutcome::Skip(reason, None);
        }
        match table.spec_for_key(key) {
            Ok(spec) => KeyOutcome::Partition(Box::new(spec)),
            Err(e) => KeyOutcome::Skip(SkipReason::InvalidKey, Some(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"[{"bucket":"data-bucket","prefix":"enriched/","database":"streamops","table":"enriched_events","layout":"firehose","error_prefix":"errors/"}]"#;

    fn tables(json: &str) -> Tables {
        Tables::from_json(json).unwrap()
    }

    fn partition(o: KeyOutcome) -> PartitionSpec {
        match o {
            KeyOutcome::Partition(p) => *p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn firehose_key_becomes_dt_hour_partition_with_directory_location() {
        let t = tables(ONE);
        let p = partition(t.classify(
            "data-bucket",
            "enriched/2026/11/23/10/streamops-enriched-1-2026-11-23-10-01-02-uuid.gz",
            Some(100),
        ));
        assert_eq!(
            p.values,
            vec![
                ("dt".into(), "2026-11-23".into()),
                ("hour".into(), "10".into())
            ]
        );
        assert_eq!(p.location, "s3://data-bucket/enriched/2026/11/23/10/");
        assert_eq!(
            p.registry_key(),
            "streamops.enriched_events/dt=2026-11-23/hour=10"
        );
        assert_eq!(p.location_key_prefix(), "enriched/2026/11/23/10/");
    }

    /// The template's PARTITIONS_TABLES with LogArchive=true: the log archive's lines beside
    /// the enriched events, both with Firehose's error output under firehose-errors/.
    #[test]
    fn the_log_archive_table_beside_enriched_events() {
        let t = tables(
            r#"[{"bucket":"data-bucket","prefix":"enriched/","database":"streamops","table":"enriched_events","layout":"hive","error_prefix":"firehose-errors/"},
                {"bucket":"data-bucket","prefix":"logs/","database":"streamops","table":"suite_logs","layout":"hive","error_prefix":"firehose-errors/"}]"#,
        );
        let p = partition(t.classify(
            "data-bucket",
            "logs/dt=2026-11-23/hour=10/streamops-log-archive-1-2026-11-23-10-05-00-uuid.gz",
            Some(100),
        ));
        assert_eq!(
            p.registry_key(),
            "streamops.suite_logs/dt=2026-11-23/hour=10"
        );
        assert_eq!(p.location, "s3://data-bucket/logs/dt=2026-11-23/hour=10/");
        let error = "firehose-errors/logs/processing-failed/dt=2026-11-23/hour=10/x.gz";
        assert!(matches!(
            t.classify("data-bucket", error, Some(5)),
            KeyOutcome::Skip(SkipReason::FirehoseErrorOutput, _)
        ));
    }

    #[test]
    fn hive_and_flink_layouts_and_custom_columns() {
        let t = tables(
            r#"[{"bucket":"b-1","prefix":"hive/","database":"db","table":"h","layout":"hive"},
                {"bucket":"b-1","prefix":"flink/","database":"db","table":"f","layout":"flink"},
                {"bucket":"b-1","prefix":"daily/","database":"db","table":"d","layout":"year={yyyy}/month={MM}/day={dd}/",
                 "columns":[{"name":"year","type":"int","value":"{yyyy}"},{"name":"month","type":"int","value":"{MM}"},{"name":"day","type":"date","value":"{yyyy}-{MM}-{dd}"}]}]"#,
        );
        let h = partition(t.classify("b-1", "hive/dt=2026-11-23/hour=09/part-0.parquet", None));
        assert_eq!(h.location, "s3://b-1/hive/dt=2026-11-23/hour=09/");
        let f = partition(t.classify("b-1", "flink/2026-11-23--09/part-1-7", Some(5)));
        assert_eq!(f.values[1], ("hour".into(), "09".into()));
        assert_eq!(f.location, "s3://b-1/flink/2026-11-23--09/");
        let d = partition(t.classify("b-1", "daily/year=2026/month=11/day=23/x.json", Some(5)));
        assert_eq!(
            d.values,
            vec![
                ("year".into(), "2026".into()),
                ("month".into(), "11".into()),
                ("day".into(), "2026-11-23".into())
            ]
        );
        assert_eq!(d.int_columns, vec![true, true, false]);
        assert_eq!(t.find("db.d").unwrap().granularity, Granularity::Day);
    }

    #[test]
    fn skips_are_classified_in_order() {
        let t = tables(ONE);
        let skip = |bucket: &str, key: &str, size| match t.classify(bucket, key, size) {
            KeyOutcome::Skip(r, _) => r,
            other => panic!("{key}: {other:?}"),
        };
        assert_eq!(
            skip(
                "data-bucket",
                "errors/processing-failed/2026/11/23/10/x.gz",
                Some(9)
            ),
            SkipReason::FirehoseErrorOutput
        );
        assert_eq!(
            skip("other-bucket", "enriched/2026/11/23/10/x.gz", Some(9)),
            SkipReason::NoMatchingTable
        );
        assert_eq!(
            skip("data-bucket", "raw/2026/11/23/10/x.gz", Some(9)),
            SkipReason::NoMatchingTable
        );
        assert_eq!(
            skip("data-bucket", "enriched/2026/11/23/10/_SUCCESS", Some(0)),
            SkipReason::SuccessMarker
        );
        assert_eq!(
            skip("data-bucket", "enriched/2026/11/23/10/", Some(0)),
            SkipReason::DirectoryMarker
        );
        assert_eq!(
            skip("data-bucket", "enriched/2026/11/23/x.gz", Some(9)),
            SkipReason::InvalidKey
        );
    }

    #[test]
    fn injection_through_a_key_is_poison_not_sql() {
        let t = tables(
            r#"[{"bucket":"b-1","prefix":"hive/","database":"db","table":"h","layout":"hive"},
                {"bucket":"b-1","prefix":"fh/","database":"db","table":"f","layout":"firehose"}]"#,
        );
        for key in [
            "hive/dt=2026-11-23') LOCATION 's3://evil/'; DROP TABLE h; --/hour=10/x.gz",
            "hive/dt=2026-11-23/hour=10' OR '1'='1/x.gz",
            "hive/dt=2026-11-23\\'/hour=10/x",
            "fh/2026/11/23/10`; DROP DATABASE db/x.gz",
            "fh/2026/11/23/1'/x.gz",
        ] {
            match t.classify("b-1", key, Some(10)) {
                KeyOutcome::Skip(SkipReason::InvalidKey, Some(reason)) => {
                    assert!(reason.contains("does not match layout"), "{key}: {reason}")
                }
                other => panic!("{key} was not rejected: {other:?}"),
            }
        }
    }

    /// Firehose dynamic partitioning by source, then the hour: the issue's example.
    pub(crate) const BY_SOURCE: &str = r#"[{"bucket":"b-1","prefix":"events/","database":"db","table":"by_source",
        "layout":"source={source}/dt={yyyy}-{MM}-{dd}/hour={HH}/",
        "keys":{"source":{"values":["web","app"]}},
        "columns":[{"name":"source","value":"{source}"},{"name":"dt","value":"{yyyy}-{MM}-{dd}"},{"name":"hour","value":"{HH}"}]},
        {"bucket":"b-1","prefix":"tenants/","database":"db","table":"by_tenant",
        "layout":"tenant={tenant}/{yyyy}/{MM}/{dd}/",
        "keys":{"tenant":{"pattern":"a-z0-9_-","max_len":16}},
        "columns":[{"name":"tenant","value":"{tenant}"},{"name":"day","type":"date","value":"{yyyy}-{MM}-{dd}"}]}]"#;

    #[test]
    fn named_values_are_part_of_the_partition_and_its_identity() {
        let t = tables(BY_SOURCE);
        let web = partition(t.classify(
            "b-1",
            "events/source=web/dt=2026-11-23/hour=10/part-0.gz",
            Some(5),
        ));
        assert_eq!(
            web.values,
            vec![
                ("source".into(), "web".into()),
                ("dt".into(), "2026-11-23".into()),
                ("hour".into(), "10".into())
            ]
        );
        assert_eq!(
            web.location,
            "s3://b-1/events/source=web/dt=2026-11-23/hour=10/"
        );
        let app = partition(t.classify(
            "b-1",
            "events/source=app/dt=2026-11-23/hour=10/part-0.gz",
            Some(5),
        ));
        assert_eq!(
            web.registry_key(),
            "db.by_source/source=web/dt=2026-11-23/hour=10"
        );
        assert_eq!(
            app.registry_key(),
            "db.by_source/source=app/dt=2026-11-23/hour=10"
        );
        let tenant =
            partition(t.classify("b-1", "tenants/tenant=acme_1-eu/2026/11/23/x.json", Some(5)));
        assert_eq!(
            tenant.values,
            vec![
                ("tenant".into(), "acme_1-eu".into()),
                ("day".into(), "2026-11-23".into())
            ]
        );
        assert_eq!(
            tenant.location,
            "s3://b-1/tenants/tenant=acme_1-eu/2026/11/23/"
        );
    }

    #[test]
    fn hostile_named_values_are_poison_naming_the_key() {
        let t = tables(BY_SOURCE);
        for value in [
            "we'b", "web\\", "..", "web--", "web;", "mobile", "Web", "wеb", "", "web%00", "w eb",
            "web\u{0}",
        ] {
            let key = format!("events/source={value}/dt=2026-11-23/hour=10/part-0.gz");
            match t.classify("b-1", &key, Some(5)) {
                KeyOutcome::Skip(SkipReason::InvalidKey, Some(reason)) => {
                    assert!(reason.starts_with("key `source`: "), "{key}: {reason}")
                }
                other => panic!("{key} was not refused: {other:?}"),
            }
        }
        for value in [
            "we'b",
            "a..b",
            "x--y",
            "x;y",
            "\u{0}",
            &"a".repeat(17),
            "ａcme",
            "",
        ] {
            let key = format!("tenants/tenant={value}/2026/11/23/x.json");
            match t.classify("b-1", &key, Some(5)) {
                KeyOutcome::Skip(SkipReason::InvalidKey, Some(reason)) => {
                    assert!(reason.starts_with("key `tenant`: "), "{key}: {reason}")
                }
                other => panic!("{key} was not refused: {other:?}"),
            }
        }
        // A slash ends the segment: what follows is not the layout.
        assert!(matches!(
            t.classify("b-1", "events/source=web/../dt=2026-11-23/hour=10/x", Some(5)),
            KeyOutcome::Skip(SkipReason::InvalidKey, Some(r)) if r.contains("does not match layout")
        ));
    }

    #[test]
    fn a_keyed_table_needs_its_key_values() {
        let t = tables(BY_SOURCE);
        let table = t.find("by_source").unwrap();
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        let e = table.spec_for(at).unwrap_err();
        assert_eq!(
            e,
            "table db.by_source has the named keys [source]; values were given for []"
        );
        let web = table
            .keys
            .check([("source".to_string(), "web".to_string())].into())
            .unwrap();
        assert_eq!(
            table.spec_at(at, &web).unwrap().location,
            "s3://b-1/events/source=web/dt=2026-11-23/hour=10/"
        );
    }
}
