//! Credentials for the tests that run a binary at TRACE and scan what it printed: values no
//! log line can hold by chance, the environment that hands the AWS ones to a binary (moto and
//! osmem-server accept any), and the scan.

/// An access key id shaped like a temporary one (session credentials start with `ASIA`).
pub const ACCESS_KEY_ID: &str = "ASIAB1NEVERINANYLOG7";
pub const SECRET_ACCESS_KEY: &str = "secret-B1-never-in-any-log";
pub const SESSION_TOKEN: &str = "token-B1-never-in-any-log";
pub const USERNAME: &str = "secrets-test-user";
pub const PASSWORD: &str = "pw-B1-never-in-any-log";
/// `Basic` credentials as sent: base64 of `USERNAME:PASSWORD`.
pub const BASIC_TOKEN: &str = "c2VjcmV0cy10ZXN0LXVzZXI6cHctQjEtbmV2ZXItaW4tYW55LWxvZw==";
/// The secret half of [`API_KEY`].
pub const API_KEY_SECRET: &str = "apikey-B1-never-in-any-log";
/// An Elasticsearch API key's `encoded` form: base64 of `B1-key-id:API_KEY_SECRET`.
pub const API_KEY: &str = "QjEta2V5LWlkOmFwaWtleS1CMS1uZXZlci1pbi1hbnktbG9n";

/// The AWS variables that give a binary session credentials (and nothing else it could
/// pick up from the machine: no profile, no instance metadata look-up).
pub const AWS_SESSION_ENV: [(&str, &str); 7] = [
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
    ("AWS_SESSION_TOKEN", SESSION_TOKEN),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/dev/null"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
];

/// What in `text` would reveal a credential: each secret above, and SigV4's `Signature=` and
/// `Credential=` (only an `Authorization` header or a canonical request holds them).
pub fn leaks(text: &str) -> Vec<&'static str> {
    [
        ("access key id", ACCESS_KEY_ID),
        ("secret access key", SECRET_ACCESS_KEY),
        ("session token", SESSION_TOKEN),
        ("password", PASSWORD),
        ("basic credentials", BASIC_TOKEN),
        ("API key", API_KEY),
        ("API key secret", API_KEY_SECRET),
        ("SigV4 signature", "Signature="),
        ("SigV4 credential scope", "Credential="),
    ]
    .into_iter()
    .filter(|(_, secret)| text.contains(secret))
    .map(|(what, _)| what)
    .collect()
}

/// Panics naming what leaked, with the lines that hold it.
pub fn assert_no_leak(what_ran: &str, text: &str) {
    let leaked = leaks(text);
    if leaked.is_empty() {
        return;
    }
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !leaks(line).is_empty())
        .take(5)
        .collect();
    panic!(
        "{what_ran}: {leaked:?} in its output; the lines:\n{}",
        lines.join("\n")
    );
}
