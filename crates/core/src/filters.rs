//! Docker's `filters` query parameter: a JSON map from key to a set of values,
//! sent as `{"key":{"value":true}}` by current clients and `{"key":["value"]}` by
//! old ones. Values of one key are OR-ed; different keys are AND-ed.

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, Result};

/// Parsed filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parse the raw query value; an empty string means no filters.
    pub fn parse(raw: &str) -> Result<Filters> {
        if raw.trim().is_empty() {
            return Ok(Filters::default());
        }
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| Error::invalid(format!("invalid filter: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| Error::invalid("invalid filter: expected a JSON object"))?;
        let mut out = BTreeMap::new();
        for (key, vals) in obj {
            let list: Vec<String> = match vals {
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(true))
                    .map(|(k, _)| k.clone())
                    .collect(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid filter: bad values for '{key}'"
                    )));
                }
            };
            let mut list = list;
            list.sort();
            out.insert(key.clone(), list);
        }
        Ok(Filters(out))
    }

    /// Build filters from pairs (for tests and internal callers).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Filters {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            out.entry(k.to_string()).or_default().push(v.to_string());
        }
        Filters(out)
    }

    /// Refuse keys outside `allowed`, with Docker's message.
    pub fn validate(&self, allowed: &[&str]) -> Result<()> {
        for key in self.0.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(Error::invalid(format!("invalid filter '{key}'")));
            }
        }
        Ok(())
    }

    /// The values given for `key` (empty when absent).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// True when `key` was given at all.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// True when no filter was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `key` is absent or any of its values satisfies `pred`.
    pub fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        match self.0.get(key) {
            None => true,
            Some(vals) => vals.iter().any(|v| pred(v)),
        }
    }

    /// A boolean filter such as `dangling=true`: `None` when absent, error when not a bool.
    pub fn bool_value(&self, key: &str) -> Result<Option<bool>> {
        let vals = self.get(key);
        match vals.first().map(String::as_str) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(other) => Err(Error::invalid(format!("invalid filter '{key}={other}'"))),
        }
    }

    /// `label` filters: every given `k`, `k=v` or `k!=v` must hold for `labels`.
    pub fn match_labels(&self, key: &str, labels: &HashMap<String, String>) -> bool {
        self.get(key).iter().all(|f| label_matches(f, labels))
    }
}

fn label_matches(filter: &str, labels: &HashMap<String, String>) -> bool {
    if let Some((k, v)) = filter.split_once("!=") {
        return labels.get(k).is_some_and(|x| x != v);
    }
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_wire_forms_parse() {
        let a = Filters::parse(r#"{"status":{"running":true,"exited":true}}"#).unwrap();
        let b = Filters::parse(r#"{"status":["running","exited"]}"#).unwrap();
        assert_eq!(a.get("status").len(), 2);
        assert_eq!(a, b);
        assert!(Filters::parse("").unwrap().is_empty());
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse("{bad").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let f = Filters::parse(r#"{"nope":["x"]}"#).unwrap();
        let err = f.validate(&["status"]).unwrap_err();
        assert_eq!(err.message(), "invalid filter 'nope'");
    }

    #[test]
    fn labels_all_must_match() {
        let labels = HashMap::from([("a".to_string(), "1".to_string()), ("b".into(), "2".into())]);
        let f = Filters::from_pairs([("label", "a"), ("label", "b=2")]);
        assert!(f.match_labels("label", &labels));
        let f = Filters::from_pairs([("label", "a"), ("label", "b=3")]);
        assert!(!f.match_labels("label", &labels));
        let f = Filters::from_pairs([("label", "a!=2")]);
        assert!(f.match_labels("label", &labels));
    }
}
