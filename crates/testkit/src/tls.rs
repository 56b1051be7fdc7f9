//! A TLS-terminating proxy on loopback for tests over real TLS: it accepts TLS on
//! `127.0.0.1` with a certificate for `localhost` issued by a test CA made at start
//! ([`rcgen`]), and forwards the plain bytes to a plain-HTTP peer (osmem-server, moto, the X
//! fake). Tests point a client at [`TlsProxy::url`] and trust the CA through `SSL_CERT_FILE`
//! = [`TestCa::ca_file`], the way a cluster with a private CA is configured.
//!
//! Not an HTTP proxy: it copies bytes both ways, so keep-alive, streaming and chunked bodies
//! pass as they are. Handshakes that fail (an untrusting client) are counted, see
//! [`TlsProxy::failed_handshakes`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer, pki_types::PrivatePkcs8KeyDer};

/// A test certificate authority and the `localhost` certificate it issued; every proxy started
/// from it serves that certificate, so one `SSL_CERT_FILE` trusts them all.
pub struct TestCa {
    acceptor: TlsAcceptor,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestCa {
    /// A fresh CA (its PEM written to a temporary file) and server certificate.
    pub fn new() -> std::io::Result<TestCa> {
        Self::with(test_pki(), "test-ca.pem")
    }

    /// A CA certificate (CA:TRUE) for `localhost` that every proxy serves as its own, as a
    /// misconfigured server does: clients refuse it even when `SSL_CERT_FILE` = [`Self::ca_file`]
    /// trusts it (webpki's `CaUsedAsEndEntity`).
    pub fn serving_itself() -> std::io::Result<TestCa> {
        Self::with(ca_as_server(), "self-signed-ca.pem")
    }

    /// The acceptor and the PEM to trust (written to `file_name` in a temporary folder).
    fn with(
        made: Result<(TlsAcceptor, String), Box<dyn std::error::Error + Send + Sync>>,
        file_name: &str,
    ) -> std::io::Result<TestCa> {
        let (acceptor, pem) = made.map_err(std::io::Error::other)?;
        let dir = tempfile::tempdir()?;
        let ca_file = dir.path().join(file_name);
        std::fs::write(&ca_file, pem)?;
        Ok(TestCa {
            acceptor,
            ca_file,
            _dir: dir,
        })
    }

    /// The CA's certificate (PEM), for `SSL_CERT_FILE`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// Starts a TLS terminator in front of `upstream` (`http://host:port`, a path is ignored).
    pub async fn proxy(&self, upstream: &str) -> std::io::Result<TlsProxy> {
        let upstream = upstream
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let failed_handshakes = Arc::new(AtomicUsize::new(0));
        let failed = failed_handshakes.clone();
        let acceptor = self.acceptor.clone();
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let (acceptor, upstream, failed) =
                    (acceptor.clone(), upstream.clone(), failed.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(down).await else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    let Ok(mut up) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
        Ok(TlsProxy {
            url: format!("https://localhost:{port}"),
            failed_handshakes,
        })
    }
}

/// A running TLS terminator in front of one upstream (it stops with the runtime).
pub struct TlsProxy {
    url: String,
    failed_handshakes: Arc<AtomicUsize>,
}

impl TlsProxy {
    /// `https://localhost:PORT` (the certificate names `localhost` and `127.0.0.1`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connections whose TLS handshake failed (e.g. the client did not trust the CA).
    pub fn failed_handshakes(&self) -> usize {
        self.failed_handshakes.load(Ordering::Relaxed)
    }
}

/// The acceptor serving `cert` with `key`.
fn acceptor(
    cert: rustls::pki_types::CertificateDer<'static>,
    key: &KeyPair,
) -> Result<TlsAcceptor, Box<dyn std::error::Error + Send + Sync>> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A self-signed CA certificate for `localhost` served as the server's own; returns the
/// acceptor and the certificate in PEM.
fn ca_as_server() -> Result<(TlsAcceptor, String), Box<dyn std::error::Error + Send + Sync>> {
    let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "testkit CA serving itself");
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((acceptor(cert.der().clone(), &key)?, cert.pem()))
}

/// A fresh CA and a `localhost` server certificate it signed; returns the acceptor serving
/// that certificate and the CA in PEM.
fn test_pki() -> Result<(TlsAcceptor, String), Box<dyn std::error::Error + Send + Sync>> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "testkit test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let server_key = KeyPair::generate()?;
    let server_params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
    let server_cert = server_params.signed_by(&server_key, &ca)?;
    Ok((acceptor(server_cert.der().clone(), &server_key)?, ca.pem()))
}
