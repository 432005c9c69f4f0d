//! Throttling at the HTTP edge: which client address a request comes from, and the throttle's
//! refusals as problem documents naming their limit.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;

use crate::auth::PasswordHasher;
use crate::auth::password_pool::PoolError;
use crate::auth::throttle::{self, Attempt, ThrottleError};
use crate::cidr::Cidr;
use crate::config::{Config, ForwardedHeader};
use crate::error::ApiError;
use crate::routes::with_db;
use crate::state::AppState;

/// The client's address: the TCP peer's, unless the peer is a trusted proxy; then the nearest
/// address the configured header's chain names that is not itself a trusted proxy. What a
/// client writes there is believed only as far as a trusted proxy vouches for it: each proxy
/// appends the address it saw. As a throttling key: see [`client_key`].
pub fn client_address(req: &HttpRequest, config: &Config) -> String {
    let trusted = config.trusted_proxies.as_slice();
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".to_owned();
    };
    if !is_trusted(peer, trusted) {
        return client_key(peer);
    }
    let chain = forwarded_chain(req.headers(), config.forwarded_header);
    let mut nearest = client_key(peer);
    for hop in chain.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip, trusted) => nearest = client_key(ip),
            Ok(ip) => return client_key(ip),
            // An obfuscated or `unknown` node, as a trusted proxy wrote it.
            Err(_) => return hop.chars().take(64).collect(),
        }
    }
    nearest
}

/// The key a client is throttled by: an IPv4 address (also when written as IPv6, `::ffff:a.b.c.d`),
/// or an IPv6 address's /64 network. One subscriber, one household or one cloud machine gets a
/// whole /64: keyed by the full address, each of its 2^64 addresses would have budgets of its own.
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(network))
            }
        },
    }
}

fn is_trusted(ip: IpAddr, trusted: &[Cidr]) -> bool {
    trusted.iter().any(|cidr| cidr.contains(ip))
}

/// The addresses a request went through, client first, as `header` lists them.
fn forwarded_chain(headers: &HeaderMap, header: ForwardedHeader) -> Vec<String> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    match header {
        // Some proxies write the port too (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
        ForwardedHeader::XForwardedFor => values("x-forwarded-for").iter().map(|v| node_address(v)).collect(),
        ForwardedHeader::Forwarded => values("forwarded")
            .iter()
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.trim().eq_ignore_ascii_case("for").then(|| node_address(value.trim()))
                })
            })
            .collect(),
    }
}

/// `"[2001:db8::1]:4711"` → `2001:db8::1`; `"192.0.2.1:80"` → `192.0.2.1`.
fn node_address(value: &str) -> String {
    let value = value.trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_owned();
    }
    match value.split_once(':') {
        Some((ip, port)) if !port.contains(':') => ip.to_owned(),
        _ => value.to_owned(),
    }
}

/// Records a password check of `account` from `address`; 429 naming the limit if refused.
pub async fn begin_password_check(
    state: &AppState,
    account: &str,
    address: &str,
) -> Result<Attempt, ApiError> {
    let limits = state.config.login_throttle;
    let (account, address) = (account.to_owned(), address.to_owned());
    let now = state.clock.now();
    with_db(state, move |conn| {
        throttle::begin_password_check(conn, &limits, &account, &address, now).map_err(refusal)
    })
    .await
}

/// The password was right: forgets the pair's failures.
pub async fn password_check_succeeded(state: &AppState, attempt: Attempt) -> Result<(), ApiError> {
    with_db(state, move |conn| Ok(throttle::succeeded(conn, &attempt)?)).await
}

/// Runs a password check admitted by `attempt` on the hashing pool. When the pool is full, the
/// attempt is forgotten (no password was checked) and the answer is 503.
pub async fn check_password<T: Send + 'static>(
    state: &AppState,
    attempt: &Attempt,
    job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
) -> Result<T, ApiError> {
    match state.passwords.run(job).await {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            let attempt = attempt.clone();
            with_db(state, move |conn| Ok(throttle::abandoned(conn, &attempt)?)).await?;
            Err(pool_refusal(error))
        }
    }
}

/// Records a registration from `address`; 429 naming the limit if refused.
pub async fn begin_registration(state: &AppState, address: &str) -> Result<(), ApiError> {
    let (max, window) = (state.config.max_registrations_per_ip, state.config.login_throttle.window);
    let address = address.to_owned();
    let now = state.clock.now();
    with_db(state, move |conn| {
        throttle::begin_registration(conn, max, window, &address, now).map_err(refusal)
    })
    .await
}

