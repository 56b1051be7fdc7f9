//! The lenient schema's field types: how one field of a record is read. A value of an
//! unexpected JSON type costs only that field ([`Lenient`]), or is also remembered for a
//! warning ([`Checked`]); ids are read exactly ([`RawId`]), strings borrowed when they can be
//! ([`CowStr`]). Not which fields a record has (`schema.rs`), nor what a record is
//! (`classify.rs`).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::error::{BROKEN_SURROGATE_PAIR, LONE_SURROGATE, RECURSION_LIMIT, clip};

/// A tweet or user id as it appears in the record: a JSON string (`id_str`, v2 `id`) or an
/// integer (v1 `id`, parsed exactly as `u64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawId<'a> {
    Str(Cow<'a, str>),
    Num(u64),
}

impl RawId<'_> {
    /// The decimal string form.
    pub fn to_id_string(&self) -> String {
        match self {
            RawId::Str(s) => s.to_string(),
            RawId::Num(n) => n.to_string(),
        }
    }

    /// The numeric form, when the id is (or spells) a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            RawId::Str(s) => s.parse().ok(),
            RawId::Num(n) => Some(*n),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        matches!(self, RawId::Str(s) if s.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawId<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawId<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (string or non-negative integer)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawId::Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(RawId::Num)
                    .map_err(|_| E::custom("negative id"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Err(E::custom("id is not an integer"))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RawId::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawId::Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON string borrowed from the record when it has no escapes (serde's own `Cow<str>`
/// always copies when wrapped in an `Option`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CowStr<'a>(pub Cow<'a, str>);

impl std::ops::Deref for CowStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A field read leniently: a value of an unexpected JSON type (a map where a list was expected,
/// a number for a string, ...) becomes `None` instead of failing the whole record. Real
/// captures disagree with the API documentation often enough (`"mentions": {}`, a `source`
/// object in user-stream events) that one odd field must not cost a tweet. Fields whose loss
/// the document reports use [`Checked`] instead.
///
/// A duplicated key, nesting beyond the recursion limit or a lone surrogate escape inside the
/// value is not a type mismatch: it fails the record, so that the caller can repair it (see
/// `record::repair`) instead of this field being dropped without a word.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T>(pub Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<T> std::ops::Deref for Lenient<T> {
    type Target = Option<T>;
    fn deref(&self) -> &Option<T> {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor::<T, Self>(std::marker::PhantomData))
    }
}

/// What a [`Checked`] field held in the record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Seen {
    /// The key was not there.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A value of the expected type (kept in [`Checked::value`]).
    Read,
    /// A value of another type, described for a warning (`a number: 42`).
    Refused(String),
}

/// A field read like [`Lenient`] that also remembers whether it was absent, `null` or refused,
/// for the fields whose loss the document reports as a [`crate::Warning`].
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T> {
    pub value: Option<T>,
    pub seen: Seen,
}

impl<T> Default for Checked<T> {
    fn default() -> Self {
        Checked {
            value: None,
            seen: Seen::Absent,
        }
    }
}

impl<T> std::ops::Deref for Checked<T> {
    type Target = Option<T>;
    fn deref(&self) -> &Option<T> {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor::<T, Self>(std::marker::PhantomData))
    }
}

/// What [`LenientVisitor`] makes of a value: [`Lenient`] keeps only the value, [`Checked`]
/// also describes a refused one (so `Lenient` never pays for the text).
trait Outcome<T> {
    fn read(value: T) -> Self;
    fn null() -> Self;
    fn refused(describe: impl FnOnce() -> String) -> Self;
}

impl<T> Outcome<T> for Lenient<T> {
    fn read(value: T) -> Self {
        Lenient(Some(value))
    }
    fn null() -> Self {
        Lenient(None)
    }
    fn refused(_: impl FnOnce() -> String) -> Self {
        Lenient(None)
    }
}

impl<T> Outcome<T> for Checked<T> {
    fn read(value: T) -> Self {
        Checked {
            value: Some(value),
            seen: Seen::Read,
        }
    }
    fn null() -> Self {
        Checked {
            value: None,
            seen: Seen::Null,
        }
    }
    fn refused(describe: impl FnOnce() -> String) -> Self {
        Checked {
            value: None,
            seen: Seen::Refused(describe()),
        }
    }
}

/// Reads any JSON value as a `T` when it is one, into a [`Lenient`] or a [`Checked`].
struct LenientVisitor<T, O>(std::marker::PhantomData<(T, O)>);

impl<T, O: Outcome<T>> LenientVisitor<T, O> {
    fn keep<E>(r: Result<T, E>, describe: impl FnOnce() -> String) -> O {
        match r {
            Ok(v) => O::read(v),
            Err(_) => O::refused(describe),
        }
    }

    fn mismatch(what: &str, e: &impl fmt::Display) -> O {
        O::refused(|| {
            let why = e.to_string();
            // serde_json's position is of no use in a warning about one field.
            let why = why.rfind(" at line ").map_or(why.as_str(), |i| &why[..i]);
            format!("{what} ({why})")
        })
    }
}

/// Whether an error from inside a value must fail the record rather than drop the field:
/// the ones `record::repair` can fix or must name (a type mismatch only costs the field).
fn fails_the_record(e: &impl fmt::Display) -> bool {
    let msg = e.to_string();
    msg.starts_with("duplicate field")
        || msg.contains(RECURSION_LIMIT)
        || msg.contains(LONE_SURROGATE)
        || msg.contains(BROKEN_SURROGATE_PAIR)
}

impl<'de, T: Deserialize<'de>, O: Outcome<T>> Visitor<'de> for LenientVisitor<T, O> {
    type Value = O;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<O, E> {
        Ok(O::null())
    }
    fn visit_none<E: de::Error>(self) -> Result<O, E> {
        Ok(O::null())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::BoolDeserializer::<E>::new(v)),
            || format!("a boolean: {v}"),
        ))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::U64Deserializer::<E>::new(v)),
            || format!("a number: {v}"),
        ))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::I64Deserializer::<E>::new(v)),
            || format!("a number: {v}"),
        ))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::F64Deserializer::<E>::new(v)),
            || format!("a number: {v}"),
        ))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::BorrowedStrDeserializer::<E>::new(v)),
            || format!("a string: {:?}", clip(v)),
        ))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::StringDeserializer::<E>::new(v.to_owned())),
            || format!("a string: {:?}", clip(v)),
        ))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<O, E> {
        // serde_json hands strings over borrowed: this is for other deserializers.
        let shown = format!("a string: {:?}", clip(&v));
        Ok(Self::keep(
            T::deserialize(de::value::StringDeserializer::<E>::new(v)),
            || shown,
        ))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<O, A::Error> {
        match T::deserialize(de::value::SeqAccessDeserializer::new(&mut seq)) {
            Ok(v) => Ok(O::read(v)),
            Err(e) if fails_the_record(&e) => Err(e),
            Err(e) => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Self::mismatch("an array", &e))
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<O, A::Error> {
        match T::deserialize(de::value::MapAccessDeserializer::new(&mut map)) {
            Ok(v) => Ok(O::read(v)),
            Err(e) if fails_the_record(&e) => Err(e),
            Err(e) => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Self::mismatch("an object", &e))
            }
        }
    }
}

