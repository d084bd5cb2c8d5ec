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
mod sink;
mod window;

use std::io;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use time::OffsetDateTime;

use crate::cli::{Command, Config};
use crate::report::Log;
use crate::sink::{Output, Sink, Target};

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
    sink::preflight(&config.output, config.force)?;
    let plan = export::Plan {
        from: config.from,
        to: config.to,
        window: config.window,
        page_size: config.page_size,
        ended_only: config.ended_only,
        format: config.format,
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

    let stats = match &config.output {
        Output::Stdout => {
            let sink = Sink::new(io::stdout(), plan.format, "stdout");
            export_into(&mut client, sink, &plan, &log)?
        }
        Output::File(path) => {
            let file = sink::create_partial(path)?;
            let name = sink::partial_path(path).display().to_string();
            let stats = export_into(&mut client, Sink::new(file, plan.format, name), &plan, &log)?;
            sink::publish(path, config.force)?;
            log.info(&format!("wrote {}", path.display()));
            stats
        }
    };
    log.info(&report::summary(&stats, &client.stats, started.elapsed()));
    Ok(())
}

fn export_into<W: Target>(
    client: &mut http::Client,
    mut sink: Sink<W>,
    plan: &export::Plan,
    log: &Log,
) -> Result<report::ExportStats> {
    let stats = export::run(client, &mut sink, plan, log)?;
    sink.finish()?;
    Ok(stats)
}
