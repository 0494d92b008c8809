//! Opening the state store for an operator command: read-only commands (`schedule list`,
//! `staged list`, `audit list`, `check-config --online`) open an *existing* store and
//! never create, migrate or write it, so a mistyped `store.url` is an error, not a new
//! empty store that answers "nothing pending".

use crate::config::Config;
use crate::store::Store;
use anyhow::Context;

/// The configured store URL with its password (if one is configured) set in it. Never
/// print it: the errors of [`Store`] redact it.
pub fn url_with_password(config: &Config) -> anyhow::Result<String> {
    let url = config.store.url.clone();
    let Some(password) = &config.store.password else {
        return Ok(url);
    };
    let password = password
        .resolve()
        .map_err(anyhow::Error::msg)
        .context("store.password")?;
    let mut parsed = reqwest::Url::parse(&url).context("store.url: not a URL")?;
    parsed
        .set_password(Some(password.expose()))
        .map_err(|_| anyhow::anyhow!("store.url: cannot carry a password"))?;
    Ok(parsed.into())
}

/// Opens the existing store read-only; refuses a missing one (creating nothing) and one
/// whose schema is not this version's.
pub async fn open_read_only(config: &Config) -> anyhow::Result<Store> {
    let url = url_with_password(config)?;
    let store = Store::open_existing(&url)
        .await
        .context("store.url: cannot open the state store")?;
    let problems = store
        .migration_problems()
        .await
        .context("store.url: cannot read the state store's migrations")?;
    if !problems.is_empty() {
        store.close().await;
        anyhow::bail!(
            "store.url: the state store's schema is not this version's:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(store)
}
