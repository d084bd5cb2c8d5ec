//! The command-line contract: bad input, authentication and permission failures, exit codes.

use genesys_sim::{Sim, SimConfig};

use crate::util::*;

/// One day, given as dates.
fn one_day() -> Args {
    Args::between("2026-11-01", "2026-11-02")
}

fn sim() -> Sim {
    Sim::start(SimConfig {
        conversations: 300,
        ..SimConfig::default()
    })
}

#[test]
fn bad_input_exits_2_before_any_request_or_file() {
    let sim = sim();
    let dir = Dir::new("bad-input");
    let existing = dir.join("existing.csv");
    std::fs::write(&existing, "keep me\n").unwrap();
    let out = dir.join("out.csv");
    let missing_dir = dir.join("no/such/dir/out.csv");
    let check = |args: Args, want: &str| {
        let run = export(&sim, &args);
        run.expect_code(2);
        assert!(run.stderr.contains(want), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    };
    let range = |from, to| Args::between(from, to).out(&out);
    let ca = |path| one_day().opt("--ca-file", path);
    check(range("2026-11-02", "2026-11-01"), "must be before --to");
    check(range("1 Nov", "2026-11-02"), "'1 Nov' is not a time");
    check(range("2026-11-01T00:00:00", "2026-11-02"), "no UTC offset");
    check(one_day().window("fortnight"), "--window");
    check(one_day().page_size("500"), "--page-size");
    check(one_day().opt("--max-wait", "x"), "--max-wait");
    check(one_day().format("parquet"), "--format");
    check(ca("/no/such/ca.pem"), "cannot read --ca-file");
    check(ca(existing.to_str().unwrap()), "holds no PEM certificate");
    check(one_day().flag("--frobnicate"), "option '--frobnicate'");
    check(one_day().out(&missing_dir), "does not exist");
    check(one_day().out(&existing), "already exists: pass --force");
    assert_eq!(
        sim.stats().token_requests + sim.stats().api_requests,
        0,
        "no request was sent"
    );
    assert_eq!(dir.files(), ["existing.csv"]);
    assert_eq!(read(&existing), "keep me\n");
}

#[test]
fn missing_credentials_or_region_exit_2() {
    let sim = sim();
    for unset in [
        "GENESYSCLOUD_OAUTHCLIENT_ID",
        "GENESYSCLOUD_OAUTHCLIENT_SECRET",
    ] {
        let mut cmd = command(&sim);
        cmd.env_remove(unset).args(&one_day());
        let run = run_command(cmd);
        run.expect_code(2);
        assert!(run.stderr.contains(unset), "{}", run.stderr);
    }
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_genesys-export"));
    cmd.env_clear()
        .env("GENESYS_CLIENT_ID", "a")
        .env("GENESYS_CLIENT_SECRET", "b")
        .env("GENESYS_REGION", "moon-1")
        .arg("conversations")
        .args(&one_day());
    let run = run_command(cmd);
    run.expect_code(2);
    assert!(
        run.stderr.contains("unknown region 'moon-1'"),
        "{}",
        run.stderr
    );

    // Credentials never travel in clear text to a host that is not loopback.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_genesys-export"));
    cmd.env_clear()
        .env("GENESYS_CLIENT_ID", "a")
        .env("GENESYS_CLIENT_SECRET", "b")
        .args([
            "conversations",
            "--api-base",
            "http://api.example.com",
            "--login-base",
            "http://127.0.0.1:9",
        ])
        .args(&one_day());
    let run = run_command(cmd);
    run.expect_code(2);
    assert!(run.stderr.contains("only to loopback"), "{}", run.stderr);
}

#[test]
fn help_and_version() {
    let sim = sim();
    let mut cmd = command(&sim);
    cmd.arg("--help");
    let run = run_command(cmd);
    run.expect_code(0);
    assert!(run.stdout.contains("EXIT CODES"));
    let mut cmd = command(&sim);
    cmd.arg("--version");
    let run = run_command(cmd);
    run.expect_code(0);
    assert!(run.stdout.starts_with("genesys-export "));
}

#[test]
fn rejected_credentials_exit_3_without_a_retry_storm() {
    let sim = sim();
    let dir = Dir::new("bad-creds");
    let out = dir.join("c.csv");
    let mut cmd = command(&sim);
    cmd.env("GENESYSCLOUD_OAUTHCLIENT_SECRET", "wrong-secret")
        .args(&one_day().out(&out));
    let run = run_command(cmd);
    run.expect_code(3);
    assert!(run.stderr.contains("invalid_client"), "{}", run.stderr);
    assert!(
        run.stderr.contains("GENESYSCLOUD_REGION"),
        "names the region as a cause: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-secret"));
    assert_eq!(sim.stats().token_requests, 1, "a refused grant is final");
    assert_eq!(sim.stats().api_requests, 0);
    assert!(
        dir.files().is_empty(),
        "no file for a run that never started: {:?}",
        dir.files()
    );
}

#[test]
fn permission_denied_exits_4_with_the_api_message() {
    let sim = Sim::start(SimConfig {
        details_forbidden: true,
        ..SimConfig::default()
    });
    let run = export(&sim, &one_day().mode("query"));
    run.expect_code(4);
    assert!(
        run.stderr.contains("analytics:conversationDetail:view"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("You are not authorized"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("ININ-Correlation-Id"), "{}", run.stderr);
    assert_no_secrets(&run, &sim);
}

#[test]
fn missing_queue_permission_leaves_names_empty_with_one_warning() {
    let sim = Sim::start(SimConfig {
        queues_forbidden: true,
        conversations: 300,
        ..SimConfig::default()
    });
    let run = export(&sim, &one_day());
    run.expect_code(0);
    assert_eq!(
        run.stderr.matches("routing:queue:view").count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(sim.stats().queue_requests, 1, "no lookups after a 403");
    let records = csv_records(&run.stdout);
    assert!(!records.is_empty());
    assert!(
        records.iter().all(|r| r[6].chars().all(|c| c == ';')),
        "names are empty"
    );
    assert_same_ids(
        &csv_ids(&run.stdout),
        &sim.ground_truth(ts("2026-11-01T00:00:00Z"), ts("2026-11-02T00:00:00Z")),
    );
}

#[test]
fn a_token_that_is_never_accepted_exits_3() {
    use genesys_sim::{Fault, Faults};
    // Every API request revokes the token it carries: fresh tokens are refused in a row.
    let script = (1..=20).map(|n| (n, Fault::Revoke)).collect();
    let sim = Sim::start(SimConfig {
        faults: Faults {
            script,
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    // One request at a time: the first token plus three replays of the one request.
    let run = export(&sim, &one_day().mode("query").opt("--parallel", "1"));
    run.expect_code(3);
    assert!(
        run.stderr.contains("fresh tokens in a row"),
        "{}",
        run.stderr
    );
    assert_eq!(sim.stats().tokens_issued, 4);
}
