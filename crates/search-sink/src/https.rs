//! The workspace's one TLS stack: every HTTP client of the binaries (the search client, the AWS
//! SDK clients, the capture's X API client) is built here, on rustls with the `ring` crypto
//! provider and the platform's root certificates, read once per process for all of them: the
//! PEM file and directories `SSL_CERT_FILE` / `SSL_CERT_DIR` name when set (e.g. the private CA
//! of a self-managed cluster), else the system's CA bundle, else the system store as
//! `rustls-native-certs` finds it.
//!
//! It is not a client of its own: it hands out builders and configurations. No process-wide
//! crypto provider is installed; each client is given `ring` explicitly, so no crate can pull
//! in a second provider unnoticed (`cargo tree -e normal -i aws-lc-rs` prints nothing).

use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use base64::Engine as _;
use std::sync::{Arc, LazyLock};

/// Moved to its own module (issue 28: one error-chain formatter); kept here for callers.
pub use crate::error_chain::error_chain;

/// The HTTP client every AWS SDK client and `aws-config` loader uses. The SDK has no default
/// one here (the `default-https-client` features are off, they would link aws-lc-rs): a client
/// built without it fails at its first request, so build SDK configs with [`aws_config_loader`]
/// or pass this to `Config::builder().http_client(..)`. It trusts the same roots as
/// [`reqwest_client_builder`], handed over as PEM: left to itself the SDK would read the
/// system store a second time.
pub fn aws_http_client() -> SharedHttpClient {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(PLATFORM_ROOTS.pem.clone());
    let tls = TlsContext::builder().with_trust_store(trust).build();
    let builder =
        aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring));
    match tls {
        Ok(tls) => builder.tls_context(tls).build_https(),
        // Not reachable with this version (building a context only stores it); should a later
        // one validate here, the SDK's own reading of the system store is the fallback.
        Err(error) => {
            tracing::warn!(%error, "the SDK's TLS context: it reads the system store itself");
            builder.build_https()
        }
    }
}

/// `aws_config::defaults` (latest behaviour version) with [`aws_http_client`]: the default
/// chain for region, credentials (incl. STS, SSO, IMDS) and endpoint overrides.
pub fn aws_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(aws_http_client())
}

/// The platform's root certificates, read once per process for every client.
struct PlatformRoots {
    /// For rustls (the search and X API clients).
    store: Arc<rustls::RootCertStore>,
    /// The certificates `store` accepted, PEM-encoded for the SDK's trust store (which takes
    /// PEM only, and panics on a certificate it cannot parse: these all parsed once already).
    pem: Vec<u8>,
}

static PLATFORM_ROOTS: LazyLock<PlatformRoots> = LazyLock::new(|| {
    let loaded = load_platform_certificates();
    for error in &loaded.errors {
        tracing::warn!(%error, "loading the platform's root certificates");
    }
    let mut store = rustls::RootCertStore::empty();
    let mut pem = Vec::new();
    let mut invalid = 0;
    for certificate in loaded.certs {
        let der = certificate.as_ref().to_vec();
        match store.add(certificate) {
            Ok(()) => append_pem(&mut pem, &der),
            Err(_) => invalid += 1,
        }
    }
    if store.is_empty() {
        tracing::warn!(
            invalid,
            "no usable root certificates (system store or SSL_CERT_FILE): every TLS connection will fail"
        );
    }
    PlatformRoots {
        store: Arc::new(store),
        pem,
    }
});

/// `SSL_CERT_FILE` / `SSL_CERT_DIR` when either is set (exactly as `rustls-native-certs` reads
/// them); otherwise the CA bundle file the system has (`openssl-probe`'s list: Debian's
/// `/etc/ssl/certs/ca-certificates.crt`, Amazon Linux's `/etc/pki/tls/certs/ca-bundle.crt`, ...)
/// alone, without also reading the hashed directory next to it, which holds the same
/// certificates one file each (the system tools write both); the whole store only when there
/// is no bundle or it holds no certificate.
fn load_platform_certificates() -> rustls_native_certs::CertificateResult {
    let configured = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    if !configured && let Some(bundle) = openssl_probe::probe().cert_file {
        let loaded = rustls_native_certs::load_certs_from_paths(Some(&bundle), None);
        if !loaded.certs.is_empty() {
            return loaded;
        }
    }
    rustls_native_certs::load_native_certs()
}

/// Appends `der` as a PEM `CERTIFICATE` block (base64 in lines of 64, as RFC 7468 writes it).
fn append_pem(pem: &mut Vec<u8>, der: &[u8]) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.extend_from_slice(line);
        pem.push(b'\n');
    }
    pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
}

/// A `reqwest` client builder on rustls + `ring` with the platform's roots. HTTP/1.1 only (as
/// the search client always was); callers add timeouts, headers and decoding.
pub fn reqwest_client_builder() -> Result<reqwest::ClientBuilder, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(Arc::clone(&PLATFORM_ROOTS.store))
        .with_no_client_auth();
    Ok(reqwest::Client::builder().use_preconfigured_tls(tls))
}

