//! `losslab serve`: the page in both languages, the API's answers against the
//! registry's, and hostile requests (malformed JSON, non-finite numbers, huge
//! bodies and arrays, unknown losses, wrong hosts, methods and paths, slow
//! clients), each answered with its status and a message while the server
//! keeps serving.

use losslab_registry::{evaluate, EvalRequest, Tensor};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `losslab serve --port 0`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_losslab"))
            .args(["serve", "--port", "0", "--read-deadline", "1"])
            .args(extra)
            .env_remove("LANG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("losslab runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // "losslab serve: http://127.0.0.1:PORT/ (...)"
        let port = line.split("127.0.0.1:").nth(1).and_then(|s| s.split('/').next()).and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no address in {line:?}"));
        Server { child, port }
    }

    /// Sends raw bytes and returns (status, body).
    fn raw(&self, request: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(request).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        parse(&answer)
    }

    fn post(&self, path: &str, body: &str) -> (u16, String) {
        let req = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", self.port, body.len());
        self.raw(req.as_bytes())
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.raw(format!("GET {path} HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", self.port).as_bytes())
    }

    fn eval(&self, request: &Value) -> (u16, Value) {
        let (status, body) = self.post("/api/eval", &request.to_string());
        (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}")))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse(answer: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(answer).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn f64s(shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::F64(ndarray::ArrayD::from_shape_vec(shape, v.to_vec()).unwrap())
}

#[test]
fn the_page_in_both_languages_links_to_the_other() {
    let server = Server::start(&[]);
    let (status, en) = server.get("/");
    assert_eq!(status, 200);
    assert!(en.contains("<html lang=\"en\">") && en.contains("href=\"/?lang=zh\"") && en.contains("Cross entropy and MSE"), "{en}");
    let (status, zh) = server.get("/?lang=zh");
    assert_eq!(status, 200);
    assert!(zh.contains("<html lang=\"zh-CN\">") && zh.contains("href=\"/?lang=en\"") && zh.contains("交叉熵"));
    assert!(!en.contains("http://") && !en.contains("https://"), "the page loads nothing from the network");
    let (status, body) = server.get("/?lang=fr");
    assert_eq!(status, 400);
    assert!(body.contains("unknown language `fr`"), "{body}");
    drop(server);
    // --lang zh makes Chinese the default; the address still chooses.
    let server = Server::start(&["--lang", "zh"]);
    assert!(server.get("/").1.contains("<html lang=\"zh-CN\">"));
    assert!(server.get("/?lang=en").1.contains("<html lang=\"en\">"));
}

#[test]
fn the_api_answers_what_the_registry_computes() {
    let server = Server::start(&[]);
    let z = [2.0, 1.0, 0.1, -0.3, 0.7, 1.9];
    let (status, a) = server.eval(&json!({"loss": "cross_entropy", "tensors": {"input": [[2.0, 1.0, 0.1], [-0.3, 0.7, 1.9]], "target": [0, 2]}, "options": {"label_smoothing": 0.1}}));
    assert_eq!(status, 200, "{a}");
    let mut r = EvalRequest { want_grads: true, ..EvalRequest::default() };
    r.tensors.insert("input".into(), f64s(&[2, 3], &z).into());
    r.tensors.insert("target".into(), Tensor::I64(ndarray::arr1(&[0i64, 2]).into_dyn()).into());
    r.options.insert("label_smoothing".into(), losslab_registry::OptionValue::Float(0.1));
    let e = evaluate("cross_entropy", r).unwrap();
    let Tensor::F64(v) = &e.value else { panic!() };
    assert_eq!(a["value"].as_f64().unwrap(), v[[]], "the same number, to the bit");
    let Tensor::F64(g) = &e.grads["input"] else { panic!() };
    let got: Vec<f64> = a["grads"]["input"].as_array().unwrap().iter().flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap())).collect();
    assert_eq!(got, g.iter().copied().collect::<Vec<_>>());
    assert_eq!(a["loss"], "torch:cross_entropy");
    assert_eq!(a["reduction"], "mean");
    // The names `losslab eval` prints.
    for key in ["loss", "reduction", "dtype", "shape", "value", "grads", "outputs"] {
        assert!(a.get(key).is_some(), "{key} in {a}");
    }
}

