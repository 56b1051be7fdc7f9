//! Settings of the sink: endpoint, index, auth, batching, compression and dead letters, with
//! a parser for the `ES_*` / `BULK_*` / `DEAD_LETTER_*` environment variables.

use crate::error::ConfigError;
use aws_credential_types::provider::SharedCredentialsProvider;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default flush threshold: 5 MiB of NDJSON (before compression), safe for every domain size.
pub const DEFAULT_BULK_MAX_BYTES: usize = 5 * 1024 * 1024;
/// Default flush threshold in operations.
pub const DEFAULT_BULK_MAX_OPERATIONS: usize = 10_000;
/// Default number of bulk requests in flight at once.
pub const DEFAULT_BULK_CONCURRENCY: usize = 2;
/// Default base timeout of one HTTP request (bulk requests get more time for their payload;
/// every request is further bounded by the caller's deadline).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything the sink needs to talk to one search endpoint. `Debug` prints `***` for every
/// credential ([`Auth`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL, e.g. `https://search-x.eu-west-1.es.amazonaws.com` or `http://127.0.0.1:9200`.
    pub endpoint: String,
    /// Index name (default `twitter`).
    pub index: String,
    /// How requests are authenticated.
    pub auth: Auth,
    /// Send credentials over plain `http://` to a host that is not loopback (they cross the
    /// network in clear text). Off: such a configuration is refused.
    pub allow_insecure_http: bool,
    /// Flush when the pending NDJSON reaches this many bytes (uncompressed).
    pub bulk_max_bytes: usize,
    /// Flush when this many operations are pending.
    pub bulk_max_operations: usize,
    /// Bulk requests in flight at once (each holds one batch in memory: gzipped when `gzip`).
    pub bulk_concurrency: usize,
    /// Gzip request bodies (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// Base timeout of one HTTP request; a bulk request adds time for its payload (1 s per
    /// 256 KiB), and the caller's deadline caps both.
    pub request_timeout: Duration,
    /// Where permanently failed operations go; `None` makes them fail the call.
    pub dead_letter: Option<DeadLetterTarget>,
    /// First backoff cap (full jitter picks in `[0, cap]`; the cap doubles per retry).
    pub retry_initial_delay: Duration,
    /// Largest backoff cap.
    pub retry_max_delay: Duration,
    /// Quick attempts at a request that cannot connect (refused, a host name that does not
    /// resolve, no TLS handshake) before it fails with [`crate::SinkError::Unreachable`].
    /// `None` (the default, the Lambda's): retried like any transient failure until the
    /// deadline, since the trigger's own retries are few (Kinesis: 5, S3: 2) and a node
    /// restart takes longer than quick attempts cover. The CLI sets 3: a server that is
    /// down is reported in about a second, rerunning is the user's call.
    pub unreachable_attempts: Option<u32>,
}

