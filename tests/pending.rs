//! Nightly exports with a `--pending` ledger: the same organisation exported night after
//! night while the simulator's data moves on (conversations in progress end between nights).
//! Every conversation must appear once in its final form (`--ended-only`), or once as it was
//! and again once ended (upsert loads), whatever the route, kills and refusals.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use genesys_sim::{Fault, Faults, Sim, SimConfig};
use time::OffsetDateTime;

use crate::util::*;

/// The nights' bounds: three days ending two days ago (the ledger's ageing compares starts
/// with the real clock, so the data must be recent whatever day the tests run).
fn days() -> [OffsetDateTime; 4] {
    let d0 = days_ago(5);
    let day = time::Duration::days(1);
    [d0, d0 + day, d0 + day * 2, d0 + day * 3]
}

/// When night `n` (1-based) runs: a few minutes after its range ends, so conversations that
/// started late are still in progress; the third night runs late enough for all to have
/// ended.
fn night_time(n: usize) -> OffsetDateTime {
    let d = days();
    match n {
        3 => d[3] + time::Duration::hours(4),
        n => d[n] + time::Duration::minutes(5),
    }
}

/// Three days of data; every conversation ends (the longest lasts 3 h), some after the
/// midnight that follows their start.
fn data() -> SimConfig {
    let d = days();
    SimConfig {
        conversations: 1200,
        start: d[0],
        end: d[3],
        ongoing_fraction: 0.0,
        data_availability: d[3] + time::Duration::days(1),
        now: Some(night_time(1)),
        ..SimConfig::default()
    }
}

/// The export of night `n` to `out`, sharing the ledger `ledger`.
fn night(n: usize, out: &Path, ledger: &Path, mode: &str, ended_only: bool) -> Args {
    let d = days();
    let args = Args::between(&stamp(d[n - 1]), &stamp(d[n]))
        .mode(mode)
        .backoff("10ms")
        .opt("--pending", ledger.to_str().unwrap())
        .out(out);
    if ended_only {
        args.flag("--ended-only")
    } else {
        args
    }
}

/// What three nights wrote and what the simulator says was in progress each night.
struct Played {
    /// (id, conversation_end) of each night's file.
    files: Vec<Vec<(String, String)>>,
    /// The conversations of each night's range in progress when it ran.
    in_progress: Vec<Vec<String>>,
    runs: Vec<Run>,
}

/// Plays nights 1 to `nights`, moving the data on before each.
fn play(sim: &Sim, dir: &Dir, nights: usize, mode: &str, ended_only: bool) -> Played {
    let d = days();
    let ledger = dir.join("pending.json");
    let mut played = Played {
        files: Vec::new(),
        in_progress: Vec::new(),
        runs: Vec::new(),
    };
    for n in 1..=nights {
        sim.set_now(night_time(n));
        played.in_progress.push(sim.in_progress_ids(d[n - 1], d[n]));
        let out = dir.join(&format!("night-{n}.csv"));
        let run = export(sim, &night(n, &out, &ledger, mode, ended_only));
        run.expect_code(0);
        assert_no_secrets(&run, sim);
        played.files.push(csv_ids_and_ends(&read(&out)));
        played.runs.push(run);
    }
    played
}

