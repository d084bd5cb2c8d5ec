//! Exports under injected faults: each must still equal the ground truth exactly.

use std::time::Duration;

use genesys_sim::{Fault, Faults, Sim, SimConfig};

use crate::util::*;

fn config(faults: Faults) -> SimConfig {
    SimConfig {
        conversations: 1200,
        faults,
        ..SimConfig::default()
    }
}

/// A 429, with `Retry-After: retry_after` when given.
fn rate_limit(retry_after: Option<&str>) -> Fault {
    let retry_after = retry_after.map(String::from);
    Fault::RateLimit { retry_after }
}

/// The export of these tests into `out`: the query, small pages, fast backoff.
fn args_into(out: &std::path::Path) -> Args {
    Args::range()
        .mode("query")
        .window("2h")
        .page_size("50")
        .backoff("20ms")
        .out(out)
}

/// Runs a full export with fast backoff and checks it against the ground truth.
fn export_exactly(sim: &Sim) -> Run {
    let dir = Dir::new("faults");
    let out = dir.join("c.csv");
    let run = export(sim, &args_into(&out));
    run.expect_code(0);
    assert_no_secrets(&run, sim);
    assert_ids_eq(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    assert_eq!(dir.files(), ["c.csv"]);
    run
}

#[test]
fn tokens_expiring_mid_run_are_refreshed_before_use() {
    // One request at a time, each held 25 ms by the simulator: the run lasts at least
    // requests × 25 ms, however fast the machine, so it outlives several 2-second tokens.
    // The skew margin (a tenth of the lifetime, 200 ms) leaves room for the request to
    // arrive after the token was checked.
    let latency = Duration::from_millis(25);
    let lifetime = Duration::from_secs(2);
    let sim = Sim::start(SimConfig {
        token_lifetime: lifetime,
        latency,
        ..config(Faults::default())
    });
    let dir = Dir::new("faults-expiry");
    let out = dir.join("c.csv");
    let args = args_into(&out)
        .opt("--parallel", "1")
        .set("--page-size", "5");
    export(&sim, &args).expect_code(0);
    assert_ids_eq(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    let stats = sim.stats();
    let floor = latency * u32::try_from(stats.api_requests).unwrap();
    assert!(floor >= 2 * lifetime, "a run of {floor:?} at least");
    // Each token after the first replaced one about to expire.
    let lifetimes = floor.as_millis() / lifetime.as_millis();
    assert!(
        u128::from(stats.tokens_issued) > lifetimes,
        "only {} tokens issued over at least {floor:?}",
        stats.tokens_issued
    );
    // The skew margin replaces tokens before they expire, so none is refused for age.
    assert_eq!(stats.expired_token_rejections, 0);
}

#[test]
fn revoked_tokens_are_refreshed_and_the_same_page_replayed() {
    let mut faults = Faults {
        p_revoke: 0.08,
        ..Faults::default()
    };
    faults.script = vec![(2, Fault::Revoke), (3, Fault::Revoke), (10, Fault::Revoke)];
    let sim = Sim::start(config(faults));
    let run = export_exactly(&sim);
    assert!(sim.stats().tokens_issued >= 4);
    assert!(run.stderr.contains("token refused"), "{}", run.stderr);
}

#[test]
fn rate_limits_wait_as_retry_after_says() {
    let faults = Faults {
        retry_after_secs: Some(1),
        script: vec![
            (3, rate_limit(Some("1"))),
            (7, rate_limit(Some("1"))),
            // Without the header, and with garbage in it: backoff instead.
            (9, rate_limit(None)),
            (11, rate_limit(Some("soon"))),
        ],
        ..Faults::default()
    };
    let sim = Sim::start(config(faults));
    let run = export_exactly(&sim);
    // A lower bound the waits set: a slow machine only adds to it.
    assert!(
        run.elapsed >= Duration::from_secs(2),
        "two 1 s Retry-After waits, took {:?}",
        run.elapsed
    );
    assert_eq!(run.stderr.matches("HTTP 429").count(), 4, "{}", run.stderr);
    assert!(run.stderr.contains("in 1s: HTTP 429"), "{}", run.stderr);
}

#[test]
fn server_error_bursts_and_html_pages_are_retried() {
    let faults = Faults {
        script: vec![
            (2, Fault::Status(502)),
            (3, Fault::Status(503)),
            (4, Fault::Status(500)),
            (5, Fault::Status(504)),
            (8, Fault::Html(502)),
            (9, Fault::Html(503)),
        ],
        p_5xx: 0.05,
        p_html: 0.05,
        ..Faults::default()
    };
    let sim = Sim::start(config(faults));
    let run = export_exactly(&sim);
    assert!(
        run.stderr.contains("HTTP 502 (an HTML error page)"),
        "{}",
        run.stderr
    );
}

#[test]
fn resets_truncated_bodies_and_garbage_json_are_retried() {
    let faults = Faults {
        script: vec![
            (2, Fault::Reset),
            (4, Fault::Truncate),
            (6, Fault::BadJson),
            (7, Fault::Reset),
        ],
        p_reset: 0.04,
        p_truncate: 0.04,
        p_bad_json: 0.04,
        ..Faults::default()
    };
    let sim = Sim::start(config(faults));
    let run = export_exactly(&sim);
    assert!(run.stderr.contains("unreadable JSON"), "{}", run.stderr);
}

#[test]
fn everything_at_once_with_short_tokens() {
    let faults = every_fault(0.03);
    let sim = Sim::start(SimConfig {
        seed: 7,
        token_lifetime: Duration::from_secs(2),
        latency: Duration::from_millis(20),
        token_faults: Faults {
            p_5xx: 0.2,
            p_reset: 0.1,
            ..Faults::default()
        },
        ..config(faults)
    });
    let run = export_exactly(&sim);
    assert!(sim.stats().faults_injected >= 5, "{:?}", sim.stats());
    assert!(run.stderr.contains("retries "), "{}", run.stderr);
}

#[test]
fn token_endpoint_trouble_is_retried_like_any_call() {
    let sim = Sim::start(SimConfig {
        token_faults: Faults {
            script: vec![
                (1, Fault::Status(503)),
                (2, rate_limit(Some("0"))),
                (3, Fault::Reset),
            ],
            ..Faults::default()
        },
        ..config(Faults::default())
    });
    export_exactly(&sim);
    assert_eq!(sim.stats().tokens_issued, 1);
}

#[test]
fn a_retry_after_beyond_the_budget_stops_at_once() {
    let faults = Faults {
        script: vec![(2, rate_limit(Some("3600")))],
        ..Faults::default()
    };
    let sim = Sim::start(config(faults));
    let args = Args::range()
        .mode("query")
        .opt("--parallel", "1")
        .opt("--max-wait", "10m")
        .quiet();
    let run = export(&sim, &args);
    run.expect_code(5);
    // The first page, then the refused request: nothing is sent after the 429.
    assert_eq!(sim.stats().api_requests, 2, "{:?}", sim.stats());
    assert!(run.stderr.contains("try again after"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
}

#[test]
fn a_server_that_stays_down_exhausts_the_retries() {
    let sim = Sim::start(config(Faults {
        p_5xx: 1.0,
        ..Faults::default()
    }));
    let run = export(
        &sim,
        &Args::range()
            .mode("query")
            .opt("--parallel", "1")
            .opt("--max-retries", "3")
            .backoff("10ms"),
    );
    run.expect_code(5);
    assert!(run.stderr.contains("after 3 retries"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("retry ").count(), 3, "{}", run.stderr);
    assert_no_secrets(&run, &sim);
}

/// Peak resident set of a run through `/usr/bin/time -f %M` (KiB), and the run.
fn run_measured(sim: &Sim, args: &Args, rss_file: &std::path::Path) -> (Run, u64) {
    let rss = rss_file.to_str().unwrap();
    let mut cmd = command_wrapped(sim, &["/usr/bin/time", "-f", "%M", "-o", rss]);
    cmd.args(args);
    let run = run_command(cmd);
    let kib = read(rss_file)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no peak RSS in {rss_file:?}"));
    (run, kib)
}

/// A details page of 7 MB that inflates to a GiB of zeros is refused as it inflates past the
/// 32 MiB cap, retried like any malformed reply, and the export is exact; memory peaks below
/// the cap plus the export's own few MiB.
#[test]
fn a_compressed_bomb_is_refused_as_it_inflates_and_memory_stays_under_the_cap() {
    const CAP_KIB: u64 = 32 * 1024;
    let faults = Faults {
        script: vec![(3, Fault::Bomb { inflated: 1 << 30 })],
        ..Faults::default()
    };
    let sim = Sim::start(config(faults));
    let dir = Dir::new("bomb");
    let measures = Dir::new("bomb-rss");
    let out = dir.join("c.csv");
    let (run, peak_kib) = run_measured(&sim, &args_into(&out), &measures.join("rss"));
    run.expect_code(0);
    println!("peak RSS under a 1 GiB gzip bomb: {peak_kib} KiB");
    assert!(
        run.stderr
            .contains("HTTP 200 with a body larger than the 32 MiB cap")
            || run.stderr.contains("a body larger than the 32 MiB cap"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("retry ").count(), 1, "{}", run.stderr);
    assert_ids_eq(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    assert_eq!(dir.files(), ["c.csv"]);
    assert!(
        peak_kib < CAP_KIB + 12 * 1024,
        "peak RSS {peak_kib} KiB, cap {CAP_KIB} KiB"
    );
}

/// Whether this machine lets a test mount a tmpfs in its own mount namespace.
fn can_mount() -> bool {
    std::process::Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"])
        .status()
        .is_ok_and(|s| s.success())
}

/// A job results page spooled to a temporary directory on a full disk (a 64 KiB tmpfs mounted
/// for the run alone; every page spooled, however small) ends the run at once with exit 6 naming the directory: no retry, no
/// second download.
#[test]
fn a_full_disk_while_spooling_exits_6_naming_the_directory_at_once() {
    if !can_mount() {
        eprintln!("skipped: this machine does not let a test mount a tmpfs (unshare -rm)");
        return;
    }
    let sim = Sim::start(config(Faults::default()));
    let dir = Dir::new("spool-full");
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = dir.join("c.csv");
    let mount = "mount -t tmpfs -o size=64k tmpfs \"$TMPDIR\" && exec \"$0\" \"$@\"";
    let mut cmd = command_wrapped(&sim, &["unshare", "-rm", "sh", "-c", mount]);
    cmd.env("TMPDIR", &tmp)
        .env("GENESYS_EXPORT_HELD_BYTES", "0")
        .args(&Args::range().mode("jobs").backoff("20ms").out(&out));
    let run = run_command(cmd);
    run.expect_code(6);
    let line = run.stderr.lines().last().unwrap_or_default();
    assert!(
        line.contains(&format!("to a temporary file in {}", tmp.display())),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("retry "), "{}", run.stderr);
    assert_eq!(sim.stats().job_result_pages, 1, "{:?}", sim.stats());
}

/// A limit of one request per 2 s holds four requests in flight far below what they could
/// carry: the run says so in one line, once, and stays exact.
#[test]
fn a_pacing_far_below_the_requests_in_flight_is_said_once() {
    let sim = Sim::start(SimConfig {
        conversations: 6,
        rate_limit: Some(genesys_sim::RateLimit {
            allowed: 1,
            window: Duration::from_secs(2),
        }),
        ..SimConfig::default()
    });
    let dir = Dir::new("pacing-slow");
    let out = dir.join("c.csv");
    let args = Args::range().mode("query").window("2d").out(&out);
    let run = export(&sim, &args);
    run.expect_code(0);
    assert_ids_eq(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    let said = "pacing: the API's rate-limit headers allow 1 request in 2s, one every";
    assert_eq!(run.stderr.matches(said).count(), 1, "{}", run.stderr);
}
