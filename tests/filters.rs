//! Server-side filters: exports through the query and through jobs compared, id by id, with
//! the simulator's ground truth filtered the same way; queue names resolved or refused before
//! any analytics request; filter files checked; filters bound to a resume; what filters save.

use genesys_sim::{Sim, SimConfig, Stats};
use serde_json::{json, Value};

use crate::util::*;

fn sim() -> Sim {
    Sim::start(SimConfig {
        conversations: 1500,
        ..SimConfig::default()
    })
}

/// One filter OR-ing `dimension matches value` over `values`, as the ground truth takes it.
fn any_of(dimension: &str, values: &[&str]) -> Value {
    let predicates: Vec<Value> = values
        .iter()
        .map(|v| json!({ "type": "dimension", "dimension": dimension, "operator": "matches", "value": v }))
        .collect();
    json!({ "type": "or", "predicates": predicates })
}

/// The id of the (only, not deleted) queue called `name`.
fn queue_id(sim: &Sim, name: &str) -> String {
    let ids: Vec<String> = sim
        .queue_ids()
        .into_iter()
        .filter(|id| sim.queue_name(id).as_deref() == Some(name))
        .collect();
    assert_eq!(ids.len(), 1, "one queue is named {name}");
    ids[0].clone()
}

/// A filter file in `dir` holding `text`.
fn filter_file(dir: &Dir, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// The filtered exports every path must match: (what, extra arguments, the filters the
/// simulator's ground truth applies).
fn cases(sim: &Sim, dir: &Dir) -> Vec<(&'static str, Args, Value)> {
    let billing = queue_id(sim, "Billing");
    let sales = queue_id(sim, "Sales");
    let deleted = sim.deleted_queue_ids()[0].clone();
    let users = sim.user_ids();
    let divisions = sim.division_ids();
    let file = filter_file(
        dir,
        "filters.json",
        &json!({
            "segmentFilters": [{ "type": "or", "predicates": [
                { "type": "dimension", "dimension": "disconnectType", "value": "client" },
                { "dimension": "purpose", "operator": "matches", "value": "agent" } ] }],
            "conversationFilters": [{ "type": "and", "clauses": [
                { "type": "or", "predicates": [
                    { "type": "dimension", "dimension": "mediaStatsMinConversationMos", "range": { "gte": 4.0 } },
                    { "dimension": "originatingDirection", "value": "outbound" } ] } ] }]
        })
        .to_string(),
    );
    let seg = |filters: Vec<Value>| json!({ "segmentFilters": filters });
    vec![
        (
            "queue by id",
            Args::new().opt("--queue", &billing),
            seg(vec![any_of("queueId", &[&billing])]),
        ),
        (
            "queue by name",
            Args::new().opt("--queue", "Billing"),
            seg(vec![any_of("queueId", &[&billing])]),
        ),
        (
            "queue by name, another case",
            Args::new().opt("--queue", "bILLING"),
            seg(vec![any_of("queueId", &[&billing])]),
        ),
        (
            "two queues, name and id",
            Args::new().opt("--queue", &sales).opt("--queue", "Billing"),
            seg(vec![any_of("queueId", &[&billing, &sales])]),
        ),
        (
            "a deleted queue by id",
            Args::new().opt("--queue", &deleted),
            seg(vec![any_of("queueId", &[&deleted])]),
        ),
        (
            "media",
            Args::new().opt("--media", "chat").opt("--media", "email"),
            seg(vec![any_of("mediaType", &["chat", "email"])]),
        ),
        (
            "direction",
            Args::new().opt("--direction", "outbound"),
            seg(vec![any_of("direction", &["outbound"])]),
        ),
        (
            "user",
            Args::new().opt("--user", &users[3]),
            seg(vec![any_of("userId", &[&users[3]])]),
        ),
        (
            "division",
            Args::new().opt("--division", &divisions[1]),
            json!({ "conversationFilters": [any_of("divisionId", &[&divisions[1]])] }),
        ),
        (
            "queue, media, direction, division",
            Args::new()
                .opt("--queue", "Billing")
                .opt("--queue", &sales)
                .opt("--media", "voice")
                .opt("--direction", "inbound")
                .opt("--division", &divisions[0]),
            json!({
                "segmentFilters": [any_of("queueId", &[&billing, &sales]), any_of("mediaType", &["voice"]), any_of("direction", &["inbound"])],
                "conversationFilters": [any_of("divisionId", &[&divisions[0]])],
            }),
        ),
        (
            "queue and user",
            Args::new()
                .opt("--queue", &billing)
                .opt("--user", &users[0])
                .opt("--user", &users[5]),
            seg(vec![
                any_of("queueId", &[&billing]),
                any_of("userId", &[&users[0], &users[5]]),
            ]),
        ),
        (
            "filter file and an option",
            Args::new()
                .opt("--filter-file", &file)
                .opt("--media", "voice"),
            json!({
                "segmentFilters": [any_of("mediaType", &["voice"]), { "type": "or", "predicates": [
                    { "dimension": "disconnectType", "value": "client" }, { "dimension": "purpose", "value": "agent" } ] }],
                "conversationFilters": [{ "type": "and", "clauses": [{ "type": "or", "predicates": [
                    { "dimension": "mediaStatsMinConversationMos", "range": { "gte": 4.0 } },
                    { "dimension": "originatingDirection", "value": "outbound" } ] }] }],
            }),
        ),
        (
            "ended only and a division",
            Args::new()
                .flag("--ended-only")
                .opt("--division", &divisions[2]),
            json!({ "conversationFilters": [
                { "type": "and", "predicates": [{ "dimension": "conversationEnd", "operator": "exists" }] },
                any_of("divisionId", &[&divisions[2]]) ] }),
        ),
    ]
}

/// Exports `[FROM, TO)` with `extra` through `mode`, checks the ids against the ground truth
/// filtered by `filters`, and returns how many there were.
fn check(sim: &Sim, what: &str, mode: &str, extra: &Args, filters: &Value) -> usize {
    let run = export(sim, &Args::range().mode(mode).window("1d").with(extra));
    run.expect_code(0);
    let want = sim.filtered_ids(ts(FROM), ts(TO), filters);
    let all = sim.ground_truth(ts(FROM), ts(TO)).len();
    assert!(
        !want.is_empty() && want.len() < all,
        "{what}: the case keeps {} of {all}",
        want.len()
    );
    let got = csv_ids(&run.stdout);
    if mode == "query" {
        // Within a window in start order: the same order as the ground truth.
        assert_ids_eq(&got, &want);
    } else {
        assert_same_ids(&got, &want);
    }
    want.len()
}

#[test]
fn filtered_exports_through_the_query_equal_the_filtered_ground_truth() {
    let sim = sim();
    let dir = Dir::new("filters-query");
    for (what, extra, filters) in cases(&sim, &dir) {
        check(&sim, what, "query", &extra, &filters);
    }
}

#[test]
fn filtered_exports_through_jobs_equal_the_filtered_ground_truth() {
    let sim = sim();
    let dir = Dir::new("filters-jobs");
    for (what, extra, filters) in cases(&sim, &dir) {
        check(&sim, what, "jobs", &extra, &filters);
    }
    assert_eq!(
        sim.stats().details_requests,
        0,
        "jobs mode never pages the query"
    );
}

/// The analytics requests a run made: queries, job submissions and availability requests.
fn analytics_requests(stats: &Stats) -> u64 {
    stats.details_requests + stats.job_submits + stats.availability_requests
}

#[test]
fn an_unknown_or_ambiguous_queue_name_exits_2_before_any_analytics_request() {
    let sim = sim();
    let dir = Dir::new("filters-names");
    let out = dir.join("c.csv");
    let check = |name: &str, wants: &[&str]| {
        let run = export(&sim, &Args::range().opt("--queue", name).out(&out));
        run.expect_code(2);
        for want in wants {
            assert!(run.stderr.contains(want), "--queue {name}: {}", run.stderr);
        }
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    };
    // "Sales" and "SALES" differ only in case.
    check(
        "Sales",
        &[
            "2 queues have that name",
            "'Sales' (",
            "'SALES' (",
            "give the queue's id",
        ],
    );
    check("sAlEs", &["2 queues have that name"]);
    // A part of names is not a name: the candidates are listed.
    check(
        "Support",
        &[
            "no queue has that name",
            "'Technical Support' (",
            "give the exact name",
        ],
    );
    check(
        "Billing Esc",
        &["no queue has that name", "'Billing Escalations' ("],
    );
    check(
        "Nowhere",
        &["no queue has that name (none has a name containing it)"],
    );
    // A deleted queue is not found by name.
    check("After Hours", &["no queue has that name"]);
    let stats = sim.stats();
    assert_eq!(analytics_requests(&stats), 0, "{stats:?}");
    assert!(stats.queue_requests >= 6, "{stats:?}");
    assert!(dir.files().is_empty(), "{:?}", dir.files());
}

#[test]
fn a_queue_search_is_read_to_its_last_page() {
    // Queues 13 to 300 are called "Queue N": 107 names contain "Queue 1" (13-19, 100-199),
    // two pages of the search, and none is that name. Every candidate is counted.
    let sim = Sim::start(SimConfig {
        conversations: 300,
        queues: 300,
        deleted_queues: 0,
        ..SimConfig::default()
    });
    let run = export(&sim, &Args::range().opt("--queue", "Queue 1"));
    run.expect_code(2);
    assert!(
        run.stderr.contains("no queue has that name (candidates: ")
            && run.stderr.contains(", and 97 more)"),
        "{}",
        run.stderr
    );
    assert_eq!(sim.stats().queue_requests, 2, "{:?}", sim.stats());
    // A name that is one queue's, in another case.
    let id = queue_id(&sim, "Queue 199");
    let run = export(
        &sim,
        &Args::range().mode("query").opt("--queue", "queue 199"),
    );
    run.expect_code(0);
    assert!(
        run.stderr
            .contains(&format!("--queue 'queue 199' is queue {id}")),
        "{}",
        run.stderr
    );
    let want = sim.filtered_ids(
        ts(FROM),
        ts(TO),
        &json!({ "segmentFilters": [any_of("queueId", &[&id])] }),
    );
    assert_ids_eq(&csv_ids(&run.stdout), &want);
}

#[test]
fn a_malformed_filter_file_exits_2_naming_the_file_and_the_defect() {
    let sim = sim();
    let dir = Dir::new("filters-file");
    let check = |text: &str, want: &str| {
        let path = filter_file(&dir, "f.json", text);
        let run = export(&sim, &Args::range().opt("--filter-file", &path));
        run.expect_code(2);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(&path), "{text}: {}", run.stderr);
        assert!(run.stderr.contains(want), "{text}: {}", run.stderr);
    };
    check("", "is not JSON");
    check("[]", "is not a JSON object");
    check("{}", "holds no filter");
    check(r#"{"segmentFilter": []}"#, "unknown key 'segmentFilter'");
    check(
        r#"{"segmentFilters": {}}"#,
        "segmentFilters is not an array",
    );
    check(
        r#"{"segmentFilters": [{"type": "xor", "predicates": [{"dimension": "queueId", "value": "q"}]}]}"#,
        "segmentFilters[0].type is 'xor'",
    );
    check(
        r#"{"segmentFilters": [{"type": "and"}]}"#,
        "segmentFilters[0] has neither predicates nor clauses",
    );
    check(
        r#"{"conversationFilters": [{"type": "and", "predicates": [{"dimension": "divisionId"}]}]}"#,
        "conversationFilters[0].predicates[0] needs exactly one of value and range",
    );
    check(
        r#"{"conversationFilters": [{"type": "and", "predicates": [{"property": "x", "propertyType": "string", "value": "y"}]}]}"#,
        "conversationFilters[0].predicates[0] has an unknown key 'property'",
    );
    check(
        r#"{"segmentFilters": [{"type": "and", "predicates": [{"dimension": "queueId", "operator": "exists", "value": "q"}]}]}"#,
        "exists and notExists take no value or range",
    );
    let run = export(
        &sim,
        &Args::range().opt("--filter-file", &dir.join("missing.json").to_string_lossy()),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("cannot read --filter-file"),
        "{}",
        run.stderr
    );
    // A directory is not a regular file.
    let run = export(
        &sim,
        &Args::range().opt("--filter-file", &dir.join("").to_string_lossy()),
    );
    run.expect_code(2);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    let big = format!(
        "{{\"segmentFilters\": [], \"x\": \"{}\"}}",
        "a".repeat(70 * 1024)
    );
    check(&big, "is larger than 64 KiB");
    let stats = sim.stats();
    assert_eq!(stats.token_requests + stats.api_requests, 0, "{stats:?}");
}

#[test]
fn options_with_bad_values_exit_2_listing_the_valid_ones() {
    let sim = sim();
    let check = |extra: Args, want: &str| {
        let run = export(&sim, &Args::range().with(&extra));
        run.expect_code(2);
        assert!(run.stderr.contains(want), "{}", run.stderr);
    };
    check(
        Args::new().opt("--media", "fax"),
        "--media 'fax' is not one of callback, chat, cobrowse, email, internalmessage, message, screenmonitoring, screenshare, unknown, video, voice",
    );
    check(
        Args::new().opt("--direction", "sideways"),
        "--direction 'sideways' is not one of inbound, outbound",
    );
    check(
        Args::new().opt("--user", "jane"),
        "--user 'jane' is not an id",
    );
    check(
        Args::new().opt("--division", "Home"),
        "--division 'Home' is not an id",
    );
    check(
        Args::new().opt("--queue", ""),
        "--queue needs a queue id or name",
    );
    // With a filter, windows may be 31 days long; without, 7.
    check(Args::new().window("8d"), "between 1m and 7d");
    check(
        Args::new().window("32d").opt("--media", "voice"),
        "between 1m and 31d",
    );
    assert_eq!(sim.stats().api_requests, 0);
}

#[test]
fn a_resume_with_other_filters_exits_2_and_the_same_filters_in_another_order_resume() {
    let sim = sim();
    let dir = Dir::new("filters-resume");
    let out = dir.join("c.csv");
    let args = Args::range()
        .mode("query")
        .window("6h")
        .page_size("20")
        .opt("--media", "voice")
        .opt("--media", "chat")
        .opt("--queue", "Billing")
        .out(&out);
    crash_at(&sim, &args, &out, "state-saved:3");
    for other in [
        args.clone().set("--media", "email"),
        args.clone().set("--queue", "Returns & Refunds"),
        args.clone().opt("--direction", "inbound"),
        Args::range()
            .mode("query")
            .window("6h")
            .page_size("20")
            .out(&out),
    ] {
        refused_as_another_export(&sim, &other, &out);
    }
    // The same filters, in another order and case, are the same export.
    let same = Args::range()
        .opt("--queue", "BILLING")
        .opt("--media", "chat")
        .mode("query")
        .window("6h")
        .opt("--media", "voice")
        .page_size("20")
        .out(&out);
    export(&sim, &same).expect_code(0);
    let billing = queue_id(&sim, "Billing");
    let want = sim.filtered_ids(
        ts(FROM),
        ts(TO),
        &json!({ "segmentFilters": [any_of("mediaType", &["voice", "chat"]), any_of("queueId", &[&billing])] }),
    );
    assert_ids_eq(&csv_ids(&read(&out)), &want);
}

/// A week of data like `make demo`'s (seed 42; a tenth of its 20 000 conversations, to stay
/// quick) exported through `mode` in 7-day windows with `extra`: the API requests the run
/// made and the conversations it wrote.
fn demo_week(mode: &str, extra: &Args) -> (u64, usize) {
    let sim = Sim::start(SimConfig {
        seed: 42,
        conversations: 2_000,
        start: ts("2026-11-01T00:00:00Z"),
        end: ts("2026-11-08T00:00:00Z"),
        data_availability: ts("2026-11-08T00:00:00Z"),
        ..SimConfig::default()
    });
    let run = export(
        &sim,
        &Args::between("2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z")
            .mode(mode)
            .window("7d")
            .with(extra),
    );
    run.expect_code(0);
    (sim.stats().api_requests, csv_ids(&run.stdout).len())
}

#[test]
fn a_filter_cuts_the_requests_of_a_week() {
    for mode in ["query", "jobs"] {
        let (all, rows) = demo_week(mode, &Args::new());
        let (billing, billing_rows) = demo_week(mode, &Args::new().opt("--queue", "Billing"));
        eprintln!(
            "{mode}: unfiltered {all} requests for {rows} conversations; --queue Billing {billing} for {billing_rows}"
        );
        assert!(billing_rows < rows / 4, "{rows} {billing_rows}");
        if mode == "query" {
            // Pages of the conversations kept, and one queue search.
            assert!(billing * 3 < all, "{all} {billing}");
        } else {
            // Results pages hold 1000 conversations: fewer of them, and one queue search.
            assert!(billing <= all, "{all} {billing}");
        }
    }
}

#[test]
fn auto_mode_sends_the_filters_down_both_routes() {
    let sim = sim();
    sim.set_data_availability(ts("2026-11-02T00:00:00Z"));
    let billing = queue_id(&sim, "Billing");
    let extra = Args::new()
        .opt("--queue", "billing")
        .opt("--media", "voice")
        .opt("--attribute", "language");
    let run = export(&sim, &Args::range().window("12h").with(&extra));
    run.expect_code(0);
    let want = sim.filtered_ids(
        ts(FROM),
        ts(TO),
        &json!({ "segmentFilters": [any_of("queueId", &[&billing]), any_of("mediaType", &["voice"])] }),
    );
    assert_same_ids(&csv_ids(&run.stdout), &want);
    // --attribute sends the lake's part to jobs: both routes were taken.
    let stats = sim.stats();
    assert!(
        stats.job_submits > 0 && stats.details_requests > 0,
        "{stats:?}"
    );
}

#[test]
fn a_queue_name_without_routing_queue_view_exits_4_naming_the_permission() {
    let sim = Sim::start(SimConfig {
        conversations: 300,
        queues_forbidden: true,
        ..SimConfig::default()
    });
    let run = export(&sim, &Args::range().opt("--queue", "Billing"));
    run.expect_code(4);
    assert!(run.stderr.contains("routing:queue:view"), "{}", run.stderr);
    assert_eq!(analytics_requests(&sim.stats()), 0);
    // A queue id needs no lookup: the export runs, its names left empty.
    let id = sim.queue_ids()[5].clone();
    let run = export(&sim, &Args::range().mode("query").opt("--queue", &id));
    run.expect_code(0);
    let want = sim.filtered_ids(
        ts(FROM),
        ts(TO),
        &json!({ "segmentFilters": [any_of("queueId", &[&id])] }),
    );
    assert_ids_eq(&csv_ids(&run.stdout), &want);
}
