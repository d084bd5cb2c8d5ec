//! The relational dataset of `--tables DIR`: loaded into a real PostgreSQL (started here, on a
//! Unix socket in a temporary directory) and into SQLite with the README's recipes, and
//! checked against the simulator's records flattened here, independently of the exporter;
//! resumed byte for byte from every kind of crash point; followed up on a later night.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use genesys_sim::{Sim, SimConfig};
use serde_json::Value;
use time::OffsetDateTime;

use crate::util::*;

const WEEK_FROM: &str = "2026-11-01T00:00:00Z";
const WEEK_TO: &str = "2026-11-08T00:00:00Z";
const TABLES: [&str; 6] = [
    "conversations",
    "participants",
    "sessions",
    "segments",
    "metrics",
    "attributes",
];

fn week(conversations: usize) -> SimConfig {
    SimConfig {
        conversations,
        start: ts(WEEK_FROM),
        end: ts(WEEK_TO),
        data_availability: ts(WEEK_TO),
        ..SimConfig::default()
    }
}

fn week_args(dir: &Path) -> Args {
    Args::between(WEEK_FROM, WEEK_TO)
        .backoff("10ms")
        .opt("--tables", dir.to_str().unwrap())
}

/// A fenced block of the README, the one after `<!-- tables:NAME -->`.
fn recipe(name: &str) -> String {
    let readme = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"));
    let marker = format!("<!-- tables:{name} -->\n```sql\n");
    let rest = readme
        .split(&marker)
        .nth(1)
        .unwrap_or_else(|| panic!("README has no {name} recipe"));
    rest.split("```").next().unwrap().to_string()
}

/// What the dataset must hold, computed from the simulator's records by this test.
#[derive(Debug, Default, PartialEq)]
struct Truth {
    rows: BTreeMap<&'static str, u64>,
    /// (queue, day) → (agent sessions with a tHandle, sum of tHandle).
    handle: BTreeMap<(String, String), (u64, i64)>,
    /// queue → (nOffered summed, tAbandon metrics).
    abandon: BTreeMap<String, (i64, i64)>,
    /// agent's user id → nTransferred summed.
    transfers: BTreeMap<String, i64>,
}

fn array(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().cloned().unwrap_or_default()
}

fn flatten(records: &[Value]) -> Truth {
    let mut t = Truth::default();
    let mut add = |table: &'static str, n: usize| *t.rows.entry(table).or_default() += n as u64;
    for c in records {
        add("conversations", 1);
        for p in array(c, "participants") {
            add("participants", 1);
            add(
                "attributes",
                p["attributes"].as_object().map_or(0, |a| a.len()),
            );
            for s in array(&p, "sessions") {
                add("sessions", 1);
                add("segments", array(&s, "segments").len());
                add("metrics", array(&s, "metrics").len());
            }
        }
    }
    for c in records {
        for p in array(c, "participants") {
            for s in array(&p, "sessions") {
                let queues: BTreeSet<String> = array(&s, "segments")
                    .iter()
                    .filter_map(|g| g["queueId"].as_str().map(String::from))
                    .collect();
                for m in array(&s, "metrics") {
                    let value = m["value"].as_i64().unwrap();
                    let day = m["emitDate"].as_str().unwrap()[..10].to_string();
                    for q in &queues {
                        match m["name"].as_str().unwrap() {
                            "tHandle" => {
                                let e = t.handle.entry((q.clone(), day.clone())).or_default();
                                *e = (e.0 + 1, e.1 + value);
                            }
                            "nOffered" => t.abandon.entry(q.clone()).or_default().0 += value,
                            "tAbandon" => t.abandon.entry(q.clone()).or_default().1 += 1,
                            _ => {}
                        }
                    }
                    if m["name"] == "nTransferred" && p["purpose"] == "agent" {
                        let user = p["userId"].as_str().unwrap().to_string();
                        *t.transfers.entry(user).or_default() += value;
                    }
                }
            }
        }
    }
    t
}

/// A query's result rows, `|`-separated cells.
type Rows = Vec<Vec<String>>;

fn parse_rows(out: &str) -> Rows {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').map(String::from).collect())
        .collect()
}

