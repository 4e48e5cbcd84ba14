//! Revocations known to this isolate: revoked session ids and per-user "tokens issued before T
//! are void" marks, fed by polling the origin's feed, each kept until it can no longer matter.
//! Also the poll schedule (one poll in flight) and how stale the list is.

use std::collections::HashMap;

use crate::json::{self, Node};

use crate::time::UnixMillis;

/// One page of `GET /internal/revocations?since=<cursor>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationPage {
    pub sessions: Vec<SessionRevocation>,
    pub users: Vec<UserRevocation>,
    /// The cursor for the next poll's `since`.
    pub next: String,
}

/// Session `sid` is revoked; keep it until `until` (unix seconds), when every token of that
/// session has expired anyway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRevocation {
    pub sid: String,
    pub until: u64,
}

/// Every token of user `sub` issued before `before` (unix seconds) is void; keep the mark until
/// `until` (unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRevocation {
    pub sub: String,
    pub before: u64,
    pub until: u64,
}

impl RevocationPage {
    /// Parses one page of the origin's feed: `{"revocations": [{"kind": "session"|"user",
    /// "session"?, "user", "issued_before"?, "until"}], "next": "<cursor>"}` (see
    /// origin/src/http/internal.rs). Members this edge does not know are ignored and entries of
    /// unknown kinds skipped (a newer origin may add some); a malformed page is an error and
    /// changes nothing.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        Self::read(body).map_err(|problem| format!("revocation feed: {problem}"))
    }

    fn read(body: &[u8]) -> Result<Self, String> {
        // `null` counts as absent, as the feed's optional members are written by the origin.
        let text = |v: Node<'_>, name: &str| json::string_member(v.present(name), name);
        let seconds = |v: Node<'_>, name: &str| {
            v.present(name)
                .map(|m| m.as_u64().ok_or(format!("{name} is not a unix time")))
                .transpose()
        };
        let doc = json::parse(body).map_err(|e| e.to_string())?;
        let entries = doc
            .present("revocations")
            .ok_or("revocations is required")?
            .items()
            .ok_or("revocations is not an array")?;
        let mut page = RevocationPage {
            next: json::required(text(doc, "next"), "next")?,
            ..Default::default()
        };
        for e in entries {
            let kind = json::required(text(e, "kind"), "kind")?;
            let user = json::required(text(e, "user"), "user")?;
            let until = json::required(seconds(e, "until"), "until")?;
            // An entry without what its kind needs is skipped, like an unknown kind.
            match (&*kind, text(e, "session")?, seconds(e, "issued_before")?) {
                ("session", Some(sid), _) => page.sessions.push(SessionRevocation { sid, until }),
                ("user", _, Some(before)) => page.users.push(UserRevocation {
                    sub: user,
                    before,
                    until,
                }),
                _ => {}
            }
        }
        Ok(page)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UserMark {
    before: u64,
    until: u64,
}

/// What [`RevocationList::apply`] changed, for the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub sessions_added: usize,
    pub users_added: usize,
    /// Entries dropped because their `until` has passed.
    pub pruned: usize,
}

/// Per-isolate revocation state.
#[derive(Clone, Debug)]
pub struct RevocationList {
    sessions: HashMap<String, u64>,
    users: HashMap<String, UserMark>,
    cursor: Option<String>,
    last_success: Option<UnixMillis>,
    /// A sync has read the feed to its end (an empty page, or the page limit) at least once:
    /// until then the list may lack revocations the origin has, and requests that need a user
    /// sync first ([`claim_first_sync`](Self::claim_first_sync)) or wait for the sync that runs
    /// ([`first_sync_running`](Self::first_sync_running)).
    synced: bool,
    last_attempt: Option<UnixMillis>,
    in_flight_since: Option<UnixMillis>,
    in_flight_timeout_ms: u64,
}

impl Default for RevocationList {
    fn default() -> Self {
        Self::new()
    }
}

impl RevocationList {
    /// A poll not reported back within this long (e.g. its `waitUntil` was cut short) is presumed lost.
    pub const DEFAULT_IN_FLIGHT_TIMEOUT_MS: u64 = 30_000;

    pub fn new() -> Self {
        RevocationList {
            sessions: HashMap::new(),
            users: HashMap::new(),
            cursor: None,
            last_success: None,
            synced: false,
            last_attempt: None,
            in_flight_since: None,
            in_flight_timeout_ms: Self::DEFAULT_IN_FLIGHT_TIMEOUT_MS,
        }
    }

    pub fn with_in_flight_timeout(mut self, ms: u64) -> Self {
        self.in_flight_timeout_ms = ms;
        self
    }

    /// Is a token with this `sub`, `sid` and `iat` (unix seconds) revoked? A token without `iat`
    /// is revoked by any mark on its user (it cannot show it was issued after the mark).
    /// Entries past their `until` may still answer true until pruned: harmless, since by then
    /// every token they cover has expired.
    pub fn is_revoked(&self, sub: &str, sid: Option<&str>, iat: Option<u64>) -> bool {
        if let Some(sid) = sid {
            if self.sessions.contains_key(sid) {
                return true;
            }
        }
        match self.users.get(sub) {
            Some(mark) => iat.is_none_or(|iat| iat < mark.before),
            None => false,
        }
    }

