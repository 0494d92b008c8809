//! A real broker restart after a run of connection blips: the worker must be back within
//! seconds, not the half minute a reconnect delay that only ever doubles would cost. In a
//! test binary of its own because it stops the shared RabbitMQ (`rabbitmqctl stop_app`),
//! which every other test of a binary would feel; cargo runs test binaries one at a time.
//! Skipped (with the reason printed) without a local `rabbitmqctl`.

use hrsync_testkit::*;
use std::time::{Duration, Instant};

/// Starts the broker's application again however the test ends.
struct RestartGuard;

impl Drop for RestartGuard {
    fn drop(&mut self) {
        rabbitmqctl(&["start_app"]);
        rabbitmqctl(&["await_startup"]);
    }
}

async fn wait_consuming(h: &Harness, within: Duration) -> Duration {
    let started = Instant::now();
    // The gauge drops as soon as the session ends; wait for it to come back.
    while h.worker().metrics.consuming.get() == 1 && started.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        if h.worker().metrics.consuming.get() == 1 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "the worker never consumed again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn after_many_blips_a_broker_restart_costs_seconds_not_the_grown_backoff() {
    if std::env::var("HRSYNC_TEST_AMQP_URL").is_ok() || !rabbitmqctl(&["status"]) {
        eprintln!("SKIPPED: no local rabbitmqctl to restart the broker with");
        return;
    }
    // The shipped maximum (30 s), not the harness's short one: what an operator runs.
    let mut h = Harness::builder()
        .config(|c| c.rabbitmq.reconnect_max_delay = Duration::from_secs(30))
        .start()
        .await;
    h.wait_until_consuming().await;
    let mut blips = Vec::new();
    for _ in 0..6 {
        // Each blip after a healthy stretch of consuming (a session counts as healthy
        // after a second; one dropped sooner still grows the wait).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(h.force_close_worker_connections() > 0);
        blips.push(wait_consuming(&h, Duration::from_secs(60)).await);
    }

    let guard = RestartGuard;
    assert!(rabbitmqctl(&["stop_app"]), "rabbitmqctl stop_app");
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(rabbitmqctl(&["start_app"]), "rabbitmqctl start_app");
    let broker_back = stopped.elapsed();
    drop(guard);
    let after_broker = wait_consuming(&h, Duration::from_secs(60)).await;
    eprintln!(
        "reconnects after blips: {:?}; broker stopped for {:.1} s; the worker consumed again {:.1} s after the broker was back",
        blips.iter().map(|d| format!("{:.2}s", d.as_secs_f64())).collect::<Vec<_>>(),
        broker_back.as_secs_f64(),
        after_broker.as_secs_f64()
    );
    assert!(
        blips.iter().all(|d| *d < Duration::from_secs(3)),
        "every blip is cheap: {blips:?}"
    );
    // While the broker was down the wait grew again from 250 ms (0.25 + 0.5 + 1 + 2 + 4 s…),
    // not from where the blips had left it, so the worker is back within seconds.
    assert!(
        after_broker < Duration::from_secs(10),
        "back {:.1} s after the broker",
        after_broker.as_secs_f64()
    );
    // And it works: an event goes through (the test's own connection died with the broker).
    let password = h.config.rabbitmq.password.resolve().unwrap();
    h.connection = hrsync::source::connect(&h.config.rabbitmq, &password, "hrsync-test")
        .await
        .unwrap();
    h.channel = hrsync::source::publish::confirm_channel(&h.connection)
        .await
        .unwrap();
    h.publish(&mover()).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    h.stop().await;
}