fn refusal(error: ThrottleError) -> ApiError {
    match error {
        ThrottleError::Refused(r) => ApiError::RateLimited {
            limit: r.limit,
            detail: format!("{}: too many attempts; try again in {} seconds", r.limit, r.retry_after_secs),
            retry_after_secs: r.retry_after_secs,
        },
        ThrottleError::Database(e) => e.into(),
    }
}

/// The password pool's refusal: 503, come back in a second.
pub fn pool_refusal(error: PoolError) -> ApiError {
    match error {
        PoolError::Full => ApiError::Busy { limit: "password_hashing", retry_after_secs: 1 },
        PoolError::Stopped => ApiError::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn address(peer: &str, headers: &[(&str, &str)], trusted: &[&str]) -> String {
        address_via(ForwardedHeader::XForwardedFor, peer, headers, trusted)
    }

    fn address_via(
        header: ForwardedHeader,
        peer: &str,
        headers: &[(&str, &str)],
        trusted: &[&str],
    ) -> String {
        let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        let mut config = Config::from_lookup(|_| None).unwrap();
        config.trusted_proxies = trusted.iter().map(|c| c.parse().unwrap()).collect();
        config.forwarded_header = header;
        client_address(&req.to_http_request(), &config)
    }

    #[test]
    fn forwarding_headers_are_ignored_unless_the_peer_is_a_trusted_proxy() {
        let xff = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(address("198.51.100.7:5000", &xff, &[]), "198.51.100.7");
        assert_eq!(address("198.51.100.7:5000", &xff, &["10.0.0.0/8"]), "198.51.100.7");
        assert_eq!(address("10.0.0.2:5000", &xff, &["10.0.0.0/8"]), "203.0.113.9");
    }

    #[test]
    fn a_forged_hop_before_the_proxy_is_not_believed() {
        // The client wrote 1.1.1.1; the proxy appended the address it saw.
        let xff = [("x-forwarded-for", "1.1.1.1, 203.0.113.9")];
        assert_eq!(address("10.0.0.2:5000", &xff, &["10.0.0.0/8"]), "203.0.113.9");
        // Through two trusted proxies.
        let xff = [("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.3")];
        assert_eq!(address("10.0.0.2:5000", &xff, &["10.0.0.0/8"]), "203.0.113.9");
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let headers = [
            ("forwarded", r#"for=1.1.1.1, for="[2001:db8::1]:4711";proto=https"#),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            address_via(ForwardedHeader::Forwarded, "10.0.0.2:5000", &headers, &trusted),
            "2001:db8::/64"
        );
        assert_eq!(address("10.0.0.2:5000", &headers, &trusted), "203.0.113.9");
        let headers = [("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")];
        assert_eq!(
            address_via(ForwardedHeader::Forwarded, "10.0.0.2:5000", &headers, &trusted),
            "192.0.2.60"
        );
        // The other header, written by the client, is not read.
        assert_eq!(address("10.0.0.2:5000", &headers, &trusted), "10.0.0.2");
        // A trusted proxy with nothing to say: the proxy itself.
        assert_eq!(address("10.0.0.2:5000", &[], &trusted), "10.0.0.2");
    }

    #[test]
    fn an_ipv6_client_is_keyed_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        assert_eq!(address("[2001:db8:1:2:aaaa::1]:5000", &[], &[]), "2001:db8:1:2::/64");
        assert_eq!(address("[2001:db8:1:2:bbbb::9]:5000", &[], &[]), "2001:db8:1:2::/64");
        assert_eq!(address("[2001:db8:1:3::1]:5000", &[], &[]), "2001:db8:1:3::/64");
        assert_eq!(address("[::ffff:198.51.100.7]:5000", &[], &[]), "198.51.100.7");
    }

    #[test]
    fn a_port_in_x_forwarded_for_is_not_part_of_the_address() {
        let trusted = ["10.0.0.0/8"];
        let xff = [("x-forwarded-for", "203.0.113.9:5555")];
        assert_eq!(address("10.0.0.2:5000", &xff, &trusted), "203.0.113.9");
        let xff = [("x-forwarded-for", "[2001:db8::7]:5555")];
        assert_eq!(address("10.0.0.2:5000", &xff, &trusted), "2001:db8::/64");
    }
}