/// The ids a ledger lists.
fn ledger_ids(path: &Path) -> Vec<String> {
    let ledger: serde_json::Value = serde_json::from_str(&read(path)).unwrap();
    ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Checks each night's file against the rule: the ended follow-ups of the night before
/// (ascending ids), then the night's range, less what is in progress with `--ended-only`; a
/// row has an end unless it was in progress.
fn check_nights(sim: &Sim, played: &Played, ended_only: bool) {
    let d = days();
    for (i, rows) in played.files.iter().enumerate() {
        let mut want: Vec<String> = match i {
            0 => Vec::new(),
            _ => {
                let mut ids = played.in_progress[i - 1].clone();
                ids.sort();
                ids
            }
        };
        let in_progress: HashSet<&String> = played.in_progress[i].iter().collect();
        let range: Vec<String> = sim
            .ground_truth(d[i], d[i + 1])
            .into_iter()
            .filter(|id| !(ended_only && in_progress.contains(id)))
            .collect();
        want.extend(range);
        let got: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        assert_same_ids(&got, &want);
        for (id, end) in rows {
            let followed = i > 0 && played.in_progress[i - 1].contains(id);
            let ended = !end.is_empty();
            if followed || !in_progress.contains(id) {
                assert!(ended, "night {}: {id} has no end", i + 1);
            } else {
                assert!(!ended_only && !ended, "night {}: {id} in progress", i + 1);
            }
        }
        // The follow-ups come first, in ascending id order.
        if i > 0 {
            let n = played.in_progress[i - 1].len();
            let mut first: Vec<String> = got[..n].to_vec();
            first.sort();
            assert_eq!(&got[..n], first.as_slice(), "night {}", i + 1);
        }
    }
    if ended_only {
        // Across the files: every conversation that started in their ranges, once, but for
        // those the last night left in progress.
        let nights = played.files.len();
        let all: Vec<String> = played
            .files
            .iter()
            .flatten()
            .map(|(id, _)| id.clone())
            .collect();
        let left = played.in_progress.get(nights - 1);
        let want: Vec<String> = sim
            .ground_truth(d[0], d[nights])
            .into_iter()
            .filter(|id| !left.is_some_and(|left| left.contains(id)))
            .collect();
        assert_same_ids(&all, &want);
    }
}

#[test]
fn three_nights_write_every_conversation_once_in_its_final_form() {
    for mode in ["query", "jobs"] {
        let sim = Sim::start(data());
        let dir = Dir::new(&format!("pending-three-nights-{mode}"));
        let played = play(&sim, &dir, 3, mode, true);
        check_nights(&sim, &played, true);
        // In progress on night 1: not in its file, in night 2's with their end.
        let first = &played.in_progress[0];
        assert!(first.len() >= 5, "{mode}: too few in progress: {first:?}");
        let night_2: HashMap<&String, &String> =
            played.files[1].iter().map(|(id, end)| (id, end)).collect();
        for id in first {
            assert!(!played.files[0].iter().any(|(i, _)| i == id), "{id}");
            let want_end = sim.conversation(id).unwrap()["conversationEnd"]
                .as_str()
                .unwrap()
                .to_string();
            assert_eq!(
                night_2.get(id).map(|e| e.as_str()),
                Some(want_end.as_str()),
                "{id}"
            );
        }
        // Night 3 repeats none, and leaves nothing pending.
        assert!(played.in_progress[2].is_empty());
        assert!(ledger_ids(&dir.join("pending.json")).is_empty());
        let summary = |n: usize| played.runs[n].stderr.lines().last().unwrap().to_string();
        let (a, b) = (played.in_progress[0].len(), played.in_progress[1].len());
        assert!(
            summary(1).ends_with(&format!(
                "follow-ups: {a} written, {b} still pending, 0 dropped"
            )),
            "{mode}: {}",
            summary(1)
        );
        assert!(summary(0).ends_with(&format!(
            "follow-ups: 0 written, {a} still pending, 0 dropped"
        )));
        eprintln!(
            "three nights ({mode}): {} + {} + {} rows; in progress {a} on night 1, {b} on night 2, all written once",
            played.files[0].len(),
            played.files[1].len(),
            played.files[2].len()
        );
    }
}

#[test]
fn without_ended_only_rows_in_progress_are_written_then_written_again_ended() {
    let sim = Sim::start(data());
    let dir = Dir::new("pending-upsert");
    let played = play(&sim, &dir, 3, "query", false);
    check_nights(&sim, &played, false);
    let mut count: HashMap<&String, usize> = HashMap::new();
    for (id, _) in played.files.iter().flatten() {
        *count.entry(id).or_default() += 1;
    }
    let twice: HashSet<&String> = count
        .iter()
        .filter(|(_, n)| **n == 2)
        .map(|(id, _)| *id)
        .collect();
    let open: HashSet<&String> = played.in_progress.iter().flatten().collect();
    assert_eq!(twice, open);
    assert!(count.values().all(|n| *n <= 2));
    assert!(!open.is_empty());
}

/// The entries of a ledger handed to a run, as (id, output).
fn ledger_handed(path: &Path) -> Vec<(String, String)> {
    let ledger: serde_json::Value = serde_json::from_str(&read(path)).unwrap();
    ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["handed"].is_null())
        .map(|e| {
            let output = e["handed"]["output"].as_str().unwrap().to_string();
            (e["id"].as_str().unwrap().to_string(), output)
        })
        .collect()
}

