//! `losslab serve`: the lab's page to play with, on localhost only. The page
//! (`GET /`, `?lang=en|zh`) sends every change of its controls to
//! `POST /api/eval` ([`crate::lab::api`]), which answers with the values and
//! gradients the registry computes; nothing else is served.
//!
//! The HTTP is written here, small and strict, rather than taken from a
//! crate: one request per connection (`Connection: close`), `Content-Length`
//! bodies only, a bounded request (16 KiB of headers, 1 MiB of body), a
//! deadline for reading it (a slow client is dropped, never waited for), a
//! bounded number of connections at once, the `Host` header checked against
//! the address it listens on (a page from elsewhere cannot reach it through
//! DNS rebinding), and a panic in one request answered with a 500 without
//! stopping the server. The crates that do HTTP well (hyper, axum) bring an
//! async runtime for what is a page and one endpoint.

use crate::lab::api;
use crate::lab::page;
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The flags of `losslab serve`, as given.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The port on 127.0.0.1 (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The page's language when the address does not say (`?lang=`): en or zh;
    /// by default the language of the LANG environment variable where it is
    /// Chinese, else English.
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
    /// Seconds a client has to send its whole request (tests shorten it).
    #[arg(long, hide = true, default_value_t = READ_DEADLINE.as_secs())]
    pub read_deadline: u64,
}

/// The most bytes of a request's line and headers.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most bytes of a request's body.
pub const MAX_BODY: usize = 1 << 20;
/// The time a client has to send its whole request, by default.
pub const READ_DEADLINE: Duration = Duration::from_secs(10);
/// The most connections served at once; more are answered 503.
pub const MAX_CONNECTIONS: usize = 32;

/// Runs `losslab serve` until it is stopped: prints the address, then
/// answers requests.
///
/// # Errors
/// An unknown `--lang`, or a port that cannot be bound.
pub fn run(args: &ServeArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let lang = page::Lang::choose(args.lang.as_deref(), std::env::var("LANG").ok().as_deref())?;
    let listener = TcpListener::bind(("127.0.0.1", args.port)).with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    writeln!(out, "losslab serve: http://{addr}/ (the page in {}; Ctrl-C stops it)", lang.code())?;
    out.flush()?;
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = respond(&mut stream, 503, "application/json", &error_body("too many connections at once; try again"));
            continue;
        }
        let active = Arc::clone(&active);
        let deadline = Duration::from_secs(args.read_deadline);
        std::thread::spawn(move || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve_one(&mut stream, addr, lang, deadline)));
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// A request line, its headers and its body.
struct Request {
    method: String,
    target: String,
    host: Option<String>,
    body: Vec<u8>,
}

fn error_body(message: &str) -> Vec<u8> {
    serde_json::json!({ "error": message }).to_string().into_bytes()
}

fn serve_one(stream: &mut TcpStream, addr: SocketAddr, lang: page::Lang, deadline: Duration) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let request = match read_request(stream, deadline) {
        Ok(r) => r,
        Err(ReadError::Closed) => return,
        Err(ReadError::Bad(status, msg)) => {
            let _ = respond(stream, status, "application/json", &error_body(&msg));
            return;
        }
    };
    let (status, ctype, body) = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| route(&request, addr, lang))) {
        Ok(r) => r,
        Err(_) => (500, "application/json", error_body("internal error: the computation panicked (a bug in losslab: please report it)")),
    };
    let _ = respond(stream, status, ctype, &body);
}

