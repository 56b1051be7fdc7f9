//! What one bulk item's answer means for the operation: a pure policy, kept apart from the
//! sending (as Vector keeps its Elasticsearch retry logic apart from the service), so every
//! status and error type has one tested answer.
//!
//! - Success: created/updated/deleted/not found.
//! - `Superseded`: 409 on our versioned write, a newer version (or a tombstone) is already
//!   there. Done: not a failure, not retried, not dead-lettered.
//! - `Retry`: 429 and 5xx (busy or broken node), with backoff inside the deadline.
//! - `DeadLetter`: the document itself is bad (mapping/parsing errors, too large); other
//!   documents go on.
//! - `IndexMissing`: the index is gone (deleted on a warm process); ensure it again once.
//! - `Fail`: index-wide or unknown problems (write blocks on low storage, security errors,
//!   anything unrecognised): the whole delivery fails so the input is retried later; nothing
//!   is dead-lettered, since the documents are fine. So does an `illegal_argument_exception`
//!   whose reason says the collection takes no document ids ([`collection_refusal`]): an
//!   OpenSearch Serverless time series or vector search collection refuses every document we
//!   send that way, whatever the document.

/// Whether a whole request answered with `status` is worth sending again after a backoff: 408
/// (request timeout), 429 (busy), and the 5xx statuses of a busy, restarting or overloaded
/// node or proxy (500, 502, 503, 504). Every other status is final for the request: 501 or
/// 405 from a server that is no search API, 4xx refusals of auth, paths and bodies; a retry
/// would be refused the same way, so callers fail at once instead of until their deadline.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The class of one bulk item outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemClass {
    /// An index that created the document.
    Created,
    /// An index that replaced the document.
    Updated,
    /// A tombstone that replaced a document.
    Deleted,
    /// A tombstone for an id the index did not have (or a real delete answered 404).
    NotFound,
    /// A higher version of the id is already indexed (409): the operation is moot.
    Superseded,
    /// Try again later (429, 5xx).
    Retry,
    /// The document is bad: dead-letter it.
    DeadLetter,
    /// The index does not exist.
    IndexMissing,
    /// The whole delivery must fail: retrying it now or dead-lettering it would be wrong.
    Fail,
}

/// Error types that describe the document, not the index or the cluster.
const DOCUMENT_ERRORS: &[&str] = &[
    "mapper_parsing_exception",
    "document_parsing_exception",
    "illegal_argument_exception",
    "strict_dynamic_mapping_exception",
    "mapper_exception",
    "parse_exception",
    "max_bytes_length_exceeded_exception",
    "request_entity_too_large",
    "encode_error",
];

/// The start of the reason OpenSearch Serverless gives, item by item, when a time series or
/// vector search collection is sent a document with an `_id` ("Document ID is not supported
/// in create/index operation request"): those collection types generate ids themselves and
/// take no custom id, version or upsert; only search collections do.
const NO_CUSTOM_IDS: &str = "document id is not supported";

/// What an item refusal means when it is the collection's, not the document's: `Some`
/// explanation for the `illegal_argument_exception` of a collection that takes no document
/// ids (see [`NO_CUSTOM_IDS`]), `None` for anything else.
pub fn collection_refusal(error_type: &str, reason: &str) -> Option<&'static str> {
    (error_type == "illegal_argument_exception"
        && reason.to_ascii_lowercase().contains(NO_CUSTOM_IDS))
    .then_some(
        "this collection does not take document ids or versions (an OpenSearch Serverless \
         time series or vector search collection); every tweet is written under its id so \
         that retries and duplicates land on one document: use a search collection",
    )
}

