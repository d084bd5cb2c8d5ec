//! `--tz` and `--manifest` against the simulator: local days across Paris's changes of
//! offset compared with the ground truth of their exact UTC intervals, a fixed offset without
//! any zoneinfo, an unknown zone refused before any request, a resume under another zone
//! refused, and the manifest's figures held against the file it describes.

use std::path::Path;

use genesys_sim::{Sim, SimConfig};
use serde_json::Value;

use crate::util::*;

/// Conversations over the last days of March and of October 2026, Paris's two changes.
fn sim_around(start: &str, end: &str) -> Sim {
    Sim::start(SimConfig {
        conversations: 1200,
        start: ts(start),
        end: ts(end),
        ..SimConfig::default()
    })
}

const LOCAL_COLUMNS: &str =
    "conversation_id,conversation_start,conversation_end,conversation_start_local,conversation_date_local";

fn manifest_of(out: &Path) -> Value {
    let mut path = out.as_os_str().to_owned();
    path.push(".manifest.json");
    serde_json::from_str(&read(Path::new(&path))).expect("the manifest is JSON")
}

/// Exports the Paris day `day` as one `1d` window and checks it against the ground truth of
/// `[utc_from, utc_to)`, its local columns, and the manifest's figures against the file.
fn paris_day(sim: &Sim, day: &str, next: &str, utc_from: &str, utc_to: &str, offsets: [&str; 2]) {
    let dir = Dir::new("tz-paris");
    let out = dir.join("day.csv");
    let args = Args::between(day, next)
        .opt("--tz", "Europe/Paris")
        .window("1d")
        .mode("query")
        .opt("--columns", LOCAL_COLUMNS)
        .flag("--manifest")
        .out(&out);
    export(sim, &args).expect_code(0);
    let text = read(&out);
    let want = sim.ground_truth(ts(utc_from), ts(utc_to));
    assert!(want.len() > 100, "{} conversations that day", want.len());
    assert_same_ids(&csv_ids(&text), &want);
    let records = csv_records(&text);
    for rec in &records {
        assert_eq!(&rec[4], day, "{rec:?}");
        let local =
            time::OffsetDateTime::parse(&rec[3], &time::format_description::well_known::Rfc3339)
                .unwrap();
        assert_eq!(local, ts(&rec[1]), "{rec:?}");
        assert!(offsets.iter().any(|o| rec[3].ends_with(o)), "{rec:?}");
        assert_eq!(
            rec[3].len(),
            "2026-03-29T03:12:03.512+02:00".len(),
            "{rec:?}"
        );
    }
    // The manifest: rows are the file's lines, one window of the local day, the range in
    // UTC and in the zone.
    let m = manifest_of(&out);
    assert_eq!(m["rows"]["conversations"], records.len() as u64);
    assert_eq!(text.lines().count(), records.len() + 1);
    assert_eq!(m["from"], utc_from.replace('Z', ".000Z"));
    assert_eq!(m["to"], utc_to.replace('Z', ".000Z"));
    assert_eq!(m["tz"], "Europe/Paris");
    assert_eq!(m["from_local"], format!("{day}T00:00:00.000{}", offsets[0]));
    assert_eq!(m["to_local"], format!("{next}T00:00:00.000{}", offsets[1]));
    let windows = m["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{m}");
    assert_eq!(windows[0]["route"], "query");
    assert_eq!(windows[0]["start"], m["from"]);
    assert_eq!(windows[0]["end"], m["to"]);
    assert_eq!(windows[0]["conversations"], want.len() as u64);
    assert_eq!(m["follow_ups"], 0);
    let in_progress = records.iter().filter(|r| r[2].is_empty()).count();
    assert_eq!(m["in_progress"], in_progress as u64);
    assert_eq!(m["conversations_this_run"], want.len() as u64);
    assert_eq!(m["exit_code"], 0);
    assert_eq!(m["command"], "conversations");
    assert_eq!(m["mode"], "query");
    assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["file"], "day.csv");
    assert!(m["started"].as_str().unwrap() <= m["ended"].as_str().unwrap());
    assert_eq!(dir.files(), ["day.csv", "day.csv.manifest.json"]);
}

/// 2026-03-29 in Paris: 23 hours, from 23:00 UTC the day before to 22:00 UTC.
#[test]
fn the_march_change_day_in_paris_is_its_23_hours_of_ground_truth() {
    let sim = sim_around("2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z");
    paris_day(
        &sim,
        "2026-03-29",
        "2026-03-30",
        "2026-03-28T23:00:00Z",
        "2026-03-29T22:00:00Z",
        ["+01:00", "+02:00"],
    );
}

