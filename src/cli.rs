//! The command line: raw arguments and environment in, a validated `Config` out.
//!
//! Two stages, as ripgrep's low and high arguments: `RawArgs::parse` only sorts the arguments
//! into strings, flags and lists (is it UTF-8, is it a known option, is it given once), and
//! `Config::from_raw` validates and types them, one small helper per concern. Pure: the
//! arguments, an environment lookup, a reader of secret files and the current time are passed
//! in, so every rule here is tested without a process. File-system checks on the output path happen in `sink.rs`. Every
//! number a user gives has a range, every error is a one-line usage error (exit 2) that names
//! the option and the fix, and values are echoed escaped and shortened.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use time::OffsetDateTime;

use crate::api;
use crate::api::QueryFilters;
use crate::auth::Credentials;
use crate::check;
use crate::columns::{self, Column};
use crate::exit::usage;
use crate::filters::{self, shown, Filters};
use crate::http;
use crate::proxy::Route;
use crate::report::LogFormat;
use crate::retry::{Policy, DEFAULT_BACKOFF, DEFAULT_MAX_RETRIES, DEFAULT_MAX_WAIT};
use crate::sink::{Format, Output};
use crate::times::{format_duration, parse_duration, parse_time};
use crate::window;

pub const HELP: &str = "\
genesys-export: export Genesys Cloud conversation details to CSV or JSON Lines

USAGE:
    genesys-export conversations --from TIME --to TIME [OPTIONS]
    genesys-export check [CONNECTION OPTIONS]

`check` checks a server's setup without exporting: region, connections, token, permissions,
clock and rate limit, one line each (see genesys-export check --help).

The range [--from, --to) is cut into windows; each window is one analytics details query,
paged. Every conversation that started in the range is written exactly once. Token expiry,
401, 429, 5xx and network failures are retried under one policy and budget.

TIME is RFC 3339 (2026-11-01T06:00:00Z, any offset), a date (2026-11-01, midnight UTC),
or today, yesterday (midnight UTC) or now.
DUR is a number with a unit: 30s, 15m, 1h, 1d (combinations such as 1h30m work too).

OPTIONS:
    --from TIME            start of the range, inclusive (required)
    --to TIME              end of the range, exclusive (required)
    --window DUR           length of one query window [default: 1d; at least 1m, at most 7d,
                           31d with --ended-only or any filter]
    -o, --output FILE|-    where to write; - is stdout [default: -]. A file is written as
                           FILE.partial and renamed to FILE when the whole range is done
    --format csv|jsonl     CSV (one row per conversation) or JSON Lines (each conversation
                           exactly as the API returned it) [default: csv]
    --force                replace FILE if it exists (a regular file only)
    --state PATH           where an export to FILE records its progress, so that running the
                           same command again after a crash resumes it [default: FILE.state]
    --restart              ignore a saved state and start the export over
    --page-size N          conversations per page, 1-100 [default: 100]
    --parallel N           details pages in flight at once, paced by the API's rate-limit
                           headers; 1 fetches one page at a time [default: 4; at most 16]
    --ended-only           leave out conversations that are still in progress
    --pending PATH         a ledger of conversations still in progress, shared by nightly
                           runs: they are recorded (and with --ended-only not written), and
                           every run naming PATH first writes those that have ended since
    --pending-max-age DUR  drop a ledger entry whose conversation started longer ago than
                           this, with a warning [default: 31d; at least 1h, at most 3650d]
    --mode auto|query|jobs auto: analytics jobs (bulk, from the data lake) for the part of the
                           range older than the lake's availability date, the details query
                           for the newer rest; query or jobs: one path only [default: auto]
    --queue ID|NAME        only conversations with a segment in this queue; a name is looked
                           up and must match one queue exactly, ignoring case (repeatable)
    --media TYPE           only this session media type: voice, callback, chat, email,
                           message, video, cobrowse, screenshare, screenmonitoring,
                           internalmessage or unknown (repeatable)
    --direction DIR        only sessions of this direction: inbound or outbound (repeatable)
    --user ID              only conversations with a segment of this user (repeatable)
    --division ID          only conversations in this division (repeatable)
    --filter-file PATH     more filters, any the API accepts: a JSON object with
                           segmentFilters and/or conversationFilters arrays. Values of one
                           option are OR-ed, options and the file's filters AND-ed
    --columns A,B,...      the CSV columns, in this order, from the catalogue that
                           --columns list prints [default: the twelve of the README's schema]
    --attribute NAME       add a CSV column with the participant attribute NAME (repeatable;
                           only job results carry attributes)
    --job-poll DUR         first interval between job status polls, growing to 30s
                           [default: 2s; at most 10m]
    --job-timeout DUR      the longest one job may take from submission to fulfilled before it
                           is deleted and submitted again [default: 6h; at least 1m, at most 7d]
    --region R             Genesys Cloud region: eu-west-1, eu_west_1 or mypurecloud.ie
                           [default: $GENESYSCLOUD_REGION]
    --api-base URL         API base URL, overriding the region (a gateway, a simulator)
    --login-base URL       login base URL [default: --api-base with api. replaced by login.]
    --client-secret-file PATH
                           read the OAuth client's secret from PATH (a trailing newline is
                           dropped) [default: $GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE]
    --ca-file PEM          trust these CA certificates instead of the built-in roots
                           (for TLS-inspecting proxies; HTTPS_PROXY, ALL_PROXY and
                           NO_PROXY are read as curl reads them)
    --timeout DUR          limit for one HTTP request [default: 2m; at most 1h]
    --max-retries N        retries of one request before giving up [default: 10; at most 1000]
    --max-wait DUR         total time the run may spend waiting to retry
                           [default: 30m; at most 7d]
    --backoff DUR          first backoff step, doubled per retry up to 60s
                           [default: 1s; at most 10m]
    --log-format text|json lines on stderr as text, or one JSON object each (time, level,
                           message and the figures as fields) for a log shipper
                           [default: text; $GENESYS_EXPORT_LOG_FORMAT]
    --no-progress          no progress line (shown only when stderr is a terminal and the
                           log format is text)
    -q, --quiet            print errors only
    -h, --help             print this help
    -V, --version          print the version

