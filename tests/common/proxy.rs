//! An HTTP proxy in front of the emulator, on loopback only: it logs every request's
//! AWS operation and can inject faults the way AWS answers them, each protocol in its
//! own error format (EC2 query XML, the other query services' XML, JSON 1.0/1.1,
//! REST-JSON, REST-XML, Smithy RPC v2 CBOR), plus connections cut before an answer.
//!
//! One request per connection: the request is forwarded with `Connection: close` and the
//! answer passed back with `Connection: close`, so the client never reuses a connection
//! the proxy has closed. Faults are drawn from a seeded generator, so a seed gives the
//! same sequence of decisions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy did with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Forwarded,
    /// A throttling answer in the protocol's format.
    Throttled,
    /// A 5xx answer in the protocol's format.
    ServerError,
    /// The connection closed with no answer (the request never reached the emulator).
    Cut,
    /// Refused as AWS refuses a caller its policy does not allow (403 AccessDenied), for
    /// the operation given to [`Proxy::deny`].
    Denied,
}

#[derive(Clone, Debug)]
pub struct Logged {
    /// `Service.Operation` for JSON/CBOR, the query `Action`, or `METHOD /path` for REST.
    pub operation: String,
    /// The operation only reads (Describe/List/Get..., or a REST GET/HEAD).
    pub read_only: bool,
    pub outcome: Outcome,
}

pub struct Proxy {
    pub endpoint: String,
    log: Arc<Mutex<Vec<Logged>>>,
    /// Probability of a fault per request, 0..=1; changed at any time with [`Proxy::set_fault_rate`].
    rate: Arc<Mutex<f64>>,
    /// Operations (as [`Logged::operation`] names them) refused with AccessDenied.
    denied: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Starts a proxy to the emulator that injects faults at `fault_rate` with `seed`.
    pub fn start(fault_rate: f64, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let upstream = super::endpoint().trim_start_matches("http://").trim_end_matches('/').to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let rate = Arc::new(Mutex::new(fault_rate));
        let rng = Arc::new(Mutex::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1));
        let denied = Arc::new(Mutex::new(Vec::new()));
        let (l, r, d) = (log.clone(), rate.clone(), denied.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (upstream, log, rate, rng, denied) =
                    (upstream.clone(), l.clone(), r.clone(), rng.clone(), d.clone());
                std::thread::spawn(move || {
                    let _ = handle(client, &upstream, &log, &rate, &rng, &denied);
                });
            }
        });
        Proxy { endpoint: format!("http://127.0.0.1:{port}"), log, rate, denied }
    }

    /// Refuses `operation` (exactly as [`Logged::operation`] names it, e.g.
    /// `PUT /bucket/key` for S3) with AccessDenied from now on, as a caller without the
    /// permission is refused. The answer is S3's (REST-XML): deny S3 operations only.
    pub fn deny(&self, operation: &str) {
        self.denied.lock().unwrap().push(operation.to_string());
    }

    /// Forwards `operation` again (undoes [`Proxy::deny`]).
    pub fn allow(&self, operation: &str) {
        self.denied.lock().unwrap().retain(|o| o != operation);
    }

    pub fn set_fault_rate(&self, rate: f64) {
        *self.rate.lock().unwrap() = rate;
    }

    pub fn take_log(&self) -> Vec<Logged> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// Requests answered with a fault since the log was last taken.
    pub fn faults(&self) -> usize {
        self.log.lock().unwrap().iter().filter(|l| l.outcome != Outcome::Forwarded).count()
    }
}

/// xorshift64*: a seeded, reproducible sequence in 0..1.
fn next(rng: &Mutex<u64>) -> f64 {
    let mut x = rng.lock().unwrap();
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
}

struct Request {
    head: Vec<(String, String)>,
    request_line: String,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Protocol {
    Ec2Query,
    Query,
    Json,
    Cbor,
    RestJson,
    RestXml,
    /// Route 53: REST-XML with query-style errors (`<ErrorResponse><Error>`).
    Route53,
}

fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut request_line = String::new();
    if r.read_line(&mut request_line)? == 0 {
        return Ok(None);
    }
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            head.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = head
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(Some(Request { head, request_line: request_line.trim_end().to_string(), body }))
}

