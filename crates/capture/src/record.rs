//! A record: one stream line as received, with the ids the sinks partition by. What the reader
//! puts in the queue and the sinks take from it; it uses nothing of the crate.

use bytes::Bytes;

/// One forwarded stream line, as received (no `\r\n`), with the keys sinks partition by.
#[derive(Debug)]
pub struct Record {
    pub line: Bytes,
    pub tweet_id: Option<String>,
    pub author_id: Option<String>,
    /// Held while the record is in the queue's memory or in the sink: frees its bytes when
    /// dropped.
    pub(crate) budget: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Record {
    /// A record outside any queue (for sinks' tests and replays).
    pub fn new(
        line: impl Into<Bytes>,
        tweet_id: Option<String>,
        author_id: Option<String>,
    ) -> Self {
        Record {
            line: line.into(),
            tweet_id,
            author_id,
            budget: None,
        }
    }
}
