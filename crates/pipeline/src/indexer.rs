//! The [`Indexer`]: what is shared across inputs, below every stage that uses it (its
//! constructors and the per-object loop are [`crate::run`]'s, the compliance sweep
//! [`crate::compliance`]'s).

use std::sync::Arc;

use search_sink::{DeadLetterStore, SearchClient};
use tweets::{Extractor, FramerOptions};

use crate::archive::Archive;
use crate::compliance_index::ComplianceIndex;
use crate::filter::AuthorFilter;
use crate::lifecycle::Lifecycle;

/// Holds what is shared across objects (and across invocations of a warm Lambda): the
/// extractor with its VADER lexicon, the search client, the dead-letter store.
#[derive(Debug, Clone)]
pub struct Indexer {
    pub(crate) extractor: Arc<Extractor>,
    pub(crate) framing: FramerOptions,
    pub(crate) client: Arc<SearchClient>,
    pub(crate) dead_letters: Option<Arc<dyn DeadLetterStore>>,
    pub(crate) filter: AuthorFilter,
    /// `{index}_compliance`: whether it exists, shared by every object of the process.
    pub(crate) compliance: Arc<ComplianceIndex>,
    /// Where each operation goes (`INDEX_PARTITION`) and how indices are made.
    pub(crate) lifecycle: Arc<Lifecycle>,
    /// The DynamoDB archive (`ARCHIVE_TABLE`), if any.
    pub(crate) archive: Option<Archive>,
}
