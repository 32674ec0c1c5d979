//! Answers as readable text: an object's scalar fields as aligned `name  value` lines (nested
//! objects flattened to `outer.inner`), its lists of objects as tables after them.

use serde_json::{Map, Value};

/// The widest a table cell gets; longer values end in `…` (`--output json` has them whole).
const MAX_CELL: usize = 60;
/// Wider tables are shown as one block per row.
const MAX_TABLE_WIDTH: usize = 160;

pub fn render(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut rows = Vec::new();
            let mut tables = Vec::new();
            fields(map, "", &mut rows, &mut tables);
            let mut out = aligned(&rows);
            for (name, items) in tables {
                out.push_str(&format!("\n{name} ({}):\n", items.len()));
                out.push_str(&listing(name.as_str(), items));
            }
            out
        }
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            listing("", items)
        }
        other => format!("{}\n", scalar(other)),
    }
}

/// Scalar fields (flattened) into `rows`, lists of objects into `tables`.
fn fields<'v>(
    map: &'v Map<String, Value>,
    prefix: &str,
    rows: &mut Vec<(String, String)>,
    tables: &mut Vec<(String, &'v [Value])>,
) {
    for (k, v) in map {
        let name = format!("{prefix}{k}");
        match v {
            Value::Object(inner) if inner.is_empty() => rows.push((name, "{}".into())),
            Value::Object(inner) => fields(inner, &format!("{name}."), rows, tables),
            Value::Array(items) if items.is_empty() => rows.push((name, "(none)".into())),
            Value::Array(items) if items.iter().all(Value::is_object) => tables.push((name, items)),
            Value::Array(items) => {
                let words: Vec<String> = items.iter().map(scalar).collect();
                rows.push((name, words.join(", ")));
            }
            other => rows.push((name, scalar(other))),
        }
    }
}

/// Values of several lines go on indented under their first.
fn aligned(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let indent = format!("\n{:width$}  ", "");
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {}\n", v.replace('\n', &indent)))
        .collect()
}

/// A table, or, when it would be wider than a terminal (objects with many or nested fields,
/// like the scaler's targets), one block of aligned fields per object.
fn listing(name: &str, items: &[Value]) -> String {
    let t = table(items);
    if t.lines().all(|l| l.chars().count() <= MAX_TABLE_WIDTH) {
        return t;
    }
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        out.push_str(&format!("{name}[{i}]:\n"));
        for line in render(item).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// One column per key (in the order first seen: serde_json's maps are sorted), one row per
/// object.
fn table(items: &[Value]) -> String {
    let mut columns: Vec<&str> = Vec::new();
    for item in items {
        for k in item.as_object().into_iter().flat_map(|m| m.keys()) {
            if !columns.contains(&k.as_str()) {
                columns.push(k);
            }
        }
    }
    let cells: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            let cell = |c: &&str| item.get(*c).map(cell).unwrap_or_default();
            columns.iter().map(cell).collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let widest = cells
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0);
            widest.max(c.chars().count())
        })
        .collect();
    let line = |words: Vec<&str>| {
        let padded: Vec<String> = words
            .iter()
            .zip(&widths)
            .map(|(w, width)| format!("{w:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(
        columns
            .iter()
            .map(|c| c.to_uppercase())
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn cell(v: &Value) -> String {
    let text = match v {
        Value::Object(_) | Value::Array(_) => v.to_string(),
        other => scalar(other),
    };
    let text = text.replace('\n', " ");
    if text.chars().count() > MAX_CELL {
        let cut: String = text.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_become_aligned_fields_and_tables() {
        let v = json!({
            "command": "list-silences", "dry_run": false, "range": {"from": "a", "to": "b"},
            "tags": ["x", "y"], "none": [],
            "silences": [{"id": "sil-1", "ends_at": "t1"}, {"id": "sil-22", "comment": "c"}],
        });
        let text = render(&v);
        assert_eq!(
            text,
            "command     list-silences\n\
             dry_run     false\n\
             none        (none)\n\
             range.from  a\n\
             range.to    b\n\
             tags        x, y\n\
             \n\
             silences (2):\n\
             ENDS_AT  ID      COMMENT\n\
             t1       sil-1\n\
             \x20        sil-22  c\n"
        );
    }

    #[test]
    fn wide_rows_become_blocks() {
        let wide = json!({"targets": [{"target": "raw-stream", "policy": {"min": 1, "max": 8},
            "a": "x".repeat(50), "b": "y".repeat(50), "c": "z".repeat(50)}]});
        let text = render(&wide);
        assert!(text.starts_with("\ntargets (1):\ntargets[0]:\n"), "{text}");
        assert!(
            text.contains("\n  policy.max  8\n") && text.contains("\n  target      raw-stream\n"),
            "{text}"
        );
        assert_eq!(
            render(&json!({"sql": "a\nb", "n": 1})),
            "n    1\nsql  a\n     b\n"
        );
    }

    #[test]
    fn long_cells_are_cut() {
        let long = "x".repeat(100);
        let text = render(&json!([{"sql": long}]));
        let row = text.lines().nth(1).unwrap();
        assert_eq!(row.chars().count(), MAX_CELL);
        assert!(row.ends_with('…'));
    }
}
