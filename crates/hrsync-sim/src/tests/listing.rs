//! Paginated listing of every account, as reconciliation reads each target: Vault `users`
//! by `PAGEOFFSET` (no links, the 10,000 limit), SiteVault `person__sys` by `next_page`,
//! SuperOffice by `$top`/`$skip` and `odata.nextLink`, SCIM by `startIndex`/`count`; and
//! the control plane that empties a target or changes one field of an account.

use reqwest::Method;

use super::*;

/// The Vault listing's SELECT list, as the reconciliation contract sends it.
const VAULT_FIELDS: [&str; 8] = [
    "id",
    "user_name__v",
    "user_email__v",
    "user_first_name__v",
    "user_last_name__v",
    "user_title__v",
    "federated_id__v",
    "domain_active__v",
];
/// The SiteVault listing's SELECT list.
const PERSON_FIELDS: [&str; 6] = [
    "id",
    "email__sys",
    "federated_id__sys",
    "first_name__sys",
    "last_name__sys",
    "status__v",
];
const SO_COLUMNS: &str = "associateDbId,userName,personEmail,personId,isActive";

async fn start_many(seed_users: usize) -> Harness {
    start_with(SimulatorConfig {
        seed_users,
        ..SimulatorConfig::default()
    })
    .await
}

/// The SiteVault listing query with `PAGESIZE n`.
fn person_listing(page_size: usize) -> String {
    let select = PERSON_FIELDS.join(", ");
    format!("SELECT {select} FROM person__sys PAGESIZE {page_size}")
}

/// `pagesize`, `pageoffset`, `size`, `total` of a query page.
fn counts(page: &Value) -> [u64; 4] {
    ["pagesize", "pageoffset", "size", "total"]
        .map(|k| page["responseDetails"][k].as_u64().unwrap())
}

