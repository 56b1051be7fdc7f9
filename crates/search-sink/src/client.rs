//! One HTTP exchange with the search server: the body is compressed first, then signed, and
//! `reqwest` (rustls + ring, the platform's roots: [`crate::https`]) sends exactly those bytes
//! and headers; it adds only unsigned headers (`accept`, `user-agent`, `accept-encoding`) and
//! decodes gzip responses.

use crate::config::{Auth, Config, SigV4};
use crate::error::SinkError;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;

/// The HTTP methods the search APIs we call use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `PUT`
    Put,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
    /// `HEAD`
    Head,
}

impl From<Method> for reqwest::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Get => reqwest::Method::GET,
            Method::Put => reqwest::Method::PUT,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
            Method::Head => reqwest::Method::HEAD,
        }
    }
}

/// A connected client: endpoint, auth and transport. Cheap to share (`Arc`) between sinks.
/// `Debug` shows no credential.
#[derive(Debug)]
pub struct SearchClient {
    http: reqwest::Client,
    base: url::Url,
    signer: Option<Signer>,
    /// `Basic ...` or `ApiKey ...`, marked sensitive (its `Debug` is `Sensitive`).
    authorization: Option<HeaderValue>,
    pub(crate) config: Config,
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// The (decoded) body.
    pub body: Bytes,
}

/// Why one exchange failed before a status arrived.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Connection refused/reset, timeout, broken body: worth retrying.
    Retryable(String),
    /// Signing or request building failed: retrying will not help.
    Fatal(SinkError),
}

