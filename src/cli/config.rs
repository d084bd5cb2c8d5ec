//! The high stage for an export: raw arguments, the environment and the secret and filter
//! files (through the injected reader) become a validated `Config`, one small helper per
//! concern. Every error is a one-line usage error (exit 2) naming the option and the fix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use time::OffsetDateTime;

use super::connection::{self, credentials, hosts};
use super::raw::RawArgs;
use super::values::{count, duration, format, log_format, mode};
use super::{Outside, MAX_SECRET_FILE_BYTES};
use crate::api::QueryFilters;
use crate::auth::Credentials;
use crate::columns::{self, Column};
use crate::exit::usage;
use crate::export::{Mode, Plan};
use crate::filters::{self, shown, Filters};
use crate::formula::Formulas;
use crate::http;
use crate::report::LogFormat;
use crate::retry::Policy;
use crate::sink::{Format, Output};
use crate::times::parse_time_in;
use crate::tz::{self, Zone};
use crate::window;

/// A validated export request.
#[derive(Debug)]
pub struct Config {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    /// The zone of local days (`--tz`); UTC by default.
    pub zone: Zone,
    pub window: Duration,
    pub output: Output,
    /// `--tables`: `output` names the dataset's directory.
    pub tables: bool,
    pub format: Format,
    pub force: bool,
    pub state: Option<PathBuf>,
    pub restart: bool,
    /// Write `FILE.manifest.json` once `FILE` is published (`--manifest`).
    pub manifest: bool,
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
    /// `--no-formula-guard` writes free-text cells raw.
    pub formulas: Formulas,
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
            zone: self.zone.clone(),
            window: self.window,
            page_size: self.page_size,
            ended_only: self.ended_only,
            // Sent once queue names are resolved (`genesys::query_filters`).
            filters: QueryFilters::default(),
            format: self.format,
            columns: self.columns.clone(),
            attributes: self.attributes.clone(),
            formulas: self.formulas,
            split_at: self.from,
            job_poll: self.job_poll,
            job_timeout: self.job_timeout,
        }
    }

    /// The HTTP client's settings for the export.
    pub fn http_settings(&self) -> http::Settings {
        http::Settings {
            parallel: self.parallel,
            api_base: self.api_base.clone(),
            login_base: self.login_base.clone(),
            timeout: self.timeout,
            ca_file: self.ca_file.clone(),
            policy: self.policy.clone(),
            routes: self.routes.clone(),
        }
    }

    /// Validates raw arguments: the high stage of the command line.
    pub fn from_raw(raw: RawArgs, outside: &Outside, now: OffsetDateTime) -> Result<Config> {
        let env = outside.env;
        let (zone, from, to) = range(&raw, outside, now)?;
        let filters = filters(&raw, outside)?;
        let ended_only = raw.flag("--ended-only");
        // A ledger must see conversations in progress: its queries carry no end filter.
        let end_filtered = crate::export::end_filter(ended_only, raw.value("--pending").is_some());
        let window = super::values::window(&raw, end_filtered || !filters.is_empty())?;
        let (output, state, tables) = output_and_state(&raw, raw.flag("--restart"))?;
        let (pending, pending_max_age) = pending(&raw, &output)?;
        let format = format(raw.value("--format"))?;
        let mode = mode(raw.value("--mode"))?;
        let columns = columns(raw.value("--columns"), format, &output)?;
        let attributes = raw.values("--attribute");
        check_attributes(&attributes, &columns, format, mode)?;
        let (timeout, policy) = connection::retry_policy(&raw)?;
        let log_format = log_format(raw.value("--log-format"), env)?;
        let mut warnings = Vec::new();
        let credentials = credentials(raw.value("--client-secret-file"), outside, &mut warnings)?;
        let (api_base, login_base) = hosts(&raw, env)?;
        let routes = http::routes(&api_base, &login_base, env).map_err(usage)?;
        Ok(Config {
            from,
            to,
            zone,
            window,
            manifest: manifest(&raw, &output, tables)?,
            output,
            tables,
            format,
            force: raw.flag("--force"),
            state,
            restart: raw.flag("--restart"),
            page_size: count(&raw, "--page-size")?,
            parallel: count(&raw, "--parallel")?,
            ended_only,
            pending,
            pending_max_age,
            filters,
            mode,
            columns,
            attributes,
            formulas: formulas(raw.flag("--no-formula-guard"), format)?,
            job_poll: duration(&raw, "--job-poll")?,
            job_timeout: duration(&raw, "--job-timeout")?,
            api_base,
            login_base,
            credentials,
            ca_file: raw.value("--ca-file").map(PathBuf::from),
            routes,
            timeout,
            policy,
            quiet: raw.flag("--quiet"),
            log_format,
            progress: !raw.flag("--no-progress"),
            warnings,
        })
    }
}

