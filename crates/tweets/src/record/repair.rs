//! Repair: makes a record that serde_json refused although it is valid JSON readable, on the
//! error path only (lone UTF-16 surrogate escapes, duplicated keys), each repair reported as a
//! [`Warning`]. Not the parse itself (`classify.rs`), nor any other error, which is returned
//! as it is.

use std::borrow::Cow;

use crate::error::{BROKEN_SURROGATE_PAIR, LONE_SURROGATE, RecordError, Warning};

/// Makes a record that serde_json refused although it is valid JSON readable, on the error
/// path only: lone UTF-16 surrogate escapes (`\ud800`) become `\ufffd` (what Python's
/// `errors="replace"` shows), and duplicated keys keep their last value (what JSON parsers
/// do; serde's derived structs refuse them). `check` parses the repaired text as the caller
/// will; each repair is reported in `warnings`. Any other error is returned as it is.
pub(crate) fn repair(
    text: &str,
    first: RecordError,
    check: impl Fn(&str) -> Result<(), RecordError>,
    warnings: &mut Vec<Warning>,
) -> Result<String, RecordError> {
    let mut current = Cow::Borrowed(text);
    let mut error = first;
    // Each round fixes one kind of error; a record can need both, in either order.
    for _ in 0..4 {
        let RecordError::Json(msg) = &error else {
            return Err(error);
        };
        let repaired = if msg.contains(LONE_SURROGATE) || msg.contains(BROKEN_SURROGATE_PAIR) {
            let (fixed, replaced) = replace_lone_surrogates(&current);
            if replaced == 0 {
                return Err(error);
            }
            warnings.push(Warning::LoneSurrogates(replaced));
            fixed
        } else if let Some(key) = duplicated_key(msg) {
            // A `Value` map keeps the last of duplicated keys, at every level.
            match serde_json::from_str::<serde_json::Value>(&current) {
                Ok(value) => {
                    warnings.push(Warning::DuplicateKey(key.to_owned()));
                    value.to_string()
                }
                Err(e) => {
                    error = e.into();
                    continue;
                }
            }
        } else {
            return Err(error);
        };
        match check(&repaired) {
            Ok(()) => return Ok(repaired),
            Err(e) => {
                error = e;
                current = Cow::Owned(repaired);
            }
        }
    }
    Err(error)
}

/// `lang` of serde's "duplicate field `lang`".
fn duplicated_key(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("duplicate field `")?;
    rest.split('`').next()
}

/// Replaces every `\uXXXX` escape of a lone UTF-16 surrogate by `\ufffd`; returns the text and
/// how many were replaced. Written by hand: serde_json has no lossy mode for them, and this
/// only looks at escapes (a backslash in valid JSON always starts one), so it needs no parser.
fn replace_lone_surrogates(text: &str) -> (String, usize) {
    fn hex4(b: &[u8], at: usize) -> Option<u32> {
        let digits = b.get(at..at + 4)?;
        digits
            .iter()
            .try_fold(0u32, |n, &d| Some(n * 16 + char::from(d).to_digit(16)?))
    }
    const HIGH: std::ops::Range<u32> = 0xD800..0xDC00;
    const LOW: std::ops::Range<u32> = 0xDC00..0xE000;
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i, mut replaced) = (0, 0, 0);
    while let Some(found) = b.get(i..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let at = i + found;
        let unit = (b.get(at + 1) == Some(&b'u'))
            .then(|| hex4(b, at + 2))
            .flatten();
        let Some(unit) = unit else {
            // `\\`, `\"`, `\n`, ...: two bytes.
            i = at + 2;
            continue;
        };
        let paired = HIGH.contains(&unit)
            && b.get(at + 6) == Some(&b'\\')
            && b.get(at + 7) == Some(&b'u')
            && hex4(b, at + 8).is_some_and(|low| LOW.contains(&low));
        if paired {
            i = at + 12;
        } else if HIGH.contains(&unit) || LOW.contains(&unit) {
            out.push_str(&text[copied..at]);
            out.push_str("\\ufffd");
            copied = at + 6;
            i = at + 6;
            replaced += 1;
        } else {
            i = at + 6;
        }
    }
    out.push_str(&text[copied..]);
    (out, replaced)
}

#[cfg(test)]
mod tests {
    use super::super::classify::sort;
    use super::*;
    use crate::error::MAX_DEPTH;

    #[test]
    fn lone_surrogate_escapes_and_only_they_are_replaced() {
        let cases = [
            (r#""a\ud800b""#, r#""a\ufffdb""#, 1),
            (r#""a\uDC00""#, r#""a\ufffd""#, 1),
            // A pair, any case of hex digits, is a character.
            (
                r#""\ud83d\ude00 \uD83D\uDE00""#,
                r#""\ud83d\ude00 \uD83D\uDE00""#,
                0,
            ),
            // Two leading surrogates: the first is lone, the second pairs.
            (r#""\ud83d\ud83d\ude00""#, r#""\ufffd\ud83d\ude00""#, 1),
            // An escaped backslash before `u` starts no escape.
            (r#""\\ud800 \\\ud800""#, r#""\\ud800 \\\ufffd""#, 1),
            (r#""\ud800\n\u0041""#, r#""\ufffd\n\u0041""#, 1),
            // Truncated escapes are left to the parser to report.
            (r#""\ud8"#, r#""\ud8"#, 0),
            (r#""\"#, r#""\"#, 0),
            ("\"é\\udfffé\"", "\"é\\ufffdé\"", 1),
        ];
        for (input, want, n) in cases {
            assert_eq!(
                replace_lone_surrogates(input),
                (want.to_owned(), n),
                "{input}"
            );
        }
        // Every replacement then parses to U+FFFD.
        let (fixed, _) = replace_lone_surrogates(r#""a\ud800b""#);
        assert_eq!(
            serde_json::from_str::<String>(&fixed).unwrap(),
            "a\u{FFFD}b"
        );
    }

    #[test]
    fn duplicated_key_is_read_from_serde_message() {
        assert_eq!(
            duplicated_key("duplicate field `lang` at line 1 column 9"),
            Some("lang")
        );
        assert_eq!(duplicated_key("invalid type: map"), None);
    }

    /// `MAX_DEPTH` is serde_json's recursion limit, counted with the record as level 1.
    #[test]
    fn max_depth_is_the_parsers_limit() {
        let nested = |levels: usize| {
            // The record is one level; `levels - 1` arrays inside it.
            let arrays = levels - 1;
            format!(
                r#"{{"id_str":"1","text":"t","lang":"a","lang":"b","x":{}1{}}}"#,
                "[".repeat(arrays),
                "]".repeat(arrays)
            )
        };
        let check = |t: &str| sort(t.as_bytes()).map(drop);
        let mut warnings = Vec::new();
        let at_limit = nested(MAX_DEPTH);
        let first = sort(at_limit.as_bytes()).err().unwrap();
        assert!(repair(&at_limit, first, check, &mut warnings).is_ok());
        let beyond = nested(MAX_DEPTH + 1);
        let first = sort(beyond.as_bytes()).err().unwrap();
        assert_eq!(
            repair(&beyond, first, check, &mut warnings),
            Err(RecordError::TooDeep)
        );
        assert_eq!(
            RecordError::TooDeep.to_string(),
            "nested deeper than 127 levels"
        );
    }
}
