//! The CONNECT step through a proxy: ureq reads no proxy variable, so the route's proxy is
//! reached here, asked for a tunnel to the target's host and port, and a refusal comes back
//! typed (`ProxyRefused`) with its status, never as text to search. It reads no environment
//! and decides no route (`proxy.rs` does).

use std::io::{Read, Write};

use ureq::unversioned::transport::{
    ConnectionDetails, Connector, TcpConnector, Transport, TransportAdapter,
};

/// The CONNECT step: when the agent has a proxy, opens a TCP connection to it, asks it for a
/// tunnel to the target's host and port (the proxy resolves the name) with the
/// `Proxy-Authorization` the URL's credentials make, and hands the tunnel on for TLS. A reply
/// other than 2xx is `ProxyRefused`, typed. Without a proxy it does nothing and TCP connects
/// directly.
pub(super) struct Tunnel {
    /// `Basic …` for the proxy, when its URL had credentials.
    pub authorization: Option<String>,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel").finish_non_exhaustive()
    }
}

/// The most a proxy's reply to CONNECT may hold before its blank line.
const MAX_CONNECT_REPLY_BYTES: usize = 16 * 1024;

impl Connector<()> for Tunnel {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(proxy) = details.config.proxy() else {
            return Ok(None);
        };
        let mut io = open_to_proxy(details, proxy)?;
        let target = details.uri;
        let host = target.host().ok_or(ureq::Error::ConnectionFailed)?;
        let port = target
            .port_u16()
            .unwrap_or_else(|| match target.scheme_str() {
                Some("http") => 80,
                _ => 443,
            });
        let mut request = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
        if let Some(authorization) = &self.authorization {
            request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
        }
        request.push_str("\r\n");
        io.write_all(request.as_bytes())?;
        let reply = read_connect_reply(&mut io)?;
        let status = connect_status(&reply).ok_or_else(|| {
            ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the proxy's reply to CONNECT is not HTTP",
            ))
        })?;
        if !(200..300).contains(&status) {
            return Err(ureq::Error::Other(Box::new(ProxyRefused { status })));
        }
        Ok(Some(io.into_inner()))
    }
}

/// A TCP connection to the proxy, with the request's timeout.
fn open_to_proxy(
    details: &ConnectionDetails,
    proxy: &ureq::Proxy,
) -> Result<TransportAdapter, ureq::Error> {
    let addrs = details
        .resolver
        .resolve(proxy.uri(), details.config, details.timeout)?;
    let to_proxy = ConnectionDetails {
        uri: proxy.uri(),
        addrs,
        config: details.config,
        request_level: details.request_level,
        resolver: details.resolver,
        now: details.now,
        timeout: details.timeout,
        current_time: details.current_time.clone(),
        run_connector: details.run_connector.clone(),
        register_shutdown: details.register_shutdown.clone(),
    };
    let Some(tcp) = Connector::<()>::connect(&TcpConnector::default(), &to_proxy, None)? else {
        return Err(ureq::Error::ConnectionFailed);
    };
    let mut io = TransportAdapter::new(tcp.boxed(), details.current_time.clone());
    io.set_timeout(details.timeout);
    Ok(io)
}

/// The proxy's reply to CONNECT, byte by byte up to its blank line: what follows belongs to
/// the tunnel.
fn read_connect_reply(io: &mut TransportAdapter) -> Result<Vec<u8>, ureq::Error> {
    let mut reply = Vec::new();
    while !reply.ends_with(b"\r\n\r\n") {
        if reply.len() >= MAX_CONNECT_REPLY_BYTES {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the proxy's reply to CONNECT has no end",
            )));
        }
        let mut byte = [0u8];
        if io.read(&mut byte)? == 0 {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the proxy closed the connection before answering CONNECT",
            )));
        }
        reply.push(byte[0]);
    }
    Ok(reply)
}

/// The status of a reply's first line, `HTTP/1.x NNN …`.
fn connect_status(reply: &[u8]) -> Option<u16> {
    let line = reply.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    words.next().filter(|w| w.starts_with("HTTP/1."))?;
    let status = words.next()?;
    (status.len() == 3)
        .then(|| status.parse::<u16>().ok())
        .flatten()
        .filter(|s| (100..600).contains(s))
}

/// A proxy's refusal to open a tunnel, with the status it answered CONNECT with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProxyRefused {
    pub status: u16,
}

impl std::fmt::Display for ProxyRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the proxy answered CONNECT with HTTP {}", self.status)
    }
}

impl std::error::Error for ProxyRefused {}

/// The proxy's refusal behind a transport error, found by type.
pub(super) fn proxy_refusal(e: &ureq::Error) -> Option<ProxyRefused> {
    match e {
        ureq::Error::Other(inner) => inner.downcast_ref::<ProxyRefused>().copied(),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ProxyRefused>())
            .copied(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::agent::{classify, FatalHint};
    use crate::retry::Outcome;

    #[test]
    #[rustfmt::skip]
    fn connect_replies() {
        let check = |reply: &str, want: Option<u16>| assert_eq!(connect_status(reply.as_bytes()), want, "{reply:?}");
        check("HTTP/1.1 200 Connection established\r\n\r\n", Some(200));
        check("HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n", Some(407));
        check("HTTP/1.1 502\r\n\r\n", Some(502));
        check("HTTP/2 200\r\n\r\n", None);
        check("SSH-2.0-OpenSSH\r\n\r\n", None);
        check("HTTP/1.1 2000 x\r\n\r\n", None);
        check("HTTP/1.1 +20 x\r\n\r\n", None);
        check("", None);
    }

    #[test]
    fn proxy_refusals_are_classified_by_type() {
        let check = |e: ureq::Error, outcome: Outcome, hint: FatalHint| {
            let (got_outcome, got_hint, _) = classify(&e);
            assert_eq!((got_outcome, got_hint), (outcome, hint), "{e:?}");
        };
        let refused = |status| ureq::Error::Other(Box::new(ProxyRefused { status }));
        check(refused(407), Outcome::Fatal, FatalHint::ProxyAuth);
        check(refused(403), Outcome::Fatal, FatalHint::None);
        check(refused(502), Outcome::Network, FatalHint::None);
        check(refused(503), Outcome::Network, FatalHint::None);
        // The text never decides: ureq's own CONNECT failure names a 407 only in words.
        check(
            ureq::Error::ConnectProxyFailed("proxy server responded 407/407".into()),
            Outcome::Network,
            FatalHint::None,
        );
        check(
            ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            Outcome::Network,
            FatalHint::None,
        );
    }
}
