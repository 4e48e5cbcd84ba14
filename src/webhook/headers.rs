//! The few request headers a webhook format needs, copied across the JS↔wasm boundary.

use super::WebhookError;

/// Header values by lowercase name. Build it from only the names in
/// [`super::headers_needed`]; a name inserted twice is remembered as ambiguous and refused
/// when read (we never guess which copy was signed).
#[derive(Debug, Clone, Default)]
pub struct WebhookHeaders {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    value: String,
    repeated: bool,
}

impl WebhookHeaders {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a header; the name is case-insensitive. Leading and trailing spaces/tabs of the value
    /// are dropped, as HTTP parsing does (RFC 9110 §5.5); nothing inside is normalized.
    pub fn insert(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        let value = value.trim_matches([' ', '\t']).to_owned();
        match self.entries.iter_mut().find(|e| e.name == name) {
            Some(e) => e.repeated = true,
            None => self.entries.push(Entry {
                name,
                value,
                repeated: false,
            }),
        }
    }

    /// Builder form of [`Self::insert`].
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.insert(name, value);
        self
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut h = Self::new();
        for (n, v) in pairs {
            h.insert(n, v);
        }
        h
    }

    /// The value of `name` (lowercase), `None` if absent, an error if it was sent twice.
    pub(crate) fn get(&self, name: &'static str) -> Result<Option<&str>, WebhookError> {
        match self.entries.iter().find(|e| e.name == name) {
            None => Ok(None),
            Some(e) if e.repeated => Err(WebhookError::HeaderMalformed {
                header: name,
                problem: "sent more than once",
            }),
            Some(e) => Ok(Some(&e.value)),
        }
    }
}
