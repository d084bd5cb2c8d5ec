//! Reaching a host: base URLs as the client parses them, the route to each host, one agent
//! per host (TLS roots, timeouts, no redirects, the connector chain), sending one request and
//! reading its reply within the body caps, and the transport errors as the policy sees them.
//!
//! Base URLs are parsed here with the parser the client itself uses (`ureq::http::Uri`), and
//! the loopback rule applies to the host that parse yields: the one connected to. Each base
//! (login and API) has its own agent and its own `proxy::Route`, so a loopback login is never
//! sent through the API's proxy. Statuses are data here, not errors
//! (`http_status_as_error(false)`), so 429 and 5xx reach the policy with their headers.
//! Redirects are not followed: a redirect would carry the credentials to a host the user did
//! not name. It never retries or sleeps: that is `call.rs`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use super::spool::Spool;
use super::tunnel::{proxy_refusal, Tunnel};
use super::{Body, Client, Method, Settings};
use crate::exit::{usage, usage_context};
use crate::pace::{self, RateHeaders};
use crate::proxy::{self, Route};
use crate::retry::{Endpoint, Outcome};
use crate::urls;

/// A success body held in memory larger than this, once inflated, is refused as it inflates
/// (a details page of 100 conversations is a few hundred kilobytes): a compressed bomb costs
/// at most this much memory per reply in flight.
pub(super) const MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;
/// A success body spooled to a temporary file (job results) larger than this, once inflated,
/// is refused as it inflates: it costs disk, not memory.
pub(super) const MAX_SPOOLED_BYTES: u64 = 256 * 1024 * 1024;
/// Error bodies are read only this far: enough for a message, not for an HTML page.
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;
/// Connecting should take seconds; a longer wait means the host is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How each host is reached: directly or through a proxy, the login host and the API host
/// decided apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routes {
    pub api: Route,
    pub login: Route,
}

/// The routes to the two bases under the environment `env`, decided on the hosts the client
/// connects to. An error is one line naming the proxy variable at fault.
pub fn routes(
    api_base: &str,
    login_base: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Routes, String> {
    let route = |flag: &str, base: &str| {
        let origin = origin(flag, base)?;
        let scheme = if origin.https { "https" } else { "http" };
        proxy::route(env, scheme, &origin.host, origin.port)
    };
    Ok(Routes {
        api: route("--api-base", api_base)?,
        login: route("--login-base", login_base)?,
    })
}

/// Validates the base URL given as `flag` and returns it without trailing slashes: the plain
/// form `urls::check_base` asks for, then parsed as the client parses it, and `https://`, or
/// `http://` only when the host that parse yields is loopback.
pub fn check_base(flag: &str, url: &str) -> Result<String, String> {
    let url = urls::check_base(flag, url)?;
    let origin = origin(flag, &url)?;
    if !origin.https && !proxy::is_loopback_host(&origin.host) {
        return Err(format!(
            "{flag} uses plain http:// to {}: credentials and tokens would travel unencrypted; use https:// (http:// is allowed only to loopback)",
            origin.host
        ));
    }
    Ok(url)
}

/// Where a base URL connects, as `ureq` parses it.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    https: bool,
    /// A name or an address, IPv6 in brackets as the URL holds it.
    host: String,
    port: u16,
}

/// Parses a base URL with the client's own parser. Refused: anything it cannot parse, a scheme
/// other than http and https, a user name, a query (an `@` after `?` or `#` is not a user
/// name: `http://host?@127.0.0.1` connects to `host`).
fn origin(flag: &str, url: &str) -> Result<Origin, String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| format!("{flag} is not a URL the HTTP client can parse: give a base URL such as https://api.mypurecloud.ie"))?;
    let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("{flag} must start with https://")),
    };
    let Some(authority) = uri.authority() else {
        return Err(format!(
            "{flag} has no host: give a URL such as https://api.mypurecloud.ie"
        ));
    };
    if authority.as_str().contains('@') {
        return Err(format!(
            "{flag} must not hold a user name (user@): the client id and secret travel in a header, not in the URL"
        ));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(format!(
            "{flag} must not hold a query (?) or a fragment (#): give the base URL only"
        ));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(format!(
            "{flag} has no host: give a URL such as https://api.mypurecloud.ie"
        ));
    }
    let port = match authority.port_u16() {
        Some(port) => port,
        None if https => 443,
        None => 80,
    };
    Ok(Origin {
        https,
        host: host.to_string(),
        port,
    })
}

