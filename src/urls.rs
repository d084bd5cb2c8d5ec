//! The written form of the base URLs the client credentials and tokens travel to.
//!
//! Pure string rules, no networking: `check_base` asks for the plain form
//! `scheme://host[:port][/path]` with `https` or `http`, and refuses with a message naming the
//! fix every form in which the host a reader sees may not be the host a URL parser connects
//! to: a user name (`user@`), a query, a fragment, a backslash, whitespace, control or
//! non-ASCII characters. Which host is connected, and the loopback rule for `http://`, are
//! decided on the parse of the HTTP client itself (`http::check_base`).
//!
//! `parse_host_port` is the one `host[:port]` rule, shared by base URLs and proxy URLs
//! (`proxy.rs`); `split_host_port`, its syntax alone, takes `no_proxy` entries apart.

use std::net::Ipv6Addr;

/// An example of a base URL for messages.
const EXAMPLE: &str = "https://api.mypurecloud.ie";

/// Checks the written form of the base URL given as `flag`: `https://` or `http://`, in the
/// plain form `scheme://host[:port][/path]`. Returns it without trailing slashes, or a
/// one-line message naming `flag` and the fix.
pub fn check_base(flag: &str, url: &str) -> Result<String, String> {
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(format!(
            "{flag} holds a space, a control or a non-ASCII character: give a plain URL such as {EXAMPLE}"
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{flag} must be a URL such as {EXAMPLE}, not '{url}'"
        ));
    };
    let rest = rest.trim_end_matches('/');
    let url = format!("{scheme}://{rest}");
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(format!(
            "{flag} must start with https://, not '{scheme}://'"
        ));
    }
    if rest.contains(['?', '#', '\\']) {
        return Err(format!(
            "{flag} must not hold a query (?), a fragment (#) or a backslash: give the base URL only, such as {EXAMPLE}"
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "{flag} must not hold a user name (user@): the client id and secret travel in a header, not in the URL"
        ));
    }
    check_authority(flag, authority)?;
    let path = &rest[authority.len()..];
    if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(c))
    {
        return Err(format!(
            "{flag} has a path with a character a URL does not allow: give the base URL only, such as {EXAMPLE}"
        ));
    }
    Ok(url)
}

/// `host[:port]` with a DNS name, an IPv4 address or a bracketed IPv6 address.
fn check_authority(flag: &str, authority: &str) -> Result<(), String> {
    parse_host_port(authority)
        .map(drop)
        .map_err(|bad| match bad {
            BadHostPort::Ipv6 => format!("{flag} has a bad IPv6 address: '{authority}'"),
            BadHostPort::AfterBracket => format!("{flag} has a bad host: '{authority}'"),
            BadHostPort::NoHost => format!("{flag} has no host: give a URL such as {EXAMPLE}"),
            BadHostPort::Host => {
                format!("{flag} has a host that is neither a name nor an address: '{authority}'")
            }
            BadHostPort::Port => {
                format!("{flag} has a bad port in '{authority}': use a number from 1 to 65535")
            }
        })
}

/// What is wrong with a `host[:port]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadHostPort {
    /// Brackets around something that is not an IPv6 address, or an unclosed bracket, or an
    /// IPv6 address without brackets.
    Ipv6,
    /// Something other than `:port` after the closing bracket.
    AfterBracket,
    NoHost,
    /// A character a name or an address does not hold.
    Host,
    /// Not a number from 1 to 65535 in digits.
    Port,
}

/// A `host[:port]` taken apart: the host (an IPv6 address without its brackets) and the port,
/// if one was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPort<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
}

/// The host and the port text of `host[:port]`, with the syntax alone checked: an IPv6
/// address in brackets (given back without them), and an unbracketed text with two colons or
/// more is a bare IPv6 address (refused as `Ipv6`: it needs brackets to carry a port).
pub fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), BadHostPort> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .filter(|(host, _)| host.parse::<Ipv6Addr>().is_ok())
            .ok_or(BadHostPort::Ipv6)?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(BadHostPort::AfterBracket),
            },
        };
    }
    match authority.split_once(':') {
        Some((_, port)) if port.contains(':') => Err(BadHostPort::Ipv6),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

/// `host[:port]` checked, the one rule for base URLs and proxy URLs: a name (ASCII letters,
/// digits, `-`, `.`, `_`), an IPv4 address or a bracketed IPv6 address, and a port of digits
/// from 1 to 65535; `host:` with nothing after the colon has no port.
pub fn parse_host_port(authority: &str) -> Result<HostPort<'_>, BadHostPort> {
    let (host, port) = split_host_port(authority)?;
    if host.is_empty() {
        return Err(BadHostPort::NoHost);
    }
    let bracketed = authority.starts_with('[');
    if !bracketed
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(BadHostPort::Host);
    }
    let port = match port {
        None | Some("") => None,
        Some(port) => Some(parse_port(port).ok_or(BadHostPort::Port)?),
    };
    Ok(HostPort { host, port })
}

/// A port: digits only (no sign, no blank), from 1 to 65535.
fn parse_port(text: &str) -> Option<u16> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<u16>().ok())
        .flatten()
        .filter(|p| *p != 0)
}

/// A base-URL check: the written-form rules here, or `http::check_base` on top of them.
#[cfg(test)]
pub type CheckBase = fn(&str, &str) -> Result<String, String>;

