//! `genesys-export check` against the simulator: one line per check, each `ok`, `warn` or
//! `FAIL`, the exit code an export would meet (0 when it would work), no file written, and
//! neither the secret nor a token shown.

use genesys_sim::{Fault, Faults, Sim, SimConfig, TlsCert};

use crate::util::*;

fn start(cfg: SimConfig) -> Sim {
    Sim::start(SimConfig {
        conversations: 50,
        ..cfg
    })
}

/// Runs `check` against `url` with `extra` arguments and `env` set, from an empty directory
/// that must stay empty; the secret and the simulator's tokens must not show.
fn check_at(sim: &Sim, url: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = Dir::new("check");
    let mut cmd = check_command_at(url);
    cmd.args(extra)
        .envs(env.iter().copied())
        .current_dir(&dir.path);
    let run = run_command(cmd);
    assert_eq!(dir.files(), Vec::<String>::new(), "check wrote a file");
    assert_no_secrets(&run, sim);
    for line in run.stdout.lines() {
        assert!(
            ["ok   ", "warn ", "FAIL "]
                .iter()
                .any(|m| line.starts_with(m)),
            "{line:?}"
        );
    }
    run
}

/// The checks of a setup where every step runs, in order (`hosts`: no region is named).
const CHECKS: [&str; 9] = [
    "hosts",
    "login host",
    "API host",
    "token",
    "permission analytics:conversationDetail:view",
    "permission routing:queue:view",
    "jobs availability",
    "clock",
    "rate limit",
];

fn check(sim: &Sim) -> Run {
    check_at(sim, &sim.url(), &[], &[])
}

/// The line about `what` (its first words after the mark), which must be there.
fn line<'a>(run: &'a Run, what: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(what)))
        .unwrap_or_else(|| panic!("no line about {what}:\n{}", run.stdout))
}

/// The marks of the lines, in order.
fn marks(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect()
}

#[test]
fn a_good_setup_is_all_ok_and_exits_0() {
    let sim = start(SimConfig::default());
    let run = check(&sim);
    run.expect_code(0);
    assert_eq!(marks(&run), ["ok"; 9], "{}", run.stdout);
    for what in CHECKS {
        line(&run, what);
    }
    assert!(line(&run, "token").contains("token lifetime 1h"));
    assert!(line(&run, "rate limit").contains("of 10000 requests left"));
    assert_eq!(run.stderr, "");
    let stats = sim.stats();
    assert_eq!(stats.details_requests, 1);
    assert_eq!(stats.queue_requests, 1);
    assert_eq!(stats.availability_requests, 1);
    assert_eq!(stats.job_submits, 0);
}

#[test]
fn a_wrong_secret_fails_the_token_check_with_exit_3() {
    let sim = start(SimConfig::default());
    let secret = [("GENESYSCLOUD_OAUTHCLIENT_SECRET", "not-the-secret")];
    let run = check_at(&sim, &sim.url(), &[], &secret);
    run.expect_code(3);
    assert!(line(&run, "token").starts_with("FAIL"), "{}", run.stdout);
    assert!(!run.stdout.contains("not-the-secret") && !run.stderr.contains("not-the-secret"));
    // Nothing is probed without a token.
    assert_eq!(sim.stats().api_requests, 0);
}

#[test]
fn an_unknown_region_fails_with_exit_3_before_any_request() {
    let sim = start(SimConfig::default());
    let mut cmd = check_command_at(&sim.url());
    cmd.args(["--region", "eu-west-9"]);
    let run = run_command(cmd);
    run.expect_code(3);
    assert_eq!(marks(&run), ["FAIL"], "{}", run.stdout);
    assert!(line(&run, "region").contains("unknown region 'eu-west-9'"));
    assert_eq!(sim.stats().connections, 0);
}

#[test]
fn a_missing_detail_permission_exits_4() {
    let sim = start(SimConfig {
        details_forbidden: true,
        ..SimConfig::default()
    });
    let run = check(&sim);
    run.expect_code(4);
    let fail = line(&run, "permission analytics:conversationDetail:view");
    assert!(fail.starts_with("FAIL") && fail.contains("403"), "{fail}");
    // The other permissions are still probed and reported.
    assert!(line(&run, "permission routing:queue:view").starts_with("ok"));
}

