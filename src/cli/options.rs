//! The option table: every command-line option declared once, in [`OPTIONS`].
//!
//! A row holds the option's names, the kind of value it takes (with the range of a number or a
//! duration), the default as shown and parsed, the environment variable behind it, the
//! commands that take it, whether it may repeat, and its help line. `RawArgs::parse` sorts the
//! arguments by this table, `help` renders the OPTIONS sections of `--help` and
//! `check --help` from it, a command refuses an option its row does not list, and the tests
//! hold README's options table against it. Nothing here reads a value's meaning: the code that
//! uses a value validates it.

use std::time::Duration;

use crate::api;
use crate::times::format_duration;

/// A command that takes options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `conversations`: the export.
    Export,
    Check,
}

impl Cmd {
    #[cfg(test)]
    pub fn name(self) -> &'static str {
        match self {
            Cmd::Export => "conversations",
            Cmd::Check => "check",
        }
    }
}

/// What an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Nothing: given or not.
    Flag,
    /// A value the code that uses it checks; its placeholder in HELP.
    Text(&'static str),
    /// A whole number in `min..=max`.
    Count { min: u32, max: u32 },
    /// A duration in `min..=max`.
    Duration { min: Duration, max: Duration },
}

impl Kind {
    /// The placeholder HELP and README show after the name, if the option takes a value.
    pub fn placeholder(self) -> Option<&'static str> {
        match self {
            Kind::Flag => None,
            Kind::Text(placeholder) => Some(placeholder),
            Kind::Count { .. } => Some("N"),
            Kind::Duration { .. } => Some("DUR"),
        }
    }

    /// The range as HELP and README state it (`at most 7d`), empty for values without one.
    pub fn bounds(self) -> String {
        match self {
            Kind::Count { min, max } if min <= 1 => format!("at most {max}"),
            Kind::Count { min, max } => format!("at least {min}, at most {max}"),
            Kind::Duration { min, max } if min < SECOND => {
                format!("at most {}", format_duration(max))
            }
            Kind::Duration { min, max } => format!(
                "at least {}, at most {}",
                format_duration(min),
                format_duration(max)
            ),
            Kind::Flag | Kind::Text(_) => String::new(),
        }
    }
}

/// One option.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    /// The short name (`-o`), if any.
    pub short: Option<&'static str>,
    /// The long name (`--output`): the one messages use.
    pub name: &'static str,
    pub kind: Kind,
    /// The default as HELP and README show it; for a number or a duration also the value
    /// used when the option is absent. Empty: none, or said by the help line.
    pub default: &'static str,
    /// The environment variable read when the option is absent.
    pub env: Option<&'static str>,
    /// The commands that take it; any other refuses it (exit 2).
    pub commands: &'static [Cmd],
    /// May be given more than once, each value kept.
    pub repeatable: bool,
    pub help: &'static str,
}

const EXPORT: &[Cmd] = &[Cmd::Export];
const BOTH: &[Cmd] = &[Cmd::Export, Cmd::Check];

impl Opt {
    /// An export option.
    const fn new(name: &'static str, kind: Kind, default: &'static str, help: &'static str) -> Opt {
        Opt {
            short: None,
            name,
            kind,
            default,
            env: None,
            commands: EXPORT,
            repeatable: false,
            help,
        }
    }

    const fn flag(name: &'static str, help: &'static str) -> Opt {
        Opt::new(name, Kind::Flag, "", help)
    }

    const fn short(self, short: &'static str) -> Opt {
        Opt {
            short: Some(short),
            ..self
        }
    }

    const fn env(self, variable: &'static str) -> Opt {
        Opt {
            env: Some(variable),
            ..self
        }
    }

    /// Taken by `check` too.
    const fn check(self) -> Opt {
        Opt {
            commands: BOTH,
            ..self
        }
    }

    const fn repeatable(self) -> Opt {
        Opt {
            repeatable: true,
            ..self
        }
    }

    pub fn takes_value(&self) -> bool {
        self.kind != Kind::Flag
    }

    pub fn takes(&self, command: Cmd) -> bool {
        self.commands.contains(&command)
    }

    /// Whether `word` (`-o`, `--output`) names this option.
    pub fn is_named(&self, word: &str) -> bool {
        self.name == word || self.short == Some(word)
    }

