//! genesys-export: export Genesys Cloud conversation details to CSV or JSON Lines.
//!
//! `main` wires the parts together and owns the one exit path: cli → output checks and lock →
//! token → split point → export → publish, then the error (if any) becomes an exit code. See
//! ARCHITECTURE.md.

#[cfg(any(target_env = "musl", test))]
mod alloc;
mod api;
mod auth;
mod check;
mod cli;
mod columns;
mod crash;
mod dataset;
mod digest;
mod disk;
mod exit;
mod export;
mod filters;
mod formula;
mod genesys;
mod http;
mod ids;
mod json;
mod lock;
mod manifest;
mod own_files;
mod pace;
mod partial;
mod pending;
#[cfg(test)]
mod prop;
mod proxy;
mod query;
mod record;
mod report;
mod results;
mod retry;
mod rows;
mod signal;
mod sink;
mod state;
#[cfg(windows)]
mod sys_windows;
mod tables;
mod target;
mod times;
mod tz;
mod urls;
mod window;

/// With musl, small blocks freed are kept for reuse (`alloc.rs`); glibc keeps them itself.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: alloc::Recycling = alloc::Recycling::new();

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use time::OffsetDateTime;

use crate::check::{LastReply, Observed, Probe};
use crate::cli::{CheckConfig, Command, Config};
use crate::genesys::Genesys;
use crate::http::Client;
use crate::own_files::RunFiles;
use crate::report::{Event, Log, LogFormat};
use crate::retry::Endpoint;
use crate::sink::Output;
use crate::target::FileTarget;

/// With glibc's allocator, one arena for every thread. Each worker thread would otherwise
/// get an arena of its own, and the pages it reads are freed by the driver into that arena,
/// where the memory stays: peak RSS of a week's export rose from about 13 to 18 MiB. The
/// threads allocate little besides those pages, so sharing one costs nothing measurable.
/// And a block of 1 MiB or more (a job results page held in memory) always mapped on its
/// own and unmapped when freed: glibc would otherwise raise that threshold past the first
/// such page freed and serve the next ones from the arena, where they fragment it; a week of
/// 100 000 conversations through jobs peaked at 17.0 MiB that way, 11.9 MiB this way.
/// (musl, which the release builds link, has no per-thread arenas.)
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_ARENA_MAX: i32 = -8;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: glibc's `mallopt` takes two ints and only sets a tunable; called before any
        // thread starts.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
            mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
        }
    }
}

fn main() -> ExitCode {
    one_malloc_arena();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let env = |name: &str| std::env::var(name).ok();
    // Known before the arguments are checked, so that a usage error is in the format asked for.
    let format = cli::log_format_of(&args, &env);
    match run(args, &env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit::code_of(&err);
            if !exit::is_broken_pipe(&err) {
                // A closed or full stderr cannot be reported anywhere; the exit code still is.
                let event = Event::error(format!("{err:#}")).with("exit", code.as_i32());
                Log::new(false, format, false).emit(event);
            }
            ExitCode::from(u8::try_from(code.as_i32()).unwrap_or(1))
        }
    }
}

fn run(args: Vec<OsString>, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    let outside = cli::Outside {
        env,
        read_secret: &read_secret_file,
        read_zone: &read_zone_file,
    };
    let command = cli::parse(args, &outside, OffsetDateTime::now_utc())?;
    match command {
        Command::Help => print!("{}", cli::help()),
        Command::Version => println!("genesys-export {}", env!("CARGO_PKG_VERSION")),
        Command::Columns => print!("{}", columns::listing()),
        Command::Export(config) => {
            // Not when the data itself goes to the terminal: the line would cut into rows.
            let data_on_terminal =
                matches!(config.output, Output::Stdout) && io::stdout().is_terminal();
            let progress = config.progress && !data_on_terminal;
            let log = Log::new(config.quiet, config.log_format, progress);
            let result = export_command(*config, &log);
            // Whatever the outcome, the progress line is gone before the error line.
            log.finish_progress();
            result?
        }
        Command::CheckHelp => print!("{}", cli::check_help()),
        Command::Check(config) => check_command(*config)?,
    }
    Ok(())
}