    /// Merges one feed page received at `now`, advances the cursor, records the success and
    /// ends the poll in flight. Marks already past their `until` are not added.
    pub fn apply(&mut self, page: RevocationPage, now: UnixMillis) -> Applied {
        let now_s = now.secs();
        let mut applied = Applied::default();
        for s in page.sessions {
            if s.until <= now_s {
                continue;
            }
            let until = self.sessions.entry(s.sid).or_insert_with(|| {
                applied.sessions_added += 1;
                0
            });
            *until = (*until).max(s.until);
        }
        for u in page.users {
            if u.until <= now_s {
                continue;
            }
            let mark = self.users.entry(u.sub).or_insert_with(|| {
                applied.users_added += 1;
                UserMark {
                    before: 0,
                    until: 0,
                }
            });
            // The later "before" voids more; both marks must hold until the later "until".
            mark.before = mark.before.max(u.before);
            mark.until = mark.until.max(u.until);
        }
        applied.pruned = self.prune(now);
        self.cursor = Some(page.next);
        self.last_success = Some(now);
        self.in_flight_since = None;
        applied
    }

    /// Ends the poll in flight without data (network error, non-2xx, bad json).
    pub fn poll_failed(&mut self, _now: UnixMillis) {
        self.in_flight_since = None;
    }

    /// The poll goes on with its next page, asked for at `now`: in flight again, so that no
    /// other poll starts and requests waiting for the first sync keep waiting.
    pub fn next_page(&mut self, now: UnixMillis) {
        self.in_flight_since = Some(now);
    }

    /// A poll read the feed to its end (an empty page, or the page limit): the list holds
    /// what the origin had when it started.
    pub fn sync_ended(&mut self) {
        self.synced = true;
    }

    /// Has a sync ever read the feed to its end?
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// A sync is under way (not presumed lost) and none has ever reached the feed's end: a
    /// request that needs a user waits for it rather than be decided on an incomplete list.
    pub fn first_sync_running(&self, now: UnixMillis) -> bool {
        !self.synced
            && self
                .in_flight_since
                .is_some_and(|since| now.millis_since(since) < self.in_flight_timeout_ms)
    }

    /// Drops entries whose `until` has passed; returns how many.
    pub fn prune(&mut self, now: UnixMillis) -> usize {
        let now_s = now.secs();
        let before = self.sessions.len() + self.users.len();
        self.sessions.retain(|_, until| *until > now_s);
        self.users.retain(|_, m| m.until > now_s);
        before - (self.sessions.len() + self.users.len())
    }

    /// Claims a sync to run *before* deciding a request, for a list that has never synced (a
    /// fresh isolate must not admit a logged-out token): the first attempt at once, then — while
    /// attempts keep failing — at most one per `interval_ms`, like the background polls. Between
    /// them requests are decided on the never-synced list under their route's failure policy,
    /// instead of each waiting for, and sending, another feed call to an origin that is down.
    /// False once a sync has read the feed to its end ([`sync_ended`](Self::sync_ended)).
    pub fn claim_first_sync(&mut self, now: UnixMillis, interval_ms: u64) -> bool {
        !self.synced && self.should_poll(now, interval_ms)
    }

    /// Would [`should_poll`](Self::should_poll) start a poll now? Read-only.
    pub fn poll_due(&self, now: UnixMillis, interval_ms: u64) -> bool {
        let in_flight = self
            .in_flight_since
            .is_some_and(|since| now.millis_since(since) < self.in_flight_timeout_ms);
        !in_flight
            && self
                .last_attempt
                .is_none_or(|t| now.millis_since(t) >= interval_ms)
    }

    /// True when a poll should start now; it then counts as in flight until [`apply`] or
    /// [`poll_failed`] (or the in-flight timeout), so at most one poll runs per isolate.
    /// Polls are spaced `interval_ms` from the previous start.
    ///
    /// [`apply`]: RevocationList::apply
    /// [`poll_failed`]: RevocationList::poll_failed
    pub fn should_poll(&mut self, now: UnixMillis, interval_ms: u64) -> bool {
        if let Some(since) = self.in_flight_since {
            if now.millis_since(since) < self.in_flight_timeout_ms {
                return false;
            }
        }
        let due = match self.last_attempt {
            None => true,
            Some(t) => now.millis_since(t) >= interval_ms,
        };
        if due {
            self.in_flight_since = Some(now);
            self.last_attempt = Some(now);
        }
        due
    }

    pub fn poll_in_flight(&self) -> bool {
        self.in_flight_since.is_some()
    }

    /// The `since` value for the next poll (`None` before the first success: ask for everything).
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    pub fn last_success(&self) -> Option<UnixMillis> {
        self.last_success
    }

    /// Milliseconds since the last successful poll; `u64::MAX` if none ever succeeded.
    pub fn stale_for(&self, now: UnixMillis) -> u64 {
        self.last_success.map_or(u64::MAX, |t| now.millis_since(t))
    }

    /// `stale_for(now) > bound_ms`: the failure policy decides what to do then.
    pub fn is_stale(&self, now: UnixMillis, bound_ms: u64) -> bool {
        self.stale_for(now) > bound_ms
    }

    pub fn sessions_len(&self) -> usize {
        self.sessions.len()
    }

    pub fn users_len(&self) -> usize {
        self.users.len()
    }
}
