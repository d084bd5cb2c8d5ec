//! The command line: raw arguments and environment in, a validated `Config` out.
//!
//! Pure: the arguments, an environment lookup and the current time are passed in, so every
//! rule here is tested without a process. File-system checks on the output path happen in
//! `sink.rs`; this module only parses and validates values. Every error is a one-line usage
//! error (exit 2) that names the fix.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time, UtcOffset};

use crate::api;
use crate::auth::Credentials;
use crate::exit::usage;
use crate::retry::Policy;
use crate::sink::{Format, Output};
use crate::window;

pub const HELP: &str = "\
genesys-export: export Genesys Cloud conversation details to CSV or JSON Lines

USAGE:
    genesys-export conversations --from TIME --to TIME [OPTIONS]

The range [--from, --to) is cut into windows; each window is one analytics details query,
paged. Every conversation that started in the range is written exactly once. Token expiry,
401, 429, 5xx and network failures are retried under one policy and budget.

TIME is RFC 3339 (2026-11-01T06:00:00Z, any offset), a date (2026-11-01, midnight UTC),
or today, yesterday (midnight UTC) or now.
DUR is a number with a unit: 30s, 15m, 1h, 1d (combinations such as 1h30m work too).

OPTIONS:
    --from TIME            start of the range, inclusive (required)
    --to TIME              end of the range, exclusive (required)
    --window DUR           length of one query window [default: 1d; at most 7d, 31d with
                           --ended-only; at least 1m]
    -o, --output FILE|-    where to write; - is stdout [default: -]. A file is written as
                           FILE.partial and renamed to FILE when the whole range is done
    --format csv|jsonl     CSV (one row per conversation) or JSON Lines (each conversation
                           exactly as the API returned it) [default: csv]
    --force                replace FILE if it exists
    --state PATH           where an export to FILE records its progress, so that running the
                           same command again after a crash resumes it [default: FILE.state]
    --restart              ignore a saved state and start the export over
    --page-size N          conversations per page, 1-100 [default: 100]
    --ended-only           leave out conversations that are still in progress
    --mode auto|query|jobs auto: analytics jobs (bulk, from the data lake) for the part of the
                           range older than the lake's availability date, the details query
                           for the newer rest; query or jobs: one path only [default: auto]
    --attribute NAME       add a CSV column with the participant attribute NAME (repeatable;
                           only job results carry attributes)
    --job-poll DUR         first interval between job status polls, growing to 30s [default: 2s]
    --region R             Genesys Cloud region: eu-west-1, eu_west_1 or mypurecloud.ie
                           [default: $GENESYSCLOUD_REGION]
    --api-base URL         API base URL, overriding the region (a gateway, a simulator)
    --login-base URL       login base URL [default: --api-base with api. replaced by login.]
    --ca-file PEM          trust these CA certificates instead of the built-in roots
                           (for TLS-inspecting proxies; HTTPS_PROXY and NO_PROXY are honoured)
    --timeout DUR          limit for one HTTP request [default: 2m]
    --max-retries N        retries of one request before giving up [default: 10]
    --max-wait DUR         total time the run may spend waiting to retry [default: 30m]
    --backoff DUR          first backoff step, doubled per retry up to 60s [default: 1s]
    -q, --quiet            print errors only
    -h, --help             print this help
    -V, --version          print the version

ENVIRONMENT:
    GENESYSCLOUD_OAUTHCLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET, GENESYSCLOUD_REGION
        the OAuth client (client credentials grant) and its region. GENESYS_CLIENT_ID,
        GENESYS_CLIENT_SECRET and GENESYS_REGION are accepted too; where both are set the
        GENESYSCLOUD_ names win.

EXIT CODES:
    0  success
    1  any other error
    2  usage or configuration error (no file was created)
    3  authentication rejected (client id, secret or region)
    4  permission denied (the OAuth client's role lacks a permission)
    5  gave up after the retry budget
    6  output I/O error
  130  interrupted by SIGINT or SIGTERM; the same command resumes the export
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Help,
    Version,
    Export(Box<Config>),
}

pub use crate::export::Mode;

/// A validated export request.
#[derive(Debug)]
pub struct Config {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub window: Duration,
    pub output: Output,
    pub format: Format,
    pub force: bool,
    pub state: Option<PathBuf>,
    pub restart: bool,
    pub page_size: u32,
    pub ended_only: bool,
    pub mode: Mode,
    pub attributes: Vec<String>,
    pub job_poll: Duration,
    pub job_timeout: Duration,
    pub api_base: String,
    pub login_base: String,
    pub credentials: Credentials,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub policy: Policy,
    pub quiet: bool,
}

