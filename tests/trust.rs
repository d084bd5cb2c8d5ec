//! "Every conversation exactly once, or a non-zero exit": overlapping runs, edited files,
//! hostile replies and a broken stderr, each tried against the real binary. Each test is
//! named after the defect it pins.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use genesys_sim::{ExpiresIn, Fault, Faults, JobFaults, PageSizeWording, Sim, SimConfig};

use crate::util::*;

fn sim() -> Sim {
    Sim::start(SimConfig {
        conversations: 700,
        ..SimConfig::default()
    })
}

/// A small query export to `out`, with fast retries.
fn args(out: &Path) -> Args {
    Args::range()
        .window("3h")
        .page_size("10")
        .backoff("10ms")
        .mode("query")
        .out(out)
}

/// The same range through jobs, one a day.
fn job_args(out: &Path) -> Args {
    Args::range().window("1d").mode("jobs").out(out)
}

/// Crashes an export at its sixth saved state, leaving `FILE.state` and `FILE.partial`.
fn crashed_export(sim: &Sim, out: &Path) {
    crash_at(sim, &args(out), out, "state-saved:6");
}

fn assert_exact(sim: &Sim, out: &Path) {
    assert_ids_eq(&csv_ids(&read(out)), &sim.ground_truth(ts(FROM), ts(TO)));
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn overlapping_runs_of_one_export_never_share_its_files() {
    let sim = sim();
    let dir = Dir::new("overlap");
    let out = dir.join("c.csv");
    let lock = dir.join("c.csv.lock");
    // The first run stalls for good after its first saved state, holding the lock (a
    // debug-build stall point, so no race with its progress): a second run must leave at once.
    let mut first = command(&sim);
    first
        .args(&args(&out))
        .env("GENESYS_EXPORT_CRASH_AT", "state-saved:1:stall")
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let mut first = first.spawn().unwrap();
    let pid = first.id();
    let stderr = Watched::start(first.stderr.take().unwrap());
    stderr.wait_for("stalled at state-saved");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap().trim(),
        pid.to_string()
    );
    let partial_before = std::fs::read(partial_path(&out)).unwrap();
    let state_before = std::fs::read(state_path(&out)).unwrap();
    let second = export(&sim, &args(&out));
    second.expect_code(2);
    assert!(
        second
            .stderr
            .contains(&format!("(process {pid}) is already exporting")),
        "{}",
        second.stderr
    );
    assert_eq!(second.stderr.lines().count(), 1, "{}", second.stderr);
    // The refused run touched nothing of the first's.
    assert_eq!(std::fs::read(partial_path(&out)).unwrap(), partial_before);
    assert_eq!(std::fs::read(state_path(&out)).unwrap(), state_before);
    signal(pid, "KILL");
    first.wait().unwrap();
    stderr.finish();
    let resumed = export(&sim, &args(&out));
    resumed.expect_code(0);
    assert!(resumed.stderr.contains("resuming"), "{}", resumed.stderr);
    assert_exact(&sim, &out);
    assert_eq!(dir.files(), ["c.csv"]);

    // Runs started together, as overlapping cron jobs are: whichever gets the lock exports,
    // the other is refused (or finds the finished file); the file is always exact.
    let (mut started, mut refused, mut checked) = (0, 0, 0);
    for trial in 0..10 {
        let dir = Dir::new("overlap-trial");
        let out = dir.join("c.csv");
        let children: Vec<_> = (0..2)
            .map(|_| {
                let mut cmd = command(&sim);
                cmd.args(&args(&out))
                    .stdin(Stdio::null())
                    .stderr(Stdio::piped());
                started += 1;
                cmd.spawn().unwrap()
            })
            .collect();
        let mut codes = Vec::new();
        for child in children {
            let output = child.wait_with_output().unwrap();
            let code = output.status.code().unwrap_or(-1);
            if code == 2 {
                refused += 1;
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(
                    stderr.contains("is already exporting") || stderr.contains("already exists"),
                    "trial {trial}: {stderr}"
                );
            }
            codes.push(code);
        }
        codes.sort();
        assert_eq!(codes, [0, 2], "trial {trial}");
        assert_exact(&sim, &out);
        assert_eq!(dir.files(), ["c.csv"], "trial {trial}");
        checked += 1;
    }
    eprintln!("overlap: {started} runs started, {refused} refused, {checked} files checked");
    assert_eq!((started, refused, checked), (20, 10, 10));
}

