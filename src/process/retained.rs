//! Ended processes kept so `Connect` can still answer with their end.
//!
//! Bounded twice: each entry expires after the retention window, and at
//! most `max` are kept, the oldest ended going first. Without the count
//! bound a burst of short commands (thousands a second) kept every one of
//! them for the whole window, tens of MiB. Entries hold no task: one
//! sweeper per manager frees them as they expire.
//!
//! Their scrollback (kept so `Pty/Attach` can replay an ended process) is
//! bounded a third time, in total: beyond [`SCROLLBACK_BUDGET`] the oldest
//! ended processes lose theirs first (a replay then reports the loss).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use super::manager::Process;

/// Scrollback bytes all retained processes keep together.
pub(super) const SCROLLBACK_BUDGET: usize = 64 << 20;

struct Entry {
    process: Arc<Process>,
    expires: Instant,
    /// Scrollback bytes it holds (an ended process's rings no longer grow).
    scrollback: usize,
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
    /// Sum of the entries' `scrollback`.
    scrollback: usize,
    scrollback_budget: usize,
}

impl Retained {
    /// Keeps at most `max` (at least one).
    pub(super) fn new(max: usize) -> Self {
        Self {
            by_pid: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            max: max.max(1),
            scrollback: 0,
            scrollback_budget: SCROLLBACK_BUDGET,
        }
    }

    /// Keeps `process` until `expires`, dropping the oldest beyond the bound.
    /// Callers add in expiry order.
    pub(super) fn insert(&mut self, process: Arc<Process>, expires: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let pid = process.info.pid;
        let scrollback = process.bus.scrollback_bytes();
        self.scrollback += scrollback;
        if let Some(old) = self.by_pid.insert(
            pid,
            Entry {
                process,
                expires,
                scrollback,
                seq,
            },
        ) {
            self.scrollback -= old.scrollback;
        }
        self.order.push_back((seq, pid));
        while self.by_pid.len() > self.max {
            self.pop_oldest();
        }
        self.trim_scrollback();
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
            self.take(pid);
        }
    }

    /// Removes `pid`'s entry, keeping the scrollback sum right.
    fn take(&mut self, pid: u32) {
        if let Some(entry) = self.by_pid.remove(&pid) {
            self.scrollback -= entry.scrollback;
        }
    }

    /// Drops the scrollback of the oldest entries until the sum fits.
    fn trim_scrollback(&mut self) {
        for (seq, pid) in &self.order {
            if self.scrollback <= self.scrollback_budget {
                return;
            }
            if let Some(entry) = self.by_pid.get_mut(pid)
                && entry.seq == *seq
                && entry.scrollback > 0
            {
                entry.process.bus.drop_scrollback();
                self.scrollback -= entry.scrollback;
                entry.scrollback = 0;
            }
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
                    self.take(pid);
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
        self.take(pid);
        if let Some(tag) = tag {
            let scrollback = &mut self.scrollback;
            self.by_pid.retain(|_, e| {
                let keep = e.process.info.tag.as_deref() != Some(tag);
                if !keep {
                    *scrollback -= e.scrollback;
                }
                keep
            });
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
        with_output(pid, tag, 0)
    }

    /// An ended process whose terminal wrote `bytes` (all kept).
    fn with_output(pid: u32, tag: Option<&str>, bytes: usize) -> Arc<Process> {
        let bus = Bus::new(Duration::from_secs(1), bytes);
        if bytes > 0 {
            bus.record(&crate::process::Output::Pty(vec![b'x'; bytes].into()));
        }
        Arc::new(Process {
            info: ProcessInfo {
                pid,
                tag: tag.map(str::to_owned),
                config: ProcessConfig::default(),
            },
            child: Reaper::default().detached(pid),
            backend: Box::new(Ended),
            bus,
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

    #[test]
    fn scrollback_of_the_oldest_goes_first_beyond_the_budget() {
        let later = Instant::now() + Duration::from_secs(60);
        let mut retained = Retained::new(10);
        retained.scrollback_budget = 250;
        for pid in 1..=3 {
            retained.insert(with_output(pid, None, 100), later);
        }
        let held = |r: &Retained, pid| r.by_pid[&pid].process.bus.scrollback_bytes();
        assert_eq!(
            (held(&retained, 1), held(&retained, 2), held(&retained, 3)),
            (0, 100, 100)
        );
        assert_eq!(retained.scrollback, 200);
        retained.remove(2, None);
        retained.insert(with_output(4, None, 100), later);
        assert_eq!((held(&retained, 3), held(&retained, 4)), (100, 100));
        assert_eq!(retained.scrollback, 200);
        let expired = later + Duration::from_secs(1);
        assert_eq!(retained.expire(expired), None);
        assert_eq!(retained.scrollback, 0);
    }
}
