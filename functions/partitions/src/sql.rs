//! Athena DDL for partitions: `ALTER TABLE ... ADD IF NOT EXISTS PARTITION (...) LOCATION '...'`,
//! many partitions per statement, split so no statement exceeds Athena's query string limit.
//!
//! Identifiers are backtick-quoted (a backtick inside is doubled) and string literals are
//! single-quoted with Hive escaping (backslash and quote get a backslash). Values are validated
//! before they get here (see [`crate::table`]); escaping is the second line of defence.

use crate::table::PartitionSpec;

/// Athena's maximum query string length, in bytes.
pub const MAX_STATEMENT_BYTES: usize = 262_144;

pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `"name"` (a double quote inside doubled): how Athena's query engine, which runs OPTIMIZE and
/// VACUUM, quotes identifiers; it refuses the backticks of the Hive DDL above.
pub fn quote_sql_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn escape_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `ALTER TABLE `db`.`table` ADD IF NOT EXISTS`
pub fn statement_head(database: &str, table: &str) -> String {
    format!(
        "ALTER TABLE {}.{} ADD IF NOT EXISTS",
        quote_ident(database),
        quote_ident(table)
    )
}

/// `PARTITION (`dt` = '2026-11-23', `hour` = '10') LOCATION 's3://.../'`
pub fn partition_clause(p: &PartitionSpec) -> String {
    let mut out = partition_values_clause(p);
    out.push_str(" LOCATION ");
    out.push_str(&escape_literal(&p.location));
    out
}

/// `PARTITION (`dt` = '2026-11-23', `hour` = '10')`: the values alone, as DROP names them.
fn partition_values_clause(p: &PartitionSpec) -> String {
    let mut out = String::from("PARTITION (");
    for (i, (column, value)) in p.values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&quote_ident(column));
        out.push_str(" = ");
        if p.int_columns.get(i).copied().unwrap_or(false) {
            out.push_str(value);
        } else {
            out.push_str(&escape_literal(value));
        }
    }
    out.push(')');
    out
}

/// One statement and the partitions it registers (indexes into the input slice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub partitions: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("partition {registry_key} alone needs {bytes} bytes, over the {max}-byte statement limit")]
pub struct StatementTooLarge {
    pub registry_key: String,
    pub bytes: usize,
    pub max: usize,
}

/// Statements registering `partitions` (all of one table), each at most `max_bytes` long.
/// Partitions keep their order; every partition is in exactly one statement.
pub fn render_statements(
    partitions: &[PartitionSpec],
    max_bytes: usize,
) -> Result<Vec<Statement>, StatementTooLarge> {
    let Some(first) = partitions.first() else {
        return Ok(Vec::new());
    };
    let head = statement_head(&first.database, &first.table);
    render(partitions, max_bytes, &head, partition_clause, "\n")
}

/// Statements dropping `partitions` (all of one table): `ALTER TABLE ... DROP IF EXISTS
/// PARTITION (...), PARTITION (...)`, each at most `max_bytes` long, as [`render_statements`].
pub fn render_drop_statements(
    partitions: &[PartitionSpec],
    max_bytes: usize,
) -> Result<Vec<Statement>, StatementTooLarge> {
    let Some(first) = partitions.first() else {
        return Ok(Vec::new());
    };
    let head = format!(
        "ALTER TABLE {}.{} DROP IF EXISTS",
        quote_ident(&first.database),
        quote_ident(&first.table)
    );
    render(partitions, max_bytes, &head, partition_values_clause, ",\n")
}

