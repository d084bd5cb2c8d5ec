//! Which proxy a connection goes through, decided from the environment as curl decides it.
//!
//! Pure: the environment is a lookup passed in. For a target `scheme://host:port`, the
//! variable is `https_proxy`, else `HTTPS_PROXY` (for an `http://` target only `http_proxy`:
//! curl never reads `HTTP_PROXY`, which a CGI request header can set), else `all_proxy`, else
//! `ALL_PROXY`; the first that is set wins, so a scheme's own variable beats `ALL_PROXY`, and
//! one set to nothing means no proxy. `no_proxy`, else `NO_PROXY`, is a list separated by
//! commas and blanks: `*` alone covers every host; an entry covers the host itself and the
//! names under it (a leading or trailing dot is ignored, so `vm` and `.vm` both cover `api.vm`);
//! an entry with `:port` covers that port only; an IP address, with an optional `/bits`
//! prefix length, covers addresses as addresses. Loopback (`localhost`, 127.0.0.0/8, `::1`) never
//! goes through a proxy.
//!
//! The proxy URL is `[http://][user:password@]host[:port][/]`, port 1080 when none is given
//! (curl's default). Anything else (another scheme such as `socks5://`, a bad port, no host)
//! is refused naming the variable, never ignored. The user name and password are kept apart
//! from what is shown: messages name a proxy by `Proxy::shown`, without them.

use std::fmt;
use std::net::IpAddr;

use crate::auth;
use crate::urls::{self, BadHostPort, HostPort};

/// The port of a proxy URL without one, as curl has it.
pub const DEFAULT_PORT: u16 = 1080;

/// A proxy to connect through. `Debug` and `shown` leave the credentials out.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The environment variable it came from.
    pub variable: &'static str,
    /// A name or an address, IPv6 without brackets.
    pub host: String,
    pub port: u16,
    /// The user name and password, percent-decoded.
    credentials: Option<(String, String)>,
}

impl Proxy {
    /// `http://host:port`, without the credentials: the form every message uses.
    pub fn shown(&self) -> String {
        match self.host.contains(':') {
            true => format!("http://[{}]:{}", self.host, self.port),
            false => format!("http://{}:{}", self.host, self.port),
        }
    }

    /// The user name and password, when the URL gave them.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The `Proxy-Authorization` value, when the URL gave credentials.
    pub fn authorization(&self) -> Option<String> {
        self.credentials().map(|(user, password)| {
            format!(
                "Basic {}",
                auth::base64(format!("{user}:{password}").as_bytes())
            )
        })
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("variable", &self.variable)
            .field("url", &self.shown())
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How a connection to one host goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Direct,
    Via(Proxy),
}

/// The route to `scheme://host:port` (`host` a name or an address, IPv6 with or without
/// brackets) under the environment `env`. An error is one line naming the variable at fault.
pub fn route(
    env: &dyn Fn(&str) -> Option<String>,
    scheme: &str,
    host: &str,
    port: u16,
) -> Result<Route, String> {
    let Some((variable, value)) = proxy_variable(env, scheme) else {
        return Ok(Route::Direct);
    };
    if value.trim().is_empty() {
        return Ok(Route::Direct);
    }
    let proxy = parse_proxy(variable, &value)?;
    let host = unbracket(host);
    if is_loopback_host(host) {
        return Ok(Route::Direct);
    }
    let no_proxy = env("no_proxy")
        .or_else(|| env("NO_PROXY"))
        .unwrap_or_default();
    if no_proxy_covers(&no_proxy, host, port) {
        return Ok(Route::Direct);
    }
    Ok(Route::Via(proxy))
}

/// Whether `host` (no brackets) is the loopback interface: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = unbracket(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The variable curl reads for a target of `scheme`, with its value, when one is set.
fn proxy_variable(
    env: &dyn Fn(&str) -> Option<String>,
    scheme: &str,
) -> Option<(&'static str, String)> {
    let names: &[&'static str] = if scheme.eq_ignore_ascii_case("http") {
        &["http_proxy", "all_proxy", "ALL_PROXY"]
    } else {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    };
    names
        .iter()
        .find_map(|name| env(name).map(|value| (*name, value)))
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Parses the proxy URL `value` of `variable`. The message never repeats the value: it may
/// hold a password.
fn parse_proxy(variable: &'static str, value: &str) -> Result<Proxy, String> {
    let bad = |why: &str| {
        format!("{variable} is not a proxy URL: {why}; give http://[user:password@]host[:port]")
    };
    let value = value.trim();
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it holds a space or a control character"));
    }
    let rest = match value.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            let scheme: String = scheme.chars().take(16).collect();
            return Err(bad(&format!(
                "the scheme {scheme}:// is not supported, only http://"
            )));
        }
        None => value,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let credentials = match userinfo {
        Some(userinfo) => Some(
            proxy_credentials(userinfo)
                .ok_or_else(|| bad("the user name or password has a bad %-escape"))?,
        ),
        None => None,
    };
    let HostPort { host, port } = urls::parse_host_port(hostport).map_err(|e| {
        bad(match e {
            BadHostPort::Ipv6 => "it has a bad IPv6 address",
            BadHostPort::AfterBracket => "it has a bad host",
            BadHostPort::NoHost => "it has no host",
            BadHostPort::Host => "its host is neither a name nor an address",
            BadHostPort::Port => "it has a bad port (use a number from 1 to 65535)",
        })
    })?;
    Ok(Proxy {
        variable,
        host: host.to_string(),
        port: port.unwrap_or(DEFAULT_PORT),
        credentials,
    })
}

