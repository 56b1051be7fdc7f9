//! A batch compliance job's result lines, in the wrapper `tweet-capture comply` writes.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{
    ComplianceEvent, EventKind, Field, Parsed, Source, UserChange, iso_time, present, required_id,
};
use crate::error::{RecordError, clip};

/// The key of a batch job's result line as `tweet-capture comply` writes it:
/// `{"compliance_job_result":{"job":{"id","type","created_at"},"result":<X's line>}}`.
pub const JOB_RESULT_KEY: &str = "compliance_job_result";

/// Twitter's snowflake epoch (2010-11-04T01:42:54.657Z), epoch ms.
const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;

/// The largest tweet id a snowflake can have at `ms`: every tweet made by then has an id at
/// most this (for a batch users `scrub_geo`, which names a time and no tweet).
pub fn last_id_at(ms: i64) -> u64 {
    let since = u64::try_from(ms.saturating_sub(SNOWFLAKE_EPOCH_MS)).unwrap_or(0);
    since
        .checked_mul(1 << 22)
        .map_or(u64::MAX, |id| id | ((1 << 22) - 1))
}

/// The creation time of a snowflake tweet id, epoch ms (`None` for a pre-2010 id).
pub fn id_time(id: u64) -> Option<i64> {
    let ms = i64::try_from(id >> 22)
        .ok()?
        .checked_add(SNOWFLAKE_EPOCH_MS)?;
    // Sequential (pre-snowflake) ids are below 2^35; their "time" would be the epoch itself.
    (id >> 22 > 0).then_some(ms)
}

/// One result line of a batch compliance job in our wrapper (`record` is the whole line).
pub(crate) fn job_result(record: &str) -> Result<Parsed, RecordError> {
    job_result_inner(record).map_err(|why| RecordError::Compliance(format!("job result: {why}")))
}

