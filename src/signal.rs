//! SIGINT and SIGTERM (on Windows, the console control events): noted, and obeyed within a
//! moment.
//!
//! The handler records the first signal. The export loop checks `received()` after each page
//! is written and its state saved, the retry loop and the pacer's gate while waiting, and the
//! driver thread while it waits for a reply (requests run on other threads), so the process
//! stops promptly, even while a request hangs, at a point a resume can continue from: the
//! last saved state. A second signal ends the process at once with exit code 130, from the
//! handler (`_exit` is async-signal-safe); the state on disk is then still a complete one, as
//! after a kill. SIGKILL cannot be caught; resume copes with it through the saved state.
//! When a progress line is on the terminal, the handler erases it first (`write` is
//! async-signal-safe too), so the shell's prompt starts on a clean line.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static LINE_SHOWN: AtomicBool = AtomicBool::new(false);

/// Notes whether a progress line is drawn on stderr (a terminal), for the handler to erase.
pub fn set_progress_shown(shown: bool) {
    LINE_SHOWN.store(shown, Ordering::SeqCst);
}

/// The signal received so far (its number), if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Some(n),
    }
}

/// The signal's name for messages.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT if cfg!(windows) => "Ctrl-C",
        SIGBREAK => "Ctrl-Break",
        SIGTERM if cfg!(windows) => "the console closing (or a shut-down)",
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The exit code of an interrupted run (`exit::Code::Interrupted`).
const INTERRUPTED: i32 = 130;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
/// Ctrl-Break, in the numbering of the Windows C runtime.
const SIGBREAK: i32 = 21;

#[cfg(unix)]
pub fn install() {
    extern "C" fn note(signal: i32) {
        // Only atomics, `write` and `_exit`: all async-signal-safe.
        if RECEIVED.swap(signal, Ordering::SeqCst) != 0 {
            if LINE_SHOWN.load(Ordering::SeqCst) {
                const ERASE: &[u8] = b"\r\x1b[K";
                // SAFETY: a static buffer of the length given; a failed write is ignored.
                unsafe { write(2, ERASE.as_ptr(), ERASE.len()) };
            }
            // SAFETY: `_exit` ends the process without running any user code.
            unsafe { _exit(INTERRUPTED) }
        }
    }
    extern "C" {
        // From the C library std already links; `sighandler_t` is pointer-sized.
        fn signal(signum: i32, handler: usize) -> usize;
        fn write(fd: i32, buf: *const u8, count: usize) -> isize;
        fn _exit(status: i32) -> !;
    }
    // SAFETY: `note` is an `extern "C" fn(i32)` that performs atomic operations and at most
    // a `write` and an `_exit`, all async-signal-safe, and it lives for the whole program.
    unsafe {
        signal(SIGINT, note as extern "C" fn(i32) as usize);
        signal(SIGTERM, note as extern "C" fn(i32) as usize);
    }
}

/// On Windows, the console control events stand for the signals: Ctrl-C for SIGINT,
/// Ctrl-Break for SIGBREAK (the C runtime's name for it), and the console closing or the
/// system shutting down for SIGTERM. A log-off is ignored: Windows sends it to every console
/// process whichever user logs off, a scheduled task's run as SYSTEM included. The handler
/// runs on a thread of its own; for a close or shut-down the system ends the process once it
/// returns, so it waits there (the system allows a few seconds) while the run saves its state
/// and exits.
#[cfg(windows)]
pub fn install() {
    use crate::sys_windows::{CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_LOGOFF_EVENT};
    unsafe extern "system" fn note(event: u32) -> i32 {
        let signal = match event {
            CTRL_C_EVENT => SIGINT,
            CTRL_BREAK_EVENT => SIGBREAK,
            CTRL_LOGOFF_EVENT => return 1,
            _ => SIGTERM,
        };
        if RECEIVED.swap(signal, Ordering::SeqCst) != 0 {
            if LINE_SHOWN.load(Ordering::SeqCst) {
                use std::io::Write;
                let _ = std::io::stderr().write_all(b"\r\x1b[K");
            }
            std::process::exit(INTERRUPTED);
        }
        if signal == SIGTERM {
            std::thread::sleep(std::time::Duration::from_secs(30));
        }
        1
    }
    // Without a console (a scheduled task) there is no event to handle: nothing is lost.
    let _ = crate::sys_windows::add_ctrl_handler(note);
}

#[cfg(not(any(unix, windows)))]
pub fn install() {}

/// Why the run must stop, once SIGINT or SIGTERM arrived.
pub fn stop_reason() -> Option<String> {
    received().map(|s| format!("interrupted by {}", name(s)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_second_signal_exits_with_the_interrupted_code() {
        assert_eq!(super::INTERRUPTED, crate::exit::Code::Interrupted.as_i32());
    }

    #[cfg(windows)]
    #[test]
    fn a_console_ctrl_break_is_noted_as_a_signal() {
        extern "system" {
            fn GenerateConsoleCtrlEvent(event: u32, group: u32) -> i32;
            fn AllocConsole() -> i32;
        }
        // A console of its own where the test runs without one (under a service, or wine
        // without a terminal); where it has one already this fails harmlessly.
        // SAFETY: a plain call.
        unsafe { AllocConsole() };
        super::install();
        // To every process on this console: this one, and whatever runs the tests.
        // SAFETY: a plain call with a documented event number.
        let sent = unsafe { GenerateConsoleCtrlEvent(crate::sys_windows::CTRL_BREAK_EVENT, 0) };
        assert_ne!(sent, 0, "{}", std::io::Error::last_os_error());
        for _ in 0..200 {
            if super::received().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(super::received(), Some(super::SIGBREAK));
        assert_eq!(
            super::stop_reason().as_deref(),
            Some("interrupted by Ctrl-Break")
        );
    }
}
