//! The standalone `genesys-sim` binary, for `make demo` and manual poking.
//!
//! This module owns command-line parsing (by hand, std only), the port file and the id dump.
//! Everything else is the library. It serves until killed.

use std::process::ExitCode;
use std::time::Duration;

use genesys_sim::{Faults, RateLimit, Sim, SimConfig};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

const USAGE: &str = "\
usage: genesys-sim [options]

  --listen ADDR            address to bind (default 127.0.0.1:0)
  --port-file PATH         write the base URL to PATH (atomically) once listening
  --seed N                 data seed (default 1)
  --conversations N        conversations to generate (default 2000)
  --from TIME              first conversationStart, RFC 3339 or YYYY-MM-DD (default 2026-11-01)
  --to TIME                end of the start range, exclusive (default 2026-11-03)
  --ongoing-fraction F     share of conversations still live (default 0.02)
  --token-lifetime SECS    access-token lifetime (default 3600)
  --fault-rate P           API fault probability, split evenly over revoke, 429, 5xx,
                           html, reset and truncate (default 0)
  --token-fault-rate P     token-endpoint fault probability, split over 429, 5xx, html,
                           reset and truncate (default: the same as --fault-rate)
  --retry-after SECS|none  Retry-After on injected 429s (default 1)
  --arrivals-per-page N    conversations added while paging (default 0)
  --client-id ID           accepted client id (default sim-client)
  --client-secret S        accepted client secret (default sim-secret)
  --latency-ms N           delay added to every response; requests in flight wait it out
                           side by side (default 0)
  --rate-limit N/DUR       admit at most N API requests in any sliding window DUR (e.g.
                           5/1s, 300/60s, 10/500ms); past it 429 with Retry-After. Every
                           API response carries inin-ratelimit-* (default: none enforced,
                           the headers advertise 300/60s)
  --malformed-rate P       API probability of a malformed 200 reply, split evenly over
                           garbled JSON, [], blank, a page without conversations, a
                           conversation without id, and a 5xx echoing the token (default 0)
  --duplicate-hits F       share of conversations the details query lists twice, so pages
                           come back short before the end (default 0)
  --availability TIME      jobs' dataAvailabilityDate, RFC 3339 or YYYY-MM-DD; jobs return
                           only conversations started before it (default: --to)
  --job-polls N            job status polls answering QUEUED/PENDING before FULFILLED
                           (default 2)
  --job-fulfil-after-ms N  fulfil a job N ms after its submission, however often it is
                           polled (default: after --job-polls polls)
  --job-lifetime-s N       a job expires N s after its submission (default 3600)
  --job-max-page-size N    largest accepted job results pageSize (default 1000)
  --forbid AREA            answer 403 missing.permissions, naming the permission, on
                           details (the query and jobs), queues or jobs (repeatable)
  --date-offset SECS       the Date header runs SECS seconds ahead of the clock (negative:
                           behind), as a server whose clock differs (default 0)
  --dump-ids PATH          write ids with start in [from, to), one per line, by (start, id)
  --dump-ended-ids PATH    the same, only conversations that have a conversationEnd
";

/// Parsed command line.
struct Args {
    listen: String,
    port_file: Option<String>,
    dump_ids: Option<String>,
    dump_ended_ids: Option<String>,
    cfg: SimConfig,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("genesys-sim: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let Some(args) = parse_args(std::env::args().skip(1).collect())? else {
        print!("{USAGE}");
        return Ok(());
    };
    let (from, to) = (args.cfg.start, args.cfg.end);
    let sim = Sim::start_on(args.cfg, &args.listen)
        .map_err(|e| format!("failed to listen on {}: {e}", args.listen))?;
    if let Some(path) = &args.dump_ids {
        write_atomically(path, &lines(&sim.ground_truth(from, to)))?;
    }
    if let Some(path) = &args.dump_ended_ids {
        write_atomically(path, &lines(&sim.ended_ids(from, to)))?;
    }
    let url = sim.url();
    if let Some(path) = &args.port_file {
        write_atomically(path, &format!("{url}\n"))?;
    }
    println!("genesys-sim listening on {url}");
    loop {
        std::thread::park();
    }
}

