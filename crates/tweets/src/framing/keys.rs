//! Key learning: the first keys of the good records of a stream, and the keys that start
//! top-level objects of the Twitter / X APIs. Resync asks them whether a `{` after `,` in a
//! one-line array may start a record, and whether an object at the end of the input does (see
//! `resync.rs`, and the module docs of [`super`] for the rule). Not the rule itself, nor any
//! scanning: only which keys are known.

/// Longest first key remembered for candidate checks.
pub(super) const MAX_KEY_BYTES: usize = 64;
/// How many distinct first keys a stream may teach the framer.
const MAX_KEYS: usize = 32;
/// Keys that start top-level objects of the Twitter / X APIs (tweets, v2 objects and payloads,
/// stream messages) and, in the shared corpus, never start an element of an array inside one
/// (unlike `id`, `id_str`, `text`, `type`, `author_id`, `geo`): candidates after a `,` before
/// any record of the stream taught its own keys.
const SEED_KEYS: &[&[u8]] = &[
    b"attachments",
    b"compliance_job_result",
    b"context_annotations",
    b"contributors",
    b"control",
    b"conversation_id",
    b"coordinates",
    b"created_at",
    b"data",
    b"delete",
    b"direct_message",
    b"disconnect",
    b"display_text_range",
    b"edit_controls",
    b"edit_history_tweet_ids",
    b"entities",
    b"event",
    b"extended_entities",
    b"favorited",
    b"for_user",
    b"friends",
    b"full_text",
    b"in_reply_to_screen_name",
    b"in_reply_to_status_id",
    b"in_reply_to_status_id_str",
    b"in_reply_to_user_id",
    b"in_reply_to_user_id_str",
    b"lang",
    b"limit",
    b"metadata",
    b"place",
    b"possibly_sensitive",
    b"possibly_sensitive_appealable",
    b"public_metrics",
    b"quoted_status",
    b"referenced_tweets",
    b"reply_count",
    b"reply_settings",
    b"retweeted_status",
    b"scrub_geo",
    b"source",
    b"status_withheld",
    b"target",
    b"user",
    b"user_withheld",
    b"warning",
];

/// The first keys of the good records of a stream (at most [`MAX_KEYS`], each at most
/// [`MAX_KEY_BYTES`]).
#[derive(Default)]
pub(super) struct Keys {
    /// First keys of good records (for candidates after `},` in a one-line array).
    keys: Vec<Box<[u8]>>,
    /// The index in `keys` of the last key seen.
    last_key: usize,
}

impl Keys {
    /// A key that started a good record of this stream, or one of [`SEED_KEYS`].
    pub(super) fn known(&self, key: &[u8]) -> bool {
        SEED_KEYS.contains(&key) || self.learned(key)
    }

    /// A key that started a good record of this stream.
    pub(super) fn learned(&self, key: &[u8]) -> bool {
        self.keys.iter().any(|k| &**k == key)
    }

    /// Remembers the first key of the good record at the start of `b`.
    pub(super) fn learn(&mut self, b: &[u8]) {
        // Records mostly begin with the key of the record before: that one is checked first.
        if let Some(last) = self.keys.get(self.last_key)
            && b.get(1) == Some(&b'"')
            && b[2..].starts_with(last)
            && b.get(2 + last.len()) == Some(&b'"')
        {
            return;
        }
        let Some(key) = first_key(b) else {
            return;
        };
        match self.keys.iter().position(|k| &**k == key) {
            Some(n) => self.last_key = n,
            None if self.keys.len() < MAX_KEYS => {
                self.last_key = self.keys.len();
                self.keys.push(key.into());
            }
            None => {}
        }
    }
}

/// The first key of the object at the start of `b` (`{`, blanks, `"key"`).
pub(super) fn first_key(b: &[u8]) -> Option<&[u8]> {
    let mut k = 1;
    while k < b.len() && matches!(b[k], b' ' | b'\t' | b'\r' | b'\n') {
        k += 1;
    }
    if b.get(k) != Some(&b'"') {
        return None;
    }
    let rest = &b[k + 1..b.len().min(k + 2 + MAX_KEY_BYTES)];
    let n = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[n] == b'"').then(|| &rest[..n])
}
