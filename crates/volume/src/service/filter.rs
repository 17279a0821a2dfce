//! Docker's volume filters: `name` (substring), `driver`, `label`, `dangling`
//! for list; `label`, `label!`, `all` for prune.

use berth_core::filters::Filters;

use super::records::VolumeRecord;
use crate::error::{Result, VolumeError};
use crate::names::ANONYMOUS_LABEL;

/// Keys `GET /volumes` accepts.
pub const LIST: &[&str] = &["dangling", "name", "driver", "label"];
/// Keys `POST /volumes/prune` accepts.
pub const PRUNE: &[&str] = &["label", "label!", "all"];

/// `dangling=true|false|1|0` (case-insensitive), as Docker.
pub fn dangling(f: &Filters) -> Result<Option<bool>> {
    let mut out = None;
    for v in f.get("dangling") {
        out = Some(match v.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                return Err(VolumeError::Invalid(format!(
                    "invalid filter 'dangling={v}'"
                )));
            }
        });
    }
    Ok(out)
}

/// Does a volume pass the list filters?
pub fn keep(f: &Filters, rec: &VolumeRecord, in_use: bool, dangling: Option<bool>) -> bool {
    f.any("name", |n| rec.name.contains(n))
        && f.any("driver", |d| rec.driver == d)
        && f.match_labels("label", &rec.label_map())
        && dangling.is_none_or(|d| d != in_use)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The prune filter `all`: one boolean at most.
pub fn prune_all(f: &Filters) -> Result<bool> {
    match f.get("all") {
        [] => Ok(false),
        [one] => parse_bool(one).ok_or_else(|| {
            VolumeError::Invalid(format!(
                "invalid filter 'all': strconv.ParseBool: parsing {one:?}: invalid syntax"
            ))
        }),
        many => Err(VolumeError::Invalid(format!(
            "invalid filter 'all=[{}]': only one value is expected",
            many.join(" ")
        ))),
    }
}

/// Does an unused volume pass the prune filters?
pub fn prunable(f: &Filters, rec: &VolumeRecord, all: bool) -> bool {
    let labels = rec.label_map();
    let anonymous = labels.contains_key(ANONYMOUS_LABEL);
    let excluded = f
        .get("label!")
        .iter()
        .any(|l| Filters::from_pairs([("l", l.as_str())]).match_labels("l", &labels));
    (all || anonymous) && f.match_labels("label", &labels) && !excluded
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rec(name: &str, labels: &[(&str, &str)]) -> VolumeRecord {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        VolumeRecord {
            name: name.into(),
            driver: "local".into(),
            labels: Some(labels),
            ..Default::default()
        }
    }

    #[test]
    fn list_filters() {
        let r = rec("web-data", &[("app", "web")]);
        assert!(keep(
            &Filters::from_pairs([("name", "data")]),
            &r,
            false,
            None
        ));
        assert!(!keep(
            &Filters::from_pairs([("name", "db")]),
            &r,
            false,
            None
        ));
        assert!(keep(
            &Filters::from_pairs([("label", "app=web")]),
            &r,
            false,
            None
        ));
        assert!(!keep(
            &Filters::from_pairs([("driver", "nfs")]),
            &r,
            false,
            None
        ));
        assert!(keep(&Filters::default(), &r, true, Some(false)));
        assert!(!keep(&Filters::default(), &r, true, Some(true)));
        assert!(dangling(&Filters::from_pairs([("dangling", "maybe")])).is_err());
        assert_eq!(
            dangling(&Filters::from_pairs([("dangling", "TRUE")])).unwrap(),
            Some(true)
        );
    }

    #[test]
    fn prune_filters() {
        let anon = rec("a", &[(ANONYMOUS_LABEL, "")]);
        let named = rec("n", &[("keep", "yes")]);
        let none = Filters::default();
        assert!(prunable(&none, &anon, false) && !prunable(&none, &named, false));
        assert!(prunable(&none, &named, true));
        assert!(!prunable(
            &Filters::from_pairs([("label!", "keep")]),
            &named,
            true
        ));
        assert!(prunable(
            &Filters::from_pairs([("label", "keep=yes")]),
            &named,
            true
        ));
        assert!(prune_all(&Filters::from_pairs([("all", "true")])).unwrap());
        assert!(prune_all(&Filters::from_pairs([("all", "nah")])).is_err());
        assert!(prune_all(&Filters::from_pairs([("all", "1"), ("all", "0")])).is_err());
    }
}
