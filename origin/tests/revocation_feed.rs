//! The revocation feed under concurrent writers: an entry that commits after a later-numbered
//! one still reaches an edge that polled in between (issue 22, part 3). The edge side is the
//! edge crate's own `RevocationList`, fed page by page exactly as the Worker does.

mod common;

use common::TestApp;
use edge_auth::revocation::{RevocationList, RevocationPage};
use edge_auth::time::UnixMillis;
use edge_auth_origin::db::Backend;
use edge_auth_origin::domain::revocations;

const ACCESS_TTL_MS: i64 = 900_000;

/// Polls until an empty page, as the Worker's background sync does; returns the entries
/// received and whether the last page said entries were held back behind a writer in flight.
async fn poll(t: &TestApp, edge: &mut RevocationList) -> (usize, bool) {
    let mut received = 0;
    loop {
        let page = t.feed_page(edge.cursor().unwrap_or("")).await;
        let n = page["revocations"].as_array().map_or(0, Vec::len);
        let body = serde_json::to_vec(&page).unwrap();
        let now = UnixMillis(t.state.clock.now_ms() as u64);
        edge.apply(
            RevocationPage::from_json(&body).expect("the edge parses the page"),
            now,
        );
        received += n;
        if n == 0 {
            return (received, page["held_back"] == true);
        }
    }
}

/// Polls until nothing is held back any more. Tests in this file run in parallel on one
/// PostgreSQL cluster, and a writer still open in another test holds this test's entries back
/// too (the horizon is cluster-wide): that delays them, which is what is being tested, so wait
/// it out (bounded).
async fn sync(t: &TestApp, edge: &mut RevocationList) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut received = 0;
    loop {
        let (n, held_back) = poll(t, edge).await;
        received += n;
        if !held_back {
            return received;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the feed stayed held back for 10 s"
        );
    }
}

async fn revoke_in(tx: &mut edge_auth_origin::db::Tx, t: &TestApp, sid: &str) {
    revocations::session_revoked(tx, sid, "usr_x", t.state.clock.now_ms(), ACCESS_TTL_MS)
        .await
        .expect("insert a revocation");
}

#[tokio::test]
async fn an_entry_committed_after_a_later_numbered_one_still_reaches_the_edge() {
    let t = TestApp::new().await;
    let db = t.state.db.clone();
    let mut edge = RevocationList::new();

    // Writer A draws the lower seq and stays open.
    let mut a = db.begin().await.unwrap();
    revoke_in(&mut a, &t, "ses_a").await;

    // Writer B draws the higher seq. On PostgreSQL it commits at once, before A; on SQLite
    // (BEGIN IMMEDIATE: one writer at a time) it queues behind A, so seq order is commit order.
    let writer_b = {
        let (db, now) = (db.clone(), t.state.clock.now_ms());
        tokio::spawn(async move {
            let mut b = db.begin().await.unwrap();
            revocations::session_revoked(&mut b, "ses_b", "usr_x", now, ACCESS_TTL_MS)
                .await
                .unwrap();
            b.commit().await.unwrap();
        })
    };
    let mut writer_b = Some(writer_b);
    if db.backend == Backend::Postgres {
        writer_b.take().unwrap().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revocations")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(n, 1, "B is committed and visible while A is still open");
    }

    // The edge polls between the two commits.
    let (early, held_back) = poll(&t, &mut edge).await;
    assert_eq!(
        early, 0,
        "nothing past a transaction still in flight is handed out"
    );
    if db.backend == Backend::Postgres {
        assert!(held_back, "the page says B's committed entry is held back");
    }
    assert!(
        !edge.is_revoked("usr_x", Some("ses_b"), None),
        "B is held back, not skipped"
    );

    a.commit().await.unwrap();
    if let Some(b) = writer_b {
        b.await.unwrap();
    }

    assert_eq!(
        sync(&t, &mut edge).await,
        2,
        "both entries, in commit order"
    );
    assert!(
        edge.is_revoked("usr_x", Some("ses_a"), None),
        "A's revocation reached the edge"
    );
    assert!(
        edge.is_revoked("usr_x", Some("ses_b"), None),
        "B's revocation reached the edge"
    );
    assert_eq!(sync(&t, &mut edge).await, 0, "and nothing twice");
}

