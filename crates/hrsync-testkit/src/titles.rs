//! The simulator's request log read as "which change reached which account, in which
//! order": the exactly-once and ordering assertions. Staff movers carry `Title {sequence}`,
//! so each write names the event it came from.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::events::account_ids;
use crate::eventually_every;
use crate::sim::{body_json, form, SimClient};

impl SimClient {
    /// Vault PUTs that succeeded (or were cut off by a killed worker), as user id → titles
    /// in arrival order; see [`settled_titles`].
    pub async fn vault_titles(&self) -> BTreeMap<String, Vec<String>> {
        let writes = self.writes("vault", "PUT").await;
        settled_titles(titles_by_account(&writes, |request| {
            form(request)
                .into_iter()
                .find(|(k, _)| k == "user_title__v")
                .map(|(_, title)| title)
        }))
    }

    /// SuperOffice PATCHes likewise, as associate id → titles in arrival order.
    pub async fn superoffice_titles(&self) -> BTreeMap<String, Vec<String>> {
        let writes = self.writes("superoffice", "PATCH").await;
        settled_titles(titles_by_account(&writes, |request| {
            body_json(request)
                .as_array()?
                .iter()
                .find(|op| op["op"] == "replace" && op["path"] == "/Person/Title")
                .and_then(|op| op["value"].as_str())
                .map(str::to_string)
        }))
    }

    /// Asserts that every one of `employees` got titles 1..=`events_each`, each once, in
    /// order, in Vault and SuperOffice.
    pub async fn assert_applied_exactly_once_in_order(&self, employees: usize, events_each: u64) {
        let expected: Vec<String> = (1..=events_each).map(|n| format!("Title {n}")).collect();
        let vault = self.vault_titles().await;
        let superoffice = self.superoffice_titles().await;
        for i in 0..employees {
            let (vault_id, _, associate) = account_ids(i);
            assert_eq!(
                vault.get(&vault_id),
                Some(&expected),
                "Vault user {vault_id}"
            );
            assert_eq!(
                superoffice.get(&associate),
                Some(&expected),
                "SuperOffice user {associate}"
            );
        }
    }

    /// Waits until every employee's last title arrived at Vault and SuperOffice.
    pub async fn wait_for_titles(&self, employees: usize, last: u64, within: Duration) {
        let want = format!("Title {last}");
        let what = format!("{employees} employees reaching {want}");
        eventually_every(Duration::from_millis(250), within, &what, || async {
            let vault = self.vault_titles().await;
            let superoffice = self.superoffice_titles().await;
            let done = (0..employees)
                .filter(|i| {
                    let (v, _, s) = account_ids(*i);
                    vault.get(&v).and_then(|t| t.last()) == Some(&want)
                        && superoffice.get(&s).and_then(|t| t.last()) == Some(&want)
                })
                .count();
            if done == employees {
                Ok(())
            } else {
                Err(format!("only {done} did"))
            }
        })
        .await
    }
}

/// `(title, cut_off)` per account (the last path segment) from logged writes that
/// succeeded or have no status (cut off by a killed worker); failed ones are left out.
fn titles_by_account(
    writes: &[Value],
    title_of: impl Fn(&Value) -> Option<String>,
) -> BTreeMap<String, Vec<(String, bool)>> {
    let mut titles: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for request in writes {
        let cut_off = request["status"].is_null();
        if request["status"] != 200 && !cut_off {
            continue;
        }
        let id = request["path"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        if let Some(title) = title_of(request) {
            titles
                .entry(id.to_string())
                .or_default()
                .push((title, cut_off));
        }
    }
    titles
}

/// Titles per account from logged writes `(title, cut_off)`. A write with no status was cut
/// off by a killed worker: it may or may not have taken effect, so when the restarted
/// worker sent the same title again, the two count as one delivery of that change.
fn settled_titles(log: BTreeMap<String, Vec<(String, bool)>>) -> BTreeMap<String, Vec<String>> {
    log.into_iter()
        .map(|(id, writes)| {
            let mut titles: Vec<String> = Vec::new();
            let mut previous_cut_off = false;
            for (title, cut_off) in writes {
                if previous_cut_off && titles.last() == Some(&title) {
                    previous_cut_off = cut_off;
                    continue;
                }
                titles.push(title);
                previous_cut_off = cut_off;
            }
            (id, titles)
        })
        .collect()
}
