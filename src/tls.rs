//! TLS settings shared by the broker connection and every target: a CA bundle to trust
//! besides the public roots (a private CA), and a client certificate with its key for
//! mutual TLS. All are PEM files, so Kubernetes secret mounts work as they are.
//!
//! The files are read and parsed when the configuration is validated, so a wrong path or
//! a broken PEM stops the start (and `check-config`) naming the key. A certificate that
//! the peer then refuses — or a peer whose certificate does not chain to a trusted CA — is
//! a configuration problem at run time: see [`is_certificate_error`].

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `tls = { ca_file = "…", cert_file = "…", key_file = "…" }`; every key optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of CA certificates to trust in addition to the public roots, e.g. the
    /// private CA that signed the broker's or the target's certificate.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) presented for mutual TLS; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

/// The files of a [`TlsConfig`], read.
#[derive(Clone, Default)]
pub struct TlsFiles {
    /// The CA bundle, PEM.
    pub ca: Option<Vec<u8>>,
    /// The client certificate chain and its key, PEM.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret.
        f.debug_struct("TlsFiles")
            .field("ca", &self.ca.is_some())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl TlsConfig {
    pub fn is_empty(&self) -> bool {
        self == &TlsConfig::default()
    }

    /// Reads and checks the files; errors name the key (never the key's content).
    pub fn load(&self, prefix: &str) -> Result<TlsFiles, Vec<String>> {
        let mut errors = Vec::new();
        let mut files = TlsFiles::default();
        if let Some(path) = &self.ca_file {
            match read(path).and_then(|pem| certificates(&pem).map(|_| pem)) {
                Ok(pem) => files.ca = Some(pem),
                Err(why) => errors.push(format!("{prefix}.ca_file: {why}")),
            }
        }
        match (&self.cert_file, &self.key_file) {
            (None, None) => {}
            (Some(_), None) => errors.push(format!("{prefix}.key_file: needed with cert_file")),
            (None, Some(_)) => errors.push(format!("{prefix}.cert_file: needed with key_file")),
            (Some(cert), Some(key)) => {
                let cert = read(cert)
                    .and_then(|pem| certificates(&pem).map(|_| pem))
                    .map_err(|why| format!("{prefix}.cert_file: {why}"));
                let key = read(key)
                    .and_then(|pem| private_key(&pem).map(|_| pem))
                    .map_err(|why| format!("{prefix}.key_file: {why}"));
                match (cert, key) {
                    (Ok(cert), Ok(key)) => files.identity = Some((cert, key)),
                    (cert, key) => errors.extend(cert.err().into_iter().chain(key.err())),
                }
            }
        }
        if errors.is_empty() {
            Ok(files)
        } else {
            Err(errors)
        }
    }

    pub fn validate(&self, prefix: &str, errors: &mut Vec<String>) {
        if let Err(found) = self.load(prefix) {
            errors.extend(found);
        }
    }
}

impl TlsFiles {
    /// The broker connection's TLS settings (lapin over rustls).
    pub fn for_amqp(&self) -> lapin::tcp::OwnedTLSConfig {
        lapin::tcp::OwnedTLSConfig {
            identity: self
                .identity
                .as_ref()
                .map(|(pem, key)| lapin::tcp::OwnedIdentity::PKCS8 {
                    pem: pem.clone(),
                    key: key.clone(),
                }),
            cert_chain: self
                .ca
                .as_ref()
                .map(|pem| String::from_utf8_lossy(pem).into_owned()),
        }
    }

    /// Adds the CA bundle and the client identity to an HTTP client.
    pub fn for_http(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, String> {
        if let Some(pem) = &self.ca {
            for certificate in
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("CA bundle: {e}"))?
            {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let Some((cert, key)) = &self.identity {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|_| "client certificate and key do not form an identity".to_string())?;
            builder = builder.identity(identity);
        }
        Ok(builder)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn certificates(pem: &[u8]) -> Result<usize, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let found = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if found.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(found.len())
}

fn private_key(pem: &[u8]) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivateKeyDer;
    // The parser's message could quote the file; say only what is wrong.
    PrivateKeyDer::from_pem_slice(pem)
        .map(|_| ())
        .map_err(|_| "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".into())
}

/// Whether `error` (or anything in its chain of sources) is a TLS certificate failure —
/// an unknown issuer, a name mismatch, an expired certificate, a client certificate the
/// peer refused. Those need an operator, not a retry.
pub fn is_certificate_error(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return certificate_problem(tls);
        }
        // An io::Error wrapping another error reports the inner one's *source* as its own,
        // skipping the inner error itself: step into it instead.
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

fn certificate_problem(error: &rustls::Error) -> Option<String> {
    use rustls::AlertDescription as Alert;
    match error {
        rustls::Error::InvalidCertificate(why) => {
            Some(format!("the peer's certificate is not trusted: {why:?}"))
        }
        rustls::Error::NoCertificatesPresented => Some("the peer presented no certificate".into()),
        rustls::Error::AlertReceived(
            alert @ (Alert::BadCertificate
            | Alert::CertificateRequired
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::UnsupportedCertificate
            | Alert::AccessDenied),
        ) => Some(format!(
            "the peer refused our client certificate ({alert:?})"
        )),
        _ => None,
    }
}