const MIN_WINDOW: Duration = Duration::from_secs(60);

/// Parses the arguments (without the program name).
pub fn parse(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
    now: OffsetDateTime,
) -> Result<Command> {
    let mut args = pico_args::Arguments::from_vec(args);
    if args.contains(["-h", "--help"]) {
        return Ok(Command::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    match args.subcommand().map_err(arg_error)?.as_deref() {
        Some("conversations") => {}
        Some("help") => return Ok(Command::Help),
        Some(other) => {
            return Err(usage(format!(
                "unknown command '{other}': the command is 'conversations' (see --help)"
            )))
        }
        None => {
            return Err(usage(
                "missing command: run 'genesys-export conversations --from TIME --to TIME' (see --help)",
            ))
        }
    }

    let from = required(&mut args, "--from")?;
    let to = required(&mut args, "--to")?;
    let window = optional(&mut args, "--window")?;
    let output: Option<String> = args
        .opt_value_from_str(["-o", "--output"])
        .map_err(arg_error)?;
    let format = optional(&mut args, "--format")?;
    let force = args.contains("--force");
    let state: Option<String> = optional(&mut args, "--state")?;
    let restart = args.contains("--restart");
    let page_size = optional(&mut args, "--page-size")?;
    let ended_only = args.contains("--ended-only");
    let mode = optional(&mut args, "--mode")?;
    let attributes: Vec<String> = args.values_from_str("--attribute").map_err(arg_error)?;
    let job_poll = optional(&mut args, "--job-poll")?;
    let region = optional(&mut args, "--region")?;
    let api_base = optional(&mut args, "--api-base")?;
    let login_base = optional(&mut args, "--login-base")?;
    let ca_file: Option<String> = optional(&mut args, "--ca-file")?;
    let timeout = optional(&mut args, "--timeout")?;
    let max_retries = optional(&mut args, "--max-retries")?;
    let max_wait = optional(&mut args, "--max-wait")?;
    let backoff = optional(&mut args, "--backoff")?;
    let quiet = args.contains(["-q", "--quiet"]);
    let rest = args.finish();
    if let Some(extra) = rest.first() {
        let extra = extra.to_string_lossy();
        return Err(usage(if extra.starts_with('-') {
            format!("unknown option '{extra}' (see --help)")
        } else {
            format!("unexpected argument '{extra}' (see --help)")
        }));
    }

    let from = parse_time(&from, now).map_err(|e| usage(format!("--from: {e}")))?;
    let to = parse_time(&to, now).map_err(|e| usage(format!("--to: {e}")))?;
    if from >= to {
        return Err(usage(format!(
            "--from ({}) must be before --to ({}); the range is [from, to)",
            window::api_timestamp(from),
            window::api_timestamp(to)
        )));
    }

    let max_window = if ended_only {
        window::MAX_INTERVAL_WITH_FILTER
    } else {
        window::MAX_INTERVAL_NO_FILTER
    };
    let window = match window {
        Some(s) => parse_duration(&s).map_err(|e| usage(format!("--window: {e}")))?,
        None => Duration::from_secs(86_400),
    };
    if window < MIN_WINDOW || window > max_window {
        return Err(usage(format!(
            "--window must be between 1m and {}d (the API's interval limit{}); got {}",
            max_window.as_secs() / 86_400,
            if ended_only {
                " with a filter"
            } else {
                " without filters"
            },
            format_duration(window)
        )));
    }

    let format = match format.as_deref() {
        None | Some("csv") => Format::Csv,
        Some("jsonl") => Format::Jsonl,
        Some(other) => {
            return Err(usage(format!(
                "--format must be csv or jsonl, not '{other}'"
            )))
        }
    };
    let page_size = match page_size {
        None => api::MAX_PAGE_SIZE,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=api::MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                return Err(usage(format!(
                    "--page-size must be a whole number from 1 to {}, not '{s}'",
                    api::MAX_PAGE_SIZE
                )))
            }
        },
    };
    let output = match output.as_deref() {
        None | Some("-") => Output::Stdout,
        Some("") => {
            return Err(usage(
                "--output is empty: give a file name, or - for stdout",
            ))
        }
        Some(path) => Output::File(PathBuf::from(path)),
    };
    if output == Output::Stdout && (state.is_some() || restart) {
        return Err(usage(
            "--state and --restart need --output FILE: an export to stdout cannot be resumed",
        ));
    }

    let mode = match mode.as_deref() {
        None | Some("auto") => Mode::Auto,
        Some("query") => Mode::Query,
        Some("jobs") => Mode::Jobs,
        Some(other) => {
            return Err(usage(format!(
                "--mode must be auto, query or jobs, not '{other}'"
            )))
        }
    };
    check_attributes(&attributes, format, mode)?;
    let job_poll = match job_poll {
        Some(s) => parse_duration(&s).map_err(|e| usage(format!("--job-poll: {e}")))?,
        None => Duration::from_secs(2),
    };

    let credentials = credentials(env)?;
    let (api_base, login_base) = hosts(region, api_base, login_base, env)?;

    let mut policy = Policy::default();
    if let Some(s) = max_retries {
        policy.max_retries = s
            .parse()
            .map_err(|_| usage(format!("--max-retries must be a whole number, not '{s}'")))?;
    }
    if let Some(s) = max_wait {
        policy.max_total_wait =
            parse_duration_or_zero(&s).map_err(|e| usage(format!("--max-wait: {e}")))?;
    }
    if let Some(s) = backoff {
        policy.initial_backoff =
            parse_duration_or_zero(&s).map_err(|e| usage(format!("--backoff: {e}")))?;
    }
    let timeout = match timeout {
        Some(s) => parse_duration(&s).map_err(|e| usage(format!("--timeout: {e}")))?,
        None => Duration::from_secs(120),
    };

    Ok(Command::Export(Box::new(Config {
        from,
        to,
        window,
        output,
        format,
        force,
        state: state.map(PathBuf::from),
        restart,
        page_size,
        ended_only,
        mode,
        attributes,
        job_poll,
        job_timeout: Duration::from_secs(6 * 3600),
        api_base,
        login_base,
        credentials,
        ca_file: ca_file.map(PathBuf::from),
        timeout,
        policy,
        quiet,
    })))
}

