//! The optional author filter (`FOLLOW_USER_IDS` / `--follow-user-ids`): only tweets written by
//! the followed accounts are indexed; other tweets are counted as `filtered`. Delete notices
//! always apply (a delete names a tweet id, not its author, and deleting a tweet we never
//! indexed is harmless). Control messages and invalid records are untouched.
//!
//! The author is the document's `user.id`: v1.1 `user.id_str` (or `user.id`), v2 `author_id`.

use std::collections::HashSet;

use tweets::Item;

/// The environment variable the Lambda reads (the CLI flag falls back to it).
pub const FOLLOW_USER_IDS: &str = "FOLLOW_USER_IDS";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{FOLLOW_USER_IDS}: {value:?} is not a numeric user id (expected id,id,...)")]
pub struct FilterError {
    pub value: String,
}

/// Which authors to keep; the default keeps every tweet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorFilter {
    /// `None`: no filter.
    follow: Option<HashSet<u64>>,
}

impl AuthorFilter {
    /// Parses `id,id,...` (spaces around ids allowed). An empty or blank list means no filter:
    /// an unset template parameter must not silently drop every tweet.
    pub fn parse(list: &str) -> Result<Self, FilterError> {
        let ids = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<u64>().map_err(|_| FilterError {
                    value: s.to_owned(),
                })
            })
            .collect::<Result<HashSet<u64>, _>>()?;
        Ok(AuthorFilter {
            follow: (!ids.is_empty()).then_some(ids),
        })
    }

    /// From `FOLLOW_USER_IDS` (unset: no filter).
    pub fn from_env() -> Result<Self, FilterError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `FOLLOW_USER_IDS` as `lookup` gives it (tests pass a map instead of the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, FilterError> {
        lookup(FOLLOW_USER_IDS).map_or_else(|| Ok(Self::default()), |list| Self::parse(&list))
    }

    pub fn is_active(&self) -> bool {
        self.follow.is_some()
    }

    /// True when `item` is a tweet by an account that is not followed. A tweet with no author
    /// id cannot be shown to be by a followed account, so it is filtered too.
    pub fn rejects(&self, item: &Item) -> bool {
        match (&self.follow, item) {
            (Some(follow), Item::Document { doc, .. }) => {
                !doc.user.id.is_some_and(|id| follow.contains(&id))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tweets::{Extractor, ExtractorOptions};

    #[test]
    fn parses_lists_and_rejects_non_numbers() {
        assert!(!AuthorFilter::parse("").unwrap().is_active());
        assert!(!AuthorFilter::parse(" , ").unwrap().is_active());
        assert!(AuthorFilter::parse("12, 34").unwrap().is_active());
        assert_eq!(
            AuthorFilter::parse("12,@bob").unwrap_err().to_string(),
            "FOLLOW_USER_IDS: \"@bob\" is not a numeric user id (expected id,id,...)"
        );
    }

    #[test]
    fn keeps_followed_authors_v1_and_v2_and_every_delete() {
        let records = [
            // (record, kept with follow = 7 and 18446744073709551615)
            (
                r#"{"id_str":"1","text":"a","user":{"id_str":"7","id":7}}"#,
                true,
            ),
            (
                r#"{"id_str":"2","text":"b","user":{"id_str":"8","id":8}}"#,
                false,
            ),
            (
                r#"{"id_str":"3","text":"c","user":{"id_str":"18446744073709551615"}}"#,
                true,
            ),
            (r#"{"data":{"id":"4","text":"d","author_id":"7"}}"#, true),
            (r#"{"data":{"id":"5","text":"e","author_id":"9"}}"#, false),
            (r#"{"id_str":"6","text":"no author"}"#, false),
            (
                r#"{"delete":{"status":{"id":2,"id_str":"2","user_id":8}}}"#,
                true,
            ),
            (r#"{"limit":{"track":3}}"#, true),
        ];
        let filter = AuthorFilter::parse("7,18446744073709551615").unwrap();
        let extractor = Extractor::new(ExtractorOptions::default());
        for (record, kept) in records {
            let mut items = Vec::new();
            extractor.bytes_items(record.as_bytes(), 0, &mut items);
            assert_eq!(items.len(), 1, "{record}");
            assert!(!matches!(items[0], Item::Invalid { .. }), "{record}");
            assert_eq!(!filter.rejects(&items[0]), kept, "{record}");
            assert!(!AuthorFilter::default().rejects(&items[0]));
        }
    }
}
