use super::options::{row, Kind, LOG_FORMAT_ENV};
use super::*;
use crate::api;
use crate::check;
use crate::exit::{code_of, Code};
use crate::export::Mode;
use crate::http;
use crate::prop;
use crate::report::LogFormat;
use crate::retry::{Policy, DEFAULT_BACKOFF, DEFAULT_MAX_RETRIES, DEFAULT_MAX_WAIT};
use crate::sink::{Format, Output};
use crate::times::format_duration;
use crate::window;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use time::macros::datetime;

/// The default of duration option `name`, from its row.
fn dur(name: &str) -> Duration {
    row(name).default_duration().unwrap()
}

/// The range of duration option `name`, from its row.
fn dur_range(name: &str) -> (Duration, Duration) {
    match row(name).kind {
        Kind::Duration { min, max } => (min, max),
        other => panic!("{name} is {other:?}"),
    }
}

/// The largest value of duration option `name`.
fn dur_max(name: &str) -> Duration {
    dur_range(name).1
}

const NOW: OffsetDateTime = datetime!(2026-11-26 13:45:10 UTC);

fn env_with(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn good_env() -> HashMap<String, String> {
    env_with(&[
        ("GENESYSCLOUD_OAUTHCLIENT_ID", "id"),
        ("GENESYSCLOUD_OAUTHCLIENT_SECRET", "secret"),
        ("GENESYSCLOUD_REGION", "eu-west-1"),
    ])
}

/// The secret files the tests read, by name; any other name is missing.
fn fake_secret_file(path: &Path) -> io::Result<SecretFile> {
    let file = |bytes: &[u8], shared: bool| {
        Ok(SecretFile {
            bytes: bytes.to_vec(),
            shared,
        })
    };
    match path.to_str().unwrap_or_default() {
        "secret" => file(b"file-secret\n", false),
        "crlf" => file(b"crlf-secret\r\n", false),
        "shared" => file(b"shared-secret", true),
        "blank" => file(b"\n", false),
        "binary" => file(&[0xff, 0xfe], false),
        "filters.json" => file(
            br#"{"conversationFilters": [{"type": "and", "predicates": [{"dimension": "externalTag", "operator": "exists"}]}]}"#,
            false,
        ),
        "bad-filters.json" => file(br#"{"segmentFilters": [{"type": "nand"}]}"#, false),
        "huge" => file(&[b'a'; 64 * 1024 + 1], false),
        _ => Err(io::ErrorKind::NotFound.into()),
    }
}

/// A zoneinfo directory holding one file too large to be a zone.
fn fake_zone_file(path: &Path) -> io::Result<Vec<u8>> {
    match path == Path::new(crate::tz::ZONEINFO).join("Huge/Zone") {
        true => Ok(vec![0; 1024 * 1024 + 1]),
        false => Err(io::ErrorKind::NotFound.into()),
    }
}

fn run_os(args: Vec<OsString>, env: &HashMap<String, String>) -> Result<Command> {
    let outside = Outside {
        env: &|k| env.get(k).cloned(),
        read_secret: &fake_secret_file,
        read_zone: &fake_zone_file,
    };
    parse(args, &outside, NOW)
}

fn run(args: &[&str], env: &HashMap<String, String>) -> Result<Command> {
    run_os(args.iter().map(OsString::from).collect(), env)
}

fn config_in(args: &[&str], env: &HashMap<String, String>) -> Config {
    match run(args, env) {
        Ok(Command::Export(c)) => *c,
        other => panic!("{args:?}: not an export: {other:?}"),
    }
}

fn config(args: &[&str]) -> Config {
    config_in(args, &good_env())
}

fn usage_error(args: &[&str], env: &HashMap<String, String>) -> String {
    let err = run(args, env).expect_err("should be refused");
    assert_eq!(code_of(&err), Code::Usage, "{err:#}");
    format!("{err:#}")
}

const RANGE: [&str; 5] = [
    "conversations",
    "--from",
    "2026-11-01",
    "--to",
    "2026-11-08",
];

fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    RANGE.iter().chain(extra).copied().collect()
}

#[test]
fn defaults() {
    let c = config(&RANGE);
    assert_eq!(c.from, datetime!(2026-11-01 00:00 UTC));
    assert_eq!(c.to, datetime!(2026-11-08 00:00 UTC));
    assert_eq!(c.window, dur("--window"));
    assert_eq!(c.format, Format::Csv);
    assert_eq!(c.page_size, api::MAX_PAGE_SIZE);
    assert!(matches!(c.output, Output::Stdout));
    assert_eq!(c.api_base, "https://api.mypurecloud.ie");
    assert_eq!(c.login_base, "https://login.mypurecloud.ie");
    assert_eq!(c.policy, Policy::default());
    assert_eq!(c.policy.max_retries, DEFAULT_MAX_RETRIES);
    assert_eq!(c.policy.max_total_wait, DEFAULT_MAX_WAIT);
    assert_eq!(c.policy.initial_backoff, DEFAULT_BACKOFF);
    assert_eq!(c.mode, Mode::Auto);
    assert_eq!(c.job_poll, dur("--job-poll"));
    assert_eq!(c.job_timeout, dur("--job-timeout"));
    assert_eq!(c.timeout, dur("--timeout"));
    assert_eq!(c.pending_max_age, Duration::from_secs(31 * 86_400));
    assert_eq!(c.parallel, 4);
    assert!(c.attributes.is_empty());
    assert!(!c.force && !c.quiet && !c.ended_only && !c.restart);
    assert_eq!(c.log_format, LogFormat::Text);
    assert!(c.progress);
    assert_eq!(c.state, None);
    assert_eq!(c.ca_file, None);
}

#[test]
fn all_options() {
    let c = config(&[
        "conversations",
        "--from",
        "yesterday",
        "--to",
        "today",
        "--window",
        "15m",
        "-o",
        "out.jsonl",
        "--format",
        "jsonl",
        "--force",
        "--page-size",
        "50",
        "--ended-only",
        "--api-base",
        "http://127.0.0.1:8080/",
        "--login-base",
        "http://localhost:9090",
        "--max-retries",
        "3",
        "--max-wait",
        "90s",
        "--backoff",
        "100ms",
        "--timeout",
        "30s",
        "--ca-file",
        "corp.pem",
        "-q",
        "--state",
        "s.json",
        "--restart",
        "--mode",
        "jobs",
        "--job-poll",
        "50ms",
        "--job-timeout",
        "2h",
        "--log-format",
        "json",
        "--no-progress",
        "--pending",
        "pending.json",
        "--pending-max-age",
        "14d",
    ]);
    assert_eq!(c.pending, Some(PathBuf::from("pending.json")));
    assert_eq!(c.pending_max_age, Duration::from_secs(14 * 86_400));
    assert_eq!(c.from, datetime!(2026-11-25 00:00 UTC));
    assert_eq!(c.to, datetime!(2026-11-26 00:00 UTC));
    assert_eq!(c.window, Duration::from_secs(900));
    assert!(matches!(&c.output, Output::File(p) if p == std::path::Path::new("out.jsonl")));
    assert_eq!(c.format, Format::Jsonl);
    assert_eq!(c.page_size, 50);
    assert_eq!(c.api_base, "http://127.0.0.1:8080");
    assert_eq!(c.login_base, "http://localhost:9090");
    assert_eq!(c.policy.max_retries, 3);
    assert_eq!(c.policy.max_total_wait, Duration::from_secs(90));
    assert_eq!(c.policy.initial_backoff, Duration::from_millis(100));
    assert_eq!(c.timeout, Duration::from_secs(30));
    assert_eq!(c.ca_file, Some(PathBuf::from("corp.pem")));
    assert!(c.force, "force");
    assert!(c.quiet, "quiet");
    assert!(c.ended_only, "ended");
    assert!(c.restart, "restart");
    assert_eq!(c.state, Some(PathBuf::from("s.json")));
    assert_eq!(c.mode, Mode::Jobs);
    assert_eq!(c.job_poll, Duration::from_millis(50));
    assert_eq!(c.job_timeout, Duration::from_secs(7200));
    assert_eq!(c.log_format, LogFormat::Json);
    assert!(!c.progress, "no progress");
    let c = config(&[
        "conversations",
        "--from",
        "today",
        "--to",
        "now",
        "--attribute",
        "account",
        "--attribute",
        "lang",
    ]);
    assert_eq!(c.attributes, ["account", "lang"]);
}

/// `--log-format`, else `GENESYS_EXPORT_LOG_FORMAT`: the config's format, and the one the
/// lines before it (a usage error among them) are written in.
#[test]
#[rustfmt::skip]
fn log_format_from_the_option_then_the_environment() {
    #[track_caller]
    fn check(extra: &[&str], env: Option<&str>, want: Result<LogFormat, &str>) {
        let mut vars = good_env();
        if let Some(value) = env {
            vars.insert(LOG_FORMAT_ENV.into(), value.into());
        }
        let args = with(extra);
        let early = log_format_of(&args.iter().map(OsString::from).collect::<Vec<_>>(), &|k| vars.get(k).cloned());
        match want {
            Ok(format) => {
                assert_eq!(config_in(&args, &vars).log_format, format, "{extra:?} {env:?}");
                assert_eq!(early, format, "{extra:?} {env:?}");
            }
            Err(message) => {
                let msg = usage_error(&args, &vars);
                assert!(msg.contains(message), "{extra:?} {env:?}: {msg}");
                assert_eq!(early, LogFormat::Text, "{extra:?} {env:?}");
            }
        }
    }
    check(&[], None, Ok(LogFormat::Text));
    check(&["--log-format", "json"], None, Ok(LogFormat::Json));
    check(&["--log-format", "text"], Some("json"), Ok(LogFormat::Text));
    check(&[], Some("json"), Ok(LogFormat::Json));
    check(&[], Some("text"), Ok(LogFormat::Text));
    check(&["--log-format", "JSON"], None, Err("--log-format must be text or json, not 'JSON'"));
    check(&["--log-format", ""], Some("json"), Err("--log-format must be text or json, not ''"));
    check(&[], Some("xml"), Err("GENESYS_EXPORT_LOG_FORMAT must be text or json, not 'xml'"));
    // A usage error elsewhere is still written in the format asked for.
    let vars = good_env();
    let args: Vec<OsString> = ["conversations", "--log-format", "json", "--window", "0s"].iter().map(OsString::from).collect();
    assert_eq!(log_format_of(&args, &|k| vars.get(k).cloned()), LogFormat::Json);
}

#[test]
fn help_and_version() {
    let command = |args: &[&str]| run(args, &HashMap::new()).unwrap();
    assert!(matches!(command(&["--help"]), Command::Help));
    assert!(matches!(command(&["help"]), Command::Help));
    assert!(matches!(command(&["conversations", "-h"]), Command::Help));
    assert!(matches!(
        command(&["conversations", "--bogus", "-h"]),
        Command::Help
    ));
    assert!(matches!(command(&["-V"]), Command::Version));
    assert!(matches!(
        command(&["conversations", "--columns", "list"]),
        Command::Columns
    ));
    assert!(matches!(
        command(&["conversations", "--columns", " list"]),
        Command::Columns
    ));
}

#[test]
fn columns_pick_and_order_csv_columns() {
    let names = |c: &Config| c.columns.iter().map(|c| c.name).collect::<Vec<_>>();
    let config = |extra: &[&str]| config(&with(extra));
    assert_eq!(names(&config(&[])), crate::columns::DEFAULT);
    let c = config(&[
        "--columns",
        "t_talk,conversation_id,user_names",
        "-o",
        "x.csv",
    ]);
    assert_eq!(names(&c), ["t_talk", "conversation_id", "user_names"]);
    let plan: Vec<&str> = c.plan().columns.iter().map(|c| c.name).collect();
    assert_eq!(plan, ["t_talk", "conversation_id", "user_names"]);
    let c = config(&["--columns", "t_talk", "-o", "-"]);
    assert_eq!(names(&c), ["t_talk"]);
}

fn check_config(args: &[&str], env: &HashMap<String, String>) -> CheckConfig {
    match run(args, env) {
        Ok(Command::Check(c)) => *c,
        other => panic!("{args:?}: not a check: {other:?}"),
    }
}

#[test]
fn check_takes_the_connection_options_of_an_export() {
    let c = check_config(&["check"], &good_env());
    let hosts = check::Hosts {
        region: Some("eu-west-1".into()),
        login_base: "https://login.mypurecloud.ie".into(),
        api_base: "https://api.mypurecloud.ie".into(),
    };
    assert_eq!(c.hosts, Ok(hosts));
    assert_eq!(
        (c.timeout, &c.policy),
        (dur("--timeout"), &Policy::default())
    );
    let c = check_config(
        &[
            "check",
            "--region",
            "mypurecloud.de",
            "--api-base",
            "http://127.0.0.1:8080",
            "--login-base",
            "http://localhost:9090",
            "--client-secret-file",
            "secret",
            "--ca-file",
            "corp.pem",
            "--timeout",
            "5s",
            "--max-retries",
            "0",
            "--max-wait",
            "1m",
            "--backoff",
            "0s",
        ],
        &good_env(),
    );
    let hosts = c.hosts.unwrap();
    assert_eq!(hosts.region.as_deref(), Some("mypurecloud.de"));
    assert_eq!(hosts.api_base, "http://127.0.0.1:8080");
    assert_eq!(hosts.login_base, "http://localhost:9090");
    assert_eq!(c.credentials.secret(), "file-secret");
    assert_eq!(c.ca_file, Some(PathBuf::from("corp.pem")));
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert_eq!(c.policy.max_retries, 0);
    assert_eq!(c.log_format, LogFormat::Text);
    let c = check_config(&["check", "--log-format", "json"], &good_env());
    assert_eq!(c.log_format, LogFormat::Json);
    let mut json_env = good_env();
    json_env.insert(LOG_FORMAT_ENV.into(), "json".into());
    assert_eq!(
        check_config(&["check"], &json_env).log_format,
        LogFormat::Json
    );
    // A region that names none is the check's to report (exit 3), not a usage error.
    let c = check_config(&["check", "--region", "eu-west-9"], &good_env());
    assert!(c.hosts.unwrap_err().contains("unknown region 'eu-west-9'"));
    let help = |args: &[&str]| run(args, &HashMap::new()).unwrap();
    assert!(matches!(help(&["check", "--help"]), Command::CheckHelp));
    assert!(matches!(
        help(&["check", "--from", "x", "-h"]),
        Command::CheckHelp
    ));
    assert!(matches!(help(&["--help", "check"]), Command::Help));
}

#[test]
#[rustfmt::skip]
fn check_refuses_export_options_and_bad_connection_options() {
    let env = good_env();
    let refused = |args: &[&str], want: &str| {
        let msg = usage_error(args, &env);
        assert!(msg.contains(want), "{args:?}: {msg}");
    };
    refused(&["check", "--from", "today"], "--from is an export option: 'check' takes the connection options and --log-format only");
    for option in ["--columns", "--queue", "--media", "--pending", "--filter-file", "--job-poll", "--division"] {
        refused(&["check", option, "x"], &format!("{option} is an export option"));
    }
    refused(&["check", "--no-progress"], "--no-progress is an export option");
    refused(&["check", "--ended-only"], "--ended-only is an export option");
    refused(&["check", "-o", "x.csv"], "--output is an export option");
    refused(&["check", "--attribute", "a"], "--attribute is an export option");
    refused(&["check", "-q"], "--quiet is an export option");
    refused(&["check", "--timeout", "2h"], "--timeout must be");
    refused(&["check", "--api-base", "http://example.com"], "--api-base");
    refused(&["check", "extra"], "unexpected argument 'extra'");
    refused(&["bogus"], "the commands are 'conversations' and 'check'");
    let mut no_id = good_env();
    no_id.remove("GENESYSCLOUD_OAUTHCLIENT_ID");
    let msg = usage_error(&["check"], &no_id);
    assert!(msg.contains("missing client id"), "{msg}");
}

#[test]
fn env_names_and_precedence() {
    let env = env_with(&[
        ("GENESYS_CLIENT_ID", "short-id"),
        ("GENESYS_CLIENT_SECRET", "short-secret"),
        ("GENESYS_REGION", "mypurecloud.de"),
    ]);
    let c = config_in(&RANGE, &env);
    assert_eq!(c.credentials.client_id, "short-id");
    assert_eq!(c.api_base, "https://api.mypurecloud.de");

    let mut both = env.clone();
    both.extend(good_env());
    let c = config_in(&RANGE, &both);
    assert_eq!(c.credentials.client_id, "id");
    assert_eq!(c.api_base, "https://api.mypurecloud.ie");

    // --region beats the environment; an empty variable counts as unset.
    let mut empty = good_env();
    empty.insert("GENESYSCLOUD_OAUTHCLIENT_ID".into(), " ".into());
    empty.insert("GENESYS_CLIENT_ID".into(), "fallback".into());
    let c = config_in(&with(&["--region", "ap_northeast_1"]), &empty);
    assert_eq!(c.credentials.client_id, "fallback");
    assert_eq!(c.login_base, "https://login.mypurecloud.jp");
}

/// The secret an export with `args` and the variables `vars` (beside the id and region)
/// gets, and its warnings.
fn secret_with(args: &[&str], vars: &[(&str, &str)]) -> (String, Vec<String>) {
    let mut env = env_with(vars);
    env.insert("GENESYSCLOUD_OAUTHCLIENT_ID".into(), "id".into());
    env.insert("GENESYSCLOUD_REGION".into(), "eu-west-1".into());
    let c = config_in(&with(args), &env);
    (c.credentials.secret().to_string(), c.warnings)
}

#[track_caller]
fn check_secret(args: &[&str], vars: &[(&str, &str)], want: &str, warned: bool) {
    let (secret, warnings) = secret_with(args, vars);
    assert_eq!(secret, want, "{args:?} {vars:?}");
    assert_eq!(warnings.len(), usize::from(warned), "{warnings:?}");
}

#[test]
fn the_secret_comes_from_the_flag_then_the_file_variable_then_the_variable() {
    let file_var = "GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE";
    let plain = "GENESYSCLOUD_OAUTHCLIENT_SECRET";
    let flag = ["--client-secret-file", "secret"];
    check_secret(&flag, &[], "file-secret", false);
    check_secret(
        &flag,
        &[(file_var, "crlf"), (plain, "env")],
        "file-secret",
        false,
    );
    check_secret(
        &[],
        &[(file_var, "crlf"), (plain, "env")],
        "crlf-secret",
        false,
    );
    check_secret(&[], &[(file_var, " "), (plain, "env")], "env", false);
    check_secret(&[], &[(plain, "env")], "env", false);
    check_secret(
        &["--client-secret-file", "shared"],
        &[],
        "shared-secret",
        true,
    );
    let (_, warnings) = secret_with(&["--client-secret-file", "shared"], &[]);
    assert!(warnings[0].contains("chmod 600"), "{warnings:?}");
}

#[test]
fn a_bad_secret_file_is_a_usage_error_naming_it() {
    let file_var = "GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE";
    let mut env = good_env();
    env.insert(file_var.into(), "nowhere".into());
    let msg = usage_error(&RANGE, &env);
    assert!(msg.contains(&format!("{file_var} nowhere")), "{msg}");
    for (file, want) in [
        (
            "missing",
            "cannot read the client secret from --client-secret-file missing",
        ),
        ("blank", "--client-secret-file blank is empty"),
        ("binary", "--client-secret-file binary is not UTF-8"),
        ("huge", "--client-secret-file huge is larger than 64 KiB"),
    ] {
        check_with(&["--client-secret-file", file], want);
    }
}

/// `args` are refused with exit 2 and a one-line message containing `want`.
#[track_caller]
fn check(args: &[&str], want: &str) {
    let msg = usage_error(args, &good_env());
    assert!(msg.contains(want), "{args:?}: '{msg}' lacks '{want}'");
    assert!(
        !msg.contains(['\n', '\r']),
        "{args:?}: message spans lines: {msg}"
    );
}

/// `--from 2026-11-01 --to 2026-11-08` and `extra` are refused like `check`.
#[track_caller]
fn check_with(extra: &[&str], want: &str) {
    check(&with(extra), want);
}

#[test]
fn filter_options_repeat_and_a_filter_allows_31_day_windows() {
    let c = config(&with(&[
        "--queue",
        "Billing",
        "--media",
        "voice",
        "--queue",
        "0B1E6A7C-0000-4000-8000-000000000001",
        "--media",
        "chat",
        "--direction",
        "inbound",
        "--user",
        "6f2d0c1a-0000-4000-8000-0000000000a1",
        "--division",
        "7f0b3a41-1c9e-4d2a-9b77-2f4e5d6c7a01",
        "--filter-file",
        "filters.json",
        "--window",
        "31d",
    ]));
    assert_eq!(
        c.filters.queues,
        ["0b1e6a7c-0000-4000-8000-000000000001", "Billing"]
    );
    assert_eq!(c.filters.media, ["chat", "voice"]);
    assert_eq!(c.filters.directions, ["inbound"]);
    assert_eq!(c.filters.users.len(), 1);
    assert_eq!(c.filters.divisions.len(), 1);
    assert_eq!(c.filters.file.conversation.len(), 1);
    assert_eq!(c.window, Duration::from_secs(31 * 86_400));
    // The file alone is a filter too.
    let c = config(&with(&["--filter-file", "filters.json", "--window", "10d"]));
    assert_eq!(c.window, Duration::from_secs(10 * 86_400));
    assert!(config(&with(&[])).filters.is_empty());
}

#[test]
#[rustfmt::skip]
fn bad_filters_are_one_clear_usage_error() {
    check_with(&["--media", "fax"], "--media 'fax' is not one of callback, chat, cobrowse, email");
    check_with(&["--direction", "up"], "--direction 'up' is not one of inbound, outbound");
    check_with(&["--user", "jane"], "--user 'jane' is not an id");
    check_with(&["--division", "x"], "--division 'x' is not an id");
    check_with(&["--filter-file", "a", "--filter-file", "b"], "--filter-file is given more than once");
    check_with(&["--filter-file", "missing"], "cannot read --filter-file missing");
    check_with(&["--filter-file", "bad-filters.json"], "--filter-file bad-filters.json segmentFilters[0].type is 'nand'");
    check_with(&["--filter-file", "huge"], "--filter-file huge is larger than 64 KiB");
    check_with(&["--media", "voice", "--window", "32d"], "between 1m and 31d (the API's interval limit with a filter)");
}

#[test]
#[rustfmt::skip]
fn bad_input_is_one_clear_usage_error() {
    check(&[], "missing command");
    check(&["export"], "unknown command 'export'");
    check(&["conversations", "--to", "today"], "missing --from");
    check(&["conversations", "--from", "today"], "missing --to");
    check(&["conversations", "--from", "2026-11-08", "--to", "2026-11-01"], "must be before --to");
    check(&["conversations", "--from", "today", "--to", "today"], "must be before");
    check(&["conversations", "--from", "nope", "--to", "today"], "--from: 'nope' is not a time");
    check(&["conversations", "--from", "a\nb", "--to", "today"], "--from: 'a\\nb'");
    check(&["conversations", "--from"], "--from needs a value");
    check(&["conversations", "--from", "today", "--to", "9999-12-31T23:00:00-05:00"], "--to: '9999-12-31T23:00:00-05:00' lies past the last day");
    check_with(&["--window", "1y"], "--window: '1y' is not a duration");
    check_with(&["--window", "8d"], "--window must be between 1m and 7d (the API's interval limit without filters), not '8d'");
    check_with(&["--window", "30s"], "between 1m and 7d");
    check_with(&["--ended-only", "--window", "32d"], "between 1m and 31d (the API's interval limit with a filter)");
    check_with(&["--ended-only", "--pending", "p.json", "-o", "c.csv", "--window", "8d"], "between 1m and 7d (the API's interval limit without filters)");
    check_with(&["--pending", "p.json"], "--pending needs --output FILE");
    check_with(&["--pending", "", "-o", "c.csv"], "--pending is empty");
    check_with(&["--pending-max-age", "2d", "-o", "c.csv"], "--pending-max-age needs --pending PATH");
    check_with(&["--pending", "p.json", "-o", "c.csv", "--pending-max-age", "30m"], "--pending-max-age must be between 1h and 3650d");
    check_with(&["--page-size", "0"], "--page-size must be");
    check_with(&["--page-size", "101"], "--page-size must be");
    check_with(&["--page-size", "ten"], "--page-size must be a whole number from 1 to 100, not 'ten'");
    check_with(&["--format", "xml"], "--format must be csv or jsonl, not 'xml'");
    check_with(&["--bogus"], "unknown option '--bogus'");
    check_with(&["stray"], "unexpected argument 'stray'");
    check_with(&["--window", "1h", "--window", "2h"], "--window is given more than once");
    check_with(&["--force", "--force"], "--force is given more than once");
    check_with(&["--region", "mars-1"], "unknown region 'mars-1'");
    check_with(&["--region", "evil.com?@127.0.0.1"], "the region must not hold a query");
    check_with(&["--api-base", "http://api.example.com"], "only to loopback");
    check_with(&["--api-base", "ftp://x"], "must start with https://");
    check_with(&["--api-base", "api.example.com"], "must be a URL");
    check_with(&["--login-base", "http://host?@127.0.0.1"], "--login-base must not hold a query");
    check_with(&["--max-retries", "many"], "--max-retries must be a whole number from 0 to 1000, not 'many'");
    check_with(&["--max-retries", "1001"], "--max-retries must be");
    check_with(&["--max-retries", "-1"], "--max-retries must be");
    check_with(&["--output", ""], "--output is empty");
    check_with(&["--state", "s.json"], "cannot be resumed");
    check_with(&["-o", "-", "--restart"], "cannot be resumed");
    check_with(&["--mode", "bulk"], "--mode must be auto, query or jobs");
    check_with(&["--attribute", "a", "--format", "jsonl"], "adds CSV columns");
    check_with(&["--attribute", "a", "--mode", "query"], "needs job results");
    check_with(&["--attribute", "a", "--attribute", "a"], "repeat a column");
    check_with(&["--attribute", "ani"], "repeat a column");
    check_with(&["--attribute", " "], "--attribute needs a name");
    check_with(&["--columns", "nope"], "unknown column 'nope' (see --columns list)");
    check_with(&["--columns", "ani,ani"], "--columns names ani twice");
    check_with(&["--columns", "ani,,dnis"], "--columns has an empty name");
    check_with(&["--columns", "ani", "--format", "jsonl"], "--columns picks CSV columns");
    check_with(&["--columns", "ani", "-o", "x.csv"], "--columns needs conversation_id when writing to a file");
    check_with(&["--columns", "conversation_id,t_talk", "--attribute", "t_talk"], "repeat a column");
    check_with(&["--job-poll", "0s"], "--job-poll must be between 1ms and 10m, not '0s'");
    check_with(&["--job-poll", "11m"], "--job-poll must be between 1ms and 10m");
    check_with(&["--job-timeout", "30s"], "--job-timeout must be between 1m and 7d, not '30s'");
    check_with(&["--job-timeout", "8d"], "--job-timeout must be between 1m and 7d");
    check_with(&["--timeout", "0s"], "--timeout must be between 1ms and 1h");
    check_with(&["--timeout", "61m"], "--timeout must be between 1ms and 1h, not '61m'");
    check_with(&["--max-wait", "x"], "--max-wait: 'x' is not a duration");
    check_with(&["--max-wait", "8d"], "--max-wait must be at most 7d, not '8d'");
    check_with(&["--backoff", "11m"], "--backoff must be at most 10m");
}

#[test]
fn durations_near_u64_max_exit_2_instead_of_overflowing() {
    for flag in [
        "--window",
        "--job-poll",
        "--job-timeout",
        "--timeout",
        "--max-wait",
        "--backoff",
    ] {
        for value in [
            "18446744073709551615s",
            "18446744073709551615d",
            "99999999999999999999999999h",
            "18446744073709551615s999ms",
        ] {
            check_with(&[flag, value], &format!("{flag} must be"));
        }
    }
    check_with(
        &["--max-retries", "18446744073709551616"],
        "--max-retries must be",
    );
}

#[test]
fn values_at_the_bounds_are_accepted() {
    let c = config_in(
        &with(&[
            "--window",
            "1m",
            "--job-poll",
            "10m",
            "--job-timeout",
            "7d",
            "--timeout",
            "1h",
            "--max-wait",
            "7d",
            "--backoff",
            "10m",
            "--max-retries",
            "1000",
        ]),
        &good_env(),
    );
    assert_eq!(c.window, dur_range("--window").0);
    assert_eq!(c.job_poll, dur_max("--job-poll"));
    assert_eq!(c.job_timeout, dur_max("--job-timeout"));
    assert_eq!(c.timeout, dur_max("--timeout"));
    assert_eq!(c.policy.max_total_wait, dur_max("--max-wait"));
    assert_eq!(c.policy.initial_backoff, dur_max("--backoff"));
    assert_eq!(c.policy.max_retries, 1000);
    let c = config_in(
        &with(&["--max-wait", "0s", "--backoff", "0s", "--max-retries", "0"]),
        &good_env(),
    );
    assert_eq!(c.policy.max_total_wait, Duration::ZERO);
    assert_eq!(c.policy.initial_backoff, Duration::ZERO);
    assert_eq!(c.policy.max_retries, 0);
    // With a filter the interval limit grows to 31 days.
    let c = config(&[
        "conversations",
        "--from",
        "2026-10-01",
        "--to",
        "2026-11-01",
        "--ended-only",
        "--window",
        "31d",
    ]);
    assert_eq!(c.window, Duration::from_secs(31 * 86_400));
}

#[test]
fn gateway_hosts() {
    // A gateway without 'api.' in its host: the login host comes from the region, or must
    // be given.
    let args = with(&["--api-base", "https://gw.example.com"]);
    assert_eq!(config(&args).login_base, "https://login.mypurecloud.ie");
    let mut no_region = good_env();
    no_region.remove("GENESYSCLOUD_REGION");
    let msg = usage_error(&args, &no_region);
    assert!(msg.contains("missing --login-base"), "{msg}");
}

#[track_caller]
fn check_env(remove: &[&str], want: &str) {
    let mut env = good_env();
    for k in remove {
        env.remove(*k);
    }
    let msg = usage_error(&RANGE, &env);
    assert!(msg.contains(want), "{remove:?}: {msg}");
}

#[test]
#[rustfmt::skip]
fn missing_configuration() {
    check_env(&["GENESYSCLOUD_OAUTHCLIENT_ID"], "set GENESYSCLOUD_OAUTHCLIENT_ID");
    check_env(&["GENESYSCLOUD_OAUTHCLIENT_SECRET"], "set GENESYSCLOUD_OAUTHCLIENT_SECRET");
    check_env(&["GENESYSCLOUD_REGION"], "missing region");
    check_env(&["GENESYSCLOUD_OAUTHCLIENT_ID", "GENESYSCLOUD_REGION"], "missing client id");
}

#[test]
fn every_option_parses_for_the_commands_its_row_names_and_only_those() {
    for opt in options::OPTIONS {
        for command in [options::Cmd::Export, options::Cmd::Check] {
            let mut args = vec![command.name(), opt.name];
            if opt.takes_value() {
                args.push("x");
            }
            let raw = RawArgs::parse(args.iter().map(OsString::from).collect());
            let text = match command {
                options::Cmd::Export => help(),
                options::Cmd::Check => check_help(),
            };
            let listed = text.contains(&format!("\n    {}", opt.usage()));
            if opt.takes(command) {
                assert!(raw.is_ok(), "{args:?}: {:?}", raw.err());
                assert!(listed, "{} --help lacks {}", command.name(), opt.usage());
            } else {
                let msg = format!("{:#}", raw.expect_err("refused"));
                assert!(
                    msg.starts_with(&format!("{} is an export option", opt.name)),
                    "{msg}"
                );
                assert!(!listed, "{} --help lists {}", command.name(), opt.name);
            }
        }
    }
}

/// README's options table: each row's first cell (the options it documents) and the row.
fn readme_rows() -> Vec<(&'static str, &'static str)> {
    include_str!("../../README.md")
        .lines()
        .skip_while(|l| *l != "## Options")
        .take_while(|l| !l.starts_with("## Output"))
        .filter_map(|l| {
            let cell = l.strip_prefix("| `")?.split(" | ").next()?;
            Some((cell, l))
        })
        .collect()
}

/// The options a README cell names: `--api-base URL`, `--login-base URL` names two.
fn named_in(cell: &str) -> Vec<&str> {
    cell.split(['`', ',', ' '])
        .filter(|w| w.starts_with('-') && w.len() > 1)
        .collect()
}

/// Where README's options table and `table` disagree, one line each.
fn readme_disagreements(table: &[options::Opt]) -> Vec<String> {
    let rows = readme_rows();
    let mut problems = Vec::new();
    for opt in table
        .iter()
        .filter(|o| !matches!(o.name, "--help" | "--version"))
    {
        let Some((cell, row)) = rows
            .iter()
            .find(|(cell, _)| named_in(cell).contains(&opt.name))
        else {
            problems.push(format!("README's options table lacks {}", opt.name));
            continue;
        };
        let usage = opt.usage().replace('|', "\\|").replace("...", "…");
        let default = row.split(" | ").nth(1).unwrap_or_default();
        let bounds = opt.kind.bounds();
        let checks = [
            (
                cell.contains(&usage),
                format!("spells it {cell}, not {usage}"),
            ),
            (
                opt.default.is_empty() || default.contains(&format!("`{}`", opt.default)),
                format!("lacks the default {}", opt.default),
            ),
            (
                opt.env.is_none_or(|v| row.contains(&format!("${v}"))),
                format!("lacks ${}", opt.env.unwrap_or_default()),
            ),
            (row.contains(&bounds), format!("lacks {bounds}")),
            (
                row.contains("repeatable") == opt.repeatable,
                "says repeatable or not wrongly".to_string(),
            ),
        ];
        for (agrees, what) in checks {
            if !agrees {
                problems.push(format!("README's row of {} {what}: {row}", opt.name));
            }
        }
    }
    for (cell, _) in &rows {
        for name in named_in(cell) {
            if options::find(table, name).is_none() {
                problems.push(format!("README documents {name}, which no row declares"));
            }
        }
    }
    problems
}

#[test]
fn the_readme_options_table_agrees_with_the_option_table() {
    assert_eq!(readme_disagreements(options::OPTIONS), Vec::<String>::new());
}

#[test]
fn the_readme_names_the_options_check_takes() {
    let readme = include_str!("../../README.md");
    let at = readme
        .find("only the connection options (")
        .expect("README's check section");
    let list = &readme[at..];
    let list = &list[..list.find(')').unwrap_or(list.len())];
    let listed: Vec<&str> = named_in(list)
        .into_iter()
        .filter(|w| w.starts_with("--"))
        .collect();
    let takes: Vec<&str> = options::OPTIONS
        .iter()
        .filter(|o| o.takes(options::Cmd::Check) && !matches!(o.name, "--help" | "--version"))
        .map(|o| o.name)
        .collect();
    assert_eq!(listed, takes);
}

/// An option declared by one more row: parsed, in HELP, refused by `check`, without any other
/// change to the parser or the help.
#[test]
fn a_new_option_needs_only_its_row() {
    let mut table = options::OPTIONS.to_vec();
    let new = options::Opt {
        short: None,
        name: "--sample-flag",
        kind: Kind::Flag,
        default: "",
        env: None,
        commands: &[options::Cmd::Export],
        repeatable: false,
        help: "a flag no real option has, to show the mechanism",
    };
    table.push(new);
    let args = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
    let raw = RawArgs::parse_with(&table, args(&["conversations", "--sample-flag"])).unwrap();
    assert!(raw.flag("--sample-flag"));
    let raw = RawArgs::parse_with(&table, args(&["conversations"])).unwrap();
    assert!(!raw.flag("--sample-flag"));
    let help = options::help_section(&table, options::Cmd::Export);
    assert!(
        help.contains("    --sample-flag          a flag no real option has"),
        "{help}"
    );
    assert!(!options::help_section(&table, options::Cmd::Check).contains("--sample-flag"));
    let refused = |words: &[&str]| {
        format!(
            "{:#}",
            RawArgs::parse_with(&table, args(words)).unwrap_err()
        )
    };
    assert!(refused(&["check", "--sample-flag"]).starts_with("--sample-flag is an export option"));
    assert!(
        refused(&["conversations", "--sample-flag", "--sample-flag"])
            .contains("given more than once")
    );
    // README's options table must document it before the tests pass.
    assert_eq!(
        readme_disagreements(&table),
        ["README's options table lacks --sample-flag"]
    );
    // The real table does not know it.
    assert!(refused_by_default(&["conversations", "--sample-flag"]).contains("unknown option"));
}

fn refused_by_default(words: &[&str]) -> String {
    let args = words.iter().map(OsString::from).collect();
    format!("{:#}", RawArgs::parse(args).unwrap_err())
}

#[test]
#[rustfmt::skip]
fn defaults_agree_with_the_modules_that_own_them() {
    assert_eq!(dur("--max-wait"), DEFAULT_MAX_WAIT);
    assert_eq!(dur("--backoff"), DEFAULT_BACKOFF);
    assert_eq!(row("--max-retries").default_count(), Some(DEFAULT_MAX_RETRIES));
    assert_eq!(row("--page-size").default_count(), Some(api::MAX_PAGE_SIZE));
    assert_eq!(row("--page-size").kind, Kind::Count { min: 1, max: api::MAX_PAGE_SIZE });
    assert_eq!(dur_max("--window"), window::MAX_INTERVAL_WITH_FILTER);
    assert_eq!(row("--log-format").default, "text");
    assert_eq!(row("--log-format").env, Some(LOG_FORMAT_ENV));
    let bracket = format!("[default: 30m; at most {}]", format_duration(dur_max("--max-wait")));
    assert_eq!(row("--max-wait").bracket(), Some(bracket));
}

/// Every exit code, each with the first word of its meaning in HELP and README.
fn exit_codes() -> Vec<(i32, &'static str)> {
    let all = [
        Code::Success,
        Code::Other,
        Code::Usage,
        Code::Auth,
        Code::Forbidden,
        Code::GaveUp,
        Code::Output,
        Code::Interrupted,
    ];
    all.iter()
        .map(|code| {
            // A new code fails to compile here until it is added to the list above.
            let word = match code {
                Code::Success => "success",
                Code::Other => "any",
                Code::Usage => "usage",
                Code::Auth => "authentication",
                Code::Forbidden => "permission",
                Code::GaveUp => "gave",
                Code::Output => "output",
                Code::Interrupted => "interrupted",
            };
            (code.as_i32(), word)
        })
        .collect()
}

#[test]
fn help_and_readme_state_the_exit_code_table() {
    let text = help();
    let help: Vec<(i32, &str)> = text
        .lines()
        .skip_while(|l| *l != "EXIT CODES:")
        .skip(1)
        .filter_map(|l| {
            let (code, meaning) = l.trim().split_once("  ")?;
            Some((code.parse().ok()?, meaning.split_whitespace().next()?))
        })
        .collect();
    let readme: Vec<(i32, &str)> = include_str!("../../README.md")
        .lines()
        .skip_while(|l| *l != "## Exit codes")
        .take_while(|l| !l.starts_with("## Building"))
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            let code = cells.next()?.parse().ok()?;
            Some((code, cells.next()?.split_whitespace().next()?))
        })
        .collect();
    assert_eq!(help, exit_codes());
    assert_eq!(readme, exit_codes());
}