fn lines(ids: &[String]) -> String {
    ids.iter().map(|id| format!("{id}\n")).collect()
}

/// Writes to `PATH.tmp` and renames it over `PATH`, so a reader never sees half a file.
fn write_atomically(path: &str, contents: &str) -> Result<(), String> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, contents).map_err(|e| format!("failed to write {tmp}: {e}"))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("failed to rename {tmp} to {path}: {e}"))
}

/// Returns None when help was asked for.
fn parse_args(raw: Vec<String>) -> Result<Option<Args>, String> {
    let mut args = Args {
        listen: "127.0.0.1:0".to_string(),
        port_file: None,
        dump_ids: None,
        dump_ended_ids: None,
        cfg: SimConfig::default(),
    };
    let mut fault_rate = 0.0;
    let mut malformed_rate = 0.0;
    let mut token_fault_rate = None;
    let mut retry_after = Some(1);
    let mut availability = None;
    let mut iter = raw.into_iter();
    while let Some(flag) = iter.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (flag.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| iter.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--listen" => args.listen = value()?,
            "--port-file" => args.port_file = Some(value()?),
            "--dump-ids" => args.dump_ids = Some(value()?),
            "--dump-ended-ids" => args.dump_ended_ids = Some(value()?),
            "--seed" => args.cfg.seed = number(&name, &value()?)?,
            "--conversations" => args.cfg.conversations = number(&name, &value()?)?,
            "--from" => args.cfg.start = instant(&name, &value()?)?,
            "--to" => args.cfg.end = instant(&name, &value()?)?,
            "--ongoing-fraction" => args.cfg.ongoing_fraction = fraction(&name, &value()?)?,
            "--token-lifetime" => {
                args.cfg.token_lifetime = Duration::from_secs(number(&name, &value()?)?)
            }
            "--fault-rate" => fault_rate = fraction(&name, &value()?)?,
            "--token-fault-rate" => token_fault_rate = Some(fraction(&name, &value()?)?),
            "--retry-after" => {
                let text = value()?;
                retry_after = if text == "none" {
                    None
                } else {
                    Some(number(&name, &text)?)
                };
            }
            "--arrivals-per-page" => args.cfg.arrivals_per_page = number(&name, &value()?)?,
            "--client-id" => args.cfg.client_id = value()?,
            "--client-secret" => args.cfg.client_secret = value()?,
            "--latency-ms" => args.cfg.latency = Duration::from_millis(number(&name, &value()?)?),
            "--rate-limit" => args.cfg.rate_limit = Some(rate_limit(&name, &value()?)?),
            "--malformed-rate" => malformed_rate = fraction(&name, &value()?)?,
            "--duplicate-hits" => args.cfg.duplicate_hits = fraction(&name, &value()?)?,
            "--job-fulfil-after-ms" => {
                let ms = number(&name, &value()?)?;
                args.cfg.job_fulfil_after = Some(Duration::from_millis(ms));
            }
            "--job-lifetime-s" => {
                args.cfg.job_lifetime = Duration::from_secs(number(&name, &value()?)?)
            }
            "--availability" => availability = Some(instant(&name, &value()?)?),
            "--job-polls" => args.cfg.job_polls_to_fulfil = number(&name, &value()?)?,
            "--job-max-page-size" => {
                let n: u32 = number(&name, &value()?)?;
                if n == 0 {
                    return Err(format!("{name}: must be at least 1"));
                }
                args.cfg.job_max_page_size = n;
            }
            "--forbid" => match value()?.as_str() {
                "details" => args.cfg.details_forbidden = true,
                "queues" => args.cfg.queues_forbidden = true,
                "jobs" => args.cfg.jobs_forbidden = true,
                other => return Err(format!("{name}: '{other}' is not details, queues or jobs")),
            },
            "--date-offset" => args.cfg.date_offset_secs = number(&name, &value()?)?,
            _ => return Err(format!("unknown option {flag}; try --help")),
        }
    }
    if args.cfg.start >= args.cfg.end {
        return Err("--from must be before --to".to_string());
    }
    // Everything generated is in the data lake unless told otherwise.
    args.cfg.data_availability = availability.unwrap_or(args.cfg.end);
    args.cfg.faults = Faults {
        p_bad_json: malformed_rate / 6.0,
        p_empty_array: malformed_rate / 6.0,
        p_blank: malformed_rate / 6.0,
        p_hits_without_conversations: malformed_rate / 6.0,
        p_missing_id: malformed_rate / 6.0,
        p_echo: malformed_rate / 6.0,
        ..spread(fault_rate, true, retry_after)
    };
    args.cfg.token_faults = spread(token_fault_rate.unwrap_or(fault_rate), false, retry_after);
    Ok(Some(args))
}