fn check_attributes(attributes: &[String], format: Format, mode: Mode) -> Result<()> {
    if attributes.is_empty() {
        return Ok(());
    }
    if format == Format::Jsonl {
        return Err(usage(
            "--attribute adds CSV columns; JSON Lines already keeps every attribute of job results",
        ));
    }
    if mode == Mode::Query {
        return Err(usage(
            "--attribute needs job results: the details query returns no attributes; use --mode auto or jobs",
        ));
    }
    for (i, name) in attributes.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(usage("--attribute needs a name"));
        }
        if crate::rows::COLUMNS.contains(&name.as_str()) || attributes[..i].contains(name) {
            return Err(usage(format!(
                "--attribute {name} would repeat a column name: give each attribute once, and none named like a fixed column"
            )));
        }
    }
    Ok(())
}

fn arg_error(e: pico_args::Error) -> anyhow::Error {
    usage(format!("{e} (see --help)"))
}

fn required(args: &mut pico_args::Arguments, name: &'static str) -> Result<String> {
    optional(args, name)?.ok_or_else(|| usage(format!("missing {name} TIME (see --help)")))
}

fn optional(args: &mut pico_args::Arguments, name: &'static str) -> Result<Option<String>> {
    args.opt_value_from_str(name).map_err(arg_error)
}

/// The first non-empty value among the environment variables `names`.
fn first_env(env: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| env(name))
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

fn credentials(env: &dyn Fn(&str) -> Option<String>) -> Result<Credentials> {
    let id = first_env(env, &["GENESYSCLOUD_OAUTHCLIENT_ID", "GENESYS_CLIENT_ID"]);
    let secret = first_env(
        env,
        &["GENESYSCLOUD_OAUTHCLIENT_SECRET", "GENESYS_CLIENT_SECRET"],
    );
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id, secret)),
        (None, _) => Err(usage(
            "missing client id: set GENESYSCLOUD_OAUTHCLIENT_ID to the OAuth client's id",
        )),
        (_, None) => Err(usage(
            "missing client secret: set GENESYSCLOUD_OAUTHCLIENT_SECRET to the OAuth client's secret",
        )),
    }
}

