//! The workspace's one error-chain formatter: an error and its sources on one line, for logs
//! and error messages (HTTP clients, the AWS SDK: their own messages name only the outer
//! layer). In the lowest crate that needs it; `search_sink::error_chain` and
//! `search_sink::https::error_chain` are this one function.

/// `error` and its sources, `: `-joined (reqwest's own message names only the URL); a
/// source whose text the line already holds is not repeated.
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