/// A random argument vector: usually a range, then real option names with plausible,
/// edge or hostile values; now and then a stray word, a `--name=value` pair, bytes that are
/// not UTF-8, a missing value or `--help`.
fn random_args(rng: &mut prop::Rng) -> Vec<OsString> {
    const FROM: [&str; 3] = ["2026-11-01", "yesterday", "2026-11-01T06:00:00+02:00"];
    const TO: [&str; 4] = ["2026-11-02T00:00:00Z", "today", "now", "2026-11-08"];
    const VALUES: [&str; 26] = [
        "1m",
        "1h",
        "1d",
        "7d",
        "8d",
        "31d",
        "0s",
        "1ms",
        "10m",
        "6h",
        "100",
        "1000",
        "1",
        "csv",
        "jsonl",
        "auto",
        "query",
        "jobs",
        "-",
        "out.csv",
        "http://127.0.0.1:1",
        "https://gw.example.com",
        "eu-west-1",
        "json",
        "text",
        "",
    ];
    let mut args: Vec<OsString> = Vec::new();
    let value = |rng: &mut prop::Rng, plausible: &[&str]| match rng.below(6) {
        0 => rng.any_text(),
        _ => rng.pick(plausible).to_string(),
    };
    if rng.below(16) != 0 {
        args.push("conversations".into());
    }
    for (flag, times) in [("--from", &FROM[..]), ("--to", &TO[..])] {
        if rng.below(16) != 0 {
            args.push(flag.into());
            args.push(value(rng, times).into());
        }
    }
    for _ in 0..rng.below(6) {
        let opt = rng.pick(options::OPTIONS);
        let (option, takes_value) = (opt.name, opt.takes_value());
        if matches!(option, "-h" | "--help" | "-V" | "--version") && rng.below(20) != 0 {
            continue;
        }
        let value = value(rng, &VALUES);
        match rng.below(24) {
            0 => args.push(value.into()),
            1 => args.push(format!("{option}={value}").into()),
            #[cfg(unix)]
            2 => {
                use std::os::unix::ffi::OsStringExt;
                args.push(option.into());
                args.push(OsString::from_vec(vec![0xff, b'1', 0xfe]));
            }
            3 => args.push(option.into()),
            _ => {
                args.push(option.into());
                if takes_value {
                    args.push(value.into());
                }
            }
        }
    }
    args
}