/// Night 1, then night 2 killed at `spec` and run again (resumed, or with `--restart`, which
/// discards what the killed run wrote), against the same nights without a kill: the files
/// must be the same bytes, the ledgers list the same ids, and the two nights hold what the
/// simulator says, each follow-up once.
fn check_kill_during_follow_up(spec: &str, restart: bool) {
    let config = SimConfig {
        max_ids_per_request: 2,
        ..data()
    };
    let name = format!("{}-{restart}", spec.replace(':', "-"));
    let reference = {
        let sim = Sim::start(config.clone());
        let dir = Dir::new(&format!("pending-kill-ref-{name}"));
        play(&sim, &dir, 2, "query", true);
        (
            read(&dir.join("night-2.csv")),
            ledger_ids(&dir.join("pending.json")),
        )
    };
    let sim = Sim::start(config);
    let dir = Dir::new(&format!("pending-kill-{name}"));
    let mut played = play(&sim, &dir, 1, "query", true);
    let followed = played.in_progress[0].len();
    assert!(followed >= 5);
    sim.set_now(night_time(2));
    played
        .in_progress
        .push(sim.in_progress_ids(days()[1], days()[2]));
    let ledger = dir.join("pending.json");
    let out = dir.join("night-2.csv");
    let args = night(2, &out, &ledger, "query", true);
    crash_at(&sim, &args, &out, spec);
    let again = if restart {
        args.flag("--restart")
    } else {
        args
    };
    let run = export(&sim, &again);
    run.expect_code(0);
    played.files.push(csv_ids_and_ends(&read(&out)));
    check_nights(&sim, &played, true);
    assert_eq!(
        read(&out),
        reference.0,
        "{spec}: the night run again differs"
    );
    assert_eq!(
        ledger_ids(&ledger),
        reference.1,
        "{spec}: the ledgers differ"
    );
    assert!(ledger_handed(&ledger).is_empty(), "{spec}");
    if restart {
        let summary = run.stderr.lines().last().unwrap();
        assert!(
            summary.contains(&format!("follow-ups: {followed} written")),
            "{spec}: {summary}"
        );
    }
}

#[test]
fn a_kill_during_the_follow_up_resumes_exactly() {
    // After a batch's rows are synced, before the state records them.
    check_kill_during_follow_up("follow-up-written:2", false);
    // After the state records a batch, before the ledger hands it to the run.
    check_kill_during_follow_up("state-saved:3", false);
    // Half-way through rewriting the ledger.
    check_kill_during_follow_up("ledger-write:1", false);
    // After the follow-up, during the range.
    check_kill_during_follow_up("page-written:1", false);
}

#[test]
fn a_restart_after_a_kill_during_or_after_the_follow_up_writes_each_follow_up_once() {
    check_kill_during_follow_up("follow-up-written:2", true);
    check_kill_during_follow_up("state-saved:3", true);
    check_kill_during_follow_up("ledger-write:1", true);
    check_kill_during_follow_up("page-written:1", true);
}