ENVIRONMENT:
    GENESYSCLOUD_OAUTHCLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET, GENESYSCLOUD_REGION
        the OAuth client (client credentials grant) and its region. GENESYS_CLIENT_ID,
        GENESYS_CLIENT_SECRET and GENESYS_REGION are accepted too; where both are set the
        GENESYSCLOUD_ names win.
    GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE
        a file holding the secret (systemd credentials, container secrets). The secret is
        taken from --client-secret-file, else this file, else GENESYSCLOUD_OAUTHCLIENT_SECRET;
        it is never an argument.
    GENESYS_EXPORT_LOG_FORMAT
        text or json: the log format when --log-format is not given.

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

/// The help of `genesys-export check`.
pub const CHECK_HELP: &str = "\
genesys-export check: check a server's setup for an export, without exporting

USAGE:
    genesys-export check [CONNECTION OPTIONS]

Resolves the region, connects to the login and API hosts (proxy, TLS handshake), obtains a
token, and makes the cheapest request of each permission an export needs: a details query of
one conversation over one minute (analytics:conversationDetail:view), a queue lookup
(routing:queue:view) and the jobs availability (--mode auto and jobs). Then compares this
machine's clock with the API's Date header and reads the rate-limit headroom. Prints one line
per check on stdout, each starting with ok, warn or FAIL; writes no file. Retries follow the
export's policy.

CONNECTION OPTIONS (as for an export, with the same environment; see genesys-export --help):
    --region R, --api-base URL, --login-base URL, --client-secret-file PATH, --ca-file PEM,
    --timeout DUR, --max-retries N, --max-wait DUR, --backoff DUR
    -h, --help             print this help

EXIT CODES:
    0  an export would work (a warn line says what it would lack: queue names without
       routing:queue:view, --mode auto and jobs without the jobs availability)
    1  any other error (a TLS failure)
    2  usage or configuration error
    3  authentication rejected: client id, secret or region
    4  permission denied: the role lacks analytics:conversationDetail:view
    5  gave up after the retry budget (a host that cannot be reached)
";

/// One query window unless `--window` says otherwise.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(86_400);
/// The shortest window: finer cuts only multiply requests.
pub const MIN_WINDOW: Duration = Duration::from_secs(60);
/// Conversations per details page unless `--page-size` says otherwise: the API's maximum.
pub const DEFAULT_PAGE_SIZE: u32 = api::MAX_PAGE_SIZE;
/// The first interval between job status polls.
pub const DEFAULT_JOB_POLL: Duration = Duration::from_secs(2);
/// The longest one job may take from submission to fulfilled before it is submitted again.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
/// The limit for one HTTP request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The most retries `--max-retries` may allow one request.
pub const MAX_RETRIES_LIMIT: u32 = 1000;
/// Requests in flight unless `--parallel` says otherwise: at the 0.4–1 s a details page
/// takes, four keep a token's 300 requests a minute busy.
pub const DEFAULT_PARALLEL: u32 = 4;
/// The most requests in flight: past this a token's rate limit, not latency, sets the pace.
pub const MAX_PARALLEL: u32 = 16;

/// A whole-number option: its name, its default and the range a value must lie in.
struct CountOption {
    flag: &'static str,
    default: u32,
    min: u32,
    max: u32,
}

const PAGE_SIZE: CountOption = CountOption {
    flag: "--page-size",
    default: DEFAULT_PAGE_SIZE,
    min: 1,
    max: api::MAX_PAGE_SIZE,
};
const PARALLEL: CountOption = CountOption {
    flag: "--parallel",
    default: DEFAULT_PARALLEL,
    min: 1,
    max: MAX_PARALLEL,
};
const MAX_RETRIES: CountOption = CountOption {
    flag: "--max-retries",
    default: DEFAULT_MAX_RETRIES,
    min: 0,
    max: MAX_RETRIES_LIMIT,
};

/// A duration option: its name, its default and the range a value must lie in.
struct DurationOption {
    flag: &'static str,
    default: Duration,
    min: Duration,
    max: Duration,
    /// Why the range is what it is, when the reason is not the option's own.
    because: &'static str,
}

const MILLISECOND: Duration = Duration::from_millis(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const WEEK: Duration = Duration::from_secs(7 * 86_400);

const JOB_POLL: DurationOption = DurationOption {
    flag: "--job-poll",
    default: DEFAULT_JOB_POLL,
    min: MILLISECOND,
    max: Duration::from_secs(600),
    because: "",
};
const JOB_TIMEOUT: DurationOption = DurationOption {
    flag: "--job-timeout",
    default: DEFAULT_JOB_TIMEOUT,
    min: MINUTE,
    max: WEEK,
    because: "",
};
const TIMEOUT: DurationOption = DurationOption {
    flag: "--timeout",
    default: DEFAULT_TIMEOUT,
    min: MILLISECOND,
    max: HOUR,
    because: "",
};
const MAX_WAIT: DurationOption = DurationOption {
    flag: "--max-wait",
    default: DEFAULT_MAX_WAIT,
    min: Duration::ZERO,
    max: WEEK,
    because: "",
};
const PENDING_MAX_AGE: DurationOption = DurationOption {
    flag: "--pending-max-age",
    default: crate::pending::DEFAULT_MAX_AGE,
    min: HOUR,
    max: Duration::from_secs(3650 * 86_400),
    because: "",
};
const BACKOFF: DurationOption = DurationOption {
    flag: "--backoff",
    default: DEFAULT_BACKOFF,
    min: Duration::ZERO,
    max: Duration::from_secs(600),
    because: "",
};

/// Every option `RawArgs::parse` knows, and whether it takes a value.
pub const OPTIONS: [(&str, bool); 42] = [
    ("-h", false),
    ("--help", false),
    ("-V", false),
    ("--version", false),
    ("--from", true),
    ("--to", true),
    ("--window", true),
    ("-o", true),
    ("--output", true),
    ("--format", true),
    ("--force", false),
    ("--state", true),
    ("--restart", false),
    ("--page-size", true),
    ("--parallel", true),
    ("--ended-only", false),
    ("--pending", true),
    ("--pending-max-age", true),
    ("--mode", true),
    ("--attribute", true),
    ("--queue", true),
    ("--media", true),
    ("--direction", true),
    ("--user", true),
    ("--division", true),
    ("--filter-file", true),
    ("--columns", true),
    ("--job-poll", true),
    ("--job-timeout", true),
    ("--region", true),
    ("--api-base", true),
    ("--login-base", true),
    ("--client-secret-file", true),
    ("--ca-file", true),
    ("--timeout", true),
    ("--max-retries", true),
    ("--max-wait", true),
    ("--backoff", true),
    ("--log-format", true),
    ("--no-progress", false),
    ("-q", false),
    ("--quiet", false),
];

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Help,
    Version,
    /// `--columns list`: print the column catalogue.
    Columns,
    Export(Box<Config>),
    /// `check --help`.
    CheckHelp,
    Check(Box<CheckConfig>),
}

