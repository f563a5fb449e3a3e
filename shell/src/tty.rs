//! The local terminal: raw mode that is undone on every way out (normal
//! return, error, panic, SIGTERM/SIGHUP), and the window size.

use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};

use nix::sys::termios::{self, SetArg, Termios};

/// The settings to put back; taken by the first restore.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Raw mode on stdin while alive.
#[derive(Debug)]
pub(crate) struct RawMode(());

impl RawMode {
    /// Switches stdin to raw mode if it is a terminal (`None` otherwise:
    /// piped input passes through untouched).
    pub(crate) fn enable() -> nix::Result<Option<Self>> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let original = termios::tcgetattr(&stdin)?;
        let mut raw = original.clone();
        termios::cfmakeraw(&mut raw);
        *SAVED.lock().unwrap_or_else(PoisonError::into_inner) = Some(original);
        install_panic_hook();
        termios::tcsetattr(&stdin, SetArg::TCSADRAIN, &raw)?;
        Ok(Some(Self(())))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the saved settings back (once; later calls do nothing).
pub(crate) fn restore() {
    let saved = SAVED.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(original) = saved {
        // Nothing sensible is left to do if this fails on the way out.
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, &original);
    }
}

/// A panic restores the terminal before the message is printed, so the
/// message is readable and the user's shell is usable.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// `(cols, rows)` of the terminal on stdout, else stdin; `None` when
/// neither is a terminal (or it reports 0x0).
pub(crate) fn window_size() -> Option<(u16, u16)> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin()))
        .ok()?;
    (size.ws_col > 0 && size.ws_row > 0).then_some((size.ws_col, size.ws_row))
}
