//! Clean exports compared with the simulator's ground truth, id by id and field by field.

use genesys_sim::{Faults, Sim, SimConfig};

use crate::util::*;

fn sim() -> Sim {
    Sim::start(SimConfig {
        conversations: 1500,
        ..SimConfig::default()
    })
}

#[test]
fn csv_export_matches_ground_truth_exactly() {
    let sim = sim();
    let dir = Dir::new("csv-clean");
    let out = dir.join("conversations.csv");
    let run = export(&sim, &Args::range().window("1h").out(&out));
    run.expect_code(0);
    assert_no_secrets(&run, &sim);
    let text = read(&out);
    let want = sim.ground_truth(ts(FROM), ts(TO));
    assert!(
        want.len() > 1000,
        "the simulator generated {} conversations",
        want.len()
    );
    assert_same_ids(&csv_ids(&text), &want);
    // Only the finished file is left; no .partial.
    assert_eq!(dir.files(), ["conversations.csv"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the export holds phone numbers");
    }
    assert!(run.stderr.contains("done: "), "{}", run.stderr);
    assert!(run
        .stderr
        .contains(&format!("{} conversations", want.len())));
}

#[test]
fn csv_cells_agree_with_the_source_records() {
    let sim = sim();
    let run = export(&sim, &Args::range().window("6h").quiet());
    run.expect_code(0);
    assert_eq!(run.stderr, "", "--quiet prints nothing on success");
    let mut named_queues = 0;
    let mut ongoing = 0;
    for rec in csv_records(&run.stdout) {
        let c = sim.conversation(&rec[0]).expect("exported ids exist");
        assert_eq!(&rec[1], c["conversationStart"].as_str().unwrap());
        match c["conversationEnd"].as_str() {
            Some(end) => assert_eq!(&rec[2], end),
            None => {
                assert_eq!(&rec[2], "");
                ongoing += 1;
            }
        }
        assert_eq!(&rec[3], c["originatingDirection"].as_str().unwrap_or(""));
        // queue_names lines up with queue_ids, empty for deleted queues.
        let ids: Vec<&str> = rec[5].split(';').filter(|s| !s.is_empty()).collect();
        let names: Vec<&str> = if ids.is_empty() {
            vec![]
        } else {
            rec[6].split(';').collect()
        };
        assert_eq!(ids.len(), names.len(), "{rec:?}");
        for (id, name) in ids.iter().zip(&names) {
            assert_eq!(sim.queue_name(id).unwrap_or_default(), *name);
            named_queues += usize::from(!name.is_empty());
        }
        let divisions: Vec<&str> = c["divisionIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(&rec[11], divisions.join(";"));
    }
    assert!(
        named_queues > 0 && ongoing > 0,
        "the data exercises names ({named_queues}) and ongoing conversations ({ongoing})"
    );
}

/// Exports the range as JSON Lines from `sim` and checks that every line is the API's record
/// byte for byte (the simulator renders records compactly) and the ids are the ground truth.
fn assert_jsonl_lines_are_the_api_records(sim: &Sim, name: &str) {
    let dir = Dir::new(name);
    let out = dir.join("c.jsonl");
    let run = export(sim, &Args::range().mode("query").format("jsonl").out(&out));
    run.expect_code(0);
    let text = read(&out);
    let mut ids = Vec::new();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = value["conversationId"].as_str().unwrap().to_string();
        let original = serde_json::to_string(&sim.conversation(&id).unwrap()).unwrap();
        assert_eq!(line, original, "record {id} differs");
        ids.push(id);
    }
    assert_ids_eq(&ids, &sim.ground_truth(ts(FROM), ts(TO)));
}

#[test]
fn jsonl_lines_are_the_api_records() {
    let sim = sim();
    assert_jsonl_lines_are_the_api_records(&sim, "jsonl");
    // JSON Lines needs no queue names.
    assert_eq!(sim.stats().queue_requests, 0);
}

#[test]
fn jsonl_lines_are_the_api_records_when_a_gateway_indents_the_replies() {
    // Regression: records spanning lines were re-serialized (keys sorted, floats re-printed).
    let sim = Sim::start(SimConfig {
        faults: Faults {
            indent_pages: true,
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    assert_jsonl_lines_are_the_api_records(&sim, "jsonl-indented");
}

#[test]
fn windows_of_any_length_give_the_same_rows() {
    let sim = sim();
    let from = "2026-11-01T05:30:00+02:00";
    let to = "2026-11-02T17:45:00Z";
    let want = sim.ground_truth(ts(from), ts(to));
    for window in ["29m", "1h", "5h30m", "1d", "7d"] {
        let run = export(
            &sim,
            &Args::between(from, to)
                .window(window)
                .page_size("37")
                .quiet(),
        );
        run.expect_code(0);
        assert_same_ids(&csv_ids(&run.stdout), &want);
    }
}

#[test]
fn ended_only_leaves_out_conversations_in_progress() {
    let sim = sim();
    let run = export(&sim, &Args::range().flag("--ended-only").quiet());
    run.expect_code(0);
    let want: Vec<String> = sim
        .ground_truth(ts(FROM), ts(TO))
        .into_iter()
        .filter(|id| {
            sim.conversation(id)
                .unwrap()
                .get("conversationEnd")
                .is_some()
        })
        .collect();
    assert!(want.len() < sim.ground_truth(ts(FROM), ts(TO)).len());
    assert_same_ids(&csv_ids(&run.stdout), &want);
}

#[test]
fn force_replaces_an_existing_file() {
    let sim = sim();
    let dir = Dir::new("force");
    let out = dir.join("c.csv");
    std::fs::write(&out, "old contents\n").unwrap();
    let args = Args::between(FROM, "2026-11-01T02:00:00Z").out(&out);
    let run = export(&sim, &args);
    run.expect_code(2);
    assert_eq!(read(&out), "old contents\n");
    let run = export(&sim, &args.flag("--force"));
    run.expect_code(0);
    assert_same_ids(
        &csv_ids(&read(&out)),
        &sim.ground_truth(ts(FROM), ts("2026-11-01T02:00:00Z")),
    );
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let sim = sim();
    let mut cmd = command(&sim);
    // Some 300 KB of CSV, more than a pipe holds: the run must meet the closed pipe.
    cmd.args(&Args::range().window("1h").page_size("10"));
    let mut child = spawn(cmd);
    // Read a little, then hang up, as `head -1` would.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let run = finish(child);
    run.expect_code(0);
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
    // It stopped at the closed pipe: a run to the end closes with its summary.
    assert!(!run.stderr.contains("done: "), "{}", run.stderr);
}

/// A day-window query export of 300 conversations with these name columns, under `faults`.
fn names_export(faults: genesys_sim::Faults, columns: &str) -> (Sim, Run) {
    let sim = Sim::start(SimConfig {
        conversations: 300,
        faults,
        ..SimConfig::default()
    });
    let args = Args::range()
        .mode("query")
        .window("1d")
        .opt("--columns", columns);
    let run = export(&sim, &args);
    (sim, run)
}

/// Issue: name lookups refused as too long aborted the export, and a server that pages the
/// lookup's reply left names empty. A user or wrap-up lookup of more than 8 ids answers 414
/// and each reply is paged 5 entities a page: every name still arrives.
#[test]
fn name_lookups_refused_as_too_long_step_down_and_paged_replies_are_followed() {
    let faults = genesys_sim::Faults {
        listing_page_size: Some(5),
        listing_max_ids: Some(8),
        ..genesys_sim::Faults::default()
    };
    let (sim, run) = names_export(faults, "conversation_id,user_ids,user_names");
    run.expect_code(0);
    assert!(!run.stderr.contains("left empty"), "{}", run.stderr);
    let records = csv_records(&run.stdout);
    assert_same_ids(
        &records.iter().map(|r| r[0].to_string()).collect::<Vec<_>>(),
        &sim.ground_truth(ts(FROM), ts(TO)),
    );
    for record in &records {
        let ids = record[1].split(';').filter(|s| !s.is_empty()).count();
        let names = record[2].split(';').filter(|s| !s.is_empty()).count();
        assert_eq!(ids, names, "{record:?}");
    }
}

/// Any other refusal of a name lookup leaves the names empty with one warning, and the
/// export goes on.
#[test]
fn a_name_lookup_that_keeps_failing_leaves_names_empty_with_one_warning() {
    let faults = genesys_sim::Faults {
        listing_max_ids: Some(0),
        ..genesys_sim::Faults::default()
    };
    let (sim, run) = names_export(faults, "conversation_id,user_names");
    run.expect_code(0);
    let warnings = run
        .stderr
        .lines()
        .filter(|l| l.contains("user names are left empty"));
    assert_eq!(warnings.count(), 1, "{}", run.stderr);
    let want = sim.ground_truth(ts(FROM), ts(TO));
    assert_eq!(csv_ids(&run.stdout).len(), want.len());
}

/// A paged lookup reply is followed for at most `MAX_NAME_PAGES` (20) pages, and the
/// warning says what was seen: a reply cut short, not users deleted or out of reach.
#[test]
fn a_lookup_reply_paged_past_the_bound_is_named_as_such() {
    let faults = genesys_sim::Faults {
        listing_page_size: Some(1),
        ..genesys_sim::Faults::default()
    };
    let (_, run) = names_export(faults, "conversation_id,user_names");
    run.expect_code(0);
    let cut = run
        .stderr
        .lines()
        .filter(|l| l.contains("user names are left empty"))
        .collect::<Vec<_>>();
    assert!(!cut.is_empty(), "{}", run.stderr);
    for line in cut {
        assert!(line.contains("not in the first 20 of the"), "{line}");
        assert!(!line.contains("deleted"), "{line}");
    }
}
