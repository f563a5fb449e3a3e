//! Strict ordering of a terminal's input batches.
//!
//! A browser may send batches over several connections, so they can arrive
//! out of order and a retry can arrive after the original. Each batch
//! carries a sequence number: batch `n` runs only after batch `n - 1`, an
//! early batch waits (bounded in time and in count) for the gap to fill,
//! and a batch already applied is not run again.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, watch};

use super::Error;

/// How far ahead of the last applied batch one may be.
pub(super) const WINDOW: u64 = 256;
/// How many early batches may wait at once per terminal.
pub(super) const MAX_WAITING: usize = 64;

/// One terminal's sequence state.
#[derive(Debug)]
pub(super) struct Sequencer {
    /// The last batch applied (0: none).
    applied: watch::Sender<u64>,
    /// Held while a batch runs, so batches never interleave.
    turn: Mutex<()>,
    waiting: AtomicUsize,
}

/// Releases a waiting slot however the wait ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Sequencer {
    pub(super) fn new(last_applied: u64) -> Self {
        Self {
            applied: watch::Sender::new(last_applied),
            turn: Mutex::new(()),
            waiting: AtomicUsize::new(0),
        }
    }

    /// The last batch applied.
    pub(super) fn last_applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Runs `batch` as batch `seq` once every earlier batch ran, waiting at
    /// most `wait` for them; returns the last applied batch afterwards. A
    /// batch already applied is not run. A batch whose run fails still
    /// counts as applied (its effects may be partial; a retry must not
    /// repeat them).
    pub(super) async fn apply<F, Fut>(
        &self,
        seq: u64,
        wait: Duration,
        batch: F,
    ) -> Result<u64, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), Error>>,
    {
        let last = self.last_applied();
        if seq == 0 || seq > last.saturating_add(WINDOW) {
            return Err(Error::SequenceOutOfRange {
                seq,
                last_applied: last,
                window: WINDOW,
            });
        }
        if seq <= last {
            return Ok(last);
        }
        if seq > last + 1 {
            self.wait_for(seq, wait).await?;
        }
        let _turn = self.turn.lock().await;
        let last = self.last_applied();
        if seq <= last {
            return Ok(last);
        }
        let ran = batch().await;
        self.applied.send_replace(seq);
        ran.map(|()| seq)
    }

    async fn wait_for(&self, seq: u64, wait: Duration) -> Result<(), Error> {
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel) + 1;
        let _slot = Slot(&self.waiting);
        if waiting > MAX_WAITING {
            return Err(Error::SequenceBacklog {
                waiting: waiting - 1,
            });
        }
        let mut applied = self.applied.subscribe();
        match tokio::time::timeout(wait, applied.wait_for(|last| *last + 1 >= seq)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(Error::SequenceGap {
                seq,
                missing: self.last_applied() + 1,
                waited: wait,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex as StdMutex};

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    async fn run(seq: &Sequencer, log: &Arc<StdMutex<Vec<u64>>>, n: u64) -> Result<u64, Error> {
        let log = log.clone();
        seq.apply(n, WAIT, || async move {
            log.lock().unwrap().push(n);
            Ok(())
        })
        .await
    }

    #[tokio::test]
    async fn early_batches_wait_and_duplicates_are_ignored() {
        let seq = Arc::new(Sequencer::new(0));
        let log = Arc::new(StdMutex::new(Vec::new()));
        let early = {
            let (seq, log) = (seq.clone(), log.clone());
            tokio::spawn(async move { run(&seq, &log, 3).await })
        };
        let early2 = {
            let (seq, log) = (seq.clone(), log.clone());
            tokio::spawn(async move { run(&seq, &log, 2).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(run(&seq, &log, 1).await.unwrap(), 1);
        assert_eq!(early2.await.unwrap().unwrap(), 2);
        assert_eq!(early.await.unwrap().unwrap(), 3);
        // A retry of an applied batch runs nothing and reports the last.
        assert_eq!(run(&seq, &log, 2).await.unwrap(), 3);
        assert_eq!(*log.lock().unwrap(), vec![1, 2, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_that_never_fills_fails_naming_the_missing_batch() {
        let seq = Sequencer::new(4);
        let log = Arc::new(StdMutex::new(Vec::new()));
        match run(&seq, &log, 7).await {
            Err(Error::SequenceGap {
                seq: 7, missing: 5, ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(log.lock().unwrap().is_empty());
        assert_eq!(seq.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn zero_and_far_ahead_are_out_of_range() {
        let seq = Sequencer::new(0);
        let log = Arc::new(StdMutex::new(Vec::new()));
        for n in [0, WINDOW + 1] {
            assert!(matches!(
                run(&seq, &log, n).await,
                Err(Error::SequenceOutOfRange { .. })
            ));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_waiting_batches_are_refused() {
        let seq = Arc::new(Sequencer::new(0));
        let log = Arc::new(StdMutex::new(Vec::new()));
        let waiters: Vec<_> = (0..MAX_WAITING as u64)
            .map(|i| {
                let (seq, log) = (seq.clone(), log.clone());
                tokio::spawn(async move { run(&seq, &log, i + 2).await })
            })
            .collect();
        while seq.waiting.load(Ordering::Acquire) < MAX_WAITING {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            run(&seq, &log, 100).await,
            Err(Error::SequenceBacklog {
                waiting: MAX_WAITING
            })
        ));
        assert_eq!(run(&seq, &log, 1).await.unwrap(), 1);
        for w in waiters {
            w.await.unwrap().unwrap();
        }
        assert_eq!(seq.last_applied(), MAX_WAITING as u64 + 1);
    }
}
