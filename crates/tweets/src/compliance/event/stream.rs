//! The v2 compliance streams' payloads: `{"data":{"<kind>":{...,"event_at":...}}}`.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    ComplianceEvent, EventKind, Field, Parsed, Source, UserChange, delete_notice, id, iso_time,
    members, object, present, required_countries, required_id,
};
use crate::error::RecordError;

/// The kinds the v2 compliance streams send under `data`.
pub const V2_KINDS: [&str; 14] = [
    "delete",
    "tweet_edit",
    "withheld",
    "drop",
    "undrop",
    "scrub_geo",
    "user_delete",
    "user_undelete",
    "user_protect",
    "user_unprotect",
    "user_suspend",
    "user_unsuspend",
    "user_withheld",
    "user_profile_modification",
];

/// A v2 compliance payload's `data` object (`{"<kind>":{...}}`). `Ok(None)` when it holds
/// no known kind (the caller names its keys); an error when it holds more than one, or a
/// kind whose fields are unusable.
pub(crate) fn v2_data(data: &str) -> Result<Option<Parsed>, RecordError> {
    let Some(members) = members(data) else {
        return Ok(None);
    };
    let mut known = members
        .iter()
        .filter(|(k, v)| V2_KINDS.contains(&k.as_str()) && v.get() != "null");
    let Some((kind, body)) = known.next() else {
        return Ok(None);
    };
    if let Some((other, _)) = known.next() {
        return Err(RecordError::Compliance(format!(
            "with two kinds under data: {kind}, {other}"
        )));
    }
    if kind == "delete" {
        return delete_notice(body, Source::Stream).map(Some);
    }
    v2_event(kind, body)
        .map(|e| Some(Parsed::Event(e)))
        .map_err(|why| RecordError::Compliance(format!("{kind}: {why}")))
}

fn v2_event(kind: &str, body: &RawValue) -> Result<ComplianceEvent, String> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Body<'a> {
        #[serde(borrow)]
        tweet: Field<'a>,
        #[serde(borrow)]
        user: Field<'a>,
        #[serde(borrow)]
        event_at: Field<'a>,
        #[serde(borrow)]
        withheld_in_countries: Field<'a>,
        #[serde(borrow)]
        up_to_tweet_id: Field<'a>,
        #[serde(borrow)]
        initial_tweet_id: Field<'a>,
        #[serde(borrow)]
        edit_tweet_ids: Field<'a>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Subject<'a> {
        #[serde(borrow)]
        id: Field<'a>,
        #[serde(borrow)]
        author_id: Field<'a>,
    }
    let b: Body<'_> = object(body.get()).map_err(|()| "not an object".to_owned())?;
    let event_at = Some(iso_time(b.event_at, "event_at")?.ok_or("without event_at")?);
    let subject = |f: Field<'_>, name: &str| -> Result<(u64, Option<u64>), String> {
        let raw = present(f).ok_or_else(|| format!("without {name}"))?;
        let s: Subject<'_> = object(raw.get()).map_err(|()| format!("{name} is not an object"))?;
        Ok((
            required_id(s.id, &format!("{name}.id"))?,
            id(s.author_id, &format!("{name}.author_id"))?,
        ))
    };
    let tweet = || subject(b.tweet, "tweet");
    let user = || subject(b.user, "user").map(|(id, _)| id);
    let change = |change| -> Result<EventKind, String> {
        Ok(EventKind::User {
            user_id: user()?,
            change,
        })
    };
    let kind = match kind {
        "tweet_edit" => {
            let (latest, _) = tweet()?;
            let mut chain: Vec<u64> = match present(b.edit_tweet_ids) {
                None => return Err("without edit_tweet_ids".to_owned()),
                Some(raw) => {
                    let ids: Vec<&RawValue> = serde_json::from_str(raw.get())
                        .map_err(|_| "edit_tweet_ids is not a list".to_owned())?;
                    ids.into_iter()
                        .map(|r| required_id(Some(r), "edit_tweet_ids[]"))
                        .collect::<Result<_, _>>()?
                }
            };
            chain.extend(id(b.initial_tweet_id, "initial_tweet_id")?);
            EventKind::Edit {
                latest_id: Some(latest),
                earlier: earlier_versions(chain, latest),
            }
        }
        "withheld" => {
            let (tweet_id, author_id) = tweet()?;
            EventKind::Withheld {
                tweet_id,
                author_id,
                countries: required_countries(b.withheld_in_countries, "withheld_in_countries")?,
            }
        }
        "drop" | "undrop" => {
            let (tweet_id, author_id) = tweet()?;
            EventKind::Drop {
                tweet_id,
                author_id,
                dropped: kind == "drop",
            }
        }
        "scrub_geo" => EventKind::ScrubGeo {
            user_id: user()?,
            up_to_id: required_id(b.up_to_tweet_id, "up_to_tweet_id")?,
        },
        "user_delete" => change(UserChange::Delete)?,
        "user_undelete" => change(UserChange::Undelete)?,
        "user_protect" => change(UserChange::Protect)?,
        "user_unprotect" => change(UserChange::Unprotect)?,
        "user_suspend" => change(UserChange::Suspend)?,
        "user_unsuspend" => change(UserChange::Unsuspend)?,
        "user_withheld" => EventKind::UserWithheld {
            user_id: user()?,
            countries: required_countries(b.withheld_in_countries, "withheld_in_countries")?,
        },
        "user_profile_modification" => EventKind::UserProfileModification { user_id: user()? },
        other => return Err(format!("unknown kind {other}")),
    };
    Ok(ComplianceEvent {
        kind,
        event_at,
        source: Source::Stream,
    })
}

/// The ids of an edit chain other than `latest`, sorted, without repeats.
pub(super) fn earlier_versions(mut chain: Vec<u64>, latest: u64) -> Vec<u64> {
    chain.retain(|id| *id != latest);
    chain.sort_unstable();
    chain.dedup();
    chain
}
