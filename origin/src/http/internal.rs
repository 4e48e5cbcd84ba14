//! Edge-facing internal routes: the revocation feed.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::envelope::EdgeIdentity;
use super::extract::ApiQuery;
use super::AppState;
use crate::domain::revocations::{self, FeedCursor};
use crate::error::{bad_request, forbidden, AppResult};

#[derive(Deserialize)]
pub struct FeedQuery {
    since: Option<String>,
    limit: Option<String>,
}

/// `GET /internal/revocations?since=<cursor>`: entries after the cursor that still matter.
/// Called by the edge itself (an anonymous envelope); a user identity is refused.
pub async fn feed(
    State(state): State<AppState>,
    id: EdgeIdentity,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> AppResult<Json<serde_json::Value>> {
    if id.user().is_some() {
        return Err(forbidden("internal_only"));
    }
    let since = match q.since.as_deref() {
        None | Some("") => FeedCursor::default(),
        Some(s) => FeedCursor::parse(s).ok_or_else(|| bad_request("invalid_cursor"))?,
    };
    let limit = match q.limit.as_deref() {
        None => 500,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|v| (1..=1000).contains(v))
            .ok_or_else(|| bad_request("invalid_limit"))?,
    };
    let now = state.clock.now_ms();
    let page = revocations::since(&state.db, since, now, limit).await?;
    Ok(Json(json!({
        "revocations": page.entries,
        "next": page.next.to_string(),
        "held_back": page.held_back,
        "now": now / 1000,
    })))
}
