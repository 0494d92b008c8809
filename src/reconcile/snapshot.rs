//! The HR snapshot reconciliation compares against: the current record of every person, in
//! the same fields as an event's `data`. JSON lines (one `data` object a line) or CSV with
//! dotted column names (`person.first_name`) and `;`-separated `roles` and `sites`.
//!
//! `status` says whether the person is still employed: `active` (the default) or `left`
//! (also `inactive`, `terminated`); a left person's accounts should be disabled. An
//! optional `sequence` is the HR record version (as an event's): `reconcile --apply`
//! publishes corrections at it and never corrects with a record older than what was
//! applied.

use serde_json::{Map, Value};
use std::path::Path;

/// One person's current HR record.
#[derive(Debug, Clone, PartialEq)]
pub struct HrRecord {
    pub employee_id: String,
    pub active: bool,
    /// The HR record version, if the snapshot carries it.
    pub sequence: Option<u64>,
    /// As an event's `data` (without `sequence`, an envelope attribute).
    pub data: Value,
}

/// Reads a snapshot file: CSV when its name ends in `.csv`, JSON lines otherwise. Errors
/// name the line.
pub fn read(path: &Path) -> anyhow::Result<Vec<HrRecord>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let records = if is_csv {
        csv(&text)?
    } else {
        json_lines(&text)?
    };
    let mut seen = std::collections::HashSet::new();
    for record in &records {
        if !seen.insert(record.employee_id.as_str()) {
            anyhow::bail!("employee {} is in the snapshot twice", record.employee_id);
        }
    }
    Ok(records)
}

fn json_lines(text: &str) -> anyhow::Result<Vec<HrRecord>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let data: Value = serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("line {}: not JSON: {e}", i + 1))?;
            record(data).map_err(|e| anyhow::anyhow!("line {}: {e}", i + 1))
        })
        .collect()
}

fn csv(text: &str) -> anyhow::Result<Vec<HrRecord>> {
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    let mut records = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| anyhow::anyhow!("line {}: {e}", i + 2))?;
        let mut data = Value::Object(Map::new());
        for (column, cell) in headers.iter().zip(row.iter()) {
            if cell.is_empty() {
                continue;
            }
            let value = match column {
                "roles" | "sites" => Value::from(
                    cell.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>(),
                ),
                _ => Value::from(cell),
            };
            crate::targets::set_dotted(&mut data, column, value);
        }
        records.push(record(data).map_err(|e| anyhow::anyhow!("line {}: {e}", i + 2))?);
    }
    Ok(records)
}

fn record(mut data: Value) -> Result<HrRecord, String> {
    let employee_id = data
        .get("employee_id")
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
        .ok_or("no employee_id")?
        .to_string();
    let active = match data.get("status").and_then(Value::as_str) {
        None | Some("active") => true,
        Some("left" | "inactive" | "terminated") => false,
        Some(other) => return Err(format!("status {other:?} is neither active nor left")),
    };
    let sequence = match data.as_object_mut().and_then(|d| d.remove("sequence")) {
        None => None,
        Some(value) => {
            let parsed = match &value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            };
            match parsed {
                Some(n) if n >= 1 && i64::try_from(n).is_ok() => Some(n),
                _ => {
                    return Err(format!(
                        "sequence {value} is not a whole number of at least 1"
                    ))
                }
            }
        }
    };
    Ok(HrRecord {
        employee_id,
        active,
        sequence,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_columns_nest_by_dots_and_lists_split_on_semicolons() {
        let text = "employee_id,status,person.first_name,person.email,roles,sites\n\
                    E1,active,Ana,ana@x,cra;site_admin,US-1\n\
                    E2,left,Bo,bo@x,,\n";
        let records = csv(text).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].data["person"]["first_name"], "Ana");
        assert_eq!(records[0].data["roles"], json!(["cra", "site_admin"]));
        assert!(records[0].active);
        assert!(!records[1].active);
        assert!(
            records[1].data.get("roles").is_none(),
            "empty cells are left out"
        );
    }

    #[test]
    fn json_lines_need_an_employee_id_and_a_known_status() {
        assert_eq!(json_lines("{\"employee_id\":\"E1\"}\n\n").unwrap().len(), 1);
        let err = json_lines("{\"employee_id\":\"E1\"}\n{\"person\":{}}\n").unwrap_err();
        assert!(err.to_string().contains("line 2: no employee_id"), "{err}");
        let err = json_lines("{\"employee_id\":\"E1\",\"status\":\"gone\"}").unwrap_err();
        assert!(err.to_string().contains("neither active nor left"), "{err}");
    }

    #[test]
    fn a_sequence_is_the_record_version_and_leaves_the_data() {
        let records = json_lines("{\"employee_id\":\"E1\",\"sequence\":7}").unwrap();
        assert_eq!(records[0].sequence, Some(7));
        assert!(records[0].data.get("sequence").is_none());
        let records = csv("employee_id,sequence\nE1,12\nE2,\n").unwrap();
        assert_eq!(records[0].sequence, Some(12));
        assert_eq!(records[1].sequence, None);
        for bad in ["0", "-1", "1.5", "\"x\""] {
            let line = format!("{{\"employee_id\":\"E1\",\"sequence\":{bad}}}");
            let err = json_lines(&line).unwrap_err();
            assert!(
                err.to_string().contains("not a whole number"),
                "{bad}: {err}"
            );
        }
    }
}
