//! JSON decoding with Go's rules: struct field names match case-insensitively
//! (plugins in the wild answer `"err"` or `"mountpoint"`), unknown keys are
//! ignored, `null` is an absent value.
//!
//! serde matches field names exactly and serde_json has no switch for it, so
//! this wraps a parsed [`Value`] in a deserializer that, whenever serde asks
//! for a *struct*, renames each key to the field it matches ignoring ASCII
//! case. Maps (`Options`, `Status`) keep their keys as sent.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Value;

/// Decode `bytes` into `T` with Go's case-insensitive field matching.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let v: Value = serde_json::from_slice(bytes)?;
    T::deserialize(Ci(v))
}

/// A [`Value`] deserialized with case-insensitive struct fields.
struct Ci(Value);

impl<'de> IntoDeserializer<'de, serde_json::Error> for Ci {
    type Deserializer = Ci;
    fn into_deserializer(self) -> Ci {
        self
    }
}

fn map_of(
    m: serde_json::Map<String, Value>,
    fields: Option<&'static [&'static str]>,
) -> MapDeserializer<'static, impl Iterator<Item = (String, Ci)>, serde_json::Error> {
    MapDeserializer::new(m.into_iter().map(move |(k, v)| {
        let key = match fields {
            Some(fields) if !fields.contains(&k.as_str()) => fields
                .iter()
                .find(|f| f.eq_ignore_ascii_case(&k))
                .map_or(k, |f| (*f).to_string()),
            _ => k,
        };
        (key, Ci(v))
    }))
}

impl<'de> serde::Deserializer<'de> for Ci {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(a) => visitor.visit_seq(SeqDeserializer::new(a.into_iter().map(Ci))),
            Value::Object(m) => visitor.visit_map(map_of(m, None)),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Ci(other)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(map_of(m, Some(fields))),
            // Go decodes `null` into a zero struct.
            Value::Null => visitor.visit_map(map_of(serde_json::Map::new(), None)),
            other => Ci(other).deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            // Go decodes `null` into an empty slice.
            Value::Null => visitor.visit_seq(SeqDeserializer::new(std::iter::empty::<Ci>())),
            other => Ci(other).deserialize_any(visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_map(map_of(serde_json::Map::new(), None)),
            other => Ci(other).deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            // Go decodes `null` into "".
            Value::Null => visitor.visit_string(String::new()),
            other => Ci(other).deserialize_any(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_bool(false),
            other => Ci(other).deserialize_any(visitor),
        }
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str
        bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Default, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase", default)]
    struct Inner {
        mountpoint: String,
        status: Option<BTreeMap<String, Value>>,
    }

    #[derive(Debug, Default, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase", default)]
    struct Outer {
        err: String,
        volume: Option<Inner>,
        volumes: Vec<Inner>,
        implements: Vec<String>,
    }

    #[test]
    fn keys_match_like_go() {
        let o: Outer = from_slice(
            br#"{"err":"boom","VOLUME":{"mountPoint":"/x","Status":{"Mixed":1}},"volumes":null,"Other":3}"#,
        )
        .unwrap();
        assert_eq!(o.err, "boom");
        let v = o.volume.unwrap();
        assert_eq!(v.mountpoint, "/x");
        assert!(v.status.unwrap().contains_key("Mixed"), "map keys kept");
        assert!(o.volumes.is_empty());
        let o: Outer = from_slice(br#"{"Implements":["VolumeDriver"],"Err":null}"#).unwrap();
        assert_eq!((o.implements.len(), o.err.as_str()), (1, ""));
        assert!(from_slice::<Outer>(b"not json").is_err());
        assert!(from_slice::<Outer>(br#"{"Implements":"x"}"#).is_err());
    }
}
