//! The table the bench prints, and what a scenario adds to it.

use crate::machine::Machine;

/// What the scenarios report into: the table, the failures, and the figures later
/// scenarios compare against (the raw ceiling and the two floors of (1)).
pub struct Report {
    pub table: Table,
    pub failures: usize,
    /// (1)'s consume rate, msg/s, when (1) ran.
    pub raw_rate: Option<f64>,
    /// Floor (a) of (1): the bench process's CPU per message consumed and acked, µs.
    pub floor_consume_us: Option<f64>,
    /// Floor (b) of (1): the client thread's CPU per keep-alive GET + form PUT, µs.
    pub floor_pair_us: Option<f64>,
    pub machine: Machine,
}

impl Report {
    pub fn new(machine: Machine) -> Self {
        Self {
            table: Table { rows: Vec::new() },
            failures: 0,
            raw_rate: None,
            floor_consume_us: None,
            floor_pair_us: None,
            machine,
        }
    }

    /// A row "worker CPU per event ÷ floor", the floor being (a) + `pairs` × (b) of (1)
    /// measured in this run; `goal` is the largest ratio that meets the target.
    pub fn floor_ratio(&mut self, id: &str, what: &str, worker_us: f64, pairs: u32, goal: f64) {
        let b = if pairs == 0 {
            Some(0.0)
        } else {
            self.floor_pair_us
        };
        let Some((a, b)) = self.floor_consume_us.zip(b) else {
            self.table.row(
                id,
                what,
                "-".into(),
                "x floor",
                "floors not measured in this run (run (1) with it)".into(),
            );
            return;
        };
        let floor = a + f64::from(pairs) * b;
        let ratio = worker_us / floor;
        let floor_text = match pairs {
            0 => format!("floor (a) {a:.0}"),
            1 => format!("floor (a) + (b) = {a:.0} + {b:.0} = {floor:.0}"),
            n => format!("floor (a) + {n} x (b) = {a:.0} + {n} x {b:.0} = {floor:.0}"),
        };
        self.table.row(
            id,
            what,
            format!("{ratio:.2}"),
            "x floor",
            format!(
                "{worker_us:.0} us/event / {floor_text} us; goal <= {goal}x: {}",
                verdict(ratio <= goal)
            ),
        );
    }

    /// A failed scenario: its error on stderr and one FAILED row.
    pub fn fail(&mut self, scenario: u32, error: anyhow::Error) {
        eprintln!("scenario {scenario} failed: {error:#}");
        self.table.row(
            &scenario.to_string(),
            "FAILED",
            "-".into(),
            "-",
            format!("{error:#}").lines().next().unwrap_or("").into(),
        );
        self.failures += 1;
    }
}

pub struct Table {
    rows: Vec<[String; 5]>,
}

impl Table {
    pub fn row(&mut self, id: &str, what: &str, value: String, unit: &str, notes: String) {
        self.rows
            .push([id.into(), what.into(), value, unit.into(), notes]);
    }

    pub fn print(&self) {
        let header = ["#", "measure", "value", "unit", "notes / target"];
        let mut widths = header.map(str::len);
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths[4] = widths[4].min(90);
        let line = |cells: [&str; 5]| {
            println!(
                "| {:<w0$} | {:<w1$} | {:>w2$} | {:<w3$} | {:<w4$} |",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4]
            )
        };
        line(header);
        println!(
            "|{}|{}|{}|{}|{}|",
            "-".repeat(widths[0] + 2),
            "-".repeat(widths[1] + 2),
            "-".repeat(widths[2] + 2),
            "-".repeat(widths[3] + 2),
            "-".repeat(widths[4] + 2)
        );
        for row in &self.rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
        }
    }
}

pub fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "NOT MET"
    }
}
