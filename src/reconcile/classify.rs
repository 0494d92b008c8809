//! One target's accounts against the HR snapshot — pure, so every status is a unit test.
//!
//! Per person: the linked account (the store's link) or else the accounts that match by
//! the keys the worker searches by (federated id, user name, e-mail; case-insensitive for
//! names and e-mail). Then `in_sync`, `drift` (field by field, through the same mapping the
//! worker uses), `missing`, `unlinked`, `ambiguous` or `should_be_disabled`. Per target:
//! the active accounts no HR record owns (`orphans`), except those the exclusion pattern
//! names (system and integration users).

use crate::targets::{ListedAccount, LookupHints};
use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// What reconciliation knows of one person for one target.
#[derive(Debug, Clone)]
pub struct Person {
    pub employee_id: String,
    pub active: bool,
    /// What the worker's mapping would write for the person's current record (a mover
    /// while employed, a leaver after).
    pub desired: Option<Map<String, Value>>,
    pub hints: LookupHints,
}

/// One field that differs: what HR says, what the target holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDiff {
    pub field: String,
    pub hr: Value,
    pub target: Value,
}

/// A person's status in one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    InSync,
    Drift {
        diffs: Vec<FieldDiff>,
    },
    /// Active in HR, no account.
    Missing,
    /// An account matches but is not linked.
    Unlinked,
    Ambiguous {
        candidates: Vec<String>,
    },
    /// Left HR, account still active.
    ShouldBeDisabled,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::InSync => "in_sync",
            Status::Drift { .. } => "drift",
            Status::Missing => "missing",
            Status::Unlinked => "unlinked",
            Status::Ambiguous { .. } => "ambiguous",
            Status::ShouldBeDisabled => "should_be_disabled",
        }
    }
}

/// Every status, in report order (with `orphan` for the per-target list).
pub const STATUSES: [&str; 7] = [
    "in_sync",
    "drift",
    "missing",
    "unlinked",
    "ambiguous",
    "should_be_disabled",
    "orphan",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonResult {
    pub employee_id: String,
    #[serde(flatten)]
    pub status: Status,
    /// The account the status is about (linked or matched), if one.
    pub account: Option<String>,
}

/// One target's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetResult {
    pub target: String,
    pub people: Vec<PersonResult>,
    pub orphans: Vec<String>,
}

impl TargetResult {
    pub fn count(&self, status: &str) -> usize {
        if status == "orphan" {
            return self.orphans.len();
        }
        self.people
            .iter()
            .filter(|p| p.status.as_str() == status)
            .count()
    }
}

/// Classifies `people` against `accounts`; `links`: employee → linked account id.
pub fn classify(
    target: &str,
    people: &[Person],
    accounts: &[ListedAccount],
    links: &HashMap<String, String>,
    exclude: Option<&Regex>,
) -> TargetResult {
    let by_id: HashMap<&str, &ListedAccount> =
        accounts.iter().map(|a| (a.id.as_str(), a)).collect();
    let index = KeyIndex::new(accounts);
    let mut owned: HashSet<&str> = HashSet::new();
    let mut results = Vec::with_capacity(people.len());
    for person in people {
        let linked = links
            .get(&person.employee_id)
            .and_then(|id| by_id.get(id.as_str()).copied());
        let (status, account) = match linked {
            Some(account) => {
                owned.insert(&account.id);
                (compare(person, account), Some(account.id.clone()))
            }
            None => {
                let candidates = index.matches(&person.hints);
                for id in &candidates {
                    owned.insert(id);
                }
                match candidates.as_slice() {
                    [] if person.active => (Status::Missing, None),
                    [] => (Status::InSync, None),
                    [one] => {
                        let account = by_id[one];
                        let status = if !person.active && account.active {
                            Status::ShouldBeDisabled
                        } else if person.active {
                            Status::Unlinked
                        } else {
                            Status::InSync
                        };
                        (status, Some(one.to_string()))
                    }
                    several => (
                        Status::Ambiguous {
                            candidates: several.iter().map(|s| s.to_string()).collect(),
                        },
                        None,
                    ),
                }
            }
        };
        results.push(PersonResult {
            employee_id: person.employee_id.clone(),
            status,
            account,
        });
    }
    let orphans = accounts
        .iter()
        .filter(|a| a.active && !owned.contains(a.id.as_str()))
        .filter(|a| !excluded(a, exclude))
        .map(|a| a.id.clone())
        .collect();
    TargetResult {
        target: target.to_string(),
        people: results,
        orphans,
    }
}

