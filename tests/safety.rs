//! File safety as root in a shared directory, the secret from a file, and prompt signals, each
//! tried against the real binary. Each test is named after the defect it pins.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::{symlink, FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use genesys_sim::{Sim, SimConfig};

use crate::util::*;

fn sim() -> Sim {
    Sim::start(SimConfig {
        conversations: 300,
        ..SimConfig::default()
    })
}

/// A small query export to `out`.
fn args(out: &Path) -> Args {
    Args::range()
        .window("6h")
        .page_size("20")
        .mode("query")
        .out(out)
}

fn assert_exact(sim: &Sim, out: &Path) {
    assert_ids_eq(&csv_ids(&read(out)), &sim.ground_truth(ts(FROM), ts(TO)));
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// A file outside the export that a planted link points at; it must never change.
const VICTIM: &str = "precious data\n";

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_planted_partial_symlink_is_replaced_not_followed() {
    let sim = sim();
    let dir = Dir::new("partial-link");
    let out = dir.join("c.csv");
    let victim = dir.join("victim");
    fs::write(&victim, VICTIM).unwrap();
    symlink(&victim, partial_path(&out)).unwrap();
    export(&sim, &args(&out)).expect_code(0);
    assert_eq!(read(&victim), VICTIM);
    assert!(fs::symlink_metadata(&out).unwrap().file_type().is_file());
    assert_eq!(mode_of(&out), 0o600);
    assert_exact(&sim, &out);
}

#[test]
fn a_planted_state_temporary_symlink_is_removed_not_followed() {
    let sim = sim();
    let dir = Dir::new("state-tmp-link");
    let out = dir.join("c.csv");
    let victim = dir.join("victim");
    fs::write(&victim, VICTIM).unwrap();
    // The temporary name carries the writer's process id: plant one for a range of them.
    for pid in 1..200 {
        symlink(&victim, dir.join(&format!("c.csv.state.{pid}.tmp"))).unwrap();
    }
    crash_at(&sim, &args(&out), &out, "state-saved:2");
    assert_eq!(read(&victim), VICTIM);
    assert!(!dir.files().iter().any(|f| f.ends_with(".tmp")));
    export(&sim, &args(&out)).expect_code(0);
    assert_eq!(read(&victim), VICTIM);
    assert_exact(&sim, &out);
}

#[test]
fn an_output_that_is_not_a_regular_file_is_refused_even_with_force() {
    let sim = sim();
    let dir = Dir::new("not-regular");
    let victim = dir.join("victim");
    fs::write(&victim, VICTIM).unwrap();
    let fifo = dir.join("fifo.csv");
    mkfifo(&fifo);
    let link = dir.join("link.csv");
    symlink(&victim, &link).unwrap();
    let sub = dir.join("sub.csv");
    fs::create_dir(&sub).unwrap();
    let check = |out: &Path, what: &str| {
        let run = export(&sim, &args(out).flag("--force"));
        run.expect_code(2);
        assert!(run.stderr.contains(what), "{}", run.stderr);
        assert!(run.stderr.contains("-o -"), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert_eq!(sim.stats().token_requests, 0, "nothing is sent");
    };
    check(&fifo, "is not a regular file");
    check(&link, "is a symbolic link");
    check(&sub, "is a directory");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(read(&victim), VICTIM);
    assert_eq!(dir.files(), ["fifo.csv", "link.csv", "sub.csv", "victim"]);
}

#[test]
fn a_stale_0644_partial_gives_a_0600_file() {
    let sim = sim();
    let dir = Dir::new("stale-partial");
    // Without a state: the stale partial is started over.
    let out = dir.join("fresh.csv");
    fs::write(partial_path(&out), "stale,rows\n").unwrap();
    fs::set_permissions(partial_path(&out), fs::Permissions::from_mode(0o644)).unwrap();
    export(&sim, &args(&out)).expect_code(0);
    assert_eq!(mode_of(&out), 0o600);
    assert_exact(&sim, &out);
    // With a state: the partial is resumed, and its mode fixed.
    let out = dir.join("resumed.csv");
    crash_at(&sim, &args(&out), &out, "state-saved:3");
    fs::set_permissions(partial_path(&out), fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(state_path(&out), fs::Permissions::from_mode(0o644)).unwrap();
    let run = export(&sim, &args(&out));
    run.expect_code(0);
    assert!(run.stderr.contains("resuming"), "{}", run.stderr);
    assert_eq!(mode_of(&out), 0o600);
    assert_exact(&sim, &out);
}

#[test]
fn the_state_is_0600_under_umask_000() {
    let sim = sim();
    let dir = Dir::new("umask");
    let out = dir.join("c.csv");
    let mut cmd = command_with_umask(&sim, "000");
    cmd.args(&args(&out))
        .env("GENESYS_EXPORT_CRASH_AT", "state-saved:2");
    run_command(cmd).expect_abort();
    assert_eq!(mode_of(&state_path(&out)), 0o600);
    assert_eq!(mode_of(&partial_path(&out)), 0o600);
    let mut cmd = command_with_umask(&sim, "000");
    cmd.args(&args(&out));
    run_command(cmd).expect_code(0);
    assert_eq!(mode_of(&out), 0o600);
    assert_exact(&sim, &out);
}

/// An export of `args` with the secret only in the file `secret_file`, named by the flag.
fn export_with_secret_file(sim: &Sim, args: &Args, secret_file: &Path) -> Run {
    let mut cmd = command(sim);
    cmd.env_remove("GENESYSCLOUD_OAUTHCLIENT_SECRET")
        .args(args)
        .arg("--client-secret-file")
        .arg(secret_file);
    let run = run_command(cmd);
    assert_no_secrets(&run, sim);
    run
}

#[test]
fn the_secret_can_come_from_a_file_and_a_shared_one_is_warned_about() {
    let sim = sim();
    let dir = Dir::new("secret-file");
    let secret = dir.join("secret");
    fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let out = dir.join("c.csv");
    let run = export_with_secret_file(&sim, &args(&out), &secret);
    run.expect_code(0);
    assert!(!run.stderr.contains("chmod"), "{}", run.stderr);
    assert_exact(&sim, &out);

    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
    let out = dir.join("shared.csv");
    let run = export_with_secret_file(&sim, &args(&out), &secret);
    run.expect_code(0);
    assert!(
        run.stderr.lines().any(|l| l.starts_with("warning: ")
            && l.contains(secret.to_str().unwrap())
            && l.contains("chmod 600")),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unreadable_or_empty_secret_file_exits_2_naming_it() {
    let sim = sim();
    let dir = Dir::new("secret-file-bad");
    let out = dir.join("c.csv");
    let empty = dir.join("empty");
    fs::write(&empty, "\n").unwrap();
    for (file, want) in [
        (dir.join("missing"), "cannot read the client secret from"),
        (empty, "is empty"),
        (dir.path.clone(), "not a regular file"),
    ] {
        let run = export_with_secret_file(&sim, &args(&out), &file);
        run.expect_code(2);
        assert!(run.stderr.contains(want), "{}", run.stderr);
        assert!(
            run.stderr.contains(file.to_str().unwrap()),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    assert_eq!(sim.stats().token_requests, 0);
    assert_eq!(dir.files(), ["empty"]);
}

/// A loopback relay in front of the simulator that, while `stall` holds, swallows what clients
/// send, so that a request hangs as on a dead link; `swallowed` counts the bytes it kept.
struct Relay {
    url: String,
    swallowed: Arc<AtomicUsize>,
}

impl Relay {
    fn start(sim: &Sim, stall: impl Fn() -> bool + Send + Sync + 'static) -> Relay {
        let upstream = sim.url().trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let swallowed = Arc::new(AtomicUsize::new(0));
        let stall = Arc::new(stall);
        let count = Arc::clone(&swallowed);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut client_in, mut server_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (stall, count) = (Arc::clone(&stall), Arc::clone(&count));
                thread::spawn(move || {
                    let mut buf = [0; 16 * 1024];
                    while let Ok(n @ 1..) = client_in.read(&mut buf) {
                        if stall() {
                            count.fetch_add(n, Ordering::SeqCst);
                        } else if server_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = server_out.shutdown(Shutdown::Write);
                });
                thread::spawn(move || {
                    let _ = std::io::copy(&mut server, &mut client);
                    let _ = client.shutdown(Shutdown::Write);
                });
            }
        });
        Relay { url, swallowed }
    }
}

#[test]
fn sigterm_during_a_hung_request_ends_the_run_at_once_and_the_rerun_resumes_exactly() {
    // Regression: the driver waited for the hung request's timeout before noticing SIGTERM.
    let sim = sim();
    let dir = Dir::new("hung-sigterm");
    let out = dir.join("c.csv");
    let stalling = Arc::new(AtomicBool::new(true));
    let state = state_path(&out);
    let stall = {
        let stalling = Arc::clone(&stalling);
        move || stalling.load(Ordering::SeqCst) && state.exists()
    };
    let relay = Relay::start(&sim, stall);
    let args = args(&out).opt("--timeout", "1h");
    let mut cmd = command_at(&relay.url);
    cmd.args(&args);
    let mut child = spawn(cmd);
    wait_for("a request hanging after the first saved state", || {
        assert!(child.try_wait().unwrap().is_none(), "the export ended");
        relay.swallowed.load(Ordering::SeqCst) > 0
    });
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The relay holds the request until the run has exited and its timeout is an hour: only
    // the signal can end the run (`finish` gives up on a run that outlives its guard).
    let run = finish(child);
    assert!(stalling.load(Ordering::SeqCst));
    run.expect_code(130);
    assert!(
        run.stderr.contains("interrupted by SIGTERM"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
    assert_eq!(saved_output_len(&out), partial_len(&out));
    stalling.store(false, Ordering::SeqCst);
    let mut cmd = command_at(&relay.url);
    cmd.args(&args);
    let run = run_command(cmd);
    run.expect_code(0);
    assert!(run.stderr.contains("resuming"), "{}", run.stderr);
    assert_exact(&sim, &out);
}

/// The name, bytes (of regular files) and mode of everything in `dir`.
fn snapshot(dir: &Dir) -> Vec<(String, Vec<u8>, u32)> {
    let entry = |name: String| {
        let path = dir.join(&name);
        let bytes = match fs::symlink_metadata(&path).unwrap().is_file() {
            true => fs::read(&path).unwrap(),
            false => Vec::new(),
        };
        (name, bytes, mode_of(&path))
    };
    dir.files().into_iter().map(entry).collect()
}

/// Runs an export whose files clash; it must exit 2 naming `clash` before any request, and
/// leave the directory as it was.
fn refused_as_a_clash(sim: &Sim, dir: &Dir, args: &Args, clash: &str) {
    let before = snapshot(dir);
    let requests = sim.stats().token_requests + sim.stats().api_requests;
    let run = export(sim, args);
    run.expect_code(2);
    assert!(run.stderr.contains(clash), "{}", run.stderr);
    assert!(run
        .stderr
        .contains("name each of --output, --state and --pending differently"));
    assert!(
        !run.stderr.contains("another genesys-export"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sim.stats().token_requests + sim.stats().api_requests,
        requests
    );
    assert_eq!(snapshot(dir), before);
}

#[test]
fn a_ledger_or_state_that_is_one_of_the_runs_own_files_is_refused_in_every_spelling() {
    let sim = sim();
    let dir = Dir::new("own-files");
    let out = dir.join("n2.csv");
    let ledger = |name: &str| args(&out).opt("--pending", dir.join(name).to_str().unwrap());
    let state = |name: &str| args(&out).opt("--state", dir.join(name).to_str().unwrap());
    let partial = "is the same file as the export's partial file";
    refused_as_a_clash(&sim, &dir, &ledger("n2.csv.partial"), partial);
    refused_as_a_clash(&sim, &dir, &ledger("./n2.csv.partial"), partial);
    let state_clash = "is the same file as the export's state file";
    fs::create_dir(dir.join("sub")).unwrap();
    refused_as_a_clash(&sim, &dir, &ledger("sub/../n2.csv.state"), state_clash);
    refused_as_a_clash(
        &sim,
        &dir,
        &ledger("n2.csv"),
        "is the same file as --output",
    );
    refused_as_a_clash(&sim, &dir, &ledger("n2.csv.lock"), "the export's lock file");
    refused_as_a_clash(&sim, &dir, &state("n2.csv"), "is the same file as --output");
    refused_as_a_clash(&sim, &dir, &state("n2.csv.partial"), partial);
    // The ledger's own lock may not be the output either.
    let out_named_like_a_lock =
        args(&dir.join("l.json.lock")).opt("--pending", dir.join("l.json").to_str().unwrap());
    refused_as_a_clash(&sim, &dir, &out_named_like_a_lock, "the ledger's lock file");
    // An existing ledger reached through a link, and a state that is a hard link of it.
    fs::write(dir.join("pending.json"), "{}").unwrap();
    fs::set_permissions(dir.join("pending.json"), fs::Permissions::from_mode(0o644)).unwrap();
    symlink(dir.join("sub"), dir.join("alias")).unwrap();
    let linked = args(&out)
        .opt("--pending", dir.join("pending.json").to_str().unwrap())
        .opt(
            "--state",
            dir.join("alias/../pending.json").to_str().unwrap(),
        );
    refused_as_a_clash(
        &sim,
        &dir,
        &linked,
        "is the same file as the export's state file",
    );
    fs::hard_link(dir.join("pending.json"), dir.join("n2.csv.state")).unwrap();
    refused_as_a_clash(
        &sim,
        &dir,
        &ledger("pending.json"),
        "is the same file as the export's state file",
    );
    // Distinct files export as usual.
    fs::remove_file(dir.join("n2.csv.state")).unwrap();
    fs::remove_file(dir.join("pending.json")).unwrap();
    export(&sim, &ledger("pending.json")).expect_code(0);
    assert_exact(&sim, &out);
}

#[test]
fn a_second_signal_ends_a_stuck_run_at_once_and_erases_the_progress_line() {
    // The run stalls for good between a page's sync and its state save (a debug-build stall
    // point), deaf to the first signal; the second must end it with 130 from the handler,
    // erasing the progress line on the terminal first, and leave the last complete state.
    let sim = sim();
    let dir = Dir::new("second-signal");
    let out = dir.join("c.csv");
    let mut cmd = command(&sim);
    cmd.args(&args(&out))
        .env("GENESYS_EXPORT_CRASH_AT", "page-written:2:stall");
    let mut terminal = spawn(in_terminal(&cmd));
    // What the terminal shows, read as it comes.
    let shown = Watched::start(terminal.stdout.take().unwrap());
    shown.wait_for("stalled at page-written");
    let pid = fs::read_to_string(dir.join("c.csv.lock")).unwrap();
    let state = fs::read(state_path(&out)).unwrap();
    for _ in 0..2 {
        let status = Command::new("kill")
            .args(["-TERM", pid.trim()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let run = finish(terminal);
    run.expect_code(130);
    let shown = &shown.finish();
    assert!(shown.contains(" conversations, windows "), "{shown:?}");
    // Nothing ran after the handler: no summary, no error line, the line erased last.
    assert!(shown.ends_with("\r\x1b[K"), "{shown:?}");
    assert!(!shown.contains("interrupted by"), "{shown:?}");
    assert_eq!(fs::read(state_path(&out)).unwrap(), state);
    let run = export(&sim, &args(&out));
    run.expect_code(0);
    assert!(run.stderr.contains("resuming"), "{}", run.stderr);
    assert_exact(&sim, &out);
}