/// A complete response.
pub(super) struct Reply {
    pub status: u16,
    /// The body of a 2xx when it was asked for spooled; `body` is then empty.
    pub spool: Option<Spool>,
    pub rate: Option<RateHeaders>,
    pub retry_after: Option<String>,
    pub correlation_id: Option<String>,
    /// The `Date` header.
    pub date: Option<String>,
    pub is_html: bool,
    pub body: Vec<u8>,
}

impl Client {
    /// Sends one request and reads the whole response.
    pub(super) fn send(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &str,
        authorization: &str,
        body: Option<&Body>,
        spool: Option<Spool>,
    ) -> Result<Reply, ureq::Error> {
        let request = ureq::http::Request::builder()
            .method(method.name())
            .uri(url)
            .header("Authorization", authorization)
            .header("Accept", "application/json");
        let agent = self.agent(endpoint);
        let mut response = match body {
            Some(body) => agent.run(
                request
                    .header("Content-Type", body.content_type)
                    .body(body.bytes)?,
            )?,
            None => agent.run(request.body(ureq::SendBody::none())?)?,
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let status = response.status().as_u16();
        let rate = pace::parse_rate_headers(
            header("inin-ratelimit-count").as_deref(),
            header("inin-ratelimit-allowed").as_deref(),
            header("inin-ratelimit-reset").as_deref(),
        );
        let retry_after = header("retry-after");
        let correlation_id = header("inin-correlation-id");
        let date = header("date");
        let is_html = header("content-type").is_some_and(|v| v.contains("html"));
        let (body, spool) = read_body(&mut response, status, spool)?;
        Ok(Reply {
            status,
            spool,
            rate,
            retry_after,
            correlation_id,
            date,
            is_html,
            body,
        })
    }
}

/// Reads a reply's body within its cap, counted in inflated bytes and refused as soon as it
/// passes it: a 2xx asked for spooled into memory while it is at most `HELD_BYTES`, into its
/// spool beyond; anything else into memory. An error page
/// longer than its cap is still an error page (its body dropped).
fn read_body(
    response: &mut ureq::http::Response<ureq::Body>,
    status: u16,
    spool: Option<Spool>,
) -> Result<(Vec<u8>, Option<Spool>), ureq::Error> {
    let success = (200..300).contains(&status);
    match spool {
        Some(mut spool) if success => {
            let stated = response.body().content_length();
            let reader = response.body_mut().with_config().limit(MAX_SPOOLED_BYTES);
            let mut reader = reader.reader();
            let held = held_bytes();
            let small = stated.is_none_or(|len| len <= held);
            let head = match small {
                true => read_held(&mut reader, stated, held)?,
                false => Vec::new(),
            };
            if small && head.len() as u64 <= held {
                return Ok((head, None));
            }
            let failed = |e| ureq::Error::Other(Box::new(SpoolFailed(e)));
            spool.write_all(&head).map_err(failed)?;
            drop(head);
            copy_to_spool(&mut reader, &mut spool)?;
            Ok((Vec::new(), Some(spool)))
        }
        _ => {
            let limit = if success {
                MAX_BODY_BYTES
            } else {
                MAX_ERROR_BODY_BYTES
            };
            let stated = response.body().content_length();
            let reader = response.body_mut().with_config().limit(limit);
            match read_in_chunks(&mut reader.reader(), stated) {
                Ok(body) => Ok((body, None)),
                Err(ureq::Error::BodyExceedsLimit(_)) if !success => Ok((Vec::new(), None)),
                Err(e) => Err(e),
            }
        }
    }
}

/// Reads a body asked for spooled into memory, up to one byte past `held`: into one
/// buffer of the length it states, or in chunks (`read_in_chunks`).
fn read_held(body: &mut impl Read, stated: Option<u64>, held: u64) -> Result<Vec<u8>, ureq::Error> {
    let mut held = body.take(held.saturating_add(1));
    match stated.and_then(|len| usize::try_from(len).ok()) {
        Some(len) => {
            let buf = super::spare::take();
            read_over(&mut held, buf, len.saturating_add(1)).map_err(ureq::Error::from)
        }
        None => read_in_chunks(&mut held, None),
    }
}

/// Reads `body` to its end over the bytes of `buf` (whatever they were: they are overwritten,
/// not zeroed first), which is made at least `room` long and doubled while the body goes on;
/// the buffer comes back as long as the body.
fn read_over(body: &mut impl Read, mut buf: Vec<u8>, room: usize) -> std::io::Result<Vec<u8>> {
    if buf.len() < room {
        buf.resize(room, 0);
    }
    let mut filled = 0;
    loop {
        if filled >= buf.len() {
            let grown = buf.len().saturating_mul(2).max(4096);
            buf.resize(grown, 0);
        }
        let Some(free) = buf.get_mut(filled..) else {
            break;
        };
        match body.read(free) {
            Ok(0) => break,
            Ok(n) => filled = filled.saturating_add(n).min(buf.len()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Reads a body in chunks of 1 MiB and joins them at its end: a body refused at its cap never
/// had a buffer twice its size (a growing vector copies itself as it doubles). A body that
/// states its length (`stated`) under 1 MiB is read into a buffer of that size, one byte more
/// to see its end: a kept one (`spare::take`) when it is a page's size, at least `SPARE_MIN`.
/// One that does not starts at `SPARE_MIN` and grows as it comes (a job's status is a few
/// hundred bytes).
fn read_in_chunks(body: &mut impl Read, stated: Option<u64>) -> Result<Vec<u8>, ureq::Error> {
    const CHUNK: usize = 1024 * 1024;
    const SPARE_MIN: usize = 64 * 1024;
    let first = stated
        .and_then(|len| usize::try_from(len).ok())
        .map_or(SPARE_MIN, |len| len.saturating_add(1).min(CHUNK));
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut part = body.by_ref().take(CHUNK as u64);
        let chunk = match chunks.is_empty() && stated.is_some() && first >= SPARE_MIN {
            true => read_over(&mut part, super::spare::take(), first)?,
            false => {
                let capacity = if chunks.is_empty() { first } else { CHUNK };
                let mut chunk = Vec::with_capacity(capacity);
                part.read_to_end(&mut chunk)?;
                chunk
            }
        };
        let read = chunk.len();
        if read > 0 {
            chunks.push(chunk);
        }
        // Short of a whole chunk: the body has ended.
        if read < CHUNK {
            break;
        }
    }
    Ok(match chunks.len() {
        1 => chunks.pop().unwrap_or_default(),
        _ => chunks.concat(),
    })
}

/// Copies a body into its spool, in writes of `SPOOL_WRITE_BYTES` so that a page of results
/// reaches the file in a few system calls. A failure to write the spool (a full disk) is a
/// `SpoolFailed`, typed apart from the network's failures.
fn copy_to_spool(body: &mut impl Read, spool: &mut Spool) -> Result<(), ureq::Error> {
    let failed = |e| ureq::Error::Other(Box::new(SpoolFailed(e)));
    let mut out = std::io::BufWriter::with_capacity(SPOOL_WRITE_BYTES, spool);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        out.write_all(buf.get(..n).unwrap_or_default())
            .map_err(failed)?;
    }
    out.flush().map_err(failed)
}

/// The largest body asked for spooled that is held in memory instead: a page of 1 000 job
/// results is some 3 MB, a page of 10 000 ten times that.
pub(super) const HELD_BYTES: u64 = 4 * 1024 * 1024;

/// `HELD_BYTES`; in debug builds `GENESYS_EXPORT_HELD_BYTES` lowers it, so that the tests
/// spool small pages too. The release binary reads no such variable.
fn held_bytes() -> u64 {
    #[cfg(debug_assertions)]
    if let Ok(n) = std::env::var("GENESYS_EXPORT_HELD_BYTES") {
        if let Ok(n) = n.parse() {
            return n;
        }
    }
    HELD_BYTES
}

/// The size of the writes that spool a reply.
const SPOOL_WRITE_BYTES: usize = 1024 * 1024;

/// Writing a reply to its temporary file failed: a local fault (a full disk), never retried.
#[derive(Debug)]
pub(super) struct SpoolFailed(pub std::io::Error);

impl std::fmt::Display for SpoolFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SpoolFailed {}

/// The spool's write failure behind a transport error, found by type.
pub(super) fn spool_failure(e: &ureq::Error) -> Option<&SpoolFailed> {
    match e {
        ureq::Error::Other(inner) => inner.downcast_ref::<SpoolFailed>(),
        _ => None,
    }
}

/// Why a failure is final, for the hint in its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FatalHint {
    /// TLS failed: a TLS-inspecting proxy needs its CA in --ca-file.
    Tls,
    /// The proxy answered 407: its user or password is wrong or missing.
    ProxyAuth,
    None,
}

/// Maps a transport error to the policy's view of it, with a hint for final ones and the
/// problem in words.
///
/// A TLS failure is final: an unknown issuer, an expired certificate, a name mismatch or a
/// server that does not speak TLS stay so however often the request is sent again.
pub(super) fn classify(e: &ureq::Error) -> (Outcome, FatalHint, String) {
    if let Some(tls) = tls_failure(e) {
        return (Outcome::Fatal, FatalHint::Tls, format!("TLS failed: {tls}"));
    }
    if let Some(refused) = proxy_refusal(e) {
        // A gateway error from the proxy is its trouble reaching the host, which passes; any
        // other refusal is its policy or its credentials, which a retry does not change.
        let (outcome, hint) = match refused.status {
            407 => (Outcome::Fatal, FatalHint::ProxyAuth),
            500..=599 => (Outcome::Network, FatalHint::None),
            _ => (Outcome::Fatal, FatalHint::None),
        };
        return (outcome, hint, refused.to_string());
    }
    if let ureq::Error::BodyExceedsLimit(cap) = e {
        let problem = format!("a body larger than the {} MiB cap", cap / (1024 * 1024));
        return (Outcome::BadBody, FatalHint::None, problem);
    }
    let outcome = match e {
        ureq::Error::BadUri(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::Http(_)
        | ureq::Error::RedirectFailed
        | ureq::Error::TooManyRedirects => Outcome::Fatal,
        _ => Outcome::Network,
    };
    (outcome, FatalHint::None, e.to_string())
}

/// The TLS error behind a transport error, if TLS is what failed: ureq's own TLS variants, or
/// a rustls error anywhere in the chain (a failed handshake reaches ureq as an I/O error
/// wrapping it). The chain is walked through `source` and through the error an I/O error
/// carries (`io::Error::get_ref`; its `source` skips that error). Only the type decides,
/// never the text.
fn tls_failure(e: &ureq::Error) -> Option<&(dyn std::error::Error + 'static)> {
    // A chain is a handful of links; the bound only guards against a cycle.
    const MAX_LINKS: usize = 16;
    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(e);
    for _ in 0..MAX_LINKS {
        let error = link?;
        match error.downcast_ref::<ureq::Error>() {
            Some(ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_)) => {
                return Some(error)
            }
            Some(ureq::Error::Io(io)) => {
                link = io
                    .get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static));
                continue;
            }
            _ => {}
        }
        if downcast_as(ureq::Error::Rustls, error).is_some() {
            return Some(error);
        }
        link = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

/// `error` as the type `wrap` takes. ureq does not re-export rustls, and the binary names no
/// TLS crate of its own: the rustls error type is named through ureq's variant that wraps it.
fn downcast_as<'a, T: std::error::Error + 'static>(
    _wrap: fn(T) -> ureq::Error,
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    error.downcast_ref::<T>()
}

/// The agent for one host: statuses as data, no redirects, the run's timeouts and TLS roots,
/// and the connector chain `Tunnel` → TCP → rustls. The proxy, if the route has one, is the
/// only one: ureq's own reading of the environment is replaced.
pub(super) fn agent(
    settings: &Settings,
    tls: &ureq::tls::TlsConfig,
    route: &Route,
) -> Result<ureq::Agent> {
    use ureq::unversioned::resolver::DefaultResolver;
    use ureq::unversioned::transport::{Connector, RustlsConnector, TcpConnector};
    let (proxy, authorization) = match route {
        Route::Direct => (None, None),
        Route::Via(proxy) => {
            let host = match proxy.host.contains(':') {
                true => format!("[{}]", proxy.host),
                false => proxy.host.clone(),
            };
            let built = ureq::Proxy::builder(ureq::ProxyProtocol::Http)
                .host(&host)
                .port(proxy.port)
                .build()
                .map_err(|_| {
                    usage(format!(
                        "{} names a proxy the HTTP client cannot use: {}",
                        proxy.variable,
                        proxy.shown()
                    ))
                })?;
            (Some(built), proxy.authorization())
        }
    };
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(settings.timeout))
        .timeout_connect(Some(CONNECT_TIMEOUT.min(settings.timeout)))
        .user_agent(format!("genesys-export/{}", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.clone())
        .proxy(proxy)
        .build();
    let connector = Tunnel { authorization }
        .chain(TcpConnector::default())
        .chain(RustlsConnector::default());
    Ok(ureq::Agent::with_parts(
        config,
        connector,
        super::resolve::Remembering::<DefaultResolver>::default(),
    ))
}

/// Reads a PEM bundle of CA certificates for `--ca-file`.
pub(super) fn load_roots(path: &PathBuf) -> Result<ureq::tls::RootCerts> {
    let pem = std::fs::read(path)
        .with_context(|| usage_context(format!("cannot read --ca-file {}", path.display())))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let Ok(ureq::tls::PemItem::Certificate(cert)) = item {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(usage(format!(
            "--ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes a call, as a socket does.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            let (head, rest) = self.0.split_at(n);
            buf.get_mut(..n).unwrap().copy_from_slice(head);
            self.0 = rest;
            Ok(n)
        }
    }

    /// A body read over a buffer's old bytes is exactly the body, shorter or longer than the
    /// buffer, the room it was given, or what the buffer held.
    #[test]
    fn a_body_read_over_an_old_buffer_is_the_body_alone() {
        let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for (old, room, step) in [
            (0, 0, 7),
            (20_000, 10_001, 4096),
            (50, 100, 333),
            (9_999, 10_001, 10_000),
        ] {
            let buf = vec![0xAA; old];
            let got = read_over(&mut Trickle(&body, step), buf, room).unwrap();
            assert_eq!(got, body, "{old} {room} {step}");
            let short = read_over(&mut Trickle(&body[..10], step), got, room).unwrap();
            assert_eq!(short, &body[..10]);
        }
    }

    #[test]
    fn tls_failures_wrapped_as_io_errors_were_retried_as_network_errors() {
        use std::io::{Error as IoError, ErrorKind};
        let check = |e: ureq::Error, outcome: Outcome, hint: FatalHint| {
            let (got_outcome, got_hint, _) = classify(&e);
            assert_eq!((got_outcome, got_hint), (outcome, hint), "{e:?}");
        };
        let tls = || ureq::Error::Tls("Rustls invalid dns name error");
        check(tls(), Outcome::Fatal, FatalHint::Tls);
        check(
            ureq::Error::Io(IoError::new(ErrorKind::InvalidData, tls())),
            Outcome::Fatal,
            FatalHint::Tls,
        );
        check(
            ureq::Error::Io(IoError::other(IoError::other(tls()))),
            Outcome::Fatal,
            FatalHint::Tls,
        );
        // The text never decides: only the type of what is wrapped does.
        check(
            ureq::Error::Io(IoError::new(
                ErrorKind::InvalidData,
                "invalid peer certificate: UnknownIssuer",
            )),
            Outcome::Network,
            FatalHint::None,
        );
        check(
            ureq::Error::Io(IoError::new(ErrorKind::ConnectionReset, "reset")),
            Outcome::Network,
            FatalHint::None,
        );
        check(
            ureq::Error::Io(IoError::from(ErrorKind::UnexpectedEof)),
            Outcome::Network,
            FatalHint::None,
        );
        check(ureq::Error::HostNotFound, Outcome::Network, FatalHint::None);
        check(
            ureq::Error::BadUri("x".into()),
            Outcome::Fatal,
            FatalHint::None,
        );
    }

    #[track_caller]
    fn check_url(url: &str, want: Result<&str, &str>) {
        urls::check_row(check_base, url, want);
    }

    #[test]
    #[rustfmt::skip]
    fn base_urls_and_the_loopback_rule_on_the_host_connected() {
        check_url("https://api.mypurecloud.ie/", Ok("https://api.mypurecloud.ie"));
        check_url("https://gw.example.com:8443/genesys", Ok("https://gw.example.com:8443/genesys"));
        check_url("HTTPS://api.mypurecloud.ie", Ok("HTTPS://api.mypurecloud.ie"));
        check_url("http://127.0.0.1:1", Ok("http://127.0.0.1:1"));
        check_url("http://localhost", Ok("http://localhost"));
        check_url("http://LocalHost:8080", Ok("http://LocalHost:8080"));
        check_url("http://[::1]:8080/x", Ok("http://[::1]:8080/x"));
        check_url("http://127.8.0.1", Ok("http://127.8.0.1"));
        check_url("http://10.0.0.1", Err("only to loopback"));
        check_url("http://localhost.evil.com", Err("only to loopback"));
        check_url("http://127.0.0.1.nip.io", Err("only to loopback"));
        check_url("http://[::2]", Err("only to loopback"));
        check_url("http://host?@127.0.0.1", Err("query"));
        check_url("http://host#@127.0.0.1", Err("fragment"));
        check_url("http://host/?@127.0.0.1", Err("query"));
        check_url("http://host\\@127.0.0.1", Err("backslash"));
        check_url("http://user@127.0.0.1", Err("user name"));
        check_url("http://127.0.0.1@host", Err("user name"));
        check_url("http://host%40127.0.0.1", Err("neither a name nor an address"));
    }

    /// `http://host?@127.0.0.1` connects to `host`, not to the loopback address after the `@`:
    /// the client's own parse, with no help from the written-form rules, names the host that
    /// is connected and refuses the query, the fragment and a user name.
    #[test]
    fn base_url_with_query_or_fragment_before_at_sends_the_secret_to_another_host() {
        for url in [
            "http://host?@127.0.0.1",
            "http://host/?@127.0.0.1",
            "http://host#@127.0.0.1",
            "http://host/#@127.0.0.1",
            "http://user@127.0.0.1",
            "http://user:pw@127.0.0.1/",
        ] {
            assert!(origin("--login-base", url).is_err(), "{url}");
        }
        let at = |url: &str| origin("f", url).map(|o| (o.https, o.host, o.port));
        assert_eq!(
            at("http://127.0.0.1:8080/a"),
            Ok((false, "127.0.0.1".into(), 8080))
        );
        assert_eq!(at("http://[::1]"), Ok((false, "[::1]".into(), 80)));
        assert_eq!(
            at("https://api.example.com"),
            Ok((true, "api.example.com".into(), 443))
        );
        assert_eq!(at("http://host/@127.0.0.1"), Ok((false, "host".into(), 80)));
        assert!(check_base("f", "http://host/@127.0.0.1").is_err());
    }

    #[test]
    fn a_loopback_login_never_takes_the_api_proxy() {
        let env = |name: &str| (name == "HTTPS_PROXY").then(|| "http://u:pw@p:3128".to_string());
        let got = routes_of("https://api.example.com", "http://127.0.0.1:9", &env);
        assert!(matches!(&got.api, Route::Via(p) if p.shown() == "http://p:3128"));
        assert_eq!(got.login, Route::Direct);
        let got = routes_of("https://api.example.com", "https://login.example.com", &env);
        assert!(matches!(got.login, Route::Via(_)));
        let env = |name: &str| (name == "HTTPS_PROXY").then(|| "socks5://p".to_string());
        let err = routes("https://127.0.0.1:9", "http://127.0.0.1:9", &env).unwrap_err();
        assert!(err.starts_with("HTTPS_PROXY is not a proxy URL"), "{err}");
    }

    fn routes_of(api: &str, login: &str, env: &dyn Fn(&str) -> Option<String>) -> Routes {
        routes(api, login, env).unwrap()
    }

    #[test]
    fn a_body_past_its_cap_is_a_malformed_reply() {
        let (outcome, hint, problem) = classify(&ureq::Error::BodyExceedsLimit(MAX_BODY_BYTES));
        assert_eq!((outcome, hint), (Outcome::BadBody, FatalHint::None));
        assert_eq!(problem, "a body larger than the 32 MiB cap");
    }

    #[test]
    fn a_body_read_in_chunks_is_the_body() {
        for len in [0, 1, 1024 * 1024, 2 * 1024 * 1024 + 17] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let got = read_in_chunks(&mut body.as_slice(), None).unwrap();
            let stated = u64::try_from(body.len()).ok();
            assert_eq!(read_in_chunks(&mut body.as_slice(), stated).unwrap(), got);
            let wrong = read_in_chunks(&mut body.as_slice(), Some(3)).unwrap();
            assert_eq!(wrong, got);
            assert!(got == body, "{len}");
        }
    }
}
