//! genesys-export: export Genesys Cloud conversation details to CSV or JSON Lines.
//!
//! `main` wires the parts together and owns the one exit path: cli → preflight → token →
//! export → publish, then the error (if any) becomes an exit code. See ARCHITECTURE.md.

mod api;
mod auth;
mod cli;
mod exit;
mod export;
mod http;
#[cfg(test)]
mod prop;
mod report;
mod retry;
mod rows;
mod signal;
mod sink;
mod state;
mod times;
mod urls;
mod window;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use time::OffsetDateTime;

use crate::cli::{Command, Config, Mode};
use crate::report::Log;
use crate::sink::{Format, Output, Sink};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit::code_of(&err);
            if !exit::is_broken_pipe(&err) {
                eprintln!("error: {err:#}");
            }
            ExitCode::from(code.as_i32() as u8)
        }
    }
}

fn run() -> Result<()> {
    let args = std::env::args_os().skip(1).collect();
    let command = cli::parse(
        args,
        &|name| std::env::var(name).ok(),
        OffsetDateTime::now_utc(),
    )?;
    match command {
        Command::Help => print!("{}", cli::HELP),
        Command::Version => println!("genesys-export {}", env!("CARGO_PKG_VERSION")),
        Command::Export(config) => export_command(*config)?,
    }
    Ok(())
}

fn export_command(config: Config) -> Result<()> {
    let started = Instant::now();
    let log = Log {
        quiet: config.quiet,
    };
    signal::install();
    sink::preflight(&config.output, config.force)?;
    let mut plan = export::Plan {
        from: config.from,
        to: config.to,
        window: config.window,
        page_size: config.page_size,
        ended_only: config.ended_only,
        format: config.format,
        attributes: config.attributes,
        split_at: config.from,
        job_poll: config.job_poll,
    };
    let fingerprint = state::fingerprint(&state::Shape {
        from: plan.from,
        to: plan.to,
        window: plan.window,
        format: match plan.format {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        },
        columns: &rows::header(&plan.attributes),
        page_size: plan.page_size,
        ended_only: plan.ended_only,
        mode: config.mode.name(),
        api_base: &config.api_base,
    });
    // The client checks its own settings (--ca-file) without sending anything.
    let settings = http::Settings {
        api_base: config.api_base,
        login_base: config.login_base,
        timeout: config.timeout,
        ca_file: config.ca_file,
        policy: config.policy,
    };
    let mut client = http::Client::new(settings, config.credentials, log)?;
    // Everything about a saved state is checked before the first request.
    let target = match &config.output {
        Output::Stdout => None,
        Output::File(path) => Some(FileTarget::prepare(
            path,
            config.state.as_deref(),
            config.restart,
            fingerprint,
        )?),
    };
    // The first token before the first byte of output: bad credentials leave no file behind.
    client.authenticate()?;
    plan.split_at = match &target {
        // A resumed run keeps the plan it started with, wherever the lake has moved since.
        Some(FileTarget {
            saved: Some(saved),
            state_path,
            ..
        }) => saved.split_at(state_path)?,
        _ => split_point(&mut client, config.mode, &plan, &log)?,
    };

    let stats = match target {
        None => {
            let mut sink = Sink::new(io::stdout(), plan.format, "stdout");
            let control = export::Control {
                checkpoint: &mut |_, _| Ok(()),
                stop: &stop_reason,
            };
            let stats = export::run(&mut client, &mut sink, &plan, None, control, &log)?;
            sink.finish()?;
            stats
        }
        Some(target) => target.export(&mut client, &plan, config.force, &log)?,
    };
    log.info(&report::summary(&stats, &client.stats, started.elapsed()));
    Ok(())
}

/// Why the run must stop, once SIGINT or SIGTERM arrived.
fn stop_reason() -> Option<String> {
    signal::received().map(|s| format!("interrupted by {}", signal::name(s)))
}

/// An export to a file: `FILE.partial` while it runs, `FILE.state` to resume it.
struct FileTarget {
    path: PathBuf,
    state_path: PathBuf,
    fingerprint: String,
    saved: Option<state::State>,
}

