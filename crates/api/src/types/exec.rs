//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET /exec/{id}/json`.

use serde::{Deserialize, Serialize};

/// Exec create body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub console_size: Option<[u32; 2]>,
    /// Go decodes JSON keys case-insensitively; docker-py sends `detachKeys`.
    #[serde(alias = "detachKeys")]
    pub detach_keys: String,
    pub tty: bool,
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "super::strslice::deserialize")]
    pub cmd: Option<Vec<String>>,
    pub privileged: bool,
    pub user: String,
    pub working_dir: String,
}

/// Exec start body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartConfig {
    pub detach: bool,
    pub tty: bool,
    pub console_size: Option<[u32; 2]>,
}

/// `ProcessConfig` of an exec inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ExecProcessConfig {
    pub tty: bool,
    pub entrypoint: String,
    pub arguments: Vec<String>,
    pub privileged: bool,
    pub user: String,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ExecInspect {
    #[serde(rename = "CanRemove")]
    pub can_remove: bool,
    #[serde(rename = "DetachKeys")]
    pub detach_keys: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Running")]
    pub running: bool,
    #[serde(rename = "ExitCode")]
    pub exit_code: Option<i64>,
    #[serde(rename = "ProcessConfig")]
    pub process_config: ExecProcessConfig,
    #[serde(rename = "OpenStdin")]
    pub open_stdin: bool,
    #[serde(rename = "OpenStderr")]
    pub open_stderr: bool,
    #[serde(rename = "OpenStdout")]
    pub open_stdout: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    #[serde(rename = "Pid")]
    pub pid: i64,
}
