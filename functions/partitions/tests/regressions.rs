//! The minimal inputs of the bugs the generated-input tests (`tests/properties/`) found, each a
//! plain test named for what it checks, so the bug stays fixed whatever the property's seeds.

use partitions::Tables;

fn table_with_date_column(template: &str) -> Result<Tables, Vec<String>> {
    Tables::from_json(&format!(
        r#"[{{"bucket":"b-1","prefix":"d/","database":"db","table":"t","layout":"{{yyyy}}/{{MM}}/{{dd}}/{{HH}}/",
             "columns":[{{"name":"day","type":"date","value":"{template}"}}]}}]"#
    ))
}

/// Found by `keys_sql::keys_of_configured_tables_read_as_their_partition`: a date column
/// `{yyyy}-{dd}-{MM}` passed the cold-start check (its sample, 2 January, renders 2026-02-01)
/// and every key from the 13th of a month on was then poison (`2068-19-09` is no date).
#[test]
fn a_date_column_that_is_a_date_on_some_days_only_is_a_configuration_error() {
    let e = table_with_date_column("{yyyy}-{dd}-{MM}").unwrap_err();
    assert!(
        e[0].contains(
            "field `columns`: column `day`: template \"{yyyy}-{dd}-{MM}\" renders \"2024-13-01\" is not a date (yyyy-MM-dd) on 2024-01-13 00:00"
        ),
        "{e:?}"
    );
    let e = table_with_date_column("{yyyy}-{MM}-{HH}").unwrap_err();
    assert!(e[0].contains("\"2024-01-00\" is not a date"), "{e:?}");
    let e = table_with_date_column("{yyyy}-02-{dd}").unwrap_err();
    assert!(e[0].contains("\"2024-02-30\" is not a date"), "{e:?}");
    // Templates that are a date on every day still are.
    for ok in ["{yyyy}-{MM}-{dd}", "{yyyy}-{MM}-01"] {
        let t = table_with_date_column(ok).unwrap_or_else(|e| panic!("{ok}: {e:?}"));
        assert!(matches!(
            t.classify("b-1", "d/2026/11/23/10/x.gz", Some(1)),
            partitions::KeyOutcome::Partition(_)
        ));
    }
}

/// Found by `ops::ranges_cover_every_period_once_or_are_refused` and
/// `ops::commands_are_planned_within_limits_or_rejected_naming_the_field`: a `to` in chrono's
/// last hour (`+262142-12-31T23:59:59`) overflowed rounding the range's end up — a `status` or
/// `backfill` command panicked the function.
#[test]
fn a_range_ending_in_the_last_hour_there_is_is_refused_not_a_panic() {
    let tables = Tables::from_json(
        r#"[{"bucket":"b-1","prefix":"h/","database":"db","table":"h","layout":"hive"}]"#,
    )
    .unwrap();
    for command in ["status", "backfill"] {
        let cmd = serde_json::json!({"command": command, "table": "db.h",
            "from": "2000-01-01", "to": "+262142-12-31T23:59:59"});
        // Refused naming `to` (since years past 9999 are refused, before the range is built).
        let e = partitions::check_command(&cmd, &tables)
            .unwrap()
            .unwrap_err();
        assert!(e.contains(&format!("{command} `to`: ")), "{command}: {e}");
    }
    let last = chrono::NaiveDateTime::MAX;
    let e = partitions::PeriodRange::new(
        last - chrono::Duration::days(3),
        last,
        partitions::Granularity::Day,
    )
    .unwrap_err();
    assert!(e.contains("too late"), "{e}");
}

/// Found by `ops::commands_are_planned_within_limits_or_rejected_naming_the_field`: a status or
/// backfill of year -1 (or 10000) planned partitions at `dt=-001-11-26/hour=23/`, a location the
/// table's own layout does not match — registered, they would hold no key ever written.
#[test]
fn times_outside_the_four_digit_years_are_refused() {
    let tables = Tables::from_json(
        r#"[{"bucket":"b-1","prefix":"h/","database":"db","table":"h","layout":"hive"}]"#,
    )
    .unwrap();
    for (from, to) in [
        ("-0001-11-26T23:00:00", "-0001-11-27T00:00:00"),
        ("+10000-01-01T00:00:00", "+10000-01-02T00:00:00"),
    ] {
        let cmd = serde_json::json!({"command": "status", "table": "db.h", "from": from, "to": to});
        let e = partitions::check_command(&cmd, &tables)
            .unwrap()
            .unwrap_err();
        assert!(
            e.starts_with("status `from`: ") && e.contains("outside the years 0000 to 9999"),
            "{e}"
        );
    }
    let year_minus_one = chrono::NaiveDate::from_ymd_opt(-1, 11, 26)
        .unwrap()
        .and_hms_opt(23, 0, 0)
        .unwrap();
    let e = tables.tables[0].spec_for(year_minus_one).unwrap_err();
    assert!(e.contains("outside the years 0000 to 9999"), "{e}");
    // The edges are fine: year 0 and the last hour of 9999.
    for t in ["0000-01-01T00", "9999-12-31T23"] {
        let p = partitions::parse_time(t).unwrap();
        assert!(tables.tables[0].spec_for(p).is_ok(), "{t}");
    }
}

/// Found by `config::every_bad_variable_is_named`: `PARTITIONS_REGISTRY_TTL_DAYS` of
/// 213503982334602 overflowed turning days into seconds — a panic at cold start instead of a
/// configuration error (and, in a release build, a wrapped TTL).
#[test]
fn a_registry_ttl_too_long_to_count_in_seconds_is_a_configuration_error() {
    let tables = r#"[{"bucket":"b-1","prefix":"h/","database":"db","table":"h","layout":"hive"}]"#;
    for days in ["213503982334602", "18446744073709551615", "36501", "0"] {
        let vars = std::collections::HashMap::from([
            ("PARTITIONS_TABLES".to_string(), tables.to_string()),
            ("PARTITIONS_REGISTRY_TABLE".to_string(), "reg".to_string()),
            ("PARTITIONS_REGISTRY_TTL_DAYS".to_string(), days.to_string()),
        ]);
        let e = partitions::PartitionsConfig::read(streamops_shared::EnvReader::from_map(vars))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "PARTITIONS_REGISTRY_TTL_DAYS has invalid value \"{days}\""
            )),
            "{e}"
        );
    }
}
