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
    let run = export_exactly(&sim, Args::new().mode("jobs"));
    assert_eq!(
        sim.stats().details_requests,
        0,
        "jobs mode never pages the query"
    );
    assert!(sim.stats().job_submits >= 4);
    assert!(run.stderr.contains("FULFILLED"), "{}", run.stderr);
}

#[test]
fn auto_mode_uses_jobs_before_the_availability_date_and_the_query_after() {
    let faults = every_fault(0.03);
    let sim = sim(SimConfig {
        data_availability: ts("2026-11-02T06:00:00Z"),
        token_lifetime: Duration::from_secs(1),
        latency: Duration::from_millis(5),
        job_max_page_size: 100,
        faults,
        ..SimConfig::default()
    });
    let run = export_exactly(&sim, Args::new());
    assert!(sim.stats().faults_injected >= 5, "{:?}", sim.stats());
    let stats = sim.stats();
    assert!(
        stats.job_submits >= 3 && stats.details_requests > 0,
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
    // One job per window.
    let submits_per_export = sim.stats().job_submits;
    assert_eq!(submits_per_export, 4);
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
    assert_eq!(stats.job_result_pages, 2, "a day fits one page of 1000");
    // Per window: submit, polls until fulfilled, the result pages, delete. Once: the token
    // and the availability date; the first page size tried (1000) is accepted.
    let minimum = 1 + 1 + stats.job_submits * 2 + stats.job_polls + stats.job_result_pages;
    assert_eq!(stats.job_submits, 2);
    assert_eq!(
        stats.job_polls,
        2 * 3,
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
