//! Crashes, kills and signals in the middle of an export, then the same command again: the
//! final file must be byte for byte the file an uninterrupted run writes.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use genesys_sim::{Fault, Faults, Sim, SimConfig};

use crate::util::*;

/// The data of the resume tests: the output depends on nothing else.
fn data() -> SimConfig {
    SimConfig {
        conversations: 700,
        ..SimConfig::default()
    }
}

fn sim_with(faults: Faults, latency_ms: u64) -> Sim {
    Sim::start(SimConfig {
        token_lifetime: Duration::from_secs(1),
        latency: Duration::from_millis(latency_ms),
        faults,
        ..data()
    })
}

/// Expiring tokens, 429s and 5xx stay on while the export is killed and resumed.
fn faulty() -> Faults {
    Faults {
        p_429: 0.03,
        p_5xx: 0.03,
        p_revoke: 0.02,
        retry_after_secs: Some(0),
        ..Faults::default()
    }
}

/// A query export of two days in 3 h windows of 10-row pages: about a hundred pages, each
/// followed by a state save.
fn args(out: &Path, format: &str) -> Args {
    Args::range()
        .mode("query")
        .window("3h")
        .page_size("10")
        .backoff("10ms")
        .format(format)
        .out(out)
}

/// The bytes of an export of [`data`] in `format` without faults, crashes or kills, one page
/// at a time (`--parallel 1`); made once for all the tests that compare with it. The crashed
/// and resumed runs keep several pages in flight (the default), so every comparison also
/// checks that pages in flight change no byte.
fn reference(format: &str) -> &'static [u8] {
    static CSV: OnceLock<Vec<u8>> = OnceLock::new();
    static JSONL: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = if format == "csv" { &CSV } else { &JSONL };
    cell.get_or_init(|| {
        let sim = Sim::start(data());
        let dir = Dir::new("reference");
        let out = dir.join("ref.out");
        let one_at_a_time = args(&out, format).quiet().opt("--parallel", "1");
        export(&sim, &one_at_a_time).expect_code(0);
        std::fs::read(&out).unwrap()
    })
}

/// Runs the export `args` again after it was stopped (`how`): it resumes from the saved state
/// and finishes.
fn resume(sim: &Sim, args: &Args, how: &str) {
    let run = export(sim, args);
    run.expect_code(0);
    assert_no_secrets(&run, sim);
    assert!(
        run.stderr.contains("resuming from"),
        "{how}: {}",
        run.stderr
    );
}

/// The output is byte for byte `want`, and nothing else is left beside it.
fn assert_done(out: &Path, want: &[u8]) {
    let got = std::fs::read(out).unwrap();
    assert!(
        got == want,
        "the resumed file differs from an uninterrupted export ({} vs {} bytes)",
        got.len(),
        want.len()
    );
    let dir = out.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "state and partial files are gone: {left:?}");
}

/// The in-memory driver test crashes at every checkpoint; here the real process dies early and
/// late at each kind of point, with the state checked as the crash left it.
#[test]
fn crashes_at_every_kind_of_point_resume_byte_for_byte() {
    let sim = sim_with(faulty(), 0);
    let want = reference("csv");
    for (point, n) in [
        ("page-written", 2),
        ("page-written", 47),
        ("state-write", 3),
        ("state-write", 15),
        ("state-saved", 5),
        // Pages that arrive together are saved together, but every window ends in a save:
        // a run of 16 windows saves at least 17 times.
        ("state-saved", 16),
    ] {
        let spec = format!("{point}:{n}");
        let dir = Dir::new("crash");
        let out = dir.join("c.csv");
        let args = args(&out, "csv");
        crash_at(&sim, &args, &out, &spec);
        if point == "state-saved" {
            // Died right after the save: the state covers all the partial holds.
            assert_eq!(saved_output_len(&out), partial_len(&out), "{spec}");
        }
        resume(&sim, &args, &spec);
        assert_done(&out, want);
    }
}

#[test]
fn crashes_with_pages_in_flight_resume_byte_for_byte() {
    // Requests take 20 ms, so when a page is committed the pages after it are on the wire.
    let sim = sim_with(faulty(), 20);
    let want = reference("csv");
    for spec in ["page-written:4", "state-write:9", "state-saved:14"] {
        let dir = Dir::new("crash-in-flight");
        let out = dir.join("c.csv");
        let args = args(&out, "csv").opt("--parallel", "8");
        crash_at(&sim, &args, &out, spec);
        resume(&sim, &args, spec);
        assert_done(&out, want);
    }
}