#[test]
fn a_missing_queue_permission_is_a_warning_naming_it() {
    let sim = start(SimConfig {
        queues_forbidden: true,
        ..SimConfig::default()
    });
    let run = check(&sim);
    run.expect_code(0);
    let warn = line(&run, "permission routing:queue:view");
    assert!(warn.starts_with("warn"), "{warn}");
    assert!(warn.contains("queue_names empty"), "{warn}");
    assert_eq!(marks(&run).iter().filter(|m| **m != "ok").count(), 1);
}

#[test]
fn refused_jobs_are_a_warning_naming_the_mode_that_still_works() {
    let sim = start(SimConfig {
        jobs_forbidden: true,
        ..SimConfig::default()
    });
    let run = check(&sim);
    run.expect_code(0);
    let warn = line(&run, "jobs availability");
    assert!(
        warn.starts_with("warn") && warn.contains("--mode query"),
        "{warn}"
    );
}

#[test]
fn a_clock_10_minutes_off_is_a_warning_with_the_offset() {
    let sim = start(SimConfig {
        date_offset_secs: 600,
        ..SimConfig::default()
    });
    let run = check(&sim);
    run.expect_code(0);
    let warn = line(&run, "clock");
    // The Date header has whole seconds: 10m or 10m1s.
    assert!(warn.starts_with("warn"), "{warn}");
    assert!(
        warn.contains(" 10m") && warn.contains("behind the API's"),
        "{warn}"
    );
}

