//! Paging: every newest-first listing (`/admin/audit`, `/admin/webhooks`) reads its cursor and
//! limit through the one `Page` extractor, so the rules are the same everywhere.

mod common;

use axum::http::StatusCode;
use common::{As, TestApp};
use serde_json::Value;

/// Every paged listing follows one rule: an empty `limit` or `before` means the default,
/// like any other empty filter; an out-of-range one is refused with the same ids.
#[tokio::test]
async fn every_listing_pages_by_the_same_rule() {
    let t = TestApp::new().await;
    let both = As {
        permissions: vec!["rbac:admin".into(), "webhooks:admin".into()],
        ..As::admin("usr_root")
    };
    for (i, name) in ["pa", "pb", "pc"].iter().enumerate() {
        let r = t
            .post(
                "/admin/roles",
                &both,
                serde_json::json!({ "name": name, "description": i.to_string() }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    for (list, key) in [("/admin/audit", "entries"), ("/admin/webhooks", "events")] {
        for q in ["", "?limit=", "?before=", "?limit=&before="] {
            let r = t.get(&format!("{list}{q}"), &both).await;
            assert_eq!(r.status, StatusCode::OK, "{list}{q}: {:?}", r.body);
            assert!(r.body[key].is_array(), "{list}{q}");
            assert_eq!(
                r.body["next_before"],
                Value::Null,
                "{list}{q}: one short page"
            );
        }
        for (q, err) in [
            ("?limit=0", "invalid_limit"),
            ("?limit=501", "invalid_limit"),
            ("?limit=x", "invalid_limit"),
            ("?before=0", "invalid_cursor"),
            ("?before=-3", "invalid_cursor"),
        ] {
            let r = t.get(&format!("{list}{q}"), &both).await;
            assert_eq!(
                (r.status, r.error()),
                (StatusCode::BAD_REQUEST, err),
                "{list}{q}"
            );
        }
    }
    // A full page hands out the cursor; the next page continues below it.
    let r = t
        .get("/admin/audit?limit=2&action=role.create", &both)
        .await;
    let next = r.body["next_before"]
        .as_str()
        .expect("a full page has a cursor");
    let r = t
        .get(
            &format!("/admin/audit?limit=2&action=role.create&before={next}"),
            &both,
        )
        .await;
    assert_eq!(r.body["entries"][0]["target"], "pa");
}