fn job_result_inner(record: &str) -> Result<Parsed, String> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Wrapper<'a> {
        #[serde(borrow)]
        compliance_job_result: Field<'a>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Envelope<'a> {
        #[serde(borrow)]
        job: Field<'a>,
        #[serde(borrow)]
        result: Field<'a>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Job<'a> {
        #[serde(borrow, rename = "type")]
        kind: Field<'a>,
        #[serde(borrow)]
        created_at: Field<'a>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Line<'a> {
        #[serde(borrow)]
        id: Field<'a>,
        #[serde(borrow)]
        action: Field<'a>,
        #[serde(borrow)]
        reason: Field<'a>,
        #[serde(borrow)]
        redacted_at: Field<'a>,
        #[serde(borrow)]
        deleted_at: Field<'a>,
        #[serde(borrow)]
        error: Field<'a>,
    }
    let object = |f: Field<'_>, name: &str| -> Result<String, String> {
        let raw = present(f).ok_or_else(|| format!("without {name}"))?;
        raw.get()
            .starts_with('{')
            .then(|| raw.get().to_owned())
            .ok_or_else(|| format!("{name} is not an object"))
    };
    let text = |f: Field<'_>, name: &str| -> Result<Option<String>, String> {
        present(f)
            .map(|raw| {
                serde_json::from_str::<String>(raw.get())
                    .map_err(|_| format!("{name} is not a string: {}", clip(raw.get())))
            })
            .transpose()
    };
    let w: Wrapper<'_> = serde_json::from_str(record).map_err(|e| e.to_string())?;
    let envelope = object(w.compliance_job_result, JOB_RESULT_KEY)?;
    let e: Envelope<'_> = serde_json::from_str(&envelope).map_err(|e| e.to_string())?;
    let job_text = object(e.job, "job")?;
    let job: Job<'_> = serde_json::from_str(&job_text).map_err(|e| e.to_string())?;
    let line_text = object(e.result, "result")?;
    let line: Line<'_> = serde_json::from_str(&line_text).map_err(|e| e.to_string())?;

    let users = match text(job.kind, "job.type")?.as_deref() {
        Some("tweets") => false,
        Some("users") => true,
        Some(other) => return Err(format!("job.type is neither tweets nor users: {other:?}")),
        None => return Err("without job.type".to_owned()),
    };
    let job_at = iso_time(job.created_at, "job.created_at")?.ok_or("without job.created_at")?;
    if let Some(error) = present(line.error) {
        let shown =
            |raw: Option<&RawValue>| match raw.map(|r| serde_json::from_str::<Value>(r.get())) {
                Some(Ok(Value::String(s))) => clip(&s),
                Some(_) => clip(raw.map_or("", |r| r.get())),
                None => String::new(),
            };
        return Ok(Parsed::JobError {
            id: shown(present(line.id)),
            error: shown(Some(error)),
        });
    }
    let subject = required_id(line.id, "result.id")?;
    let action = text(line.action, "result.action")?;
    let reason = text(line.reason, "result.reason")?;
    let redacted = match iso_time(line.redacted_at, "result.redacted_at")? {
        Some(at) => Some(at),
        None => iso_time(line.deleted_at, "result.deleted_at")?,
    };
    let event = |kind: EventKind, at: i64| {
        Ok(Parsed::Event(ComplianceEvent {
            kind,
            event_at: Some(at),
            source: Source::Batch,
        }))
    };
    let at = redacted.unwrap_or(job_at);
    let unknown = || {
        Err(format!(
            "unknown action / reason for a {} job: {:?} / {:?}",
            if users { "users" } else { "tweets" },
            action.as_deref().unwrap_or("none given"),
            reason.as_deref().unwrap_or("none given"),
        ))
    };
    if !users {
        // What to do is the action (X: "`action` tells you what to do"); the older format
        // had only the reason.
        let action = match (action.as_deref(), reason.as_deref()) {
            (Some(a @ ("delete" | "scrub_geo" | "rehydrate")), _) => a,
            (None, Some("scrub_geo")) => "scrub_geo",
            (None, Some("deleted" | "bounced" | "protected" | "suspended" | "deactivated")) => {
                "delete"
            }
            _ => return unknown(),
        };
        return match action {
            "delete" => Ok(Parsed::Delete {
                id: subject.to_string(),
                event_at: Some(at),
            }),
            "scrub_geo" => event(EventKind::TweetScrubGeo { tweet_id: subject }, at),
            _ => event(
                EventKind::Edit {
                    latest_id: None,
                    earlier: vec![subject],
                },
                at,
            ),
        };
    }
    let user_id = subject;
    let change = |change| event(EventKind::User { user_id, change }, at);
    match (action.as_deref(), reason.as_deref()) {
        // Written by `comply` for an uploaded user X did not return: clean as of the job.
        (Some("none"), _) => event(EventKind::UserClean { user_id }, job_at),
        (Some("scrub_geo"), _) | (None | Some("delete"), Some("scrub_geo")) => event(
            EventKind::ScrubGeo {
                user_id,
                up_to_id: last_id_at(at),
            },
            at,
        ),
        (None | Some("delete"), Some("deleted" | "deactivated")) => change(UserChange::Delete),
        (None | Some("delete"), Some("suspended")) => change(UserChange::Suspend),
        (None | Some("delete"), Some("protected")) => change(UserChange::Protect),
        _ => unknown(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_id_at_bounds_the_ids_of_its_millisecond() {
        // X's `tweet_edit` example: the latest version 1567233994734948354 has `event_at`
        // 2022-09-06T19:31:16.801Z, its snowflake time to the millisecond.
        let id: u64 = 1_567_233_994_734_948_354;
        let at = id_time(id).unwrap();
        assert_eq!(
            Some(at),
            crate::time::parse_created_at("2022-09-06T19:31:16.801Z")
        );
        assert!(last_id_at(at) >= id);
        assert!(last_id_at(at - 1) < id);
        assert_eq!(last_id_at(0), (1 << 22) - 1);
        assert_eq!(last_id_at(i64::MAX), u64::MAX);
        assert_eq!(id_time(5), None);
    }
}
