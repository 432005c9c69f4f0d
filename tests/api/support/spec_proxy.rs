//! A proxy between the tests and the app that checks every response against the spec, so a
//! response that drifts from `api-spec/openapi.yaml` fails the test that received it.

use std::convert::Infallible;
use std::net::SocketAddr;
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
    violations: Arc<Mutex<Vec<String>>>,
}

impl SpecProxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream` (a base URL).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let violations = Arc::new(Mutex::new(Vec::new()));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let found = violations.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (client, upstream, found) = (client.clone(), upstream.clone(), found.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        forward(request, client.clone(), upstream.clone(), found.clone())
                    });
                    // A client that hangs up mid-request is not the app's fault.
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { addr, violations }
    }

    /// Every response so far that did not match the spec.
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }
}

async fn forward(
    request: Request<Incoming>,
    client: reqwest::Client,
    upstream: String,
    violations: Arc<Mutex<Vec<String>>>,
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
        if !NOT_FORWARDED.contains(&name.as_str()) {
            outgoing = outgoing.header(name, value);
        }
    }
    let response = match outgoing.send().await {
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
        violations.lock().unwrap().push(violation);
    }
    let mut builder = Response::builder().status(status);
    for (name, value) in &response_headers {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    Ok(builder.body(Full::new(bytes)).unwrap())
}
