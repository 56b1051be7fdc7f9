//! The workspace's one TLS stack: every HTTP client of the binaries (the search client, the AWS
//! SDK clients, the capture's X API client) is built here, on rustls with the `ring` crypto
//! provider and the platform's root certificates (`rustls-native-certs`: the system store, or
//! only the PEM file `SSL_CERT_FILE` names, e.g. the private CA of a self-managed cluster).
//!
//! It is not a client of its own: it hands out builders and configurations. No process-wide
//! crypto provider is installed; each client is given `ring` explicitly, so no crate can pull
//! in a second provider unnoticed (`cargo tree -e normal -i aws-lc-rs` prints nothing).

use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::sync::{Arc, LazyLock};

/// The HTTP client every AWS SDK client and `aws-config` loader uses. The SDK has no default
/// one here (the `default-https-client` features are off, they would link aws-lc-rs): a client
/// built without it fails at its first request, so build SDK configs with [`aws_config_loader`]
/// or pass this to `Config::builder().http_client(..)`.
pub fn aws_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `aws_config::defaults` (latest behaviour version) with [`aws_http_client`]: the default
/// chain for region, credentials (incl. STS, SSO, IMDS) and endpoint overrides.
pub fn aws_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(aws_http_client())
}

/// The platform's roots, read once per process (the PEM bundle is ~200 KB to parse).
static PLATFORM_ROOTS: LazyLock<Arc<rustls::RootCertStore>> = LazyLock::new(|| {
    let loaded = rustls_native_certs::load_native_certs();
    for error in &loaded.errors {
        tracing::warn!(%error, "loading the platform's root certificates");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (valid, invalid) = roots.add_parsable_certificates(loaded.certs);
    if valid == 0 {
        tracing::warn!(
            invalid,
            "no usable root certificates (system store or SSL_CERT_FILE): every TLS connection will fail"
        );
    }
    Arc::new(roots)
});

/// A `reqwest` client builder on rustls + `ring` with the platform's roots. HTTP/1.1 only (as
/// the search client always was); callers add timeouts, headers and decoding.
pub fn reqwest_client_builder() -> Result<reqwest::ClientBuilder, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(Arc::clone(&PLATFORM_ROOTS))
        .with_no_client_auth();
    Ok(reqwest::Client::builder().use_preconfigured_tls(tls))
}

/// The certificate problem behind a failed request, if that is why it failed (untrusted
/// issuer, wrong host name, expired, ...): retrying will not help, so callers stop and say so.
pub fn certificate_error(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(rustls::Error::InvalidCertificate(reason)) = error.downcast_ref::<rustls::Error>() {
        return Some(format!("invalid peer certificate: {reason:?}"));
    }
    // An I/O error's `source()` skips the error it wraps (rustls puts its own there, and
    // connectors may wrap that I/O error in another one), so look inside it first.
    let wrapped = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| certificate_error(inner));
    wrapped.or_else(|| error.source().and_then(certificate_error))
}

/// `error` and its sources, `: `-joined (reqwest's own message names only the URL).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(current) = next {
        let part = current.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = current.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_certificate_error_inside_an_io_error() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let found = certificate_error(&io).unwrap();
        assert!(found.contains("UnknownIssuer"), "{found}");
        let twice = std::io::Error::other(io);
        assert!(
            certificate_error(&twice).is_some(),
            "an I/O error inside an I/O error"
        );
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        assert_eq!(certificate_error(&reset), None);
        let other_tls =
            std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(certificate_error(&other_tls), None);
    }

    #[test]
    fn error_chain_names_each_source_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        let outer = Outer(std::io::Error::other("connection refused"));
        assert_eq!(
            error_chain(&outer),
            "error sending request: connection refused"
        );
    }
}
