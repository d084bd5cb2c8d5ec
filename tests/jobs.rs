//! Bulk mode: analytics jobs alone and combined with the details query, under faults, kills
//! and lost jobs, compared with the simulator's ground truth.

use std::path::Path;
use std::time::Duration;

use genesys_sim::{Fault, Faults, JobFaults, Sim, SimConfig};

use crate::util::*;

fn sim(cfg: SimConfig) -> Sim {
    Sim::start(SimConfig {
        conversations: 1200,
        ..cfg
    })
}

/// Two days in 12 h windows, written to `out`.
fn jobs_args(out: &Path) -> Args {
    Args::range().window("12h").backoff("10ms").out(out)
}

/// Exports and checks the ids against the ground truth; returns the run.
fn export_exactly(sim: &Sim, extra: Args) -> Run {
    let dir = Dir::new("jobs");
    let out = dir.join("c.csv");
    let run = export(sim, &jobs_args(&out).with(&extra));
    run.expect_code(0);
    assert_no_secrets(&run, sim);
    assert_same_ids(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    // Every job is deleted after use. Only a submission whose reply was lost on the wire (a
    // cut or garbled body, after the job was created) leaves one behind: no id came back.
    let stats = sim.stats();
    if stats.faults_injected == 0 {
        assert_eq!(stats.jobs_live, 0, "{stats:?}");
    } else {
        assert!(stats.jobs_live <= stats.faults_injected, "{stats:?}");
    }
    run
}

#[test]
fn jobs_mode_matches_the_ground_truth_under_faults() {
    jobs_under_faults(None, "csv");
}

/// As above in JSON Lines, whose held pages keep each conversation's place from their check
/// and are read once: the same ids, through the same faults.
#[test]
fn json_lines_job_pages_match_the_ground_truth_under_faults() {
    jobs_under_faults(None, "jsonl");
}

/// As above with every results page spooled to a temporary file, as pages too large to hold
/// in memory are: the same ids, through the same faults.
#[test]
fn spooled_job_pages_match_the_ground_truth_under_faults() {
    jobs_under_faults(Some("0"), "csv");
}

/// A jobs export under faults in `format`, its pages spooled beyond `held` bytes (the default
/// without).
fn jobs_under_faults(held: Option<&str>, format: &str) {
    let faults = Faults {
        p_revoke: 0.04,
        p_429: 0.04,
        p_5xx: 0.04,
        p_reset: 0.03,
        p_truncate: 0.03,
        retry_after_secs: Some(0),
        ..Faults::default()
    };
    let sim = sim(SimConfig {
        faults,
        token_lifetime: Duration::from_secs(1),
        latency: Duration::from_millis(10),
        ..SimConfig::default()
    });
    let dir = Dir::new("jobs");
    let out = dir.join(&format!("c.{format}"));
    let mut cmd = command(&sim);
    cmd.args(&jobs_args(&out).mode("jobs").format(format));
    if let Some(held) = held {
        cmd.env("GENESYS_EXPORT_HELD_BYTES", held);
    }
    let run = run_command(cmd);
    run.expect_code(0);
    assert_no_secrets(&run, &sim);
    let ids = match format {
        "jsonl" => jsonl_ids(&read(&out)),
        _ => csv_ids(&read(&out)),
    };
    assert_same_ids(&ids, &sim.ground_truth(ts(FROM), ts(TO)));
    assert_eq!(
        sim.stats().details_requests,
        0,
        "jobs mode never pages the query"
    );
    // The two days go to one job, whatever --window says.
    assert!(sim.stats().job_submits >= 1);
    assert!(run.stderr.contains("FULFILLED"), "{}", run.stderr);
}

#[test]
fn auto_mode_uses_jobs_before_the_availability_date_and_the_query_after() {
    // One job and a day of details pages make few requests: faults are drawn more often.
    let faults = every_fault(0.06);
    let sim = sim(SimConfig {
        data_availability: ts("2026-11-02T06:00:00Z"),
        token_lifetime: Duration::from_secs(1),
        latency: Duration::from_millis(5),
        job_max_page_size: 100,
        faults,
        ..SimConfig::default()
    });
    // Attribute columns come only from jobs: `auto` sends the lake part to jobs for them
    // whatever the volume.
    let run = export_exactly(&sim, Args::new().opt("--attribute", "accountNumber"));
    assert!(sim.stats().faults_injected >= 3, "{:?}", sim.stats());
    let stats = sim.stats();
    assert!(
        stats.job_submits >= 1 && stats.details_requests > 0,
        "{stats:?}"
    );
    assert!(
        run.stderr
            .contains("data lake available up to 2026-11-02T06:00:00.000Z"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("requests per 1000 conversations: query"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(", jobs "), "{}", run.stderr);
}

#[test]
fn a_failed_job_is_submitted_again() {
    let sim = sim(SimConfig {
        job_faults: JobFaults {
            fail: vec![1],
            cancel: vec![3],
            ..JobFaults::default()
        },
        ..SimConfig::default()
    });
    let run = export_exactly(&sim, Args::new().mode("jobs"));
    assert!(
        run.stderr.contains("Simulated failure of job 1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("submitting it again"), "{}", run.stderr);
}

#[test]
fn a_job_that_expires_while_paged_is_redone_without_repeats() {
    let sim = sim(SimConfig {
        job_max_page_size: 60,
        job_faults: JobFaults {
            expire_after_pages: vec![(1, 2), (4, 1)],
            ..JobFaults::default()
        },
        ..SimConfig::default()
    });
    let run = export_exactly(&sim, Args::new().mode("jobs"));
    assert!(run.stderr.contains("EXPIRED"), "{}", run.stderr);
}

#[test]
fn jobs_that_keep_failing_stop_the_run_with_exit_5() {
    let sim = sim(SimConfig {
        job_faults: JobFaults {
            fail: (1..=10).collect(),
            ..JobFaults::default()
        },
        ..SimConfig::default()
    });
    let dir = Dir::new("jobs-fail");
    let out = dir.join("c.csv");
    let run = export(&sim, &jobs_args(&out).mode("jobs"));
    run.expect_code(5);
    assert!(
        run.stderr.contains("Simulated failure of job 4"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );
}

#[test]
fn the_largest_accepted_page_size_is_found_and_kept() {
    let sim = sim(SimConfig {
        job_max_page_size: 300,
        ..SimConfig::default()
    });
    let run = export_exactly(&sim, Args::new().mode("jobs").quiet());
    assert_eq!(run.stderr, "");
    assert_eq!(sim.stats().max_job_page_size, 300);
    // One refusal for the whole run, not one per window.
    assert_eq!(
        sim.stats().job_result_requests,
        sim.stats().job_result_pages + 1
    );
}

#[test]
fn a_401_in_the_middle_of_result_paging_replays_that_page() {
    // Requests: availability, submit, three polls, the refused page size, result page 1, 2.
    let faults = Faults {
        script: vec![(8, Fault::Revoke)],
        ..Faults::default()
    };
    let sim = sim(SimConfig {
        faults,
        job_max_page_size: 50,
        ..SimConfig::default()
    });
    let dir = Dir::new("jobs-401");
    let out = dir.join("c.jsonl");
    let run = export(&sim, &jobs_args(&out).mode("jobs").format("jsonl"));
    run.expect_code(0);
    let replay = run
        .stderr
        .lines()
        .find(|l| l.starts_with("token refused"))
        .expect(&run.stderr);
    assert!(
        replay.contains("replaying GET /api/v2/analytics/conversations/details/jobs/"),
        "{replay}"
    );
    assert!(replay.contains("/results?pageSize=50&cursor="), "{replay}");
    assert_eq!(sim.stats().tokens_issued, 2);
    assert_same_ids(&jsonl_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
}

#[test]
fn a_kill_while_a_job_is_paged_resumes_byte_for_byte() {
    let sim = sim(SimConfig {
        job_max_page_size: 40,
        ..SimConfig::default()
    });
    let dir = Dir::new("jobs-kill");
    let reference = dir.join("ref.csv");
    export(&sim, &jobs_args(&reference).mode("jobs").quiet()).expect_code(0);
    let want = std::fs::read(&reference).unwrap();
    // One job for the two days, whatever --window says.
    let submits_per_export = sim.stats().job_submits;
    assert_eq!(submits_per_export, 1);
    // Each lands while a job is paged: not on the save that records a submission, nor on the one
    // that closes a window after its job was deleted.
    for spec in [
        "page-written:2",
        "state-saved:5",
        "state-write:13",
        "page-written:20",
    ] {
        let dir = Dir::new("jobs-kill-run");
        let out = dir.join("c.csv");
        let args = jobs_args(&out).mode("jobs").quiet();
        let before = sim.stats();
        crash_at(&sim, &args, &out, spec);
        let saved = saved_state(&out).unwrap();
        assert!(
            saved["job"]["id"].is_string(),
            "{spec}: the crash lands while a job is paged: {saved}"
        );
        export(&sim, &args).expect_code(0);
        assert_eq!(std::fs::read(&out).unwrap(), want, "{spec}");
        let after = sim.stats();
        assert_eq!(
            after.job_submits - before.job_submits,
            submits_per_export,
            "{spec}: the saved job is paged on, not submitted again"
        );
        assert_eq!(after.jobs_live, 0, "{spec}: the saved job is deleted");
    }
}

#[test]
fn a_clean_bulk_export_costs_the_minimum_requests() {
    let sim = sim(SimConfig {
        job_max_page_size: 1000,
        ..SimConfig::default()
    });
    let dir = Dir::new("jobs-cost");
    let out = dir.join("c.jsonl");
    let run = export(
        &sim,
        &Args::range()
            .window("1d")
            .mode("jobs")
            .format("jsonl")
            .out(&out),
    );
    run.expect_code(0);
    let stats = sim.stats();
    assert_eq!(stats.job_result_pages, 2, "two days fit two pages of 1000");
    // One job for the two days: submit, polls until fulfilled, the result pages, delete.
    // Once: the token and the availability date; the first page size tried (1000) is
    // accepted.
    let minimum = 1 + 1 + stats.job_submits * 2 + stats.job_polls + stats.job_result_pages;
    assert_eq!(stats.job_submits, 1);
    assert_eq!(
        stats.job_polls, 3,
        "the simulator fulfils on the third poll"
    );
    assert_eq!(
        stats.token_requests + stats.api_requests,
        minimum,
        "{stats:?}"
    );
    // And the JSON Lines are the job records, attributes included.
    let text = read(&out);
    let mut ids = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["conversationId"].as_str().unwrap().to_string();
        assert_eq!(
            line,
            serde_json::to_string(&sim.job_conversation(&id).unwrap()).unwrap()
        );
        ids.push(id);
    }
    let mut want = sim.ground_truth(ts(FROM), ts(TO));
    want.sort();
    ids.sort();
    assert_eq!(ids, want);
    assert!(text.contains("\"attributes\""));
}

#[test]
fn attribute_columns_carry_participant_data() {
    let sim = sim(SimConfig::default());
    let run = export(
        &sim,
        &Args::range()
            .opt("--attribute", "accountNumber")
            .opt("--attribute", "language")
            .quiet(),
    );
    run.expect_code(0);
    let mut filled = 0;
    for rec in csv_records(&run.stdout) {
        let job = sim.job_conversation(&rec[0]).unwrap();
        let values: Vec<String> = job["participants"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["attributes"]["accountNumber"].as_str().map(String::from))
            .collect();
        assert_eq!(&rec[12], values.join(";"), "{}", &rec[0]);
        filled += usize::from(!values.is_empty());
    }
    assert!(filled > 100, "only {filled} rows had the attribute");
}

#[test]
fn jobs_mode_refuses_a_range_past_the_availability_date() {
    let sim = sim(SimConfig {
        data_availability: ts("2026-11-02T00:00:00Z"),
        ..SimConfig::default()
    });
    let dir = Dir::new("jobs-late");
    let out = dir.join("c.csv");
    let run = export(&sim, &jobs_args(&out).mode("jobs"));
    run.expect_code(2);
    assert!(
        run.stderr.contains("up to 2026-11-02T00:00:00.000Z"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--mode auto"), "{}", run.stderr);
    assert!(dir.files().is_empty());
    assert_eq!(sim.stats().job_submits, 0);
}

#[test]
fn job_results_past_the_cursor_cap_split_the_window() {
    let sim = sim(SimConfig {
        job_result_cap: 250,
        job_max_page_size: 100,
        ..SimConfig::default()
    });
    let run = export_exactly(&sim, Args::new().mode("jobs"));
    assert!(run.stderr.contains("splitting it in two"), "{}", run.stderr);
}

/// August to November: four jobs of at most 31 days.
const WIDE_FROM: &str = "2026-08-01T00:00:00Z";
const WIDE_TO: &str = "2026-11-03T00:00:00Z";

fn wide(cfg: SimConfig) -> Sim {
    Sim::start(SimConfig {
        conversations: 1500,
        start: ts(WIDE_FROM),
        end: ts(WIDE_TO),
        data_availability: ts(WIDE_TO),
        ..cfg
    })
}

/// The jobs requests of a run, from the simulator's counters.
fn job_requests(stats: &genesys_sim::Stats) -> u64 {
    stats.job_submits + stats.job_polls + stats.job_result_requests + stats.job_deletes
}

#[test]
fn several_jobs_ahead_match_the_ground_truth_under_faults_and_lost_jobs() {
    let faults = Faults {
        p_revoke: 0.03,
        p_429: 0.03,
        p_5xx: 0.03,
        retry_after_secs: Some(0),
        ..Faults::default()
    };
    let sim = wide(SimConfig {
        faults,
        token_lifetime: Duration::from_secs(1),
        job_max_page_size: 200,
        job_faults: JobFaults {
            // The second job (submitted ahead) fails; the first expires half-way.
            fail: vec![2],
            expire_after_pages: vec![(1, 1)],
            ..JobFaults::default()
        },
        ..SimConfig::default()
    });
    let dir = Dir::new("jobs-ahead");
    let out = dir.join("c.csv");
    let args = Args::between(WIDE_FROM, WIDE_TO)
        .mode("jobs")
        .backoff("10ms")
        .out(&out);
    let run = export(&sim, &args);
    run.expect_code(0);
    assert_no_secrets(&run, &sim);
    assert_same_ids(
        &csv_ids(&read(&out)),
        &sim.ground_truth(ts(WIDE_FROM), ts(WIDE_TO)),
    );
    let stats = sim.stats();
    assert!(stats.job_submits >= 4 + 2, "{stats:?}");
    assert!(run.stderr.contains("submitted ahead"), "{}", run.stderr);
    assert!(stats.faults_injected >= 3, "{stats:?}");
    // Every job is deleted, but one whose submission reply a fault cut (no id came back).
    assert!(stats.jobs_live <= stats.faults_injected, "{stats:?}");
}

#[test]
fn a_kill_with_jobs_ahead_resumes_byte_for_byte_and_reuses_them() {
    let sim = wide(SimConfig {
        job_max_page_size: 50,
        ..SimConfig::default()
    });
    let dir = Dir::new("jobs-ahead-kill");
    let reference = dir.join("ref.csv");
    let args = |out: &Path| {
        Args::between(WIDE_FROM, WIDE_TO)
            .mode("jobs")
            .quiet()
            .out(out)
    };
    export(&sim, &args(&reference)).expect_code(0);
    let want = std::fs::read(&reference).unwrap();
    assert_eq!(sim.stats().job_submits, 4, "one job per 31 days");
    for spec in ["page-written:3", "state-saved:9", "page-written:25"] {
        let dir = Dir::new("jobs-ahead-kill-run");
        let out = dir.join("c.csv");
        let before = sim.stats();
        crash_at(&sim, &args(&out), &out, spec);
        let saved = saved_state(&out).unwrap();
        assert!(
            !saved["ahead"].as_array().unwrap().is_empty(),
            "{spec}: jobs ahead are saved: {saved}"
        );
        export(&sim, &args(&out)).expect_code(0);
        assert_eq!(std::fs::read(&out).unwrap(), want, "{spec}");
        let after = sim.stats();
        assert_eq!(
            after.job_submits - before.job_submits,
            4,
            "{spec}: the saved jobs are reused, not submitted again"
        );
        assert_eq!(after.jobs_live, 0, "{spec}: every job is deleted");
    }
}

#[test]
fn the_jobs_route_costs_at_most_1_2_requests_per_1000_conversations() {
    let sim = Sim::start(SimConfig {
        conversations: 40_000,
        job_max_page_size: 1000,
        ..SimConfig::default()
    });
    let dir = Dir::new("jobs-per-1000");
    let out = dir.join("c.jsonl");
    let run = export(
        &sim,
        &Args::range().mode("jobs").format("jsonl").quiet().out(&out),
    );
    run.expect_code(0);
    let stats = sim.stats();
    let conversations = jsonl_ids(&read(&out)).len() as u64;
    assert!(conversations >= 39_000, "{conversations}");
    let per_1000 = job_requests(&stats) as f64 * 1000.0 / conversations as f64;
    assert!(
        per_1000 <= 1.2,
        "{per_1000:.3} requests per 1000: {stats:?}"
    );
}

#[test]
fn auto_sends_a_small_day_to_the_query() {
    let sim = Sim::start(SimConfig {
        conversations: 700,
        end: ts("2026-11-02T00:00:00Z"),
        data_availability: ts("2026-11-02T00:00:00Z"),
        ..SimConfig::default()
    });
    let dir = Dir::new("auto-small");
    let out = dir.join("c.csv");
    let args = Args::between(FROM, "2026-11-02T00:00:00Z").out(&out);
    let run = export(&sim, &args);
    run.expect_code(0);
    assert_same_ids(
        &csv_ids(&read(&out)),
        &sim.ground_truth(ts(FROM), ts("2026-11-02T00:00:00Z")),
    );
    assert_eq!(sim.stats().job_submits, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the details query for every window, as it is faster"),
        "{}",
        run.stderr
    );
    // The estimate was the day's first page, kept for the export: auto costs the query's
    // requests and the availability date's, nothing more.
    let auto_requests = sim.stats().api_requests;
    let query_out = dir.join("q.csv");
    let query = Args::between(FROM, "2026-11-02T00:00:00Z")
        .mode("query")
        .out(&query_out);
    export(&sim, &query).expect_code(0);
    let query_requests = sim.stats().api_requests - auto_requests;
    assert_eq!(auto_requests, query_requests + 1, "{}", run.stderr);
    assert_eq!(read(&query_out), read(&out));
}

#[test]
fn auto_sends_a_large_lake_week_to_jobs_and_a_resume_follows_the_saved_choice() {
    let week_end = "2026-11-08T00:00:00Z";
    let sim = Sim::start(SimConfig {
        conversations: 20_000,
        end: ts(week_end),
        data_availability: ts(week_end),
        ..SimConfig::default()
    });
    let dir = Dir::new("auto-week");
    let out = dir.join("c.jsonl");
    let args = Args::between(FROM, week_end)
        .format("jsonl")
        .backoff("10ms")
        .out(&out);
    // Killed while the job's results are paged; the resume neither asks for the
    // availability date nor estimates again: it follows the saved split.
    let crashed = crash_at(&sim, &args, &out, "page-written:3");
    assert!(
        crashed.stderr.contains("jobs for that part"),
        "{}",
        crashed.stderr
    );
    let before = sim.stats();
    assert_eq!(before.details_requests, 1, "one estimate for the week");
    assert_eq!(before.job_submits, 1);
    export(&sim, &args).expect_code(0);
    let after = sim.stats();
    assert_eq!(
        after.details_requests, 1,
        "the resume does not estimate again"
    );
    assert_eq!(after.availability_requests, before.availability_requests);
    assert_eq!(after.job_submits, 1, "the saved job is paged on");
    assert_eq!(after.jobs_live, 0);
    assert_same_ids(
        &jsonl_ids(&read(&out)),
        &sim.ground_truth(ts(FROM), ts(week_end)),
    );
}

/// Issue: under `auto`, a range larger than the result cap ended the run: the estimate's
/// queries were refused like any query past the cap. A week of 2 000 conversations, a cap of
/// 300 the whole result is held to: the refusal means "more than the cap", jobs export the
/// week, exactly.
#[test]
fn auto_over_the_result_cap_takes_jobs_instead_of_ending_the_run() {
    let (from, to) = ("2026-10-27T00:00:00Z", "2026-11-03T00:00:00Z");
    let sim = Sim::start(SimConfig {
        conversations: 2000,
        start: ts(from),
        end: ts(to),
        data_availability: ts(to),
        result_cap: 300,
        faults: Faults {
            cap_whole_result: true,
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    let dir = Dir::new("auto-over-cap");
    let out = dir.join("c.csv");
    let args = Args::between(from, to)
        .window("1h")
        .backoff("10ms")
        .mode("auto")
        .out(&out);
    let run = export(&sim, &args);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("holds more than the query pages through"),
        "{}",
        run.stderr
    );
    // Job results come ordered by id: the same ids, each once.
    assert_same_ids(&csv_ids(&read(&out)), &sim.ground_truth(ts(from), ts(to)));
    assert!(sim.stats().job_submits >= 1);
}