#[test]
fn a_429_on_a_probe_is_retried_not_a_failure() {
    let sim = start(SimConfig {
        faults: Faults {
            script: vec![(
                1,
                Fault::RateLimit {
                    retry_after: Some("0".into()),
                },
            )],
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    let run = check(&sim);
    run.expect_code(0);
    assert_eq!(marks(&run), ["ok"; 9], "{}", run.stdout);
    assert!(run.stderr.contains("retry 1/10"), "{}", run.stderr);
    assert_eq!(sim.stats().details_requests, 2);
}

#[test]
fn a_host_that_cannot_be_reached_fails_after_the_retries() {
    let sim = start(SimConfig::default());
    // A port nobody listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let run = check_at(&sim, &url, &["--max-retries", "1", "--backoff", "0s"], &[]);
    run.expect_code(5);
    assert_eq!(marks(&run), ["ok", "FAIL", "FAIL"], "{}", run.stdout);
    assert!(line(&run, "login host").contains(&url), "{}", run.stdout);
}

#[test]
fn tls_is_checked_per_host_and_an_unknown_ca_exits_1_naming_ca_file() {
    let sim = start(SimConfig {
        tls: Some(TlsCert::Valid),
        ..SimConfig::default()
    });
    let run = check(&sim);
    run.expect_code(1);
    assert_eq!(marks(&run), ["ok", "FAIL", "FAIL"], "{}", run.stdout);
    for host in ["login host", "API host"] {
        let fail = line(&run, host);
        assert!(
            fail.contains("UnknownIssuer") && fail.contains("--ca-file"),
            "{fail}"
        );
    }
    assert_eq!(sim.stats().token_requests, 0);
    let ca = Dir::new("check-ca");
    let pem = ca.join("ca.pem");
    std::fs::write(&pem, sim.ca_pem().unwrap()).unwrap();
    let run = check_at(&sim, &sim.url(), &["--ca-file", pem.to_str().unwrap()], &[]);
    run.expect_code(0);
    assert_eq!(marks(&run), ["ok"; 9], "{}", run.stdout);
}

#[test]
fn check_help_and_export_options() {
    let sim = start(SimConfig::default());
    let mut cmd = check_command_at(&sim.url());
    cmd.arg("--help");
    let run = run_command(cmd);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with("genesys-export check:"),
        "{}",
        run.stdout
    );
    let run = check_at(&sim, &sim.url(), &["-o", "out.csv"], &[]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("--output is an export option"),
        "{}",
        run.stderr
    );
    assert_eq!(sim.stats().connections, 0);
}

#[test]
fn check_refuses_every_export_option_naming_it() {
    let sim = start(SimConfig::default());
    for extra in [
        &["--columns", "conversation_id"][..],
        &["--queue", "Billing"],
        &["--media", "voice"],
        &["--pending", "p.json"],
        &["--filter-file", "f.json"],
        &["--attribute", "a"],
        &["--no-progress"],
        &["--ended-only"],
    ] {
        let run = check_at(&sim, &sim.url(), extra, &[]);
        run.expect_code(2);
        let want = format!("error: {} is an export option: 'check' takes", extra[0]);
        assert!(run.stderr.starts_with(&want), "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains("check --help"), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert_eq!(run.stdout, "");
    }
    assert_eq!(sim.stats().connections, 0);
}

#[test]
fn check_with_log_format_json_writes_each_line_as_one_object() {
    let sim = start(SimConfig {
        queues_forbidden: true,
        ..SimConfig::default()
    });
    let by_option = ["--log-format", "json"];
    let by_variable = [("GENESYS_EXPORT_LOG_FORMAT", "json")];
    for (extra, env) in [(&by_option[..], &[][..]), (&[][..], &by_variable[..])] {
        let mut cmd = check_command_at(&sim.url());
        cmd.args(extra).envs(env.iter().copied());
        let run = run_command(cmd);
        run.expect_code(0);
        let lines = json_log(&run.stdout);
        assert_eq!(lines.len(), 9, "{}", run.stdout);
        let checks: Vec<&str> = lines.iter().map(|l| l["check"].as_str().unwrap()).collect();
        assert_eq!(checks, CHECKS);
        for line in &lines {
            let message = line["message"].as_str().unwrap();
            assert!(
                message.starts_with(line["check"].as_str().unwrap()),
                "{line}"
            );
            assert!(line["time"].is_string(), "{line}");
            let (mark, level) = (
                line["mark"].as_str().unwrap(),
                line["level"].as_str().unwrap(),
            );
            let want = if message.starts_with("permission routing") {
                ("warn", "warn")
            } else {
                ("ok", "info")
            };
            assert_eq!((mark, level), want, "{line}");
        }
        assert_eq!(run.stderr, "");
    }
}

#[test]
fn an_exhausted_rate_limit_is_blamed_instead_of_the_permissions() {
    let sim = start(SimConfig {
        faults: Faults {
            p_429: 1.0,
            retry_after_secs: Some(0),
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    let run = check_at(
        &sim,
        &sim.url(),
        &["--max-retries", "2", "--backoff", "0s"],
        &[],
    );
    run.expect_code(5);
    let fails: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert_eq!(fails.len(), 1, "{}", run.stdout);
    let fail = line(&run, "rate limit");
    assert!(fail.starts_with("FAIL rate limit: exhausted"), "{fail}");
    assert!(fail.contains("HTTP 429"), "{fail}");
    for what in [
        "permission analytics:conversationDetail:view",
        "permission routing:queue:view",
        "jobs availability",
    ] {
        let told = line(&run, what);
        assert!(
            told.starts_with("warn") && told.contains("rate limit is exhausted"),
            "{told}"
        );
    }
    assert_eq!(
        marks(&run),
        ["ok", "ok", "ok", "ok", "warn", "warn", "warn", "ok", "FAIL"]
    );
    // The details query and its two retries; the other steps would only meet the limit again.
    let stats = sim.stats();
    assert_eq!(stats.details_requests, 3);
    assert_eq!(stats.queue_requests + stats.availability_requests, 0);
}

#[test]
fn a_dead_proxy_is_named_once_on_the_fail_lines_after_the_host_asked_for() {
    use genesys_sim::{ConnectProxy, ProxyConfig};
    let sim = start(SimConfig {
        tls: Some(TlsCert::Valid),
        ..SimConfig::default()
    });
    let mut proxy = ConnectProxy::start(ProxyConfig {
        credentials: None,
        map: Vec::new(),
    });
    proxy.stop();
    let dir = Dir::new("check-proxy");
    let ca = write_ca_file(&sim, &dir);
    let (api, login) = ("https://api.sim.test", "https://login.sim.test");
    let mut cmd = check_command_bases(api, login);
    cmd.args(["--max-retries", "1", "--backoff", "0s"])
        .args(["--ca-file", ca.to_str().unwrap()])
        .env("HTTPS_PROXY", proxy.url());
    let run = run_command(cmd);
    run.expect_code(5);
    assert_eq!(marks(&run), ["ok", "FAIL", "FAIL"], "{}", run.stdout);
    for (what, host) in [("login host", login), ("API host", api)] {
        let fail = line(&run, what);
        assert!(fail.contains(&format!(": {host} not reached: ")), "{fail}");
        let proxy = format!("through the proxy {} from HTTPS_PROXY", proxy.url());
        assert_eq!(fail.matches(&proxy).count(), 1, "{fail}");
    }
    assert_eq!(sim.stats().connections, 0);
}
