//! Prometheus metrics, registered in one place so names and labels stay consistent with
//! the dashboards and alert rules that use them. One [`Metrics`] per worker; tests create
//! their own, so parallel tests do not share counters.

use crate::apply::DeadLetterReason;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The git revision the binary was built from (`unknown` without git at build time).
pub const REVISION: &str = match option_env!("GIT_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

pub struct Metrics {
    registry: Registry,
    /// Events handled, by `type` (joiner/mover/leaver/invalid) and `outcome`.
    pub events: IntCounterVec,
    /// Per-target results of an event, by `target` and `outcome`
    /// (applied, not_mapped, unlinked, dead_lettered).
    pub target_outcomes: IntCounterVec,
    /// Target operations (one per attempt of an apply, search or create; the HTTP calls
    /// each took are in `hrsync_target_api_calls_total`), by `target` and `status`
    /// (`success` or the error code).
    pub target_requests: IntCounterVec,
    /// Target operation latency, by `target`, retries included.
    pub target_latency: HistogramVec,
    /// Retries of transient failures, by `target` and `reason` (error code).
    pub retries: IntCounterVec,
    /// Dead letters published, by `target` (or `none`) and `reason`.
    pub dead_letters: IntCounterVec,
    /// Messages received and not yet settled (handled, or waiting in an employee's lane).
    pub in_flight: IntGauge,
    /// 1 while connected to RabbitMQ and consuming.
    pub consuming: IntGauge,
    /// 1 while a target is unusable because of its configuration (rejected credentials).
    pub target_config_problem: IntGaugeVec,
    /// 1 while a target's circuit breaker is open or half-open.
    pub breaker_open: IntGaugeVec,
    /// Breaker state changes, by `target` and new `state`.
    pub breaker_transitions: IntCounterVec,
    /// Messages sent to the delayed-retry queue, by `kind` (deferred, parked).
    pub deferrals: IntCounterVec,
    /// Latest `X-VaultAPI-BurstLimitRemaining` (Vault and SiteVault), by `target`.
    pub vault_burst_remaining: IntGaugeVec,
    /// Future-dated changes waiting to fall due.
    pub scheduled_pending: IntGauge,
    /// When the next scheduled change falls due (Unix seconds; 0 if none).
    pub scheduled_next_due: IntGauge,
    /// Deprovisioning held by the mass-deprovision guard for an operator.
    pub staged_operations: IntGauge,
    /// 1 while the mass-deprovision guard holds deprovisioning back.
    pub deprovision_guard_tripped: IntGauge,
    /// Time from the event's `time` (recorded in HR) to its handling.
    pub event_lag: Histogram,
    /// Leavers with no linked account in a target, by `target` and `resolution`
    /// (resolved by lookup, unresolved → dead letter, lookup_failed).
    pub unlinked: IntCounterVec,
    /// Searches for the account of a person with no linked account, by `target` and
    /// `result`: `one` (linked), `none` (created, or reported unlinked), `several`
    /// (dead letter `ambiguous_match`), `failed` (the search itself failed).
    pub account_matches: IntCounterVec,
    /// Accounts hrsync created, by `target`.
    pub accounts_created: IntCounterVec,
    /// The last successful `hrsync reconcile`, from the store: people × target by
    /// `status` (and `orphan` accounts).
    pub reconcile_accounts: IntGaugeVec,
    /// Messages in the dead-letter queue, as the broker counted them at the last look.
    pub dead_letter_queue_messages: IntGauge,
    /// When the oldest of the targets' last successful reconciliations finished (Unix
    /// seconds; 0 if none ran).
    pub reconcile_last_success: IntGauge,
    /// State-store operations that failed, by `op` (`read`, `record`, `gate`). Each one
    /// made an event wait for the store (or hold its record until it could be written).
    pub store_errors: IntCounterVec,
    /// 1 while the state store records; 0 while events wait for it (nothing is applied).
    pub store_recording: IntGauge,
    /// 1 while the broker cannot be used until its configuration is fixed (TLS
    /// certificate, credentials).
    pub broker_config_problem: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let events = IntCounterVec::new(
            Opts::new(
                "hrsync_events_total",
                "HR events handled, by type and outcome",
            ),
            &["type", "outcome"],
        )
        .expect("valid metric");
        let target_outcomes = IntCounterVec::new(
            Opts::new(
                "hrsync_target_outcomes_total",
                "Per-target results of HR events, by target and outcome",
            ),
            &["target", "outcome"],
        )
        .expect("valid metric");
        let target_requests = IntCounterVec::new(
            Opts::new(
                "hrsync_target_requests_total",
                "Target operations (one per attempt; HTTP calls are hrsync_target_api_calls_total), by target and status",
            ),
            &["target", "status"],
        )
        .expect("valid metric");
        let target_latency = HistogramVec::new(
            HistogramOpts::new(
                "hrsync_target_apply_duration_seconds",
                "Time to apply one change to a target, retries included",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["target"],
        )
        .expect("valid metric");
        let retries = IntCounterVec::new(
            Opts::new(
                "hrsync_retries_total",
                "Retries of transient target failures",
            ),
            &["target", "reason"],
        )
        .expect("valid metric");
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "hrsync_dead_letters_total",
                "Dead letters published, by target and reason",
            ),
            &["target", "reason"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new(
            "hrsync_events_in_flight",
            "Messages received and not yet settled",
        )
        .expect("valid metric");
        let consuming = IntGauge::new(
            "hrsync_consuming",
            "1 while connected to RabbitMQ and consuming",
        )
        .expect("valid metric");
        let target_config_problem = IntGaugeVec::new(
            Opts::new(
                "hrsync_target_config_problem",
                "1 while a target is unusable because of its configuration",
            ),
            &["target"],
        )
        .expect("valid metric");
        let breaker_open = IntGaugeVec::new(
            Opts::new(
                "hrsync_breaker_open",
                "1 while a target's circuit breaker is open or half-open",
            ),
            &["target"],
        )
        .expect("valid metric");
        let breaker_transitions = IntCounterVec::new(
            Opts::new(
                "hrsync_breaker_transitions_total",
                "Circuit breaker state changes",
            ),
            &["target", "state"],
        )
        .expect("valid metric");
        let deferrals = IntCounterVec::new(
            Opts::new(
                "hrsync_deferrals_total",
                "Messages sent to the delayed-retry queue",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let vault_burst_remaining = IntGaugeVec::new(
            Opts::new(
                "hrsync_vault_burst_remaining",
                "Latest X-VaultAPI-BurstLimitRemaining",
            ),
            &["target"],
        )
        .expect("valid metric");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let scheduled_pending = gauge(
            "hrsync_scheduled_pending",
            "Future-dated changes waiting to fall due",
        );
        let scheduled_next_due = gauge(
            "hrsync_scheduled_next_due_timestamp_seconds",
            "When the next scheduled change falls due (Unix seconds; 0 if none)",
        );
        let staged_operations = gauge(
            "hrsync_staged_operations",
            "Deprovisioning held by the mass-deprovision guard for an operator",
        );
        let deprovision_guard_tripped = gauge(
            "hrsync_deprovision_guard_tripped",
            "1 while the mass-deprovision guard holds deprovisioning back",
        );
        let event_lag = Histogram::with_opts(
            HistogramOpts::new(
                "hrsync_event_lag_seconds",
                "Time from the event's time (recorded in HR) to its handling",
            )
            .buckets(vec![
                1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0,
            ]),
        )
        .expect("valid metric");
        let store_errors = IntCounterVec::new(
            Opts::new(
                "hrsync_store_errors_total",
                "State-store operations that failed; the event waited for the store",
            ),
            &["op"],
        )
        .expect("valid metric");
        let store_recording = IntGauge::new(
            "hrsync_store_recording",
            "1 while the state store records; 0 while events wait for it and nothing is applied",
        )
        .expect("valid metric");
        store_recording.set(1);
        let broker_config_problem = IntGauge::new(
            "hrsync_broker_config_problem",
            "1 while the broker cannot be used until its configuration is fixed (TLS certificate, credentials)",
        )
        .expect("valid metric");
        let unlinked = IntCounterVec::new(
            Opts::new(
                "hrsync_unlinked_leavers_total",
                "Leavers with no linked account in a target, by resolution",
            ),
            &["target", "resolution"],
        )
        .expect("valid metric");
        let account_matches = IntCounterVec::new(
            Opts::new(
                "hrsync_account_matches_total",
                "Searches for the account of a person with no linked account, by result (one, none, several, failed)",
            ),
            &["target", "result"],
        )
        .expect("valid metric");
        let accounts_created = IntCounterVec::new(
            Opts::new("hrsync_accounts_created_total", "Accounts hrsync created"),
            &["target"],
        )
        .expect("valid metric");
        let reconcile_accounts = IntGaugeVec::new(
            Opts::new(
                "hrsync_reconcile_accounts",
                "The last successful reconciliation: people x target by status, and orphan accounts",
            ),
            &["target", "status"],
        )
        .expect("valid metric");
        let reconcile_last_success = IntGauge::new(
            "hrsync_reconcile_last_success_timestamp_seconds",
            "When the oldest of the targets' last successful reconciliations finished (0 if none ran)",
        )
        .expect("valid metric");
        let dead_letter_queue_messages = IntGauge::new(
            "hrsync_dead_letter_queue_messages",
            "Messages in the dead-letter queue (read every schedule poll interval)",
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "hrsync_build_info",
                "The running build: version and git revision (always 1)",
            ),
            &["version", "revision"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), REVISION])
            .set(1);
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process metrics register once");
        for collector in [
            Box::new(unlinked.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(crate::targets::http_client::api_calls().clone()),
            Box::new(dead_letter_queue_messages.clone()),
            Box::new(build_info),
            Box::new(reconcile_accounts.clone()),
            Box::new(reconcile_last_success.clone()),
            Box::new(account_matches.clone()),
            Box::new(accounts_created.clone()),
            Box::new(store_errors.clone()),
            Box::new(store_recording.clone()),
            Box::new(broker_config_problem.clone()),
            Box::new(breaker_open.clone()),
            Box::new(scheduled_pending.clone()),
            Box::new(scheduled_next_due.clone()),
            Box::new(staged_operations.clone()),
            Box::new(deprovision_guard_tripped.clone()),
            Box::new(event_lag.clone()),
            Box::new(breaker_transitions.clone()),
            Box::new(deferrals.clone()),
            Box::new(vault_burst_remaining.clone()),
            Box::new(events.clone()),
            Box::new(target_outcomes.clone()),
            Box::new(target_requests.clone()),
            Box::new(target_latency.clone()),
            Box::new(retries.clone()),
            Box::new(dead_letters.clone()),
            Box::new(in_flight.clone()),
            Box::new(consuming.clone()),
            Box::new(target_config_problem.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            registry,
            events,
            target_outcomes,
            target_requests,
            target_latency,
            retries,
            dead_letters,
            in_flight,
            consuming,
            target_config_problem,
            breaker_open,
            breaker_transitions,
            deferrals,
            vault_burst_remaining,
            scheduled_pending,
            scheduled_next_due,
            staged_operations,
            deprovision_guard_tripped,
            event_lag,
            unlinked,
            account_matches,
            accounts_created,
            reconcile_accounts,
            reconcile_last_success,
            store_errors,
            store_recording,
            broker_config_problem,
            dead_letter_queue_messages,
        }
    }

    /// Creates the series for every possible label pair at zero, so dashboards and
    /// `increase()` alerts see a series before its first event — and only possible ones
    /// (no `type="invalid"` that was `applied`, no target that got an `invalid_event`).
    pub fn initialize(&self, targets: &[&str]) {
        /// What an HR event can end as (see `Verdict::outcome`); `returned` only at shutdown.
        const EVENT_OUTCOMES: [&str; 12] = [
            "applied",
            "unchanged",
            "duplicate",
            "stale",
            "unlinked",
            "deferred",
            "dead_lettered",
            "not_mapped",
            "scheduled",
            "staged",
            "returned",
            "invalid",
        ];
        /// What one target's part can end as (see `TargetOutcome::as_str`).
        const TARGET_OUTCOMES: [&str; 10] = [
            "applied",
            "unchanged",
            "duplicate",
            "stale",
            "unlinked",
            "deferred",
            "parked",
            "dead_lettered",
            "not_mapped",
            "staged",
        ];
        for kind in ["joiner", "mover", "leaver"] {
            for outcome in &EVENT_OUTCOMES[..11] {
                self.events.with_label_values(&[kind, outcome]);
            }
        }
        // A message that is no HR event only ever ends as `invalid`.
        self.events.with_label_values(&["invalid", "invalid"]);
        self.dead_letters
            .with_label_values(&["none", "invalid_event"]);
        for target in targets {
            for outcome in TARGET_OUTCOMES {
                self.target_outcomes.with_label_values(&[target, outcome]);
            }
            // Every reason but `invalid_event`, which has no target.
            for reason in DeadLetterReason::ALL
                .into_iter()
                .filter(|r| *r != DeadLetterReason::InvalidEvent)
            {
                self.dead_letters
                    .with_label_values(&[target, reason.as_str()]);
            }
            for state in ["open", "half_open", "closed"] {
                self.breaker_transitions.with_label_values(&[target, state]);
            }
            for resolution in ["resolved", "unresolved", "lookup_failed"] {
                self.unlinked.with_label_values(&[target, resolution]);
            }
            for result in ["one", "none", "several", "failed"] {
                self.account_matches.with_label_values(&[target, result]);
            }
            self.accounts_created.with_label_values(&[target]);
            self.breaker_open.with_label_values(&[target]);
            self.target_config_problem.with_label_values(&[target]);
            self.target_latency.with_label_values(&[target]);
            crate::targets::http_client::api_calls().with_label_values(&[target, "2xx"]);
        }
        for kind in ["deferred", "parked"] {
            self.deferrals.with_label_values(&[kind]);
        }
        for op in ["read", "record", "gate"] {
            self.store_errors.with_label_values(&[op]);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding into memory cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
