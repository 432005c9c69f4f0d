//! A proxy between the tests and the app that checks every response against the spec, so a
//! response that drifts from `api-spec/openapi.yaml` fails the test that received it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::spec_check::{Exchange, check};

/// Hop-by-hop headers, and those the forwarding client sets itself.
const NOT_FORWARDED: [&str; 5] = ["connection", "keep-alive", "transfer-encoding", "content-length", "host"];

/// The running proxy and what it found.
pub struct SpecProxy {
    pub addr: SocketAddr,
    seen: Arc<Seen>,
}

/// What the proxy's listeners share.
#[derive(Default)]
struct Seen {
    violations: Mutex<Vec<String>>,
    /// Requests forwarded to the app and not answered yet.
    in_flight: AtomicUsize,
}

impl SpecProxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream` (a base URL).
    pub async fn start(upstream: String) -> Self {
        let seen = Arc::new(Seen::default());
        let addr = listen(upstream, seen.clone()).await;
        Self { addr, seen }
    }

    /// Another listener, in front of another server (a sibling of the app), whose violations
    /// are reported with this proxy's; returns its address.
    pub async fn start_another(&self, upstream: String) -> SocketAddr {
        listen(upstream, self.seen.clone()).await
    }

    /// Every response so far that did not match the spec.
    pub fn violations(&self) -> Vec<String> {
        self.seen.violations.lock().unwrap().clone()
    }

    /// Requests that reached the app and have not been answered yet.
    pub fn in_flight(&self) -> usize {
        self.seen.in_flight.load(Ordering::SeqCst)
    }
}

/// Listens on 127.0.0.1:0, forwarding to `upstream` and recording what does not match.
async fn listen(upstream: String, seen: Arc<Seen>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let (client, upstream, seen) = (client.clone(), upstream.clone(), seen.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    forward(request, peer, client.clone(), upstream.clone(), seen.clone())
                });
                // A client that hangs up mid-request is not the app's fault.
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

async fn forward(
    request: Request<Incoming>,
    peer: SocketAddr,
    client: reqwest::Client,
    upstream: String,
    seen: Arc<Seen>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path_and_query = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(Response::builder().status(400).body(Full::default()).unwrap()),
    };
    let mut outgoing = client.request(method.clone(), format!("{upstream}{path_and_query}")).body(body);
    for (name, value) in &headers {
        if !NOT_FORWARDED.contains(&name.as_str()) && name.as_str() != "x-forwarded-for" {
            outgoing = outgoing.header(name, value);
        }
    }
    // As a reverse proxy does: append the address it saw. The app believes it only when told
    // to trust this proxy (SAFECHECK_TRUSTED_PROXIES).
    let chain: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    let seen_from = peer.ip().to_string();
    let forwarded_for =
        if chain.is_empty() { seen_from } else { format!("{}, {seen_from}", chain.join(", ")) };
    outgoing = outgoing.header("x-forwarded-for", forwarded_for);
    seen.in_flight.fetch_add(1, Ordering::SeqCst);
    let sent = outgoing.send().await;
    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
    let response = match sent {
        Ok(response) => response,
        Err(e) => {
            let body = Full::new(Bytes::from(format!("spec proxy: the app did not answer: {e}")));
            return Ok(Response::builder().status(502).body(body).unwrap());
        }
    };
    let status = response.status();
    let response_headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap_or_default();
    let content_type = response_headers.get("content-type").and_then(|v| v.to_str().ok());
    let exchange = Exchange {
        method: method.as_str(),
        path: &path,
        status: status.as_u16(),
        content_type,
        body: &bytes,
    };
    if let Some(violation) = check(&exchange) {
        eprintln!("SPEC VIOLATION: {violation}");
        seen.violations.lock().unwrap().push(violation);
    }
    let mut builder = Response::builder().status(status);
    for (name, value) in &response_headers {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    Ok(builder.body(Full::new(bytes)).unwrap())
}