/// `head`, then each partition's clause on its own line (`separator` between clauses after the
/// first), split into statements of at most `max_bytes`.
fn render(
    partitions: &[PartitionSpec],
    max_bytes: usize,
    head: &str,
    clause_of: fn(&PartitionSpec) -> String,
    separator: &str,
) -> Result<Vec<Statement>, StatementTooLarge> {
    let first = &partitions[0];
    let mut out = Vec::new();
    let mut sql = head.to_string();
    let mut members = Vec::new();
    for (i, p) in partitions.iter().enumerate() {
        debug_assert_eq!((&p.database, &p.table), (&first.database, &first.table));
        let clause = clause_of(p);
        let needed = clause.len() + separator.len();
        if head.len() + needed > max_bytes {
            return Err(StatementTooLarge {
                registry_key: p.registry_key(),
                bytes: head.len() + needed,
                max: max_bytes,
            });
        }
        if sql.len() + needed > max_bytes {
            out.push(Statement {
                sql: std::mem::replace(&mut sql, head.to_string()),
                partitions: std::mem::take(&mut members),
            });
        }
        // The first clause of a statement follows the head on a new line; later ones after
        // the separator (which ends in the new line).
        sql.push_str(if members.is_empty() { "\n" } else { separator });
        sql.push_str(&clause);
        members.push(i);
    }
    out.push(Statement {
        sql,
        partitions: members,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Tables;
    use chrono::NaiveDate;

    fn specs(n: usize) -> Vec<PartitionSpec> {
        let t = Tables::from_json(
            r#"[{"bucket":"streamops-data-123456789012-us-east-1","prefix":"enriched/","database":"streamops","table":"enriched_events","layout":"firehose"}]"#,
        )
        .unwrap();
        let start = NaiveDate::from_ymd_opt(2024, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        (0..n)
            .map(|h| {
                t.tables[0]
                    .spec_for(start + chrono::Duration::hours(h as i64))
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn identifiers_are_quoted_and_literals_escaped() {
        assert_eq!(quote_ident("enriched_events"), "`enriched_events`");
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(escape_literal("2026-11-23"), "'2026-11-23'");
        assert_eq!(escape_literal("it's"), "'it\\'s'");
        assert_eq!(
            escape_literal("a\\'); DROP TABLE t; --"),
            "'a\\\\\\'); DROP TABLE t; --'"
        );
    }

    #[test]
    fn one_statement_for_a_few_partitions() {
        let s = render_statements(&specs(3), MAX_STATEMENT_BYTES).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].sql,
            "ALTER TABLE `streamops`.`enriched_events` ADD IF NOT EXISTS\n\
             PARTITION (`dt` = '2024-01-01', `hour` = '00') LOCATION 's3://streamops-data-123456789012-us-east-1/enriched/2024/01/01/00/'\n\
             PARTITION (`dt` = '2024-01-01', `hour` = '01') LOCATION 's3://streamops-data-123456789012-us-east-1/enriched/2024/01/01/01/'\n\
             PARTITION (`dt` = '2024-01-01', `hour` = '02') LOCATION 's3://streamops-data-123456789012-us-east-1/enriched/2024/01/01/02/'"
        );
        assert_eq!(s[0].partitions, vec![0, 1, 2]);
    }

    #[test]
    fn drops_name_the_values_only_comma_separated_and_split_under_the_limit() {
        let s = render_drop_statements(&specs(2), MAX_STATEMENT_BYTES).unwrap();
        assert_eq!(
            s[0].sql,
            "ALTER TABLE `streamops`.`enriched_events` DROP IF EXISTS\n\
             PARTITION (`dt` = '2024-01-01', `hour` = '00'),\n\
             PARTITION (`dt` = '2024-01-01', `hour` = '01')"
        );
        let all = specs(20_000);
        let s = render_drop_statements(&all, MAX_STATEMENT_BYTES).unwrap();
        assert!(s.len() >= 2);
        let mut seen: Vec<usize> = s.iter().flat_map(|st| st.partitions.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..20_000).collect::<Vec<_>>());
        for st in &s {
            assert!(st.sql.len() <= MAX_STATEMENT_BYTES);
            assert!(!st.sql.contains("LOCATION") && !st.sql.ends_with(','));
            assert_eq!(st.sql.matches("PARTITION (").count(), st.partitions.len());
        }
    }

    #[test]
    fn twenty_thousand_partitions_split_under_the_limit_and_none_is_lost() {
        let all = specs(20_000);
        let s = render_statements(&all, MAX_STATEMENT_BYTES).unwrap();
        assert!(s.len() >= 2, "{} statements", s.len());
        let mut seen: Vec<usize> = Vec::new();
        for st in &s {
            assert!(
                st.sql.len() <= MAX_STATEMENT_BYTES,
                "{} bytes",
                st.sql.len()
            );
            assert!(st.sql.starts_with(
                "ALTER TABLE `streamops`.`enriched_events` ADD IF NOT EXISTS\nPARTITION ("
            ));
            assert_eq!(st.sql.matches("\nPARTITION (").count(), st.partitions.len());
            seen.extend(&st.partitions);
        }
        assert_eq!(seen, (0..20_000).collect::<Vec<_>>());
        // Greedy packing: every statement but the last is nearly full.
        for st in &s[..s.len() - 1] {
            assert!(st.sql.len() > MAX_STATEMENT_BYTES - 200);
        }
    }

    #[test]
    fn small_limits_split_exactly_and_a_clause_that_cannot_fit_is_an_error() {
        let all = specs(10);
        let one = render_statements(&all[..1], MAX_STATEMENT_BYTES).unwrap();
        let limit = one[0].sql.len();
        let s = render_statements(&all, limit).unwrap();
        assert_eq!(s.len(), 10);
        assert!(s.iter().all(|st| st.sql.len() <= limit));
        let err = render_statements(&all, limit - 1).unwrap_err();
        assert_eq!(err.max, limit - 1);
        assert!(
            err.to_string()
                .contains("streamops.enriched_events/dt=2024-01-01/hour=00")
        );
    }
}
