//! The state store's own failure modes, for real: a full disk (a small tmpfs filled to the
//! last byte), a file made immutable under a running worker (`chattr +i`: I/O errors on the
//! open connection, "read-only database" on a new one), a worker started on a store it
//! cannot write, and a PostgreSQL table that refuses every write. What must hold: while the
//! store cannot record, nothing is applied that would go unrecorded (at most the events
//! already in flight when it failed, each written once and held until recorded); `/readyz`
//! says so; and the worker resumes by itself when the store does — every change applied
//! exactly once, in order, no dead letters.
//!
//! Mounting and `chattr` need root; without it those tests print why and pass.

use hrsync_testkit::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const EMPLOYEES: usize = 10;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (with the reason printed) where this process may not mount.
    fn mount(name: &str, size: &str) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Tmpfs(dir)),
            Ok(out) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs here ({}); run as root to test a full disk",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: no mount command ({e})");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes zeros into `path` until the file system is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    let mut written = 0;
    loop {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.sync_all();
    written
}

fn chattr(flag: &str, files: &[PathBuf]) -> bool {
    files.iter().filter(|f| f.exists()).all(|f| {
        Command::new("chattr")
            .arg(flag)
            .arg(f)
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The SQLite file of a `sqlite://…` URL, and its WAL and shared-memory files.
fn sqlite_files(url: &str) -> Vec<PathBuf> {
    let path = url.trim_start_matches("sqlite://");
    let path = path.split('?').next().unwrap();
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{path}{suffix}")))
        .collect()
}

/// Movers `first..=last` for every employee, one round after the other.
fn rounds(first: u64, last: u64) -> Vec<serde_json::Value> {
    (first..=last)
        .flat_map(|n| (0..EMPLOYEES).map(move |i| staff_mover(i, n)))
        .collect()
}

/// Per account, the titles written while the store was failing, and whether any account
/// got a title twice or out of sequence order over the whole run.
async fn writes_report(h: &Harness) -> (usize, usize) {
    let vault = h.sim.vault_titles().await;
    let mut doubled = 0;
    let mut out_of_order = 0;
    for titles in vault.values() {
        let numbers: Vec<u64> = titles
            .iter()
            .map(|t| t.trim_start_matches("Title ").parse().unwrap())
            .collect();
        doubled += numbers.len()
            - numbers
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len();
        out_of_order += numbers.windows(2).filter(|w| w[1] < w[0]).count();
    }
    (doubled, out_of_order)
}

#[tokio::test]
async fn a_full_disk_stops_all_writes_and_the_worker_resumes_by_itself_when_space_returns() {
    let Some(disk) = Tmpfs::mount("hrsync-full", "6m") else {
        return;
    };
    let url = format!("sqlite://{}/hrsync.db", disk.0.display());
    let store_url = url.clone();
    let h = Harness::builder()
        .simulator(roomy_simulator())
        .config(move |c| c.store.url = store_url)
        .start()
        .await;
    h.publish_all(&rounds(1, 1)).await;
    h.sim.wait_for_titles(EMPLOYEES, 1, WAIT).await;
    h.wait_idle().await;

    // The disk fills up; HR keeps sending.
    let filler = disk.0.join("filler");
    fill(&filler);
    h.publish_all(&rounds(2, 4)).await;
    let unready = h.wait_ready(false, WAIT).await;
    assert!(
        unready["store_problem"]
            .as_str()
            .is_some_and(|p| !p.is_empty()),
        "{unready}"
    );
    let before = h.sim.writes("vault", "PUT").await.len();
    // Let the outage last: the worker must not write anything it could not record.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = h.sim.writes("vault", "PUT").await.len() - before;
    let vault_during = h.sim.vault_titles().await;
    assert!(
        vault_during.values().all(|t| t.len() <= 2),
        "while the store was full, no employee got more than the one change in flight: {vault_during:?}"
    );
    let metrics = h.metrics_text().await;
    assert_eq!(metric(&metrics, "hrsync_store_recording", ""), 0.0);
    assert!(metric(&metrics, "hrsync_store_errors_total", r#"op="record""#) >= 1.0);

    // Space comes back: no restart, no operator.
    std::fs::remove_file(&filler).unwrap();
    let recovered = Instant::now();
    h.wait_ready(true, WAIT).await;
    h.sim
        .wait_for_titles(EMPLOYEES, 4, Duration::from_secs(60))
        .await;
    h.wait_idle().await;
    h.sim
        .assert_applied_exactly_once_in_order(EMPLOYEES, 4)
        .await;
    let (doubled, out_of_order) = writes_report(&h).await;
    let letters = h.dead_letters_now().await.len();
    eprintln!(
        "full disk: {during} Vault writes during 10 s of outage (events in flight when it began), \
         {doubled} doubled, {out_of_order} out of order, 0 lost, {letters} dead letters; \
         resumed {:.1} s after space returned",
        recovered.elapsed().as_secs_f64()
    );
    assert_eq!((doubled, out_of_order, letters), (0, 0, 0));
    assert_eq!(
        metric(&h.metrics_text().await, "hrsync_store_recording", ""),
        1.0
    );
    h.stop().await;
    drop(disk);
}

#[tokio::test]
async fn a_store_file_made_read_only_under_the_worker_heals_when_it_is_writable_again() {
    let h = Harness::builder()
        .simulator(roomy_simulator())
        .start()
        .await;
    let files = sqlite_files(&h.config.store.url);
    h.publish_all(&rounds(1, 1)).await;
    h.sim.wait_for_titles(EMPLOYEES, 1, WAIT).await;
    h.wait_idle().await;
    if !chattr("+i", &files) {
        eprintln!("SKIPPED: chattr +i refused (needs root and a file system that supports it)");
        chattr("-i", &files);
        h.stop().await;
        return;
    }
    h.publish_all(&rounds(2, 3)).await;
    let unready = h.wait_ready(false, WAIT).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        h.sim.vault_titles().await.values().all(|t| t.len() <= 2),
        "nothing but the changes in flight is written while the file is read-only"
    );
    assert!(chattr("-i", &files), "chattr -i");
    h.wait_ready(true, WAIT).await;
    h.sim
        .wait_for_titles(EMPLOYEES, 3, Duration::from_secs(60))
        .await;
    h.wait_idle().await;
    h.sim
        .assert_applied_exactly_once_in_order(EMPLOYEES, 3)
        .await;
    let (doubled, out_of_order) = writes_report(&h).await;
    let letters = h.dead_letters_now().await.len();
    eprintln!(
        "read-only file: /readyz said {:?}; {doubled} doubled, {out_of_order} out of order, \
         0 lost, {letters} dead letters",
        unready["store_problem"],
    );
    assert_eq!((doubled, out_of_order, letters), (0, 0, 0));
    h.stop().await;
}

#[tokio::test]
async fn a_worker_refuses_to_start_on_a_store_it_cannot_write() {
    let h = Harness::builder()
        .store(StoreKind::Sqlite)
        .without_worker()
        .start()
        .await;
    // The store exists and is migrated, then becomes read-only.
    let store = hrsync::store::Store::connect(&h.config.store.url)
        .await
        .unwrap();
    store.close().await;
    let files = sqlite_files(&h.config.store.url);
    if !chattr("+i", &files) {
        eprintln!("SKIPPED: chattr +i refused (needs root and a file system that supports it)");
        chattr("-i", &files);
        h.stop().await;
        return;
    }
    let mut child = h
        .worker_command(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            chattr("-i", &files);
            panic!("the worker kept running on a read-only store");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    chattr("-i", &files);
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "exit status {status}");
    assert!(
        stderr.contains("state store cannot be written"),
        "the reason is printed: {stderr}"
    );
    // It never consumed: the queue is untouched and nothing reached a target.
    assert!(h.sim.requests("vault").await.is_empty());
    h.stop().await;
}

/// Runs one statement in the test's PostgreSQL schema, as an administrator would.
async fn in_schema(h: &Harness, statement: &str) {
    use sqlx::{Connection, Executor};
    let url = std::env::var("HRSYNC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    admin
        .execute(format!("SET search_path TO \"{}\"; {statement}", h.unique).as_str())
        .await
        .unwrap();
    let _ = admin.close().await;
}

#[tokio::test]
async fn a_postgres_store_refusing_every_record_holds_the_applied_event_and_lets_nothing_else_run()
{
    let h = Harness::builder()
        .store(StoreKind::Postgres)
        .simulator(roomy_simulator())
        .start()
        .await;
    // Reads still work and the probe table takes writes; every outcome write fails.
    in_schema(
        &h,
        "ALTER TABLE processed_events ADD CONSTRAINT refuse_all CHECK (false) NOT VALID",
    )
    .await;
    h.publish_all(&rounds(1, 3)).await;
    let unready = h.wait_ready(false, WAIT).await;
    assert!(
        unready["store_problem"]
            .as_str()
            .is_some_and(|p| p.contains("wait for their record")),
        "{unready}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let held = h.sim.vault_titles().await;
    assert!(
        held.values().all(|t| t == &["Title 1"]),
        "only the first change of the employees in flight was written, once: {held:?}"
    );
    assert!(
        metric(
            &h.metrics_text().await,
            "hrsync_store_errors_total",
            r#"op="record""#
        ) >= 1.0
    );
    assert_eq!(
        metric(
            &h.metrics_text().await,
            "hrsync_events_total",
            r#"outcome="deferred",type="mover""#
        ),
        0.0,
        "nothing is deferred past an unrecorded change"
    );

    in_schema(
        &h,
        "ALTER TABLE processed_events DROP CONSTRAINT refuse_all",
    )
    .await;
    h.wait_ready(true, WAIT).await;
    h.sim
        .wait_for_titles(EMPLOYEES, 3, Duration::from_secs(60))
        .await;
    h.wait_idle().await;
    h.sim
        .assert_applied_exactly_once_in_order(EMPLOYEES, 3)
        .await;
    let (doubled, out_of_order) = writes_report(&h).await;
    assert_eq!((doubled, out_of_order), (0, 0));
    // SiteVault's part (the same assignments each time) was written once per person.
    assert_eq!(h.sim.writes("sitevault", "PUT").await.len(), EMPLOYEES);
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}
