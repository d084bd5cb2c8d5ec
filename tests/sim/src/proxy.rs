//! A CONNECT proxy for the tests, std only: it listens on a loopback port, answers
//! `CONNECT host:port` with a tunnel, and counts every CONNECT per target.
//!
//! Targets can be mapped to addresses (`api.sim.test:443` → the simulator's port), so a client
//! told to reach a name that no DNS knows gets to the simulator: a proxied client sends the
//! name in its CONNECT and never resolves it itself. With credentials set, a CONNECT without
//! the matching `Proxy-Authorization: Basic` is answered 407. Stopping it closes the port, so
//! its URL then names a proxy that is down.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use crate::auth::basic_credentials;

/// The most a CONNECT request may hold before its blank line.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// What the proxy does.
#[derive(Clone, Debug, Default)]
pub struct ProxyConfig {
    /// The user name and password a CONNECT must carry; none: any CONNECT is served.
    pub credentials: Option<(String, String)>,
    /// `host:port` as CONNECT names it → where the tunnel really goes. Targets not listed are
    /// connected to as named.
    pub map: Vec<(String, SocketAddr)>,
}

/// A running proxy; stopped when dropped.
pub struct ConnectProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stopped: AtomicBool,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    /// CONNECTs per target, served or not.
    connects: BTreeMap<String, u64>,
    /// CONNECTs answered 407.
    refused: u64,
}

impl ConnectProxy {
    /// Starts a proxy on `127.0.0.1:0`.
    pub fn start(config: ProxyConfig) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the proxy binds a loopback port");
        let addr = listener.local_addr().expect("the proxy's port");
        let shared = Arc::new(Shared::default());
        let config = Arc::new(config);
        let accept = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&shared);
                    let config = Arc::clone(&config);
                    thread::spawn(move || {
                        let _ = serve(stream, &config, &shared);
                    });
                }
            })
        };
        ConnectProxy {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://USER:PASSWORD@127.0.0.1:PORT` (neither needs escaping in the tests).
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// Every CONNECT so far, whatever its target or answer.
    pub fn connects(&self) -> u64 {
        self.counts().connects.values().sum()
    }

    /// The CONNECTs to `target` (`host:port`) so far.
    pub fn connects_to(&self, target: &str) -> u64 {
        self.counts().connects.get(target).copied().unwrap_or(0)
    }

    /// The CONNECTs answered 407 so far.
    pub fn refused(&self) -> u64 {
        self.counts().refused
    }

    /// Closes the port: new connections are refused. Tunnels already open run to their end.
    pub fn stop(&mut self) {
        if let Some(accept) = self.accept.take() {
            self.shared.stopped.store(true, Ordering::SeqCst);
            // Wake the accept loop so it sees the flag and drops the listener.
            let _ = TcpStream::connect(self.addr);
            let _ = accept.join();
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.shared
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One client connection: its CONNECT, then the tunnel.
fn serve(mut client: TcpStream, config: &ProxyConfig, shared: &Shared) -> io::Result<()> {
    let head = read_head(&mut client)?;
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut words = request.split(' ');
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        return client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
    };
    let target = target.to_string();
    {
        let mut counts = shared.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.connects.entry(target.clone()).or_default() += 1;
    }
    if let Some((user, password)) = &config.credentials {
        let given = lines
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("proxy-authorization"))
            .and_then(|(_, value)| basic_credentials(Some(value.trim())));
        if given.as_ref() != Some(&(user.clone(), password.clone())) {
            shared
                .counts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .refused += 1;
            return client.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"sim\"\r\nContent-Length: 0\r\n\r\n",
            );
        }
    }
    let upstream = match config.map.iter().find(|(name, _)| *name == target) {
        Some((_, addr)) => TcpStream::connect(addr),
        None => target
            .to_socket_addrs()
            .and_then(|mut addrs| addrs.next().ok_or_else(|| io::Error::other("no address")))
            .and_then(TcpStream::connect),
    };
    let Ok(upstream) = upstream else {
        return client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
    };
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    let (mut client_in, mut upstream_out) = (client.try_clone()?, upstream.try_clone()?);
    let up = thread::spawn(move || {
        let _ = io::copy(&mut client_in, &mut upstream_out);
        let _ = upstream_out.shutdown(Shutdown::Write);
    });
    let (mut upstream_in, mut client_out) = (upstream, client);
    let _ = io::copy(&mut upstream_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

/// The request up to its blank line, read byte by byte so nothing of the tunnel is taken.
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD_BYTES {
            return Err(io::Error::other("request head too long"));
        }
        let mut byte = [0u8];
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