#[test]
fn prop_any_arguments_give_a_command_or_a_one_line_usage_error() {
    let mut env = good_env();
    env.insert(
        "GENESYSCLOUD_OAUTHCLIENT_SECRET".into(),
        "s3cr3t-value-xyz".into(),
    );
    prop::run(|rng| {
        let args = random_args(rng);
        let mut env = env.clone();
        if rng.below(8) == 0 {
            env.insert("GENESYSCLOUD_REGION".into(), rng.any_text());
        }
        match run_os(args.clone(), &env) {
            Ok(Command::Export(c)) => {
                assert!(c.from < c.to, "{args:?}");
                assert!(
                    dur_range("--window").0 <= c.window
                        && c.window <= window::MAX_INTERVAL_WITH_FILTER
                );
                assert!((1..=api::MAX_PAGE_SIZE).contains(&c.page_size));
                assert!(
                    c.job_poll <= dur_max("--job-poll")
                        && c.job_timeout <= dur_max("--job-timeout")
                );
                assert!(
                    c.timeout <= dur_max("--timeout")
                        && c.policy.max_total_wait <= dur_max("--max-wait")
                );
                assert!(c.policy.initial_backoff <= dur_max("--backoff"));
                assert!(c.policy.max_retries <= 1000);
                for base in [&c.api_base, &c.login_base] {
                    assert!(http::check_base("base", base).is_ok(), "{base}");
                }
            }
            Ok(_) => {}
            Err(err) => {
                assert_eq!(code_of(&err), Code::Usage, "{args:?}: {err:#}");
                let msg = format!("{err:#}");
                assert!(!msg.contains(['\n', '\r']), "{args:?}: {msg:?}");
                assert!(!msg.contains("s3cr3t-value-xyz"), "{msg}");
            }
        }
    });
}