/// The user name and password of `user[:password]`, percent-decoded.
fn proxy_credentials(userinfo: &str) -> Option<(String, String)> {
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    Some((percent_decode(user)?, percent_decode(password)?))
}

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i.checked_add(1)?..i.checked_add(3)?)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i = i.checked_add(3)?;
        } else {
            out.push(b);
            i = i.checked_add(1)?;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether the `no_proxy` list covers `host` (no brackets) at `port`, as curl reads the list.
fn no_proxy_covers(list: &str, host: &str, port: u16) -> bool {
    if list.trim_matches([' ', '\t']) == "*" {
        return true;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let address = host.parse::<IpAddr>().ok();
    // Tokens end at a blank or a comma; blanks around a comma are skipped, and anything else
    // after a token's blanks ends the list, as curl reads it.
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let end = rest.find([' ', '\t', ',']).unwrap_or(rest.len());
        let (token, after) = rest.split_at(end);
        if !token.is_empty() && entry_covers(token, host, address, port) {
            return true;
        }
        match after.trim_start_matches([' ', '\t']).strip_prefix(',') {
            Some(after) => rest = after.trim_start_matches(','),
            None => return false,
        }
    }
}

/// Whether one `no_proxy` entry covers the host.
fn entry_covers(entry: &str, host: &str, address: Option<IpAddr>, port: u16) -> bool {
    let (pattern, entry_port) = split_port(entry);
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    if let Some(address) = address {
        let (net, bits) = match pattern.split_once('/') {
            Some((net, bits)) => (net, bits.parse::<u8>().ok()),
            None => (pattern, None),
        };
        return match unbracket(net).parse::<IpAddr>() {
            Ok(net) => same_network(address, net, bits),
            Err(_) => false,
        };
    }
    let pattern = pattern.strip_suffix('.').unwrap_or(pattern);
    let pattern = pattern.strip_prefix('.').unwrap_or(pattern);
    if pattern.is_empty() {
        return false;
    }
    let (host_len, pattern_len) = (host.len(), pattern.len());
    if host_len == pattern_len {
        return host.eq_ignore_ascii_case(pattern);
    }
    host_len > pattern_len
        && host.as_bytes().get(host_len - pattern_len - 1) == Some(&b'.')
        && host
            .get(host_len - pattern_len..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(pattern))
}

/// An entry's pattern and its port, if it names one: `host:443`, `[::1]:443`, `10.0.0.1:8080`.
/// A bare IPv6 address keeps its colons; an entry whose port is not a number is all pattern.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    match urls::split_host_port(entry) {
        Ok((pattern, Some(port))) => match port.parse::<u16>() {
            Ok(port) => (pattern, Some(port)),
            Err(_) => (entry, None),
        },
        Ok((pattern, None)) => (pattern, None),
        Err(_) => (entry, None),
    }
}

