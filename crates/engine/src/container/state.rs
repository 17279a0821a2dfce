//! Container status and its transitions, with Docker's wording.
//!
//! Illegal transitions are refused with `Conflict` (409) and "already in that
//! state" with `NotModified` (304), as Docker does.

use berth_core::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started (or reset).
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Frozen.
    Paused,
    /// Waiting to be restarted by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Its process has exited.
    Exited,
    /// Removal failed half-way.
    Dead,
}

impl Status {
    /// Docker's status word (`State.Status`, `ps` filter `status=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Does a process exist (running or frozen)?
    pub fn is_alive(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }

    /// May `start` proceed? 304 when running, 409 when paused or being removed.
    pub fn check_start(self, id: &str) -> Result<()> {
        match self {
            Status::Running => Err(Error::not_modified(format!(
                "container {id} is already running"
            ))),
            Status::Paused => Err(Error::conflict(
                "cannot start a paused container, try unpause instead".to_string(),
            )),
            Status::Removing | Status::Dead => Err(Error::conflict(format!(
                "container {id} is marked for removal and cannot be started"
            ))),
            _ => Ok(()),
        }
    }

    /// May a signal be delivered? 409 when no process runs.
    pub fn check_kill(self, id: &str) -> Result<()> {
        if matches!(self, Status::Running | Status::Paused | Status::Restarting) {
            Ok(())
        } else {
            Err(Error::conflict(format!(
                "Cannot kill container: {id}: container {id} is not running"
            )))
        }
    }

    /// May it be paused?
    pub fn check_pause(self, id: &str) -> Result<()> {
        match self {
            Status::Running => Ok(()),
            Status::Paused => Err(Error::conflict(format!("container {id} is already paused"))),
            _ => Err(Error::conflict(format!("container {id} is not running"))),
        }
    }

    /// May it be unpaused?
    pub fn check_unpause(self, id: &str) -> Result<()> {
        if self == Status::Paused {
            Ok(())
        } else {
            Err(Error::conflict(format!("container {id} is not paused")))
        }
    }

    /// May an exec be created in it?
    pub fn check_exec(self, id: &str) -> Result<()> {
        match self {
            Status::Running => Ok(()),
            Status::Paused => Err(Error::conflict(format!(
                "container {id} is paused, unpause the container before exec"
            ))),
            Status::Restarting => Err(Error::conflict(format!(
                "container {id} is restarting, wait until the container is running"
            ))),
            _ => Err(Error::conflict(format!("container {id} is not running"))),
        }
    }
}

fn since(t: &str, now: DateTime<Utc>) -> String {
    match berth_core::timefmt::parse_rfc3339(t) {
        Some(t) => human_duration((now - t).num_seconds()),
        None => "Less than a second".to_string(),
    }
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    match secs.max(0) {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s @ 2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        s @ 120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        s @ 7200..=172_799 => format!("{} hours", s / 3600),
        s @ 172_800..=1_209_599 => format!("{} days", s / 86400),
        s @ 1_209_600..=7_775_999 => format!("{} weeks", s / 604_800),
        s @ 7_776_000..=63_071_999 => format!("{} months", s / 2_592_000),
        s => format!("{} years", s / 31_536_000),
    }
}

/// The `Status` column of `docker ps`: `Up 5 minutes (healthy)`, `Exited (0) 2 seconds ago`...
pub fn ps_status(
    status: Status,
    exit_code: i64,
    started_at: &str,
    finished_at: &str,
    health: Option<&str>,
    now: DateTime<Utc>,
) -> String {
    match status {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let mut s = format!("Up {}", since(started_at, now));
            if status == Status::Paused {
                s.push_str(" (Paused)");
            } else if let Some(h) = health.filter(|h| !h.is_empty() && *h != "none") {
                if h == "starting" {
                    s.push_str(" (health: starting)");
                } else {
                    s.push_str(&format!(" ({h})"));
                }
            }
            s
        }
        Status::Restarting => format!("Restarting ({exit_code}) {} ago", since(finished_at, now)),
        Status::Removing => "Removal In Progress".into(),
        Status::Exited => {
            if berth_core::timefmt::parse_rfc3339(finished_at).is_none() {
                format!("Exited ({exit_code})")
            } else {
                format!("Exited ({exit_code}) {} ago", since(finished_at, now))
            }
        }
        Status::Dead => "Dead".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_have_docker_status_codes() {
        use berth_core::ErrorKind;
        assert_eq!(
            Status::Running.check_start("x").unwrap_err().kind(),
            ErrorKind::NotModified
        );
        assert_eq!(
            Status::Paused.check_start("x").unwrap_err().kind(),
            ErrorKind::Conflict
        );
        assert!(Status::Exited.check_start("x").is_ok());
        assert_eq!(
            Status::Exited.check_kill("x").unwrap_err().kind(),
            ErrorKind::Conflict
        );
        assert_eq!(
            Status::Exited.check_exec("x").unwrap_err().kind(),
            ErrorKind::Conflict
        );
        assert!(Status::Paused.check_unpause("x").is_ok());
    }

    #[test]
    fn ps_status_strings() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T00:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = "2024-01-01T00:05:00Z";
        assert_eq!(
            ps_status(Status::Running, 0, t, "", None, now),
            "Up 5 minutes"
        );
        assert_eq!(
            ps_status(Status::Running, 0, t, "", Some("healthy"), now),
            "Up 5 minutes (healthy)"
        );
        assert_eq!(
            ps_status(Status::Paused, 0, t, "", None, now),
            "Up 5 minutes (Paused)"
        );
        assert_eq!(
            ps_status(Status::Exited, 7, t, t, None, now),
            "Exited (7) 5 minutes ago"
        );
        assert_eq!(ps_status(Status::Created, 0, "", "", None, now), "Created");
    }
}
