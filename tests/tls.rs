//! TLS with a private CA and client certificates, end to end: the test makes its own CA,
//! server and client certificates (rcgen), puts a TLS front that demands a client
//! certificate before the real RabbitMQ and before the simulator, and runs the worker
//! through both (`amqps://`, `https://`). A certificate the worker cannot verify is a
//! configuration problem — named on `/readyz`, counted in a gauge, logged once — and not a
//! reconnect loop or a pile of dead letters.

use hrsync::config::{Config, TlsConfig};
use hrsync_testkit::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};

/// A private CA with a server certificate (localhost, 127.0.0.1) and a client certificate,
/// as PEM files in a folder of the test's.
struct Pki {
    dir: PathBuf,
    ca: String,
    server: (String, String),
}

impl Pki {
    fn new() -> Pki {
        let dir =
            std::env::temp_dir().join(format!("hrsync-pki-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hrsync test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let server = leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(vec!["hrsync".into()], ExtendedKeyUsagePurpose::ClientAuth);
        let pki = Pki {
            dir,
            ca: ca.pem(),
            server,
        };
        pki.write("ca.pem", &pki.ca);
        pki.write("client.pem", &client.0);
        pki.write("client.key", &client.1);
        pki
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    /// What the worker is given: the CA, and its client certificate and key.
    fn client_tls(&self) -> TlsConfig {
        TlsConfig {
            ca_file: Some(self.dir.join("ca.pem")),
            cert_file: Some(self.dir.join("client.pem")),
            key_file: Some(self.dir.join("client.key")),
        }
    }

    /// A client certificate but no CA: the server's certificate cannot be verified.
    fn without_ca(&self) -> TlsConfig {
        TlsConfig {
            ca_file: None,
            ..self.client_tls()
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS front on 127.0.0.1 that demands a client certificate of the test CA and passes
/// the bytes on to `upstream`. Counts connections and completed handshakes.
struct Front {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    handshakes: Arc<AtomicUsize>,
}

fn front(pki: &Pki, upstream: SocketAddr) -> Front {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca.as_bytes()).unwrap())
        .unwrap();
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let certs = CertificateDer::pem_slice_iter(pki.server.0.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server.1.as_bytes()).unwrap();
    let config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = TcpListener::from_std(std_listener).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let (c, hs) = (connections.clone(), handshakes.clone());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let hs = hs.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                hs.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    Front {
        addr,
        connections,
        handshakes,
    }
}

fn sim_addr(config: &Config) -> SocketAddr {
    let url = config.target::<VaultConfig>().unwrap().base_url;
    url.trim_start_matches("http://").parse().unwrap()
}

fn broker_addr() -> SocketAddr {
    "127.0.0.1:5672".parse().unwrap()
}

#[tokio::test]
async fn the_worker_reaches_broker_and_targets_over_tls_with_a_private_ca_and_client_certificates()
{
    if std::env::var("HRSYNC_TEST_AMQP_URL").is_ok() {
        eprintln!("SKIPPED: the TLS front is put before the local broker only");
        return;
    }
    let pki = Pki::new();
    let fronts = std::sync::Mutex::new(Vec::new());
    let h = Harness::builder()
        .config(|c| {
            let broker = front(&pki, broker_addr());
            c.rabbitmq.url = format!("amqps://localhost:{}/%2f", broker.addr.port());
            c.rabbitmq.tls = pki.client_tls();
            let sim = front(&pki, sim_addr(c));
            let https = format!("https://localhost:{}", sim.addr.port());
            c.edit_target(|v: &mut VaultConfig| {
                v.base_url = https.clone();
                v.tls = pki.client_tls();
            });
            c.edit_target(|v: &mut SiteVaultConfig| {
                v.0.base_url = https.clone();
                v.0.tls = pki.client_tls();
            });
            c.edit_target(|so: &mut SuperOfficeConfig| {
                so.base_url = https.clone();
                so.tls = pki.client_tls();
            });
            fronts.lock().unwrap().extend([broker, sim]);
        })
        .start()
        .await;
    h.wait_until_consuming().await;
    h.publish(&joiner()).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    h.sim.wait_for_writes("sitevault", "PUT", 1).await;
    h.sim.wait_for_writes("superoffice", "PATCH", 1).await;
    h.wait_idle().await;
    assert!(h.dead_letters_now().await.is_empty());
    let (ready, body) = h.readyz().await;
    assert!(ready, "{body}");
    let fronts = fronts.into_inner().unwrap();
    assert!(
        fronts[0].handshakes.load(Ordering::SeqCst) >= 1,
        "the worker connected to the broker through TLS with its client certificate"
    );
    assert!(fronts[1].handshakes.load(Ordering::SeqCst) >= 1);
    h.stop().await;
}

#[tokio::test]
async fn a_broker_certificate_from_an_unknown_ca_is_a_configuration_problem_not_a_retry_loop() {
    if std::env::var("HRSYNC_TEST_AMQP_URL").is_ok() {
        eprintln!("SKIPPED: the TLS front is put before the local broker only");
        return;
    }
    let pki = Pki::new();
    let h = Harness::builder()
        .store(StoreKind::Sqlite)
        .without_worker()
        .start()
        .await;
    let broker = front(&pki, broker_addr());
    let mut config = h.config.clone();
    config.rabbitmq.url = format!("amqps://localhost:{}/%2f", broker.addr.port());
    config.rabbitmq.tls = pki.without_ca();
    config.rabbitmq.reconnect_max_delay = Duration::from_secs(30);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let worker = hrsync::worker::Worker::start(config, listener)
        .await
        .unwrap();
    let url = format!("http://{}/readyz", worker.http_addr);
    let deadline = std::time::Instant::now() + WAIT;
    let body: serde_json::Value = loop {
        let body: serde_json::Value = h.http.get(&url).send().await.unwrap().json().await.unwrap();
        if body["broker_problem"].is_string() {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reported: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["ready"], false);
    let problem = body["broker_problem"].as_str().unwrap();
    assert!(
        problem.contains("certificate") && problem.contains("rabbitmq.tls"),
        "{problem}"
    );
    assert_eq!(worker.metrics.broker_config_problem.get(), 1);
    // Not a loop: the next attempt waits the longest reconnect delay.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let attempts = broker.connections.load(Ordering::SeqCst);
    eprintln!("{attempts} connection attempt(s) in the first 5 s after the refusal");
    assert!(attempts <= 2, "{attempts} attempts");
    assert_eq!(broker.handshakes.load(Ordering::SeqCst), 0);
    worker.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn a_target_certificate_from_an_unknown_ca_parks_that_target_and_names_the_problem() {
    let pki = Pki::new();
    let fronts = std::sync::Mutex::new(Vec::new());
    let h = Harness::builder()
        .config(|c| {
            let sim = front(&pki, sim_addr(c));
            c.edit_target(|vault: &mut VaultConfig| {
                vault.base_url = format!("https://localhost:{}", sim.addr.port());
                vault.tls = pki.without_ca();
            });
            fronts.lock().unwrap().push(sim);
        })
        .start()
        .await;
    h.publish(&mover()).await;
    h.sim.wait_for_writes("superoffice", "PATCH", 1).await;
    let body = h.wait_ready(false, WAIT).await;
    let deadline = std::time::Instant::now() + WAIT;
    let mut body = body;
    while !body["target_problems"]["vault"].is_string() {
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        body = h.readyz().await.1;
    }
    let why = body["target_problems"]["vault"].as_str().unwrap();
    assert!(why.contains("certificate"), "{why}");
    assert_eq!(
        metric(
            &h.metrics_text().await,
            "hrsync_target_config_problem",
            r#"target="vault""#
        ),
        1.0
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        h.dead_letters_now().await.is_empty(),
        "the event waits for the fix, parked"
    );
    assert!(
        h.sim
            .requests("vault")
            .await
            .iter()
            .all(|r| !r["path"].as_str().unwrap_or_default().contains("/objects/")),
        "nothing got through to Vault"
    );
    h.stop().await;
}