    /// `-o, --output FILE|-`: how HELP and README spell the option.
    pub fn usage(&self) -> String {
        let mut usage = match self.short {
            Some(short) => format!("{short}, {}", self.name),
            None => self.name.to_string(),
        };
        if let Some(placeholder) = self.kind.placeholder() {
            usage.push(' ');
            usage.push_str(placeholder);
        }
        usage
    }

    /// The bracket after the help line: `[default: 1d; at most 31d; $VARIABLE]`, or nothing.
    pub fn bracket(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        if !self.default.is_empty() {
            parts.push(format!("default: {}", self.default));
        }
        let bounds = self.kind.bounds();
        if !bounds.is_empty() {
            parts.push(bounds);
        }
        if let Some(variable) = self.env {
            parts.push(format!("${variable}"));
        }
        (!parts.is_empty()).then(|| format!("[{}]", parts.join("; ")))
    }

    /// The default of a number option: its row's default, parsed.
    pub fn default_count(&self) -> Option<u32> {
        self.default.parse().ok()
    }

    /// The default of a duration option: its row's default, parsed.
    #[cfg(test)]
    pub fn default_duration(&self) -> Option<Duration> {
        crate::times::parse_duration(self.default).ok()
    }
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const MILLISECOND: Duration = Duration::from_millis(1);

const fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

const fn count(min: u32, max: u32) -> Kind {
    Kind::Count { min, max }
}

const fn duration(min: Duration, max: Duration) -> Kind {
    Kind::Duration { min, max }
}

/// The environment variable naming the log format when `--log-format` is not given.
pub const LOG_FORMAT_ENV: &str = "GENESYS_EXPORT_LOG_FORMAT";
/// The environment variable naming the region when `--region` is not given.
pub const REGION_ENV: &str = "GENESYSCLOUD_REGION";
/// The environment variable naming the zone when `--tz` is not given.
pub const TZ_ENV: &str = "GENESYS_EXPORT_TZ";
/// The environment variable naming a file that holds the client secret.
pub const SECRET_FILE_ENV: &str = "GENESYSCLOUD_OAUTHCLIENT_SECRET_FILE";

/// Every option, in the order HELP lists them.
#[rustfmt::skip]
pub const OPTIONS: &[Opt] = &[
    Opt::new("--from", Kind::Text("TIME"), "", "start of the range, inclusive (required)"),
    Opt::new("--to", Kind::Text("TIME"), "", "end of the range, exclusive (required)"),
    Opt::new("--tz", Kind::Text("ZONE"), "UTC", "the zone of local days: an IANA name (Europe/Paris), local, UTC or an offset (+05:30). Dates, today, yesterday and times without an offset are read in it, and a 1d window is one local day (23 or 25 hours when the clocks change)").env(TZ_ENV),
    Opt::new("--window", duration(MINUTE, days(31)), "1d", "length of one query window; at most 7d unless --ended-only or a filter is given (the API's interval limit)"),
    Opt::new("--output", Kind::Text("FILE|-"), "-", "where to write; - is stdout. A file is written as FILE.partial and renamed to FILE when the whole range is done").short("-o"),
    Opt::new("--format", Kind::Text("csv|jsonl"), "csv", "CSV (one row per conversation) or JSON Lines (each conversation exactly as the API returned it)"),
    Opt::flag("--force", "replace FILE if it exists (a regular file only)"),
    Opt::new("--state", Kind::Text("PATH"), "FILE.state", "where an export to FILE records its progress, so that running the same command again after a crash resumes it"),
    Opt::flag("--restart", "ignore a saved state and start the export over"),
    Opt::flag("--manifest", "after FILE is published, write FILE.manifest.json: what the file holds (range, windows, rows) and the run that wrote it"),
    Opt::new("--page-size", count(1, api::MAX_PAGE_SIZE), "100", "conversations per page"),
    Opt::new("--parallel", count(1, 16), "4", "details pages in flight at once, paced by the API's rate-limit headers; 1 fetches one page at a time"),
    Opt::flag("--ended-only", "leave out conversations that are still in progress"),
    Opt::new("--tables", Kind::Text("DIR"), "", "write a relational dataset instead: DIR/conversations.csv, participants, sessions, segments, metrics and attributes .csv, schema.sql and manifest.json, built in DIR.partial and renamed to DIR when the whole range is done"),
    Opt::new("--pending", Kind::Text("PATH"), "", "a ledger of conversations still in progress, shared by nightly runs: they are recorded (and with --ended-only not written), and every run naming PATH first writes those that have ended since"),
    Opt::new("--pending-max-age", duration(HOUR, days(3650)), "31d", "drop a ledger entry whose conversation started longer ago than this, with a warning"),
    Opt::new("--mode", Kind::Text("auto|query|jobs"), "auto", "auto: analytics jobs (bulk, from the data lake) for the part of the range older than the lake's availability date, the details query for the newer rest; query or jobs: one path only"),
    Opt::new("--queue", Kind::Text("ID|NAME"), "", "only conversations with a segment in this queue; a name is looked up and must match one queue exactly, ignoring case (repeatable)").repeatable(),
    Opt::new("--media", Kind::Text("TYPE"), "", "only this session media type: voice, callback, chat, email, message, video, cobrowse, screenshare, screenmonitoring, internalmessage or unknown (repeatable)").repeatable(),
    Opt::new("--direction", Kind::Text("DIR"), "", "only sessions of this direction: inbound or outbound (repeatable)").repeatable(),
    Opt::new("--user", Kind::Text("ID"), "", "only conversations with a segment of this user (repeatable)").repeatable(),
    Opt::new("--division", Kind::Text("ID"), "", "only conversations in this division (repeatable)").repeatable(),
    Opt::new("--filter-file", Kind::Text("PATH"), "", "more filters, any the API accepts: a JSON object with segmentFilters and/or conversationFilters arrays. Values of one option are OR-ed, options and the file's filters AND-ed"),
    Opt::new("--columns", Kind::Text("A,B,..."), "", "the CSV columns, in this order, from the catalogue that --columns list prints; the twelve of the README's schema when not given"),
    Opt::new("--attribute", Kind::Text("NAME"), "", "add a CSV column with the participant attribute NAME (repeatable; only job results carry attributes)").repeatable(),
    Opt::flag("--no-formula-guard", "write free-text CSV cells (names, tags, attributes) as they are, for loaders; by default one that begins with = + - @, a tab or a CR gets a leading apostrophe so a spreadsheet shows it as text"),
    Opt::new("--job-poll", duration(MILLISECOND, Duration::from_secs(600)), "2s", "first interval between job status polls, growing to 30s"),
    Opt::new("--job-timeout", duration(MINUTE, days(7)), "6h", "the longest one job may take from submission to fulfilled before it is deleted and submitted again"),
    Opt::new("--region", Kind::Text("R"), "", "Genesys Cloud region: eu-west-1, eu_west_1 or mypurecloud.ie").env(REGION_ENV).check(),
    Opt::new("--api-base", Kind::Text("URL"), "", "API base URL, overriding the region (a gateway, a simulator)").check(),
    Opt::new("--login-base", Kind::Text("URL"), "", "login base URL; when not given, --api-base with api. replaced by login., else the region's").check(),
    Opt::new("--client-secret-file", Kind::Text("PATH"), "", "read the OAuth client's secret from PATH (a trailing newline is dropped)").env(SECRET_FILE_ENV).check(),
    Opt::new("--ca-file", Kind::Text("PEM"), "", "trust these CA certificates instead of the built-in roots (for TLS-inspecting proxies; HTTPS_PROXY, ALL_PROXY and NO_PROXY are read as curl reads them)").check(),
    Opt::new("--timeout", duration(MILLISECOND, HOUR), "2m", "limit for one HTTP request").check(),
    Opt::new("--max-retries", count(0, 1000), "10", "retries of one request before giving up").check(),
    Opt::new("--max-wait", duration(Duration::ZERO, days(7)), "30m", "total time the run may spend waiting to retry").check(),
    Opt::new("--backoff", duration(Duration::ZERO, Duration::from_secs(600)), "1s", "first backoff step, doubled per retry up to 60s").check(),
    Opt::new("--log-format", Kind::Text("text|json"), "text", "lines on stderr as text, or one JSON object each (time, level, message and the figures as fields) for a log shipper; check writes its report lines so too").env(LOG_FORMAT_ENV).check(),
    Opt::flag("--no-progress", "no progress line (shown only when stderr is a terminal and the log format is text)"),
    Opt::flag("--quiet", "print errors only").short("-q"),
    Opt::flag("--help", "print this help").short("-h").check(),
    Opt::flag("--version", "print the version").short("-V").check(),
];

/// The row of the option `word` (`-o` or `--output`) names in `table`.
pub fn find<'t>(table: &'t [Opt], word: &str) -> Option<&'t Opt> {
    table.iter().find(|opt| opt.is_named(word))
}