/// A crashed export whose files are then edited by `edit`: the rerun exits 2 with `why` and
/// the `--restart` hint, leaves both files as they were, and `--restart` completes exactly.
fn check_refused(edit: impl Fn(&Path), why: &str) {
    let sim = sim();
    let dir = Dir::new("edited");
    let out = dir.join("c.csv");
    crashed_export(&sim, &out);
    edit(&out);
    let files = || {
        (
            std::fs::read(state_path(&out)).unwrap(),
            std::fs::read(partial_path(&out)).unwrap(),
        )
    };
    let before = files();
    let run = export(&sim, &args(&out));
    run.expect_code(2);
    assert!(run.stderr.contains(why), "{why}: {}", run.stderr);
    assert!(run.stderr.contains("--restart"), "{}", run.stderr);
    assert!(files() == before, "{why}: the files were touched");
    export(&sim, &args(&out).flag("--restart")).expect_code(0);
    assert_exact(&sim, &out);
}

/// A hand-edited state, through `check_refused`.
fn check_edited_state(edit: impl Fn(&mut serde_json::Value), why: &str) {
    let edit_state = |out: &Path| {
        let mut state = saved_state(out).unwrap();
        edit(&mut state);
        std::fs::write(state_path(out), state.to_string()).unwrap();
    };
    check_refused(edit_state, why);
}

#[test]
fn a_position_past_the_end_of_the_range_is_refused() {
    check_edited_state(|s| s["top_index"] = 400.into(), "lies past the range");
}

#[test]
fn a_window_outside_the_range_is_refused() {
    check_edited_state(
        |s| {
            s["stack"] = serde_json::json!([{"start": "2026-12-01T00:00:00.000Z", "end": "2026-12-01T03:00:00.000Z"}]);
        },
        "lies outside window",
    );
}

#[test]
fn a_window_offset_beyond_the_output_length_is_refused() {
    check_edited_state(
        |s| s["window_offset"] = (s["output_len"].as_u64().unwrap() + 1).into(),
        "window_offset lies past output_len",
    );
}

#[test]
fn an_id_edited_inside_the_partial_is_noticed() {
    let edit_id = |out: &Path| {
        let partial = partial_path(out);
        let mut bytes = std::fs::read(&partial).unwrap();
        // One character of the first row's id changes.
        let first_row = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
        bytes[first_row] = if bytes[first_row] == b'x' { b'y' } else { b'x' };
        std::fs::write(&partial, &bytes).unwrap();
    };
    check_refused(edit_id, "c.csv.partial does not match");
    check_refused(edit_id, "the rows its state covers have changed");
}

#[test]
fn garbage_in_the_partial_exits_2_naming_the_file() {
    let garble = |out: &Path| {
        let partial = partial_path(out);
        let len = std::fs::metadata(&partial).unwrap().len() as usize;
        std::fs::write(&partial, vec![b'\x07'; len]).unwrap();
    };
    check_refused(garble, "c.csv.partial does not match");
}

#[test]
fn a_state_that_is_a_fifo_is_refused_without_hanging() {
    let sim = sim();
    let dir = Dir::new("fifo");
    let out = dir.join("c.csv");
    let status = Command::new("mkfifo")
        .arg(state_path(&out))
        .status()
        .unwrap();
    assert!(status.success());
    let run = export(&sim, &args(&out));
    run.expect_code(2);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
}