/// A string field read leniently.
pub(crate) type Str<'a> = Lenient<CowStr<'a>>;

#[cfg(test)]
mod tests {
    use super::super::schema::{RawTag, RawUser};
    use super::*;

    #[test]
    fn lenient_drops_a_mismatch_but_not_an_error_repair_must_see() {
        let user: Lenient<RawUser<'_>> = serde_json::from_str(r#"{"name":{"a":1}}"#).unwrap();
        assert_eq!(user.as_ref().map(|u| u.name.is_none()), Some(true));
        let mismatch: Lenient<Vec<RawTag<'_>>> = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert!(mismatch.is_none());
        for fatal in [
            r#"{"name":"a","name":"b"}"#,
            r#"{"name":"a\ud800"}"#,
            r#"{"name":"\udc00"}"#,
        ] {
            let got = serde_json::from_str::<Lenient<RawUser<'_>>>(fatal);
            assert!(got.is_err(), "{fatal}");
        }
        let dup_in_list = r#"[{"text":"a","text":"b"}]"#;
        assert!(serde_json::from_str::<Lenient<Vec<RawTag<'_>>>>(dup_in_list).is_err());
    }

    #[test]
    fn checked_tells_absent_null_read_and_refused_apart() {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct T<'a> {
            #[serde(borrow)]
            s: Checked<CowStr<'a>>,
        }
        let seen = |json: &str| serde_json::from_str::<T<'_>>(json).unwrap().s.seen;
        assert_eq!(seen("{}"), Seen::Absent);
        assert_eq!(seen(r#"{"s":null}"#), Seen::Null);
        assert_eq!(seen(r#"{"s":"x"}"#), Seen::Read);
        assert_eq!(
            seen(r#"{"s":true}"#),
            Seen::Refused("a boolean: true".into())
        );
        assert_eq!(seen(r#"{"s":-3}"#), Seen::Refused("a number: -3".into()));
        assert_eq!(
            seen(r#"{"s":[1]}"#),
            Seen::Refused("an array (invalid type: sequence, expected a string)".into())
        );
        let object = format!(r#"{{"id":"{}"}}"#, "x".repeat(100));
        let ms: Checked<RawId<'_>> = serde_json::from_str(r#""abc""#).unwrap();
        assert_eq!(ms.seen, Seen::Read);
        let refused: Checked<u64> = serde_json::from_str(&object).unwrap();
        assert!(matches!(refused.seen, Seen::Refused(ref s) if s.starts_with("an object")));
        let clipped: Checked<u64> =
            serde_json::from_str(&format!("\"{}\"", "é".repeat(100))).unwrap();
        assert_eq!(
            clipped.seen,
            Seen::Refused(format!("a string: \"{}...\"", "é".repeat(64)))
        );
    }
}
