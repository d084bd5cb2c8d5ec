//! Name resolution for the agents: ureq's own resolver, each answer remembered for a while.
//!
//! ureq resolves a request's host before every request, even one that goes out on a pooled
//! connection, and with a timeout set (the run always sets one) it does so on a thread of its
//! own: without memory, an export of thousands of pages would start and end as many threads
//! and read `/etc/hosts` as often. An answer is asked again after `REMEMBER`, so that a host
//! that moves is followed within it. It must not decide anything else about connections.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long an answer is used before the host is looked up again.
const REMEMBER: Duration = Duration::from_secs(30);

/// A resolver (ureq's own) with its answers remembered for `REMEMBER`, by scheme, host and
/// port.
#[derive(Debug, Default)]
pub(super) struct Remembering<R = DefaultResolver> {
    inner: R,
    known: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl<R: Resolver> Resolver for Remembering<R> {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map_or("", |a| a.as_str())
        );
        let now = Instant::now();
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < REMEMBER;
        if let Some((at, addrs)) = self.lock().get(&key) {
            if fresh(at) {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let mut known = self.lock();
        known.retain(|_, (at, _)| fresh(at));
        known.insert(key, (now, addrs.clone()));
        Ok(addrs)
    }
}

impl<R> Remembering<R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, ResolvedSocketAddrs)>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Answers every host with one address, counting the lookups.
    #[derive(Debug, Default)]
    struct Counting(AtomicU32);

    impl Resolver for Counting {
        fn resolve(
            &self,
            _: &Uri,
            _: &ureq::config::Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            let mut addrs = self.empty();
            addrs.push(SocketAddr::from(([127, 0, 0, 1], 1000 + n as u16)));
            Ok(addrs)
        }
    }

    #[test]
    fn a_host_is_looked_up_once_while_its_answer_is_remembered() {
        let resolver = Remembering::<Counting>::default();
        let config = ureq::config::Config::default();
        let ask = |uri: &str| {
            let uri: Uri = uri.parse().unwrap();
            let addrs = resolver
                .resolve(&uri, &config, NextTimeout::default())
                .unwrap();
            addrs.iter().map(SocketAddr::port).collect::<Vec<_>>()
        };
        assert_eq!(ask("https://api.example.com/a"), [1000]);
        assert_eq!(ask("https://api.example.com/b?x=1"), [1000]);
        assert_eq!(ask("https://login.example.com/token"), [1001]);
        assert_eq!(ask("https://api.example.com:8443/a"), [1002]);
        assert_eq!(ask("http://api.example.com/a"), [1003]);
        assert_eq!(resolver.inner.0.load(Ordering::SeqCst), 4);
    }
}