/// A validated `check`: the connection settings of an export.
#[derive(Debug)]
pub struct CheckConfig {
    /// The hosts, or why the region names none (a check that fails, not a usage error).
    pub hosts: Result<check::Hosts, String>,
    /// Direct or through a proxy, per host (both direct when the region is unknown).
    pub routes: http::Routes,
    pub credentials: Credentials,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub policy: Policy,
    /// Lines to show as warnings first (a secret file others may read).
    pub warnings: Vec<String>,
}

pub use crate::export::Mode;
use crate::export::Plan;

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
    /// Details pages in flight at once.
    pub parallel: u32,
    pub ended_only: bool,
    /// The ledger of conversations in progress (`--pending`).
    pub pending: Option<PathBuf>,
    /// Ledger entries whose conversation started longer ago than this are dropped.
    pub pending_max_age: Duration,
    /// Server-side filters as given; queue names are resolved once a token is at hand.
    pub filters: Filters,
    pub mode: Mode,
    /// The CSV columns, in order.
    pub columns: Vec<&'static Column>,
    pub attributes: Vec<String>,
    pub job_poll: Duration,
    /// The longest one job may take from submission to fulfilled before it is deleted and
    /// submitted again.
    pub job_timeout: Duration,
    pub api_base: String,
    pub login_base: String,
    pub credentials: Credentials,
    pub ca_file: Option<PathBuf>,
    /// How the API host and the login host are reached (proxy variables).
    pub routes: http::Routes,
    pub timeout: Duration,
    pub policy: Policy,
    pub quiet: bool,
    pub log_format: LogFormat,
    /// Whether to show the progress line (where there is a terminal); off with `--no-progress`.
    pub progress: bool,
    /// Lines to show as warnings once the run starts (a secret file others may read).
    pub warnings: Vec<String>,
}

impl Config {
    /// What to export, as the driver takes it; the split point is the start of the range
    /// until the API is asked where the data lake ends.
    pub fn plan(&self) -> Plan {
        Plan {
            from: self.from,
            to: self.to,
            window: self.window,
            page_size: self.page_size,
            ended_only: self.ended_only,
            // Sent once queue names are resolved (`genesys::query_filters`).
            filters: QueryFilters::default(),
            format: self.format,
            columns: self.columns.clone(),
            attributes: self.attributes.clone(),
            split_at: self.from,
            job_poll: self.job_poll,
            job_timeout: self.job_timeout,
        }
    }
}

/// The arguments sorted by option, not yet validated: the low stage of the command line.
#[derive(Debug, Default)]
pub struct RawArgs {
    pub help: bool,
    /// The command is `check`.
    pub check: bool,
    pub version: bool,
    pub from: Option<String>,
    pub to: Option<String>,
    pub window: Option<String>,
    pub output: Option<String>,
    pub format: Option<String>,
    pub force: bool,
    pub state: Option<String>,
    pub restart: bool,
    pub page_size: Option<String>,
    pub parallel: Option<String>,
    pub ended_only: bool,
    pub pending: Option<String>,
    pub pending_max_age: Option<String>,
    pub mode: Option<String>,
    pub columns: Option<String>,
    pub attributes: Vec<String>,
    pub filter: filters::Given,
    pub filter_file: Option<String>,
    pub job_poll: Option<String>,
    pub job_timeout: Option<String>,
    pub region: Option<String>,
    pub api_base: Option<String>,
    pub login_base: Option<String>,
    pub client_secret_file: Option<String>,
    pub ca_file: Option<String>,
    pub retry: RawRetry,
    pub log_format: Option<String>,
    pub no_progress: bool,
    pub quiet: bool,
}

/// The options that bound each request and its retries, as given.
#[derive(Debug, Default)]
pub struct RawRetry {
    pub timeout: Option<String>,
    pub max_retries: Option<String>,
    pub max_wait: Option<String>,
    pub backoff: Option<String>,
}

/// A secret file as read: its bytes (at most `MAX_SECRET_FILE_BYTES` and one more) and whether
/// its mode lets its group or others read it.
#[derive(Debug)]
pub struct SecretFile {
    pub bytes: Vec<u8>,
    pub shared: bool,
}

/// The largest secret or filter file read; a secret is a few dozen bytes, a filter file a few
/// hundred.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// What the command line reads of the world beside the arguments and the clock: the
/// environment and secret files.
pub struct Outside<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub read_secret: &'a dyn Fn(&Path) -> io::Result<SecretFile>,
}

/// Parses the arguments (without the program name): the entry point.
pub fn parse(args: Vec<OsString>, outside: &Outside, now: OffsetDateTime) -> Result<Command> {
    let raw = RawArgs::parse(args)?;
    Ok(if raw.help && raw.check {
        Command::CheckHelp
    } else if raw.help {
        Command::Help
    } else if raw.version {
        Command::Version
    } else if raw.check {
        Command::Check(Box::new(CheckConfig::from_raw(raw, outside)?))
    } else if raw.columns.as_deref().map(str::trim) == Some("list") {
        Command::Columns
    } else {
        Command::Export(Box::new(Config::from_raw(raw, outside, now)?))
    })
}

