//! genesys-export: export Genesys Cloud conversation details to CSV or JSON Lines.
//!
//! `main` wires the parts together and owns the one exit path: cli → output checks and lock →
//! token → split point → export → publish, then the error (if any) becomes an exit code. See
//! ARCHITECTURE.md.

mod api;
mod auth;
mod cli;
mod crash;
mod exit;
mod export;
mod genesys;
mod http;
mod pace;
#[cfg(test)]
mod prop;
mod report;
mod retry;
mod rows;
mod signal;
mod sink;
mod state;
mod target;
mod times;
mod urls;
mod window;

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use time::OffsetDateTime;

use crate::cli::{Command, Config};
use crate::genesys::Genesys;
use crate::report::Log;
use crate::sink::Output;
use crate::target::FileTarget;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit::code_of(&err);
            if !exit::is_broken_pipe(&err) {
                // A closed or full stderr cannot be reported anywhere; the exit code still is.
                let _ = writeln!(io::stderr().lock(), "error: {err:#}");
            }
            ExitCode::from(u8::try_from(code.as_i32()).unwrap_or(1))
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
    target::preflight(&config.output, config.force)?;
    let mut plan = config.plan();
    let fingerprint = state::fingerprint(&plan, config.mode, &config.api_base);
    // The client checks its own settings (--ca-file) without sending anything.
    let settings = http::Settings {
        parallel: config.parallel,
        api_base: config.api_base,
        login_base: config.login_base,
        timeout: config.timeout,
        ca_file: config.ca_file,
        policy: config.policy,
    };
    let client = Arc::new(http::Client::new(settings, config.credentials, log)?);
    // The lock, and everything about a saved state, before the first request.
    let target = match &config.output {
        Output::Stdout => None,
        Output::File(path) => Some(FileTarget::prepare(
            path,
            config.state.as_deref(),
            config.restart,
            fingerprint,
            &plan,
        )?),
    };
    // The first token before the first byte of output: bad credentials leave no file behind.
    client.authenticate()?;
    let mut api = Genesys::new(Arc::clone(&client), config.parallel);
    // A resumed run keeps the plan it started with, wherever the lake has moved since.
    plan.split_at = match target.as_ref().and_then(FileTarget::saved_split_at) {
        Some(split_at) => split_at,
        None => export::split_point(&mut api, config.mode, &plan, &log)?,
    };
    let stats = match target {
        Some(target) => target.export(&mut api, &plan, config.force, &log)?,
        None => target::export_to_stdout(&mut api, &plan, &log)?,
    };
    log.info(&report::summary(&stats, &client.stats(), started.elapsed()));
    Ok(())
}
