//! genesys-export: export Genesys Cloud conversation details to CSV or JSON Lines.
//!
//! `main` wires the parts together and owns the one exit path: cli → output checks and lock →
//! token → split point → export → publish, then the error (if any) becomes an exit code. See
//! ARCHITECTURE.md.

mod api;
mod auth;
mod cli;
mod columns;
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

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use time::OffsetDateTime;

use crate::cli::{Command, Config};
use crate::genesys::Genesys;
use crate::http::Client;
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
    let outside = cli::Outside {
        env: &|name| std::env::var(name).ok(),
        read_secret: &read_secret_file,
    };
    let command = cli::parse(args, &outside, OffsetDateTime::now_utc())?;
    match command {
        Command::Help => print!("{}", cli::HELP),
        Command::Version => println!("genesys-export {}", env!("CARGO_PKG_VERSION")),
        Command::Columns => print!("{}", columns::listing()),
        Command::Export(config) => export_command(*config)?,
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

fn export_command(config: Config) -> Result<()> {
    let started = Instant::now();
    let log = Log {
        quiet: config.quiet,
    };
    signal::install();
    for warning in &config.warnings {
        log.warn(warning);
    }
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
    let client = Arc::new(Client::new(settings, config.credentials, log)?);
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
    genesys::interruptible(&client, Client::authenticate)?;
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