/// `--tz` (or `GENESYS_EXPORT_TZ`) reads dates, `today` and local times in the zone; without
/// it they are what they always were, and a time without an offset is still refused.
#[test]
fn tz_reads_the_range_in_the_zone() {
    let paris_rule = "CET-1CEST,M3.5.0,M10.5.0/3";
    let mut env = good_env();
    env.insert("TZ".into(), paris_rule.into());
    let local = |args: &[&str], env: &HashMap<String, String>| {
        let mut all = vec!["conversations", "--tz", "local"];
        all.extend_from_slice(args);
        config_in(&all, env)
    };
    let c = local(&["--from", "2026-03-29", "--to", "2026-03-30"], &env);
    assert_eq!(c.from, datetime!(2026-03-28 23:00 UTC));
    assert_eq!(c.to, datetime!(2026-03-29 22:00 UTC));
    let c = local(&["--from", "yesterday", "--to", "2026-11-26T06:30"], &env);
    assert_eq!(c.from, datetime!(2026-11-24 23:00 UTC));
    assert_eq!(c.to, datetime!(2026-11-26 05:30 UTC));
    let c = config(&words("conversations --tz +05:30 --from today --to now"));
    assert_eq!(c.from, datetime!(2026-11-25 18:30 UTC));
    assert_eq!(c.zone.name(), "+05:30");
    let mut by_env = good_env();
    by_env.insert("GENESYS_EXPORT_TZ".into(), "-03:00".into());
    let c = config_in(
        &["conversations", "--from", "2026-11-01", "--to", "today"],
        &by_env,
    );
    assert_eq!(c.from, datetime!(2026-11-01 03:00 UTC));
    let c = config(&["conversations", "--from", "2026-11-01", "--to", "today"]);
    assert_eq!(
        (c.from, c.zone.clone()),
        (datetime!(2026-11-01 00:00 UTC), crate::tz::UTC.clone())
    );
    let err = usage_error(
        &words("conversations --from 2026-11-01T06:00 --to today"),
        &good_env(),
    );
    assert!(err.contains("has no UTC offset"), "{err}");
    let c = config(&words(
        "conversations --tz UTC --from 2026-11-01T06:00 --to today",
    ));
    assert_eq!(c.from, datetime!(2026-11-01 06:00 UTC));
}