/// A linked account against the person's record.
fn compare(person: &Person, account: &ListedAccount) -> Status {
    if !person.active {
        return if account.active {
            Status::ShouldBeDisabled
        } else {
            Status::InSync
        };
    }
    let mut diffs: Vec<FieldDiff> = person
        .desired
        .iter()
        .flatten()
        .filter_map(|(field, hr)| {
            let held = account.fields.get(field)?;
            (!same(hr, held)).then(|| FieldDiff {
                field: field.clone(),
                hr: hr.clone(),
                target: held.clone(),
            })
        })
        .collect();
    if !account.active && !diffs.iter().any(|d| d.field == "domain_active__v") {
        diffs.push(FieldDiff {
            field: "active".into(),
            hr: Value::Bool(true),
            target: Value::Bool(false),
        });
    }
    if diffs.is_empty() {
        Status::InSync
    } else {
        Status::Drift { diffs }
    }
}

/// Equal as JSON, or as text (`true` and `"true"`, `25` and `"25"` from form-based APIs).
fn same(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    a == b || text(a) == text(b)
}

fn excluded(account: &ListedAccount, exclude: Option<&Regex>) -> bool {
    let Some(pattern) = exclude else { return false };
    [&account.username, &account.email]
        .into_iter()
        .flatten()
        .any(|name| pattern.is_match(name))
}

/// Accounts by each match key, lower-cased where the target compares without case.
struct KeyIndex<'a> {
    federated: HashMap<&'a str, Vec<&'a str>>,
    username: HashMap<String, Vec<&'a str>>,
    email: HashMap<String, Vec<&'a str>>,
}

impl<'a> KeyIndex<'a> {
    fn new(accounts: &'a [ListedAccount]) -> Self {
        let mut index = KeyIndex {
            federated: HashMap::new(),
            username: HashMap::new(),
            email: HashMap::new(),
        };
        for a in accounts {
            if let Some(f) = &a.federated_id {
                index.federated.entry(f).or_default().push(&a.id);
            }
            if let Some(u) = &a.username {
                index
                    .username
                    .entry(u.to_lowercase())
                    .or_default()
                    .push(&a.id);
            }
            if let Some(e) = &a.email {
                index.email.entry(e.to_lowercase()).or_default().push(&a.id);
            }
        }
        index
    }

    /// The first key (federated id, user name, e-mail) that finds any account decides.
    fn matches(&self, hints: &LookupHints) -> Vec<&'a str> {
        let found = [
            hints
                .federated_id
                .as_deref()
                .and_then(|f| self.federated.get(f)),
            hints
                .username
                .as_ref()
                .and_then(|u| self.username.get(&u.to_lowercase())),
            hints
                .email
                .as_ref()
                .and_then(|e| self.email.get(&e.to_lowercase())),
        ];
        found
            .into_iter()
            .flatten()
            .find(|ids| !ids.is_empty())
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn account(id: &str, username: &str, active: bool, title: &str) -> ListedAccount {
        ListedAccount {
            id: id.into(),
            username: Some(username.into()),
            email: Some(username.into()),
            federated_id: None,
            active,
            fields: json!({"user_title__v": title}).as_object().unwrap().clone(),
        }
    }

