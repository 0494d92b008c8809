//! `hrsync check-config`: everything that can be known wrong before the first message —
//! the configuration's keys and values (see `config`), its secrets, the target clients it
//! builds, and the mapping *evaluated* against the shipped example events, one per action.
//! Compiling an expression does not catch an unknown function, filter or lookup table
//! (minijinja resolves those when it runs), and each of them would dead-letter every event.

use crate::config::Config;
use crate::event::{self, Envelope, HrEvent};
use crate::mapping::{Mapper, EXAMPLE_EVENTS};
use crate::targets::registry;
use anyhow::Context;
use std::collections::BTreeMap;

/// What a passing check still wants an operator to know.
#[derive(Debug, Default)]
pub struct Checked {
    /// Mapping failures about the examples' data (e.g. a department the tables do not
    /// know): real events like them would be dead-lettered with reason `mapping`.
    pub warnings: Vec<String>,
}

/// Checks `config`; the error names every problem found.
pub fn check(config: &Config) -> anyhow::Result<Checked> {
    crate::worker::build_targets(config)?;
    config
        .rabbitmq
        .password
        .resolve()
        .map_err(anyhow::Error::msg)
        .context("rabbitmq.password")?;
    if let Some(password) = &config.store.password {
        password
            .resolve()
            .map_err(anyhow::Error::msg)
            .context("store.password")?;
    }
    let mapper = Mapper::new(&config.mapping)
        .map_err(|errors| anyhow::anyhow!("invalid mapping:\n  {}", errors.join("\n  ")))?;
    let found = mapper.evaluate(&example_events()?);
    if !found.errors.is_empty() {
        anyhow::bail!(
            "mapping expressions that fail for every event:\n  {}",
            found.errors.join("\n  ")
        );
    }
    Ok(Checked {
        warnings: found.warnings,
    })
}

/// The shipped example events, decoded.
pub fn example_events() -> anyhow::Result<Vec<(&'static str, HrEvent)>> {
    let no_headers = BTreeMap::new();
    let envelope = Envelope {
        content_type: Some("application/cloudevents+json"),
        headers: &no_headers,
    };
    EXAMPLE_EVENTS
        .iter()
        .map(|(name, body)| {
            event::decode(
                body.as_bytes(),
                &envelope,
                usize::MAX,
                registry::account_keys(),
            )
            .map(|event| (*name, event))
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Config {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let text = std::fs::read_to_string("config/hrsync.toml").unwrap();
        Config::from_toml(&text).unwrap()
    }

    fn with_expression(target: &str, field: &str, expression: &str) -> anyhow::Result<Checked> {
        let mut config = shipped();
        let mapping = config.mapping.targets.get_mut(target).unwrap();
        mapping.mover.insert(field.into(), expression.into());
        check(&config)
    }

    #[test]
    fn the_shipped_configuration_maps_every_example_event_without_a_problem() {
        let checked = check(&shipped()).unwrap();
        assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
    }

    #[test]
    fn an_unknown_table_function_or_filter_is_refused_naming_the_key() {
        for (expression, says) in [
            (
                "lookup('superoffice_groups', person.department)",
                "no lookup table",
            ),
            (
                "lookp('superoffice_group', person.department)",
                "unknown function",
            ),
            ("person.title | uppper", "unknown filter"),
        ] {
            let error = with_expression("vault", "user_title__v", expression)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("mapping.vault.mover.user_title__v"),
                "{error}"
            );
            assert!(error.contains(says), "{expression}: {error}");
            assert!(error.contains("examples/events/mover.json"), "{error}");
        }
    }

    #[test]
    fn a_lookup_miss_for_the_examples_data_is_a_warning_not_an_error() {
        let mut config = shipped();
        config
            .mapping
            .tables
            .get_mut("superoffice_group")
            .unwrap()
            .remove("Clinical Operations");
        let checked = check(&config).unwrap();
        assert!(
            checked
                .warnings
                .iter()
                .any(|w| w.contains("mapping.superoffice.mover.UserGroup")),
            "{:?}",
            checked.warnings
        );
    }
}
