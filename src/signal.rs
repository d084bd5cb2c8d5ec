//! SIGINT and SIGTERM: noted, and obeyed within a moment.
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
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The exit code of an interrupted run (`exit::Code::Interrupted`).
const INTERRUPTED: i32 = 130;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

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

#[cfg(not(unix))]
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
}
