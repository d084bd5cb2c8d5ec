//! Deliberate crashes at named points, for the resume tests. Debug builds only: the release
//! binary contains none of this.
//!
//! `GENESYS_EXPORT_CRASH_AT=point:n` aborts the process the n-th time `point` is reached
//! (`state-write`: half-way through writing the temporary state file; `state-saved`: right
//! after a state is saved; `page-written`: after a page is synced, before its state is saved;
//! `follow-up-written`: after a batch of the `--pending` follow-up is synced, before its state
//! is saved; `ledger-write`: half-way through writing the ledger's temporary file;
//! `published`: right after `FILE` is published, before the ledger drops the follow-ups
//! handed to it).
//!
//! `GENESYS_EXPORT_CRASH_AT=point:n:stall` stops the thread there for good instead, ignoring
//! the first SIGINT or SIGTERM as a run stuck in a system call would, so that the tests reach
//! the second signal's path (`signal.rs`).

#[cfg(debug_assertions)]
pub fn reach(point: &str, before_abort: impl FnOnce()) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let Ok(spec) = std::env::var("GENESYS_EXPORT_CRASH_AT") else {
        return;
    };
    let Some((name, n)) = spec.split_once(':') else {
        return;
    };
    if name != point {
        return;
    }
    let (n, stall) = match n.split_once(':') {
        Some((n, "stall")) => (n, true),
        _ => (n, false),
    };
    let reached = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if n.parse::<u64>() != Ok(reached) {
        return;
    }
    if stall {
        eprintln!("stalled at {point}");
        loop {
            std::thread::park();
        }
    }
    before_abort();
    std::process::abort();
}

#[cfg(not(debug_assertions))]
pub fn reach(_point: &str, _before_abort: impl FnOnce()) {}
