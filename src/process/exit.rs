//! The end event, worded exactly like Go's `ProcessState.String()` because
//! the SDKs build their error messages from it.

use nix::sys::wait::WaitStatus;

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// Exit code, or -1 when killed by a signal.
    pub exit_code: i32,
    /// Whether the process exited on its own.
    pub exited: bool,
    /// `exit status N` or `signal: NAME`.
    pub status: String,
    /// Same as `status` unless the process exited with 0.
    pub error: Option<String>,
}

impl End {
    /// The end event for a wait status.
    pub fn from_wait(status: WaitStatus) -> Self {
        match status {
            WaitStatus::Exited(_, code) => {
                let status = format!("exit status {code}");
                Self {
                    exit_code: code,
                    exited: true,
                    error: (code != 0).then(|| status.clone()),
                    status,
                }
            }
            WaitStatus::Signaled(_, signal, core) => {
                let mut status = format!("signal: {}", signal_name(signal as i32));
                if core {
                    status.push_str(" (core dumped)");
                }
                Self {
                    exit_code: -1,
                    exited: false,
                    error: Some(status.clone()),
                    status,
                }
            }
            other => Self::wait_failed(&format!("unexpected wait status {other:?}")),
        }
    }

    /// The end event when the exit status could not be collected.
    pub fn wait_failed(reason: &str) -> Self {
        Self {
            exit_code: -1,
            exited: false,
            status: String::new(),
            error: Some(reason.to_owned()),
        }
    }
}

/// Go's names for Linux signals.
fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "hangup",
        2 => "interrupt",
        3 => "quit",
        4 => "illegal instruction",
        5 => "trace/breakpoint trap",
        6 => "aborted",
        7 => "bus error",
        8 => "floating point exception",
        9 => "killed",
        10 => "user defined signal 1",
        11 => "segmentation fault",
        12 => "user defined signal 2",
        13 => "broken pipe",
        14 => "alarm clock",
        15 => "terminated",
        16 => "stack fault",
        17 => "child exited",
        18 => "continued",
        19 => "stopped (signal)",
        20 => "stopped",
        21 => "stopped (tty input)",
        22 => "stopped (tty output)",
        23 => "urgent I/O condition",
        24 => "CPU time limit exceeded",
        25 => "file size limit exceeded",
        26 => "virtual timer expired",
        27 => "profiling timer expired",
        28 => "window changed",
        29 => "I/O possible",
        30 => "power failure",
        31 => "bad system call",
        n => return format!("signal {n}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn go_wording() {
        let pid = Pid::from_raw(1);
        let ok = End::from_wait(WaitStatus::Exited(pid, 0));
        assert_eq!(
            (ok.exit_code, ok.exited, ok.status.as_str(), ok.error),
            (0, true, "exit status 0", None)
        );
        let bad = End::from_wait(WaitStatus::Exited(pid, 3));
        assert_eq!(bad.error.as_deref(), Some("exit status 3"));
        let killed = End::from_wait(WaitStatus::Signaled(pid, Signal::SIGKILL, false));
        assert_eq!(
            (killed.exit_code, killed.exited, killed.status.as_str()),
            (-1, false, "signal: killed")
        );
        let segv = End::from_wait(WaitStatus::Signaled(pid, Signal::SIGSEGV, true));
        assert_eq!(segv.status, "signal: segmentation fault (core dumped)");
        let term = End::from_wait(WaitStatus::Signaled(pid, Signal::SIGTERM, false));
        assert_eq!(term.error.as_deref(), Some("signal: terminated"));
    }
}