/// The certificate problem behind a failed request, if that is why it failed (untrusted
/// issuer, wrong host name, expired, a CA certificate served as the server's own, ...),
/// worded by [`describe_certificate_error`]: retrying will not help, so callers stop and say
/// so.
pub fn certificate_error(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(rustls::Error::InvalidCertificate(reason)) = error.downcast_ref::<rustls::Error>() {
        return Some(describe_certificate_error(reason));
    }
    // An I/O error's `source()` skips the error it wraps (rustls puts its own there, and
    // connectors may wrap that I/O error in another one), so look inside it first.
    let wrapped = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| certificate_error(inner));
    wrapped.or_else(|| error.source().and_then(certificate_error))
}

/// What is wrong with a server's certificate, its rustls / webpki name, and the fix that fits
/// it: `SSL_CERT_FILE` helps only when the issuer is unknown.
pub fn describe_certificate_error(reason: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    let name = match reason {
        E::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(inner) => format!("{inner:?}"),
            None => format!("{reason:?}"),
        },
        E::NotValidForNameContext { .. } => "NotValidForName".into(),
        E::ExpiredContext { .. } => "Expired".into(),
        E::NotValidYetContext { .. } => "NotValidYet".into(),
        E::InvalidPurposeContext { .. } => "InvalidPurpose".into(),
        _ => format!("{reason:?}"),
    };
    let (what, fix) = match (reason, name.as_str()) {
        (E::UnknownIssuer, _) => (
            "is issued by a CA this machine does not trust",
            "for a private CA, set SSL_CERT_FILE to its PEM file".to_owned(),
        ),
        (_, "CaUsedAsEndEntity") => (
            "is a CA certificate (CA:TRUE) that the server presents as its own",
            "the server needs a certificate for its host name issued by that CA (CA:FALSE); trusting the CA with SSL_CERT_FILE does not change this".to_owned(),
        ),
        (E::NotValidForName, _) => (
            "does not name the host connected to",
            "connect with a host name the certificate lists".to_owned(),
        ),
        (E::NotValidForNameContext { presented, .. }, _) => (
            "does not name the host connected to",
            format!(
                "connect with a host name the certificate lists ({})",
                presented.join(", ")
            ),
        ),
        (E::Expired | E::ExpiredContext { .. }, _) => (
            "has expired",
            "the server needs a renewed certificate (or this machine's clock is wrong)".to_owned(),
        ),
        (E::NotValidYet | E::NotValidYetContext { .. }, _) => (
            "is not valid yet",
            "check this machine's clock".to_owned(),
        ),
        (E::Revoked, _) => (
            "has been revoked",
            "the server needs a new certificate".to_owned(),
        ),
        (E::InvalidPurpose | E::InvalidPurposeContext { .. }, _) => (
            "is not meant for a TLS server",
            "it needs the serverAuth extended key usage".to_owned(),
        ),
        _ => (
            "was not accepted",
            "check the certificate chain the server presents".to_owned(),
        ),
    };
    format!("the server's TLS certificate {what} ({name}): {fix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{CertificateDer, pem::PemObject};

    #[test]
    fn the_sdk_is_given_the_certificates_rustls_accepted_and_only_those() {
        let roots = &*PLATFORM_ROOTS;
        let given: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&roots.pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(given.len(), roots.store.len());
        let mut again = rustls::RootCertStore::empty();
        let (valid, invalid) = again.add_parsable_certificates(given);
        assert_eq!((valid, invalid), (roots.store.len(), 0));
        assert_eq!(again.roots, roots.store.roots);
    }

    #[test]
    fn finds_a_certificate_error_inside_an_io_error() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let found = certificate_error(&io).unwrap();
        assert!(found.contains("UnknownIssuer"), "{found}");
        assert!(found.contains("SSL_CERT_FILE"), "{found}");
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
    fn each_certificate_problem_gets_the_hint_that_fits_it() {
        use rustls::{CertificateError as E, OtherError};
        let other = |e: webpki::Error| E::Other(OtherError(Arc::new(e)));
        // (problem, its name in the message, a word of its hint, whether SSL_CERT_FILE helps)
        let table = [
            (E::UnknownIssuer, "(UnknownIssuer)", "private CA", true),
            (
                other(webpki::Error::CaUsedAsEndEntity),
                "(CaUsedAsEndEntity)",
                "CA:TRUE",
                false,
            ),
            (E::NotValidForName, "(NotValidForName)", "host name", false),
            (E::Expired, "(Expired)", "renewed", false),
            (E::NotValidYet, "(NotValidYet)", "clock", false),
            (E::InvalidPurpose, "(InvalidPurpose)", "serverAuth", false),
            (E::BadSignature, "(BadSignature)", "chain", false),
        ];
        for (problem, name, hint, cert_file) in table {
            let text = describe_certificate_error(&problem);
            assert!(text.contains(name), "{text}");
            assert!(text.contains(hint), "{text}");
            assert_eq!(
                text.contains("set SSL_CERT_FILE"),
                cert_file,
                "only an unknown issuer is fixed by SSL_CERT_FILE: {text}"
            );
        }
    }
}
