//! The low stage of the command line: the arguments sorted by option, by the option table.
//!
//! Only what the table says is checked here: is it UTF-8, is it a known option, is it given
//! once unless its row repeats, does the command take it. What a value means is the high
//! stage's (`config.rs`, `check_config.rs`); nothing here reads a file or the environment.

use std::collections::BTreeMap;
use std::ffi::OsString;

use anyhow::Result;

use super::options::{self, Cmd, Opt, OPTIONS};
use crate::exit::usage;
use crate::filters::shown;

/// The arguments sorted by option, not yet validated.
#[derive(Debug)]
pub struct RawArgs {
    pub command: Cmd,
    /// `-h` or `--help` anywhere (or the `help` command).
    pub help: bool,
    pub version: bool,
    /// The options given, by long name: a flag with no value, others with theirs in order.
    given: BTreeMap<&'static str, Vec<String>>,
}

impl RawArgs {
    fn only(command: Cmd, help: bool, version: bool) -> RawArgs {
        RawArgs {
            command,
            help,
            version,
            given: BTreeMap::new(),
        }
    }

    /// Sorts the arguments by [`OPTIONS`].
    pub fn parse(args: Vec<OsString>) -> Result<RawArgs> {
        RawArgs::parse_with(OPTIONS, args)
    }

    /// Sorts the arguments by `table`. `-h` or `-V` anywhere wins over everything else;
    /// otherwise the command must be known and every argument an option of the table, given
    /// once unless repeatable, that the command takes.
    pub fn parse_with(table: &[Opt], args: Vec<OsString>) -> Result<RawArgs> {
        let check = args.first().is_some_and(|first| first == "check");
        let named = if check { Cmd::Check } else { Cmd::Export };
        let mut args = pico_args::Arguments::from_vec(args);
        if args.contains(["-h", "--help"]) {
            return Ok(RawArgs::only(named, true, false));
        }
        if args.contains(["-V", "--version"]) {
            return Ok(RawArgs::only(named, false, true));
        }
        let command = match args.subcommand().map_err(arg_error)?.as_deref() {
            Some("conversations") => Cmd::Export,
            Some("check") => Cmd::Check,
            Some("help") => return Ok(RawArgs::only(Cmd::Export, true, false)),
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
        };
        let mut raw = RawArgs::only(command, false, false);
        for opt in table
            .iter()
            .filter(|o| !matches!(o.name, "--help" | "--version"))
        {
            if let Some(values) = take(&mut args, opt)? {
                raw.given.insert(opt.name, values);
            }
        }
        if let Some(extra) = args.finish().first() {
            return Err(leftover(table, &extra.to_string_lossy()));
        }
        raw.refuse_foreign(table)?;
        Ok(raw)
    }

    /// An option given that the command does not take is refused, naming it.
    fn refuse_foreign(&self, table: &[Opt]) -> Result<()> {
        let foreign = table
            .iter()
            .find(|opt| self.given.contains_key(opt.name) && !opt.takes(self.command));
        match (foreign, self.command) {
            (None, _) => Ok(()),
            (Some(opt), Cmd::Check) => Err(usage(format!(
                "{} is an export option: 'check' takes the connection options and --log-format only (see genesys-export check --help)",
                opt.name
            ))),
            (Some(opt), Cmd::Export) => Err(usage(format!(
                "{} is not an export option (see --help)",
                opt.name
            ))),
        }
    }

    /// The value of option `name` (its long name), if given (the first, for a repeatable one).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.given
            .get(name)
            .and_then(|values| values.first())
            .map(String::as_str)
    }

    /// Every value of option `name`, in order.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.given.get(name).cloned().unwrap_or_default()
    }

    /// Whether option `name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.given.contains_key(name)
    }
}

/// Takes option `opt` out of the arguments: None when absent, else its values (none for a
/// flag).
fn take(args: &mut pico_args::Arguments, opt: &Opt) -> Result<Option<Vec<String>>> {
    let keys: pico_args::Keys = match opt.short {
        Some(short) => [short, opt.name].into(),
        None => opt.name.into(),
    };
    Ok(if !opt.takes_value() {
        args.contains(keys).then(Vec::new)
    } else if opt.repeatable {
        let values: Vec<String> = args.values_from_str(keys).map_err(arg_error)?;
        (!values.is_empty()).then_some(values)
    } else {
        let value: Option<String> = args.opt_value_from_str(keys).map_err(arg_error)?;
        value.map(|v| vec![v])
    })
}

/// The error for an argument no option took.
fn leftover(table: &[Opt], extra: &str) -> anyhow::Error {
    if !extra.starts_with('-') {
        return usage(format!(
            "unexpected argument '{}' (see --help)",
            shown(extra)
        ));
    }
    let word = extra.split('=').next().unwrap_or(extra);
    match options::find(table, word) {
        Some(opt) if !opt.repeatable => usage(format!(
            "{} is given more than once: give it once (see --help)",
            opt.name
        )),
        _ => usage(format!("unknown option '{}' (see --help)", shown(extra))),
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