fn classify(req: &Request) -> (Protocol, String, bool) {
    let mut parts = req.request_line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let is_read = |op: &str| {
        ["Describe", "List", "Get", "Head", "Check", "Lookup"].iter().any(|p| op.starts_with(p))
            || op == "GetCallerIdentity"
    };
    if let Some(target) = req.header("x-amz-target") {
        let op = target.rsplit('.').next().unwrap_or(target).to_string();
        return (Protocol::Json, target.to_string(), is_read(&op));
    }
    if req.header("smithy-protocol").is_some_and(|p| p.contains("cbor")) {
        // /service/<Service>/operation/<Operation>
        let op = path.rsplit('/').next().unwrap_or("").to_string();
        return (Protocol::Cbor, op.clone(), is_read(&op));
    }
    let ctype = req.header("content-type").unwrap_or("");
    if ctype.starts_with("application/x-www-form-urlencoded") && method == "POST" {
        let body = String::from_utf8_lossy(&req.body);
        let field = |name: &str| {
            body.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).map(str::to_string)
        };
        let action = field("Action").unwrap_or_default();
        let ec2 = field("Version").as_deref() == Some("2016-11-15");
        let read = is_read(&action);
        return (if ec2 { Protocol::Ec2Query } else { Protocol::Query }, action, read);
    }
    let read = method == "GET" || method == "HEAD";
    let op = format!("{method} {}", path.split('?').next().unwrap_or(""));
    if let Some(rest) = path.strip_prefix("/2013-04-01/") {
        // Route 53 reads by POST too: ListTagsForResources is POST /tags/<type> (its
        // ChangeTagsForResource, a write, is POST /tags/<type>/<id>).
        let tags_read = method == "POST" && rest.starts_with("tags/") && rest.matches('/').count() == 1;
        return (Protocol::Route53, op, read || tags_read);
    }
    // S3 answers XML; the REST-JSON services (Scheduler, ...) send JSON or nothing.
    let s3 = req.header("x-amz-content-sha256").is_some() && !ctype.contains("json");
    (if s3 { Protocol::RestXml } else { Protocol::RestJson }, op, read)
}