impl RawArgs {
    /// Sorts the arguments. `-h` or `-V` anywhere wins over everything else; otherwise the
    /// command must be `conversations` and every argument a known option, given once.
    pub fn parse(args: Vec<OsString>) -> Result<RawArgs> {
        let check = args.first().is_some_and(|first| first == "check");
        let mut args = pico_args::Arguments::from_vec(args);
        if args.contains(["-h", "--help"]) {
            return Ok(RawArgs {
                help: true,
                check,
                ..RawArgs::default()
            });
        }
        if args.contains(["-V", "--version"]) {
            return Ok(RawArgs {
                version: true,
                ..RawArgs::default()
            });
        }
        match args.subcommand().map_err(arg_error)?.as_deref() {
            Some("conversations" | "check") => {}
            Some("help") => {
                return Ok(RawArgs {
                    help: true,
                    ..RawArgs::default()
                })
            }
            Some(other) => {
                return Err(usage(format!(
                    "unknown command '{}': the commands are 'conversations' and 'check' (see --help)",
                    shown(other)
                )))
            }
            None => {
                return Err(usage(
                    "missing command: run 'genesys-export conversations --from TIME --to TIME' (see --help)",
                ))
            }
        }
        let mut value = |name: &'static str| -> Result<Option<String>> {
            args.opt_value_from_str(name).map_err(arg_error)
        };
        let mut raw = RawArgs {
            from: value("--from")?,
            to: value("--to")?,
            window: value("--window")?,
            format: value("--format")?,
            state: value("--state")?,
            page_size: value("--page-size")?,
            parallel: value("--parallel")?,
            mode: value("--mode")?,
            pending: value("--pending")?,
            pending_max_age: value("--pending-max-age")?,
            columns: value("--columns")?,
            job_poll: value("--job-poll")?,
            job_timeout: value("--job-timeout")?,
            region: value("--region")?,
            api_base: value("--api-base")?,
            login_base: value("--login-base")?,
            client_secret_file: value("--client-secret-file")?,
            ca_file: value("--ca-file")?,
            retry: RawRetry {
                timeout: value("--timeout")?,
                max_retries: value("--max-retries")?,
                max_wait: value("--max-wait")?,
                backoff: value("--backoff")?,
            },
            log_format: value("--log-format")?,
            filter_file: value("--filter-file")?,
            ..RawArgs::default()
        };
        raw.output = args
            .opt_value_from_str(["-o", "--output"])
            .map_err(arg_error)?;
        raw.attributes = args.values_from_str("--attribute").map_err(arg_error)?;
        let mut values = |name: &'static str| -> Result<Vec<String>> {
            args.values_from_str(name).map_err(arg_error)
        };
        raw.filter = filters::Given {
            queues: values("--queue")?,
            media: values("--media")?,
            directions: values("--direction")?,
            users: values("--user")?,
            divisions: values("--division")?,
        };
        raw.force = args.contains("--force");
        raw.restart = args.contains("--restart");
        raw.ended_only = args.contains("--ended-only");
        raw.no_progress = args.contains("--no-progress");
        raw.quiet = args.contains(["-q", "--quiet"]);
        if let Some(extra) = args.finish().first() {
            return Err(leftover(&extra.to_string_lossy()));
        }
        raw.check = check;
        if let Some(option) = raw.export_option().filter(|_| check) {
            return Err(usage(format!(
                "{option} is an export option: 'check' takes the connection options only (see genesys-export check --help)"
            )));
        }
        Ok(raw)
    }

    /// An option given that only an export takes, if any.
    fn export_option(&self) -> Option<&'static str> {
        let given = [
            ("--from", self.from.is_some()),
            ("--to", self.to.is_some()),
            ("--window", self.window.is_some()),
            ("--output", self.output.is_some()),
            ("--format", self.format.is_some()),
            ("--force", self.force),
            ("--state", self.state.is_some()),
            ("--restart", self.restart),
            ("--page-size", self.page_size.is_some()),
            ("--parallel", self.parallel.is_some()),
            ("--ended-only", self.ended_only),
            ("--mode", self.mode.is_some()),
            ("--attribute", !self.attributes.is_empty()),
            ("--job-poll", self.job_poll.is_some()),
            ("--job-timeout", self.job_timeout.is_some()),
            ("--quiet", self.quiet),
        ];
        given.iter().find(|(_, is)| *is).map(|(option, _)| *option)
    }
}

/// The options that may be given more than once.
const REPEATABLE: [&str; 6] = [
    "--attribute",
    "--queue",
    "--media",
    "--direction",
    "--user",
    "--division",
];

/// The error for an argument no option took.
fn leftover(extra: &str) -> anyhow::Error {
    if !extra.starts_with('-') {
        return usage(format!(
            "unexpected argument '{}' (see --help)",
            shown(extra)
        ));
    }
    let name = extra.split('=').next().unwrap_or(extra);
    if !REPEATABLE.contains(&name) && OPTIONS.iter().any(|(option, _)| *option == name) {
        usage(format!(
            "{name} is given more than once: give it once (see --help)"
        ))
    } else {
        usage(format!("unknown option '{}' (see --help)", shown(extra)))
    }
}

fn arg_error(e: pico_args::Error) -> anyhow::Error {
    match e {
        pico_args::Error::OptionWithoutAValue(name) => {
            usage(format!("{name} needs a value (see --help)"))
        }
        pico_args::Error::NonUtf8Argument => {
            usage("an argument is not valid UTF-8: pass arguments as UTF-8 text")
        }
        other => usage(format!("{} (see --help)", shown(&other.to_string()))),
    }
}

