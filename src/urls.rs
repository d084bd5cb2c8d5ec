//! The written form of the base URLs the client credentials and tokens travel to.
//!
//! Pure string rules, no networking: `check_base` asks for the plain form
//! `scheme://host[:port][/path]` with `https` or `http`, and refuses with a message naming the
//! fix every form in which the host a reader sees may not be the host a URL parser connects
//! to: a user name (`user@`), a query, a fragment, a backslash, whitespace, control or
//! non-ASCII characters. Which host is connected, and the loopback rule for `http://`, are
//! decided on the parse of the HTTP client itself (`http::check_base`).

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
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let Some((host, after)) = rest
                .split_once(']')
                .filter(|(host, _)| host.parse::<Ipv6Addr>().is_ok())
            else {
                return Err(format!("{flag} has a bad IPv6 address: '{authority}'"));
            };
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("{flag} has a bad host: '{authority}'")),
                },
            }
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(format!("{flag} has no host: give a URL such as {EXAMPLE}"));
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ':')
    {
        return Err(format!(
            "{flag} has a host that is neither a name nor an address: '{host}'"
        ));
    }
    if let Some(port) = port {
        let valid =
            port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p != 0);
        if !valid {
            return Err(format!(
                "{flag} has a bad port '{port}': use a number from 1 to 65535"
            ));
        }
    }
    Ok(())
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
