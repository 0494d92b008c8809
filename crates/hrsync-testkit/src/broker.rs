//! The broker side of a test: dead letters read back, queue depths, connections closed
//! from the broker as a restart or a network cut would, and `rabbitmqctl`.

use hrsync::source::{headers, topology};
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::BasicProperties;
use serde_json::Value;
use std::collections::BTreeMap;

use crate::{eventually, Harness, WAIT};

/// A dead letter as read back from the dead-letter queue.
#[derive(Debug)]
pub struct Letter {
    pub headers: BTreeMap<String, Value>,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

impl Letter {
    pub fn header(&self, name: &str) -> String {
        match self.headers.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => panic!("dead letter has no header {name}: {:?}", self.headers),
        }
    }
}

impl Harness {
    /// Takes `n` dead letters off the dead-letter queue (acking them), waiting up to
    /// [`WAIT`] for them to arrive.
    pub async fn dead_letters(&self, n: usize) -> Vec<Letter> {
        let letters = std::cell::RefCell::new(Vec::new());
        let what = format!("{n} dead letter(s)");
        eventually(WAIT, &what, || async {
            while letters.borrow().len() < n {
                match self.take_dead_letter().await {
                    Some(letter) => letters.borrow_mut().push(letter),
                    None => {
                        let so_far = letters.borrow();
                        return Err(format!("{} so far: {so_far:#?}", so_far.len()));
                    }
                }
            }
            Ok(())
        })
        .await;
        letters.into_inner()
    }

    /// Dead letters already in the queue, without waiting.
    pub async fn dead_letters_now(&self) -> Vec<Letter> {
        let mut letters = Vec::new();
        while let Some(letter) = self.take_dead_letter().await {
            letters.push(letter);
        }
        letters
    }

    async fn take_dead_letter(&self) -> Option<Letter> {
        let queue = self.config.rabbitmq.dead_letter_queue.as_str();
        let message = self
            .channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .unwrap()?;
        let delivery = message.delivery;
        delivery.ack(BasicAckOptions::default()).await.unwrap();
        Some(Letter {
            headers: headers::to_json_map(delivery.properties.headers().as_ref()),
            body: delivery.data.clone(),
            properties: delivery.properties.clone(),
        })
    }

    /// Messages now in a queue (ready, not unacked).
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        let declared = self
            .channel
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        declared.message_count()
    }

    /// Messages waiting in the work queue, the shard queues and the delayed-retry queues.
    pub async fn pending(&self) -> u32 {
        let mut total = self.queue_depth(&self.config.rabbitmq.queue).await;
        for index in 0..self.config.rabbitmq.shards {
            let queue = topology::shard_queue(&self.config.rabbitmq, index);
            total += self.queue_depth(&queue).await;
        }
        for delay in self.config.retry.all_delays() {
            let queue = topology::retry_queue(&self.config.rabbitmq, delay);
            total += self.queue_depth(&queue).await;
        }
        total
    }

    /// Closes this harness's worker connections from the broker side, as a broker restart
    /// or a network cut would. Returns how many were closed.
    pub fn force_close_worker_connections(&self) -> usize {
        let listing = std::process::Command::new("rabbitmqctl")
            .args([
                "list_connections",
                "-q",
                "--no-table-headers",
                "pid",
                "client_properties",
            ])
            .output()
            .expect("rabbitmqctl");
        let text = String::from_utf8_lossy(&listing.stdout);
        let mut closed = 0;
        for line in text
            .lines()
            .filter(|l| l.contains(&self.config.rabbitmq.connection_name))
        {
            let pid = line.split_whitespace().next().unwrap();
            let status = std::process::Command::new("rabbitmqctl")
                .args(["close_connection", pid, "test: forced close"])
                .output()
                .expect("rabbitmqctl");
            if status.status.success() {
                closed += 1;
            }
        }
        closed
    }
}

/// Runs `rabbitmqctl` quietly; whether it succeeded (false where there is none).
pub fn rabbitmqctl(args: &[&str]) -> bool {
    std::process::Command::new("rabbitmqctl")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