impl Config {
    /// Validates raw arguments: the high stage of the command line.
    pub fn from_raw(raw: RawArgs, outside: &Outside, now: OffsetDateTime) -> Result<Config> {
        let env = outside.env;
        let (from, to) = range(raw.from.as_deref(), raw.to.as_deref(), now)?;
        let filters = filters(raw.filter, raw.filter_file.as_deref(), outside)?;
        // A ledger must see conversations in progress: its queries carry no end filter.
        let end_filtered = raw.ended_only && raw.pending.is_none();
        let window = window(raw.window.as_deref(), end_filtered || !filters.is_empty())?;
        let (output, state) = output_and_state(raw.output.as_deref(), raw.state, raw.restart)?;
        let (pending, pending_max_age) = pending(
            raw.pending.as_deref(),
            raw.pending_max_age.as_deref(),
            &output,
            state.as_deref(),
        )?;
        let format = format(raw.format.as_deref())?;
        let mode = mode(raw.mode.as_deref())?;
        let columns = columns(raw.columns.as_deref(), format, &output)?;
        check_attributes(&raw.attributes, &columns, format, mode)?;
        let page_size = count(raw.page_size.as_deref(), &PAGE_SIZE)?;
        let parallel = count(raw.parallel.as_deref(), &PARALLEL)?;
        let job_poll = duration(raw.job_poll.as_deref(), &JOB_POLL)?;
        let job_timeout = duration(raw.job_timeout.as_deref(), &JOB_TIMEOUT)?;
        let (timeout, policy) = retry_policy(&raw.retry)?;
        let log_format = log_format(raw.log_format.as_deref(), env)?;
        let mut warnings = Vec::new();
        let credentials = credentials(raw.client_secret_file.as_deref(), outside, &mut warnings)?;
        let (api_base, login_base) = hosts(raw.region, raw.api_base, raw.login_base, env)?;
        let routes = http::routes(&api_base, &login_base, env).map_err(usage)?;
        Ok(Config {
            from,
            to,
            window,
            output,
            format,
            force: raw.force,
            state,
            restart: raw.restart,
            page_size,
            parallel,
            ended_only: raw.ended_only,
            pending,
            pending_max_age,
            filters,
            mode,
            columns,
            attributes: raw.attributes,
            job_poll,
            job_timeout,
            api_base,
            login_base,
            credentials,
            ca_file: raw.ca_file.map(PathBuf::from),
            routes,
            timeout,
            policy,
            quiet: raw.quiet,
            log_format,
            progress: !raw.no_progress,
            warnings,
        })
    }
}

impl CheckConfig {
    /// Validates the connection options of `check`. A region that names no known one is left
    /// for the check to report; every other bad value is a usage error, as for an export.
    pub fn from_raw(raw: RawArgs, outside: &Outside) -> Result<CheckConfig> {
        let env = outside.env;
        let (timeout, policy) = retry_policy(&raw.retry)?;
        let mut warnings = Vec::new();
        let credentials = credentials(raw.client_secret_file.as_deref(), outside, &mut warnings)?;
        let region = raw
            .region
            .clone()
            .or_else(|| first_env(env, &REGION_VARIABLES));
        let direct = http::Routes {
            api: Route::Direct,
            login: Route::Direct,
        };
        let (hosts, routes) = match region.as_deref() {
            Some(r) if api::region_domain(r).is_none() => (Err(unknown_region(r)), direct),
            _ => {
                let (api_base, login_base) = hosts(raw.region, raw.api_base, raw.login_base, env)?;
                let routes = http::routes(&api_base, &login_base, env).map_err(usage)?;
                let hosts = check::Hosts {
                    region,
                    login_base,
                    api_base,
                };
                (Ok(hosts), routes)
            }
        };
        Ok(CheckConfig {
            hosts,
            routes,
            credentials,
            ca_file: raw.ca_file.map(PathBuf::from),
            timeout,
            policy,
            warnings,
        })
    }
}

fn range(
    from: Option<&str>,
    to: Option<&str>,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime)> {
    let time = |flag: &str, value: Option<&str>| {
        let value = value.ok_or_else(|| usage(format!("missing {flag} TIME (see --help)")))?;
        parse_time(value, now).map_err(|e| usage(format!("{flag}: '{}' {e}", shown(value))))
    };
    let from = time("--from", from)?;
    let to = time("--to", to)?;
    if from >= to {
        return Err(usage(format!(
            "--from ({}) must be before --to ({}); the range is [from, to)",
            window::api_timestamp(from),
            window::api_timestamp(to)
        )));
    }
    Ok((from, to))
}

/// The filter options and the filter file, checked. The file is read like a secret file: a
/// regular file of bounded size, through the injected reader.
fn filters(given: filters::Given, file: Option<&str>, outside: &Outside) -> Result<Filters> {
    let file = match file {
        None => QueryFilters::default(),
        Some(path) => {
            // Escaped but never shortened: the whole path is the fix.
            let named = format!("--filter-file {}", path.escape_debug());
            let read = (outside.read_secret)(Path::new(path)).map_err(|e| {
                usage(format!(
                    "cannot read {named}: {}; name a readable file",
                    shown(&e.to_string())
                ))
            })?;
            if read.bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
                return Err(usage(format!(
                    "{named} is larger than {} KiB: keep the filters it holds to what one query needs",
                    MAX_SECRET_FILE_BYTES / 1024
                )));
            }
            filters::parse_file(&read.bytes).map_err(|e| usage(format!("{named} {e}")))?
        }
    };
    Filters::new(given, file).map_err(usage)
}

fn window(value: Option<&str>, filtered: bool) -> Result<Duration> {
    let (max, because) = if filtered {
        (
            window::MAX_INTERVAL_WITH_FILTER,
            " (the API's interval limit with a filter)",
        )
    } else {
        (
            window::MAX_INTERVAL_NO_FILTER,
            " (the API's interval limit without filters)",
        )
    };
    let option = DurationOption {
        flag: "--window",
        default: DEFAULT_WINDOW,
        min: MIN_WINDOW,
        max,
        because,
    };
    duration(value, &option)
}

/// A duration option's value, its default if absent; out of range is a usage error naming the
/// range.
fn duration(value: Option<&str>, option: &DurationOption) -> Result<Duration> {
    let Some(value) = value else {
        return Ok(option.default);
    };
    let flag = option.flag;
    let d = parse_duration(value).map_err(|e| usage(format!("{flag}: '{}' {e}", shown(value))))?;
    if d < option.min || d > option.max {
        let range = if option.min.is_zero() {
            format!("at most {}", format_duration(option.max))
        } else {
            format!(
                "between {} and {}",
                format_duration(option.min),
                format_duration(option.max)
            )
        };
        return Err(usage(format!(
            "{flag} must be {range}{}, not '{}'",
            option.because,
            shown(value)
        )));
    }
    Ok(d)
}