/// Whether `address` lies in `net`/`bits` (the whole address when no prefix length is given).
fn same_network(address: IpAddr, net: IpAddr, bits: Option<u8>) -> bool {
    match (address, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = u32::from(bits.unwrap_or(32).min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = u32::from(bits.unwrap_or(128).min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prop;
    use std::collections::HashMap;

    /// The route to `target` (`scheme://host:port`) under `vars`: `"direct"`, the proxy as
    /// shown with its variable (`"HTTPS_PROXY http://p:3128"`), or `"error: <message>"`.
    #[track_caller]
    fn check(vars: &[(&str, &str)], target: &str, want: &str) {
        let env: HashMap<&str, &str> = vars.iter().copied().collect();
        let lookup = |name: &str| env.get(name).map(|v| v.to_string());
        let (scheme, rest) = target.split_once("://").unwrap();
        let (host, port) = rest.rsplit_once(':').unwrap();
        let got = match route(&lookup, scheme, host, port.parse().unwrap()) {
            Ok(Route::Direct) => "direct".to_string(),
            Ok(Route::Via(proxy)) => format!("{} {}", proxy.variable, proxy.shown()),
            Err(message) => format!("error: {message}"),
        };
        assert!(
            got == want || (want.starts_with("error: ") && got.starts_with(want)),
            "{vars:?} {target}: got '{got}', want '{want}'"
        );
    }

    const HP: (&str, &str) = ("HTTPS_PROXY", "http://p:3128");
    const A: &str = "https://api.vm:443";

    #[test]
    #[rustfmt::skip]
    fn which_variable_wins() {
        check(&[], A, "direct");
        check(&[HP], A, "HTTPS_PROXY http://p:3128");
        check(&[("https_proxy", "http://lower:1"), HP], A, "https_proxy http://lower:1");
        check(&[("ALL_PROXY", "http://dead:1"), HP], A, "HTTPS_PROXY http://p:3128");
        check(&[("all_proxy", "http://dead:1"), HP], A, "HTTPS_PROXY http://p:3128");
        check(&[("ALL_PROXY", "http://all:1")], A, "ALL_PROXY http://all:1");
        check(&[("all_proxy", "http://a:1"), ("ALL_PROXY", "http://b:1")], A, "all_proxy http://a:1");
        check(&[("https_proxy", ""), HP], A, "direct");
        check(&[("HTTPS_PROXY", ""), ("ALL_PROXY", "http://all:1")], A, "direct");
        check(&[("HTTP_PROXY", "http://h:1")], A, "direct");
        check(&[("HTTP_PROXY", "http://h:1")], "http://api.vm:80", "direct");
        check(&[("http_proxy", "http://h:1"), HP], "http://api.vm:80", "http_proxy http://h:1");
        check(&[HP], "http://api.vm:80", "direct");
        check(&[("ALL_PROXY", "http://all:1")], "http://api.vm:80", "ALL_PROXY http://all:1");
    }

    #[test]
    #[rustfmt::skip]
    fn proxy_urls() {
        check(&[("HTTPS_PROXY", "p")], A, "HTTPS_PROXY http://p:1080");
        check(&[("HTTPS_PROXY", "p:8080")], A, "HTTPS_PROXY http://p:8080");
        check(&[("HTTPS_PROXY", "HTTP://p:8080/")], A, "HTTPS_PROXY http://p:8080");
        check(&[("HTTPS_PROXY", "http://u:pw@p:8080")], A, "HTTPS_PROXY http://p:8080");
        check(&[("HTTPS_PROXY", "http://u:p@ss@p:8080")], A, "HTTPS_PROXY http://p:8080");
        check(&[("HTTPS_PROXY", "http://[fd00::1]:3128")], A, "HTTPS_PROXY http://[fd00::1]:3128");
        check(&[("HTTPS_PROXY", "http://10.0.0.1")], A, "HTTPS_PROXY http://10.0.0.1:1080");
        check(&[("HTTPS_PROXY", " http://p:1 ")], A, "HTTPS_PROXY http://p:1");
        check(&[("HTTPS_PROXY", "socks5://p:1080")], A, "error: HTTPS_PROXY is not a proxy URL: the scheme socks5://");
        check(&[("HTTPS_PROXY", "https://p:443")], A, "error: HTTPS_PROXY is not a proxy URL: the scheme https://");
        check(&[("https_proxy", "http://p:0")], A, "error: https_proxy is not a proxy URL: it has a bad port");
        check(&[("HTTPS_PROXY", "http://p:65536")], A, "error: HTTPS_PROXY is not a proxy URL: it has a bad port");
        check(&[("HTTPS_PROXY", "http://p:80x")], A, "error: HTTPS_PROXY is not a proxy URL: it has a bad port");
        check(&[("HTTPS_PROXY", "http://:80")], A, "error: HTTPS_PROXY is not a proxy URL: it has no host");
        check(&[("HTTPS_PROXY", "http://u:pw@")], A, "error: HTTPS_PROXY is not a proxy URL: it has no host");
        check(&[("HTTPS_PROXY", "http://[::1")], A, "error: HTTPS_PROXY is not a proxy URL: it has a bad IPv6");
        check(&[("HTTPS_PROXY", "http://p q")], A, "error: HTTPS_PROXY is not a proxy URL: it holds a space");
        check(&[("HTTPS_PROXY", "http://pr%78y")], A, "error: HTTPS_PROXY is not a proxy URL: its host");
        check(&[("HTTPS_PROXY", "http://u:%zz@p")], A, "error: HTTPS_PROXY is not a proxy URL: the user name or password");
        check(&[("ALL_PROXY", "garbage://")], A, "error: ALL_PROXY is not a proxy URL");
        // A malformed variable is refused even for a host that would not use it.
        check(&[("HTTPS_PROXY", "socks5://p"), ("NO_PROXY", "*")], A, "error: HTTPS_PROXY");
        check(&[("HTTPS_PROXY", "socks5://p")], "https://127.0.0.1:443", "error: HTTPS_PROXY");
    }

    #[test]
    #[rustfmt::skip]
    fn loopback_is_never_proxied() {
        check(&[HP], "https://localhost:443", "direct");
        check(&[HP], "https://LOCALHOST.:443", "direct");
        check(&[HP], "https://127.0.0.1:443", "direct");
        check(&[HP], "https://127.8.0.1:443", "direct");
        check(&[HP], "https://[::1]:443", "direct");
        check(&[HP], "https://::1:443", "direct");
        check(&[HP], "https://localhost.evil.com:443", "HTTPS_PROXY http://p:3128");
        check(&[HP], "https://128.0.0.1:443", "HTTPS_PROXY http://p:3128");
    }

    #[test]
    #[rustfmt::skip]
    fn no_proxy_lists() {
        check(&[HP, ("NO_PROXY", "*")], A, "direct");
        check(&[HP, ("NO_PROXY", " * ")], A, "direct");
        check(&[HP, ("NO_PROXY", "localhost, vm")], A, "direct");
        check(&[HP, ("NO_PROXY", "localhost,  .vm ,x")], A, "direct");
        check(&[HP, ("NO_PROXY", "vm.")], A, "direct");
        check(&[HP, ("NO_PROXY", "api.vm")], A, "direct");
        check(&[HP, ("NO_PROXY", "API.VM")], A, "direct");
        check(&[HP, ("NO_PROXY", "pi.vm")], A, "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", "other.vm")], A, "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", "x.api.vm")], A, "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", "a,*")], A, "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", "")], A, "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", ",,")], A, "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", "x vm")], A, "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", "x ,\tvm")], A, "direct");
        check(&[HP, ("NO_PROXY", "vm:443")], A, "direct");
        check(&[HP, ("NO_PROXY", "vm:8443")], A, "HTTPS_PROXY http://p:3128");
        check(&[HP, ("no_proxy", "vm"), ("NO_PROXY", "other")], A, "direct");
        check(&[HP, ("no_proxy", "other"), ("NO_PROXY", "vm")], A, "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", "10.1.2.3")], "https://10.1.2.3:443", "direct");
        check(&[HP, ("NO_PROXY", "10.0.0.0/8")], "https://10.1.2.3:443", "direct");
        check(&[HP, ("NO_PROXY", "10.1.2.3:443")], "https://10.1.2.3:443", "direct");
        check(&[HP, ("NO_PROXY", "10.1.2.3:80")], "https://10.1.2.3:443", "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", "11.0.0.0/8")], "https://10.1.2.3:443", "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", "1.2.3")], "https://10.1.2.3:443", "HTTPS_PROXY http://p:3128");
        check(&[HP, ("NO_PROXY", "fd00::1")], "https://[fd00::1]:443", "direct");
        check(&[HP, ("NO_PROXY", "[fd00::1]:443")], "https://[fd00::1]:443", "direct");
        check(&[HP, ("NO_PROXY", "fd00::/16")], "https://[fd00::7]:443", "direct");
        check(&[HP, ("NO_PROXY", "fd01::/16")], "https://[fd00::7]:443", "HTTPS_PROXY http://p:3128");
    }

    #[test]
    fn credentials_are_kept_apart_and_never_shown() {
        let env = |name: &str| {
            (name == "HTTPS_PROXY").then(|| "http://us%40er:p%3Ass@p:3128".to_string())
        };
        let Ok(Route::Via(proxy)) = route(&env, "https", "api.vm", 443) else {
            panic!("no proxy");
        };
        assert_eq!(proxy.credentials(), Some(("us@er", "p:ss")));
        assert_eq!(
            proxy.authorization().as_deref(),
            Some("Basic dXNAZXI6cDpzcw==")
        );
        let shown = format!("{} {proxy:?}", proxy.shown());
        assert!(
            !shown.contains("p:ss") && !shown.contains("us@er") && !shown.contains("p%3Ass"),
            "{shown}"
        );
        let env = |name: &str| (name == "HTTPS_PROXY").then(|| "http://u:s3cret@p:x".to_string());
        let message = route(&env, "https", "api.vm", 443).unwrap_err();
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn prop_routes_are_total_one_line_and_keep_loopback_direct() {
        prop::run(|rng| {
            let value = format!(
                "{}{}{}",
                rng.pick(&["http://", "", "socks5://", "HTTP://"]),
                rng.pick(&["u:pw@", "", "@", ":@"]),
                rng.any_text()
            );
            let no_proxy = rng.any_text();
            let env = |name: &str| match name {
                "HTTPS_PROXY" => Some(value.clone()),
                "NO_PROXY" => Some(no_proxy.clone()),
                _ => None,
            };
            let host = *rng.pick(&["localhost", "127.0.0.1", "[::1]", "api.vm", "10.0.0.1"]);
            match route(&env, "https", host, 443) {
                Ok(Route::Via(proxy)) => {
                    assert!(!is_loopback_host(host), "{host}");
                    assert!(!proxy.shown().contains('@'), "{value:?}");
                }
                Ok(Route::Direct) => {}
                Err(message) => {
                    assert!(!message.contains(['\n', '\r']), "{message:?}");
                    assert!(message.starts_with("HTTPS_PROXY "), "{message}");
                }
            }
        });
    }
}
