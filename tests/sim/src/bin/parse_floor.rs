//! `parse-floor FILE...`: the CPU floor of reading conversations, for `make bench`.
//!
//! Each FILE is a JSON Lines export: one conversation per line, its text exactly as the reply
//! carried it. The lines are put back into pages of `--page` conversations
//! (`{"conversations":[…]}`, the reply's envelope) and each page is parsed by serde_json into
//! `Value` and into `IgnoredAny`, the best of five rounds, in CPU time. Prints, per file, one
//! line: `FILE CONVERSATIONS VALUE_MS IGNORED_MS`, milliseconds per 1 000 conversations.

use std::time::{Duration, Instant};

use serde::de::IgnoredAny;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut page = 100;
    if let Some(at) = args.iter().position(|a| a == "--page") {
        page = args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or_else(|| fail("--page needs a positive number"));
        args.drain(at..at + 2);
    }
    if args.is_empty() {
        fail("usage: parse-floor [--page N] FILE...");
    }
    for file in &args {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| fail(&format!("{file}: {e}")));
        let lines: Vec<&str> = text.lines().collect();
        let pages: Vec<Vec<u8>> = lines
            .chunks(page)
            .map(|chunk| format!(r#"{{"conversations":[{}]}}"#, chunk.join(",")).into_bytes())
            .collect();
        let value = best(|| {
            for p in &pages {
                let v: serde_json::Value =
                    serde_json::from_slice(p).unwrap_or_else(|e| fail(&e.to_string()));
                std::hint::black_box(v);
            }
        });
        let ignored = best(|| {
            for p in &pages {
                let v: IgnoredAny =
                    serde_json::from_slice(p).unwrap_or_else(|e| fail(&e.to_string()));
                std::hint::black_box(v);
            }
        });
        let per_1000 = |d: Duration| d.as_secs_f64() * 1e3 * 1000.0 / lines.len().max(1) as f64;
        println!(
            "{file} {} {:.2} {:.2}",
            lines.len(),
            per_1000(value),
            per_1000(ignored)
        );
    }
}

/// The shortest of five runs of `f`, in CPU time where the system tells it (the machine may
/// be busy with other work), else in wall time.
fn best(mut f: impl FnMut()) -> Duration {
    (0..5)
        .map(|_| {
            let (wall, cpu) = (Instant::now(), on_cpu());
            f();
            match (cpu, on_cpu()) {
                (Some(a), Some(b)) => b.saturating_sub(a),
                _ => wall.elapsed(),
            }
        })
        .min()
        .unwrap_or_default()
}

/// The time this thread has spent on a CPU (Linux: the first field of its schedstat).
fn on_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn fail(message: &str) -> ! {
    eprintln!("parse-floor: {message}");
    std::process::exit(2)
}