fn keys(row: &Value) -> Vec<&str> {
    row.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn rows(page: &Value, list: &str) -> Vec<Value> {
    page[list].as_array().unwrap().clone()
}

impl Harness {
    /// POSTs a `next_page` / `previous_page` link, with no body, as Vault says to follow it.
    async fn follow(&self, session: &str, link: &Value) -> Value {
        let response = self
            .client
            .post(self.url(link.as_str().unwrap()))
            .header("Authorization", session)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    /// A SuperOffice GET of `path_and_query` (under the base URL, as a nextLink is).
    async fn so_list(&self, path_and_query: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path_and_query))
            .header("Authorization", SO_AUTH)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    /// Every page of a SuperOffice listing, following `odata.nextLink` (at most 10 pages).
    async fn so_pages(&self, first: &str) -> Vec<Value> {
        let mut pages: Vec<Value> = Vec::new();
        let mut link = Some(first.to_owned());
        while let Some(path) = link.take() {
            assert!(pages.len() < 10, "nextLinks without end: {path}");
            let (status, page) = self.so_list(&path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            link = page
                .get("odata.nextLink")
                .map(|l| l.as_str().unwrap().to_owned());
            pages.push(page);
        }
        pages
    }

    async fn sim_delete(&self, path: &str) -> (StatusCode, Value) {
        let response = self.client.delete(self.url(path)).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn sim_put(&self, path: &str, record: &Value) -> StatusCode {
        let request = self.client.put(self.url(path)).json(record);
        request.send().await.unwrap().status()
    }

    async fn scim_list(&self, query: &str) -> Value {
        let response = self
            .scim(Method::GET, &format!("/Users?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        response.json().await.unwrap()
    }
}

// ------------------------------------------------------------------------- Vault users

#[tokio::test]
async fn vault_users_are_read_by_pageoffset_in_id_order_without_links() {
    let h = start_many(2500).await;
    let s = h.login().await;
    let select = VAULT_FIELDS.join(", ");
    let mut ids = Vec::new();
    for (offset, size) in [(0, 1000), (1000, 1000), (2000, 500)] {
        let q = format!("SELECT {select} FROM users PAGESIZE 1000 PAGEOFFSET {offset}");
        let page = h.vql(&s, &q).await;
        assert_eq!(page["responseStatus"], "SUCCESS", "{page}");
        assert_eq!(
            page["responseDetails"],
            json!({"pagesize": 1000, "pageoffset": offset, "size": size, "total": 2500}),
            "exactly these details: no next_page or previous_page for users"
        );
        for row in rows(&page, "data") {
            assert_eq!(keys(&row), VAULT_FIELDS);
            ids.push(row["id"].as_u64().unwrap());
        }
        if offset == 0 {
            assert_eq!(
                page["data"][0],
                json!({"id": 25001, "user_name__v": "user25001@verteo.example",
                       "user_email__v": "user25001@verteo.example", "user_first_name__v": "Ana",
                       "user_last_name__v": "Silva", "user_title__v": "Clinical Research Associate",
                       "federated_id__v": null, "domain_active__v": true})
            );
        }
    }
    assert_eq!(ids, (25001..=27500).collect::<Vec<u64>>());

    let past_the_end = h
        .vql(&s, "SELECT id FROM users PAGESIZE 1000 PAGEOFFSET 2500")
        .await;
    assert_eq!(past_the_end["responseDetails"]["size"], 0);
    assert_eq!(past_the_end["data"], json!([]));
}

#[tokio::test]
async fn vault_page_size_defaults_to_1000_and_is_capped_there() {
    let h = start_many(1200).await;
    let s = h.login().await;
    for q in ["SELECT id FROM users", "SELECT id FROM users PAGESIZE 5000"] {
        let page = h.vql(&s, q).await;
        assert_eq!(
            page["responseDetails"],
            json!({"pagesize": 1000, "pageoffset": 0, "size": 1000, "total": 1200}),
            "{q}"
        );
    }
    let small = h
        .vql(&s, "select id from users pageoffset 1198 pagesize 10")
        .await;
    assert_eq!(small["data"], json!([{"id": 26199}, {"id": 26200}]));
    assert_eq!(small["responseDetails"]["pagesize"], 10);
    let count_only = h.vql(&s, "SELECT id FROM users PAGESIZE 0").await;
    assert_eq!(counts(&count_only), [0, 0, 0, 1200]);
    assert_eq!(count_only["data"], json!([]));
}

#[tokio::test]
async fn vault_selects_any_fields_in_order_and_refuses_unknown_ones() {
    let h = start().await;
    let s = h.login().await;
    let reply = h
        .vql(
            &s,
            "SELECT user_title__v, id FROM users WHERE user_email__v = 'USER25002@verteo.example'",
        )
        .await;
    assert_eq!(
        reply["data"],
        json!([{"user_title__v": "Study Coordinator", "id": 25002}])
    );
    assert_eq!(keys(&reply["data"][0]), ["user_title__v", "id"]);
    for q in [
        "SELECT id, shoe_size__v FROM users",
        "SELECT id, vault_membership FROM users",
        "SELECT id, email__sys FROM users",
        "SELECT id, User_Name__v FROM users",
    ] {
        let reply = h.vql(&s, q).await;
        assert_eq!(reply["responseStatus"], "FAILURE", "{q}");
        assert_eq!(reply["errors"][0]["type"], "INVALID_DATA", "{q}");
    }
}

#[tokio::test]
async fn a_manual_pageoffset_of_10000_is_refused_from_v23_1() {
    let h = start().await;
    let s = h.login().await;
    for q in [
        "SELECT id FROM users PAGESIZE 1000 PAGEOFFSET 10000",
        "SELECT id FROM person__sys PAGEOFFSET 12000",
    ] {
        let refused = h.vql(&s, q).await;
        assert_eq!(
            refused,
            json!({"responseStatus": "FAILURE", "errors": [{"type": "INVALID_DATA",
                   "message": "Manually paginating more than 10,000 records is not supported"}]}),
            "{q}"
        );
    }
    let last_allowed = h
        .vql(&s, "SELECT id FROM users PAGESIZE 1000 PAGEOFFSET 9999")
        .await;
    assert_eq!(last_allowed["responseStatus"], "SUCCESS");
    assert_eq!(last_allowed["responseDetails"]["total"], 20);

    let response = h
        .client
        .post(h.url("/api/v22.3/query"))
        .header("Authorization", &s)
        .form(&[("q", "SELECT id FROM users PAGEOFFSET 10000")])
        .send()
        .await
        .unwrap();
    let older = body(response).await;
    assert_eq!(older["responseStatus"], "SUCCESS", "before v23.1: {older}");
}

// ------------------------------------------------------------------ SiteVault persons

#[tokio::test]
async fn sitevault_persons_are_read_by_following_next_page() {
    let h = start_many(1200).await;
    let s = h.login().await;
    h.sim_delete("/_sim/requests").await;
    let first = h.vql(&s, &person_listing(500)).await;
    assert_eq!(counts(&first), [500, 0, 500, 1200]);
    let details = &first["responseDetails"];
    assert!(details.get("previous_page").is_none(), "{details}");
    let next = details["next_page"].as_str().unwrap();
    assert!(next.starts_with(&format!("/api/{V}/query/")), "{next}");
    assert!(!next.contains("SELECT") && !next.contains(' '), "{next}");
    assert_eq!(
        first["data"][0],
        json!({"id": "V0B000000001001", "email__sys": "user25001@verteo.example",
               "federated_id__sys": null, "first_name__sys": "Ana", "last_name__sys": "Silva",
               "status__v": "active__v"})
    );

    let second = h.follow(&s, &details["next_page"]).await;
    assert_eq!(counts(&second), [500, 500, 500, 1200]);
    let details = &second["responseDetails"];
    assert!(details["previous_page"].is_string() && details["next_page"].is_string());
    let third = h.follow(&s, &details["next_page"]).await;
    assert_eq!(counts(&third), [500, 1000, 200, 1200]);
    let last = &third["responseDetails"];
    assert!(last.get("next_page").is_none(), "the last page: {last}");
    let back = h.follow(&s, &last["previous_page"]).await;
    assert_eq!(back["data"], second["data"], "previous_page of the last");

    let ids: Vec<String> = [&first, &second, &third]
        .iter()
        .flat_map(|page| rows(page, "data"))
        .inspect(|row| assert_eq!(keys(row), PERSON_FIELDS))
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1001..=2200).map(|n| format!("V0B{n:012}")).collect();
    assert_eq!(ids, expected);
    let log = h.sim_get("/_sim/requests?target=sitevault").await;
    assert_eq!(log.as_array().unwrap().len(), 4, "a query, 3 follow-ups");
    assert_eq!(h.sim_get("/_sim/requests?target=vault").await, json!([]));
}

#[tokio::test]
async fn sitevault_status_subsets_and_unknown_tokens() {
    let h = start().await;
    let s = h.login().await;
    let zoe = json!({"email": "zoe@verteo.example", "first_name": "Zoe", "last_name": "Ng",
                     "federated_id": "F-9", "record_status": "inactive__v"});
    h.sim_put("/_sim/users/sitevault/V0B000000009000", &zoe)
        .await;
    let found = h
        .vql(
            &s,
            "SELECT status__v, id FROM person__sys WHERE federated_id__sys = 'F-9'",
        )
        .await;
    assert_eq!(
        found["data"],
        json!([{"status__v": "inactive__v", "id": "V0B000000009000"}])
    );
    let all = h.vql(&s, &person_listing(1000)).await;
    assert_eq!(
        all["responseDetails"],
        json!({"pagesize": 1000, "pageoffset": 0, "size": 21, "total": 21}),
        "one page: no links"
    );
    assert_eq!(all["data"][20]["last_name__sys"], "Ng");

    h.sim_delete("/_sim/requests").await;
    for token in ["00ff", "not-a-token", "3130303a73656c656374"] {
        let reply = h
            .follow(&s, &json!(format!("/api/{V}/query/{token}")))
            .await;
        assert_eq!(reply["responseStatus"], "FAILURE", "{token}");
        assert_eq!(reply["errors"][0]["type"], "INVALID_DATA", "{token}");
    }
    let bad_field = h.vql(&s, "SELECT id, username__sys FROM person__sys").await;
    assert_eq!(bad_field["errors"][0]["type"], "INVALID_DATA");
    let log = h.sim_get("/_sim/requests?target=sitevault").await;
    assert_eq!(log.as_array().unwrap().len(), 4, "all SiteVault's");
}

// ------------------------------------------------------------------------- SuperOffice

#[tokio::test]
async fn superoffice_pages_by_top_and_skip_through_next_links() {
    let h = start_many(450).await;
    let first =
        format!("/api/v1/User?$select={SO_COLUMNS}&$top=200&$skip=0&$orderby=associateDbId");
    let pages = h.so_pages(&first).await;
    let sizes: Vec<usize> = pages.iter().map(|p| rows(p, "value").len()).collect();
    assert_eq!(sizes, [200, 200, 50]);
    assert_eq!(
        pages[0]["odata.nextLink"],
        format!("/api/v1/User?$select={SO_COLUMNS}&$top=200&$skip=200&$orderby=associateDbId")
    );
    let second_link = pages[1]["odata.nextLink"].as_str().unwrap();
    assert!(second_link.contains("&$skip=400&"), "{second_link}");
    assert_eq!(
        pages[0]["value"][0],
        json!({"associateDbId": 981, "userName": "user25001@verteo.example",
               "personEmail": "user25001@verteo.example", "personId": 5001, "isActive": true})
    );
    assert!(pages[0]["odata.metadata"].is_string());
    let ids: Vec<i64> = pages
        .iter()
        .flat_map(|p| rows(p, "value"))
        .inspect(|row| assert_eq!(keys(row).join(","), SO_COLUMNS))
        .map(|row| row["associateDbId"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (981..1431).collect::<Vec<i64>>());
}

#[tokio::test]
async fn superoffice_top_bounds_ordering_and_is_active() {
    let h = start_many(450).await;
    let (_, default) = h.so_list("/api/v1/User").await;
    assert_eq!(rows(&default, "value").len(), 200, "default $top");
    let next = default["odata.nextLink"].as_str().unwrap();
    assert!(next.ends_with("/api/v1/User?$skip=200"), "{next}");
    let (_, all) = h
        .so_list("/api/v1/User?$select=associateDbId&$top=1000")
        .await;
    assert_eq!(rows(&all, "value").len(), 450);
    assert!(all.get("odata.nextLink").is_none());
    for bad in [
        "$top=1001",
        "$top=-1",
        "$skip=x",
        "$orderby=x",
        "$orderby=userName up",
    ] {
        let (status, error) = h.so_list(&format!("/api/v1/User?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            error["Error"] == true && error["ErrorType"] == "BadRequest",
            "{error}"
        );
    }
    let (_, last) = h
        .so_list("/api/v1/User?$select=associateDbId&$orderBy=associateDbId desc&$top=2")
        .await;
    assert_eq!(
        last["value"],
        json!([{"associateDbId": 1430}, {"associateDbId": 1429}])
    );
    let (_, spelled) = h.so_list("/api/v1/User?$SELECT=USERNAME&$Top=1").await;
    assert_eq!(
        spelled["value"],
        json!([{"userName": "user25001@verteo.example"}])
    );

    let retired = h
        .so(Method::POST, "/Agents/User/MakeRetired")
        .json(&json!({"AssociateId": 982, "Retired": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(retired.status(), StatusCode::NO_CONTENT);
    let mut person_retired = h.sim_get("/_sim/users/superoffice/983").await;
    person_retired["Person"]["Retired"] = json!(1);
    h.sim_put("/_sim/users/superoffice/983", &person_retired)
        .await;
    let (_, inactive) = h
        .so_list("/api/v1/User?$select=associateDbId,isActive&$filter=isActive eq false")
        .await;
    assert_eq!(
        inactive["value"],
        json!([{"associateDbId": 982, "isActive": false}, {"associateDbId": 983, "isActive": false}])
    );
    let pages = h
        .so_pages("/api/v1/User?$select=associateDbId&$filter=isActive eq true")
        .await;
    let sizes: Vec<usize> = pages.iter().map(|p| rows(p, "value").len()).collect();
    let next = pages[1]["odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$filter=isActive%20eq%20true"), "{next}");
    assert_eq!(sizes, [200, 200, 48], "the filter holds on every page");
}

// -------------------------------------------------------------------------------- SCIM

fn scim_ids(list: &Value) -> Vec<String> {
    rows(list, "Resources")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn scim_pages_by_start_index_and_count() {
    let h = start_many(1200).await;
    let first = h.scim_list("").await;
    assert_eq!(
        first["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(
        (
            &first["totalResults"],
            &first["itemsPerPage"],
            &first["startIndex"]
        ),
        (&json!(1200), &json!(100), &json!(1))
    );
    let ids = scim_ids(&first);
    assert_eq!((ids[0].as_str(), ids[99].as_str()), ("u25001", "u25100"));

    let tail = h.scim_list("startIndex=1101&count=200").await;
    assert_eq!(
        (&tail["itemsPerPage"], &tail["startIndex"]),
        (&json!(100), &json!(1101))
    );
    assert_eq!(scim_ids(&tail)[0], "u26101");
    let below_one = h.scim_list("startIndex=0&count=3").await;
    assert_eq!(below_one["startIndex"], 1);
    assert_eq!(scim_ids(&below_one), ["u25001", "u25002", "u25003"]);
    assert_eq!(
        h.scim_list("count=5000").await["itemsPerPage"],
        1000,
        "clamped"
    );
    for none in ["count=-2", "count=0", "startIndex=1201"] {
        let empty = h.scim_list(none).await;
        assert_eq!(
            (&empty["itemsPerPage"], &empty["Resources"]),
            (&json!(0), &json!([])),
            "{none}"
        );
        assert_eq!(empty["totalResults"], 1200, "{none}");
    }

    let mut walked = Vec::new();
    for start in (1..=1200).step_by(500) {
        walked.extend(scim_ids(
            &h.scim_list(&format!("startIndex={start}&count=500")).await,
        ));
    }
    let expected: Vec<String> = (25001..=26200).map(|n| format!("u{n}")).collect();
    assert_eq!(walked, expected);

    let query = serde_urlencoded::to_string([
        ("filter", r#"title eq "study coordinator""#),
        ("startIndex", "2"),
        ("count", "2"),
    ])
    .unwrap();
    let filtered = h.scim_list(&query).await;
    assert_eq!(filtered["totalResults"], 300);
    assert_eq!(scim_ids(&filtered), ["u25006", "u25010"]);
    let bad = h
        .scim(Method::GET, "/Users?count=many")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(bad).await["scimType"], "invalidValue");
}

// ----------------------------------------------------------------------- control plane

#[tokio::test]
async fn clearing_a_target_leaves_it_listing_no_accounts() {
    let h = start().await;
    let s = h.login().await;
    let cleared = h.sim_delete("/_sim/users/vault").await;
    assert_eq!(cleared, (StatusCode::OK, json!({"cleared": 20})));
    let users = h.vql(&s, "SELECT id FROM users PAGESIZE 1000").await;
    assert_eq!(
        (&users["responseDetails"]["total"], &users["data"]),
        (&json!(0), &json!([]))
    );
    let persons = h.vql(&s, "SELECT id FROM person__sys").await;
    assert_eq!(
        persons["responseDetails"]["total"], 20,
        "other targets keep theirs"
    );

    let cleared = h.sim_delete("/_sim/users/sitevault").await;
    assert_eq!(cleared, (StatusCode::OK, json!({"cleared": 20})));
    let persons = h.vql(&s, "SELECT id FROM person__sys").await;
    assert_eq!(persons["responseDetails"]["total"], 0);
    let cleared = h.sim_delete("/_sim/users/superoffice").await;
    assert_eq!(cleared, (StatusCode::OK, json!({"cleared": 20})));
    let (_, so) = h.so_list("/api/v1/User?$top=10").await;
    assert_eq!(so["value"], json!([]));
    assert!(so.get("odata.nextLink").is_none());
    let person = h.so(Method::GET, "/Person/5001").send().await.unwrap();
    assert_eq!(person.status(), StatusCode::OK, "persons are not accounts");
    let cleared = h.sim_delete("/_sim/users/scim").await;
    assert_eq!(cleared, (StatusCode::OK, json!({"cleared": 20})));
    let scim = h.scim_list("").await;
    assert_eq!(
        (&scim["totalResults"], &scim["Resources"]),
        (&json!(0), &json!([]))
    );
    assert_eq!(h.sim_get("/_sim/users/vault").await, json!([]));

    let (status, _) = h.sim_delete("/_sim/users/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// What `SimClient::set_user_field` relies on: a record read from `/_sim/users/{target}/{id}`
/// and put back with one field changed is stored with exactly that change, and the
/// target's API and listings answer it.
#[tokio::test]
async fn a_record_put_back_with_one_field_changed_keeps_everything_else() {
    let h = start().await;
    let s = h.login().await;
    let cases = [
        ("superoffice", "981", ["Person", "Title"]),
        ("vault", "25001", ["user_title__v", ""]),
        ("scim", "u25001", ["name", "givenName"]),
    ];
    for (target, id, path) in cases {
        let path_of = format!("/_sim/users/{target}/{id}");
        let mut record = h.sim_get(&path_of).await;
        match path {
            [top, ""] => record[top] = json!("Auditor"),
            [top, nested] => record[top][nested] = json!("Auditor"),
        }
        assert_eq!(
            h.sim_put(&path_of, &record).await,
            StatusCode::OK,
            "{target}"
        );
        assert_eq!(
            h.sim_get(&path_of).await,
            record,
            "{target}: only the edited field changed"
        );
    }
    let (_, so) = h.so_list("/api/v1/User/981").await;
    assert_eq!(so["Person"]["Title"], "Auditor");
    let vault = h
        .vql(&s, "SELECT user_title__v FROM users PAGESIZE 1")
        .await;
    assert_eq!(vault["data"], json!([{"user_title__v": "Auditor"}]));
    let scim = h.scim_list("count=1").await;
    assert_eq!(scim["Resources"][0]["name"]["givenName"], "Auditor");
}