/// Works out the API and login base URLs from the flags and the region.
fn hosts(
    region: Option<String>,
    api_base: Option<String>,
    login_base: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, String)> {
    let region = region.or_else(|| first_env(env, &["GENESYSCLOUD_REGION", "GENESYS_REGION"]));
    let domain = match region {
        Some(r) => Some(api::region_domain(&r).ok_or_else(|| {
            usage(format!(
                "unknown region '{r}': use a region such as eu-west-1 or us-east-1, or a domain such as mypurecloud.ie"
            ))
        })?),
        None => None,
    };
    let api_base = match (api_base, &domain) {
        (Some(url), _) => checked_base("--api-base", &url)?,
        (None, Some(domain)) => format!("https://api.{domain}"),
        (None, None) => {
            return Err(usage(
                "missing region: set GENESYSCLOUD_REGION (e.g. eu-west-1 or mypurecloud.ie) or pass --region",
            ))
        }
    };
    let login_base = match (login_base, &domain) {
        (Some(url), _) => checked_base("--login-base", &url)?,
        (None, _) if api_base.contains("//api.") => api_base.replacen("//api.", "//login.", 1),
        (None, Some(domain)) => format!("https://login.{domain}"),
        (None, None) => {
            return Err(usage(
                "missing --login-base: it cannot be derived from an --api-base without 'api.' in its host",
            ))
        }
    };
    Ok((api_base, login_base))
}

/// Validates a base URL: https, or http to a loopback host only, since the secret and tokens
/// travel in its headers.
fn checked_base(flag: &str, url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let (scheme, _) = url.split_once("://").ok_or_else(|| {
        usage(format!(
            "{flag} must be a URL such as https://api.mypurecloud.ie, not '{url}'"
        ))
    })?;
    let host = url_host(url);
    if host.is_empty() {
        return Err(usage(format!("{flag} has no host: '{url}'")));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(url.to_string()),
        "http" if is_loopback_url(url) => Ok(url.to_string()),
        "http" => Err(usage(format!(
            "{flag} uses plain http:// to {host}: credentials and tokens would travel unencrypted; use https:// (http:// is allowed only to loopback)"
        ))),
        _ => Err(usage(format!("{flag} must start with https://, not '{scheme}://'"))),
    }
}