fn output_and_state(
    output: Option<&str>,
    state: Option<String>,
    restart: bool,
) -> Result<(Output, Option<PathBuf>)> {
    let output = match output {
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
    Ok((output, state.map(PathBuf::from)))
}

/// `--pending PATH` and `--pending-max-age DUR`: a ledger needs an output file (its rows are
/// settled through the state) and a path of its own.
fn pending(
    path: Option<&str>,
    max_age: Option<&str>,
    output: &Output,
    state: Option<&Path>,
) -> Result<(Option<PathBuf>, Duration)> {
    let max_age_given = max_age.is_some();
    let max_age = duration(max_age, &PENDING_MAX_AGE)?;
    let Some(path) = path else {
        if max_age_given {
            return Err(usage(
                "--pending-max-age needs --pending PATH: it ages the entries of that ledger",
            ));
        }
        return Ok((None, max_age));
    };
    if path.is_empty() {
        return Err(usage("--pending is empty: give the ledger's file name"));
    }
    let Output::File(file) = output else {
        return Err(usage(
            "--pending needs --output FILE: a ledger is settled through the export's state, which an export to stdout has not",
        ));
    };
    let path = PathBuf::from(path);
    let state = state.map_or_else(|| crate::state::default_path(file), Path::to_path_buf);
    let taken = [
        file.clone(),
        state,
        crate::state::with_suffix(file, ".partial"),
        crate::state::with_suffix(file, ".lock"),
    ];
    if taken.contains(&path) {
        return Err(usage(format!(
            "--pending {} is one of the export's own files: give the ledger a name of its own",
            shown(&path.display().to_string())
        )));
    }
    Ok((Some(path), max_age))
}

fn format(value: Option<&str>) -> Result<Format> {
    match value {
        None | Some("csv") => Ok(Format::Csv),
        Some("jsonl") => Ok(Format::Jsonl),
        Some(other) => Err(usage(format!(
            "--format must be csv or jsonl, not '{}'",
            shown(other)
        ))),
    }
}

/// The environment variable naming the log format when `--log-format` is not given.
pub const LOG_FORMAT_ENV: &str = "GENESYS_EXPORT_LOG_FORMAT";

/// `--log-format`, else `GENESYS_EXPORT_LOG_FORMAT`, else text.
fn log_format(value: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<LogFormat> {
    let (source, value) = match value {
        Some(value) => ("--log-format", value.to_string()),
        None => match env(LOG_FORMAT_ENV) {
            Some(value) => (LOG_FORMAT_ENV, value),
            None => return Ok(LogFormat::default()),
        },
    };
    LogFormat::NAMES
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, format)| *format)
        .ok_or_else(|| {
            usage(format!(
                "{source} must be text or json, not '{}'",
                shown(&value)
            ))
        })
}

/// The log format for the lines written before the arguments are validated, or when they are
/// not valid (the usage error itself): what `--log-format` or the environment asks for when it
/// is a valid name, else text. Agrees with `Config::log_format` whenever there is a config.
pub fn log_format_of(args: &[OsString], env: &dyn Fn(&str) -> Option<String>) -> LogFormat {
    let mut args = pico_args::Arguments::from_vec(args.to_vec());
    let value: Option<String> = args.opt_value_from_str("--log-format").ok().flatten();
    log_format(value.as_deref(), env).unwrap_or_default()
}

fn mode(value: Option<&str>) -> Result<Mode> {
    match value {
        None | Some("auto") => Ok(Mode::Auto),
        Some("query") => Ok(Mode::Query),
        Some("jobs") => Ok(Mode::Jobs),
        Some(other) => Err(usage(format!(
            "--mode must be auto, query or jobs, not '{}'",
            shown(other)
        ))),
    }
}

/// The CSV columns `--columns` picks, or the default ones. JSON Lines keeps the API's record
/// as it is, so `--columns` with it is refused; so is a file export without
/// `conversation_id`, the column a resumed export reads back.
fn columns(value: Option<&str>, format: Format, output: &Output) -> Result<Vec<&'static Column>> {
    let Some(list) = value else {
        return Ok(columns::default_columns());
    };
    if format == Format::Jsonl {
        return Err(usage(
            "--columns picks CSV columns; JSON Lines keeps each conversation exactly as the API returned it: drop --columns or use --format csv",
        ));
    }
    let picked = columns::parse(list).map_err(usage)?;
    if matches!(output, Output::File(_)) && !picked.iter().any(|c| c.name == columns::ID_COLUMN) {
        return Err(usage(format!(
            "--columns needs {} when writing to a file: a resumed export reads the ids back from it (or write to -o -)",
            columns::ID_COLUMN
        )));
    }
    Ok(picked)
}

fn check_attributes(
    attributes: &[String],
    columns: &[&'static Column],
    format: Format,
    mode: Mode,
) -> Result<()> {
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
        if columns.iter().any(|c| c.name == name) || attributes[..i].contains(name) {
            return Err(usage(format!(
                "--attribute {} would repeat a column name: give each attribute once, and none named like a chosen column",
                shown(name)
            )));
        }
    }
    Ok(())
}

/// A whole-number option's value: its default when absent, else a number in its range.
fn count(value: Option<&str>, option: &CountOption) -> Result<u32> {
    let Some(value) = value else {
        return Ok(option.default);
    };
    match value.parse::<u32>() {
        Ok(n) if (option.min..=option.max).contains(&n) => Ok(n),
        _ => Err(usage(format!(
            "{} must be a whole number from {} to {}, not '{}'",
            option.flag,
            option.min,
            option.max,
            shown(value)
        ))),
    }
}

/// The timeout of each request and the retry policy.
fn retry_policy(raw: &RawRetry) -> Result<(Duration, Policy)> {
    let timeout = duration(raw.timeout.as_deref(), &TIMEOUT)?;
    let max_retries = count(raw.max_retries.as_deref(), &MAX_RETRIES)?;
    let policy = Policy {
        max_retries,
        initial_backoff: duration(raw.backoff.as_deref(), &BACKOFF)?,
        max_total_wait: duration(raw.max_wait.as_deref(), &MAX_WAIT)?,
        ..Policy::default()
    };
    Ok((timeout, policy))
}

