//! A real CONNECT proxy in front of the HTTPS simulator. The client is pointed at names no DNS
//! knows (`api.sim.test`, `login.sim.test`); the proxy maps them to the simulator, so a run
//! that reaches the simulator went through the proxy, and one that went direct fails to
//! resolve the name and leaves the proxy's count at zero. Credentials in the proxy URL work and
//! are never shown; `NO_PROXY` and `ALL_PROXY` follow curl's rules; a malformed proxy URL, a
//! 407 and a proxy that is down each end the run with their own exit code and line. Base URLs
//! that hide another host behind `?@` or `#@` are refused before anything is sent.

use std::process::Command;

use genesys_sim::{ConnectProxy, ProxyConfig, Sim, SimConfig, TlsCert};

use crate::util::*;

const API: &str = "https://api.sim.test";
const LOGIN: &str = "https://login.sim.test";
const API_TARGET: &str = "api.sim.test:443";
const LOGIN_TARGET: &str = "login.sim.test:443";
const PROXY_USER: &str = "proxy-user";
const PROXY_PASSWORD: &str = "proxy-pw-7f3a9c";

fn start_sim() -> Sim {
    Sim::start(SimConfig {
        conversations: 300,
        tls: Some(TlsCert::Valid),
        ..SimConfig::default()
    })
}

/// A proxy mapping both simulator names to `sim`, asking for credentials when `auth` is set.
fn start_proxy(sim: &Sim, auth: bool) -> ConnectProxy {
    let addr = sim_addr(sim);
    ConnectProxy::start(ProxyConfig {
        credentials: auth.then(|| (PROXY_USER.to_string(), PROXY_PASSWORD.to_string())),
        map: vec![
            (API_TARGET.to_string(), addr),
            (LOGIN_TARGET.to_string(), addr),
        ],
    })
}

/// An export of the usual range from `api` and `login`, trusting the simulator's CA, into
/// `dir`, with the environment `vars` and the arguments `more`.
fn proxied(
    sim: &Sim,
    dir: &Dir,
    api: &str,
    login: &str,
    vars: &[(&str, &str)],
    more: &Args,
) -> Run {
    let ca = write_ca_file(sim, dir);
    let args = Args::range()
        .mode("query")
        .opt("--ca-file", ca.to_str().unwrap())
        .out(&dir.join("c.csv"))
        .with(more);
    let mut cmd: Command = command_bases(api, login);
    cmd.args(&args).envs(vars.iter().copied());
    run_command(cmd)
}

/// Neither the proxy password nor the client's secrets in the output or any file of `dir`.
fn assert_nothing_secret(run: &Run, sim: &Sim, dir: &Dir) {
    assert_no_secrets(run, sim);
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains(PROXY_PASSWORD),
            "{name} shows the proxy password: {text}"
        );
    }
    for file in dir.files() {
        let bytes = std::fs::read(dir.join(&file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(PROXY_PASSWORD),
            "{file} holds the proxy password"
        );
        assert!(
            !text.contains(CLIENT_SECRET),
            "{file} holds the client secret"
        );
    }
}

