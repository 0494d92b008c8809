//! The polling every wait in the kit is built on.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`eventually`] looks again.
const EVERY: Duration = Duration::from_millis(50);

/// Polls `probe` until it returns `Ok`, and returns that value; panics after `within` with
/// `what` and the last `Err` the probe gave (the state it saw), so a timed-out test says
/// what it was waiting for and what it found instead.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    eventually_every(EVERY, within, what, probe).await
}

/// [`eventually`], looking every `every` — for probes that read a large log.
pub async fn eventually_every<T, F, Fut>(
    every: Duration,
    within: Duration,
    what: &str,
    mut probe: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("{what}: not within {within:?}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(every).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_first_success() {
        let mut tries = 0;
        let found = eventually(Duration::from_secs(5), "three tries", || {
            tries += 1;
            let now = tries;
            async move {
                if now >= 3 {
                    Ok(now)
                } else {
                    Err(format!("try {now}"))
                }
            }
        })
        .await;
        assert_eq!(found, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "never: not within 100ms; last seen: still no")]
    async fn times_out_naming_what_it_saw() {
        eventually(Duration::from_millis(100), "never", || async {
            Err::<(), _>("still no".to_string())
        })
        .await;
    }
}
