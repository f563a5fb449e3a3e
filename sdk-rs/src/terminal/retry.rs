//! When a terminal call is worth repeating, and how long to wait between
//! attempts. A Send retried with the same sequence number is never applied
//! twice, and a re-attach resumes at an offset, so both may be repeated
//! freely while the failure looks transient.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Code, Error};

/// How a terminal session retries a failed Send or re-attaches a dropped
/// output stream: exponential backoff from `initial_delay`, capped at
/// `max_delay`, giving up once `give_up_after` has passed since the first
/// failure of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    initial_delay: Duration,
    max_delay: Duration,
    give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 50 ms, doubling up to 2 s, for at most 30 s.
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            give_up_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The default policy: 50 ms, doubling up to 2 s, for at most 30 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first delay (doubled after each failed attempt).
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest delay between two attempts.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How long after the first failure the session stops retrying and
    /// reports the error. `Duration::ZERO` never retries.
    #[must_use]
    pub fn give_up_after(mut self, limit: Duration) -> Self {
        self.give_up_after = limit;
        self
    }

    pub(crate) fn backoff(self) -> Backoff {
        Backoff {
            policy: self,
            deadline: Instant::now() + self.give_up_after,
            next: self.initial_delay,
        }
    }
}

/// One run of retries under a [`RetryPolicy`].
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: RetryPolicy,
    deadline: Instant,
    next: Duration,
}

impl Backoff {
    /// Sleeps before the next attempt; `false` once the policy's time is up.
    pub(crate) async fn wait(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        let delay = self.next.min(self.deadline - now);
        self.next = (self.next * 2).min(self.policy.max_delay);
        tokio::time::sleep(delay).await;
        true
    }
}

/// Whether `error` may go away by itself: the connection broke, envd was
/// unreachable, a stream stalled or a call timed out. Anything envd decided
/// (a missing process, a bad argument, a refused token) is final.
pub(crate) fn is_transient(error: &Error) -> bool {
    match error.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Canceled => true,
        // A connection reset mid-stream surfaces as unknown or internal
        // without envd's reason; envd's own failures carry one.
        Code::Unknown | Code::Internal => error.reason().is_none() && error.http_status().is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_up_to_the_cap_and_stops_at_the_deadline() {
        let policy = RetryPolicy::new()
            .initial_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(300))
            .give_up_after(Duration::from_secs(1));
        let mut backoff = policy.backoff();
        let start = Instant::now();
        let mut waits = Vec::new();
        while backoff.wait().await {
            waits.push(start.elapsed().as_millis());
        }
        assert_eq!(waits, vec![100, 300, 600, 900, 1000]);
    }

    #[test]
    fn envd_decisions_are_final_and_broken_connections_are_not() {
        assert!(is_transient(&Error::new(
            Code::Unavailable,
            "connect refused"
        )));
        assert!(is_transient(&Error::new(Code::Unknown, "h2 reset")));
        assert!(!is_transient(&Error::new(
            Code::NotFound,
            "no such process"
        )));
        assert!(!is_transient(&Error::new(
            Code::Unauthenticated,
            "bad token"
        )));
        assert!(!is_transient(&Error::http(500, None, "boom")));
    }
}
