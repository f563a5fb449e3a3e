//! Ended processes kept so `Connect` can still answer with their end.
//!
//! Bounded twice: each entry expires after the retention window, and at
//! most `max` are kept, the oldest ended going first. Without the count
//! bound a burst of short commands (thousands a second) kept every one of
//! them for the whole window, tens of MiB. Entries hold no task: one
//! sweeper per manager frees them as they expire.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use super::manager::Process;

struct Entry {
    process: Arc<Process>,
    expires: Instant,
    /// Which queue slot is this entry's (a pid may be retained again).
    seq: u64,
}

/// The retained processes, by pid, with their expiry order.
pub(super) struct Retained {
    by_pid: HashMap<u32, Entry>,
    /// `(seq, pid)` in the order entries were added, which is their expiry
    /// order; slots whose entry was removed or replaced are skipped.
    order: VecDeque<(u64, u32)>,
    next_seq: u64,
    max: usize,
}

impl Retained {
    /// Keeps at most `max` (at least one).
    pub(super) fn new(max: usize) -> Self {
        Self {
            by_pid: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            max: max.max(1),
        }
    }

    /// Keeps `process` until `expires`, dropping the oldest beyond the bound.
    /// Callers add in expiry order.
    pub(super) fn insert(&mut self, process: Arc<Process>, expires: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let pid = process.info.pid;
        self.by_pid.insert(
            pid,
            Entry {
                process,
                expires,
                seq,
            },
        );
        self.order.push_back((seq, pid));
        while self.by_pid.len() > self.max {
            self.pop_oldest();
        }
        // Removed entries leave their slots behind; never let them pile up.
        if self.order.len() > 2 * self.max {
            let by_pid = &self.by_pid;
            self.order
                .retain(|(seq, pid)| by_pid.get(pid).is_some_and(|e| e.seq == *seq));
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((seq, pid)) = self.order.pop_front()
            && self.by_pid.get(&pid).is_some_and(|e| e.seq == seq)
        {
            self.by_pid.remove(&pid);
        }
    }

    /// Drops every entry expired at `now`; returns when the next expires.
    pub(super) fn expire(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&(seq, pid)) = self.order.front() {
            match self.by_pid.get(&pid) {
                Some(entry) if entry.seq == seq => {
                    if entry.expires > now {
                        return Some(entry.expires);
                    }
                    self.by_pid.remove(&pid);
                }
                _ => {}
            }
            self.order.pop_front();
        }
        None
    }

    /// The unexpired process with `pid`.
    pub(super) fn get(&self, pid: u32, now: Instant) -> Option<&Arc<Process>> {
        self.by_pid
            .get(&pid)
            .filter(|e| e.expires > now)
            .map(|e| &e.process)
    }

    /// An unexpired process tagged `tag`.
    pub(super) fn by_tag(&self, tag: &str, now: Instant) -> Option<&Arc<Process>> {
        self.by_pid
            .values()
            .find(|e| e.expires > now && e.process.info.tag.as_deref() == Some(tag))
            .map(|e| &e.process)
    }

    /// Forgets `pid` and every process tagged `tag` (a new start reuses them).
    pub(super) fn remove(&mut self, pid: u32, tag: Option<&str>) {
        self.by_pid.remove(&pid);
        if let Some(tag) = tag {
            self.by_pid
                .retain(|_, e| e.process.info.tag.as_deref() != Some(tag));
        }
    }

    /// Every retained process with its expiry.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Arc<Process>, Instant)> {
        self.by_pid.values().map(|e| (&e.process, e.expires))
    }

    /// How many are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_pid.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::process::handover::Ended;
    use crate::process::output::Bus;
    use crate::process::sequencer::Sequencer;
    use crate::process::{ProcessConfig, ProcessInfo, Reaper};

    fn ended(pid: u32, tag: Option<&str>) -> Arc<Process> {
        Arc::new(Process {
            info: ProcessInfo {
                pid,
                tag: tag.map(str::to_owned),
                config: ProcessConfig::default(),
            },
            child: Reaper::default().detached(pid),
            backend: Box::new(Ended),
            bus: Bus::new(Duration::from_secs(1), 0),
            deadline: None,
            sequencer: Sequencer::new(0),
            exit: Mutex::new(None),
            ended_at: Mutex::new(None),
        })
    }

    #[test]
    fn keeps_at_most_max_dropping_the_oldest_ended() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut retained = Retained::new(3);
        for pid in 1..=5 {
            retained.insert(ended(pid, None), later);
        }
        assert_eq!(retained.len(), 3);
        assert!(retained.get(2, now).is_none());
        assert!(retained.get(3, now).is_some() && retained.get(5, now).is_some());
        // Slots of removed entries never pile up.
        for _ in 0..100 {
            retained.remove(5, None);
            retained.insert(ended(5, None), later);
        }
        assert_eq!(retained.len(), 3);
        assert!(retained.order.len() <= 6, "{}", retained.order.len());
    }

    #[test]
    fn expires_in_order_and_forgets_reused_tags() {
        let now = Instant::now();
        let mut retained = Retained::new(10);
        retained.insert(ended(1, Some("a")), now + Duration::from_secs(1));
        retained.insert(ended(2, Some("b")), now + Duration::from_secs(2));
        assert!(retained.by_tag("a", now).is_some());
        let in_1s = now + Duration::from_secs(1);
        assert!(retained.get(1, in_1s).is_none(), "expired, not yet swept");
        assert_eq!(retained.expire(in_1s), Some(now + Duration::from_secs(2)));
        assert_eq!(retained.len(), 1);
        retained.remove(9, Some("b"));
        assert_eq!(retained.expire(in_1s), None);
        assert_eq!(retained.len(), 0);
    }
}
