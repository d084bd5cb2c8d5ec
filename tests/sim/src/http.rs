//! A tiny HTTP/1.1 server on `std::net::TcpListener`: one thread per connection, keep-alive,
//! bodies framed by Content-Length only, over plain TCP or TLS (rustls).
//!
//! This module owns the socket. It parses requests into [`Request`] and turns a handler's
//! [`Reply`] into bytes on the wire, including the deliberately broken replies used for fault
//! injection: a connection closed without an answer, and a body cut off before its
//! Content-Length. It knows nothing about Genesys; routing and state live in `api`. It counts
//! the connections it accepted and the TLS handshakes that completed, so tests can tell how
//! often a client tried.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// The longest request head (request line plus headers) we accept.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The largest request body we accept; Genesys documents `request.bytes.max` = 512000.
const MAX_BODY_BYTES: usize = 512_000;
/// How long an idle keep-alive connection is kept before its thread gives up on it. This is
/// only a leak guard: dropping the server shuts every connection down at once.
const IDLE_TIMEOUT_SECS: u64 = 300;

/// One parsed HTTP request.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: String,
    /// The path without the query string, not percent-decoded.
    pub path: String,
    /// Query parameters in order, percent-decoded, repeated names kept.
    pub query: Vec<(String, String)>,
    /// Header names are stored lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter, in order.
    pub fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of a query parameter.
    pub fn query_first(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A complete HTTP response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body,
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        let body = serde_json::to_vec(value).expect("a json value always serializes");
        Response::new(status, "application/json", body)
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// What a handler wants written back for one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A normal response; the connection stays open unless the client asked to close it.
    Full(Response),
    /// Close the connection without writing a single byte.
    Reset,
    /// Write the head (with the full Content-Length) and the first half of the body, then close.
    Truncated(Response),
}

/// The request handler shared by every connection thread.
pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A running server; dropping it stops accepting and shuts down open connections.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<HashMap<u64, TcpStream>>>,
    counts: Arc<Counts>,
}

/// What the server saw below HTTP.
#[derive(Debug, Default)]
pub struct Counts {
    /// TCP connections accepted.
    pub accepted: AtomicU64,
    /// TLS handshakes completed.
    pub handshakes: AtomicU64,
}

/// What every connection thread needs.
struct Serving {
    handler: Handler,
    /// Serve TLS with this configuration; plain HTTP without.
    tls: Option<Arc<ServerConfig>>,
    counts: Arc<Counts>,
}

impl Server {
    /// Starts accepting on `listener` in a background thread; every connection speaks TLS
    /// first when `tls` is given.
    pub fn start(
        listener: TcpListener,
        handler: Handler,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
        let counts = Arc::new(Counts::default());
        let serving = Arc::new(Serving {
            handler,
            tls,
            counts: Arc::clone(&counts),
        });
        let accept_stop = Arc::clone(&stop);
        let accept_connections = Arc::clone(&connections);
        thread::Builder::new()
            .name("genesys-sim-accept".to_string())
            .spawn(move || accept_loop(listener, serving, accept_stop, accept_connections))?;
        Ok(Server {
            addr,
            stop,
            connections,
            counts,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connections accepted and TLS handshakes completed so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept thread is blocked in accept(); a throwaway connection wakes it up so it
        // can see the stop flag. Failure is fine: then the listener is already gone.
        let wake_addr = match self.addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                SocketAddr::from(([127, 0, 0, 1], a.port()))
            }
            other => other,
        };
        let _ = TcpStream::connect_timeout(&wake_addr, Duration::from_millis(200));
        let connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        for stream in connections.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    serving: Arc<Serving>,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<HashMap<u64, TcpStream>>>,
) {
    let next_id = AtomicU64::new(0);
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        serving.counts.accepted.fetch_add(1, Ordering::SeqCst);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, clone);
        }
        let serving = Arc::clone(&serving);
        let thread_connections = Arc::clone(&connections);
        let spawned = thread::Builder::new()
            .name("genesys-sim-conn".to_string())
            .spawn(move || {
                let _ = serve_connection(stream, &serving);
                thread_connections
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            });
        if spawned.is_err() {
            // Out of threads: the stream was moved into the failed closure and is dropped,
            // which closes it; forget the registered clone too.
            connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
    }
}