fn route(r: &Request, addr: SocketAddr, lang: page::Lang) -> (u16, &'static str, Vec<u8>) {
    let host_ok = r.host.as_deref().is_some_and(|h| h == format!("127.0.0.1:{}", addr.port()) || h == format!("localhost:{}", addr.port()));
    if !host_ok {
        return (400, "application/json", error_body(&format!("the Host header must be 127.0.0.1:{0} or localhost:{0}", addr.port())));
    }
    let (path, query) = r.target.split_once('?').unwrap_or((&r.target, ""));
    match (r.method.as_str(), path) {
        ("GET", "/" | "/index.html") => {
            let lang = match query.split('&').find_map(|kv| kv.strip_prefix("lang=")) {
                None => lang,
                Some(code) => match page::Lang::from_code(code) {
                    Some(l) => l,
                    None => return (400, "application/json", error_body(&format!("unknown language `{code}`: expected en or zh"))),
                },
            };
            (200, "text/html; charset=utf-8", page::html(lang).into_bytes())
        }
        ("POST", "/api/eval") => match api::eval_json(&r.body) {
            Ok(v) => (200, "application/json", v.to_string().into_bytes()),
            Err(e) => (400, "application/json", error_body(&e.0)),
        },
        (_, "/" | "/index.html") => (405, "application/json", error_body(&format!("{} {path}: only GET is served here", r.method))),
        (_, "/api/eval") => (405, "application/json", error_body(&format!("{} /api/eval: only POST is served here", r.method))),
        _ => (404, "application/json", error_body(&format!("{path} is not served: the page is / and the API is POST /api/eval"))),
    }
}

enum ReadError {
    /// The client went away (or sent nothing in time): nothing to answer.
    Closed,
    /// A bad request: the status and the message.
    Bad(u16, String),
}

fn read_request(stream: &mut TcpStream, allowed: Duration) -> Result<Request, ReadError> {
    let deadline = Instant::now() + allowed;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    // The head: until the blank line. Each byte is searched once (a client that
    // sends its head a byte at a time costs linear time, not quadratic): a new
    // search starts 3 bytes before the end of the last one.
    let mut searched = 0usize;
    let head_end = loop {
        if let Some(p) = find(&buf[searched.saturating_sub(3)..], b"\r\n\r\n").map(|p| p + searched.saturating_sub(3)).filter(|&p| p <= MAX_HEAD) {
            break p;
        }
        searched = buf.len();
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Bad(400, format!("the request's headers exceed {MAX_HEAD} bytes")));
        }
        match read_some(stream, &mut chunk, deadline)? {
            0 if buf.is_empty() => return Err(ReadError::Closed),
            0 => return Err(ReadError::Bad(400, "the request ended before its headers did".into())),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).map_err(|_| ReadError::Bad(400, "the request's headers are not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(ReadError::Bad(400, format!("a malformed request line: `{}`", line.chars().take(80).collect::<String>())));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(400, format!("unsupported protocol `{version}`: HTTP/1.x only")));
    }
    let mut length = None;
    let mut host = None;
    for h in lines {
        let Some((name, value)) = h.split_once(':') else {
            return Err(ReadError::Bad(400, "a malformed header line".into()));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| ReadError::Bad(400, format!("Content-Length `{value}` is not a number")))?;
            if n > MAX_BODY {
                return Err(ReadError::Bad(400, format!("a request body of {n} bytes exceeds the limit of {MAX_BODY} bytes")));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ReadError::Bad(400, "chunked bodies are not accepted: send Content-Length".into()));
        } else if name.eq_ignore_ascii_case("host") {
            host = Some(value.to_string());
        }
    }
    let length = match (method, length) {
        ("POST", None) => return Err(ReadError::Bad(400, "a POST needs a Content-Length header".into())),
        (_, n) => n.unwrap_or(0),
    };
    let mut body = buf.split_off(head_end + 4);
    if body.len() > length {
        return Err(ReadError::Bad(400, "more bytes than Content-Length says (one request per connection)".into()));
    }
    while body.len() < length {
        match read_some(stream, &mut chunk, deadline)? {
            0 => return Err(ReadError::Bad(400, format!("the body ended after {} of its {length} bytes", body.len()))),
            n if body.len() + n > length => return Err(ReadError::Bad(400, "more bytes than Content-Length says".into())),
            n => body.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(Request { method: method.to_string(), target: target.to_string(), host, body })
}

/// Reads what is there before the deadline; a client that sends nothing in
/// time is dropped.
fn read_some(stream: &mut TcpStream, chunk: &mut [u8], deadline: Instant) -> Result<usize, ReadError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ReadError::Bad(408, "the request was not sent in time".into()));
    }
    stream.set_read_timeout(Some(left.min(Duration::from_secs(1)))).map_err(|_| ReadError::Closed)?;
    loop {
        match stream.read(chunk) {
            Ok(n) => return Ok(n),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    return Err(ReadError::Bad(408, "the request was not sent in time".into()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadError::Closed),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn respond(stream: &mut TcpStream, status: u16, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}
