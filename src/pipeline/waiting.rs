//! Requests waiting for their driver to come back (WebCrypto's answer, a body read, a fetch),
//! by ticket. Bounded: a request abandoned mid-way (client gone) is evicted by newer ones and
//! never leaks.

use std::collections::VecDeque;

/// How many requests may wait at once in one isolate.
pub const MAX_WAITING: usize = 1024;

#[derive(Debug)]
pub struct Waiting<T> {
    next: u32,
    queue: VecDeque<(u32, T)>,
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Waiting::new()
    }
}

impl<T> Waiting<T> {
    pub const fn new() -> Self {
        Waiting {
            next: 0,
            queue: VecDeque::new(),
        }
    }

    /// Tickets counting on from `start`. An isolate starts from random bits, so a ticket an
    /// earlier instance handed out (a request still in flight across a reset) finds nothing
    /// here instead of another request's wait.
    pub const fn starting_at(start: u32) -> Self {
        Waiting {
            next: start,
            queue: VecDeque::new(),
        }
    }

    /// Keeps `item` and returns its ticket (evicting the oldest past [`MAX_WAITING`]).
    pub fn park(&mut self, item: T) -> u32 {
        self.next = self.next.wrapping_add(1);
        if self.queue.len() >= MAX_WAITING {
            self.queue.pop_front();
        }
        self.queue.push_back((self.next, item));
        self.next
    }

    pub fn get(&self, ticket: u32) -> Option<&T> {
        self.queue
            .iter()
            .find(|(t, _)| *t == ticket)
            .map(|(_, x)| x)
    }

    pub fn take(&mut self, ticket: u32) -> Option<T> {
        let i = self.queue.iter().position(|(t, _)| *t == ticket)?;
        self.queue.remove(i).map(|(_, x)| x)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_find_their_item_once_and_the_oldest_is_evicted() {
        let mut w = Waiting::new();
        let a = w.park("a");
        let b = w.park("b");
        assert_eq!(w.get(a), Some(&"a"));
        assert_eq!(w.take(a), Some("a"));
        assert_eq!(w.take(a), None);
        for _ in 0..MAX_WAITING {
            w.park("x");
        }
        assert_eq!(w.len(), MAX_WAITING);
        assert_eq!(w.take(b), None, "the oldest was evicted");
    }
}