/// The host of a URL (`https://user@host:port/path`, `http://[::1]:80`), without brackets.
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// Whether a URL's host is the loopback interface.
pub fn is_loopback_url(url: &str) -> bool {
    let host = url_host(url);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses `--from`/`--to`: RFC 3339, a date (midnight UTC), `today`, `yesterday` or `now`.
pub fn parse_time(s: &str, now: OffsetDateTime) -> std::result::Result<OffsetDateTime, String> {
    let s = s.trim();
    let midnight = |date: Date| date.with_time(Time::MIDNIGHT).assume_utc();
    let today = now.to_offset(UtcOffset::UTC).date();
    match s {
        "now" => return Ok(now),
        "today" => return Ok(midnight(today)),
        "yesterday" => {
            return today
                .previous_day()
                .map(midnight)
                .ok_or_else(|| "no day before today".to_string())
        }
        _ => {}
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = Date::parse(s, date_format) {
        return Ok(midnight(date));
    }
    if s.contains('T') && !s.ends_with('Z') && !s.ends_with('z') {
        return Err(format!(
            "'{s}' has no UTC offset: add Z or one such as +02:00 (2026-11-01T06:00:00Z)"
        ));
    }
    Err(format!(
        "'{s}' is not a time: use RFC 3339 (2026-11-01T06:00:00Z), a date (2026-11-01), today, yesterday or now"
    ))
}

/// Parses a duration such as `90s`, `15m`, `1h30m` or `7d`; it must be positive.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let d = parse_duration_or_zero(s)?;
    if d.is_zero() {
        return Err(format!("'{s}' must be longer than zero"));
    }
    Ok(d)
}

fn parse_duration_or_zero(s: &str) -> std::result::Result<Duration, String> {
    let bad =
        || format!("'{s}' is not a duration: use a number and a unit, such as 30s, 15m, 1h or 1d");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_secs = match &rest[..unit_len] {
            "ms" => {
                total += Duration::from_millis(n);
                rest = &rest[unit_len..];
                continue;
            }
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += Duration::from_secs(n.checked_mul(unit_secs).ok_or_else(bad)?);
    }
    Ok(total)
}

/// Renders a duration compactly for messages and logs: `1d`, `1h30m`, `2.5s`, `250ms`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    if d.subsec_millis() != 0 && secs < 60 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let mut out = String::new();
    for (n, unit) in parts {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{code_of, Code};
    use std::collections::HashMap;
    use time::macros::datetime;

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

    fn run(args: &[&str], env: &HashMap<String, String>) -> Result<Command> {
        let args = args.iter().map(OsString::from).collect();
        parse(args, &|k| env.get(k).cloned(), NOW)
    }

    fn config(args: &[&str]) -> Config {
        match run(args, &good_env()).unwrap() {
            Command::Export(c) => *c,
            other => panic!("not an export: {other:?}"),
        }
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

    #[test]
    fn defaults() {
        let c = config(&RANGE);
        assert_eq!(c.from, datetime!(2026-11-01 00:00 UTC));
        assert_eq!(c.to, datetime!(2026-11-08 00:00 UTC));
        assert_eq!(c.window, Duration::from_secs(86_400));
        assert_eq!(c.format, Format::Csv);
        assert_eq!(c.page_size, 100);
        assert!(matches!(c.output, Output::Stdout));
        assert_eq!(c.api_base, "https://api.mypurecloud.ie");
        assert_eq!(c.login_base, "https://login.mypurecloud.ie");
        assert_eq!(c.policy, Policy::default());
        assert_eq!(c.mode, Mode::Auto);
        assert!(c.attributes.is_empty());
        assert!(!c.force && !c.quiet && !c.ended_only);
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
        ]);
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

    #[test]
    fn help_and_version() {
        assert!(matches!(
            run(&["--help"], &HashMap::new()).unwrap(),
            Command::Help
        ));
        assert!(matches!(
            run(&["conversations", "-h"], &HashMap::new()).unwrap(),
            Command::Help
        ));
        assert!(matches!(
            run(&["-V"], &HashMap::new()).unwrap(),
            Command::Version
        ));
    }

    #[test]
    fn times() {
        let t = |s| parse_time(s, NOW);
        assert_eq!(t("now").unwrap(), NOW);
        assert_eq!(t("today").unwrap(), datetime!(2026-11-26 00:00 UTC));
        assert_eq!(t("yesterday").unwrap(), datetime!(2026-11-25 00:00 UTC));
        assert_eq!(t("2026-11-01").unwrap(), datetime!(2026-11-01 00:00 UTC));
        assert_eq!(
            t("2026-11-01T06:00:00+02:00").unwrap(),
            datetime!(2026-11-01 04:00 UTC)
        );
        assert_eq!(
            t("2026-11-01T06:00:00.5Z").unwrap(),
            datetime!(2026-11-01 06:00:00.5 UTC)
        );
        assert!(t("2026-11-01T06:00:00")
            .unwrap_err()
            .contains("no UTC offset"));
        assert!(t("2026-13-01").is_err());
        assert!(t("last week").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn durations() {
        let d = |s| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(d("30s"), Ok(30));
        assert_eq!(d("15m"), Ok(900));
        assert_eq!(d("1h30m"), Ok(5400));
        assert_eq!(d("7d"), Ok(604_800));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "15", "m", "1x", "1.5h", "-1h", "0s", "1h 30m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(
            format_duration(Duration::from_secs(8 * 86_400 + 61)),
            "8d1m1s"
        );
    }

    #[test]
    fn env_names_and_precedence() {
        let env = env_with(&[
            ("GENESYS_CLIENT_ID", "short-id"),
            ("GENESYS_CLIENT_SECRET", "short-secret"),
            ("GENESYS_REGION", "mypurecloud.de"),
        ]);
        let Command::Export(c) = run(&RANGE, &env).unwrap() else {
            panic!()
        };
        assert_eq!(c.credentials.client_id, "short-id");
        assert_eq!(c.api_base, "https://api.mypurecloud.de");

        let mut both = env.clone();
        both.extend(good_env());
        let Command::Export(c) = run(&RANGE, &both).unwrap() else {
            panic!()
        };
        assert_eq!(c.credentials.client_id, "id");
        assert_eq!(c.api_base, "https://api.mypurecloud.ie");

        // --region beats the environment; an empty variable counts as unset.
        let mut empty = good_env();
        empty.insert("GENESYSCLOUD_OAUTHCLIENT_ID".into(), " ".into());
        empty.insert("GENESYS_CLIENT_ID".into(), "fallback".into());
        let mut args = RANGE.to_vec();
        args.extend(["--region", "ap_northeast_1"]);
        let Command::Export(c) = run(&args, &empty).unwrap() else {
            panic!()
        };
        assert_eq!(c.credentials.client_id, "fallback");
        assert_eq!(c.login_base, "https://login.mypurecloud.jp");
    }

    #[test]
    fn bad_input_is_one_clear_usage_error() {
        let env = good_env();
        let with = |extra: &[&'static str]| {
            let mut a = RANGE.to_vec();
            a.extend_from_slice(extra);
            a
        };
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec![], "missing command"),
            (vec!["export"], "unknown command"),
            (vec!["conversations", "--to", "today"], "missing --from"),
            (vec!["conversations", "--from", "today"], "missing --to"),
            (
                vec![
                    "conversations",
                    "--from",
                    "2026-11-08",
                    "--to",
                    "2026-11-01",
                ],
                "must be before --to",
            ),
            (
                vec!["conversations", "--from", "today", "--to", "today"],
                "must be before",
            ),
            (
                vec!["conversations", "--from", "nope", "--to", "today"],
                "--from: 'nope'",
            ),
            (
                with(&["--window", "1y"]),
                "--window: '1y' is not a duration",
            ),
            (with(&["--window", "8d"]), "between 1m and 7d"),
            (with(&["--window", "30s"]), "between 1m and 7d"),
            (with(&["--page-size", "0"]), "--page-size must be"),
            (with(&["--page-size", "101"]), "--page-size must be"),
            (with(&["--page-size", "ten"]), "--page-size must be"),
            (with(&["--format", "xml"]), "--format must be csv or jsonl"),
            (with(&["--bogus"]), "unknown option '--bogus'"),
            (with(&["stray"]), "unexpected argument 'stray'"),
            (with(&["--region", "mars-1"]), "unknown region 'mars-1'"),
            (
                with(&["--api-base", "http://api.example.com"]),
                "only to loopback",
            ),
            (with(&["--api-base", "ftp://x"]), "must start with https://"),
            (with(&["--api-base", "api.example.com"]), "must be a URL"),
            (with(&["--max-retries", "many"]), "--max-retries must be"),
            (with(&["--output", ""]), "--output is empty"),
            (with(&["--state", "s.json"]), "cannot be resumed"),
            (
                with(&["--mode", "bulk"]),
                "--mode must be auto, query or jobs",
            ),
            (
                with(&["--attribute", "a", "--format", "jsonl"]),
                "adds CSV columns",
            ),
            (
                with(&["--attribute", "a", "--mode", "query"]),
                "needs job results",
            ),
            (
                with(&["--attribute", "a", "--attribute", "a"]),
                "repeat a column",
            ),
            (with(&["--attribute", "ani"]), "repeat a column"),
            (with(&["--job-poll", "0s"]), "--job-poll"),
            (with(&["-o", "-", "--restart"]), "cannot be resumed"),
        ];
        for (args, want) in cases {
            let msg = usage_error(&args, &env);
            assert!(msg.contains(want), "{args:?}: '{msg}' lacks '{want}'");
            assert!(!msg.contains('\n'), "{args:?}: message spans lines: {msg}");
        }
        // A gateway without 'api.' in its host: the login host comes from the region, or must
        // be given.
        let c = config(&with(&["--api-base", "https://gw.example.com"]));
        assert_eq!(c.login_base, "https://login.mypurecloud.ie");
        let mut no_region = env.clone();
        no_region.remove("GENESYSCLOUD_REGION");
        let msg = usage_error(&with(&["--api-base", "https://gw.example.com"]), &no_region);
        assert!(msg.contains("missing --login-base"), "{msg}");
        // With a filter the interval limit grows to 31 days.
        let c = config(&with(&["--ended-only", "--window", "31d"]));
        assert_eq!(c.window, Duration::from_secs(31 * 86_400));
    }

    #[test]
    fn missing_configuration() {
        let cases: [(&[&str], &str); 4] = [
            (
                &["GENESYSCLOUD_OAUTHCLIENT_ID"],
                "GENESYSCLOUD_OAUTHCLIENT_ID",
            ),
            (
                &["GENESYSCLOUD_OAUTHCLIENT_SECRET"],
                "GENESYSCLOUD_OAUTHCLIENT_SECRET",
            ),
            (&["GENESYSCLOUD_REGION"], "missing region"),
            (
                &["GENESYSCLOUD_OAUTHCLIENT_ID", "GENESYSCLOUD_REGION"],
                "missing client id",
            ),
        ];
        for (remove, want) in cases {
            let mut env = good_env();
            for k in remove {
                env.remove(*k);
            }
            let msg = usage_error(&RANGE, &env);
            assert!(msg.contains(want), "{remove:?}: {msg}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for ok in [
            "http://127.0.0.1:1",
            "http://localhost",
            "http://[::1]:8080/x",
            "http://127.8.0.1",
        ] {
            assert!(checked_base("--api-base", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://localhost.evil.com",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(checked_base("--api-base", bad).is_err(), "{bad}");
        }
    }
}
