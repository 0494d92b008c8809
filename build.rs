//! Build script: rebuilds when the migrations change (sqlx embeds them), and stamps the
//! build with its git commit and date for `hrsync --version` and the build-info metric.
//!
//! - `GIT_REVISION` (a compile-time `env!`): the value of `HRSYNC_GIT_COMMIT` in the
//!   build's environment (an image built without `.git` can pass it in), else `git
//!   rev-parse --short HEAD`, else `unknown` (no git, or no checkout). Not named
//!   `HRSYNC_*`: Cargo also sets it for what `cargo run` and `cargo test` start, where an
//!   `HRSYNC_*` name reads as a configuration override.
//! - `$OUT_DIR/build-date`: the UTC date of the build, `YYYY-MM-DD` (from
//!   `SOURCE_DATE_EPOCH` when set, for reproducible builds). A file, not a `rustc-env`
//!   variable: Cargo also sets those in the environment of what `cargo run` and `cargo
//!   test` start, where an `HRSYNC_*` name reads as a configuration override.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=HRSYNC_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let commit = std::env::var("HRSYNC_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=GIT_REVISION={commit}");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out_dir).join("build-date"), build_date())
        .expect("cannot write the build date");
}

/// Runs `git` in the package's folder; `None` when git is missing or this is no checkout.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    // Rebuild when HEAD moves (a commit, a checkout): HEAD itself, the branch it names,
    // and the packed refs. Only files that exist: a missing one would rerun every build.
    for name in ["HEAD", "packed-refs"] {
        watch(git(&["rev-parse", "--git-path", name]));
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(git(&["rev-parse", "--git-path", &branch]));
    }
    Some(commit)
}

fn watch(path: Option<String>) {
    let Some(path) = path else { return };
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let full = Path::new(&dir).join(&path);
    if full.exists() {
        println!("cargo:rerun-if-changed={}", full.display());
    }
}

/// Today (UTC), or `SOURCE_DATE_EPOCH`'s day, as `YYYY-MM-DD`.
fn build_date() -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
