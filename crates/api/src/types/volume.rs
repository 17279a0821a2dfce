//! Volumes as `/volumes` sends and receives them: `Volume`, `VolumeCreateOptions`,
//! `VolumeListResponse`, the prune report.
//!
//! `Labels` and `Options` stay `null` when the volume was created without them
//! (anonymous volumes) and `{}` when a client sent an empty map, as Docker keeps them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `UsageData`: only in `GET /system/df`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeUsageData {
    /// Bytes used, `-1` when not available (volumes of other drivers or with mount options).
    pub size: i64,
    /// Containers referencing the volume, `-1` when not available.
    pub ref_count: i64,
}

/// A volume (`GET /volumes/{name}`, entries of `GET /volumes`, `201` of create).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    /// RFC 3339, seconds precision.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    /// Driver name (`local`).
    pub driver: String,
    /// User-defined metadata.
    pub labels: Option<BTreeMap<String, String>>,
    /// Host path of the volume's data.
    pub mountpoint: String,
    /// Name.
    pub name: String,
    /// Driver options given at create time.
    pub options: Option<BTreeMap<String, String>>,
    /// `local` or `global`.
    pub scope: String,
    /// Driver-specific details, omitted when the driver gives none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, serde_json::Value>>,
    /// Only in `GET /system/df`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

/// `POST /volumes/create` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateOptions {
    /// Empty: the daemon generates a name (and marks the volume anonymous).
    pub name: String,
    /// Empty: `local`.
    pub driver: String,
    /// Driver options (`type`, `device`, `o` for `local`).
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// User-defined metadata.
    pub labels: Option<BTreeMap<String, String>>,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeListResponse {
    /// The volumes.
    pub volumes: Vec<Volume>,
    /// Drivers that could not be listed.
    pub warnings: Vec<String>,
}

/// `POST /volumes/prune`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumePruneResponse {
    /// Names of the removed volumes.
    pub volumes_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_shape_matches_docker() {
        let v = Volume {
            created_at: "2024-01-01T00:00:00Z".into(),
            driver: "local".into(),
            mountpoint: "/var/lib/berth/volumes/x/_data".into(),
            name: "x".into(),
            scope: "local".into(),
            ..Default::default()
        };
        let j = serde_json::to_value(&v).unwrap();
        assert!(j["Labels"].is_null() && j["Options"].is_null());
        assert!(j.get("Status").is_none() && j.get("UsageData").is_none());
        assert_eq!(j["Mountpoint"], "/var/lib/berth/volumes/x/_data");
        let with_usage = Volume {
            usage_data: Some(VolumeUsageData {
                size: -1,
                ref_count: 2,
            }),
            ..v
        };
        assert_eq!(
            serde_json::to_value(&with_usage).unwrap()["UsageData"]["RefCount"],
            2
        );
    }

    #[test]
    fn create_body_from_the_cli() {
        let b: VolumeCreateOptions = serde_json::from_str(
            r#"{"Driver":"local","DriverOpts":{"type":"tmpfs"},"Labels":{},"Name":"v"}"#,
        )
        .unwrap();
        assert_eq!(b.name, "v");
        assert_eq!(b.driver_opts.unwrap()["type"], "tmpfs");
        assert_eq!(b.labels, Some(BTreeMap::new()));
        let empty: VolumeCreateOptions = serde_json::from_str("{}").unwrap();
        assert!(empty.name.is_empty() && empty.labels.is_none());
    }
}
