//! Facts about the machine and processes the figures come from: cores, CPU, kernel,
//! RabbitMQ version; a process's CPU time and RSS from `/proc`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

/// Runs a command with a time limit; its trimmed stdout, or None.
pub fn command_output(program: &str, args: &[&str], limit: Duration) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    use std::io::Read;
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    let out = out.trim().to_string();
    (!out.is_empty()).then_some(out)
}

/// What the figures were measured on.
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub rabbitmq: String,
    pub date: String,
    pub kernel: String,
}

pub fn machine_facts() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']))
        })
        .unwrap_or("unknown")
        .to_string();
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        rabbitmq: command_output("rabbitmqctl", &["version"], Duration::from_secs(20))
            .and_then(|v| v.lines().last().map(str::to_string))
            .unwrap_or_else(|| "unknown (rabbitmqctl unavailable)".into()),
        date: command_output(
            "date",
            &["-u", "+%Y-%m-%d %H:%M UTC"],
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| "unknown".into()),
        kernel: command_output("uname", &["-r"], Duration::from_secs(5))
            .unwrap_or_else(|| "unknown".into()),
    }
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// utime + stime of the calling thread, in seconds (`/proc/thread-self/stat`).
pub fn thread_cpu_seconds() -> Result<f64> {
    stat_cpu_seconds("/proc/thread-self/stat")
}

/// utime + stime (fields 14 and 15) of a `/proc/…/stat` file, in seconds.
fn stat_cpu_seconds(path: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(path)?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("odd {path}"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    if fields.len() < 13 {
        return Err(anyhow!("odd {path}"));
    }
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / clock_ticks_per_second())
}

/// `getconf CLK_TCK`, asked once (a process start between two readings would count in
/// the reading thread's CPU time).
pub fn clock_ticks_per_second() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        command_output("getconf", &["CLK_TCK"], Duration::from_secs(5))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(100.0)
    })
}

/// The local RabbitMQ node's process (the oldest `beam.smp`), to account its CPU time.
pub fn broker_pid() -> Option<u32> {
    command_output("pgrep", &["-o", "beam.smp"], Duration::from_secs(5))?
        .parse()
        .ok()
}

pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}
