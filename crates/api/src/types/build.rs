//! `POST /build` and `POST /build/prune` wire types.

use serde::{Deserialize, Serialize};

/// `POST /build/prune` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct BuildPruneResponse {
    /// Cache record ids removed.
    pub caches_deleted: Option<Vec<String>>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// The `aux` payload of a build stream (`{"ID": "sha256:…"}`, the CLI's `--iidfile`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BuildResult {
    /// Image id.
    #[serde(rename = "ID")]
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let v = serde_json::to_value(BuildPruneResponse {
            caches_deleted: Some(vec!["a".into()]),
            space_reclaimed: 3,
        })
        .unwrap();
        assert_eq!(v["CachesDeleted"][0], "a");
        assert_eq!(v["SpaceReclaimed"], 3);
        assert_eq!(
            serde_json::to_value(BuildResult { id: "x".into() }).unwrap()["ID"],
            "x"
        );
    }
}