/// Reads a secret file for the command line: a regular file (links followed, as systemd
/// credentials and container secrets are often links), at most one byte more than
/// `cli::MAX_SECRET_FILE_BYTES`, and whether its group or others may read it.
fn read_secret_file(path: &Path) -> io::Result<cli::SecretFile> {
    // Checked before opening: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    let file = File::open(path)?;
    #[cfg(unix)]
    let shared = {
        use std::os::unix::fs::PermissionsExt;
        file.metadata()?.permissions().mode() & 0o044 != 0
    };
    #[cfg(not(unix))]
    let shared = false;
    let mut bytes = Vec::new();
    file.take(cli::MAX_SECRET_FILE_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok(cli::SecretFile { bytes, shared })
}

/// Reads a zone file for `--tz`: links followed (`/etc/localtime` is usually one), a regular
/// file only, at most one byte more than `cli::MAX_ZONE_FILE_BYTES`.
fn read_zone_file(path: &Path) -> io::Result<Vec<u8>> {
    // Checked before opening: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    let mut bytes = Vec::new();
    File::open(path)?
        .take(cli::MAX_ZONE_FILE_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn export_command(config: Config, log: &Log) -> Result<()> {
    let started = Instant::now();
    let manifest = manifest_of(&config);
    signal::install();
    config.warnings.iter().for_each(|warning| log.warn(warning));
    let run = run_files(&config)?;
    let mut plan = config.plan();
    let (fingerprint, ledger_fingerprint) = fingerprints(&config, &plan);
    // The client checks its own settings (--ca-file) without sending anything.
    let settings = config.http_settings();
    let credentials = config.credentials.clone();
    let client = Arc::new(Client::new(settings, credentials, log.clone())?);
    // The lock, and everything about a saved state, before the first request.
    let target = prepare(&config, fingerprint, &plan)?;
    // `--pending` needs `--output FILE`, so a ledger always comes with a target.
    let mut ledger = match (&config.pending, &run) {
        (Some(path), Some(run)) => Some(pending::file::PendingFile::open(
            path,
            run,
            &ledger_fingerprint,
            config.pending_max_age,
            OffsetDateTime::now_utc(),
            log,
        )?),
        _ => None,
    };
    // The first token before the first byte of output: bad credentials leave no file behind.
    genesys::interruptible(&client, Client::authenticate)?;
    // Queue names resolved before any export request.
    plan.filters = genesys::query_filters(&client, &config.filters, log)?;
    // Each reply is read as much as the writer reads.
    let reading = match config.tables {
        true => crate::record::Reading::Whole,
        false => crate::sink::reading(config.format, &config.columns, &config.attributes),
    };
    let mut api = Genesys::new(Arc::clone(&client), config.parallel, reading);
    // A resumed run keeps the plan it started with, wherever the lake has moved since.
    plan.split_at = match target.as_ref().and_then(FileTarget::saved_split_at) {
        Some(split_at) => split_at,
        None => split_point(&mut api, config.mode, &plan, ledger.is_some(), log)?,
    };
    let stats = match target {
        Some(target) => target.export(&mut api, &plan, config.force, ledger.as_mut(), log)?,
        None => target::export_to_stdout(&mut api, &plan, log)?,
    };
    if let Some(manifest) = &manifest {
        manifest::write(manifest, &plan, &stats)?;
    }
    log.finish_progress();
    log.emit(report::summary(&stats, &client.stats(), started.elapsed()));
    Ok(())
}

/// The output checked, and the files of a run to `FILE`, checked to be distinct files.
fn run_files(config: &Config) -> Result<Option<RunFiles>> {
    preflight(config)?;
    let Output::File(path) = &config.output else {
        return Ok(None);
    };
    let run = RunFiles::of(path, config.state.as_deref());
    own_files::check_distinct(&run, config.pending.as_deref())?;
    Ok(Some(run))
}

/// What `--manifest` will record of this run, which starts now (a dataset always carries its
/// own `manifest.json`).
fn manifest_of(config: &Config) -> Option<manifest::Run> {
    let (true, false, Output::File(path)) = (config.manifest, config.tables, &config.output) else {
        return None;
    };
    Some(manifest::Run {
        file: path.clone(),
        mode: config.mode,
        api_base: config.api_base.clone(),
        started: OffsetDateTime::now_utc(),
    })
}

/// The export's file or dataset, locked, its saved state read and checked; none for stdout.
fn prepare(
    config: &Config,
    fingerprint: String,
    plan: &export::Plan,
) -> Result<Option<FileTarget>> {
    let Output::File(path) = &config.output else {
        return Ok(None);
    };
    let layout = match config.tables {
        true => target::Layout::Dataset(dataset::Run {
            file: path.clone(),
            mode: config.mode,
            api_base: config.api_base.clone(),
            started: OffsetDateTime::now_utc(),
        }),
        false => target::Layout::File,
    };
    let state = config.state.as_deref();
    FileTarget::prepare(path, state, config.restart, fingerprint, plan, layout).map(Some)
}

/// The output's checks before anything is sent: a file or a dataset's directory.
fn preflight(config: &Config) -> Result<()> {
    match (&config.output, config.tables) {
        (Output::File(dir), true) => dataset::preflight(dir, config.force),
        _ => target::preflight(&config.output, config.force),
    }
}

/// The fingerprint of the export's state and that of its ledger's command family.
fn fingerprints(config: &Config, plan: &export::Plan) -> (String, String) {
    let mut fingerprint = state::fingerprint(plan, config.mode, &config.api_base, &config.filters);
    if let Some(path) = &config.pending {
        // A follow-up in progress belongs to the state: a run without the ledger, or with
        // another, cannot resume it.
        fingerprint.push_str(&format!(" pending={}", path.display()));
    }
    if config.tables {
        fingerprint.push_str(" tables");
    }
    let ledger_fingerprint = pending::fingerprint(
        &config.api_base,
        &config.credentials.client_id,
        plan.format.name(),
        &rows::header(&plan.columns, &plan.attributes)
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
    );
    (fingerprint, ledger_fingerprint)
}

/// Where the range is split between jobs and the query, for a run that starts afresh.
fn split_point(
    api: &mut Genesys,
    mode: export::Mode,
    plan: &export::Plan,
    with_ledger: bool,
    log: &Log,
) -> Result<OffsetDateTime> {
    // With a ledger the export's queries carry no `conversationEnd` filter: the estimate
    // asks what the export will, so its pages can be kept for it.
    let asked = export::Plan {
        ended_only: export::end_filter(plan.ended_only, with_ledger),
        ..plan.clone()
    };
    export::split_point(api, mode, &asked, log)
}

/// `check`: each step through the client an export would use, then one line per check on
/// stdout. A step is tried only when the steps it needs passed. Writes no file.
fn check_command(config: CheckConfig) -> Result<()> {
    let log = Log::new(false, config.log_format, false);
    config.warnings.iter().for_each(|warning| log.warn(warning));
    let mut observed = Observed::new(config.hosts.clone());
    observed.login_route = config.routes.login.clone();
    observed.api_route = config.routes.api.clone();
    if let Ok(hosts) = &config.hosts {
        // The client checks its own settings (--ca-file) without sending anything.
        let settings = http::Settings {
            parallel: 1,
            api_base: hosts.api_base.clone(),
            login_base: hosts.login_base.clone(),
            timeout: config.timeout,
            ca_file: config.ca_file,
            policy: config.policy,
            routes: config.routes,
        };
        let client = Client::new(settings, config.credentials, log)?;
        probe_all(&client, &mut observed);
    }
    let (lines, code) = check::verdict(&observed);
    let mut out = io::stdout().lock();
    for line in &lines {
        let shown = match config.log_format {
            LogFormat::Text => line.to_string(),
            LogFormat::Json => report::json_line(&check_event(line), OffsetDateTime::now_utc()),
        };
        writeln!(out, "{shown}").context(exit::output("cannot write to stdout"))?;
    }
    out.flush()
        .context(exit::output("cannot write to stdout"))?;
    match code {
        exit::Code::Success => Ok(()),
        code => Err(exit::failure(
            code,
            "an export would fail: see the FAIL line",
        )),
    }
}

/// The steps of `check` after the hosts, each tried only when those it needs passed; a
/// permission step is not tried once one gave up on the rate limit (it would only wait on it
/// again).
fn probe_all(client: &Client, observed: &mut Observed) {
    observed.login_host = check_step(client, || client.reach(Endpoint::Token));
    observed.api_host = check_step(client, || client.reach(Endpoint::Api));
    if observed.login_host.passed() {
        observed.token = check_step(client, || {
            client
                .authenticate()
                .map(|()| client.token_lifetime().unwrap_or_default())
        });
    }
    if observed.api_host.passed() && observed.token.passed() {
        // The last whole minute: a details query needs a past interval.
        let now = OffsetDateTime::now_utc();
        let end = now
            .replace_second(0)
            .and_then(|t| t.replace_nanosecond(0))
            .unwrap_or(now);
        let minute = window::Window {
            start: end.saturating_sub(time::Duration::MINUTE),
            end,
        };
        observed.details = check_step(client, || genesys::probe_details(client, minute.interval()));
        if !observed.details.rate_limited() {
            observed.queues = check_step(client, || genesys::probe_queues(client));
        }
        if !observed.details.rate_limited() && !observed.queues.rate_limited() {
            observed.availability = check_step(client, || genesys::probe_availability(client));
        }
    }
    observed.last_reply = client.last_seen().map(|seen| LastReply {
        date: seen.date,
        received: seen.received,
        rate: seen.rate,
    });
}

/// One step of `check`, with the one cause of the retries it made, read from the client's
/// retry counters around it.
fn check_step<T>(client: &Client, step: impl FnOnce() -> Result<T>) -> Probe<T> {
    let before = client.stats().retries;
    let result = step();
    let after = client.stats().retries;
    Probe::after(result, check::retried_for(&before, &after))
}

/// A line of `check`'s report as a log event: its text, the check it is and its mark.
fn check_event(line: &check::Line) -> Event {
    let level = match line.mark {
        check::Mark::Ok => report::Level::Info,
        check::Mark::Warn => report::Level::Warn,
        check::Mark::Fail => report::Level::Error,
    };
    Event::new(level, line.text.clone())
        .with("check", line.check.clone())
        .with("mark", line.mark.name())
}