#[test]
fn an_export_through_https_proxy_with_credentials_is_exact_and_never_shows_them() {
    let sim = start_sim();
    let proxy = start_proxy(&sim, true);
    let dir = Dir::new("proxy");
    let url = proxy.url_with(PROXY_USER, PROXY_PASSWORD);
    let run = proxied(
        &sim,
        &dir,
        API,
        LOGIN,
        &[("HTTPS_PROXY", &url)],
        &Args::new(),
    );
    run.expect_code(0);
    assert_nothing_secret(&run, &sim, &dir);
    let out = dir.join("c.csv");
    assert_ids_eq(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    assert!(proxy.connects_to(API_TARGET) > 0);
    assert!(proxy.connects_to(LOGIN_TARGET) > 0);
    assert_eq!(proxy.refused(), 0);
}

#[test]
fn lowercase_https_proxy_beats_uppercase_and_a_dead_all_proxy_beats_neither() {
    let sim = start_sim();
    let proxy = start_proxy(&sim, false);
    let mut dead = start_proxy(&sim, false);
    dead.stop();
    let check = |vars: &[(&str, &str)]| {
        let dir = Dir::new("proxy-all");
        let run = proxied(&sim, &dir, API, LOGIN, vars, &Args::new());
        run.expect_code(0);
        assert_ids_eq(
            &csv_ids(&read(&dir.join("c.csv"))),
            &sim.ground_truth(ts(FROM), ts(TO)),
        );
    };
    check(&[("ALL_PROXY", &dead.url()), ("HTTPS_PROXY", &proxy.url())]);
    check(&[("all_proxy", &dead.url()), ("https_proxy", &proxy.url())]);
    check(&[("https_proxy", &proxy.url()), ("HTTPS_PROXY", &dead.url())]);
    check(&[("ALL_PROXY", &proxy.url())]);
    assert!(proxy.connects_to(API_TARGET) >= 4);
    assert_eq!(dead.connects(), 0);
}

/// With the names covered by `NO_PROXY`, the client connects to them itself: the proxy sees no
/// CONNECT, and the names (known to no DNS) do not resolve, so the run gives up.
#[test]
fn no_proxy_with_spaces_suffixes_ports_or_star_goes_direct() {
    let sim = start_sim();
    let proxy = start_proxy(&sim, false);
    let check = |no_proxy: &str| {
        let dir = Dir::new("proxy-none");
        let vars = [
            ("HTTPS_PROXY", proxy.url()),
            ("NO_PROXY", no_proxy.to_string()),
        ];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let retries = Args::new().opt("--max-retries", "0");
        let run = proxied(&sim, &dir, API, LOGIN, &vars, &retries);
        run.expect_code(5);
        assert_eq!(proxy.connects(), 0, "NO_PROXY={no_proxy:?}: {}", run.stderr);
        assert!(!run.stderr.contains("through the proxy"), "{}", run.stderr);
        assert!(run.stderr.contains("login.sim.test"), "{}", run.stderr);
    };
    check("localhost, sim.test");
    check(" .sim.test ");
    check("*");
    check("other.example, login.sim.test:443");
    check("SIM.TEST.");
}

#[test]
fn a_malformed_proxy_url_exits_2_naming_the_variable() {
    let sim = start_sim();
    let check = |variable: &str, value: &str, why: &str| {
        let dir = Dir::new("proxy-bad");
        let run = proxied(&sim, &dir, API, LOGIN, &[(variable, value)], &Args::new());
        run.expect_code(2);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert!(
            lines[0].contains(&format!("{variable} is not a proxy URL")),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains(why), "{}", lines[0]);
        assert_nothing_secret(&run, &sim, &dir);
        assert_eq!(dir.files(), ["ca.pem"]);
    };
    check("HTTPS_PROXY", "socks5://127.0.0.1:1080", "socks5://");
    check(
        "https_proxy",
        &format!("http://u:{PROXY_PASSWORD}@p:99999"),
        "bad port",
    );
    check("ALL_PROXY", "http://", "no host");
    check("HTTPS_PROXY", "http://pr oxy:3128", "space");
    let stats = sim.stats();
    assert_eq!(stats.connections, 0, "nothing was sent");
}

#[test]
fn a_407_from_the_proxy_exits_1_at_once_with_a_clear_line() {
    let sim = start_sim();
    let proxy = start_proxy(&sim, true);
    let check = |url: &str| {
        let dir = Dir::new("proxy-407");
        let before = proxy.refused();
        let run = proxied(
            &sim,
            &dir,
            API,
            LOGIN,
            &[("HTTPS_PROXY", url)],
            &Args::new(),
        );
        run.expect_code(1);
        assert_nothing_secret(&run, &sim, &dir);
        let line = format!(
            "proxy {} refused the credentials (HTTP 407) for {LOGIN}: check the user and password in HTTPS_PROXY",
            proxy.url()
        );
        assert!(run.stderr.contains(&line), "{}", run.stderr);
        assert!(!run.stderr.contains("retry"), "{}", run.stderr);
        assert_eq!(proxy.refused() - before, 1, "no retry");
        assert_eq!(dir.files(), ["ca.pem"]);
    };
    check(&proxy.url_with(PROXY_USER, "wrong-pw-0000"));
    check(&proxy.url_with("someone", PROXY_PASSWORD));
    check(&proxy.url());
    assert_eq!(sim.stats().connections, 0);
}

#[test]
fn a_proxy_that_is_down_is_retried_then_reported_naming_it() {
    let sim = start_sim();
    let mut proxy = start_proxy(&sim, true);
    proxy.stop();
    let dir = Dir::new("proxy-down");
    let url = proxy.url_with(PROXY_USER, PROXY_PASSWORD);
    let budget = Args::new().opt("--max-retries", "2").backoff("1ms");
    let run = proxied(&sim, &dir, API, LOGIN, &[("HTTPS_PROXY", &url)], &budget);
    run.expect_code(5);
    assert_nothing_secret(&run, &sim, &dir);
    let named = format!("through the proxy {} from HTTPS_PROXY", proxy.url());
    assert_eq!(run.stderr.matches("retry ").count(), 2, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("after 2 retries"), "{last}");
    assert!(last.contains(&named), "{last}");
    assert_eq!(sim.stats().connections, 0);
}

#[test]
fn a_loopback_login_with_a_proxied_api_sends_the_token_exchange_direct() {
    let sim = start_sim();
    let proxy = start_proxy(&sim, true);
    let dir = Dir::new("proxy-login");
    let url = proxy.url_with(PROXY_USER, PROXY_PASSWORD);
    let login = sim.url();
    assert!(login.starts_with("https://localhost:"), "{login}");
    let run = proxied(
        &sim,
        &dir,
        API,
        &login,
        &[("HTTPS_PROXY", &url)],
        &Args::new(),
    );
    run.expect_code(0);
    assert_nothing_secret(&run, &sim, &dir);
    assert_ids_eq(
        &csv_ids(&read(&dir.join("c.csv"))),
        &sim.ground_truth(ts(FROM), ts(TO)),
    );
    assert!(sim.stats().token_requests >= 1);
    assert!(proxy.connects_to(API_TARGET) > 0);
    assert_eq!(
        proxy.connects(),
        proxy.connects_to(API_TARGET),
        "only the API went through"
    );
}

/// `http://host?@127.0.0.1` connects to `host`: the `@` is in the query, not a user name. It
/// passed the loopback rule when the rule read the host after the last `@`, and the Basic
/// header with the secret went in clear to `host`.
#[test]
fn base_url_with_query_or_fragment_before_at_sends_the_secret_to_another_host() {
    let sim = Sim::start(SimConfig {
        conversations: 10,
        ..SimConfig::default()
    });
    let port = sim_addr(&sim).port();
    let sim_url = sim.url();
    for trick in ["?@", "#@", "/?@", "/#@", "\\@", "%40"] {
        let url = format!("http://sim.example{trick}127.0.0.1:{port}");
        for (api, login) in [
            (url.as_str(), sim_url.as_str()),
            (sim_url.as_str(), url.as_str()),
        ] {
            let dir = Dir::new("base-trick");
            let mut cmd = command_bases(api, login);
            cmd.args(&Args::range().out(&dir.join("c.csv")));
            let run = run_command(cmd);
            run.expect_code(2);
            assert_no_secrets(&run, &sim);
            let flag = if api == url {
                "--api-base"
            } else {
                "--login-base"
            };
            assert!(run.stderr.contains(flag), "{url}: {}", run.stderr);
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
            assert_eq!(dir.files(), Vec::<String>::new());
        }
    }
    assert_eq!(sim.stats().connections, 0, "nothing was sent");
}

#[test]
fn check_connects_through_the_proxy_and_passes() {
    let sim = start_sim();
    let proxy = start_proxy(&sim, true);
    let dir = Dir::new("proxy-check");
    let ca = write_ca_file(&sim, &dir);
    let url = proxy.url_with(PROXY_USER, PROXY_PASSWORD);
    let mut cmd = check_command_bases(API, LOGIN);
    cmd.args(["--ca-file", ca.to_str().unwrap()])
        .env("HTTPS_PROXY", &url)
        .current_dir(&dir.path);
    let run = run_command(cmd);
    run.expect_code(0);
    assert_nothing_secret(&run, &sim, &dir);
    assert_eq!(dir.files(), ["ca.pem"], "check wrote a file");
    assert!(
        run.stdout.lines().all(|l| l.starts_with("ok ")),
        "{}",
        run.stdout
    );
    assert!(proxy.connects_to(API_TARGET) > 0);
    assert!(proxy.connects_to(LOGIN_TARGET) > 0);
}

/// `check` through a proxy that is down blames the proxy on each host's line, as the export
/// does: the hosts themselves were never reached.
#[test]
fn check_with_a_dead_proxy_names_the_proxy_on_its_fail_lines() {
    let sim = start_sim();
    let mut proxy = start_proxy(&sim, true);
    proxy.stop();
    let dir = Dir::new("proxy-check-dead");
    let ca = write_ca_file(&sim, &dir);
    let url = proxy.url_with(PROXY_USER, PROXY_PASSWORD);
    let mut cmd = check_command_bases(API, LOGIN);
    cmd.args(["--ca-file", ca.to_str().unwrap()])
        .args(["--max-retries", "1", "--backoff", "1ms"])
        .env("HTTPS_PROXY", &url)
        .current_dir(&dir.path);
    let run = run_command(cmd);
    run.expect_code(5);
    assert_nothing_secret(&run, &sim, &dir);
    let named = format!("through the proxy {} from HTTPS_PROXY", proxy.url());
    for host in ["login host", "API host"] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("FAIL {host}:")))
            .unwrap_or_else(|| panic!("no FAIL line for the {host}: {}", run.stdout));
        assert!(line.contains(&named), "{line}");
    }
    assert_eq!(sim.stats().connections, 0);
}