/// Night 1, night 2 killed right after its publish, its file taken away by the loader, then
/// night 3 (to the same file name as night 2 if `same_name`, as with a fixed name that the
/// loader empties): nothing is repeated or lost across the three files.
fn check_crash_after_the_publish(same_name: bool) {
    let sim = Sim::start(data());
    let dir = Dir::new(&format!("pending-published-crash-{same_name}"));
    let name = |n: usize| match same_name {
        true => "latest.csv".to_string(),
        false => format!("night-{n}.csv"),
    };
    let d = days();
    let mut played = play(&sim, &dir, 1, "query", true);
    let ledger = dir.join("pending.json");
    sim.set_now(night_time(2));
    played.in_progress.push(sim.in_progress_ids(d[1], d[2]));
    let out = dir.join(&name(2));
    let run = abort_at(&sim, &night(2, &out, &ledger, "query", true), "published:1");
    // Published, its state and partial gone; its follow-ups still in the ledger, handed to it.
    assert!(out.exists() && !state_path(&out).exists() && !partial_path(&out).exists());
    let mut followed = played.in_progress[0].clone();
    followed.sort();
    let handed = ledger_handed(&ledger);
    let ids: Vec<String> = handed.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, followed);
    let absolute = std::path::absolute(&out).unwrap();
    assert!(
        handed.iter().all(|(_, o)| Path::new(o) == absolute),
        "{handed:?}"
    );
    // The warehouse's loader takes the file away before the next night.
    let moved = dir.join("loaded-night-2.csv");
    std::fs::rename(&out, &moved).unwrap();
    played.files.push(csv_ids_and_ends(&read(&moved)));
    played.runs.push(run);
    sim.set_now(night_time(3));
    played.in_progress.push(sim.in_progress_ids(d[2], d[3]));
    let out = dir.join(&name(3));
    let run = export(&sim, &night(3, &out, &ledger, "query", true));
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!(
            "{} follow-ups written by exports published since removed",
            followed.len()
        )),
        "{}",
        run.stderr
    );
    played.files.push(csv_ids_and_ends(&read(&out)));
    check_nights(&sim, &played, true);
    assert!(ledger_ids(&ledger).is_empty());
}

#[test]
fn a_crash_between_the_publish_and_the_ledger_rewrite_repeats_nothing() {
    check_crash_after_the_publish(false);
    check_crash_after_the_publish(true);
}

#[test]
fn follow_ups_handed_to_a_run_that_can_still_resume_are_left_to_it() {
    let sim = Sim::start(data());
    let dir = Dir::new("pending-handed-elsewhere");
    let d = days();
    let played = play(&sim, &dir, 1, "query", true);
    let ledger = dir.join("pending.json");
    // Night 2 dies after its follow-up, during its range.
    sim.set_now(night_time(2));
    let out_2 = dir.join("night-2.csv");
    let night_2 = night(2, &out_2, &ledger, "query", true);
    crash_at(&sim, &night_2, &out_2, "page-written:1");
    let handed = ledger_handed(&ledger);
    assert_eq!(handed.len(), played.in_progress[0].len());
    // Night 3 runs before night 2 is run again: it neither follows up nor removes them.
    sim.set_now(night_time(3));
    let out_3 = dir.join("night-3.csv");
    let run = export(&sim, &night(3, &out_3, &ledger, "query", true));
    run.expect_code(0);
    assert!(!run.stderr.contains("following up"), "{}", run.stderr);
    assert_eq!(ledger_handed(&ledger), handed);
    // Night 2 started over: the follow-ups are due to it again, and written once.
    let run = export(&sim, &night_2.flag("--restart"));
    run.expect_code(0);
    let files = [&dir.join("night-1.csv"), &out_2, &out_3];
    let all: Vec<String> = files.iter().flat_map(|f| csv_ids(&read(f))).collect();
    assert_same_ids(&all, &sim.ground_truth(d[0], d[3]));
    assert!(ledger_ids(&ledger).is_empty());
}

/// Night 1 with the ledger, then `edit` the ledger (or nothing) and run night 2 as `args`
/// say; returns the dir, the ledger's bytes before night 2 and night 2's run.
fn night_2_after(
    name: &str,
    sim: &Sim,
    edit: impl FnOnce(&Path),
    args: impl FnOnce(Args) -> Args,
) -> (Dir, String, Run, PathBuf) {
    let dir = Dir::new(name);
    play(sim, &dir, 1, "query", true);
    let ledger = dir.join("pending.json");
    edit(&ledger);
    let before = read(&ledger);
    sim.set_now(night_time(2));
    let out = dir.join("night-2.csv");
    let run = export(sim, &args(night(2, &out, &ledger, "query", true)));
    (dir, before, run, out)
}

