//! Reconnecting to the broker: how long to wait, and which failures need an operator
//! instead of another attempt soon.

use std::time::Duration;

/// Why a broker error needs an operator rather than a reconnect: a TLS certificate the
/// broker refuses or that does not chain to a trusted CA (`rabbitmq.tls`), or refused
/// credentials.
pub(super) fn config_problem(error: &lapin::Error) -> Option<String> {
    if let Some(why) = crate::tls::is_certificate_error(error) {
        return Some(format!("TLS: {why} (rabbitmq.tls)"));
    }
    let text = error.to_string();
    (text.contains("ACCESS_REFUSED") || text.contains("access refused"))
        .then(|| "the broker refused the credentials (rabbitmq.username, rabbitmq.password)".into())
}

/// The wait before reconnecting to the broker. It doubles while sessions fail before they
/// get to consume, or soon after (a broker that is down, refusing, or drops every consumer
/// at once is not hammered), and starts small again after a healthy session — one that
/// consumed for at least [`Reconnect::HEALTHY`]: a blip after hours of good work is a new
/// incident, and a two-second broker restart must not cost the 30 s that earlier blips
/// had grown the delay to.
#[derive(Debug)]
pub(super) struct Reconnect {
    next: Duration,
    max: Duration,
}

impl Reconnect {
    const FIRST: Duration = Duration::from_millis(250);
    /// How long a session must have consumed to count as healthy.
    pub(super) const HEALTHY: Duration = Duration::from_secs(1);

    pub(super) fn new(max: Duration) -> Self {
        Reconnect {
            next: Self::FIRST.min(max),
            max,
        }
    }

    /// The wait after a session that ended; `healthy` says whether it consumed for long.
    pub(super) fn after_session(&mut self, healthy: bool) -> Duration {
        if healthy {
            self.next = Self::FIRST.min(self.max);
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::Reconnect;
    use std::time::Duration;

    #[test]
    fn the_reconnect_wait_grows_while_the_broker_stays_away_and_resets_after_a_good_session() {
        let mut backoff = Reconnect::new(Duration::from_secs(30));
        let waits: Vec<u128> = (0..9)
            .map(|_| backoff.after_session(false).as_millis())
            .collect();
        assert_eq!(
            waits,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
        );
        // The broker came back and the worker consumed again: the next blip is cheap.
        assert_eq!(backoff.after_session(true), Duration::from_millis(250));
        assert_eq!(backoff.after_session(false), Duration::from_millis(500));
        // Blip after blip, each after consuming: never more than the first wait.
        for _ in 0..10 {
            assert_eq!(backoff.after_session(true), Duration::from_millis(250));
        }
    }
}