/// Classifies one item: `delete` says whether the operation was a delete (tombstone),
/// `created` whether the server said `created`, `error_type` and `reason` are the item's
/// `error.type` and `error.reason`.
pub fn classify(
    delete: bool,
    status: u16,
    created: bool,
    error_type: Option<&str>,
    reason: Option<&str>,
) -> ItemClass {
    let error_type = error_type.unwrap_or("");
    if collection_refusal(error_type, reason.unwrap_or("")).is_some() {
        return ItemClass::Fail;
    }
    match (status, error_type) {
        (200..=299, _) => match (delete, created) {
            (true, true) => ItemClass::NotFound,
            (true, false) => ItemClass::Deleted,
            (false, true) => ItemClass::Created,
            (false, false) => ItemClass::Updated,
        },
        // Blocks are index-wide whatever the status (403 write block, 429 flood-stage
        // read_only_allow_delete): retrying in this invocation only burns the deadline.
        (_, "cluster_block_exception") => ItemClass::Fail,
        (_, "index_not_found_exception") => ItemClass::IndexMissing,
        (409, _) => ItemClass::Superseded,
        (_, "version_conflict_engine_exception") => ItemClass::Superseded,
        // A real delete of a missing id (older servers, or a caller's own deletes).
        (404, "") if delete => ItemClass::NotFound,
        (429, _) | (500..=599, _) => ItemClass::Retry,
        (413, _) => ItemClass::DeadLetter,
        (400, t) if DOCUMENT_ERRORS.contains(&t) => ItemClass::DeadLetter,
        _ => ItemClass::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ItemClass::*;

    #[test]
    fn whole_requests_retry_only_on_busy_or_broken_servers() {
        let transient = [408, 429, 500, 502, 503, 504];
        let last = [
            200, 201, 400, 401, 403, 404, 405, 409, 410, 413, 418, 451, 501, 505, 507, 511,
        ];
        for status in transient {
            assert!(is_transient_status(status), "{status}");
        }
        for status in last {
            assert!(!is_transient_status(status), "{status}");
        }
    }

    #[test]
    fn every_item_answer_has_one_class() {
        let table: &[(bool, u16, bool, Option<&str>, ItemClass)] = &[
            (false, 201, true, None, Created),
            (false, 200, true, None, Created),
            (false, 200, false, None, Updated),
            (true, 201, true, None, NotFound),
            (true, 200, false, None, Deleted),
            (true, 404, false, None, NotFound),
            (
                false,
                409,
                false,
                Some("version_conflict_engine_exception"),
                Superseded,
            ),
            (
                true,
                409,
                false,
                Some("version_conflict_engine_exception"),
                Superseded,
            ),
            (
                false,
                429,
                false,
                Some("es_rejected_execution_exception"),
                Retry,
            ),
            (false, 429, false, Some("circuit_breaking_exception"), Retry),
            (false, 500, false, Some("null_pointer_exception"), Retry),
            (false, 502, false, None, Retry),
            (
                false,
                503,
                false,
                Some("unavailable_shards_exception"),
                Retry,
            ),
            (false, 504, false, None, Retry),
            (
                false,
                400,
                false,
                Some("mapper_parsing_exception"),
                DeadLetter,
            ),
            (
                false,
                400,
                false,
                Some("document_parsing_exception"),
                DeadLetter,
            ),
            (
                false,
                400,
                false,
                Some("illegal_argument_exception"),
                DeadLetter,
            ),
            (
                false,
                400,
                false,
                Some("strict_dynamic_mapping_exception"),
                DeadLetter,
            ),
            (false, 413, false, None, DeadLetter),
            (false, 403, false, Some("cluster_block_exception"), Fail),
            (false, 429, false, Some("cluster_block_exception"), Fail),
            (true, 403, false, Some("cluster_block_exception"), Fail),
            (
                false,
                404,
                false,
                Some("index_not_found_exception"),
                IndexMissing,
            ),
            (
                true,
                404,
                false,
                Some("index_not_found_exception"),
                IndexMissing,
            ),
            (false, 403, false, Some("security_exception"), Fail),
            (false, 401, false, Some("security_exception"), Fail),
            (false, 403, false, Some("authorization_exception"), Fail),
            (false, 400, false, Some("index_closed_exception"), Fail),
            (
                false,
                400,
                false,
                Some("action_request_validation_exception"),
                Fail,
            ),
            (false, 400, false, None, Fail),
            (false, 404, false, None, Fail),
            (false, 418, false, Some("teapot"), Fail),
        ];
        for &(delete, status, created, error_type, want) in table {
            assert_eq!(
                classify(delete, status, created, error_type, Some("some reason")),
                want,
                "delete={delete} status={status} type={error_type:?}"
            );
        }
    }

    /// OpenSearch Serverless refuses every document with an `_id` on a time series or vector
    /// search collection, item by item, as `illegal_argument_exception` (the reason as the
    /// service sends it, and in other cases); the same type with a reason about the document
    /// stays a bad document.
    #[test]
    fn a_collection_that_takes_no_ids_fails_the_delivery() {
        let table: &[(bool, u16, &str, &str, ItemClass)] = &[
            (
                false,
                400,
                "illegal_argument_exception",
                "Document ID is not supported in create/index operation request",
                Fail,
            ),
            (
                true,
                400,
                "illegal_argument_exception",
                "document id is not supported in create/index operation request",
                Fail,
            ),
            (
                false,
                400,
                "illegal_argument_exception",
                "Document ID IS NOT SUPPORTED",
                Fail,
            ),
            (
                false,
                400,
                "illegal_argument_exception",
                "failed to parse date field [not a date]",
                DeadLetter,
            ),
            (
                false,
                400,
                "mapper_parsing_exception",
                "Document ID is not supported in create/index operation request",
                DeadLetter,
            ),
        ];
        for &(delete, status, error_type, reason, want) in table {
            assert_eq!(
                classify(delete, status, false, Some(error_type), Some(reason)),
                want,
                "{error_type}: {reason}"
            );
            assert_eq!(
                collection_refusal(error_type, reason).is_some(),
                want == Fail,
                "{error_type}: {reason}"
            );
        }
    }
}