#[test]
fn hostile_requests_get_400_and_the_server_keeps_serving() {
    let server = Server::start(&[]);
    let ok = json!({"loss": "mse_loss", "tensors": {"input": [1.0, 2.0], "target": [0, 0]}});
    let bad = |body: &str, needle: &str| {
        let (status, answer) = server.post("/api/eval", body);
        assert_eq!(status, 400, "{body:.80}: {answer}");
        let v: Value = serde_json::from_str(&answer).unwrap();
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{body:.80}: {msg}");
    };
    bad("{\"loss\": ", "not valid JSON");
    bad("{\"loss\": \"mse_loss\", \"tensors\": {\"input\": [NaN], \"target\": [0]}}", "not valid JSON");
    bad(&json!({"loss": "mse_loss", "tensors": {"input": ["nan"], "target": [0]}}).to_string(), "finite numbers only");
    bad(&json!({"loss": "no_such_loss", "tensors": {}}).to_string(), "unknown loss `no_such_loss`");
    bad(&json!({"loss": "mse_loss", "tensors": {"input": vec![0.0; 70_000], "target": [0]}}).to_string(), "at most 65536");
    bad(&json!({"loss": "mse_loss", "tensors": {"input": [[1, 2], [3]], "target": [0]}}).to_string(), "ragged");
    bad(&json!({"loss": "huber_loss", "tensors": {"input": [1.0], "target": [1.0]}, "options": {"delta": -1}}).to_string(), "delta");
    bad(&json!({"loss": "mse_loss", "tensors": {"input": [1.0, 2.0], "target": [1.0, 2.0, 3.0]}}).to_string(), "shape");

    // A body over the limit is refused from its Content-Length, before it is read.
    let (status, body) = server.raw(format!("POST /api/eval HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 5000000\r\n\r\n{{", server.port).as_bytes());
    assert_eq!(status, 400);
    assert!(body.contains("exceeds the limit"), "{body}");
    let (status, body) = server.raw(format!("POST /api/eval HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nTransfer-Encoding: chunked\r\n\r\n", server.port).as_bytes());
    assert_eq!(status, 400);
    assert!(body.contains("Content-Length"), "{body}");
    let (status, body) = server.raw(format!("POST /api/eval HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", server.port).as_bytes());
    assert_eq!(status, 400);
    assert!(body.contains("needs a Content-Length"), "{body}");
    // Hosts, methods, paths.
    let (status, body) = server.raw(b"GET / HTTP/1.1\r\nHost: evil.example:80\r\n\r\n");
    assert_eq!(status, 400);
    assert!(body.contains("Host header"), "{body}");
    assert_eq!(server.raw(b"GET / HTTP/1.1\r\n\r\n").0, 400, "no Host");
    assert_eq!(server.get("/etc/passwd").0, 404);
    assert_eq!(server.get("/../Cargo.toml").0, 404);
    assert_eq!(server.get("/api/eval").0, 405);
    assert_eq!(server.post("/", "{}").0, 405);
    assert_eq!(server.raw(b"garbage\r\n\r\n").0, 400);
    assert_eq!(server.raw(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n']).0, 400);
    let huge_head = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX: {}\r\n\r\n", server.port, "a".repeat(20_000));
    assert_eq!(server.raw(huge_head.as_bytes()).0, 400);

    // Still serving.
    let (status, v) = server.eval(&ok);
    assert_eq!((status, v["value"].as_f64()), (200, Some(2.5)));
}

#[test]
fn a_slow_client_is_dropped_and_does_not_hold_up_others() {
    let server = Server::start(&[]);
    // Half a request, then nothing.
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.write_all(b"POST /api/eval HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"loss\"").unwrap();
    // Others are answered meanwhile.
    let started = Instant::now();
    let (status, v) = server.eval(&json!({"loss": "l1_loss", "tensors": {"input": [1.0, -2.0], "target": [0, 0]}}));
    assert_eq!((status, v["value"].as_f64()), (200, Some(1.5)));
    assert!(started.elapsed() < Duration::from_secs(1), "answered while a slow client waits");
    // The slow one is answered 408 after the deadline (1 s here) and closed.
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let (status, body) = parse(&answer);
    assert_eq!(status, 408, "{body}");
    // Many slow clients at once: the ones over the limit get 503, and the server recovers.
    let idle: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    drop(idle);
    std::thread::sleep(Duration::from_millis(1500));
    let (status, _) = server.eval(&json!({"loss": "l1_loss", "tensors": {"input": [1.0], "target": [0]}}));
    assert_eq!(status, 200);
}