/// A zone that cannot be found or read is a usage error naming the zone and where it looked.
#[test]
fn tz_that_cannot_be_loaded_is_refused_naming_where_it_looked() {
    let range = ["--from", "2026-11-01", "--to", "2026-11-02"];
    let refused = |zone: &str| {
        let mut args = vec!["conversations", "--tz", zone];
        args.extend_from_slice(&range);
        usage_error(&args, &good_env())
    };
    let err = refused("Mars/Olympus");
    assert!(err.contains("--tz: unknown zone 'Mars/Olympus'"), "{err}");
    let tried = Path::new(crate::tz::ZONEINFO).join("Mars/Olympus");
    let tried = tried.display().to_string().escape_debug().to_string();
    assert!(err.contains(&tried), "{err}");
    let err = refused("Huge/Zone");
    assert!(err.contains("larger than 1 MiB"), "{err}");
    let err = refused("../etc/passwd");
    assert!(err.contains("'../etc/passwd'"), "{err}");
    let err = refused("+5");
    assert!(err.contains("is not an offset"), "{err}");
}

/// The words of a command line without quoting.
fn words(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

#[test]
fn manifest_needs_an_output_file() {
    let err = usage_error(
        &words("conversations --from 2026-11-01 --to 2026-11-02 --manifest"),
        &good_env(),
    );
    assert!(err.contains("--manifest needs --output FILE"), "{err}");
    let err = usage_error(
        &words("conversations --from 2026-11-01 --to 2026-11-02 --manifest --tables ds"),
        &good_env(),
    );
    assert!(err.contains("always holds its manifest.json"), "{err}");
    let c = config(&words(
        "conversations --from 2026-11-01 --to 2026-11-02 --manifest -o out.csv",
    ));
    assert!(c.manifest);
}