/// The first non-empty value among the environment variables `names`.
fn first_env(env: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| env(name))
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

/// The OAuth client: its id from the environment, its secret from `--client-secret-file`,
/// else the file `GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE` names, else the environment.
fn credentials(
    secret_file: Option<&str>,
    outside: &Outside,
    warnings: &mut Vec<String>,
) -> Result<Credentials> {
    let env = outside.env;
    let id = first_env(env, &["GENESYSCLOUD_OAUTHCLIENT_ID", "GENESYS_CLIENT_ID"]);
    let file = match secret_file {
        Some(path) => Some(("--client-secret-file", path.to_string())),
        None => first_env(env, &["GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE"])
            .map(|path| ("GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE", path)),
    };
    let secret = match file {
        Some((source, path)) => Some(secret_from_file(
            source,
            Path::new(&path),
            outside.read_secret,
            warnings,
        )?),
        None => first_env(
            env,
            &["GENESYSCLOUD_OAUTHCLIENT_SECRET", "GENESYS_CLIENT_SECRET"],
        ),
    };
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id, secret)),
        (None, _) => Err(usage(
            "missing client id: set GENESYSCLOUD_OAUTHCLIENT_ID to the OAuth client's id",
        )),
        (_, None) => Err(usage(
            "missing client secret: set GENESYSCLOUD_OAUTHCLIENT_SECRET to the OAuth client's secret, or name a file holding it with GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE or --client-secret-file",
        )),
    }
}

/// The secret in the file at `path` (named by `source`): UTF-8, its trailing line ending
/// dropped, not empty. A file its group or others may read adds a warning.
fn secret_from_file(
    source: &str,
    path: &Path,
    read: &dyn Fn(&Path) -> io::Result<SecretFile>,
    warnings: &mut Vec<String>,
) -> Result<String> {
    // Escaped but never shortened: the whole path is the fix.
    let named = || format!("{source} {}", path.display().to_string().escape_debug());
    let file = read(path).map_err(|e| {
        usage(format!(
            "cannot read the client secret from {}: {}; name a readable file",
            named(),
            shown(&e.to_string())
        ))
    })?;
    if file.bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(usage(format!(
            "{} is larger than {} KiB, too large to hold a client secret: name the file holding only the secret",
            named(),
            MAX_SECRET_FILE_BYTES / 1024
        )));
    }
    let text = String::from_utf8(file.bytes).map_err(|_| {
        usage(format!(
            "{} is not UTF-8 text: name the file holding only the secret",
            named()
        ))
    })?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(usage(format!(
            "{} is empty: write the OAuth client's secret into it",
            named()
        )));
    }
    if file.shared {
        warnings.push(format!(
            "{} is readable by its group or others: chmod 600 it",
            named()
        ));
    }
    Ok(secret.to_string())
}

/// The environment variables naming the region, the first set one winning.
const REGION_VARIABLES: [&str; 2] = ["GENESYSCLOUD_REGION", "GENESYS_REGION"];

/// The message for a region that names no known one.
fn unknown_region(region: &str) -> String {
    format!(
        "unknown region '{}': use a region such as eu-west-1 or us-east-1, or a domain such as mypurecloud.ie",
        shown(region)
    )
}