/// Serves requests on one connection, after a TLS handshake when serving TLS.
fn serve_connection(mut stream: TcpStream, serving: &Serving) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(IDLE_TIMEOUT_SECS)))?;
    stream.set_nodelay(true)?;
    let Some(config) = &serving.tls else {
        let writer = stream.try_clone()?;
        return serve_requests(BufReader::new(stream), writer, &serving.handler);
    };
    let mut conn = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        if let Err(err) = conn.complete_io(&mut stream) {
            // The alert, if rustls had one to send, is written; the client gave up or spoke
            // something else than TLS.
            let _ = stream.shutdown(Shutdown::Both);
            return Err(err);
        }
    }
    serving.counts.handshakes.fetch_add(1, Ordering::SeqCst);
    let tls = TlsHalf(Rc::new(RefCell::new(StreamOwned::new(conn, stream))));
    serve_requests(BufReader::new(tls.clone()), tls, &serving.handler)
}

/// The writing end of a connection, and the two ways to end it.
trait Wire: Write {
    /// Ends the connection after what was written.
    fn close(&mut self);
    /// Ends the connection at once, without a goodbye: a reset or a cut-off body.
    fn abort(&mut self);
}

impl Wire for TcpStream {
    fn close(&mut self) {
        let _ = self.shutdown(Shutdown::Both);
    }

    fn abort(&mut self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

/// One TLS connection shared by its reading and writing ends: one thread serves it, taking
/// turns, so a `RefCell` is enough.
#[derive(Clone)]
struct TlsHalf(Rc<RefCell<StreamOwned<ServerConnection, TcpStream>>>);

impl Read for TlsHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl Write for TlsHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

impl Wire for TlsHalf {
    fn close(&mut self) {
        let mut stream = self.0.borrow_mut();
        stream.conn.send_close_notify();
        let _ = stream.flush();
        let _ = stream.sock.shutdown(Shutdown::Both);
    }

    fn abort(&mut self) {
        let _ = self.0.borrow().sock.shutdown(Shutdown::Both);
    }
}

/// Serves requests until the client closes the connection or a reply closes it.
fn serve_requests(
    mut reader: BufReader<impl Read>,
    mut writer: impl Wire,
    handler: &Handler,
) -> io::Result<()> {
    loop {
        let request = match read_request(&mut reader, &mut writer) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(err) => {
                // A request we cannot parse gets a plain 400 and the connection is closed,
                // because we no longer know where the next request would start.
                if err.kind() == io::ErrorKind::InvalidData {
                    let body = format!("bad request: {err}\n").into_bytes();
                    let response = Response::new(400, "text/plain", body);
                    let _ = write_response(&mut writer, &response, false);
                }
                writer.close();
                return Ok(());
            }
        };
        let keep_alive = wants_keep_alive(&request);
        match handler(&request) {
            Reply::Full(response) => {
                write_response(&mut writer, &response, keep_alive)?;
                if !keep_alive {
                    writer.close();
                    return Ok(());
                }
            }
            Reply::Reset => {
                writer.abort();
                return Ok(());
            }
            Reply::Truncated(response) => {
                let half = response.body.len() / 2;
                writer.write_all(&head_bytes(&response, response.body.len(), true))?;
                writer.write_all(&response.body[..half])?;
                writer.flush()?;
                writer.abort();
                return Ok(());
            }
        }
    }
}

fn wants_keep_alive(request: &Request) -> bool {
    let connection = request
        .header("connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    if connection.contains("close") {
        return false;
    }
    // Requests are stored with the version in a pseudo-header by read_request.
    match request.header(":version") {
        Some("HTTP/1.0") => connection.contains("keep-alive"),
        _ => true,
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// Reads one request; `Ok(None)` means the client closed the connection cleanly between
/// requests. `writer` is only used to answer `Expect: 100-continue`.
pub fn read_request<R: BufRead>(
    reader: &mut R,
    writer: &mut impl Write,
) -> io::Result<Option<Request>> {
    // A request starts with its method or a blank line. Anything else, such as a TLS
    // ClientHello (0x16), is refused at once instead of waiting for a line end that may never
    // come, as a real server does.
    match reader.fill_buf()?.first() {
        None => return Ok(None),
        Some(b) if b.is_ascii_alphanumeric() || b.is_ascii_whitespace() => {}
        Some(_) => return Err(invalid("not an HTTP request")),
    }
    let mut head_len = 0usize;
    let mut line = String::new();
    // Skip blank lines before the request line, as RFC 9112 allows.
    loop {
        line.clear();
        let n = read_line_limited(reader, &mut line, MAX_HEAD_BYTES)?;
        if n == 0 {
            return Ok(None);
        }
        head_len += n;
        if !line.trim_end().is_empty() {
            break;
        }
    }
    let request_line = line.trim_end().to_string();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(invalid("unsupported http version"));
    }
    let mut headers = vec![(":version".to_string(), version.to_string())];
    loop {
        line.clear();
        let n = read_line_limited(reader, &mut line, MAX_HEAD_BYTES - head_len)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the request head",
            ));
        }
        head_len += n;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        let Some((name, value)) = trimmed.split_once(':') else {
            return Err(invalid("malformed header line"));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), parse_query(query)),
        None => (target.to_string(), Vec::new()),
    };
    let mut request = Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        return Err(invalid("chunked request bodies are not supported"));
    }
    let content_length = match request.header("content-length") {
        Some(value) => value
            .parse::<usize>()
            .map_err(|_| invalid("invalid content-length"))?,
        None => 0,
    };
    if content_length > MAX_BODY_BYTES {
        return Err(invalid("request body too large"));
    }
    if content_length > 0 {
        let expects_continue = request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if expects_continue {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            writer.flush()?;
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(Some(request))
}

/// Reads a line of at most `limit` bytes; longer lines are an error.
fn read_line_limited<R: BufRead>(
    reader: &mut R,
    line: &mut String,
    limit: usize,
) -> io::Result<usize> {
    let mut bytes = Vec::new();
    let n = reader
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut bytes)?;
    if n > limit {
        return Err(invalid("request head too large"));
    }
    if n > 0 && !bytes.ends_with(b"\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside the request head",
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| invalid("request head is not utf-8"))?;
    line.push_str(&text);
    Ok(n)
}

