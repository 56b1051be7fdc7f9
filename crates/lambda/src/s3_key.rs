//! S3 object keys as S3 event notifications and Batch Operations (schema 1.0) send them:
//! URL-encoded, `+` for a space.

use percent_encoding::percent_decode_str;

use crate::event_error::EventError;

/// Decodes an S3 notification key: `+` is a space, `%XX` are UTF-8 bytes.
pub fn decode_key(raw: &str) -> Result<String, EventError> {
    let plus_as_space = raw.replace('+', " ");
    percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| EventError::BadKey {
            raw: raw.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent_utf8() {
        assert_eq!(
            decode_key("a+b%2Bc/%C3%A9t%C3%A9+2026.gz").unwrap(),
            "a b+c/été 2026.gz"
        );
        assert_eq!(decode_key("plain/key").unwrap(), "plain/key");
        assert!(matches!(
            decode_key("bad%FF"),
            Err(EventError::BadKey { .. })
        ));
    }
}
