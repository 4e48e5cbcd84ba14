//! State kept per configured issuer or webhook, found by its name: the JWKS caches and the
//! webhook replay windows. A configuration names a handful of each, so a list searched in order
//! is as fast as a hash table here, and it is not one more hash table's code for a fresh isolate
//! to compile and the upload to carry (issue 23).

/// Values by name, in the order they were first asked for.
pub(crate) struct PerEntry<V> {
    entries: Vec<(String, V)>,
}

impl<V> Default for PerEntry<V> {
    fn default() -> Self {
        PerEntry {
            entries: Vec::new(),
        }
    }
}

impl<V> PerEntry<V> {
    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut V> {
        self.entries
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The value for `name`, made by `new` the first time.
    pub(crate) fn get_or_insert_with(&mut self, name: &str, new: impl FnOnce() -> V) -> &mut V {
        let at = match self.entries.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                self.entries.push((name.to_owned(), new()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[at].1
    }
}

#[cfg(test)]
mod tests {
    use super::PerEntry;

    #[test]
    fn each_name_has_one_value_made_once() {
        let mut m = PerEntry::default();
        assert_eq!(m.get("a"), None);
        *m.get_or_insert_with("a", || 1) += 10;
        assert_eq!(*m.get_or_insert_with("a", || panic!("made twice")), 11);
        *m.get_or_insert_with("b", || 2) += 1;
        *m.get_mut("b").unwrap() += 1;
        assert_eq!(
            (m.get("a"), m.get("b"), m.get("c")),
            (Some(&11), Some(&4), None)
        );
        assert!(m.get_mut("c").is_none());
    }
}