/// Splits a query string into decoded name/value pairs.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (percent_decode(name), percent_decode(value)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (as a space), as used in query strings and form bodies.
/// Malformed escapes are kept literally.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex digits are ascii");
                out.push(u8::from_str_radix(hex, 16).expect("two hex digits fit a byte"));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

fn head_bytes(response: &Response, content_length: usize, keep_alive: bool) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    // RFC 9110 §8.6: a 204 carries no Content-Length (and no body).
    if response.status != 204 {
        head.push_str(&format!("Content-Length: {content_length}\r\n"));
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    head.push_str(&format!("Connection: {connection}\r\n\r\n"));
    head.into_bytes()
}

fn write_response(
    writer: &mut impl Write,
    response: &Response,
    keep_alive: bool,
) -> io::Result<()> {
    let mut bytes = head_bytes(response, response.body.len(), keep_alive);
    bytes.extend_from_slice(&response.body);
    writer.write_all(&bytes)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> io::Result<Option<Request>> {
        let mut reader = BufReader::new(raw.as_bytes());
        read_request(&mut reader, &mut io::sink())
    }

    #[test]
    fn parses_a_post_with_a_body() {
        let raw = "POST /oauth/token?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        let request = parse(raw).unwrap().unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/oauth/token");
        assert_eq!(request.query_first("x"), Some("1"));
        assert_eq!(request.header("HOST"), Some("a"));
        assert_eq!(request.body, b"hello");
    }

    #[test]
    fn parses_repeated_encoded_query_params() {
        let query = parse_query("id=a%2Cb&id=c+d&pageSize=2&flag");
        assert_eq!(
            query,
            vec![
                ("id".to_string(), "a,b".to_string()),
                ("id".to_string(), "c d".to_string()),
                ("pageSize".to_string(), "2".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%C3%BC"), "ü");
    }

    #[test]
    fn clean_close_between_requests_is_not_an_error() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("GET / HTTP/1.1\r\nHost").is_err());
        assert!(parse("GARBAGE\r\n\r\n").is_err());
    }

    #[test]
    fn a_tls_client_hello_is_refused_without_waiting_for_a_line_end() {
        let mut reader = BufReader::new(&[0x16u8, 0x03, 0x01, 0x02, 0x00][..]);
        let err = read_request(&mut reader, &mut io::sink()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn chunked_bodies_are_refused() {
        let raw = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(parse(raw).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