#[test]
fn a_sparse_partial_covered_by_its_state_is_read_in_constant_memory() {
    // Regression: resume read the whole window into memory at once.
    let sim = sim();
    let dir = Dir::new("sparse");
    let out = dir.join("c.csv");
    crashed_export(&sim, &out);
    let state_path = state_path(&out);
    let mut state: serde_json::Value = serde_json::from_str(&read(&state_path)).unwrap();
    let size: u64 = 256 << 20;
    state["output_len"] = size.into();
    // A digest of that length (its unfinished block empty), of other bytes.
    let digest = state["output_digest"].as_str().unwrap()[..16].to_string();
    state["output_digest"] = format!("{digest}{}0", "0".repeat(64)).into();
    std::fs::write(&state_path, state.to_string()).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(partial_path(&out))
        .unwrap()
        .set_len(size)
        .unwrap();
    // Under a 192 MiB address-space limit a run that allocated the window would abort.
    let mut cmd = Command::new("sh");
    let mut line = format!(
        "ulimit -v 196608; exec '{}' conversations --api-base {} --login-base {}",
        env!("CARGO_BIN_EXE_genesys-export"),
        sim.url(),
        sim.url()
    );
    for arg in &args(&out) {
        line.push_str(&format!(" '{arg}'"));
    }
    cmd.arg("-c")
        .arg(line)
        .env_clear()
        .env("GENESYSCLOUD_OAUTHCLIENT_ID", CLIENT_ID)
        .env("GENESYSCLOUD_OAUTHCLIENT_SECRET", CLIENT_SECRET);
    let run = run_command(cmd);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("the rows its state covers have changed"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_full_stderr_or_a_closed_one_does_not_stop_the_export() {
    // Regression: the first progress line panicked on a full disk or a closed pipe.
    let sim = sim();
    let dir = Dir::new("stderr");
    let out = dir.join("c.csv");
    let mut cmd = command(&sim);
    cmd.args(&args(&out)).stdin(Stdio::null()).stderr(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    );
    let status = cmd.status().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_exact(&sim, &out);

    let out = dir.join("d.csv");
    let mut cmd = command(&sim);
    cmd.args(&args(&out))
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_exact(&sim, &out);
}

#[test]
fn a_huge_retry_after_gives_up_with_exit_5_not_an_abort() {
    // Regression: Retry-After: 1000000000000 overflowed when added to the clock.
    let sim = Sim::start(SimConfig {
        conversations: 100,
        faults: Faults {
            script: vec![(
                2,
                Fault::RateLimit {
                    retry_after: Some("1000000000000".into()),
                },
            )],
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    let dir = Dir::new("retry-after");
    let out = dir.join("c.csv");
    let run = export(&sim, &args(&out));
    run.expect_code(5);
    assert!(run.stderr.contains("--max-wait"), "{}", run.stderr);
    assert!(!out.exists());
}

#[test]
fn a_job_expiring_mid_paging_keeps_the_page_size_that_works() {
    // Regression: any 400 on a results page was read as "page size too large" because the
    // rendered message holds the URL with pageSize=.
    let sim = Sim::start(SimConfig {
        conversations: 700,
        job_max_page_size: 300,
        job_polls_to_fulfil: 1,
        ..SimConfig::default()
    });
    sim.set_job_faults(JobFaults {
        expire_after_pages: vec![(1, 1), (3, 1)],
        ..JobFaults::default()
    });
    let dir = Dir::new("job-expiry");
    let out = dir.join("c.csv");
    let run = export(&sim, &job_args(&out));
    run.expect_code(0);
    let steps: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("page size"))
        .collect();
    assert_eq!(
        steps,
        ["job results page size 1000 refused; using 300 from now on"],
        "{}",
        run.stderr
    );
    assert_same_ids(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
}

/// An export that must survive `faults` on some requests and still be exact.
fn survives(cfg: SimConfig) -> (Sim, Run) {
    survives_with(cfg, &[])
}

fn survives_with(cfg: SimConfig, extra: &[&str]) -> (Sim, Run) {
    let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    let sim = Sim::start(SimConfig {
        conversations: 700,
        ..cfg
    });
    let dir = Dir::new("survives");
    let out = dir.join("c.csv");
    let run = export(&sim, args(&out).into_iter().chain(&extra));
    run.expect_code(0);
    assert_no_secrets(&run, &sim);
    assert_exact(&sim, &out);
    (sim, run)
}

fn scripted(faults: &[(u64, Fault)]) -> SimConfig {
    SimConfig {
        faults: Faults {
            script: faults.to_vec(),
            ..Faults::default()
        },
        ..SimConfig::default()
    }
}

#[test]
fn a_2xx_of_the_wrong_shape_is_retried_never_taken_as_the_end() {
    // Regression: `[]`, a body of whitespace, a first page with hits but no conversations and
    // a conversation without an id each ended a window silently, with exit 0.
    let faults = [
        (2, Fault::EmptyArray),
        (5, Fault::Blank),
        (9, Fault::HitsWithoutConversations),
        (12, Fault::MissingId),
        (30, Fault::HitsWithoutConversations),
    ];
    let (_, run) = survives_with(scripted(&faults), &["--parallel", "1"]);
    // Four are retried by the policy; a later page without its conversations is asked for
    // once more before it counts as the end.
    assert_eq!(
        run.stderr.matches("retry ").count(),
        4,
        "each malformed reply is retried once: {}",
        run.stderr
    );
    for why in [
        "not a JSON object",
        "an empty body",
        "carries no conversations",
        "has no conversationId",
    ] {
        assert!(run.stderr.contains(why), "{why}: {}", run.stderr);
    }
}

#[test]
fn malformed_replies_to_the_end_fail_the_run_instead_of_ending_it() {
    for fault in [Fault::EmptyArray, Fault::Blank, Fault::MissingId] {
        let sim = Sim::start(SimConfig {
            conversations: 100,
            faults: Faults {
                script: (2..40).map(|n| (n, fault.clone())).collect(),
                ..Faults::default()
            },
            ..SimConfig::default()
        });
        let dir = Dir::new("malformed");
        let out = dir.join("c.csv");
        let run = export(&sim, &args(&out).opt("--max-retries", "3"));
        run.expect_code(5);
        assert!(!out.exists(), "{fault:?}");
    }
}

#[test]
fn short_pages_before_the_end_do_not_end_the_window() {
    // Regression: a short details page ended its window even when fewer rows than
    // totalHits had come back.
    let (sim, _) = survives(SimConfig {
        duplicate_hits: 0.3,
        ..SimConfig::default()
    });
    assert!(sim.stats().details_requests > 0);
}

#[test]
fn secrets_echoed_by_a_server_are_never_printed() {
    // A 5xx echoing the token is retried and logged; a 400 echoing it ends the run; the token
    // endpoint echoing the secret ends it with exit 3. None of them shows a secret.
    let (_, run) = survives(scripted(&[(3, Fault::Echo(503))]));
    assert!(run.stderr.contains("<redacted>"), "{}", run.stderr);
    let sim = Sim::start(SimConfig {
        conversations: 100,
        ..scripted(&[(2, Fault::Echo(400))])
    });
    let dir = Dir::new("echo");
    // No name columns: every request is a details page, so the second one gets the 400
    // whichever thread sends first (a name lookup answered 400 only asks for fewer ids).
    let plain = args(&dir.join("c.csv")).opt("--columns", "conversation_id,conversation_start");
    let run = export(&sim, &plain);
    run.expect_code(1);
    assert_no_secrets(&run, &sim);
    assert!(run.stderr.contains("<redacted>"), "{}", run.stderr);
    let sim = Sim::start(SimConfig {
        token_faults: Faults {
            script: vec![(1, Fault::Echo(401))],
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    let run = export(&sim, &args(&dir.join("d.csv")));
    run.expect_code(3);
    assert_no_secrets(&run, &sim);
    assert!(!run.stderr.contains(CLIENT_SECRET), "{}", run.stderr);
    assert!(run.stderr.contains("<redacted>"), "{}", run.stderr);
}

#[test]
fn a_token_lifetime_of_u64_max_or_none_does_not_abort() {
    // Regression: expires_in 18446744073709551615 overflowed the expiry instant; a reply
    // without expires_in stopped the run.
    for expires_in in [
        ExpiresIn::Value(u64::MAX),
        ExpiresIn::Absent,
        ExpiresIn::Value(0),
    ] {
        survives(SimConfig {
            token_expires_in: expires_in,
            ..SimConfig::default()
        });
    }
}

#[test]
fn a_job_stuck_in_queued_is_given_up_at_its_expiration_date_and_submitted_again() {
    // Regression: a job stuck in QUEUED or PENDING was polled for ever.
    let sim = Sim::start(SimConfig {
        conversations: 300,
        job_lifetime: Duration::from_secs(1),
        ..SimConfig::default()
    });
    sim.set_job_faults(JobFaults {
        stuck: vec![1],
        ..JobFaults::default()
    });
    let dir = Dir::new("stuck");
    let out = dir.join("c.csv");
    let run = export(&sim, &job_args(&out));
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("its results expired before it was fulfilled"),
        "{}",
        run.stderr
    );
    // One job for the range (its pieces are up to 31 days), stuck, then submitted again.
    assert_eq!(sim.stats().job_submits, 2);
    assert_same_ids(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
}

#[test]
fn a_page_size_ceiling_worded_otherwise_is_read_not_halved() {
    for wording in [PageSizeWording::Between, PageSizeWording::AtMost] {
        let sim = Sim::start(SimConfig {
            conversations: 700,
            job_max_page_size: 300,
            job_page_size_wording: wording,
            ..SimConfig::default()
        });
        let dir = Dir::new("wording");
        let out = dir.join("c.csv");
        let run = export(&sim, &job_args(&out));
        run.expect_code(0);
        assert!(
            run.stderr.contains("page size 1000 refused; using 300"),
            "{}",
            run.stderr
        );
        assert_eq!(sim.stats().max_job_page_size, 300);
    }
}

/// Issue: a server that ignores `pageNumber` (every page the first) cost thousands of
/// requests before the run failed. A page that repeats the one before it is malformed: asked
/// again, and after a few in a row the run ends (exit 5) naming the cause.
#[test]
fn a_server_that_ignores_page_number_ends_the_run_after_a_few_repeated_pages() {
    let sim = Sim::start(SimConfig {
        conversations: 700,
        faults: Faults {
            ignore_page_number: true,
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    let dir = Dir::new("ignores-page-number");
    let out = dir.join("c.csv");
    let run = export(&sim, &args(&out));
    run.expect_code(5);
    assert!(run.stderr.contains("ignores pageNumber"), "{}", run.stderr);
    let requests = sim.stats().details_requests;
    assert!(requests < 40, "{requests} details requests");
}
