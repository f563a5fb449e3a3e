//! Setting the guest clock from `/init timestamp` (E2B behaviour). Only used
//! when envd is PID 1 or runs with `--set-clock`; the skew rule is pure.

use std::time::{Duration, SystemTime};

use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_settime};

use super::Error;

/// The guest may lag the host by this much before the clock is stepped.
pub const MAX_BEHIND: Duration = Duration::from_millis(50);
/// The guest may run ahead of the host by this much before the clock is stepped.
pub const MAX_AHEAD: Duration = Duration::from_secs(5);

/// Whether a guest clock reading `now` should be stepped to the host's
/// `host` time: it is more than [`MAX_BEHIND`] behind or more than
/// [`MAX_AHEAD`] ahead.
pub fn needs_step(now: SystemTime, host: SystemTime) -> bool {
    match host.duration_since(now) {
        // Host is ahead of us: we are behind.
        Ok(behind) => behind > MAX_BEHIND,
        Err(ahead) => ahead.duration() > MAX_AHEAD,
    }
}

/// Steps `CLOCK_REALTIME` to `to` when [`needs_step`] says so; returns
/// whether it did.
pub fn sync_to(to: SystemTime) -> Result<bool, Error> {
    if !needs_step(SystemTime::now(), to) {
        return Ok(false);
    }
    let since_epoch = to
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    clock_settime(
        ClockId::CLOCK_REALTIME,
        TimeSpec::from_duration(since_epoch),
    )
    .map_err(|source| Error::Sys {
        call: "clock_settime",
        source,
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_rule() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ms = Duration::from_millis;
        // Guest behind the host.
        assert!(!needs_step(now, now));
        assert!(!needs_step(now, now + ms(50)));
        assert!(needs_step(now, now + ms(51)));
        assert!(needs_step(now, now + Duration::from_secs(3600)));
        // Guest ahead of the host.
        assert!(!needs_step(now, now - ms(1)));
        assert!(!needs_step(now, now - Duration::from_secs(5)));
        assert!(needs_step(now, now - ms(5001)));
    }
}
