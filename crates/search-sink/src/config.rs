//! Settings of the sink: endpoint, index, auth, batching, compression and dead letters, with
//! a parser for the `ES_*` / `BULK_*` / `DEAD_LETTER_*` environment variables.

use crate::error::ConfigError;
use aws_credential_types::provider::SharedCredentialsProvider;
use std::path::PathBuf;
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

/// Everything the sink needs to talk to one search endpoint.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL, e.g. `https://search-x.eu-west-1.es.amazonaws.com` or `http://127.0.0.1:9200`.
    pub endpoint: String,
    /// Index name (default `twitter`).
    pub index: String,
    /// How requests are authenticated.
    pub auth: Auth,
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
    /// | `ES_AUTH` | `sigv4`, `basic` or `none` | `sigv4` for `*.amazonaws.com`, `basic` when `ES_USERNAME` is set, else `none` |
    /// | `ES_SIGV4_SERVICE` | `es` or `aoss` | `aoss` for `*.aoss.amazonaws.com`, else `es` |
    /// | `AWS_REGION` | SigV4 region when the endpoint host names none | the endpoint host's region, else the AWS config chain |
    /// | `ES_USERNAME`, `ES_PASSWORD` | basic auth | |
    /// | `BULK_MAX_BYTES` | flush threshold in bytes | 5242880 |
    /// | `BULK_MAX_OPERATIONS` | flush threshold in operations | 10000 |
    /// | `BULK_CONCURRENCY` | bulk requests in flight at once | 2 |
    /// | `BULK_GZIP` | `true`/`false` (`1`/`0`) | `true` |
    /// | `DEAD_LETTER_BUCKET`, `DEAD_LETTER_PREFIX` | S3 dead-letter store | none; prefix `dead-letter/` |
    /// | `DEAD_LETTER_FILE` | local NDJSON dead-letter file (if no bucket) | none |
    ///
    /// SigV4 credentials always come from the AWS default chain (environment incl.
    /// `AWS_SESSION_TOKEN`, profile, container/instance roles) when the client connects.
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
        let auth = match get("ES_AUTH").map(|v| v.to_ascii_lowercase()) {
            Some(v) => v,
            None if host.ends_with(".amazonaws.com") => "sigv4".into(),
            None if username.is_some() => "basic".into(),
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
                    format!("{other:?} is not one of: sigv4, basic, none"),
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
            config.gzip = match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError::new(
                        "BULK_GZIP",
                        format!("{v:?} is not true or false"),
                    ));
                }
            };
        }
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

/// How requests are authenticated.
#[derive(Debug, Clone)]
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
    /// AWS Signature Version 4 over the exact bytes sent (after compression).
    SigV4(SigV4),
}

/// SigV4 settings.
#[derive(Debug, Clone)]
pub struct SigV4 {
    /// `es` for OpenSearch Service domains, `aoss` for OpenSearch Serverless.
    pub service: SigV4Service,
    /// Region; `None` takes it from the AWS config chain (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// Credentials; `None` uses the AWS default chain (env incl. session token, profile,
    /// ECS/EKS/IMDS roles). Resolved credentials are cached until 5 minutes before expiry.
    pub credentials: Option<SharedCredentialsProvider>,
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
}
