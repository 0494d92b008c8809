//! The settings of applying: retries and deferrals (`[retry]`), the circuit breaker
//! (`[breaker]`), effective dating (`[schedule]`) and the mass-deprovision guard
//! (`[guard]`), with their validation.

use serde::Deserialize;
use std::time::Duration;

/// Retries of transient target errors. First in process: exponential backoff with full
/// jitter, `Retry-After` honoured, bounded by attempts and by time. Past that budget the
/// message waits in a delayed-retry queue (freeing its consumer slot) and comes back;
/// after `max_deferrals` such rounds it is dead-lettered.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First in-process backoff (exponential, with full jitter).
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// Longest in-process backoff.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// In-process attempts per target operation, the first included.
    pub max_attempts: usize,
    /// Time one operation may spend retrying in process before it is deferred.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub budget: Duration,
    /// Waits in the delayed-retry queue, by round; the last repeats.
    #[schemars(with = "Vec<String>")]
    pub deferral_delays: Vec<humantime_serde::Serde<Duration>>,
    /// Rounds through the delayed-retry queue before the message is dead-lettered.
    pub max_deferrals: u32,
    /// Wait for work parked because a target's circuit breaker is open (not counted as a round).
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub park_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_attempts: 5,
            budget: Duration::from_secs(30),
            deferral_delays: [30, 120, 600, 1800]
                .into_iter()
                .map(|s| Duration::from_secs(s).into())
                .collect(),
            max_deferrals: 12,
            park_delay: Duration::from_secs(60),
        }
    }
}

impl RetryConfig {
    /// The delayed-retry wait for round `round` (1-based).
    pub fn deferral_delay(&self, round: u32) -> Duration {
        let index = (round.max(1) as usize - 1).min(self.deferral_delays.len().saturating_sub(1));
        self.deferral_delays
            .get(index)
            .map(|d| **d)
            .unwrap_or(Duration::from_secs(60))
    }

    /// Every distinct wait a retry queue is needed for.
    pub fn all_delays(&self) -> Vec<Duration> {
        let mut delays: Vec<Duration> = self.deferral_delays.iter().map(|d| **d).collect();
        delays.push(self.park_delay);
        delays.sort();
        delays.dedup();
        delays
    }
}

/// Per-target circuit breaker.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive transient failures that open the breaker.
    pub threshold: u32,
    /// How long it stays open before one probe is let through.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// Effective dating: when a future-dated change falls due, in the HR system's time zone.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// IANA time zone the effective dates are meant in, e.g. `Europe/Lisbon`.
    pub timezone: String,
    /// Local time on the effective day a leaver is applied (`23:59`: end of the last day).
    pub leaver_time: String,
    /// Local time a mover is applied on its effective day.
    pub mover_time: String,
    /// Joiners get access this many days before their first day …
    pub joiner_days_early: u32,
    /// … at this local time.
    pub joiner_time: String,
    /// How often due messages are looked for.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            timezone: "UTC".into(),
            leaver_time: "23:59".into(),
            mover_time: "00:00".into(),
            joiner_days_early: 1,
            joiner_time: "06:00".into(),
            poll_interval: Duration::from_secs(30),
        }
    }
}

/// The mass-deprovision guard: past this many leavers in a rolling window, deprovisioning
/// is staged for an operator instead of applied.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// On by default: an HR feed gone wrong must not lock out the company.
    pub enabled: bool,
    /// The rolling window leavers are counted in.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// At most this many leavers per window …
    pub max_absolute: u64,
    /// … or this percentage of known accounts, whichever is lower …
    pub max_percent: f64,
    /// … but never fewer than this (small directories).
    pub floor: u64,
    /// The creation guard (`[guard.creation]`).
    pub creation: CreationGuardConfig,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            enabled: true,
            window: Duration::from_secs(24 * 3600),
            max_absolute: 50,
            max_percent: 10.0,
            floor: 5,
            creation: CreationGuardConfig::default(),
        }
    }
}

/// The creation guard: at most `max_per_window` accounts created per rolling window, over
/// all targets (a broken HR feed must not create 10,000 accounts). Past it, joiners that
/// need an account are staged for `hrsync staged release|discard`; joiners whose accounts
/// exist, movers and leavers keep flowing.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CreationGuardConfig {
    /// On by default.
    pub enabled: bool,
    /// The rolling window creations are counted in.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Accounts (one per target and person) allowed per window.
    pub max_per_window: u64,
}

impl Default for CreationGuardConfig {
    fn default() -> Self {
        CreationGuardConfig {
            enabled: true,
            window: Duration::from_secs(24 * 3600),
            max_per_window: 50,
        }
    }
}

impl RetryConfig {
    pub fn validate(&self, errors: &mut Vec<String>) {
        if self.max_attempts == 0 {
            errors.push("retry.max_attempts: must be at least 1".into());
        }
        if self.initial_delay > self.max_delay {
            errors.push("retry.initial_delay: must not exceed retry.max_delay".into());
        }
        if self.deferral_delays.is_empty() {
            errors.push("retry.deferral_delays: must list at least one wait".into());
        }
        if self.all_delays().iter().any(|d| d.is_zero()) {
            errors.push("retry.deferral_delays: waits must be above zero".into());
        }
    }
}

impl ScheduleConfig {
    pub fn validate(&self, errors: &mut Vec<String>) {
        if jiff::tz::TimeZone::get(&self.timezone).is_err() {
            errors.push(format!(
                "schedule.timezone: unknown time zone {:?}",
                self.timezone
            ));
        }
        for (key, value) in [
            ("schedule.leaver_time", &self.leaver_time),
            ("schedule.mover_time", &self.mover_time),
            ("schedule.joiner_time", &self.joiner_time),
        ] {
            if value.parse::<jiff::civil::Time>().is_err() {
                errors.push(format!(
                    "{key}: not a time of day like 23:59, got {value:?}"
                ));
            }
        }
        if self.poll_interval.is_zero() {
            errors.push("schedule.poll_interval: must be above zero".into());
        }
    }
}

impl GuardConfig {
    pub fn validate(&self, errors: &mut Vec<String>) {
        if !(0.0..=100.0).contains(&self.max_percent) {
            errors.push("guard.max_percent: must be between 0 and 100".into());
        }
        if self.window.is_zero() {
            errors.push("guard.window: must be above zero".into());
        }
        if self.creation.window.is_zero() {
            errors.push("guard.creation.window: must be above zero".into());
        }
    }
}