/// Works out the API and login base URLs from the flags and the region.
fn hosts(
    region: Option<String>,
    api_base: Option<String>,
    login_base: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, String)> {
    let region = region.or_else(|| first_env(env, &REGION_VARIABLES));
    let domain = match region {
        Some(r) => Some(api::region_domain(&r).ok_or_else(|| usage(unknown_region(&r)))?),
        None => None,
    };
    let checked = |flag: &str, url: &str| http::check_base(flag, url).map_err(usage);
    let api_base = match (api_base, &domain) {
        (Some(url), _) => checked("--api-base", &url)?,
        (None, Some(domain)) => checked("the region", &format!("https://api.{domain}"))?,
        (None, None) => {
            return Err(usage(
                "missing region: set GENESYSCLOUD_REGION (e.g. eu-west-1 or mypurecloud.ie) or pass --region",
            ))
        }
    };
    let login_base = match (login_base, &domain) {
        (Some(url), _) => checked("--login-base", &url)?,
        (None, _) if api_base.contains("//api.") => api_base.replacen("//api.", "//login.", 1),
        (None, Some(domain)) => checked("the region", &format!("https://login.{domain}"))?,
        (None, None) => {
            return Err(usage(
                "missing --login-base: it cannot be derived from an --api-base without 'api.' in its host",
            ))
        }
    };
    Ok((api_base, login_base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{code_of, Code};
    use crate::prop;
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

    fn run_os(args: Vec<OsString>, env: &HashMap<String, String>) -> Result<Command> {
        let outside = Outside {
            env: &|k| env.get(k).cloned(),
            read_secret: &fake_secret_file,
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
        assert_eq!(c.window, DEFAULT_WINDOW);
        assert_eq!(c.format, Format::Csv);
        assert_eq!(c.page_size, DEFAULT_PAGE_SIZE);
        assert!(matches!(c.output, Output::Stdout));
        assert_eq!(c.api_base, "https://api.mypurecloud.ie");
        assert_eq!(c.login_base, "https://login.mypurecloud.ie");
        assert_eq!(c.policy, Policy::default());
        assert_eq!(c.policy.max_retries, DEFAULT_MAX_RETRIES);
        assert_eq!(c.policy.max_total_wait, DEFAULT_MAX_WAIT);
        assert_eq!(c.policy.initial_backoff, DEFAULT_BACKOFF);
        assert_eq!(c.mode, Mode::Auto);
        assert_eq!(c.job_poll, DEFAULT_JOB_POLL);
        assert_eq!(c.job_timeout, DEFAULT_JOB_TIMEOUT);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
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
            (DEFAULT_TIMEOUT, &Policy::default())
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
        refused(&["check", "--from", "today"], "--from is an export option: 'check' takes the connection options only");
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
        check_with(&["--pending", "c.csv.state", "-o", "c.csv"], "one of the export's own files");
        check_with(&["--pending", "c.csv", "-o", "c.csv"], "one of the export's own files");
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
        assert_eq!(c.window, MIN_WINDOW);
        assert_eq!(c.job_poll, JOB_POLL.max);
        assert_eq!(c.job_timeout, JOB_TIMEOUT.max);
        assert_eq!(c.timeout, TIMEOUT.max);
        assert_eq!(c.policy.max_total_wait, MAX_WAIT.max);
        assert_eq!(c.policy.initial_backoff, BACKOFF.max);
        assert_eq!(c.policy.max_retries, MAX_RETRIES_LIMIT);
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
    fn every_known_option_is_parsed_and_documented() {
        for (option, takes_value) in OPTIONS {
            let mut args = vec!["conversations", option];
            if takes_value {
                args.push("x");
            }
            let raw = RawArgs::parse(args.iter().map(OsString::from).collect());
            assert!(raw.is_ok(), "{option}: {:?}", raw.err());
            assert!(HELP.contains(&format!(" {option}")), "HELP lacks {option}");
            if !matches!(option, "-h" | "--help" | "-V" | "--version") {
                assert!(
                    readme_row(option).is_some(),
                    "README's table lacks {option}"
                );
            }
        }
    }

    /// The lines of HELP that describe `option`: its own and its continuation lines.
    fn help_entry(option: &str) -> String {
        let mut lines = HELP
            .lines()
            .skip_while(|l| !l.trim_start().split([',', ' ']).any(|word| word == option));
        let first = lines
            .next()
            .unwrap_or_else(|| panic!("HELP lacks {option}"));
        let rest = lines.take_while(|l| l.starts_with("                           "));
        std::iter::once(first)
            .chain(rest)
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The row of README's options table for `option`.
    fn readme_row(option: &str) -> Option<&'static str> {
        include_str!("../README.md").lines().find(|l| {
            let first_cell = l.strip_prefix("| `").and_then(|l| l.split('|').next());
            first_cell.is_some_and(|cell| cell.split(['`', ',', ' ']).any(|word| word == option))
        })
    }

    /// HELP and README state `default` for `option`, and `bounds` (such as `at most 1h`).
    #[track_caller]
    fn check_documented(option: &str, default: &str, bounds: &[String]) {
        let help = help_entry(option);
        let row = readme_row(option).unwrap_or_else(|| panic!("README lacks {option}"));
        assert!(
            help.contains(&format!("[default: {default}")),
            "HELP: {help}"
        );
        assert!(row.contains(&format!("| `{default}` |")), "README: {row}");
        for bound in bounds {
            assert!(help.contains(bound.as_str()), "HELP: {help} lacks {bound}");
            assert!(row.contains(bound.as_str()), "README: {row} lacks {bound}");
        }
    }

    fn bounds_of(option: &DurationOption) -> Vec<String> {
        let mut bounds = vec![format!("at most {}", format_duration(option.max))];
        if option.min >= Duration::from_secs(1) {
            bounds.push(format!("at least {}", format_duration(option.min)));
        }
        bounds
    }

    #[test]
    #[rustfmt::skip]
    fn help_and_readme_state_the_same_defaults() {
        let f = format_duration;
        let window_bounds = [
            format!("at least {}", f(MIN_WINDOW)),
            format!("at most {}", f(window::MAX_INTERVAL_NO_FILTER)),
            format!("{} with", f(window::MAX_INTERVAL_WITH_FILTER)),
        ];
        check_documented("--window", &f(DEFAULT_WINDOW), &window_bounds);
        check_documented("--page-size", &DEFAULT_PAGE_SIZE.to_string(), &[]);
        check_documented("--parallel", &DEFAULT_PARALLEL.to_string(), &[format!("at most {MAX_PARALLEL}")]);
        check_documented("--job-poll", &f(DEFAULT_JOB_POLL), &bounds_of(&JOB_POLL));
        check_documented("--job-timeout", &f(DEFAULT_JOB_TIMEOUT), &bounds_of(&JOB_TIMEOUT));
        check_documented("--timeout", &f(DEFAULT_TIMEOUT), &bounds_of(&TIMEOUT));
        check_documented("--max-retries", &DEFAULT_MAX_RETRIES.to_string(), &[format!("at most {MAX_RETRIES_LIMIT}")]);
        check_documented("--max-wait", &f(DEFAULT_MAX_WAIT), &bounds_of(&MAX_WAIT));
        check_documented("--backoff", &f(DEFAULT_BACKOFF), &bounds_of(&BACKOFF));
        check_documented("--log-format", "text", &[format!("${LOG_FORMAT_ENV}")]);
        check_documented("--pending-max-age", &f(crate::pending::DEFAULT_MAX_AGE), &bounds_of(&PENDING_MAX_AGE));
        for option in [&JOB_POLL, &JOB_TIMEOUT, &TIMEOUT, &MAX_WAIT, &BACKOFF] {
            assert_eq!(help_entry(option.flag).split_whitespace().next(), Some(option.flag));
        }
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
        let help: Vec<(i32, &str)> = HELP
            .lines()
            .skip_while(|l| *l != "EXIT CODES:")
            .skip(1)
            .filter_map(|l| {
                let (code, meaning) = l.trim().split_once("  ")?;
                Some((code.parse().ok()?, meaning.split_whitespace().next()?))
            })
            .collect();
        let readme: Vec<(i32, &str)> = include_str!("../README.md")
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
            let (option, takes_value) = *rng.pick(&OPTIONS);
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
                    assert!(MIN_WINDOW <= c.window && c.window <= window::MAX_INTERVAL_WITH_FILTER);
                    assert!((1..=api::MAX_PAGE_SIZE).contains(&c.page_size));
                    assert!(c.job_poll <= JOB_POLL.max && c.job_timeout <= JOB_TIMEOUT.max);
                    assert!(c.timeout <= TIMEOUT.max && c.policy.max_total_wait <= MAX_WAIT.max);
                    assert!(c.policy.initial_backoff <= BACKOFF.max);
                    assert!(c.policy.max_retries <= MAX_RETRIES_LIMIT);
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
}
