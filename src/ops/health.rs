//! `hrsync healthcheck`: the worker's readiness for a container runtime that can only run
//! a command (the image is distroless: no shell, no curl). GETs `/readyz` — by default on
//! the configured `http.listen`, through loopback when it listens on every address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// `http://ADDR/readyz` for a worker listening on `listen` (an unspecified address, such
/// as `0.0.0.0`, is reached through loopback of its family).
pub fn readyz_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/readyz", SocketAddr::new(ip, listen.port()))
}

/// Asks `url` once: `Ok(line)` when it answers 2xx, `Err(line)` otherwise; the line says
/// what was seen (status and the start of the body when not ready).
pub async fn probe(url: &str, timeout: Duration) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| format!("not ready: cannot make an HTTP client: {e}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("not ready: {url}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(format!("ready: {url} answered {status}"));
    }
    let body = response.text().await.unwrap_or_default();
    let body: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let body: String = body.chars().take(300).collect();
    Err(format!("not ready: {url} answered {status}: {body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_is_probed_through_loopback() {
        assert_eq!(
            readyz_url("0.0.0.0:9464".parse().unwrap()),
            "http://127.0.0.1:9464/readyz"
        );
        assert_eq!(
            readyz_url("[::]:9464".parse().unwrap()),
            "http://[::1]:9464/readyz"
        );
        assert_eq!(
            readyz_url("10.1.2.3:80".parse().unwrap()),
            "http://10.1.2.3:80/readyz"
        );
    }
}
