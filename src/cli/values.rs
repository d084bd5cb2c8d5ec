//! Typed values of single options: numbers and durations checked against their row's range,
//! the choices (`--format`, `--mode`, `--log-format`). Each reader takes the raw value and
//! returns the typed one or a one-line usage error naming the option and the fix.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::Result;

use super::options::{self, Kind, LOG_FORMAT_ENV};
use super::raw::RawArgs;
use crate::exit::usage;
use crate::export::Mode;
use crate::filters::shown;
use crate::report::LogFormat;
use crate::sink::Format;
use crate::times::{format_duration, parse_duration};
use crate::window;

/// A duration option's value, its row's default if absent; out of its row's range is a
/// usage error naming the range.
pub fn duration(raw: &RawArgs, name: &str) -> Result<Duration> {
    let opt = options::row(name);
    let (min, max) = match opt.kind {
        Kind::Duration { min, max } => (min, max),
        _ => (Duration::ZERO, Duration::MAX),
    };
    duration_in(raw.value(name), name, (min, max), "")
}

/// `--window`: its row's range, narrowed to the API's interval limit without a filter.
pub fn window(raw: &RawArgs, filtered: bool) -> Result<Duration> {
    let name = "--window";
    let min = match options::row(name).kind {
        Kind::Duration { min, .. } => min,
        _ => Duration::ZERO,
    };
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
    duration_in(raw.value(name), name, (min, max), because)
}

fn duration_in(
    value: Option<&str>,
    name: &str,
    (min, max): (Duration, Duration),
    because: &str,
) -> Result<Duration> {
    let opt = options::row(name);
    let (value, given) = match value {
        Some(value) => (value, true),
        None => (opt.default, false),
    };
    let d = parse_duration(value).map_err(|e| usage(format!("{name}: '{}' {e}", shown(value))))?;
    if given && (d < min || d > max) {
        let range = if min.is_zero() {
            format!("at most {}", format_duration(max))
        } else {
            format!(
                "between {} and {}",
                format_duration(min),
                format_duration(max)
            )
        };
        return Err(usage(format!(
            "{name} must be {range}{because}, not '{}'",
            shown(value)
        )));
    }
    Ok(d)
}

/// A whole-number option's value: its row's default when absent, else a number in its range.
pub fn count(raw: &RawArgs, name: &str) -> Result<u32> {
    let opt = options::row(name);
    let (min, max) = match opt.kind {
        Kind::Count { min, max } => (min, max),
        _ => (0, u32::MAX),
    };
    let Some(value) = raw.value(name) else {
        return opt
            .default_count()
            .ok_or_else(|| usage(format!("{name} has no default: give it")));
    };
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(usage(format!(
            "{name} must be a whole number from {min} to {max}, not '{}'",
            shown(value)
        ))),
    }
}

pub fn format(value: Option<&str>) -> Result<Format> {
    match value {
        None | Some("csv") => Ok(Format::Csv),
        Some("jsonl") => Ok(Format::Jsonl),
        Some(other) => Err(usage(format!(
            "--format must be csv or jsonl, not '{}'",
            shown(other)
        ))),
    }
}

pub fn mode(value: Option<&str>) -> Result<Mode> {
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

/// `--log-format`, else `GENESYS_EXPORT_LOG_FORMAT`, else text.
pub fn log_format(value: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<LogFormat> {
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
/// is a valid name, else text. Agrees with the config's whenever there is a config.
pub fn log_format_of(args: &[OsString], env: &dyn Fn(&str) -> Option<String>) -> LogFormat {
    let mut args = pico_args::Arguments::from_vec(args.to_vec());
    let value: Option<String> = args.opt_value_from_str("--log-format").ok().flatten();
    log_format(value.as_deref(), env).unwrap_or_default()
}
