//! `hrsync check-config --online`: after the offline check, what only the real services
//! can tell — the broker accepts hrsync's login and has its exchanges and queues (passive
//! declarations: nothing is created), the state store exists and carries this version's
//! migrations (opened read-only: nothing is created or migrated), and each enabled target
//! accepts hrsync's credentials (one authenticated read of the target's client: Vault and
//! SiteVault log in and search users, SuperOffice and SCIM search users).
//!
//! One [`Check`] per line; none prints a secret (the errors of the clients never carry
//! one, and the broker and store passwords are scrubbed from every line besides).

use crate::config::Config;
use crate::source::{self, topology};
use crate::targets::{registry, LookupHints, MatchFields};
use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ExchangeKind};
use std::fmt;
use std::future::Future;
use std::time::Duration;

/// How long one check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// What a target search looks for: no account has these, so nothing is found — the point
/// is that the target answered an authenticated call.
const PROBE: &str = "hrsync-check-config-probe";

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed,
    /// Not tried: the target is disabled, or its client has no call to check it with.
    NotChecked,
}

/// One line of the online check.
#[derive(Debug, Clone)]
pub struct Check {
    /// `broker`, `store`, `target vault`…
    pub subject: String,
    pub status: Status,
    pub detail: String,
}

impl Check {
    fn new(subject: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
        Check {
            subject: subject.into(),
            status,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
            Status::NotChecked => "not checked",
        };
        write!(f, "{status:<11} {}: {}", self.subject, self.detail)
    }
}

/// Runs every online check of `config` (already checked offline).
pub async fn check(config: &Config) -> Vec<Check> {
    let scrub = Scrub::of(config);
    let mut checks = broker(config, &scrub).await;
    checks.extend(store(config, &scrub).await);
    checks.extend(targets(config, &scrub).await);
    checks
}

/// Takes the broker and store passwords out of error texts (the clients' errors should
/// never hold one; this makes sure).
struct Scrub(Vec<String>);

impl Scrub {
    fn of(config: &Config) -> Scrub {
        let secrets = [
            config.rabbitmq.password.resolve().ok(),
            config
                .store
                .password
                .as_ref()
                .and_then(|p| p.resolve().ok()),
        ]
        .into_iter()
        .flatten()
        .map(|s| s.expose().to_string())
        .filter(|s| !s.is_empty())
        .collect();
        Scrub(secrets)
    }

    fn clean(&self, error: impl fmt::Display) -> String {
        let mut text = format!("{error:#}");
        for secret in &self.0 {
            text = text.replace(secret.as_str(), "[redacted]");
        }
        text
    }
}

async fn within<T>(what: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(CHECK_TIMEOUT, what)
        .await
        .map_err(|_| format!("no answer within {}s", CHECK_TIMEOUT.as_secs()))
}

/// The broker URL without any user information.
fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => url.to_string(),
    }
}

async fn broker(config: &Config, scrub: &Scrub) -> Vec<Check> {
    let rabbit = &config.rabbitmq;
    let connected = within(source::connect_configured(rabbit, "hrsync-check-config")).await;
    let login = format!("{} as {}", shown_url(&rabbit.url), rabbit.username);
    let connection = match connected {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => {
            return vec![Check::new(
                "broker",
                Status::Failed,
                format!("cannot log in to {login}: {}", scrub.clean(e)),
            )]
        }
        Err(e) => {
            return vec![Check::new(
                "broker",
                Status::Failed,
                format!("cannot log in to {login}: {e}"),
            )]
        }
    };
    let mut checks = vec![Check::new(
        "broker",
        Status::Ok,
        format!("logged in to {login}"),
    )];
    let mut exchanges = vec![rabbit.exchange.clone(), rabbit.dead_letter_exchange.clone()];
    let mut queues = vec![rabbit.queue.clone()];
    if rabbit.shards > 0 {
        exchanges.push(topology::shard_exchange(rabbit));
        queues.extend((0..rabbit.shards).map(|i| topology::shard_queue(rabbit, i)));
    }
    queues.push(rabbit.dead_letter_queue.clone());
    for exchange in &exchanges {
        let result = within(passive_exchange(&connection, exchange)).await;
        checks.push(match result {
            Ok(Ok(())) => Check::new("broker", Status::Ok, format!("exchange {exchange} exists")),
            Ok(Err(e)) => Check::new(
                "broker",
                Status::Failed,
                format!("exchange {exchange}: {}", scrub.clean(e)),
            ),
            Err(e) => Check::new(
                "broker",
                Status::Failed,
                format!("exchange {exchange}: {e}"),
            ),
        });
    }
    for queue in &queues {
        let result = within(passive_queue(&connection, queue)).await;
        checks.push(match result {
            Ok(Ok((messages, consumers))) => Check::new(
                "broker",
                Status::Ok,
                format!("queue {queue} exists ({messages} message(s), {consumers} consumer(s))"),
            ),
            Ok(Err(e)) => Check::new(
                "broker",
                Status::Failed,
                format!("queue {queue}: {}", scrub.clean(e)),
            ),
            Err(e) => Check::new("broker", Status::Failed, format!("queue {queue}: {e}")),
        });
    }
    let _ = connection.close(200, "checked".into()).await;
    checks
}