/// The three README queries' results checked against the truth.
fn check_queries(engine: &str, query: &dyn Fn(&str) -> Rows, truth: &Truth) {
    let mut handle = BTreeMap::new();
    for r in query(&recipe("query-handle")) {
        let (n, sum): (u64, i64) = (r[2].parse().unwrap(), r[3].parse().unwrap());
        let avg: f64 = r[4].parse().unwrap();
        let want = sum as f64 / n as f64 / 1000.0;
        assert!(
            (avg - want).abs() < 0.051,
            "{engine}: {r:?} average, want {want}"
        );
        handle.insert((r[0].clone(), r[1].clone()), (n, sum));
    }
    assert_eq!(
        handle, truth.handle,
        "{engine}: handle time per queue and day"
    );
    let mut abandon = BTreeMap::new();
    for r in query(&recipe("query-abandon")) {
        let (offered, abandoned): (i64, i64) = (r[1].parse().unwrap(), r[2].parse().unwrap());
        let rate: f64 = r[3].parse().unwrap();
        let want = abandoned as f64 / offered as f64;
        assert!(
            (rate - want).abs() < 0.00006,
            "{engine}: {r:?} rate, want {want}"
        );
        abandon.insert(r[0].clone(), (offered, abandoned));
    }
    let offered: BTreeMap<String, (i64, i64)> = truth
        .abandon
        .clone()
        .into_iter()
        .filter(|(_, (o, _))| *o > 0)
        .collect();
    assert_eq!(abandon, offered, "{engine}: abandons per queue");
    let transfers: BTreeMap<String, i64> = query(&recipe("query-transfers"))
        .into_iter()
        .map(|r| (r[0].clone(), r[2].parse().unwrap()))
        .collect();
    assert_eq!(transfers, truth.transfers, "{engine}: transfers per agent");
    assert!(!truth.handle.is_empty() && !truth.transfers.is_empty() && !truth.abandon.is_empty());
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {}\n{stderr}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

/// A PostgreSQL server of its own, on a Unix socket in a temporary directory, stopped when
/// dropped. As root, the server runs as the `postgres` user (or `nobody`).
struct Postgres {
    root: PathBuf,
    data: PathBuf,
    socket: PathBuf,
    run_as: Option<String>,
}

/// A PostgreSQL program: on the PATH, in /usr/local/bin, or where Debian's package puts it.
fn pg_program(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/local/bin".into());
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        dirs.extend(versions.flatten().map(|v| v.path().join("bin")));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: .ci/run installs postgresql"))
}

impl Postgres {
    fn start() -> Postgres {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("ge-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("s")).unwrap();
        let is_root = run_ok(Command::new("id").arg("-u"), "id").trim() == "0";
        let run_as = is_root.then(|| {
            let has = |u: &str| {
                Command::new("id")
                    .arg(u)
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            let user = if has("postgres") {
                "postgres"
            } else {
                "nobody"
            };
            run_ok(Command::new("chown").args(["-R", user]).arg(&root), "chown");
            user.to_string()
        });
        let pg = Postgres {
            data: root.join("data"),
            socket: root.join("s"),
            root,
            run_as,
        };
        pg.server(&pg_program("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&pg.data)
            .output()
            .map(|o| {
                assert!(
                    o.status.success(),
                    "initdb: {}",
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap();
        let options = format!("-k {} -c listen_addresses='' -F", pg.socket.display());
        let log = pg.root.join("log");
        let started = pg
            .server(&pg_program("pg_ctl"))
            .args(["-w", "-o", &options, "-l"])
            .arg(&log)
            .arg("-D")
            .arg(&pg.data)
            .arg("start")
            .output()
            .unwrap();
        assert!(started.status.success(), "pg_ctl start: {}", read(&log));
        pg
    }

    /// A server program, run as the server's user.
    fn server(&self, program: &Path) -> Command {
        match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        }
    }

    fn psql(&self, db: &str) -> Command {
        let mut cmd = Command::new(pg_program("psql"));
        cmd.arg("-h").arg(&self.socket).args([
            "-U",
            "postgres",
            "-d",
            db,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
        ]);
        cmd
    }

    fn query(&self, db: &str, sql: &str) -> Rows {
        parse_rows(&run_ok(
            self.psql(db).args(["-A", "-t", "-F", "|", "-c", sql]),
            sql,
        ))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .server(&pg_program("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Loads the dataset at `dir` into a new database `db` with the README's recipe; returns how
/// long the load took.
fn load_postgres(pg: &Postgres, db: &str, dir: &Path) -> f64 {
    run_ok(
        pg.psql("postgres")
            .args(["-c", &format!("CREATE DATABASE {db}")]),
        "create",
    );
    let script = dir.parent().unwrap().join(format!("{db}.psql"));
    std::fs::write(&script, recipe("psql")).unwrap();
    let started = Instant::now();
    run_ok(
        pg.psql(db).arg("-f").arg(&script).current_dir(dir),
        "psql load",
    );
    started.elapsed().as_secs_f64()
}

/// Loads the dataset at `dir` into a new SQLite database with the README's recipe, which
/// ends with the foreign key check: it must print nothing. Returns the database and the time.
fn load_sqlite(dir: &Path) -> (PathBuf, f64) {
    let db = dir.with_extension("db");
    let _ = std::fs::remove_file(&db);
    let script = dir.with_extension("sqlite");
    std::fs::write(&script, recipe("sqlite")).unwrap();
    let started = Instant::now();
    let out = run_ok(
        Command::new("sqlite3")
            .arg("-bail")
            .arg(&db)
            .arg(format!(".read {}", script.display()))
            .current_dir(dir),
        "sqlite3 load",
    );
    let took = started.elapsed().as_secs_f64();
    assert_eq!(out, "", "foreign keys that do not hold in SQLite");
    (db, took)
}

fn sqlite_query(db: &Path, sql: &str) -> Rows {
    parse_rows(&run_ok(Command::new("sqlite3").arg(db).arg(sql), sql))
}

fn count_rows(query: &dyn Fn(&str) -> Rows) -> BTreeMap<&'static str, u64> {
    TABLES
        .iter()
        .map(|t| {
            (
                *t,
                query(&format!("SELECT count(*) FROM {t}"))[0][0]
                    .parse()
                    .unwrap(),
            )
        })
        .collect()
}

/// Each table file's header is the column list of its table in schema.sql.
fn check_headers(dir: &Path) {
    let schema = read(&dir.join("schema.sql"));
    for table in TABLES {
        let body = schema
            .split(&format!("CREATE TABLE {table} (\n"))
            .nth(1)
            .unwrap()
            .split("    PRIMARY KEY")
            .next()
            .unwrap();
        let declared: Vec<&str> = body
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let text = read(&dir.join(format!("{table}.csv")));
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        assert_eq!(header, declared, "{table}.csv");
    }
}

#[test]
fn a_week_loads_into_postgresql_and_sqlite_and_answers_the_readme_questions() {
    let sim = Sim::start(week(3000));
    let work = Dir::new("tables-week");
    let dir = work.join("week");
    let run = export(&sim, &week_args(&dir));
    run.expect_code(0);
    assert_eq!(work.files(), ["week"], "only the dataset is left");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want: Vec<String> = TABLES.iter().map(|t| format!("{t}.csv")).collect();
    want.extend(["manifest.json".to_string(), "schema.sql".to_string()]);
    want.sort();
    assert_eq!(files, want);
    check_headers(&dir);
    let ids = sim.ground_truth(ts(WEEK_FROM), ts(WEEK_TO));
    assert_same_ids(&csv_ids(&read(&dir.join("conversations.csv"))), &ids);
    let records: Vec<Value> = ids.iter().map(|id| sim.conversation(id).unwrap()).collect();
    let truth = flatten(&records);
    let manifest: Value = serde_json::from_str(&read(&dir.join("manifest.json"))).unwrap();
    for (table, rows) in &truth.rows {
        assert_eq!(
            manifest["rows"][table].as_u64(),
            Some(*rows),
            "manifest: {table}"
        );
    }
    let windows = manifest["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 7);
    let counted: u64 = windows
        .iter()
        .map(|w| w["conversations"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, ids.len() as u64);
    assert_eq!(manifest["command"], "conversations");
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));

    let pg = Postgres::start();
    let pg_secs = load_postgres(&pg, "week", &dir);
    let pg_query = |sql: &str| pg.query("week", sql);
    assert_eq!(
        count_rows(&pg_query),
        truth.rows,
        "PostgreSQL rows per table"
    );
    check_queries("PostgreSQL", &pg_query, &truth);

    let (db, sqlite_secs) = load_sqlite(&dir);
    let sqlite = |sql: &str| sqlite_query(&db, sql);
    assert_eq!(count_rows(&sqlite), truth.rows, "SQLite rows per table");
    check_queries("SQLite", &sqlite, &truth);
    let flows = |c: &Value| {
        let sessions = array(c, "participants")
            .into_iter()
            .flat_map(|p| array(&p, "sessions"));
        sessions
            .filter(|s| s["flow"]["flowName"].is_string())
            .count()
    };
    let ivr = sqlite("SELECT count(*) FROM sessions WHERE flow_name = 'Main Menu' AND flow_exit_reason = 'TRANSFER'");
    let want: usize = records.iter().map(flows).sum();
    assert!(want > 0);
    assert_eq!(
        ivr[0][0],
        want.to_string(),
        "sessions through the IVR's flow"
    );
    eprintln!(
        "dataset of {} conversations, rows {:?}: loaded into PostgreSQL in {pg_secs:.2}s, SQLite in {sqlite_secs:.2}s",
        ids.len(),
        truth.rows
    );
}

/// The jobs route carries participant attributes: `attributes.csv` holds them, each refers to
/// its participant, and the other tables are those of the query route.
#[test]
fn both_routes_and_filters_write_the_tables_of_their_conversations() {
    let sim = Sim::start(week(600));
    let work = Dir::new("tables-routes");
    let query = work.join("query");
    export(&sim, &week_args(&query).mode("query")).expect_code(0);
    let jobs = work.join("jobs");
    export(&sim, &week_args(&jobs).mode("jobs")).expect_code(0);
    for table in &TABLES[1..5] {
        let file = format!("{table}.csv");
        let mut a: Vec<String> = read(&query.join(&file)).lines().map(String::from).collect();
        let mut b: Vec<String> = read(&jobs.join(&file)).lines().map(String::from).collect();
        a.sort();
        b.sort();
        assert!(a == b, "{file} differs between the routes");
    }
    let ids = sim.ground_truth(ts(WEEK_FROM), ts(WEEK_TO));
    let records: Vec<Value> = ids
        .iter()
        .map(|id| sim.job_conversation(id).unwrap())
        .collect();
    let truth = flatten(&records);
    assert!(truth.rows["attributes"] > 0);
    let (db, _) = load_sqlite(&jobs);
    assert_eq!(count_rows(&|sql: &str| sqlite_query(&db, sql)), truth.rows);
    let manifest: Value = serde_json::from_str(&read(&jobs.join("manifest.json"))).unwrap();
    assert!(manifest["windows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["route"] == "job"));
    assert_eq!(
        read(&query.join("attributes.csv")).lines().count(),
        1,
        "the header only"
    );
    // A filter keeps the same conversations as in a file, with all their rows.
    let chat = work.join("chat");
    export(&sim, &week_args(&chat).opt("--media", "chat")).expect_code(0);
    let filter = serde_json::json!({ "segmentFilters": [{ "type": "or", "predicates": [
        { "dimension": "mediaType", "value": "chat" }] }] });
    let want = sim.filtered_ids(ts(WEEK_FROM), ts(WEEK_TO), &filter);
    assert!(!want.is_empty() && want.len() < ids.len());
    assert_same_ids(&csv_ids(&read(&chat.join("conversations.csv"))), &want);
    let records: Vec<Value> = want
        .iter()
        .map(|id| sim.conversation(id).unwrap())
        .collect();
    let (db, _) = load_sqlite(&chat);
    assert_eq!(
        count_rows(&|sql: &str| sqlite_query(&db, sql)),
        flatten(&records).rows
    );
}

/// The files a finished dataset holds, but its manifest (which records when it ran).
fn tables_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "manifest.json")
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn crashes_at_every_kind_of_point_resume_to_the_same_tables() {
    let mut cfg = week(800);
    cfg.faults = every_fault(0.05);
    let sim = Sim::start(cfg);
    let work = Dir::new("tables-crash");
    let reference = work.join("reference");
    let args = |dir: &Path| week_args(dir).window("12h").page_size("50");
    export(&sim, &args(&reference).opt("--parallel", "1")).expect_code(0);
    let want = tables_of(&reference);
    for spec in [
        "page-written:1",
        "page-written:9",
        "state-write:2",
        "state-write:13",
        "state-saved:1",
        "state-saved:11",
        "published:1",
    ] {
        let dir = work.join(&spec.replace(':', "-"));
        abort_at(&sim, &args(&dir), spec);
        if spec.starts_with("published") {
            assert!(dir.is_dir(), "{spec}: the dataset is published");
            continue;
        }
        assert!(!dir.exists(), "{spec}: no dataset after a crash");
        let partial = PathBuf::from(format!("{}.partial", dir.display()));
        assert!(partial.is_dir(), "{spec}: the partial dataset is left");
        let run = export(&sim, &args(&dir));
        run.expect_code(0);
        assert!(!partial.exists() && !PathBuf::from(format!("{}.state", dir.display())).exists());
        let got = tables_of(&dir);
        for (name, bytes) in &want {
            assert!(
                got.get(name) == Some(bytes),
                "{spec}: {name} differs after the resume"
            );
        }
        assert_eq!(got.len(), want.len(), "{spec}");
        let rows = |dir: &Path| -> Value {
            let manifest: Value = serde_json::from_str(&read(&dir.join("manifest.json"))).unwrap();
            manifest["rows"].clone()
        };
        assert_eq!(rows(&dir), rows(&reference), "{spec}: the manifest's rows");
    }
}

#[test]
fn an_existing_dataset_is_replaced_only_with_force_and_a_second_run_is_locked_out() {
    let sim = Sim::start(week(200));
    let work = Dir::new("tables-force");
    let dir = work.join("d");
    export(&sim, &week_args(&dir)).expect_code(0);
    let before = tables_of(&dir);
    let run = export(&sim, &week_args(&dir));
    run.expect_code(2);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    export(&sim, &week_args(&dir).flag("--force")).expect_code(0);
    assert_eq!(tables_of(&dir), before);
    assert_eq!(work.files(), ["d"]);
    std::fs::write(work.join("file"), "x").unwrap();
    let run = export(&sim, &week_args(&work.join("file")).flag("--force"));
    run.expect_code(2);
    assert_eq!(read(&work.join("file")), "x");
    let run = export(&sim, &week_args(&dir).opt("-o", "x.csv"));
    run.expect_code(2);
    // A run holding DIR.lock keeps a second one out, whatever it would write.
    let other = work.join("other");
    let lock = std::fs::File::create(work.join("other.lock")).unwrap();
    lock.try_lock().unwrap();
    let run = export(&sim, &week_args(&other));
    run.expect_code(2);
    assert!(
        run.stderr.contains("already exporting to"),
        "{}",
        run.stderr
    );
    assert!(!other.exists() && !work.join("other.partial").exists());
}

/// Three days of recent data (the ledger ages entries by the real clock) seen on night 1, a
/// few minutes after the first day ends; `later` moves it to night 2, when all have ended.
fn nights() -> (Sim, OffsetDateTime, time::Duration) {
    let d0 = OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT) - time::Duration::days(4);
    let day = time::Duration::days(1);
    let sim = Sim::start(SimConfig {
        conversations: 600,
        start: d0,
        end: d0 + day * 2,
        ongoing_fraction: 0.0,
        data_availability: d0 + day * 3,
        now: Some(d0 + day + time::Duration::minutes(5)),
        ..SimConfig::default()
    });
    (sim, d0, day)
}

/// Night 1 records what is in progress; night 2's dataset carries those that ended since
/// (their rows in every table), and the two datasets together hold every conversation once.
#[test]
fn a_follow_up_night_carries_the_conversations_that_ended_since() {
    let (sim, d0, day) = nights();
    let work = Dir::new("tables-nights");
    let ledger = work.join("pending.json");
    let night = |n: i32, dir: &Path| {
        let from = d0 + day * (n - 1);
        Args::between(&stamp(from), &stamp(from + day))
            .mode("query")
            .flag("--ended-only")
            .opt("--pending", ledger.to_str().unwrap())
            .opt("--tables", dir.to_str().unwrap())
    };
    let first = work.join("night-1");
    let in_progress = sim.in_progress_ids(d0, d0 + day);
    assert!(
        !in_progress.is_empty(),
        "night 1 meets conversations in progress"
    );
    export(&sim, &night(1, &first)).expect_code(0);
    sim.set_now(d0 + day * 2 + time::Duration::hours(4));
    let second = work.join("night-2");
    export(&sim, &night(2, &second)).expect_code(0);
    let one = csv_ids(&read(&first.join("conversations.csv")));
    let two = csv_ids(&read(&second.join("conversations.csv")));
    for id in &in_progress {
        assert!(
            !one.contains(id) && two.contains(id),
            "{id} lands in night 2"
        );
    }
    let mut all = one.clone();
    all.extend(two.iter().cloned());
    assert_same_ids(&all, &sim.ground_truth(d0, d0 + day * 2));
    let records: Vec<Value> = two.iter().map(|id| sim.conversation(id).unwrap()).collect();
    let (db, _) = load_sqlite(&second);
    assert_eq!(
        count_rows(&|sql: &str| sqlite_query(&db, sql)),
        flatten(&records).rows
    );
    let manifest: Value = serde_json::from_str(&read(&second.join("manifest.json"))).unwrap();
    assert_eq!(
        manifest["follow_ups"].as_u64(),
        Some(in_progress.len() as u64)
    );
}

/// Without `--ended-only` night 1 writes conversations in progress as they are, and night 2
/// writes them again, ended: the README's upsert, night 2 loaded over night 1, leaves every
/// conversation once, in its final form, with every foreign key holding.
#[test]
fn the_readme_upsert_replaces_rows_written_in_progress() {
    let (sim, d0, day) = nights();
    let work = Dir::new("tables-upsert");
    let ledger = work.join("pending.json");
    let night = |n: i32, dir: &Path| {
        let from = d0 + day * (n - 1);
        Args::between(&stamp(from), &stamp(from + day))
            .mode("query")
            .opt("--pending", ledger.to_str().unwrap())
            .opt("--tables", dir.to_str().unwrap())
    };
    let in_progress = sim.in_progress_ids(d0, d0 + day);
    let (first, second) = (work.join("night-1"), work.join("night-2"));
    export(&sim, &night(1, &first)).expect_code(0);
    sim.set_now(d0 + day * 2 + time::Duration::hours(4));
    export(&sim, &night(2, &second)).expect_code(0);
    let one = csv_ids(&read(&first.join("conversations.csv")));
    let two = csv_ids(&read(&second.join("conversations.csv")));
    for id in &in_progress {
        assert!(
            one.contains(id) && two.contains(id),
            "{id} written in progress, then ended"
        );
    }
    let (db, _) = load_sqlite(&first);
    let (staging, _) = load_sqlite(&second);
    let script = format!(
        "PRAGMA foreign_keys = ON;\nATTACH '{}' AS staging;\n{}PRAGMA foreign_key_check;\n",
        staging.display(),
        recipe("upsert")
    );
    let out = run_ok(
        Command::new("sqlite3").arg("-bail").arg(&db).arg(script),
        "upsert",
    );
    assert_eq!(out, "", "foreign keys hold after the upsert");
    let ids = sim.ground_truth(d0, d0 + day * 2);
    let records: Vec<Value> = ids.iter().map(|id| sim.conversation(id).unwrap()).collect();
    let query = |sql: &str| sqlite_query(&db, sql);
    assert_eq!(count_rows(&query), flatten(&records).rows);
    let open = query("SELECT count(*) FROM conversations WHERE conversation_end = ''");
    assert_eq!(
        open[0][0], "0",
        "every conversation in its final, ended form"
    );
}
