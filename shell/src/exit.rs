//! envd-shell's exit statuses.

use envd_sdk::{Code, ExitStatus};

/// envd refused the session (wrong token, unknown user, bad program), or
/// it broke in a way retrying cannot fix.
pub(crate) const REFUSED: u8 = 1;
/// envd could not be reached (at start, or for longer than the re-attach
/// window).
pub(crate) const UNREACHABLE: u8 = 2;
/// The command line did not parse (sysexits' `EX_USAGE`).
pub(crate) const USAGE: u8 = 64;

/// Our status for how the remote program ended: its exit code, or 128+N
/// when signal N killed it (as shells report it).
pub(crate) fn of_program(exit: &ExitStatus) -> u8 {
    of_parts(exit.exited, exit.exit_code, &exit.status)
}

fn of_parts(exited: bool, exit_code: i32, status: &str) -> u8 {
    if exited {
        return u8::try_from(exit_code.clamp(0, 255)).unwrap_or(u8::MAX);
    }
    let signal = status
        .strip_prefix("signal: ")
        .and_then(signal_number)
        .unwrap_or(0);
    128 + signal
}

/// The number of a signal as Go's `os.ProcessState` names it.
fn signal_number(name: &str) -> Option<u8> {
    Some(match name {
        "hangup" => 1,
        "interrupt" => 2,
        "quit" => 3,
        "aborted" => 6,
        "killed" => 9,
        "user defined signal 1" => 10,
        "segmentation fault" => 11,
        "user defined signal 2" => 12,
        "broken pipe" => 13,
        "terminated" => 15,
        _ => return None,
    })
}

/// Whether `code` means "could not reach envd" rather than "envd said no".
pub(crate) fn is_unreachable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::Unknown
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_pass_through_and_signals_become_128_plus_n() {
        assert_eq!(of_parts(true, 3, "exit status 3"), 3);
        assert_eq!(of_parts(false, -1, "signal: killed"), 137);
        assert_eq!(of_parts(false, -1, "signal: hangup"), 129);
        assert_eq!(of_parts(false, -1, "signal: weird"), 128);
    }
}