/// 2026-10-25 in Paris: 25 hours, from 22:00 UTC the day before to 23:00 UTC.
#[test]
fn the_october_change_day_in_paris_is_its_25_hours_of_ground_truth() {
    let sim = sim_around("2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z");
    paris_day(
        &sim,
        "2026-10-25",
        "2026-10-26",
        "2026-10-24T22:00:00Z",
        "2026-10-25T23:00:00Z",
        ["+02:00", "+01:00"],
    );
}

/// A fixed offset reads no file: the run works from an empty directory with `TZDIR` naming
/// an empty one, and its day is the offset's.
#[test]
fn a_fixed_offset_needs_no_zoneinfo() {
    let sim = sim_around("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z");
    let dir = Dir::new("tz-fixed");
    let empty = Dir::new("tz-empty-zoneinfo");
    let mut cmd = command(&sim);
    cmd.current_dir(&dir.path).env("TZDIR", &empty.path).args(
        &Args::between("2026-11-02", "2026-11-03")
            .opt("--tz", "+05:30")
            .mode("query"),
    );
    let run = run_command(cmd);
    run.expect_code(0);
    let want = sim.ground_truth(ts("2026-11-01T18:30:00Z"), ts("2026-11-02T18:30:00Z"));
    assert!(want.len() > 100);
    assert_same_ids(&csv_ids(&run.stdout), &want);
    assert!(dir.files().is_empty() && empty.files().is_empty());
}

