//! Polled watchers (`CreateWatcher`/`GetWatcherEvents`/`RemoveWatcher`):
//! watchers that outlive the request that created them, by id.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Event, HandedWatcher, Watcher};
use crate::fs::Error;

/// Length of the random part of a watcher id.
const ID_LEN: usize = 20;

/// The polled watchers. Creating it starts nothing: each watcher's task is
/// started by [`Watcher::open`] and stopped when the watcher is removed.
#[derive(Debug, Default)]
pub struct Registry {
    watchers: Mutex<HashMap<String, Watcher>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Watcher>> {
        self.watchers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `watcher` and returns its new id: `w` and 20 random lowercase
    /// letters and digits.
    pub fn insert(&self, watcher: Watcher) -> String {
        let mut watchers = self.lock();
        loop {
            match watchers.entry(new_id()) {
                Entry::Vacant(slot) => {
                    let id = slot.key().clone();
                    slot.insert(watcher);
                    return id;
                }
                Entry::Occupied(_) => {}
            }
        }
    }

    /// Takes the events `id` queued since the last call, oldest first, or
    /// its error if it failed.
    pub fn take_events(&self, id: &str) -> Result<Vec<Event>, Error> {
        let watchers = self.lock();
        let watcher = watchers
            .get(id)
            .ok_or_else(|| Error::WatcherNotFound(id.to_owned()))?;
        Ok(watcher.take()?)
    }

    /// Stops and forgets `id`.
    pub fn remove(&self, id: &str) -> Result<(), Error> {
        let removed = self.lock().remove(id);
        removed
            .map(drop)
            .ok_or_else(|| Error::WatcherNotFound(id.to_owned()))
    }

    /// Every watcher with its queued events (for a live upgrade).
    pub fn export(&self) -> Vec<HandedWatcher> {
        self.lock().iter().map(|(id, w)| w.export(id)).collect()
    }

    /// Keeps a handed-over watcher under its old id.
    pub fn adopt(&self, id: String, watcher: Watcher) {
        self.lock().insert(id, watcher);
    }

    /// How many watchers exist.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(ID_LEN + 1);
    id.push('w');
    id.extend((0..ID_LEN).map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())])));
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_w_and_20_lowercase_alphanumerics() {
        let id = new_id();
        assert_eq!(id.len(), 21);
        assert!(id.starts_with('w'));
        assert!(
            id[1..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_ne!(new_id(), id);
    }

    #[test]
    fn unknown_ids_are_not_found() {
        let registry = Registry::default();
        assert!(matches!(
            registry.take_events("wnope"),
            Err(Error::WatcherNotFound(_))
        ));
        assert!(matches!(
            registry.remove("wnope"),
            Err(Error::WatcherNotFound(_))
        ));
    }
}
