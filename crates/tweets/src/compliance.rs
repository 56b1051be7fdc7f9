//! Compliance: what X requires of a stored copy when a tweet or its author changes (deleted,
//! withheld, protected, suspended, edited, its location scrubbed), in three pure steps.
//!
//! 1. [`event`]: compliance records -> a typed [`ComplianceEvent`] (or a tweet delete), from
//!    every shape the indexer reads: v1.1 stream messages (`delete`, `scrub_geo`,
//!    `status_withheld`, `user_withheld`), the v2 compliance streams' payloads
//!    (`{"data":{"<kind>":{...,"event_at":...}}}`), the result lines of a batch compliance
//!    job as `tweet-capture comply` writes them (`{"compliance_job_result":{"job":...,
//!    "result":...}}`), and what a captured tweet says of itself (`edit_history_tweet_ids`,
//!    its own `withheld_in_countries`). A malformed compliance record is an invalid record
//!    with its reason, never dropped or guessed.
//! 2. [`register`]: an event -> the [`Register`]s it writes: one small document per
//!    (user or tweet, kind) in the `{index}_compliance` index, written with an external
//!    version ([`Register::version`]) so that the server keeps the newest state whatever
//!    order events arrive in.
//! 3. [`apply`]: the registers of a document's author and of its id -> the document as X
//!    requires it ([`RegisterSet::apply_document`] before indexing,
//!    [`RegisterSet::apply_source`] for a `_source` already in the index). The compliance
//!    fields of a document are a function of those registers alone, so applying is
//!    idempotent and order-independent, and a reverse event restores exactly.
//!
//! Which event does what to a document: the table in the crate's README ("Which event does
//! what to a document").
//!
//! `suppressed` is `true` exactly when `suppressed_reasons` is not empty; both are absent
//! otherwise, as is an empty `withheld_in_countries`.

pub mod apply;
pub mod event;
pub mod register;

pub use apply::{Outcome, RegisterSet, USER_DELETE_GRACE_MS, Verdict};
pub use event::{ComplianceEvent, EventKind, Source, UserChange};
pub use register::{Reason, Register, RegisterError, RegisterKind, Subject};
