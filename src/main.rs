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
mod report;
mod retry;
mod rows;
mod signal;
mod sink;
mod state;
mod window;

use std::io;
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
    // Everything about a saved state is checked before the first request.
    let target = match &config.output {
        Output::Stdout => None,
        Output::File(path) => {
            let state_path = config
                .state
                .clone()
                .unwrap_or_else(|| state::default_path(path));
            if config.restart {
                state::remove(&state_path)?;
            }
            let saved = state::load(&state_path)?;
            if let Some(saved) = &saved {
                check_resumable(saved, &fingerprint, path, &state_path)?;
            }
            Some((path.clone(), state_path, saved))
        }
    };
    let settings = http::Settings {
        api_base: config.api_base,
        login_base: config.login_base,
        timeout: config.timeout,
        ca_file: config.ca_file,
        policy: config.policy,
    };
    let mut client = http::Client::new(settings, config.credentials, log)?;
    // The first token before the first byte of output: bad credentials leave no file behind.
    client.authenticate()?;
    let saved_split = target
        .as_ref()
        .and_then(|(_, _, saved)| saved.as_ref())
        .map(|s| &s.split_at);
    plan.split_at = match saved_split {
        // A resumed run keeps the plan it started with, wherever the lake has moved since.
        Some(at) => window::parse_api_timestamp(at)
            .ok_or_else(|| exit::usage("the state file is damaged (split_at): pass --restart"))?,
        None => split_point(&mut client, config.mode, &plan, &log)?,
    };

    let stop = || signal::received().map(|s| format!("interrupted by {}", signal::name(s)));
    let stats = match target {
        None => {
            let mut sink = Sink::new(io::stdout(), plan.format, "stdout");
            let control = export::Control {
                checkpoint: &mut |_, _| Ok(()),
                stop: &stop,
            };
            let stats = export::run(&mut client, &mut sink, &plan, None, control, &log)?;
            sink.finish()?;
            stats
        }
        Some((path, state_path, saved)) => {
            let partial = sink::partial_path(&path);
            let (file, offset, resume) = match saved {
                Some(saved) => {
                    let file = sink::reopen_partial(&path, saved.output_len)?;
                    let written = sink::written_ids(
                        &path,
                        saved.window_offset,
                        saved.output_len,
                        plan.format,
                    )?;
                    log.info(&format!(
                        "resuming from {} ({} bytes of {} kept)",
                        state_path.display(),
                        saved.output_len,
                        partial.display()
                    ));
                    let position = position_of(&saved, &state_path)?;
                    (
                        file,
                        saved.output_len,
                        Some(export::Resume { position, written }),
                    )
                }
                None => (sink::create_partial(&path)?, 0, None),
            };
            let mut sink = Sink::at(file, offset, plan.format, partial.display().to_string());
            let mut checkpoint = |position: &export::Position, output_len: u64| {
                state::save(
                    &state_path,
                    &state_of(position, output_len, &fingerprint, plan.split_at),
                )
            };
            let control = export::Control {
                checkpoint: &mut checkpoint,
                stop: &stop,
            };
            let stats = export::run(&mut client, &mut sink, &plan, resume, control, &log)
                .map_err(|e| {
                    exit::failure(
                        exit::code_of(&e),
                        format!(
                            "{e:#}; the rows so far are in {} and running the same command again resumes the export",
                            partial.display()
                        ),
                    )
                })?;
            sink.finish()?;
            // The state goes first: a crash between the two leaves a complete FILE.partial
            // and no state, which a re-run simply redoes, never a FILE with a stale state.
            state::remove(&state_path)?;
            sink::publish(&path, config.force)?;
            log.info(&format!("wrote {}", path.display()));
            stats
        }
    };
    log.info(&report::summary(&stats, &client.stats, started.elapsed()));
    Ok(())
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

/// Refuses a saved state that another command wrote, or whose partial file is gone.
fn check_resumable(
    saved: &state::State,
    fingerprint: &str,
    path: &std::path::Path,
    state_path: &std::path::Path,
) -> Result<()> {
    let restart = format!(
        "pass --restart to start over, or delete {}",
        state_path.display()
    );
    if saved.fingerprint != fingerprint {
        return Err(exit::usage(format!(
            "{} belongs to a different export ({}); this command is ({fingerprint}): run the original command to resume it, or {restart}",
            state_path.display(),
            saved.fingerprint
        )));
    }
    let partial = sink::partial_path(path);
    if !partial.exists() {
        return Err(exit::usage(format!(
            "{} records progress but {} is missing: {restart}",
            state_path.display(),
            partial.display()
        )));
    }
    Ok(())
}

fn state_of(
    position: &export::Position,
    output_len: u64,
    fingerprint: &str,
    split_at: time::OffsetDateTime,
) -> state::State {
    state::State {
        version: state::VERSION,
        fingerprint: fingerprint.to_string(),
        top_index: position.top_index,
        stack: position
            .stack
            .iter()
            .map(state::SavedWindow::from)
            .collect(),
        next_page: position.next_page,
        window_offset: position.window_offset,
        output_len,
        split_at: window::api_timestamp(split_at),
        job: position.job.as_ref().map(|job| state::SavedJob {
            id: job.id.clone(),
            cursor: job.cursor.clone(),
        }),
        job_page_size: position.job_page_size,
    }
}

fn position_of(saved: &state::State, state_path: &std::path::Path) -> Result<export::Position> {
    let stack = saved
        .stack
        .iter()
        .map(state::SavedWindow::to_window)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            exit::usage(format!(
                "{} is damaged (a window does not parse): pass --restart to start over",
                state_path.display()
            ))
        })?;
    Ok(export::Position {
        top_index: saved.top_index,
        stack,
        next_page: saved.next_page.max(1),
        job: saved.job.as_ref().map(|job| export::JobCursor {
            id: job.id.clone(),
            cursor: job.cursor.clone(),
        }),
        job_page_size: saved.job_page_size.max(1),
        window_offset: saved.window_offset,
    })
}