#[test]
fn a_ledger_of_another_command_family_is_refused_untouched() {
    let sim = Sim::start(data());
    let (dir, before, run, out) = night_2_after(
        "pending-mismatch",
        &sim,
        |_| {},
        |args| args.format("jsonl"),
    );
    run.expect_code(2);
    let ledger = dir.join("pending.json");
    assert!(
        run.stderr
            .contains(&format!("--pending {}", ledger.display())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("another command family"),
        "{}",
        run.stderr
    );
    assert_eq!(read(&ledger), before);
    assert!(!out.exists() && !partial_path(&out).exists());
    assert_eq!(sim.stats().by_id_requests, 0);
}

#[test]
fn a_corrupt_ledger_is_refused_untouched() {
    let check = |name: &str, damage: &dyn Fn(String) -> String, why: &str| {
        let sim = Sim::start(data());
        let (dir, before, run, out) = night_2_after(
            name,
            &sim,
            |ledger| std::fs::write(ledger, damage(read(ledger))).unwrap(),
            |args| args,
        );
        run.expect_code(2);
        assert!(
            run.stderr.contains("cannot be used") && run.stderr.contains(why),
            "{name}: {}",
            run.stderr
        );
        assert_eq!(read(&dir.join("pending.json")), before, "{name}");
        assert!(!out.exists() && !partial_path(&out).exists(), "{name}");
    };
    check(
        "pending-corrupt-cut",
        &|text| text[..text.len() / 2].to_string(),
        "not a ledger",
    );
    check(
        "pending-corrupt-id",
        &|text| text.replacen("\"id\": \"", "\"id\": \"a,", 1),
        "not of the form",
    );
    check(
        "pending-corrupt-version",
        &|text| text.replacen("\"version\": 2", "\"version\": 7", 1),
        "ledger format 7",
    );
}

#[test]
fn ageing_drops_old_entries_with_a_warning_naming_each() {
    let sim = Sim::start(data());
    let mut first = Vec::new();
    let (dir, _, run, out) = night_2_after(
        "pending-ageing",
        &sim,
        |ledger| first = ledger_ids(ledger),
        |args| args.opt("--pending-max-age", "1h"),
    );
    run.expect_code(0);
    assert!(!first.is_empty());
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("--pending-max-age"))
        .collect();
    assert_eq!(warnings.len(), first.len(), "{}", run.stderr);
    for id in &first {
        assert!(warnings.iter().any(|w| w.contains(id.as_str())), "{id}");
    }
    let written: Vec<String> = csv_ids(&read(&out));
    assert!(first.iter().all(|id| !written.contains(id)));
    let night_2 = sim.in_progress_ids(days()[1], days()[2]);
    assert!(
        run.stderr.trim_end().ends_with(&format!(
            "follow-ups: 0 written, {} still pending, {} dropped",
            night_2.len(),
            first.len()
        )),
        "{}",
        run.stderr
    );
    let mut want = night_2.clone();
    want.sort();
    assert_eq!(ledger_ids(&dir.join("pending.json")), want);
}

#[test]
fn a_conversation_the_api_no_longer_returns_is_dropped_with_a_warning() {
    let sim = Sim::start(data());
    let gone = "00000000-dead-4000-8000-000000000000";
    let add_gone = |ledger: &Path| {
        let mut value: serde_json::Value = serde_json::from_str(&read(ledger)).unwrap();
        let entries = value["entries"].as_array_mut().unwrap();
        let mut entry = entries[0].clone();
        entry["id"] = serde_json::json!(gone);
        entries.insert(0, entry);
        std::fs::write(ledger, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    };
    let mut first = Vec::new();
    let (dir, _, run, out) = night_2_after(
        "pending-gone",
        &sim,
        |ledger| {
            first = ledger_ids(ledger);
            add_gone(ledger)
        },
        |args| args,
    );
    run.expect_code(0);
    assert!(!first.is_empty());
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains(gone))
        .expect("a warning");
    assert!(
        warning.starts_with("warning: ") && warning.contains("no longer returned"),
        "{warning}"
    );
    assert!(!ledger_ids(&dir.join("pending.json")).contains(&gone.to_string()));
    let written = csv_ids(&read(&out));
    assert!(first.iter().all(|id| written.contains(id)));
    assert!(
        run.stderr.trim_end().ends_with(" 1 dropped"),
        "{}",
        run.stderr
    );
}

