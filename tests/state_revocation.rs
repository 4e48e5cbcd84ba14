//! Revocations with an injected clock: session and user marks, expiry, the feed, polling, staleness.

use edge_auth::revocation::{RevocationList, RevocationPage, SessionRevocation, UserRevocation};
use edge_auth::time::UnixMillis;

const T0_S: u64 = 1_700_000_000;
const T0: UnixMillis = UnixMillis::from_secs(T0_S);

fn at_s(s: u64) -> UnixMillis {
    T0.plus_secs(s)
}

fn page(sessions: &[(&str, u64)], users: &[(&str, u64, u64)], next: &str) -> RevocationPage {
    RevocationPage {
        sessions: sessions
            .iter()
            .map(|&(sid, until)| SessionRevocation {
                sid: sid.into(),
                until,
            })
            .collect(),
        users: users
            .iter()
            .map(|&(sub, before, until)| UserRevocation {
                sub: sub.into(),
                before,
                until,
            })
            .collect(),
        next: next.into(),
    }
}

#[test]
fn a_revoked_session_refuses_its_tokens_and_only_its_tokens() {
    let mut r = RevocationList::new();
    r.apply(page(&[("s1", T0_S + 900)], &[], "c1"), T0);
    assert!(r.is_revoked("alice", Some("s1"), Some(T0_S)));
    assert!(!r.is_revoked("alice", Some("s2"), Some(T0_S)));
    assert!(!r.is_revoked("alice", None, Some(T0_S)));
}

#[test]
fn a_user_mark_voids_tokens_issued_before_it_and_not_after() {
    let before = T0_S - 10;
    let mut r = RevocationList::new();
    r.apply(page(&[], &[("bob", before, T0_S + 900)], "c1"), T0);
    assert!(r.is_revoked("bob", None, Some(before - 1)), "iat < before");
    assert!(!r.is_revoked("bob", None, Some(before)), "iat == before");
    assert!(!r.is_revoked("bob", None, Some(before + 1)), "iat > before");
    assert!(
        r.is_revoked("bob", None, None),
        "no iat cannot prove it is newer"
    );
    assert!(!r.is_revoked("carol", None, Some(0)));
}

#[test]
fn two_marks_for_one_user_keep_the_later_before_and_the_later_until() {
    let mut r = RevocationList::new();
    r.apply(page(&[], &[("bob", T0_S - 100, T0_S + 50)], "c1"), T0);
    r.apply(page(&[], &[("bob", T0_S - 10, T0_S + 20)], "c2"), T0);
    assert!(r.is_revoked("bob", None, Some(T0_S - 20)));
    r.prune(at_s(30));
    assert!(r.is_revoked("bob", None, Some(T0_S - 20)), "kept until 50");
    r.prune(at_s(50));
    assert!(!r.is_revoked("bob", None, Some(T0_S - 20)));
}

#[test]
fn marks_are_dropped_once_their_until_has_passed() {
    let mut r = RevocationList::new();
    r.apply(
        page(&[("s1", T0_S + 60)], &[("bob", T0_S, T0_S + 120)], "c1"),
        T0,
    );
    assert_eq!(r.prune(at_s(59)), 0);
    assert_eq!(r.prune(at_s(60)), 1);
    assert!(!r.is_revoked("x", Some("s1"), Some(0)));
    assert!(r.is_revoked("bob", None, Some(0)));
    // Applying a later page prunes too.
    let applied = r.apply(page(&[], &[], "c2"), at_s(120));
    assert_eq!(applied.pruned, 1);
    assert_eq!((r.sessions_len(), r.users_len()), (0, 0));
}

#[test]
fn entries_that_no_longer_matter_are_not_even_added() {
    let mut r = RevocationList::new();
    let applied = r.apply(
        page(&[("old", T0_S - 1)], &[("bob", T0_S - 5, T0_S)], "c1"),
        T0,
    );
    assert_eq!((applied.sessions_added, applied.users_added), (0, 0));
}

#[test]
fn the_feed_json_parses_and_advances_the_cursor() {
    // The origin's wire format (origin/src/http/internal.rs).
    let body = br#"{"revocations":[
                      {"seq":41,"kind":"session","session":"s1","user":"u9","until":1700000900},
                      {"seq":42,"kind":"user","user":"u1","issued_before":1699999990,"until":1700000900}],
                    "next":"42","now":1700000000}"#;
    let p = RevocationPage::from_json(body).unwrap();
    let mut r = RevocationList::new();
    assert_eq!(r.cursor(), None, "the first poll asks for everything");
    r.apply(p, T0);
    assert_eq!(r.cursor(), Some("42"));
    assert!(r.is_revoked("u1", Some("s1"), Some(T0_S)));
    assert!(
        RevocationPage::from_json(br#"{"revocations":[]}"#).is_err(),
        "next is required"
    );
    assert!(
        RevocationPage::from_json(br#"{"revocations":[],"next":"1"}"#).is_ok(),
        "an empty page is fine"
    );
    assert!(
        RevocationPage::from_json(br#"{"revocations":[],"next":"1","next":"9"}"#).is_err(),
        "which cursor? a repeated member refuses the page"
    );
    assert!(RevocationPage::from_json(
        br#"{"revocations":[{"kind":"user","user":"u","until":-1}],"next":"1"}"#
    )
    .is_err());
    // Kinds this edge does not know, and entries without what their kind needs, are skipped.
    let p = RevocationPage::from_json(
        br#"{"revocations":[{"kind":"device","user":"u","until":9},{"kind":"session","user":"u","until":9},
                            {"kind":"user","user":"u","issued_before":null,"until":9}],"next":"2"}"#,
    )
    .unwrap();
    assert_eq!(
        (p.sessions.len(), p.users.len(), p.next.as_str()),
        (0, 0, "2")
    );
}