/// Splits a total fault probability evenly over the kinds that make sense on the endpoint.
fn spread(rate: f64, with_revoke: bool, retry_after_secs: Option<u64>) -> Faults {
    let kinds = if with_revoke { 6.0 } else { 5.0 };
    let each = rate / kinds;
    Faults {
        p_revoke: if with_revoke { each } else { 0.0 },
        p_429: each,
        p_5xx: each,
        p_html: each,
        p_reset: each,
        p_truncate: each,
        retry_after_secs,
        ..Faults::default()
    }
}

/// Parses `N/DUR`: N requests (at least 1) per DUR, a positive number with `ms`, `s` or `m`.
fn rate_limit(name: &str, text: &str) -> Result<RateLimit, String> {
    let bad =
        || format!("{name}: '{text}' is not N/DUR with N and DUR above 0, e.g. 5/1s or 300/60s");
    let (allowed, window) = text.split_once('/').ok_or_else(bad)?;
    let allowed: u32 = allowed.parse().map_err(|_| bad())?;
    let (digits, unit_ms) = if let Some(ms) = window.strip_suffix("ms") {
        (ms, 1)
    } else if let Some(s) = window.strip_suffix('s') {
        (s, 1000)
    } else if let Some(m) = window.strip_suffix('m') {
        (m, 60_000)
    } else {
        return Err(bad());
    };
    let count: u64 = digits.parse().map_err(|_| bad())?;
    let window_ms = count.checked_mul(unit_ms).ok_or_else(bad)?;
    if allowed == 0 || window_ms == 0 {
        return Err(bad());
    }
    Ok(RateLimit {
        allowed,
        window: Duration::from_millis(window_ms),
    })
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{name}: '{text}' is not a valid number"))
}

fn fraction(name: &str, text: &str) -> Result<f64, String> {
    let value: f64 = number(name, text)?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{name}: '{text}' is not between 0 and 1"));
    }
    Ok(value)
}