impl SearchClient {
    /// Builds the transport and, for SigV4, resolves region and credentials provider from
    /// the AWS default chain (nothing is fetched until the first request).
    pub async fn connect(config: Config) -> Result<Self, SinkError> {
        config.refuse_unsafe_credentials()?;
        let mut base = url::Url::parse(&config.endpoint).map_err(|e| {
            crate::error::ConfigError::new("ES_ENDPOINT", format!("{:?}: {e}", config.endpoint))
        })?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let cannot_build = |detail: String| SinkError::Transport {
            method: "-".into(),
            path: "-".into(),
            detail: format!("cannot build HTTP client: {detail}"),
        };
        let mut default_headers = HeaderMap::new();
        default_headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = crate::https::reqwest_client_builder()
            .map_err(|e| cannot_build(e.to_string()))?
            .user_agent(concat!("search-sink/", env!("CARGO_PKG_VERSION")))
            .default_headers(default_headers)
            .build()
            .map_err(|e| cannot_build(crate::error_chain::error_chain(&e)))?;
        let mut signer = None;
        let mut authorization = None;
        let sensitive = |value: String, variable| {
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                crate::error::ConfigError::new(
                    variable,
                    "contains characters not allowed in a header",
                )
            })?;
            value.set_sensitive(true);
            Ok::<_, crate::error::ConfigError>(Some(value))
        };
        match &config.auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                use base64::Engine as _;
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                authorization = sensitive(format!("Basic {token}"), "ES_USERNAME")?;
            }
            Auth::ApiKey { key } => {
                authorization = sensitive(format!("ApiKey {key}"), "ES_API_KEY")?
            }
            Auth::SigV4(sigv4) => signer = Some(Signer::resolve(sigv4).await?),
        }
        Ok(Self {
            http,
            base,
            signer,
            authorization,
            config,
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sends one request (authenticated, not retried) and returns status and body.
    /// `path_and_query` is relative to the endpoint, e.g. `twitter/_count` or `_bulk?x=y`;
    /// the query must already be percent-encoded (unreserved characters only left bare).
    pub async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&[u8]>,
    ) -> Result<RawResponse, SinkError> {
        let json = HeaderValue::from_static("application/json");
        self.request_with(method, path_and_query, body, json, &[])
            .await
    }

    /// Like [`SearchClient::request`] with any content type and extra headers, e.g. a
    /// multipart upload with `osd-xsrf` for the Dashboards saved-objects API. The extra headers
    /// are signed with the rest.
    pub async fn request_with(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&[u8]>,
        content_type: HeaderValue,
        extra_headers: &[(HeaderName, HeaderValue)],
    ) -> Result<RawResponse, SinkError> {
        let body = body.map(Bytes::copy_from_slice);
        self.send(
            method,
            path_and_query,
            body,
            content_type,
            extra_headers,
            false,
            None,
        )
        .await
        .map_err(|e| match e {
            SendError::Fatal(e) => e,
            SendError::Retryable(detail) => SinkError::Transport {
                method: method_name(method).into(),
                path: path_and_query.into(),
                detail,
            },
        })
    }

    /// Sends `body` as is (already compressed when `gzipped`), signing exactly these bytes.
    /// A connection that cannot be made is tried [`Config::unreachable_attempts`] times in
    /// quick succession (within `timeout`) and then fails with [`SinkError::Unreachable`];
    /// with no such limit it is [`SendError::Retryable`] like a reset.
    #[allow(clippy::too_many_arguments)] // one private choke point for every request
    pub(crate) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Bytes>,
        content_type: HeaderValue,
        extra_headers: &[(HeaderName, HeaderValue)],
        gzipped: bool,
        timeout: Option<Duration>,
    ) -> Result<RawResponse, SendError> {
        let request = Request {
            method,
            path_and_query: path_and_query.trim_start_matches('/'),
            body,
            content_type,
            extra_headers,
            gzipped,
            timeout,
        };
        let started = tokio::time::Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let detail = match self.send_once(&request).await {
                Ok(response) => return Ok(response),
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::NoConnection(detail)) => detail,
            };
            let Some(limit) = self.config.unreachable_attempts else {
                return Err(SendError::Retryable(detail));
            };
            let delay = crate::retry::unreachable_delay(attempts);
            let fits = timeout.is_none_or(|t| started.elapsed() + delay < t);
            if attempts >= limit || !fits {
                return Err(SendError::Fatal(SinkError::Unreachable {
                    method: method_name(method).into(),
                    path: request.path_and_query.into(),
                    host: host_and_port(&self.base),
                    detail,
                    attempts,
                }));
            }
            tracing::debug!(method = method_name(method), path = request.path_and_query, problem = %detail, attempts, "cannot connect; trying again");
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt of [`SearchClient::send`].
    async fn send_once(&self, request: &Request<'_>) -> Result<RawResponse, Attempt> {
        let Request {
            method,
            path_and_query,
            ref body,
            ref content_type,
            extra_headers,
            gzipped,
            timeout,
        } = *request;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, content_type.clone());
        for (name, value) in extra_headers {
            headers.insert(name.clone(), value.clone());
        }
        if gzipped {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if let Some(value) = &self.authorization {
            headers.insert(AUTHORIZATION, value.clone());
        }
        let fatal = |e: SinkError| Attempt::Failed(SendError::Fatal(e));
        let url = self.base.join(path_and_query).map_err(|e| {
            fatal(SinkError::Transport {
                method: method_name(method).into(),
                path: path_and_query.into(),
                detail: format!("bad path: {e}"),
            })
        })?;
        if let Some(signer) = &self.signer {
            let payload = body.as_deref().unwrap_or(&[]);
            let signed = signer
                .sign(method_name(method), url.as_str(), &headers, payload)
                .await
                .map_err(fatal)?;
            for (name, value) in signed {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| fatal(SinkError::Signing(e.to_string())))?;
                let mut value = HeaderValue::from_str(&value)
                    .map_err(|e| fatal(SinkError::Signing(e.to_string())))?;
                // Debug output of the request (HTTP client traces) shows these as `Sensitive`.
                value.set_sensitive(true);
                headers.insert(name, value);
            }
        }
        let mut request = self.http.request(method.into(), url).headers(headers);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some(body) = body {
            request = request.body(body.clone());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Err(transport_failure(method, path_and_query, &e)),
        };
        let status = response.status().as_u16();
        // Reading the body can still fail (reset mid-response, timeout): retryable.
        match response.bytes().await {
            Ok(body) => Ok(RawResponse { status, body }),
            Err(e) => Err(Attempt::Failed(SendError::Retryable(format!(
                "reading response body: {}",
                crate::error_chain::error_chain(&e)
            )))),
        }
    }
}

/// What [`SearchClient::send`] was asked to send, for each of its attempts.
struct Request<'a> {
    method: Method,
    path_and_query: &'a str,
    body: Option<Bytes>,
    content_type: HeaderValue,
    extra_headers: &'a [(HeaderName, HeaderValue)],
    gzipped: bool,
    timeout: Option<Duration>,
}

/// How one attempt of [`SearchClient::send`] failed.
enum Attempt {
    /// As the caller sees it.
    Failed(SendError),
    /// No connection was made (refused, name not resolved, no TLS handshake): what happened.
    NoConnection(String),
}

