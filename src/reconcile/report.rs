//! The report for people (a cross-target table on the terminal) and for scripts (JSON, and
//! CSV with one row per person × target, or per differing field).

use super::classify::STATUSES;
use super::Report;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The terminal table: every person not in sync somewhere, one column per target, then
/// the counts per target and status, and each target's orphans.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let names: Vec<&str> = report
        .targets
        .iter()
        .map(|t| t.result.target.as_str())
        .collect();
    let mut rows: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (column, target) in report.targets.iter().enumerate() {
        for person in &target.result.people {
            let cells = rows
                .entry(person.employee_id.as_str())
                .or_insert_with(|| vec!["in_sync".to_string(); names.len()]);
            cells[column] = cell(person);
        }
    }
    rows.retain(|_, cells| cells.iter().any(|c| c != "in_sync"));
    let _ = write!(out, "{:<14}", "EMPLOYEE");
    for name in &names {
        let _ = write!(out, " {name:<30}");
    }
    out.push('\n');
    for (employee, cells) in &rows {
        let _ = write!(out, "{employee:<14}");
        for cell in cells {
            let _ = write!(out, " {cell:<30}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n{} of {} people not in sync somewhere",
        rows.len(),
        report.people
    );
    let _ = write!(out, "\n{:<20}", "STATUS");
    for name in &names {
        let _ = write!(out, " {name:>12}");
    }
    out.push('\n');
    for status in STATUSES {
        let _ = write!(out, "{status:<20}");
        for target in &report.targets {
            let _ = write!(out, " {:>12}", target.result.count(status));
        }
        out.push('\n');
    }
    for (label, value) in [("accounts read", 0), ("API calls", 1)] {
        let _ = write!(out, "{label:<20}");
        for target in &report.targets {
            let n = if value == 0 {
                target.listed
            } else {
                target.calls
            };
            let _ = write!(out, " {n:>12}");
        }
        out.push('\n');
    }
    for target in &report.targets {
        if !target.result.orphans.is_empty() {
            let _ = writeln!(
                out,
                "\norphans in {}: {}",
                target.result.target,
                target.result.orphans.join(", ")
            );
        }
    }
    corrections(&mut out, &report.corrections);
    out
}

fn corrections(out: &mut String, corrections: &super::correct::Corrections) {
    let n = corrections.planned.len();
    if corrections.published {
        let _ = writeln!(
            out,
            "\n{n} corrections published to the worker's queue (x-hrsync-source=reconcile)"
        );
    } else if n > 0 {
        let _ = writeln!(out, "\n{n} corrections would be published with --apply");
    }
    for planned in &corrections.planned {
        let _ = writeln!(
            out,
            "  {} {} at sequence {} for {}",
            planned.employee_id,
            planned.action,
            planned.sequence,
            planned.targets.join(", ")
        );
    }
    for skipped in &corrections.skipped {
        let _ = writeln!(
            out,
            "  {} not corrected: {}",
            skipped.employee_id, skipped.reason
        );
    }
}

fn cell(person: &super::classify::PersonResult) -> String {
    use super::classify::Status;
    let mut text = person.status.as_str().to_string();
    match &person.status {
        Status::Drift { diffs } => {
            let fields: Vec<&str> = diffs.iter().map(|d| d.field.as_str()).collect();
            let _ = write!(text, " ({})", fields.join(","));
        }
        Status::Ambiguous { candidates } => {
            let _ = write!(text, " ({})", candidates.join(","));
        }
        _ => {
            if let Some(account) = &person.account {
                if text != "in_sync" {
                    let _ = write!(text, " ({account})");
                }
            }
        }
    }
    text
}

/// The report as one JSON document.
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report serialises")
}

/// CSV: `employee_id,target,status,account,field,hr_value,target_value` — one row per
/// person × target (per differing field for drift), and one per orphan.
pub fn csv(report: &Report) -> anyhow::Result<String> {
    use super::classify::Status;
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "employee_id",
        "target",
        "status",
        "account",
        "field",
        "hr_value",
        "target_value",
    ])?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for target in &report.targets {
        let name = target.result.target.as_str();
        for person in &target.result.people {
            let account = person.account.clone().unwrap_or_default();
            let status = person.status.as_str();
            match &person.status {
                Status::Drift { diffs } => {
                    for d in diffs {
                        writer.write_record([
                            person.employee_id.as_str(),
                            name,
                            status,
                            &account,
                            &d.field,
                            &text(&d.hr),
                            &text(&d.target),
                        ])?;
                    }
                }
                Status::Ambiguous { candidates } => {
                    let candidates = candidates.join(" ");
                    writer.write_record([
                        person.employee_id.as_str(),
                        name,
                        status,
                        &candidates,
                        "",
                        "",
                        "",
                    ])?;
                }
                _ => writer.write_record([
                    person.employee_id.as_str(),
                    name,
                    status,
                    &account,
                    "",
                    "",
                    "",
                ])?,
            }
        }
        for orphan in &target.result.orphans {
            writer.write_record(["", name, "orphan", orphan, "", "", ""])?;
        }
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}