#[test]
fn one_poll_is_in_flight_at_a_time_and_polls_are_spaced_by_the_interval() {
    let mut r = RevocationList::new();
    assert!(
        r.should_poll(at_s(0), 5_000),
        "the first poll starts at once"
    );
    assert!(!r.should_poll(at_s(6), 5_000), "still in flight");
    r.apply(page(&[], &[], "c1"), at_s(6));
    assert!(
        r.should_poll(at_s(6), 5_000),
        "due: 6 s since the last start"
    );
    r.poll_failed(at_s(7));
    assert!(!r.should_poll(at_s(10), 5_000), "4 s since the last start");
    assert!(r.should_poll(at_s(11), 5_000));
}

#[test]
fn a_never_synced_list_syncs_before_deciding_at_most_once_per_interval() {
    let mut r = RevocationList::new();
    assert!(
        r.claim_first_sync(at_s(0), 5_000),
        "a fresh list syncs first"
    );
    assert!(!r.claim_first_sync(at_s(0), 5_000), "one attempt in flight");
    r.poll_failed(at_s(3));
    // The feed is down: requests in the next seconds are decided without a sync each (the
    // regression: every authenticated request waited for, and sent, another feed call).
    for s in [3, 4] {
        assert!(
            !r.claim_first_sync(at_s(s), 5_000),
            "{s} s after the failed attempt"
        );
    }
    assert!(
        r.claim_first_sync(at_s(5), 5_000),
        "the interval passed: try again"
    );
    r.apply(page(&[], &[], "c1"), at_s(6));
    r.sync_ended();
    assert!(
        !r.claim_first_sync(at_s(60), 5_000),
        "synced once: background polls only"
    );
    assert!(r.should_poll(at_s(60), 5_000));
}

#[test]
fn requests_wait_for_a_first_sync_under_way_until_it_reaches_the_feeds_end() {
    let mut r = RevocationList::new().with_in_flight_timeout(20_000);
    assert!(!r.first_sync_running(at_s(0)), "nothing runs yet");
    // A background poll (started by a public request) counts as the first sync under way.
    assert!(r.should_poll(at_s(0), 5_000));
    assert!(r.first_sync_running(at_s(1)));
    assert!(!r.claim_first_sync(at_s(1), 5_000), "one sync at a time");
    // Its first page had entries: the list is not complete, the poll goes on with page two.
    r.apply(page(&[("s1", 1_900_000_000)], &[], "c1"), at_s(2));
    r.next_page(at_s(2));
    assert!(
        r.first_sync_running(at_s(3)),
        "a partly read feed is not a sync"
    );
    assert!(!r.synced());
    // The second page is empty: the feed's end.
    r.apply(page(&[], &[], "c2"), at_s(4));
    r.sync_ended();
    assert!(r.synced());
    assert!(!r.first_sync_running(at_s(4)));
    assert!(r.should_poll(at_s(9), 5_000));
    assert!(
        !r.first_sync_running(at_s(10)),
        "later polls are background work: nobody waits for them"
    );
}

#[test]
fn a_lost_first_sync_stops_the_waiting() {
    let mut r = RevocationList::new().with_in_flight_timeout(20_000);
    assert!(r.claim_first_sync(at_s(0), 5_000));
    assert!(r.first_sync_running(at_s(19)));
    assert!(
        !r.first_sync_running(at_s(20)),
        "presumed lost after the in-flight timeout"
    );
    assert!(
        r.claim_first_sync(at_s(20), 5_000),
        "and the next request syncs itself"
    );
}

#[test]
fn a_failed_first_sync_stops_the_waiting_until_the_next_attempt() {
    let mut r = RevocationList::new();
    assert!(r.claim_first_sync(at_s(0), 5_000));
    r.poll_failed(at_s(1));
    assert!(!r.first_sync_running(at_s(1)));
    assert!(!r.claim_first_sync(at_s(2), 5_000));
    assert!(!r.synced());
}

#[test]
fn a_poll_that_never_reports_back_is_presumed_lost() {
    let mut r = RevocationList::new().with_in_flight_timeout(20_000);
    assert!(r.should_poll(at_s(0), 5_000));
    assert!(!r.should_poll(at_s(19), 5_000));
    assert!(r.should_poll(at_s(20), 5_000));
}

#[test]
fn staleness_counts_from_the_last_success() {
    let mut r = RevocationList::new();
    assert_eq!(r.stale_for(T0), u64::MAX, "never succeeded");
    assert!(r.is_stale(T0, 60_000));
    r.apply(page(&[], &[], "c1"), T0);
    assert_eq!(r.last_success(), Some(T0));
    r.should_poll(at_s(5), 5_000);
    r.poll_failed(at_s(5));
    assert_eq!(r.stale_for(at_s(30)), 30_000);
    assert!(!r.is_stale(at_s(60), 60_000));
    assert!(r.is_stale(at_s(61), 60_000));
}
