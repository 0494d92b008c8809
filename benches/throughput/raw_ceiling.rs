//! (1) The raw lapin ceiling: N messages published to a quorum queue, consumed with
//! prefetch P and acked one by one — the most this broker and client manage on this
//! machine, the floor the worker's figures are compared with. Floor (a) is the bench
//! process's own CPU time (`/proc/self/stat` utime+stime; nothing else runs in it then)
//! over that consume+ack, per message; floor (b) is `http_floor`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use hrsync::config::Config;
use hrsync_testkit::shipped_config;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Connection};

use crate::args::Args;
use crate::machine::cpu_seconds;
use crate::report::Report;
use crate::scenario::publish_pipelined;

/// Runs (1); its consume rate becomes `report.raw_rate`.
pub async fn run(args: &Args, report: &mut Report) {
    println!(
        "(1) raw lapin ceiling: {} x {} B ...",
        args.raw_messages, args.raw_body_bytes
    );
    match raw_ceiling(args).await {
        Ok(r) => {
            report.raw_rate = Some(r.consume_per_s);
            report.floor_consume_us = Some(r.cpu_us_per_message);
            report.table.row(
                "1",
                "raw lapin consume+ack, quorum queue",
                format!("{:.0}", r.consume_per_s),
                "msg/s",
                format!(
                    "{} msgs of {} B, prefetch {}, ack each; publish (pipelined, confirms) {:.0} msg/s",
                    r.consumed, args.raw_body_bytes, args.raw_prefetch, r.publish_per_s
                ),
            );
            report.table.row(
                "1",
                "floor (a): lapin consume+ack CPU",
                format!("{:.1}", r.cpu_us_per_message),
                "us/msg",
                format!(
                    "bench process utime+stime (/proc/self/stat) over consuming and acking the {} msgs above, simulator not running",
                    r.consumed
                ),
            );
        }
        Err(e) => report.fail(1, e),
    }
}

async fn connect(config: &Config, name: &str) -> Result<Connection> {
    let password = config
        .rabbitmq
        .password
        .resolve()
        .map_err(|e| anyhow::anyhow!("rabbitmq.password: {e}"))?;
    tokio::time::timeout(
        Duration::from_secs(20),
        hrsync::source::connect(&config.rabbitmq, &password, name),
    )
    .await
    .context("connecting to RabbitMQ timed out")?
    .context("cannot connect to RabbitMQ")
}

struct RawResult {
    publish_per_s: f64,
    consume_per_s: f64,
    consumed: usize,
    /// This process's CPU time per message consumed and acked, µs.
    cpu_us_per_message: f64,
}

async fn raw_ceiling(args: &Args) -> Result<RawResult> {
    let config = shipped_config();
    let publisher = connect(&config, "hrsync-bench-raw-publish").await?;
    let consumer_conn = connect(&config, "hrsync-bench-raw-consume").await?;
    let channel = publisher.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = format!("bench-raw-{}", uuid::Uuid::new_v4().simple());
    let mut arguments = FieldTable::default();
    arguments.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            arguments,
        )
        .await?;
    let outcome = async {
        let body = vec![b'x'; args.raw_body_bytes];
        let n = args.raw_messages;
        let started = Instant::now();
        publish_pipelined(
            &channel,
            "",
            (0..n).map(|_| (queue.clone(), body.clone())),
            BasicProperties::default().with_delivery_mode(2),
        )
        .await?;
        let publish_per_s = n as f64 / started.elapsed().as_secs_f64();

        let consume_channel = consumer_conn.create_channel().await?;
        let cpu0 = cpu_seconds(std::process::id())?;
        consume_channel
            .basic_qos(args.raw_prefetch, BasicQosOptions::default())
            .await?;
        let mut deliveries = consume_channel
            .basic_consume(
                queue.as_str().into(),
                "hrsync-bench-raw".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let deadline = Instant::now() + args.scenario_timeout;
        let mut first: Option<Instant> = None;
        let mut consumed = 0;
        while consumed < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let delivery = match tokio::time::timeout(left, deliveries.next()).await {
                Err(_) => bail!("raw consume timed out after {consumed} of {n}"),
                Ok(None) => bail!("raw consumer cancelled after {consumed} of {n}"),
                Ok(Some(d)) => d?,
            };
            first.get_or_insert_with(Instant::now);
            delivery.ack(BasicAckOptions::default()).await?;
            consumed += 1;
        }
        let elapsed = first.map_or(Duration::ZERO, |f| f.elapsed());
        let cpu1 = cpu_seconds(std::process::id())?;
        let _ = consume_channel.close(200, "done".into()).await;
        Ok(RawResult {
            publish_per_s,
            consume_per_s: consumed as f64 / elapsed.as_secs_f64().max(1e-9),
            consumed,
            cpu_us_per_message: (cpu1 - cpu0) * 1e6 / consumed.max(1) as f64,
        })
    }
    .await;
    if let Ok(cleanup) = publisher.create_channel().await {
        let _ = cleanup
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = publisher.close(200, "bench done".into()).await;
    let _ = consumer_conn.close(200, "bench done".into()).await;
    outcome
}