/// A request that got no status. A certificate the platform's roots (or `SSL_CERT_FILE`) do
/// not accept will not be accepted on the next try: fatal, with a hint that fits the problem.
/// A connection that could not be made is [`Attempt::NoConnection`] (see
/// [`SearchClient::send`]); everything else (reset, timed out, even while connecting) is
/// worth retrying.
fn transport_failure(method: Method, path: &str, error: &reqwest::Error) -> Attempt {
    if let Some(problem) = crate::https::certificate_error(error) {
        return Attempt::Failed(SendError::Fatal(SinkError::Certificate {
            method: method_name(method).into(),
            path: path.into(),
            problem,
        }));
    }
    if error.is_connect() && !error.is_timeout() {
        return Attempt::NoConnection(connect_problem(error));
    }
    Attempt::Failed(SendError::Retryable(crate::error_chain::error_chain(error)))
}

/// Why a connection could not be made, in a few words: `connection refused`, or the
/// innermost cause (the resolver's message, the TLS alert, ...).
fn connect_problem(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return "connection refused".into();
        }
        innermost = current;
        next = current.source();
    }
    innermost.to_string()
}

/// `host:port` of `url`, for messages.
fn host_and_port(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

pub(crate) fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Put => "PUT",
        Method::Post => "POST",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
    }
}

/// SigV4 signer with a small credentials cache (the default chain itself does not cache, and
/// instance/container role look-ups are network calls). Not the SDK's `IdentityCache`: it
/// resolves through the SDK orchestrator's runtime components and config bag, which a request
/// signed outside an SDK client does not have; this cache is the few lines it needs.
struct Signer {
    service: &'static str,
    region: String,
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<Credentials>>,
}

impl std::fmt::Debug for Signer {
    /// No credentials: the SDK's `Credentials` print their access key id.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("service", &self.service)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Refresh cached credentials this long before they expire.
const CREDENTIALS_REFRESH_MARGIN: Duration = Duration::from_secs(300);

impl Signer {
    async fn resolve(sigv4: &SigV4) -> Result<Self, SinkError> {
        let need_chain = sigv4.region.is_none() || sigv4.credentials.is_none();
        let sdk = if need_chain {
            Some(crate::https::aws_config_loader().load().await)
        } else {
            None
        };
        let region = match (&sigv4.region, &sdk) {
            (Some(r), _) => r.clone(),
            (None, Some(sdk)) => sdk
                .region()
                .map(|r| r.to_string())
                .ok_or_else(|| crate::error::ConfigError::new("AWS_REGION", "is required for SigV4 (no region in the AWS config chain or the endpoint host)"))?,
            (None, None) => unreachable!("sdk config is loaded when the region is missing"),
        };
        let provider = match (&sigv4.credentials, &sdk) {
            (Some(p), _) => p.clone(),
            (None, Some(sdk)) => sdk.credentials_provider().ok_or_else(|| {
                SinkError::Signing("the AWS default chain has no credentials provider".into())
            })?,
            (None, None) => unreachable!("sdk config is loaded when credentials are missing"),
        };
        Ok(Self {
            service: sigv4.service.name(),
            region,
            provider,
            cached: Mutex::new(None),
        })
    }

    async fn credentials(&self) -> Result<Credentials, SinkError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c
                .expiry()
                .is_none_or(|exp| exp > SystemTime::now() + CREDENTIALS_REFRESH_MARGIN);
            if fresh {
                return Ok(c.clone());
            }
        }
        let c = self.provider.provide_credentials().await.map_err(|e| {
            SinkError::Signing(format!(
                "loading AWS credentials: {}",
                crate::error_chain::error_chain(&e)
            ))
        })?;
        *cached = Some(c.clone());
        Ok(c)
    }

    /// Returns the headers to add: `x-amz-date`, `x-amz-content-sha256`,
    /// `x-amz-security-token` (with a session token) and `authorization`.
    async fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, SinkError> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
        };
        let credentials = self.credentials().await?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        // aoss requires the payload hash header; es accepts it. Sending it always keeps one path.
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| SinkError::Signing(e.to_string()))?
            .into();
        let header_pairs: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(name, _)| *name != AUTHORIZATION)
            .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str(), v)))
            .collect();
        let request = SignableRequest::new(
            method,
            url,
            header_pairs.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| SinkError::Signing(e.to_string()))?;
        // aws-sigv4 traces the canonical request and string to sign, which hold the access
        // key id and the session token: with `RUST_LOG=trace` they would reach the logs. The
        // signing runs with no subscriber, whatever the process-wide log level.
        let signed = tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
            sign(request, &params)
        });
        let (instructions, _signature) = signed
            .map_err(|e| SinkError::Signing(e.to_string()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}