#[test]
fn jsonl_resumes_byte_for_byte_too() {
    let sim = sim_with(faulty(), 0);
    let want = reference("jsonl");
    for spec in ["page-written:3", "state-write:11", "state-saved:16"] {
        let dir = Dir::new("crash-jsonl");
        let out = dir.join("c.jsonl");
        let args = args(&out, "jsonl");
        crash_at(&sim, &args, &out, spec);
        resume(&sim, &args, spec);
        assert_done(&out, want);
    }
}

/// Kills the export with SIGKILL after a seeded number of steps it is seen to take (a page
/// appended to the partial, or a state saved), over and over until a run finishes. Whatever
/// moment each kill lands on, what is left on disk is consistent and the end result is exact.
#[test]
fn sigkill_at_random_moments_then_resume() {
    let sim = sim_with(faulty(), 2);
    let dir = Dir::new("sigkill");
    let out = dir.join("c.csv");
    let args = args(&out, "csv");
    let want = reference("csv");
    // A fixed sequence, so a failure reproduces.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Each killed run is seen to take a step, and a complete export is about two hundred.
    for round in 0.. {
        assert!(round < 400, "no progress after {round} runs");
        let steps = 1 + next() % 10;
        let mut cmd = command(&sim);
        cmd.args(&args).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let disk = || (partial_len(&out), std::fs::read(state_path(&out)).ok());
        let mut last = disk();
        let mut seen = 0;
        let mut exited = false;
        wait_for("a step or the end of the run", || {
            exited = child.try_wait().unwrap().is_some();
            let now = disk();
            if now != last {
                seen += 1;
                last = now;
            }
            exited || seen >= steps
        });
        if !exited {
            child.kill().unwrap();
        }
        let status = wait(&mut child);
        if status.success() {
            break;
        }
        assert_eq!(status.signal(), Some(SIGKILL), "round {round}: {status:?}");
        if out.exists() {
            // Killed after it published FILE, on its way out: the export is complete. Only a
            // kill leaves the lock file behind: unlocked, harmless, and the next run of the
            // export takes and removes it.
            let lock = dir.join("c.csv.lock");
            if lock.exists() {
                export(&sim, &args.clone().flag("--force").flag("--restart")).expect_code(0);
                assert!(!lock.exists());
            }
            break;
        }
        // Killed after the run removed its state, before the partial became FILE, the same
        // command redoes the export; otherwise it resumes. A run that starts over unlinks the
        // partial before it creates it afresh, so a kill in between leaves neither partial nor
        // state: the next run starts from nothing. A state never outlives the partial it covers.
        match (partial_len(&out), saved_output_len(&out)) {
            (Some(partial), Some(covered)) => {
                assert!(covered <= partial, "round {round}: {covered} > {partial}")
            }
            (None, Some(covered)) => {
                panic!("round {round}: a state covering {covered} bytes without its partial")
            }
            (_, None) => {}
        }
    }
    assert_done(&out, want);
}