fn fault_answer(protocol: Protocol, throttle: bool) -> Vec<u8> {
    let (status, ctype, extra, body): (&str, &str, String, String) = match (protocol, throttle) {
        (Protocol::Ec2Query, true) => ("503 Service Unavailable", "text/xml", String::new(),
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault</RequestID></Response>".into()),
        (Protocol::Ec2Query, false) => ("500 Internal Server Error", "text/xml", String::new(),
            "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred</Message></Error></Errors><RequestID>fault</RequestID></Response>".into()),
        (Protocol::Query, true) => ("400 Bad Request", "text/xml", String::new(),
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>".into()),
        (Protocol::Query, false) => ("503 Service Unavailable", "text/xml", String::new(),
            "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>Service is unavailable</Message></Error><RequestId>fault</RequestId></ErrorResponse>".into()),
        (Protocol::Json, true) => ("400 Bad Request", "application/x-amz-json-1.1", String::new(),
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        (Protocol::Json, false) => ("500 Internal Server Error", "application/x-amz-json-1.1", String::new(),
            r#"{"__type":"InternalFailure","message":"internal failure"}"#.into()),
        (Protocol::RestJson, true) => ("429 Too Many Requests", "application/json",
            "x-amzn-ErrorType: ThrottlingException\r\n".into(), r#"{"message":"Rate exceeded"}"#.into()),
        (Protocol::RestJson, false) => ("500 Internal Server Error", "application/json",
            "x-amzn-ErrorType: InternalServerException\r\n".into(), r#"{"message":"internal error"}"#.into()),
        (Protocol::RestXml, true) => ("503 Slow Down", "application/xml", String::new(),
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".into()),
        (Protocol::RestXml, false) => ("500 Internal Server Error", "application/xml", String::new(),
            "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>".into()),
        (Protocol::Route53, true) => ("400 Bad Request", "text/xml", String::new(),
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>".into()),
        (Protocol::Route53, false) => ("500 Internal Server Error", "text/xml", String::new(),
            "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>internal failure</Message></Error><RequestId>fault</RequestId></ErrorResponse>".into()),
        // CBOR: {"__type": "ThrottlingException"} / {"__type": "InternalFailure"} as CBOR maps.
        (Protocol::Cbor, true) => ("400 Bad Request", "application/cbor", "smithy-protocol: rpc-v2-cbor\r\n".into(), String::new()),
        (Protocol::Cbor, false) => ("500 Internal Server Error", "application/cbor", "smithy-protocol: rpc-v2-cbor\r\n".into(), String::new()),
    };
    let body = if protocol == Protocol::Cbor {
        cbor_error(if throttle { "ThrottlingException" } else { "InternalFailure" })
    } else {
        body.into_bytes()
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend(body);
    out
}

/// A CBOR map with one text entry: {"__type": code}.
fn cbor_error(code: &str) -> Vec<u8> {
    let text = |s: &str| {
        let mut v = Vec::new();
        let n = s.len();
        if n < 24 {
            v.push(0x60 | n as u8);
        } else {
            v.push(0x78);
            v.push(n as u8);
        }
        v.extend(s.as_bytes());
        v
    };
    let mut out = vec![0xa1];
    out.extend(text("__type"));
    out.extend(text(code));
    out
}

fn handle(
    client: TcpStream,
    upstream: &str,
    log: &Mutex<Vec<Logged>>,
    rate: &Mutex<f64>,
    rng: &Mutex<u64>,
    denied: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(req) = read_request(&mut reader)? else { return Ok(()) };
    let (protocol, operation, read_only) = classify(&req);
    let roll = next(rng);
    let fault_rate = *rate.lock().unwrap();
    // S3 objects with a JSON body classify as REST-JSON; the denial is S3's XML either way.
    let outcome = if denied.lock().unwrap().contains(&operation) {
        Outcome::Denied
    } else if roll < fault_rate / 3.0 {
        Outcome::Throttled
    } else if roll < fault_rate * 2.0 / 3.0 {
        Outcome::ServerError
    } else if roll < fault_rate {
        Outcome::Cut
    } else {
        Outcome::Forwarded
    };
    log.lock().unwrap().push(Logged { operation, read_only, outcome: outcome.clone() });
    let mut client = client;
    match outcome {
        Outcome::Throttled => client.write_all(&fault_answer(protocol, true))?,
        Outcome::ServerError => client.write_all(&fault_answer(protocol, false))?,
        Outcome::Cut => {}
        Outcome::Denied => {
            let body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
            let head = format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            client.write_all(head.as_bytes())?;
            client.write_all(body.as_bytes())?;
        }
        Outcome::Forwarded => {
            let mut up = TcpStream::connect(upstream)?;
            up.set_read_timeout(Some(Duration::from_secs(300)))?;
            let mut head = format!("{}\r\n", req.request_line);
            for (k, v) in &req.head {
                if !k.eq_ignore_ascii_case("connection") {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
            }
            head.push_str("Connection: close\r\n\r\n");
            up.write_all(head.as_bytes())?;
            up.write_all(&req.body)?;
            // The answer's head, with its Connection header replaced; then the rest as is
            // (the emulator closes the connection after it).
            let mut upr = BufReader::new(up);
            let mut status = String::new();
            upr.read_line(&mut status)?;
            let mut out = status.into_bytes();
            loop {
                let mut line = String::new();
                upr.read_line(&mut line)?;
                if line.trim_end().is_empty() {
                    break;
                }
                if !line.to_ascii_lowercase().starts_with("connection:") {
                    out.extend(line.as_bytes());
                }
            }
            out.extend(b"Connection: close\r\n\r\n");
            client.write_all(&out)?;
            let mut rest = Vec::new();
            upr.read_to_end(&mut rest)?;
            client.write_all(&rest)?;
        }
    }
    client.flush()?;
    client.shutdown(Shutdown::Both)
}
