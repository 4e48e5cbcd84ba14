//! One paging rule for every newest-first listing: an id cursor (`before`) and a limit.

/// A page request: entries with an id below `before` (all when `None`), at most `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub before: Option<i64>,
    pub limit: i64,
}

impl Page {
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 500;

    /// The cursor for the next page: the last id when the page is full, else none (a full
    /// last page costs one extra, empty request; never a skipped entry).
    pub fn next_before<T>(&self, items: &[T], id: impl Fn(&T) -> i64) -> Option<String> {
        if items.len() as i64 == self.limit {
            items.last().map(|e| id(e).to_string())
        } else {
            None
        }
    }
}

impl Default for Page {
    fn default() -> Self {
        Page {
            before: None,
            limit: Page::DEFAULT_LIMIT,
        }
    }
}