/// One row of a base-URL test table: `check_base` of `--api-base url` gives `want`, the URL
/// returned or a fragment of the one-line error, which names the flag first.
#[cfg(test)]
#[track_caller]
pub fn check_row(check_base: CheckBase, url: &str, want: Result<&str, &str>) {
    match (check_base("--api-base", url), want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "{url}"),
        (Err(got), Err(want)) => {
            assert!(got.contains(want), "{url}: '{got}' lacks '{want}'");
            assert!(got.starts_with("--api-base "), "{url}: {got}");
        }
        (got, want) => panic!("{url}: got {got:?}, want {want:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prop;

    #[track_caller]
    fn check(url: &str, want: Result<&str, &str>) {
        check_row(check_base, url, want);
    }

    #[test]
    #[rustfmt::skip]
    fn base_urls() {
        check("https://api.mypurecloud.ie", Ok("https://api.mypurecloud.ie"));
        check("https://api.mypurecloud.ie/", Ok("https://api.mypurecloud.ie"));
        check("https://gw.example.com:8443/genesys", Ok("https://gw.example.com:8443/genesys"));
        check("HTTPS://api.mypurecloud.ie", Ok("HTTPS://api.mypurecloud.ie"));
        check("http://127.0.0.1:1", Ok("http://127.0.0.1:1"));
        check("http://localhost", Ok("http://localhost"));
        check("http://[::1]:8080/x", Ok("http://[::1]:8080/x"));
        check("http://127.8.0.1", Ok("http://127.8.0.1"));
        check("ftp://x", Err("must start with https://"));
        check("api.example.com", Err("must be a URL"));
        check("https://", Err("has no host"));
        check("https://:443", Err("has no host"));
        check("https://api.example.com:0", Err("bad port"));
        check("https://api.example.com:65536", Err("bad port"));
        check("https://api.example.com:+443", Err("bad port"));
        check("https://[::1", Err("bad IPv6 address"));
        check("https://[::1]x", Err("bad host"));
        check("https://api.exam%70le.com", Err("neither a name nor an address"));
        check("https://api.example.com\\@x", Err("backslash"));
        check("https://api.example.com/a b", Err("a space"));
        check("https://api.example.com/a<b>", Err("a path with a character"));
        check("https://api.example.com/gw@x/%41", Ok("https://api.example.com/gw@x/%41"));
        check(" https://api.example.com", Err("a space"));
        check("https://api.example.com\n", Err("control"));
        check("https://api.exämple.com", Err("non-ASCII"));
        check("https://user@api.example.com", Err("user name"));
        check("https://user:pw@api.example.com", Err("user name"));
    }

    /// `http://host?@127.0.0.1` connects to `host`: the `@` lies in the query, not in a user
    /// name. Its written form is refused before any parse decides which host it names.
    #[test]
    fn base_url_with_query_or_fragment_before_at_sends_the_secret_to_another_host() {
        for url in [
            "http://host?@127.0.0.1",
            "http://host#@127.0.0.1",
            "http://host\\@127.0.0.1",
            "http://host/?@127.0.0.1",
            "http://user@127.0.0.1",
        ] {
            assert!(check_base("--login-base", url).is_err(), "{url}");
        }
    }

    #[track_caller]
    fn host_port(authority: &str, want: Result<(&str, Option<u16>), BadHostPort>) {
        let got = parse_host_port(authority).map(|h| (h.host, h.port));
        assert_eq!(got, want, "{authority}");
    }

    #[test]
    #[rustfmt::skip]
    fn host_and_port() {
        host_port("api.example.com", Ok(("api.example.com", None)));
        host_port("api.example.com:8443", Ok(("api.example.com", Some(8443))));
        host_port("p:", Ok(("p", None)));
        host_port("proxy_1.corp", Ok(("proxy_1.corp", None)));
        host_port("10.0.0.1:3128", Ok(("10.0.0.1", Some(3128))));
        host_port("[::1]", Ok(("::1", None)));
        host_port("[fd00::1]:3128", Ok(("fd00::1", Some(3128))));
        host_port("::1", Err(BadHostPort::Ipv6));
        host_port("[::1", Err(BadHostPort::Ipv6));
        host_port("[host]:1", Err(BadHostPort::Ipv6));
        host_port("[::1]x", Err(BadHostPort::AfterBracket));
        host_port("", Err(BadHostPort::NoHost));
        host_port(":80", Err(BadHostPort::NoHost));
        host_port("pr%78y", Err(BadHostPort::Host));
        host_port("a b", Err(BadHostPort::Host));
        host_port("p:0", Err(BadHostPort::Port));
        host_port("p:65536", Err(BadHostPort::Port));
        host_port("p:+80", Err(BadHostPort::Port));
        host_port("p:80x", Err(BadHostPort::Port));
    }

    #[test]
    fn prop_check_base_is_one_line_and_plain() {
        prop::run(|rng| {
            let url = format!(
                "{}{}{}",
                rng.pick(&["http://", "https://", "HTTP://", "", "ftp://"]),
                rng.pick(&["localhost", "127.0.0.1", "[::1]", "host", "", "a@b", "x?y"]),
                rng.any_text()
            );
            match check_base("--api-base", &url) {
                Ok(base) => {
                    assert!(base.to_ascii_lowercase().starts_with("http"), "{url:?}");
                    assert!(!base.contains(['?', '#', '\\']), "{url:?}");
                    let authority = base.split('/').nth(2).unwrap_or_default();
                    assert!(!authority.contains('@'), "{url:?}");
                }
                Err(message) => assert!(!message.contains(['\n', '\r']), "{message:?}"),
            }
        });
    }
}
