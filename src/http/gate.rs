//! What every API request waits for before it leaves: the pacer's gate (`pace::Pacer` and
//! the requests in flight) and a fresh token (the token slot).
//!
//! Neither holds a lock while it waits on the network or sleeps: the gate waits on a
//! condition variable (which releases its lock), and the token slot lets one caller fetch a
//! new token with no lock held while the others wait on a condition variable for the
//! generation it brings. A 401 forgets the token only if no newer one replaced it meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::auth::Token;
use crate::exit::{failure, Code};
use crate::pace::{Feedback, Pacer, Start};
use crate::report::{Event, Log};
use crate::times::format_duration;

/// The pacer and the requests in flight, and the condition variable a request waits on.
pub(super) struct Gate {
    state: Mutex<(Pacer, u32)>,
    changed: Condvar,
    /// Whether the line saying the pacing holds the run back was written (once a run).
    told_slow: AtomicBool,
}

impl Gate {
    pub fn new(parallel: u32, now: Instant) -> Gate {
        Gate {
            state: Mutex::new((Pacer::new(parallel, now), 0)),
            changed: Condvar::new(),
            told_slow: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (Pacer, u32)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the pacer lets an API request leave, then counts it in flight. A signal
    /// ends the wait; a hold longer than `budget_left()` gives up at once.
    pub fn enter(&self, budget_left: &dyn Fn() -> Duration, log: &Log) -> Result<()> {
        // Short waits, so that a signal is noticed while the gate is closed.
        const STEP: Duration = Duration::from_millis(50);
        let mut gate = self.lock();
        loop {
            if let Some(reason) = crate::signal::stop_reason() {
                return Err(failure(Code::Interrupted, reason));
            }
            let now = Instant::now();
            let wait = match gate.0.next_start(now, gate.1) {
                Start::Now => {
                    gate.0.started(now);
                    gate.1 = gate.1.saturating_add(1);
                    return Ok(());
                }
                Start::At(at) => {
                    // A hold longer than the wait budget left (a 429 asking for hours) would
                    // only end in giving up: give up now, as the policy does.
                    let hold = at.saturating_duration_since(now);
                    let left = budget_left();
                    if hold > left {
                        return Err(failure(
                            Code::GaveUp,
                            format!(
                                "gave up: the API asks for a pause of {} before the next request, more than the {} left of the --max-wait budget",
                                format_duration(hold),
                                format_duration(left)
                            ),
                        ));
                    }
                    self.tell_if_slow(&gate.0, log);
                    hold.min(STEP)
                }
                Start::WhenOneFinishes => STEP,
            };
            gate = self
                .changed
                .wait_timeout(gate, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Writes one line, once a run, when the rate the pacer keeps is far below what the
    /// requests in flight could carry.
    fn tell_if_slow(&self, pacer: &Pacer, log: &Log) {
        let Some(slow) = pacer.holding_back() else {
            return;
        };
        if self.told_slow.swap(true, Ordering::Relaxed) {
            return;
        }
        log.emit(
            Event::warn(format!(
                "pacing: the API's rate-limit headers allow {} {} in {}, one every {}, far below what {} requests in flight could carry; the run slows to that rate",
                slow.allowed,
                if slow.allowed == 1 { "request" } else { "requests" },
                format_duration(slow.window),
                format_duration(slow.spacing),
                slow.max_in_flight,
            ))
            .with("allowed", slow.allowed)
            .seconds("window_seconds", slow.window)
            .seconds("spacing_seconds", slow.spacing),
        );
    }

    /// Counts a request out of flight and tells the pacer what its reply said.
    pub fn leave(&self, feedback: Feedback) {
        let mut gate = self.lock();
        gate.1 = gate.1.saturating_sub(1);
        gate.0.finished(Instant::now(), feedback);
        self.changed.notify_all();
    }
}

/// The token in use; `generation` counts the tokens obtained, so a 401 on a request sent with
/// an older token does not throw away the one another thread just fetched. `fetching` says a
/// caller is fetching one, with no lock held; the others wait on `Tokens::changed`.
#[derive(Default)]
struct TokenSlot {
    token: Option<Token>,
    generation: u64,
    fetching: bool,
    /// Callers waiting for the fetch under way (read by the tests).
    waiting: u32,
}

/// The token slot and the condition variable callers wait on while one of them fetches.
#[derive(Default)]
pub(super) struct Tokens {
    slot: Mutex<TokenSlot>,
    changed: Condvar,
}

/// Clears `fetching` and wakes the waiters when a fetch ends, however it ends (an error, or a
/// panic in the fetch).
struct Fetching<'a>(&'a Tokens);

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        self.0.lock().fetching = false;
        self.0.changed.notify_all();
    }
}

impl Tokens {
    fn lock(&self) -> MutexGuard<'_, TokenSlot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lifetime of the token in use, once one was obtained.
    pub fn lifetime(&self) -> Option<Duration> {
        self.lock().token.as_ref().map(Token::lifetime)
    }

    /// Forgets the token a 401 refused, unless a newer one has replaced it meanwhile.
    pub fn refused(&self, generation: u64) {
        let mut slot = self.lock();
        if slot.generation == generation {
            slot.token = None;
        }
    }

    /// The `Authorization` value for a request leaving now, and the token's generation. When
    /// the token is missing or stale, one caller runs `fetch` with no lock held; the others
    /// wait for what it brings, and try themselves if it failed.
    pub fn bearer(
        &self,
        now: &dyn Fn() -> Instant,
        fetch: &dyn Fn() -> Result<Token>,
    ) -> Result<(String, u64)> {
        let mut slot = self.lock();
        loop {
            if let Some(token) = slot.token.as_ref().filter(|t| t.is_fresh(now())) {
                return Ok((token.bearer_authorization(), slot.generation));
            }
            if !slot.fetching {
                break;
            }
            slot.waiting = slot.waiting.saturating_add(1);
            slot = self
                .changed
                .wait(slot)
                .unwrap_or_else(PoisonError::into_inner);
            slot.waiting = slot.waiting.saturating_sub(1);
        }
        slot.fetching = true;
        drop(slot);
        let guard = Fetching(self);
        let token = fetch()?;
        let header = token.bearer_authorization();
        let mut slot = self.lock();
        slot.token = Some(token);
        slot.generation = slot.generation.saturating_add(1);
        let generation = slot.generation;
        drop(slot);
        drop(guard);
        Ok((header, generation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::{Arc, Barrier};
    use std::thread;

    fn token(name: &str) -> Token {
        Token::new(name.to_string(), Duration::from_secs(3600), Instant::now())
    }

    /// Spins (yielding) until `done` holds: no wall-clock bound, the test's own threads
    /// bring it about.
    fn until(done: impl Fn() -> bool) {
        while !done() {
            thread::yield_now();
        }
    }

    /// While one caller fetches a token (held inside the fetch by a barrier, as a slow login
    /// host would hold it), the slot stays free: a 401 on another thread is recorded, the
    /// lifetime is read, and a second caller waits for the token being fetched instead of
    /// fetching its own.
    #[test]
    fn a_token_refresh_holds_no_lock_while_it_fetches() {
        let tokens = Arc::new(Tokens::default());
        let inside = Arc::new(Barrier::new(2));
        let release = Arc::new(Barrier::new(2));
        let fetches = Arc::new(AtomicU32::new(0));
        let fetcher = {
            let (tokens, inside, release, fetches) = (
                tokens.clone(),
                inside.clone(),
                release.clone(),
                fetches.clone(),
            );
            thread::spawn(move || {
                let fetch = || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    inside.wait();
                    release.wait();
                    Ok(token("first"))
                };
                tokens.bearer(&Instant::now, &fetch).unwrap()
            })
        };
        inside.wait();
        // The fetch is under way: the slot answers at once.
        assert_eq!(tokens.lifetime(), None);
        tokens.refused(0);
        let waiter = {
            let (tokens, fetches) = (tokens.clone(), fetches.clone());
            thread::spawn(move || {
                let fetch = || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    Ok(token("second"))
                };
                tokens.bearer(&Instant::now, &fetch).unwrap()
            })
        };
        until(|| tokens.lock().waiting == 1);
        release.wait();
        let first = fetcher.join().unwrap();
        let second = waiter.join().unwrap();
        assert_eq!(first, ("Bearer first".to_string(), 1));
        assert_eq!(second, first, "the waiter took the token fetched for it");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(tokens.lifetime().is_some());
    }

    /// A fetch that fails leaves the slot free: a waiter tries itself, and a 401 on an older
    /// generation never throws away a newer token.
    #[test]
    fn a_failed_fetch_lets_the_next_caller_fetch() {
        let tokens = Tokens::default();
        let failed = || Err(anyhow::anyhow!("login host down"));
        assert!(tokens.bearer(&Instant::now, &failed).is_err());
        assert!(!tokens.lock().fetching);
        let (_, generation) = tokens.bearer(&Instant::now, &|| Ok(token("a"))).unwrap();
        assert_eq!(generation, 1);
        tokens.refused(0);
        assert!(
            tokens.lock().token.is_some(),
            "an older 401 keeps the newer token"
        );
        tokens.refused(1);
        let again = tokens.bearer(&Instant::now, &|| Ok(token("b"))).unwrap();
        assert_eq!(again, ("Bearer b".to_string(), 2));
    }
}
