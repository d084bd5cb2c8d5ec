//! The command line: raw arguments and environment in, a validated `Config` out.
//!
//! Every option is declared once, in the table of `options.rs` (names, value kind, default,
//! environment variable, the commands that take it, repeatable or not, help line). Two stages,
//! as ripgrep's low and high arguments: `RawArgs::parse` (`raw.rs`) sorts the arguments by that
//! table (is it UTF-8, is it a known option, is it given once, does the command take it), and
//! `Config::from_raw` (`config.rs`) or `CheckConfig::from_raw` (`connection.rs`) validate and
//! type them, one small helper per concern (`values.rs` for single values). `--help` and
//! `check --help` render their OPTIONS sections from the table. Pure: the arguments, an
//! environment lookup, a reader of secret files and the current time are passed in, so every
//! rule here is tested without a process; file-system checks on the output path happen in
//! `target.rs`. Every number a user gives has a range, every error is a one-line usage error
//! (exit 2) that names the option and the fix, and values are echoed escaped and shortened.

mod config;
mod connection;
pub mod options;
mod raw;
mod values;

use std::ffi::OsString;
use std::io;
use std::path::Path;

use anyhow::Result;
use time::OffsetDateTime;

pub use config::Config;
pub use connection::CheckConfig;
pub use raw::RawArgs;
pub use values::log_format_of;

use options::{help_section, Cmd, OPTIONS};

/// What `--help` says before its OPTIONS section.
const HELP_HEAD: &str = "\
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
or today, yesterday (midnight UTC) or now. With --tz, dates, today and yesterday are local
midnights and a time without an offset (2026-11-01T06:00) is a local time.
DUR is a number with a unit: 30s, 15m, 1h, 1d (combinations such as 1h30m work too).

OPTIONS:
";

/// What `--help` says after its OPTIONS section.
const HELP_TAIL: &str = "
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
    GENESYS_EXPORT_TZ
        the zone when --tz is not given. Zone files are read under TZDIR, else
        /usr/share/zoneinfo; local is TZ, else /etc/localtime.

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

/// What `check --help` says before its OPTIONS section.
const CHECK_HELP_HEAD: &str = "\
genesys-export check: check a server's setup for an export, without exporting

USAGE:
    genesys-export check [CONNECTION OPTIONS]

Resolves the region, connects to the login and API hosts (proxy, TLS handshake), obtains a
token, and makes the cheapest request of each permission an export needs: a details query of
one conversation over one minute (analytics:conversationDetail:view), a queue lookup
(routing:queue:view) and the jobs availability (--mode auto and jobs). Then compares this
machine's clock with the API's Date header and reads the rate-limit headroom. Prints one line
per check on stdout, each starting with ok, warn or FAIL (one JSON object each with
--log-format json); writes no file. Retries follow the export's policy; an export option is
refused (exit 2).

CONNECTION OPTIONS (as for an export, with the same environment; see genesys-export --help):
";

/// What `check --help` says after its OPTIONS section.
const CHECK_HELP_TAIL: &str = "
EXIT CODES:
    0  an export would work (a warn line says what it would lack: queue names without
       routing:queue:view, --mode auto and jobs without the jobs availability)
    1  any other error (a TLS failure)
    2  usage or configuration error
    3  authentication rejected: client id, secret or region
    4  permission denied: the role lacks analytics:conversationDetail:view
    5  gave up after the retry budget (a host that cannot be reached, the rate limit
       exhausted)
";

/// The text of `--help`.
pub fn help() -> String {
    format!(
        "{HELP_HEAD}{}{HELP_TAIL}",
        help_section(OPTIONS, Cmd::Export)
    )
}

/// The text of `check --help`.
pub fn check_help() -> String {
    format!(
        "{CHECK_HELP_HEAD}{}{CHECK_HELP_TAIL}",
        help_section(OPTIONS, Cmd::Check)
    )
}

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

/// The largest zone file read (`--tz`); the largest in tzdata is a few KiB.
pub const MAX_ZONE_FILE_BYTES: u64 = 1024 * 1024;

/// What the command line reads of the world beside the arguments and the clock: the
/// environment, secret files and zone files (`--tz`).
pub struct Outside<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub read_secret: &'a dyn Fn(&Path) -> io::Result<SecretFile>,
    /// Reads a whole zone file of at most `MAX_ZONE_FILE_BYTES`.
    pub read_zone: &'a dyn Fn(&Path) -> io::Result<Vec<u8>>,
}

/// Parses the arguments (without the program name): the entry point.
pub fn parse(args: Vec<OsString>, outside: &Outside, now: OffsetDateTime) -> Result<Command> {
    let raw = RawArgs::parse(args)?;
    let check = raw.command == Cmd::Check;
    Ok(if raw.help && check {
        Command::CheckHelp
    } else if raw.help {
        Command::Help
    } else if raw.version {
        Command::Version
    } else if check {
        Command::Check(Box::new(CheckConfig::from_raw(raw, outside)?))
    } else if raw.value("--columns").map(str::trim) == Some("list") {
        Command::Columns
    } else {
        Command::Export(Box::new(Config::from_raw(raw, outside, now)?))
    })
}

#[cfg(test)]
mod tests;