/// Accepts RFC 3339 or a bare `YYYY-MM-DD` (midnight UTC).
fn instant(name: &str, text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| format!("{name}: '{text}' is neither RFC 3339 nor YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn parses_flags() {
        let args = parse(&[
            "--seed",
            "7",
            "--from",
            "2026-11-02",
            "--to=2026-11-02T12:00:00Z",
            "--fault-rate",
            "0.6",
            "--retry-after",
            "none",
            "--latency-ms",
            "5",
            "--port-file",
            "/tmp/x",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(args.cfg.seed, 7);
        assert_eq!(args.cfg.start, datetime!(2026-11-02 00:00 UTC));
        assert_eq!(args.cfg.end, datetime!(2026-11-02 12:00 UTC));
        assert!((args.cfg.faults.p_reset - 0.1).abs() < 1e-9);
        assert!((args.cfg.token_faults.p_reset - 0.12).abs() < 1e-9);
        assert_eq!(args.cfg.token_faults.p_revoke, 0.0);
        assert_eq!(args.cfg.faults.retry_after_secs, None);
        assert_eq!(args.cfg.latency, Duration::from_millis(5));
        assert_eq!(args.port_file.as_deref(), Some("/tmp/x"));
        assert_eq!(args.cfg.data_availability, args.cfg.end);
        assert_eq!(args.cfg.job_polls_to_fulfil, 2);
        assert_eq!(args.cfg.job_max_page_size, 1000);
    }

    #[test]
    fn parses_permission_and_clock_flags() {
        let args = parse(&[
            "--forbid",
            "queues",
            "--forbid=jobs",
            "--date-offset",
            "-600",
        ])
        .unwrap()
        .unwrap();
        assert!(args.cfg.queues_forbidden && args.cfg.jobs_forbidden);
        assert!(!args.cfg.details_forbidden);
        assert_eq!(args.cfg.date_offset_secs, -600);
        assert!(parse(&["--forbid", "users"]).is_err());
        assert!(parse(&["--date-offset", "soon"]).is_err());
    }

    #[test]
    fn parses_job_flags() {
        let args = parse(&[
            "--availability",
            "2026-11-01T12:30:00Z",
            "--job-polls=0",
            "--job-max-page-size",
            "250",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(args.cfg.data_availability, datetime!(2026-11-01 12:30 UTC));
        assert_eq!(args.cfg.job_polls_to_fulfil, 0);
        assert_eq!(args.cfg.job_max_page_size, 250);
        let args = parse(&["--availability", "2026-11-02"]).unwrap().unwrap();
        assert_eq!(args.cfg.data_availability, datetime!(2026-11-02 00:00 UTC));
        assert!(parse(&["--availability", "soon"]).is_err());
        assert!(parse(&["--job-polls", "-1"]).is_err());
        assert!(parse(&["--job-max-page-size", "0"]).is_err());
    }

    #[test]
    fn parses_throughput_flags() {
        let args = parse(&[
            "--rate-limit",
            "5/1s",
            "--job-fulfil-after-ms=20000",
            "--job-lifetime-s",
            "600",
            "--duplicate-hits",
            "0.1",
            "--malformed-rate",
            "0.6",
        ])
        .unwrap()
        .unwrap();
        let limit = args.cfg.rate_limit.unwrap();
        assert_eq!((limit.allowed, limit.window), (5, Duration::from_secs(1)));
        assert_eq!(args.cfg.job_fulfil_after, Some(Duration::from_secs(20)));
        assert_eq!(args.cfg.job_lifetime, Duration::from_secs(600));
        assert_eq!(args.cfg.duplicate_hits, 0.1);
        assert!((args.cfg.faults.p_echo - 0.1).abs() < 1e-9);
        assert!((args.cfg.faults.p_missing_id - 0.1).abs() < 1e-9);
        assert_eq!(args.cfg.faults.p_reset, 0.0);
        assert_eq!(args.cfg.token_faults.p_echo, 0.0);
        let defaults = parse(&[]).unwrap().unwrap().cfg;
        assert_eq!(
            (defaults.rate_limit, defaults.job_fulfil_after),
            (None, None)
        );
    }

    #[test]
    fn parses_rate_limits() {
        fn check(text: &str, want: Option<(u32, u64)>) {
            let got = rate_limit("--rate-limit", text).ok();
            let got = got.map(|l| (l.allowed, l.window.as_millis() as u64));
            assert_eq!(got, want, "{text}");
        }
        check("5/1s", Some((5, 1000)));
        check("300/60s", Some((300, 60_000)));
        check("10/500ms", Some((10, 500)));
        check("300/1m", Some((300, 60_000)));
        check("0/1s", None);
        check("5/0s", None);
        check("5/1h", None);
        check("5", None);
        check("x/1s", None);
        check("5/18446744073709551615m", None);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&["--seed"]).is_err());
        assert!(parse(&["--seed", "x"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--fault-rate", "2"]).is_err());
        assert!(parse(&["--duplicate-hits", "1.5"]).is_err());
        assert!(parse(&["--rate-limit", "fast"]).is_err());
        assert!(parse(&["--job-lifetime-s", "-1"]).is_err());
        assert!(parse(&["--from", "2026-11-03", "--to", "2026-11-02"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
    }
}