impl FileTarget {
    /// Reads (or, with `restart`, removes) a saved state and checks it fits this command.
    fn prepare(
        path: &Path,
        state_path: Option<&Path>,
        restart: bool,
        fingerprint: String,
    ) -> Result<FileTarget> {
        let state_path = state_path.map_or_else(|| state::default_path(path), Path::to_path_buf);
        if restart {
            state::remove(&state_path)?;
        }
        let saved = state::load(&state_path)?;
        let start_over = state::start_over(&state_path);
        if let Some(saved) = &saved {
            if saved.fingerprint != fingerprint {
                return Err(exit::usage(format!(
                    "{} belongs to a different export ({}); this command is ({fingerprint}): run the original command to resume it, or {start_over}",
                    state_path.display(),
                    saved.fingerprint
                )));
            }
            if !sink::partial_path(path).exists() {
                return Err(exit::usage(format!(
                    "{} records progress but {} is missing: {start_over}",
                    state_path.display(),
                    sink::partial_path(path).display()
                )));
            }
        }
        Ok(FileTarget {
            path: path.to_path_buf(),
            state_path,
            fingerprint,
            saved,
        })
    }

    /// Runs (or resumes) the export into `FILE.partial`, saving the state after every page,
    /// and publishes `FILE` when the range is done.
    fn export(
        self,
        client: &mut http::Client,
        plan: &export::Plan,
        force: bool,
        log: &Log,
    ) -> Result<report::ExportStats> {
        let partial = sink::partial_path(&self.path);
        let (file, offset, resume) = match &self.saved {
            Some(saved) => {
                let file = sink::reopen_partial(&self.path, saved.output_len)?;
                let written = sink::written_ids(
                    &self.path,
                    saved.window_offset,
                    saved.output_len,
                    plan.format,
                )?;
                log.info(&format!(
                    "resuming from {} ({} bytes of {} kept)",
                    self.state_path.display(),
                    saved.output_len,
                    partial.display()
                ));
                let position = saved.position(&self.state_path)?;
                let resume = export::Resume { position, written };
                (file, saved.output_len, Some(resume))
            }
            None => (sink::create_partial(&self.path)?, 0, None),
        };
        let mut sink = Sink::at(file, offset, plan.format, partial.display().to_string());
        let mut checkpoint = |position: &export::Position, output_len: u64| {
            let saved = state::State::new(position, output_len, &self.fingerprint, plan.split_at);
            state::save(&self.state_path, &saved)
        };
        let control = export::Control {
            checkpoint: &mut checkpoint,
            stop: &stop_reason,
        };
        let stats = export::run(client, &mut sink, plan, resume, control, log).map_err(|e| {
            exit::failure(
                exit::code_of(&e),
                format!(
                    "{e:#}; the rows so far are in {} and running the same command again resumes the export",
                    partial.display()
                ),
            )
        })?;
        sink.finish()?;
        // The state goes first: a crash between the two leaves a complete FILE.partial and no
        // state, which a re-run simply redoes, never a FILE beside a stale state.
        state::remove(&self.state_path)?;
        sink::publish(&self.path, force)?;
        log.info(&format!("wrote {}", self.path.display()));
        Ok(stats)
    }
}

/// Where jobs hand over to the query: jobs for windows before it, the query from it on.
fn split_point(
    client: &mut http::Client,
    mode: Mode,
    plan: &export::Plan,
    log: &Log,
) -> Result<time::OffsetDateTime> {
    if mode == Mode::Query {
        return Ok(plan.from);
    }
    let reply: api::Availability = client.get_json(api::AVAILABILITY_PATH)?;
    let available =
        window::parse_api_timestamp(&reply.data_availability_date).ok_or_else(|| {
            anyhow::anyhow!(
                "the API gave an unreadable dataAvailabilityDate '{}'",
                reply.data_availability_date
            )
        })?;
    let shown = window::api_timestamp(available);
    if mode == Mode::Jobs {
        if available < plan.to {
            return Err(exit::usage(format!(
                "--mode jobs: the data lake holds conversations only up to {shown}, before --to; end the range at or before {shown}, or use --mode auto (the details query exports the rest)"
            )));
        }
        return Ok(plan.to);
    }
    let split_at = available.clamp(plan.from, plan.to);
    log.info(&format!(
        "data lake available up to {shown}: jobs for {} windows, the details query for {}",
        if split_at > plan.from {
            "the older"
        } else {
            "no"
        },
        if split_at < plan.to {
            "the newer"
        } else {
            "none"
        },
    ));
    Ok(split_at)
}