#[test]
fn batches_step_down_when_the_api_refuses_that_many_ids_and_malformed_replies_are_retried() {
    let sim = Sim::start(SimConfig {
        max_ids_per_request: 3,
        ..data()
    });
    let dir = Dir::new("pending-step-down");
    let mut played = play(&sim, &dir, 1, "query", true);
    // Night 2's first API requests are the follow-up's: the first four come back as 200s
    // that are no reply at all, and the next four without a conversation's id (which only
    // damages a reply that carries conversations, not a refusal); each is asked again.
    let first = sim.stats().api_requests;
    let damaged = [
        Fault::BadJson,
        Fault::Truncate,
        Fault::EmptyArray,
        Fault::Blank,
    ];
    let mut script: Vec<(u64, Fault)> = (1..).map(|i| first + i).zip(damaged).collect();
    script.extend((5..=8).map(|i| (first + i, Fault::MissingId)));
    sim.set_faults(Faults {
        script,
        ..Faults::default()
    });
    sim.set_now(night_time(2));
    played
        .in_progress
        .push(sim.in_progress_ids(days()[1], days()[2]));
    let out = dir.join("night-2.csv");
    let run = export(
        &sim,
        &night(2, &out, &dir.join("pending.json"), "query", true),
    );
    run.expect_code(0);
    played.files.push(csv_ids_and_ends(&read(&out)));
    check_nights(&sim, &played, true);
    let asked = played.in_progress[0].len();
    assert!(asked > 3);
    assert!(
        run.stderr
            .contains(&format!("{asked} ids per request refused")),
        "{}",
        run.stderr
    );
    let stats = sim.stats();
    assert!(stats.faults_injected >= 5, "{stats:?}");
    assert!(stats.max_ids_per_request >= asked as u64);
    // The damaged replies, the refusals of too many ids, then batches of at most 3.
    assert!(stats.by_id_requests >= stats.faults_injected + 2 + (asked as u64).div_ceil(3));
}

#[test]
fn a_ledger_in_use_by_another_run_is_refused_untouched() {
    let sim = Sim::start(data());
    let mut holder = None;
    let (dir, before, run, out) = night_2_after(
        "pending-in-use",
        &sim,
        |ledger| {
            let lock = std::fs::File::create(format!("{}.lock", ledger.display())).unwrap();
            lock.try_lock().unwrap();
            holder = Some(lock);
        },
        |args| args,
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("is already using the ledger"),
        "{}",
        run.stderr
    );
    assert_eq!(read(&dir.join("pending.json")), before);
    assert!(!out.exists() && !partial_path(&out).exists());
    drop(holder);
}

#[test]
fn a_ledger_in_a_missing_directory_is_refused_before_anything_is_sent() {
    let sim = Sim::start(data());
    let dir = Dir::new("pending-no-dir");
    let out = dir.join("night-1.csv");
    let run = export(
        &sim,
        &night(1, &out, &dir.join("nowhere/pending.json"), "query", true),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("the directory of --pending"),
        "{}",
        run.stderr
    );
    assert_eq!(sim.stats().api_requests, 0);
    assert_eq!(dir.files(), Vec::<String>::new());
}

#[test]
fn an_output_the_ledger_cannot_name_is_refused_before_anything_is_sent() {
    let sim = Sim::start(data());
    let dir = Dir::new("pending-unnamed");
    // A control character: the ledger stores the run's paths as checked text.
    let out = dir.join("night\u{1}1.csv");
    let run = export(
        &sim,
        &night(1, &out, &dir.join("pending.json"), "query", true),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("cannot name this export"),
        "{}",
        run.stderr
    );
    assert_eq!(sim.stats().token_requests, 0);
    assert_eq!(dir.files(), Vec::<String>::new());
}

/// Issue: a by-id reply of `{}` dropped every ledger entry it was asked about as "no longer
/// returned". The follow-up's first reply is `{}`: it is asked again, and nothing is lost.
#[test]
fn a_by_id_reply_of_an_empty_object_drops_nothing_from_the_ledger() {
    let sim = Sim::start(SimConfig {
        faults: Faults {
            by_id_empty: 1,
            ..Faults::default()
        },
        ..data()
    });
    let dir = Dir::new("pending-empty-reply");
    let played = play(&sim, &dir, 2, "query", true);
    check_nights(&sim, &played, true);
    let second = &played.runs[1].stderr;
    assert!(
        !second.contains("no longer returned by the API"),
        "{second}"
    );
    assert!(
        second.contains("asking again before dropping them"),
        "{second}"
    );
}
