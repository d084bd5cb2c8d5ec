//! Real TLS: the simulator serves HTTPS with certificates made when it starts. A certificate
//! from the CA given with `--ca-file` exports exactly; every broken setup (an unknown or wrong
//! CA, an expired certificate, another name, a server that does not speak TLS) ends the run at
//! once with exit 1: one connection, no request, one line naming the host, the problem and
//! `--ca-file`, and no file.

use std::path::PathBuf;

use genesys_sim::{Sim, SimConfig, TlsCert};

use crate::util::*;

fn start(tls: Option<TlsCert>) -> Sim {
    Sim::start(SimConfig {
        conversations: 300,
        tls,
        ..SimConfig::default()
    })
}

/// The simulator's CA certificate in a file of its own directory, for `--ca-file`.
fn ca_file(sim: &Sim) -> PathBuf {
    let dir = Dir::new("tls-ca");
    let path = dir.join("ca.pem");
    std::fs::write(&path, sim.ca_pem().expect("the simulator serves HTTPS")).unwrap();
    path
}

/// Exports from `base` (the simulator `sim` behind it), trusting `ca` when given, and checks
/// that the run ended at once: exit 1 after one connection and no HTTP request, a single error
/// line naming the host, `problem` and `--ca-file`, no retry, no file.
fn refused(sim: &Sim, base: &str, ca: Option<PathBuf>, problem: &str) {
    let dir = Dir::new("tls");
    let mut args = Args::range().mode("query").out(&dir.join("c.csv"));
    if let Some(ca) = ca {
        args = args.opt("--ca-file", ca.to_str().unwrap());
    }
    let mut cmd = command_at(base);
    cmd.args(&args);
    let run = run_command(cmd);
    run.expect_code(1);
    assert_no_secrets(&run, sim);
    let stats = sim.stats();
    assert_eq!(stats.connections, 1, "one connection, no retry");
    assert_eq!(stats.tls_handshakes, 0);
    assert_eq!(stats.token_requests + stats.api_requests, 0);
    assert!(!run.stderr.contains("retry"), "{}", run.stderr);
    let host = base.trim_start_matches("https://");
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.contains(host)).collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    let line = lines[0];
    assert!(line.contains(problem), "{line}");
    assert!(line.contains("--ca-file"), "{line}");
    assert_eq!(dir.files(), Vec::<String>::new());
}

#[test]
fn a_certificate_from_the_ca_in_ca_file_exports_exactly() {
    let sim = start(Some(TlsCert::Valid));
    assert!(sim.url().starts_with("https://localhost:"), "{}", sim.url());
    let dir = Dir::new("tls");
    let out = dir.join("c.csv");
    let ca = ca_file(&sim);
    let args = Args::range()
        .mode("query")
        .opt("--ca-file", ca.to_str().unwrap())
        .out(&out);
    let run = export(&sim, &args);
    run.expect_code(0);
    assert_no_secrets(&run, &sim);
    assert_ids_eq(&csv_ids(&read(&out)), &sim.ground_truth(ts(FROM), ts(TO)));
    assert_eq!(dir.files(), ["c.csv"]);
    assert!(sim.stats().tls_handshakes >= 1);
}

#[test]
fn an_unknown_ca_is_final_not_retried_as_a_network_error() {
    let sim = start(Some(TlsCert::Valid));
    refused(&sim, &sim.url(), None, "UnknownIssuer");
}

#[test]
fn a_wrong_ca_file_is_final_not_retried_as_a_network_error() {
    let sim = start(Some(TlsCert::OtherCa));
    refused(&sim, &sim.url(), Some(ca_file(&sim)), "UnknownIssuer");
}

#[test]
fn an_expired_certificate_is_final_not_retried_as_a_network_error() {
    let sim = start(Some(TlsCert::Expired));
    refused(&sim, &sim.url(), Some(ca_file(&sim)), "certificate expired");
}

#[test]
fn a_certificate_for_another_name_is_final_not_retried_as_a_network_error() {
    let sim = start(Some(TlsCert::WrongName));
    refused(&sim, &sim.url(), Some(ca_file(&sim)), "not valid for name");
}

#[test]
fn https_to_a_plain_http_server_is_final_not_retried_as_a_network_error() {
    let sim = start(None);
    let base = sim.url().replace("http://", "https://");
    refused(&sim, &base, None, "corrupt message");
}
