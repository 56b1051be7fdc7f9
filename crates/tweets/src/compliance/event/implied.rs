//! What a captured tweet says of itself: its edit history and its own withholding.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::batch::id_time;
use super::stream::earlier_versions;
use super::{
    ComplianceEvent, EventKind, Field, Source, countries, decimal, object, present, required_id,
};

/// The events a tweet's own fields imply: `edit_history_tweet_ids` naming other versions
/// (the earlier ones are `edited`, as a `tweet_edit` would say), and a non-empty
/// `withheld_in_countries` (v1) or `withheld.country_codes` (v2). `edit_history` and
/// `withheld_*` are the raw fields; an unusable one is reported in `unusable` and left out.
pub(crate) fn implied(
    tweet_id: &str,
    author_id: Option<u64>,
    tweet_at: Option<i64>,
    fields: ImpliedFields<'_>,
    unusable: &mut Vec<String>,
) -> Vec<ComplianceEvent> {
    let mut events = Vec::new();
    // Nearly every v2 tweet has a one-id history (itself): nothing to read then.
    if let Some(raw) = present(fields.edit_history).filter(|r| r.get().contains(',')) {
        let ids: Result<Vec<u64>, String> = serde_json::from_str::<Vec<&RawValue>>(raw.get())
            .map_err(|_| "not a list".to_owned())
            .and_then(|ids| {
                ids.into_iter()
                    .map(|r| required_id(Some(r), "edit_history_tweet_ids[]"))
                    .collect()
            });
        match ids {
            Ok(ids) => {
                let latest = ids.iter().copied().max().unwrap_or(0);
                let earlier = earlier_versions(ids, latest);
                if !earlier.is_empty() {
                    events.push(ComplianceEvent {
                        // The edit happened when the latest version was made.
                        event_at: id_time(latest).or(tweet_at),
                        kind: EventKind::Edit {
                            latest_id: Some(latest),
                            earlier,
                        },
                        source: Source::Tweet,
                    });
                }
            }
            Err(why) => unusable.push(format!("edit_history_tweet_ids: {why}")),
        }
    }
    let own = match (
        present(fields.withheld_in_countries),
        present(fields.withheld),
    ) {
        (Some(list), _) if list.get() != "[]" => {
            countries(Some(list), "withheld_in_countries").map(Option::unwrap_or_default)
        }
        (_, Some(v2)) => {
            #[derive(Deserialize, Default)]
            #[serde(default)]
            struct Withheld<'a> {
                #[serde(borrow)]
                country_codes: Field<'a>,
            }
            object::<Withheld<'_>>(v2.get())
                .map_err(|()| "withheld is not an object".to_owned())
                .and_then(|w| countries(w.country_codes, "withheld.country_codes"))
                .map(Option::unwrap_or_default)
        }
        _ => Ok(Vec::new()),
    };
    match (own, decimal(tweet_id)) {
        (Ok(countries), Some(tweet_id)) if !countries.is_empty() => events.push(ComplianceEvent {
            kind: EventKind::Withheld {
                tweet_id,
                author_id,
                countries,
            },
            event_at: tweet_at,
            source: Source::Tweet,
        }),
        (Ok(_), _) => {}
        (Err(why), _) => unusable.push(why),
    }
    events
}

/// The raw fields of a tweet [`implied`] reads.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ImpliedFields<'a> {
    pub edit_history: Field<'a>,
    pub withheld_in_countries: Field<'a>,
    pub withheld: Field<'a>,
}

impl ImpliedFields<'_> {
    /// Whether any field may imply an event (the fast test every tweet pays).
    pub fn any(&self) -> bool {
        present(self.edit_history).is_some_and(|r| r.get().contains(','))
            || present(self.withheld_in_countries).is_some_and(|r| r.get() != "[]")
            || present(self.withheld).is_some()
    }
}
