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

    /// Ctrl-Break reaches the export as the console delivers it: the console host has the
    /// system start a thread in each process attached to it at kernelbase's `CtrlRoutine`, with
    /// the event as its argument, and that routine runs the handlers registered with
    /// `SetConsoleCtrlHandler`. The test starts that thread itself, so it runs with or without
    /// a console (wine 8's server refuses `GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT)`).
    #[cfg(windows)]
    #[test]
    fn a_console_ctrl_break_is_noted_as_a_signal() {
        use std::ffi::{c_char, c_void};
        type Routine = unsafe extern "system" fn(*mut c_void) -> u32;
        extern "system" {
            fn GetModuleHandleA(name: *const c_char) -> *mut c_void;
            fn GetProcAddress(module: *mut c_void, name: *const c_char) -> Option<Routine>;
            fn CreateThread(
                attributes: *mut c_void,
                stack: usize,
                start: Routine,
                arg: *mut c_void,
                flags: u32,
                id: *mut u32,
            ) -> *mut c_void;
            fn WaitForSingleObject(handle: *mut c_void, millis: u32) -> u32;
            fn GetExitCodeThread(thread: *mut c_void, code: *mut u32) -> i32;
            fn CloseHandle(handle: *mut c_void) -> i32;
        }
        super::install();
        // SAFETY: NUL-terminated names; kernelbase is loaded in every process.
        let routine = unsafe {
            GetProcAddress(
                GetModuleHandleA(c"kernelbase.dll".as_ptr()),
                c"CtrlRoutine".as_ptr(),
            )
        }
        .expect("kernelbase.dll exports CtrlRoutine");
        let event = crate::sys_windows::CTRL_BREAK_EVENT as usize as *mut c_void;
        let mut handled = 0;
        // SAFETY: `CtrlRoutine` is a thread routine taking the event number; the thread's
        // handle is waited for and closed here.
        unsafe {
            let null = std::ptr::null_mut();
            let thread = CreateThread(null, 0, routine, event, 0, null.cast());
            assert!(!thread.is_null(), "{}", std::io::Error::last_os_error());
            WaitForSingleObject(thread, 10_000);
            GetExitCodeThread(thread, &mut handled);
            CloseHandle(thread);
        }
        // 1: a registered handler took the event (else the default one ends the process).
        assert_eq!(handled, 1);
        assert_eq!(super::received(), Some(super::SIGBREAK));
        assert_eq!(
            super::stop_reason().as_deref(),
            Some("interrupted by Ctrl-Break")
        );
    }
}