/// A passive declaration on a channel of its own (a refused one closes its channel).
async fn passive_exchange(connection: &Connection, name: &str) -> Result<(), lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let _ = channel.close(200, "checked".into()).await;
    Ok(())
}

async fn passive_queue(connection: &Connection, name: &str) -> Result<(u32, u32), lapin::Error> {
    let channel = connection.create_channel().await?;
    let queue = channel
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let _ = channel.close(200, "checked".into()).await;
    Ok((queue.message_count(), queue.consumer_count()))
}

async fn store(config: &Config, scrub: &Scrub) -> Vec<Check> {
    let opened = async {
        let url = super::store::url_with_password(config)?;
        Ok::<_, anyhow::Error>(crate::store::Store::open_existing(&url).await?)
    };
    let store = match within(opened).await {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => return vec![Check::new("store", Status::Failed, scrub.clean(e))],
        Err(e) => return vec![Check::new("store", Status::Failed, e)],
    };
    let mut checks = vec![Check::new(
        "store",
        Status::Ok,
        format!("opened the {} state store (read-only)", store.backend()),
    )];
    checks.push(match within(store.migration_problems()).await {
        Ok(Ok(problems)) if problems.is_empty() => Check::new(
            "store",
            Status::Ok,
            format!(
                "migrations: all {} of this version applied",
                store.shipped_migrations()
            ),
        ),
        Ok(Ok(problems)) => Check::new(
            "store",
            Status::Failed,
            format!("migrations: {}", problems.join("; ")),
        ),
        Ok(Err(e)) => Check::new(
            "store",
            Status::Failed,
            format!("migrations: {}", scrub.clean(e)),
        ),
        Err(e) => Check::new("store", Status::Failed, format!("migrations: {e}")),
    });
    store.close().await;
    checks
}

async fn targets(config: &Config, scrub: &Scrub) -> Vec<Check> {
    let built = match crate::worker::build_targets(config) {
        Ok(built) => built,
        Err(e) => return vec![Check::new("targets", Status::Failed, scrub.clean(e))],
    };
    let mut checks = Vec::new();
    for kind in registry::kinds() {
        let subject = format!("target {kind}");
        let Some(target) = built.iter().find(|t| t.kind() == kind) else {
            if config.targets.contains_key(kind.as_str()) {
                checks.push(Check::new(subject, Status::NotChecked, "not enabled"));
            }
            continue;
        };
        if target.match_fields() == MatchFields::default() {
            checks.push(Check::new(
                subject,
                Status::NotChecked,
                "its client has no read call to check the login with",
            ));
            continue;
        }
        let hints = LookupHints {
            username: Some(PROBE.into()),
            email: None,
            federated_id: Some(PROBE.into()),
        };
        let result = within(target.find_accounts(&hints, "hrsync-check-config")).await;
        checks.push(match result {
            Ok(Ok(_)) => Check::new(
                subject,
                Status::Ok,
                "credentials accepted (logged in where the target has a login, and searched \
                 its users)",
            ),
            Ok(Err(e)) => Check::new(subject, Status::Failed, scrub.clean(e)),
            Err(e) => Check::new(subject, Status::Failed, e),
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_url_is_shown_without_user_information() {
        assert_eq!(
            shown_url("amqps://user:secret@broker:5671/vhost"),
            "amqps://broker:5671/vhost"
        );
        assert_eq!(shown_url("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
    }

    #[test]
    fn a_line_names_its_status_subject_and_detail() {
        let line = Check::new("target vault", Status::Failed, "config x: y").to_string();
        assert!(line.starts_with("FAILED "), "{line}");
        assert!(line.ends_with("target vault: config x: y"), "{line}");
    }
}