#[tokio::test]
async fn a_rolled_back_writer_leaves_no_entry_and_does_not_stall_the_feed() {
    let t = TestApp::new().await;
    let db = t.state.db.clone();
    let mut edge = RevocationList::new();

    let mut first = db.begin().await.unwrap();
    revoke_in(&mut first, &t, "ses_first").await;
    first.commit().await.unwrap();
    assert_eq!(sync(&t, &mut edge).await, 1);

    let mut doomed = db.begin().await.unwrap();
    revoke_in(&mut doomed, &t, "ses_doomed").await;
    doomed.rollback().await.unwrap();

    let mut later = db.begin().await.unwrap();
    revoke_in(&mut later, &t, "ses_later").await;
    later.commit().await.unwrap();

    assert_eq!(
        sync(&t, &mut edge).await,
        1,
        "the later entry, not the rolled-back one"
    );
    assert!(edge.is_revoked("usr_x", Some("ses_later"), None));
    assert!(!edge.is_revoked("usr_x", Some("ses_doomed"), None));
}

#[tokio::test]
async fn a_cursor_from_an_earlier_origin_is_still_accepted() {
    // Earlier origins handed out a bare `seq`; an edge upgraded mid-flight sends it back.
    let t = TestApp::new().await;
    let mut tx = t.state.db.begin().await.unwrap();
    revoke_in(&mut tx, &t, "ses_old").await;
    tx.commit().await.unwrap();
    let page = t.feed_from("0").await;
    assert_eq!(page["revocations"].as_array().unwrap().len(), 1);
}

/// A role change voids the user's tokens with a user-wide mark, and the feed rounds the mark up
/// to the next whole second so a token minted earlier in that second is void too. The token the
/// user's very next refresh gets — almost always in that same second — must not be void: it is
/// dated after the mark. Checked the way the edge checks it: the feed applied to the edge's own
/// `RevocationList`, then `is_revoked` on the new token's `sub`, `sid` and `iat`.
#[tokio::test]
async fn a_token_minted_right_after_a_user_wide_revocation_is_not_void_at_the_edge() {
    use axum::http::{Method, StatusCode};
    use common::{decode_claims, As};

    let t = TestApp::new().await;
    let (login, _) = t.signup_login("ruth@example.com").await;
    let old = decode_claims(login["access_token"].as_str().unwrap());
    let uid = old["sub"].as_str().unwrap().to_owned();
    let sid = old["sid"].as_str().unwrap().to_owned();

    let r = t
        .call(
            Method::PUT,
            &format!("/admin/users/{uid}/roles/admin"),
            &As::admin("usr_root"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = t.refresh(login["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new = decode_claims(r.body["access_token"].as_str().unwrap());

    let mut edge = RevocationList::new();
    sync(&t, &mut edge).await;
    let iat = |c: &serde_json::Value| c["iat"].as_u64();
    assert!(
        edge.is_revoked(&uid, Some(&sid), iat(&old)),
        "the token from before the role change is void"
    );
    assert!(
        !edge.is_revoked(&uid, Some(&sid), iat(&new)),
        "the refreshed token is valid at the edge: iat {:?}, nbf {}, exp {}",
        iat(&new),
        new["nbf"],
        new["exp"]
    );
    assert_eq!(new["roles"], serde_json::json!(["admin", "user"]));
    // Dated at most a second ahead of the clock that minted it.
    let now_s = (t.state.clock.now_ms() / 1000) as u64;
    assert!(iat(&new).unwrap() <= now_s + 1, "{new}");
}