/// An unknown zone exits 2 before any request, naming the zone and every path it tried.
#[test]
fn an_unknown_zone_exits_2_before_any_request() {
    let sim = sim_around("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z");
    let dir = Dir::new("tz-unknown");
    let before = format!("{:?}", sim.stats());
    let mut cmd = command(&sim);
    cmd.env("TZDIR", dir.join("zoneinfo")).args(
        &Args::range()
            .opt("--tz", "Mars/Olympus_Mons")
            .out(&dir.join("out.csv")),
    );
    let run = run_command(cmd);
    run.expect_code(2);
    assert!(
        run.stderr.contains("unknown zone 'Mars/Olympus_Mons'"),
        "{}",
        run.stderr
    );
    let tried = dir.join("zoneinfo/Mars/Olympus_Mons");
    assert!(
        run.stderr.contains(&tried.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("/usr/share/zoneinfo/Mars/Olympus_Mons"),
        "{}",
        run.stderr
    );
    assert_eq!(format!("{:?}", sim.stats()), before, "no request was sent");
    assert!(dir.files().is_empty(), "no file was created");
}

/// A run saved under one zone resumes under that zone only; another exits 2 through the
/// mismatch check, and the same zone then completes the export exactly.
#[test]
fn resuming_with_another_zone_is_refused() {
    let sim = sim_around("2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z");
    let dir = Dir::new("tz-resume");
    let out = dir.join("days.csv");
    // The same instants whatever the zone: only the zone (and so the windows) differs.
    let base = Args::between("2026-10-23T22:00:00Z", "2026-10-25T23:00:00Z")
        .window("1d")
        .mode("query")
        .page_size("50")
        .out(&out);
    let paris = base.clone().opt("--tz", "Europe/Paris");
    crash_at(&sim, &paris, &out, "state-saved:3");
    refused_as_another_export(&sim, &base.clone().opt("--tz", "America/Chicago"), &out);
    refused_as_another_export(&sim, &base, &out);
    export(&sim, &paris).expect_code(0);
    let want = sim.ground_truth(ts("2026-10-23T22:00:00Z"), ts("2026-10-25T23:00:00Z"));
    assert_same_ids(&csv_ids(&read(&out)), &want);
}

/// A run that fails leaves no manifest: one that dies before the publish leaves the old file
/// with its own manifest; one that dies right after the publish leaves the new file without
/// the old file's manifest; a complete run describes its own file.
#[test]
fn a_failed_run_leaves_no_manifest_for_its_file() {
    let sim = sim_around("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z");
    let dir = Dir::new("tz-manifest-failed");
    let out = dir.join("c.csv");
    let day = |from: &str, to: &str| {
        Args::between(from, to)
            .mode("query")
            .flag("--manifest")
            .flag("--force")
            .out(&out)
    };
    export(&sim, &day("2026-11-01", "2026-11-02")).expect_code(0);
    let old = manifest_of(&out);
    assert_eq!(old["from"], "2026-11-01T00:00:00.000Z");
    abort_at(&sim, &day("2026-11-02", "2026-11-03"), "state-saved:2");
    assert!(saved_state(&out).is_some());
    assert_eq!(manifest_of(&out), old, "the old file keeps its manifest");
    abort_at(
        &sim,
        &day("2026-11-02", "2026-11-03").flag("--restart"),
        "published:1",
    );
    assert!(out.exists());
    // The lock file stays behind an aborted run; no manifest does.
    assert_eq!(
        dir.files(),
        ["c.csv", "c.csv.lock"],
        "no manifest describes the new file"
    );
    export(&sim, &day("2026-11-02", "2026-11-03")).expect_code(0);
    let m = manifest_of(&out);
    assert_eq!(m["from"], "2026-11-02T00:00:00.000Z");
    assert_eq!(m["tz"], "UTC");
    assert_eq!(
        m["rows"]["conversations"],
        csv_ids(&read(&out)).len() as u64
    );
}

/// The manifest is one of the run's own files: a ledger named like it is refused.
#[test]
fn a_ledger_named_like_the_manifest_exits_2() {
    let sim = sim_around("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z");
    let dir = Dir::new("tz-manifest-clash");
    let out = dir.join("c.csv");
    let ledger = dir.join("c.csv.manifest.json");
    let run = export(
        &sim,
        &Args::range()
            .mode("query")
            .opt("--pending", ledger.to_str().unwrap())
            .out(&out),
    );
    run.expect_code(2);
    assert!(run.stderr.contains("manifest"), "{}", run.stderr);
    assert!(dir.files().is_empty());
}

/// A dataset's `manifest.json` is the same manifest: the zone, the local range and the local
/// day's window, with the rows of every table.
#[test]
fn a_dataset_manifest_carries_the_zone_and_its_local_day() {
    let sim = sim_around("2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z");
    let dir = Dir::new("tz-tables");
    let tables = dir.join("day");
    let args = Args::between("2026-03-29", "2026-03-30")
        .opt("--tz", "Europe/Paris")
        .mode("query")
        .opt("--tables", tables.to_str().unwrap());
    export(&sim, &args).expect_code(0);
    let want = sim.ground_truth(ts("2026-03-28T23:00:00Z"), ts("2026-03-29T22:00:00Z"));
    let m: Value = serde_json::from_str(&read(&tables.join("manifest.json"))).unwrap();
    assert_eq!(m["tz"], "Europe/Paris");
    assert_eq!(m["from_local"], "2026-03-29T00:00:00.000+01:00");
    assert_eq!(m["to_local"], "2026-03-30T00:00:00.000+02:00");
    assert_eq!(m["windows"].as_array().unwrap().len(), 1, "{m}");
    assert_eq!(m["windows"][0]["conversations"], want.len() as u64);
    assert_eq!(m["rows"]["conversations"], want.len() as u64);
    assert!(m["rows"]["participants"].as_u64().unwrap() > want.len() as u64);
}

/// `--tz local` reads `TZ`: a link to a zone file is followed (as `/etc/localtime` usually
/// is one), and what is not a regular file is refused before any request.
#[test]
fn a_local_zone_follows_a_link_and_refuses_what_is_no_file() {
    let sim = sim_around("2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z");
    let dir = Dir::new("tz-local");
    let link = dir.join("localtime");
    std::os::unix::fs::symlink("/usr/share/zoneinfo/Europe/Paris", &link).unwrap();
    let day = Args::between("2026-03-29", "2026-03-30")
        .opt("--tz", "local")
        .mode("query");
    let mut cmd = command(&sim);
    cmd.env("TZ", &link).args(&day);
    let run = run_command(cmd);
    run.expect_code(0);
    let want = sim.ground_truth(ts("2026-03-28T23:00:00Z"), ts("2026-03-29T22:00:00Z"));
    assert_same_ids(&csv_ids(&run.stdout), &want);
    let before = format!("{:?}", sim.stats());
    let mut cmd = command(&sim);
    cmd.env("TZ", &dir.path).args(&day);
    let run = run_command(cmd);
    run.expect_code(2);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    assert_eq!(format!("{:?}", sim.stats()), before, "no request was sent");
}