/// `--tz ZONE`, else `GENESYS_EXPORT_TZ`, loaded through the injected environment and
/// zone-file reader; UTC when neither is given. A zone that cannot be found or read is a
/// usage error naming the zone and every path tried.
fn zone(raw: &RawArgs, outside: &Outside) -> Result<Option<Zone>> {
    let (named, spec) = match raw.value("--tz") {
        Some(spec) => ("--tz", spec.to_string()),
        None => match (outside.env)(super::options::TZ_ENV) {
            Some(spec) => (super::options::TZ_ENV, spec),
            None => return Ok(None),
        },
    };
    let read = |path: &Path| {
        let bytes = (outside.read_zone)(path)?;
        if bytes.len() as u64 > super::MAX_ZONE_FILE_BYTES {
            return Err(std::io::Error::other("it is larger than 1 MiB"));
        }
        Ok(bytes)
    };
    let zone_outside = tz::Outside {
        env: outside.env,
        read: &read,
    };
    tz::load(spec.trim(), &zone_outside)
        .map(Some)
        .map_err(|e| usage(format!("{named}: {e}")))
}

/// `--manifest` needs an output file: the manifest is written beside it. A dataset carries
/// its own.
fn manifest(raw: &RawArgs, output: &Output, tables: bool) -> Result<bool> {
    let manifest = raw.flag("--manifest");
    if manifest && *output == Output::Stdout {
        return Err(usage(
            "--manifest needs --output FILE: the manifest is written beside the published file",
        ));
    }
    if manifest && tables {
        return Err(usage(
            "--manifest is for --output FILE: a --tables dataset always holds its manifest.json; drop --manifest",
        ));
    }
    Ok(manifest)
}

/// The zone (UTC unless `--tz` or `GENESYS_EXPORT_TZ` names one) and `--from`/`--to` read in
/// it; without a zone given, a time without an offset is refused as it always was.
fn range(
    raw: &RawArgs,
    outside: &Outside,
    now: OffsetDateTime,
) -> Result<(Zone, OffsetDateTime, OffsetDateTime)> {
    let given = zone(raw, outside)?;
    let zone = given.as_ref();
    let time = |flag: &str| {
        let value = raw.value(flag);
        let value = value.ok_or_else(|| usage(format!("missing {flag} TIME (see --help)")))?;
        parse_time_in(value, now, zone)
            .map_err(|e| usage(format!("{flag}: '{}' {e}", shown(value))))
    };
    let from = time("--from")?;
    let to = time("--to")?;
    if from >= to {
        return Err(usage(format!(
            "--from ({}) must be before --to ({}); the range is [from, to)",
            window::api_timestamp(from),
            window::api_timestamp(to)
        )));
    }
    Ok((given.unwrap_or_else(|| tz::UTC.clone()), from, to))
}

/// The filter options and the filter file, checked. The file is read like a secret file: a
/// regular file of bounded size, through the injected reader.
fn filters(raw: &RawArgs, outside: &Outside) -> Result<Filters> {
    let given = filters::Given {
        queues: raw.values("--queue"),
        media: raw.values("--media"),
        directions: raw.values("--direction"),
        users: raw.values("--user"),
        divisions: raw.values("--division"),
    };
    let file = match raw.value("--filter-file") {
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

/// Where the export goes (`--output FILE`, stdout, or the directory of `--tables DIR`), its
/// state, and whether it is a dataset.
fn output_and_state(raw: &RawArgs, restart: bool) -> Result<(Output, Option<PathBuf>, bool)> {
    let attributes = raw.values("--attribute");
    let tables = crate::tables::check_options(
        raw.value("--tables"),
        raw.value("--output"),
        raw.value("--format"),
        &attributes,
    )
    .map_err(usage)?;
    let output = match raw.value("--tables").or(raw.value("--output")) {
        None | Some("-") => Output::Stdout,
        Some("") => {
            return Err(usage(
                "--output is empty: give a file name, or - for stdout",
            ))
        }
        Some(path) => Output::File(PathBuf::from(path)),
    };
    let state = raw.value("--state");
    if output == Output::Stdout && (state.is_some() || restart) {
        return Err(usage(
            "--state and --restart need --output FILE: an export to stdout cannot be resumed",
        ));
    }
    Ok((output, state.map(PathBuf::from), tables))
}

/// `--pending PATH` and `--pending-max-age DUR`: a ledger needs an output file (its rows are
/// settled through the state); that it is a file of its own is checked on the file system
/// (`own_files.rs`).
fn pending(raw: &RawArgs, output: &Output) -> Result<(Option<PathBuf>, Duration)> {
    let max_age = duration(raw, "--pending-max-age")?;
    let Some(path) = raw.value("--pending") else {
        if raw.value("--pending-max-age").is_some() {
            return Err(usage(
                "--pending-max-age needs --pending PATH: it ages the entries of that ledger",
            ));
        }
        return Ok((None, max_age));
    };
    if path.is_empty() {
        return Err(usage("--pending is empty: give the ledger's file name"));
    }
    let Output::File(_) = output else {
        return Err(usage(
            "--pending needs --output FILE: a ledger is settled through the export's state, which an export to stdout has not",
        ));
    };
    let path = PathBuf::from(path);
    Ok((Some(path), max_age))
}

/// Whether free-text CSV cells are guarded: `--no-formula-guard` is for CSV only, since JSON
/// Lines is always the API's record as it is.
fn formulas(raw: bool, format: Format) -> Result<Formulas> {
    match (raw, format) {
        (false, _) => Ok(Formulas::Guarded),
        (true, Format::Csv) => Ok(Formulas::Raw),
        (true, Format::Jsonl) => Err(usage(
            "--no-formula-guard is for CSV cells; JSON Lines is always written as the API returned it: drop --no-formula-guard or use --format csv",
        )),
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
