//! Short, cause-first descriptions of what went wrong talking to X: a failed request says
//! why (refused, timed out, name not found, certificate) before where, and an error body is
//! excerpted (first line, capped), never dumped. The bearer token is never part of either
//! (it travels in a sensitive header, not in the URL), and neither is a URL's query (where a
//! compliance job's upload and download URLs carry their secret token).

use crate::class::Class;

/// The longest excerpt of a remote error body.
pub const EXCERPT_CHARS: usize = 200;

/// Whether rerunning may help: a certificate that is not trusted is a permanent refusal
/// (as for `tweet-indexer`), a request that cannot be built is a usage error, and both fail
/// the same way again; refused, reset, timed out or name not found may not.
pub fn class(error: &reqwest::Error) -> Class {
    if error.is_builder() {
        Class::Usage
    } else if is_certificate(error) {
        Class::Refused
    } else {
        Class::Transient
    }
}

fn is_certificate(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        if s.to_string().to_ascii_lowercase().contains("certificate") {
            return true;
        }
        source = s.source();
    }
    false
}

/// `reqwest`'s error as one line, its root cause first: "cannot connect: Connection refused
/// (os error 111) (http://127.0.0.1:1/2/tweets/search/stream/rules)". The URL comes last and
/// without its query (the stream's field list is long and says nothing about the failure).
pub fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "no answer before the deadline"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_builder() {
        "invalid request"
    } else if error.is_body() || error.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    // The innermost cause is the specific one ("Connection refused (os error 111)",
    // "invalid peer certificate: UnknownIssuer"); the layers above it only wrap it
    // ("client error (Connect)", "tcp connect error").
    let mut root = None;
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        root = Some(s.to_string());
        source = s.source();
    }
    let mut cause = root.unwrap_or_else(|| error.to_string());
    if let Some(url) = error.url()
        && url.query().is_some()
    {
        // reqwest's own text names the whole URL: never its query.
        let mut bare = url.clone();
        bare.set_query(None);
        cause = cause.replace(url.as_str(), bare.as_str());
    }
    let mut text = if cause.is_empty() || what.contains(cause.as_str()) {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    };
    if is_certificate(error) {
        text.push_str(
            " (the server's certificate is not trusted here: if its CA is yours, name it in SSL_CERT_FILE)",
        );
    }
    if let Some(url) = error.url() {
        let mut url = url.clone();
        url.set_query(None);
        text.push_str(&format!(" ({url})"));
    }
    text
}

/// The first non-empty line of a remote error body, cut at [`EXCERPT_CHARS`] characters.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(EXCERPT_CHARS).collect();
    if line.chars().count() > EXCERPT_CHARS {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_table() {
        let long = "x".repeat(500);
        let table: &[(&[u8], String)] = &[
            (b"", String::new()),
            (b"\n\n  <html>\n<body>oops</body>", "<html>".to_owned()),
            (b"Service Unavailable", "Service Unavailable".to_owned()),
            (long.as_bytes(), format!("{}...", "x".repeat(EXCERPT_CHARS))),
            (b"caf\xc3\xa9 \xff", "caf\u{e9} \u{fffd}".to_owned()),
        ];
        for (body, expected) in table {
            assert_eq!(&excerpt(body), expected, "{body:?}");
        }
    }

    #[tokio::test]
    async fn a_refused_connection_names_its_cause_first() {
        // A port nothing listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = search_sink::https::reqwest_client_builder()
            .unwrap()
            .build()
            .unwrap();
        let error = client
            .get(format!("http://127.0.0.1:{port}/2/x?token=no"))
            .send()
            .await
            .unwrap_err();
        let text = describe(&error);
        assert!(
            text.starts_with("cannot connect: Connection refused"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("(http://127.0.0.1:{port}/2/x)")),
            "{text}"
        );
    }
}