#[test]
fn sigterm_stops_cleanly_and_the_rerun_completes() {
    let sim = sim_with(faulty(), 15);
    let want = reference("csv");
    let dir = Dir::new("sigterm");
    let out = dir.join("c.csv");
    let args = args(&out, "csv");
    let mut cmd = command(&sim);
    cmd.args(&args.clone().quiet());
    let mut child = spawn(cmd);
    // Stop it once it is into the third of sixteen windows.
    wait_for("the third window", || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the export ended early"
        );
        saved_state(&out).is_some_and(|s| s["top_index"].as_u64() >= Some(2))
    });
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let run = finish(child);
    run.expect_code(130);
    assert!(
        run.stderr.contains("interrupted by SIGTERM"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("running the same command again resumes"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!out.exists());
    // Stopped between pages: the state covers the whole partial.
    assert_eq!(saved_output_len(&out), partial_len(&out));
    resume(&sim, &args, "SIGTERM");
    assert_done(&out, want);
}

#[test]
fn a_different_command_against_a_saved_state_is_refused_untouched() {
    let sim = sim_with(Faults::default(), 0);
    let dir = Dir::new("mismatch");
    let out = dir.join("c.csv");
    let args = args(&out, "csv");
    crash_at(&sim, &args, &out, "state-saved:6");
    let state = state_path(&out);
    let partial = partial_path(&out);
    let (state_before, partial_before) = (
        std::fs::read(&state).unwrap(),
        std::fs::read(&partial).unwrap(),
    );
    // The state holds positions, never a secret or a token.
    let text = String::from_utf8(state_before.clone()).unwrap();
    assert!(!text.contains(CLIENT_SECRET));
    assert!(sim
        .issued_tokens()
        .iter()
        .all(|t| !text.contains(t.as_str())));

    let changed = args.clone().set("--page-size", "25");
    let run = export(&sim, &changed);
    run.expect_code(2);
    assert!(
        run.stderr.contains("belongs to a different export"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--restart"), "{}", run.stderr);
    assert_eq!(std::fs::read(&state).unwrap(), state_before);
    assert_eq!(std::fs::read(&partial).unwrap(), partial_before);

    // A state from a newer version is refused the same way.
    let mut newer: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(newer["version"].is_u64(), "the state names its version");
    newer["version"] = 99.into();
    let newer = newer.to_string();
    std::fs::write(&state, &newer).unwrap();
    let run = export(&sim, &args);
    run.expect_code(2);
    assert!(
        run.stderr.contains("newer genesys-export"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&partial).unwrap(), partial_before);

    // --restart starts over and completes.
    export(&sim, &changed.flag("--restart")).expect_code(0);
    assert_ids_eq(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    assert!(!state.exists() && !partial.exists());
}

/// Day windows of 50-row pages against a simulator that pages through 200 results at most.
fn capped(out: &Path) -> Args {
    args(out, "csv")
        .set("--window", "1d")
        .set("--page-size", "50")
}

#[test]
fn windows_over_the_paging_cap_split_and_complete_exactly() {
    let sim = Sim::start(SimConfig {
        conversations: 1500,
        result_cap: 200,
        faults: Faults {
            script: vec![(4, Fault::Status(503))],
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    let dir = Dir::new("cap");
    let out = dir.join("c.csv");
    let run = export(&sim, &capped(&out));
    run.expect_code(0);
    assert!(run.stderr.contains("splitting it in two"), "{}", run.stderr);
    assert_ids_eq(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    // A window is paged up to the cap (4 × 50) before it is split, not split in advance.
    assert_eq!(sim.stats().max_page_number, 4);
}

#[test]
fn a_split_window_resumes_exactly() {
    let sim = Sim::start(SimConfig {
        conversations: 1500,
        result_cap: 200,
        ..SimConfig::default()
    });
    // The first day alone: it is split twice over.
    let first_day = |out: &Path| capped(out).set("--to", "2026-11-02T00:00:00Z");
    let dir = Dir::new("cap-reference");
    let reference = dir.join("ref.csv");
    export(&sim, &first_day(&reference)).expect_code(0);
    let want = std::fs::read(&reference).unwrap();
    // In the first half of the first day, in a quarter of it, and in its second half after the
    // first was done (pages are saved in groups, so the points are pages written; each split
    // is saved before the pages of its parts): each time the day's rows so far are re-read to
    // skip repeats.
    for spec in ["page-written:6", "page-written:10", "page-written:19"] {
        let dir = Dir::new("cap-crash");
        let out = dir.join("c.csv");
        let args = first_day(&out);
        crash_at(&sim, &args, &out, spec);
        let saved = saved_state(&out).unwrap();
        let current = saved["stack"].as_array().unwrap().last().unwrap().clone();
        assert_ne!(
            (current["start"].as_str(), current["end"].as_str()),
            (
                Some("2026-11-01T00:00:00.000Z"),
                Some("2026-11-02T00:00:00.000Z")
            ),
            "{spec}: the crash lands in a part of the split first day"
        );
        resume(&sim, &args, spec);
        assert_done(&out, &want);
    }
}

#[test]
fn data_arriving_while_paging_is_neither_lost_nor_doubled() {
    let sim = Sim::start(SimConfig {
        conversations: 1200,
        arrivals_per_page: 4,
        ..SimConfig::default()
    });
    let initial = sim.initial_ids(ts(FROM), ts(TO));
    let run = export(
        &sim,
        &Args::range()
            .mode("query")
            .window("6h")
            .page_size("25")
            .quiet(),
    );
    run.expect_code(0);
    let got = csv_ids(&run.stdout);
    let mut seen = std::collections::HashSet::new();
    assert!(
        got.iter().all(|id| seen.insert(id.clone())),
        "an id was written twice"
    );
    let missing: Vec<_> = initial.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} conversations present at the start are missing",
        missing.len()
    );
    let truth: std::collections::HashSet<String> =
        sim.ground_truth(ts(FROM), ts(TO)).into_iter().collect();
    assert!(got.iter().all(|id| truth.contains(id)));
    assert!(got.len() > initial.len(), "some arrivals were exported too");
}