    fn person(id: &str, active: bool, username: &str, title: &str) -> Person {
        Person {
            employee_id: id.into(),
            active,
            desired: Some(json!({"user_title__v": title}).as_object().unwrap().clone()),
            hints: LookupHints {
                username: Some(username.into()),
                email: None,
                federated_id: None,
            },
        }
    }

    #[test]
    fn every_status_is_told_apart() {
        let accounts = vec![
            account("1", "a@x", true, "CRA"),
            account("2", "b@x", true, "Old title"),
            account("3", "c@x", true, "CRA"),
            account("4", "d@x", true, "CRA"),
            account("5", "dup@x", true, "CRA"),
            account("6", "DUP@x", true, "CRA"),
            account("7", "nobody@x", true, "CRA"),
            account("8", "hrsync@x", true, "Integration"),
            account("9", "gone@x", false, "CRA"),
        ];
        let people = vec![
            person("E1", true, "a@x", "CRA"),     // linked, same
            person("E2", true, "b@x", "CRA"),     // linked, title differs
            person("E3", true, "C@X", "CRA"),     // matches by user name, not linked
            person("E4", false, "d@x", "CRA"),    // left, account active
            person("E5", true, "dup@x", "CRA"),   // two accounts match
            person("E6", true, "new@x", "CRA"),   // no account
            person("E9", false, "gone@x", "CRA"), // left, account disabled
        ];
        let links: HashMap<String, String> = [("E1", "1"), ("E2", "2")]
            .into_iter()
            .map(|(e, a)| (e.to_string(), a.to_string()))
            .collect();
        let exclude = Regex::new("^hrsync@").unwrap();
        let result = classify("vault", &people, &accounts, &links, Some(&exclude));
        let status = |e: &str| {
            result
                .people
                .iter()
                .find(|p| p.employee_id == e)
                .unwrap()
                .clone()
        };
        assert_eq!(status("E1").status, Status::InSync);
        assert_eq!(
            status("E2").status,
            Status::Drift {
                diffs: vec![FieldDiff {
                    field: "user_title__v".into(),
                    hr: json!("CRA"),
                    target: json!("Old title")
                }]
            }
        );
        assert_eq!(status("E3").status, Status::Unlinked);
        assert_eq!(status("E3").account.as_deref(), Some("3"));
        assert_eq!(status("E4").status, Status::ShouldBeDisabled);
        assert_eq!(
            status("E5").status,
            Status::Ambiguous {
                candidates: vec!["5".into(), "6".into()]
            }
        );
        assert_eq!(status("E6").status, Status::Missing);
        assert_eq!(status("E9").status, Status::InSync);
        assert_eq!(result.orphans, ["7"], "the integration user is excluded");
        assert_eq!(result.count("orphan"), 1);
        assert_eq!(result.count("drift"), 1);
    }

    #[test]
    fn a_disabled_linked_account_of_an_employee_is_drift_and_text_equals_a_boolean() {
        let mut disabled = account("1", "a@x", false, "CRA");
        disabled
            .fields
            .insert("domain_active__v".into(), json!(false));
        let mut p = person("E1", true, "a@x", "CRA");
        p.desired
            .as_mut()
            .unwrap()
            .insert("domain_active__v".into(), json!(true));
        let links = HashMap::from([("E1".to_string(), "1".to_string())]);
        let result = classify("vault", &[p.clone()], &[disabled], &links, None);
        let Status::Drift { diffs } = &result.people[0].status else {
            panic!("{:?}", result.people[0].status)
        };
        assert_eq!(diffs.len(), 1, "one diff, not also `active`: {diffs:?}");
        let mut as_text = account("1", "a@x", true, "CRA");
        as_text
            .fields
            .insert("domain_active__v".into(), json!("true"));
        let result = classify("vault", &[p], &[as_text], &links, None);
        assert_eq!(result.people[0].status, Status::InSync);
    }
}