impl Config {
    /// A config for `endpoint` with defaults: index `twitter`, no auth, 5 MiB / 10,000
    /// operations per bulk, gzip on, 60 s base request timeout, backoff caps 100 ms doubling up to
    /// 10 s, no dead-letter store.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            index: "twitter".into(),
            auth: Auth::None,
            allow_insecure_http: false,
            bulk_max_bytes: DEFAULT_BULK_MAX_BYTES,
            bulk_max_operations: DEFAULT_BULK_MAX_OPERATIONS,
            bulk_concurrency: DEFAULT_BULK_CONCURRENCY,
            gzip: true,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            dead_letter: None,
            retry_initial_delay: Duration::from_millis(100),
            retry_max_delay: Duration::from_secs(10),
            unreachable_attempts: None,
        }
    }

    /// Reads the process environment; see [`Config::from_lookup`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a config from variables looked up by name:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `ES_ENDPOINT` | base URL (required) | |
    /// | `ES_INDEX` | index name | `twitter` |
    /// | `ES_AUTH` | `sigv4`, `basic`, `apikey` or `none` | `sigv4` for `*.amazonaws.com`, `basic` when `ES_USERNAME` is set, `apikey` when `ES_API_KEY` or `ES_API_KEY_FILE` is, else `none` |
    /// | `ES_SIGV4_SERVICE` | `es` or `aoss` | `aoss` for `*.aoss.amazonaws.com`, else `es` |
    /// | `AWS_REGION` | SigV4 region when the endpoint host names none | the endpoint host's region, else the AWS config chain |
    /// | `ES_USERNAME`, `ES_PASSWORD` | basic auth | |
    /// | `ES_API_KEY` | Elasticsearch API key: the `encoded` value, or `id:api_key` | |
    /// | `ES_API_KEY_FILE` | a file holding the API key (instead of `ES_API_KEY`) | |
    /// | `ES_ALLOW_INSECURE_HTTP` | `true`: send credentials over `http://` to a host that is not loopback | `false` |
    /// | `BULK_MAX_BYTES` | flush threshold in bytes | 5242880 |
    /// | `BULK_MAX_OPERATIONS` | flush threshold in operations | 10000 |
    /// | `BULK_CONCURRENCY` | bulk requests in flight at once | 2 |
    /// | `BULK_GZIP` | `true`/`false` (`1`/`0`) | `true` |
    /// | `DEAD_LETTER_BUCKET`, `DEAD_LETTER_PREFIX` | S3 dead-letter store | none; prefix `dead-letter/` |
    /// | `DEAD_LETTER_FILE` | local NDJSON dead-letter file (if no bucket) | none |
    ///
    /// SigV4 credentials always come from the AWS default chain (environment incl.
    /// `AWS_SESSION_TOKEN`, profile, container/instance roles) when the client connects.
    /// Credentials (basic, API key, SigV4) with an `http://` endpoint are refused unless its host
    /// is loopback (`localhost`, `127.0.0.0/8`, `::1`) or `ES_ALLOW_INSECURE_HTTP=true`, and so
    /// is an endpoint URL holding `user:password@`. Error messages never quote a password or key.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let endpoint = get("ES_ENDPOINT").ok_or_else(|| {
            ConfigError::new("ES_ENDPOINT", "is required (the search endpoint URL)")
        })?;
        let host = endpoint_host(&endpoint).ok_or_else(|| {
            ConfigError::new("ES_ENDPOINT", format!("{endpoint:?} is not an http(s) URL"))
        })?;
        let mut config = Config::new(endpoint.trim_end_matches('/'));
        if let Some(index) = get("ES_INDEX") {
            if index.starts_with(['_', '-', '+'])
                || index
                    .chars()
                    .any(|c| c.is_ascii_uppercase() || "\\/*?\"<>| ,#:".contains(c))
            {
                return Err(ConfigError::new(
                    "ES_INDEX",
                    format!(
                        "{index:?} is not a valid index name (lowercase, no \\/*?\"<>| ,#:, not starting with _-+)"
                    ),
                ));
            }
            config.index = index;
        }
        let username = get("ES_USERNAME");
        let api_key_given = get("ES_API_KEY").is_some() || get("ES_API_KEY_FILE").is_some();
        let auth = match get("ES_AUTH").map(|v| v.to_ascii_lowercase()) {
            Some(v) => v,
            None if host.ends_with(".amazonaws.com") => "sigv4".into(),
            None if username.is_some() && api_key_given => {
                return Err(ConfigError::new(
                    "ES_AUTH",
                    "is required when both ES_USERNAME and an API key are set (basic or apikey)",
                ));
            }
            None if username.is_some() => "basic".into(),
            None if api_key_given => "apikey".into(),
            None => "none".into(),
        };
        config.auth = match auth.as_str() {
            "none" => Auth::None,
            "basic" => Auth::Basic {
                username: username.ok_or_else(|| {
                    ConfigError::new("ES_USERNAME", "is required when ES_AUTH=basic")
                })?,
                password: get("ES_PASSWORD").ok_or_else(|| {
                    ConfigError::new("ES_PASSWORD", "is required when ES_AUTH=basic")
                })?,
            },
            "apikey" => Auth::ApiKey {
                key: api_key(get("ES_API_KEY"), get("ES_API_KEY_FILE"))?,
            },
            "sigv4" => {
                let service = match get("ES_SIGV4_SERVICE").map(|v| v.to_ascii_lowercase()) {
                    Some(s) if s == "es" => SigV4Service::Es,
                    Some(s) if s == "aoss" => SigV4Service::Aoss,
                    Some(s) => {
                        return Err(ConfigError::new(
                            "ES_SIGV4_SERVICE",
                            format!("{s:?} is not one of: es, aoss"),
                        ));
                    }
                    None if host.ends_with(".aoss.amazonaws.com") => SigV4Service::Aoss,
                    None => SigV4Service::Es,
                };
                Auth::SigV4(SigV4 {
                    service,
                    region: sigv4_region(&host, &get),
                    credentials: None,
                })
            }
            other => {
                return Err(ConfigError::new(
                    "ES_AUTH",
                    format!("{other:?} is not one of: sigv4, basic, apikey, none"),
                ));
            }
        };
        if let Some(v) = get("BULK_MAX_BYTES") {
            config.bulk_max_bytes = parse_positive("BULK_MAX_BYTES", &v)?;
        }
        if let Some(v) = get("BULK_MAX_OPERATIONS") {
            config.bulk_max_operations = parse_positive("BULK_MAX_OPERATIONS", &v)?;
        }
        if let Some(v) = get("BULK_CONCURRENCY") {
            config.bulk_concurrency = parse_positive("BULK_CONCURRENCY", &v)?;
        }
        if let Some(v) = get("BULK_GZIP") {
            config.gzip = parse_bool("BULK_GZIP", &v)?;
        }
        if let Some(v) = get("ES_ALLOW_INSECURE_HTTP") {
            config.allow_insecure_http = parse_bool("ES_ALLOW_INSECURE_HTTP", &v)?;
        }
        config.refuse_unsafe_credentials()?;
        config.dead_letter = match (get("DEAD_LETTER_BUCKET"), get("DEAD_LETTER_FILE")) {
            (Some(bucket), _) => Some(DeadLetterTarget::S3 {
                bucket,
                prefix: lookup("DEAD_LETTER_PREFIX").unwrap_or_else(|| "dead-letter/".into()),
            }),
            (None, Some(path)) => Some(DeadLetterTarget::File(PathBuf::from(path))),
            (None, None) => None,
        };
        Ok(config)
    }

    /// Refuses credentials in the endpoint URL itself (`https://user:password@host`: the URL
    /// is quoted in messages and `Debug` output; [`Auth`] keeps them apart), and credentials
    /// (basic, API key, SigV4) sent over plain `http://` to a host that is not loopback, unless
    /// [`Config::allow_insecure_http`] says so: whoever is on the path would read the password
    /// or key, or replay signed requests.
    pub fn refuse_unsafe_credentials(&self) -> Result<(), ConfigError> {
        if let Ok(url) = url::Url::parse(&self.endpoint)
            && (!url.username().is_empty() || url.password().is_some())
        {
            return Err(ConfigError::new(
                "ES_ENDPOINT",
                "holds credentials (user:password@host): give them as ES_USERNAME and ES_PASSWORD, or use an API key, so that they stay out of messages and logs",
            ));
        }
        let what = match &self.auth {
            Auth::None => return Ok(()),
            Auth::Basic { .. } => "the basic auth password",
            Auth::ApiKey { .. } => "the API key",
            Auth::SigV4(_) => "SigV4-signed requests (with the session token)",
        };
        let Ok(url) = url::Url::parse(&self.endpoint) else {
            return Ok(()); // not a URL: the client refuses it, naming ES_ENDPOINT
        };
        if url.scheme() != "http" || self.allow_insecure_http || is_loopback(&url) {
            return Ok(());
        }
        Err(ConfigError::new(
            "ES_ENDPOINT",
            format!(
                "{:?} is plain http: {what} would cross the network in clear text; use https://, or set ES_ALLOW_INSECURE_HTTP=true to allow it (loopback hosts need nothing)",
                self.endpoint
            ),
        ))
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`: traffic that never leaves the machine.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The API key from `ES_API_KEY` or the file `ES_API_KEY_FILE` names (not both), as sent
/// after `ApiKey `: the `encoded` value Elasticsearch's create API key API returns is taken as
/// is; `id:api_key` (never valid base64) is encoded. No message quotes the key.
fn api_key(inline: Option<String>, file: Option<String>) -> Result<String, ConfigError> {
    let (variable, key) = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "ES_API_KEY_FILE",
                "and ES_API_KEY are both set: keep one",
            ));
        }
        (Some(key), None) => ("ES_API_KEY", key),
        (None, Some(path)) => (
            "ES_API_KEY_FILE",
            read_secret_file("ES_API_KEY_FILE", &path)?,
        ),
        (None, None) => {
            return Err(ConfigError::new(
                "ES_API_KEY",
                "(or ES_API_KEY_FILE) is required when ES_AUTH=apikey",
            ));
        }
    };
    let key = key.trim();
    let valid = |c: char| c.is_ascii_graphic();
    if key.is_empty() || !key.chars().all(valid) {
        return Err(ConfigError::new(
            variable,
            "is not an API key (the `encoded` value of the create API key API, or id:api_key; printable ASCII, no spaces)",
        ));
    }
    Ok(match key.split_once(':') {
        Some(_) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(key)
        }
        None => key.to_owned(),
    })
}

/// The contents of a file holding one secret, surrounding whitespace removed.
fn read_secret_file(variable: &'static str, path: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(Path::new(path))
        .map_err(|e| ConfigError::new(variable, format!("{path:?}: cannot read: {e}")))?;
    if text.trim().is_empty() {
        return Err(ConfigError::new(variable, format!("{path:?} is empty")));
    }
    Ok(text.trim().to_owned())
}

fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(
            variable,
            format!("{value:?} is not true or false"),
        )),
    }
}

fn parse_positive(variable: &'static str, value: &str) -> Result<usize, ConfigError> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::new(
            variable,
            format!("{value:?} is not a positive whole number"),
        )),
    }
}

/// The lowercase host of an http(s) URL.
fn endpoint_host(endpoint: &str) -> Option<String> {
    let url = url::Url::parse(endpoint).ok()?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return None;
    }
    url.host_str().map(str::to_ascii_lowercase)
}

/// The SigV4 region: the endpoint host's own (a domain in us-east-1 must be signed for
/// us-east-1 whatever region the caller runs in), else `AWS_REGION` / `AWS_DEFAULT_REGION`,
/// else `None` (the AWS config chain decides when the client connects).
fn sigv4_region(host: &str, get: &impl Fn(&str) -> Option<String>) -> Option<String> {
    region_from_host(host)
        .or_else(|| get("AWS_REGION"))
        .or_else(|| get("AWS_DEFAULT_REGION"))
}

/// `search-x.eu-west-1.es.amazonaws.com` / `id.us-east-1.aoss.amazonaws.com` -> the region.
fn region_from_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    if n >= 4 && labels[n - 2] == "amazonaws" && (labels[n - 3] == "es" || labels[n - 3] == "aoss")
    {
        return Some(labels[n - 4].to_owned());
    }
    None
}

/// How requests are authenticated. `Debug` prints `***` for the password and the key.
#[derive(Clone)]
pub enum Auth {
    /// No authentication (local servers, or a proxy that signs).
    None,
    /// HTTP basic auth (fine-grained access control internal users, self-managed clusters).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// Elasticsearch API key (Elastic Cloud, the only method Serverless projects take): sent
    /// as `Authorization: ApiKey <key>`.
    ApiKey {
        /// The `encoded` form: base64 of `id:api_key`.
        key: String,
    },
    /// AWS Signature Version 4 over the exact bytes sent (after compression).
    SigV4(SigV4),
}

/// Stands for a credential in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &Redacted)
                .finish(),
            Auth::ApiKey { .. } => f.debug_struct("ApiKey").field("key", &Redacted).finish(),
            Auth::SigV4(sigv4) => f.debug_tuple("SigV4").field(sigv4).finish(),
        }
    }
}

/// SigV4 settings. `Debug` prints `***` for given credentials (the SDK's `Credentials` print
/// their access key id).
#[derive(Clone)]
pub struct SigV4 {
    /// `es` for OpenSearch Service domains, `aoss` for OpenSearch Serverless.
    pub service: SigV4Service,
    /// Region; `None` takes it from the AWS config chain (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// Credentials; `None` uses the AWS default chain (env incl. session token, profile,
    /// ECS/EKS/IMDS roles). Resolved credentials are cached until 5 minutes before expiry.
    pub credentials: Option<SharedCredentialsProvider>,
}

impl fmt::Debug for SigV4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4")
            .field("service", &self.service)
            .field("region", &self.region)
            .field("credentials", &self.credentials.as_ref().map(|_| Redacted))
            .finish()
    }
}

/// The SigV4 service name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigV4Service {
    /// Amazon OpenSearch Service (managed domains).
    Es,
    /// Amazon OpenSearch Serverless. Note: time-series collections reject custom `_id`s
    /// (use a search collection); `x-amz-content-sha256` is always sent, as it requires.
    Aoss,
}

impl SigV4Service {
    /// The signing name: `es` or `aoss`.
    pub fn name(self) -> &'static str {
        match self {
            SigV4Service::Es => "es",
            SigV4Service::Aoss => "aoss",
        }
    }
}

/// Where dead letters go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterTarget {
    /// One NDJSON object per source object under `s3://bucket/prefix`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix (e.g. `dead-letter/`).
        prefix: String,
    },
    /// Append NDJSON lines to a local file.
    File(PathBuf),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn endpoint_is_required() {
        assert_eq!(from(&[]).unwrap_err().variable, "ES_ENDPOINT");
        assert_eq!(
            from(&[("ES_ENDPOINT", "ftp://x")]).unwrap_err().variable,
            "ES_ENDPOINT"
        );
    }

    #[test]
    fn aws_endpoints_default_to_sigv4_with_region_from_host() {
        let c = from(&[("ES_ENDPOINT", "https://abc.us-east-1.aoss.amazonaws.com/")]).unwrap();
        assert_eq!(c.endpoint, "https://abc.us-east-1.aoss.amazonaws.com");
        match c.auth {
            Auth::SigV4(s) => {
                assert_eq!(s.service, SigV4Service::Aoss);
                assert_eq!(s.region.as_deref(), Some("us-east-1"));
            }
            other => panic!("expected sigv4, got {other:?}"),
        }
        // A Lambda in eu-west-3 writing to a domain in eu-west-1 must sign for eu-west-1.
        let c = from(&[
            ("ES_ENDPOINT", "https://search-d.eu-west-1.es.amazonaws.com"),
            ("AWS_REGION", "eu-west-3"),
        ])
        .unwrap();
        assert!(
            matches!(c.auth, Auth::SigV4(SigV4 { service: SigV4Service::Es, region: Some(ref r), .. }) if r == "eu-west-1")
        );
    }

    #[test]
    fn the_endpoint_host_names_the_region_before_the_environment() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
        let table: &[Case] = &[
            (
                "search-x.us-east-1.es.amazonaws.com",
                &[("AWS_REGION", "eu-west-1")],
                Some("us-east-1"),
            ),
            (
                "abc.ap-south-1.aoss.amazonaws.com",
                &[("AWS_DEFAULT_REGION", "eu-west-1")],
                Some("ap-south-1"),
            ),
            (
                "vpc-x-abc.eu-central-1.es.amazonaws.com",
                &[],
                Some("eu-central-1"),
            ),
            // Custom domain names and proxies carry no region: the environment decides.
            (
                "search.example.com",
                &[("AWS_REGION", "eu-west-2")],
                Some("eu-west-2"),
            ),
            (
                "search.example.com",
                &[("AWS_DEFAULT_REGION", "eu-north-1")],
                Some("eu-north-1"),
            ),
            (
                "search.example.com",
                &[("AWS_REGION", "eu-west-2"), ("AWS_DEFAULT_REGION", "x")],
                Some("eu-west-2"),
            ),
            ("search.example.com", &[], None),
            ("s3.us-east-1.amazonaws.com", &[], None),
        ];
        for (host, vars, want) in table {
            let map: HashMap<&str, &str> = vars.iter().copied().collect();
            let get = |name: &str| map.get(name).map(|v| v.to_string());
            assert_eq!(
                sigv4_region(host, &get).as_deref(),
                *want,
                "{host} {vars:?}"
            );
        }
    }

    #[test]
    fn parses_every_setting_and_names_bad_ones() {
        let c = from(&[
            ("ES_ENDPOINT", "http://127.0.0.1:9200"),
            ("ES_INDEX", "tweets2"),
            ("ES_USERNAME", "u"),
            ("ES_PASSWORD", "p"),
            ("BULK_MAX_BYTES", "1000"),
            ("BULK_CONCURRENCY", "3"),
            ("BULK_GZIP", "false"),
            ("DEAD_LETTER_BUCKET", "b"),
        ])
        .unwrap();
        assert_eq!(c.index, "tweets2");
        assert!(matches!(c.auth, Auth::Basic { .. }));
        assert_eq!(c.bulk_max_bytes, 1000);
        assert_eq!(c.bulk_concurrency, 3);
        assert!(!c.gzip);
        assert_eq!(
            c.dead_letter,
            Some(DeadLetterTarget::S3 {
                bucket: "b".into(),
                prefix: "dead-letter/".into()
            })
        );
        let local = [("ES_ENDPOINT", "http://localhost:9200")];
        assert!(matches!(from(&local).unwrap().auth, Auth::None));
        for (var, value) in [
            ("BULK_MAX_BYTES", "0"),
            ("BULK_CONCURRENCY", "0"),
            ("BULK_GZIP", "maybe"),
            ("ES_AUTH", "kerberos"),
            ("ES_SIGV4_SERVICE", "s3"),
            ("ES_INDEX", "Twitter"),
        ] {
            let mut vars = local.to_vec();
            vars.push((var, value));
            if var == "ES_SIGV4_SERVICE" {
                vars.push(("ES_AUTH", "sigv4"));
            }
            assert_eq!(from(&vars).unwrap_err().variable, var, "{var}={value}");
        }
        let basic = [("ES_ENDPOINT", "http://h:1"), ("ES_AUTH", "basic")];
        assert_eq!(from(&basic).unwrap_err().variable, "ES_USERNAME");
    }

    /// A file in the temp directory holding `text`, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("search-sink-config-{}-{name}", std::process::id()));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }
        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    const ENCODED: &str = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";

    #[test]
    fn api_keys_come_from_the_variable_or_a_file_and_never_appear_in_messages() {
        let file = TempFile::new("key", &format!("  {ENCODED}\n"));
        let id_and_key = TempFile::new("id-key", "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw\n");
        let empty = TempFile::new("empty", " \n");
        let https = ("ES_ENDPOINT", "https://x.es.example.com:9243");
        // (variables besides the endpoint, the key sent, or the variable named by the error)
        type Case<'a> = (Vec<(&'a str, &'a str)>, Result<&'a str, &'a str>);
        let table: Vec<Case> = vec![
            (vec![("ES_API_KEY", ENCODED)], Ok(ENCODED)),
            (
                vec![("ES_AUTH", "apikey"), ("ES_API_KEY", ENCODED)],
                Ok(ENCODED),
            ),
            (
                vec![("ES_AUTH", "APIKEY"), ("ES_API_KEY", ENCODED)],
                Ok(ENCODED),
            ),
            (vec![("ES_API_KEY_FILE", file.path())], Ok(ENCODED)),
            // id:api_key is encoded as the create API key API's `encoded` value is.
            (
                vec![("ES_API_KEY", "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw")],
                Ok(ENCODED),
            ),
            (vec![("ES_API_KEY_FILE", id_and_key.path())], Ok(ENCODED)),
            (vec![("ES_AUTH", "apikey")], Err("ES_API_KEY")),
            (
                vec![("ES_API_KEY", ENCODED), ("ES_API_KEY_FILE", file.path())],
                Err("ES_API_KEY_FILE"),
            ),
            (
                vec![("ES_API_KEY_FILE", empty.path())],
                Err("ES_API_KEY_FILE"),
            ),
            (
                vec![("ES_API_KEY_FILE", "/nonexistent/search-sink-key")],
                Err("ES_API_KEY_FILE"),
            ),
            (vec![("ES_API_KEY", "two words")], Err("ES_API_KEY")),
            (vec![("ES_API_KEY", "caf\u{e9}")], Err("ES_API_KEY")),
            // Both a user and a key: which one is meant must be said.
            (
                vec![
                    ("ES_USERNAME", "u"),
                    ("ES_PASSWORD", "p"),
                    ("ES_API_KEY", ENCODED),
                ],
                Err("ES_AUTH"),
            ),
            (
                vec![
                    ("ES_AUTH", "basic"),
                    ("ES_USERNAME", "u"),
                    ("ES_PASSWORD", "p"),
                    ("ES_API_KEY", ENCODED),
                ],
                Err("-basic"),
            ),
        ];
        for (vars, want) in table {
            let mut all = vec![https];
            all.extend(vars.iter().copied());
            match (from(&all), want) {
                (Ok(c), Ok(key)) => {
                    assert!(
                        matches!(c.auth, Auth::ApiKey { key: ref k } if k == key),
                        "{vars:?}: {:?}",
                        c.auth
                    );
                }
                (Ok(c), Err("-basic")) => assert!(matches!(c.auth, Auth::Basic { .. })),
                (Err(e), Err(variable)) => {
                    assert_eq!(e.variable, variable, "{vars:?}: {e}");
                    let secrets = vars.iter().filter(|(n, _)| *n == "ES_API_KEY");
                    for (_, value) in secrets {
                        assert!(!e.to_string().contains(value), "{e} quotes {value}");
                    }
                    assert!(!e.to_string().contains("ui2lp2axTNmsyakw9tvNnw"), "{e}");
                }
                (got, want) => panic!("{vars:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn credentials_over_plain_http_need_a_loopback_host_or_an_explicit_yes() {
        let basic = [("ES_USERNAME", "u"), ("ES_PASSWORD", "pw-not-in-messages")];
        let key = [("ES_API_KEY", ENCODED)];
        let sigv4 = [("ES_AUTH", "sigv4"), ("AWS_REGION", "eu-west-1")];
        let none = [("ES_AUTH", "none")];
        // (endpoint, auth variables, ES_ALLOW_INSECURE_HTTP, accepted)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>, bool);
        let table: &[Case] = &[
            ("http://search.example.com:9200", &basic, None, false),
            ("http://search.example.com:9200", &key, None, false),
            ("http://search.example.com:9200", &sigv4, None, false),
            ("http://10.0.0.5:9200", &basic, None, false),
            ("http://search.example.com:9200", &none, None, true),
            ("https://search.example.com", &basic, None, true),
            ("https://search.example.com", &key, None, true),
            ("https://search.example.com", &sigv4, None, true),
            ("http://127.0.0.1:9200", &basic, None, true),
            ("http://127.8.9.10:9200", &key, None, true),
            ("http://localhost:9200", &sigv4, None, true),
            ("http://LOCALHOST:9200", &basic, None, true),
            ("http://[::1]:9200", &key, None, true),
            ("http://search.example.com:9200", &basic, Some("true"), true),
            ("http://search.example.com:9200", &key, Some("1"), true),
            ("http://search.example.com:9200", &sigv4, Some("yes"), true),
            (
                "http://search.example.com:9200",
                &basic,
                Some("false"),
                false,
            ),
        ];
        for (endpoint, auth, allow, accepted) in table {
            let mut vars = vec![("ES_ENDPOINT", *endpoint)];
            vars.extend(auth.iter().copied());
            if let Some(allow) = allow {
                vars.push(("ES_ALLOW_INSECURE_HTTP", allow));
            }
            match from(&vars) {
                Ok(c) => {
                    assert!(accepted, "{endpoint} {auth:?} {allow:?} was accepted");
                    assert_eq!(c.allow_insecure_http, allow.is_some_and(|a| a != "false"));
                }
                Err(e) => {
                    assert!(!accepted, "{endpoint} {auth:?} {allow:?}: {e}");
                    assert_eq!(e.variable, "ES_ENDPOINT");
                    let text = e.to_string();
                    assert!(
                        text.contains("clear text") && text.contains("ES_ALLOW_INSECURE_HTTP=true"),
                        "{text}"
                    );
                    assert!(!text.contains("pw-not-in-messages") && !text.contains(ENCODED));
                }
            }
        }
        // Credentials in the URL: refused, and not quoted.
        for endpoint in [
            "https://elastic:pw-not-in-messages@es.example.com",
            "http://elastic@127.0.0.1:9200",
        ] {
            let e = from(&[("ES_ENDPOINT", endpoint)]).unwrap_err();
            assert_eq!(e.variable, "ES_ENDPOINT");
            assert!(!e.to_string().contains("pw-not-in-messages"), "{e}");
        }
        let bad = [
            ("ES_ENDPOINT", "http://127.0.0.1:9200"),
            ("ES_ALLOW_INSECURE_HTTP", "sure"),
        ];
        assert_eq!(from(&bad).unwrap_err().variable, "ES_ALLOW_INSECURE_HTTP");
        // A config built in code is checked when the client connects too.
        let mut config = Config::new("http://search.example.com:9200");
        config.auth = Auth::ApiKey {
            key: ENCODED.into(),
        };
        assert_eq!(
            config.refuse_unsafe_credentials().unwrap_err().variable,
            "ES_ENDPOINT"
        );
        config.allow_insecure_http = true;
        assert!(config.refuse_unsafe_credentials().is_ok());
    }

    #[test]
    fn debug_output_shows_no_credential() {
        let credentials = aws_credential_types::Credentials::new(
            "AKIDDEBUGEXAMPLE",
            "debug-secret-key",
            Some("debug-session-token".into()),
            None,
            "test",
        );
        let mut config = Config::new("https://search.example.com");
        let auths = [
            Auth::Basic {
                username: "alice".into(),
                password: "debug-password".into(),
            },
            Auth::ApiKey {
                key: "debug-api-key".into(),
            },
            Auth::SigV4(SigV4 {
                service: SigV4Service::Es,
                region: Some("eu-west-1".into()),
                credentials: Some(SharedCredentialsProvider::new(credentials)),
            }),
        ];
        for auth in auths {
            config.auth = auth;
            for text in [format!("{config:?}"), format!("{config:#?}")] {
                assert!(text.contains("***"), "{text}");
                for secret in [
                    "debug-password",
                    "debug-api-key",
                    "AKIDDEBUGEXAMPLE",
                    "debug-secret-key",
                    "debug-session-token",
                ] {
                    assert!(!text.contains(secret), "{secret} in {text}");
                }
            }
        }
        assert!(format!("{:?}", config.auth).contains("SigV4"));
        config.auth = Auth::Basic {
            username: "alice".into(),
            password: "debug-password".into(),
        };
        assert_eq!(
            format!("{:?}", config.auth),
            r#"Basic { username: "alice", password: *** }"#
        );
    }
}