/// The row of `name` in [`OPTIONS`]. Every name the code asks for is in the table (a unit
/// test asks for each), so a missing one is a programming error caught by the tests; it
/// falls back to a flag row rather than panicking.
pub fn row(name: &str) -> &'static Opt {
    const MISSING: Opt = Opt::flag("--missing", "");
    find(OPTIONS, name).unwrap_or(&MISSING)
}

/// The column where help lines start, and the width they wrap at.
const HELP_COLUMN: usize = 27;
const HELP_WIDTH: usize = 95;

/// The OPTIONS section for `command`: one entry per option it takes, the help line wrapped
/// under its column and its bracket (default, range, variable) at the end.
pub fn help_section(table: &[Opt], command: Cmd) -> String {
    let mut out = String::new();
    for opt in table.iter().filter(|opt| opt.takes(command)) {
        let usage = format!("    {}", opt.usage());
        // The bracket stays on one line, whole.
        let bracket = opt.bracket();
        let words = opt.help.split(' ').chain(bracket.as_deref());
        let mut line = usage.clone();
        if usage.len() + 1 > HELP_COLUMN {
            out.push_str(&usage);
            out.push('\n');
            line = String::new();
        }
        for word in words {
            if line.len() >= HELP_COLUMN && line.len() + 1 + word.len() > HELP_WIDTH {
                out.push_str(&line);
                out.push('\n');
                line = String::new();
            }
            if line.len() < HELP_COLUMN {
                line = format!("{line:<HELP_COLUMN$}{word}");
            } else {
                line.push(' ');
                line.push_str(word);
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_of_a_number_or_duration_parses_and_lies_in_its_range() {
        for opt in OPTIONS {
            match opt.kind {
                Kind::Count { min, max } => {
                    let d = opt
                        .default_count()
                        .unwrap_or_else(|| panic!("{}", opt.name));
                    assert!((min..=max).contains(&d), "{}", opt.name);
                }
                Kind::Duration { min, max } => {
                    let d = opt
                        .default_duration()
                        .unwrap_or_else(|| panic!("{}", opt.name));
                    assert!(min <= d && d <= max, "{}", opt.name);
                }
                Kind::Flag => assert!(opt.default.is_empty(), "{}", opt.name),
                Kind::Text(_) => {}
            }
        }
    }

    #[test]
    fn names_are_unique_and_spelled_as_options() {
        for (i, opt) in OPTIONS.iter().enumerate() {
            assert!(opt.name.starts_with("--"), "{}", opt.name);
            assert!(opt.short.is_none_or(|s| s.len() == 2), "{}", opt.name);
            for other in &OPTIONS[..i] {
                assert!(!other.is_named(opt.name), "{} twice", opt.name);
                assert!(opt.short.is_none_or(|s| !other.is_named(s)), "{}", opt.name);
            }
            assert!(!opt.commands.is_empty(), "{}", opt.name);
        }
        assert_eq!(row("--missing").name, "--missing");
        assert_eq!(row("-o").name, "--output");
    }

    #[test]
    fn help_lines_fit_and_keep_every_word() {
        let help = help_section(OPTIONS, Cmd::Export);
        for line in help.lines() {
            assert!(line.len() <= HELP_WIDTH, "{line}");
        }
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let want: Vec<String> = OPTIONS
            .iter()
            .flat_map(|o| {
                let mut w = words(&o.usage());
                w.extend(words(o.help));
                w.extend(o.bracket().map(|b| words(&b)).unwrap_or_default());
                w
            })
            .collect();
        assert_eq!(words(&help), want);
        assert!(help.contains("    --window DUR           length of one query window"));
        assert!(help.contains("\n    --client-secret-file PATH\n                           read"));
    }
}
