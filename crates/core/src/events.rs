//! The event bus behind `GET /events`: every subsystem publishes here.
//!
//! Recent events are kept in a bounded ring so `since` can replay them; live
//! subscribers get a bounded broadcast channel, and a subscriber that falls
//! behind loses the oldest events instead of growing the daemon's memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::filters::Filters;

/// How many past events `since` can replay.
pub const HISTORY: usize = 1024;

/// Who an event is about.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Actor {
    /// Object id (container id, image id, network id, volume name...).
    #[serde(rename = "ID")]
    pub id: String,
    /// Extra facts: `name`, `image`, labels, `exitCode`...
    #[serde(rename = "Attributes", default)]
    pub attributes: HashMap<String, String>,
}

/// One event, in the Engine API's wire shape (with the legacy `status/id/from` fields
/// that v28 daemons still send for containers and images).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// `container`, `image`, `network`, `volume`, `daemon`, `plugin`, `builder`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `pull`, ...
    #[serde(rename = "Action")]
    pub action: String,
    /// The object.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local` in berth.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    /// Legacy: the action, for containers and images.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<String>,
    /// Legacy: the actor id, for containers and images.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// Legacy: the image of a container.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
}

impl Event {
    /// A new event stamped now.
    pub fn new(kind: &str, action: &str, id: &str, attributes: HashMap<String, String>) -> Event {
        let now = Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let legacy = kind == "container" || kind == "image";
        Event {
            kind: kind.to_string(),
            action: action.to_string(),
            scope: "local".to_string(),
            time: now.timestamp(),
            time_nano: nanos,
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: if kind == "container" {
                attributes.get("image").cloned()
            } else {
                None
            },
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
        }
    }

    /// Does this event pass Docker's event filters (`type`, `event`, `container`,
    /// `image`, `network`, `volume`, `label`, `daemon`, `plugin`, `scope`)?
    pub fn matches(&self, f: &Filters) -> bool {
        let attr = |k: &str| self.actor.attributes.get(k).map(String::as_str);
        let id_or_name = |v: &str| {
            self.actor.id == v
                || (v.len() >= 12 && self.actor.id.starts_with(v))
                || attr("name") == Some(v)
        };
        f.any("type", |v| v == self.kind)
            && f.any("event", |v| {
                v == self.action || self.action.split(':').next().is_some_and(|a| a.trim() == v)
            })
            && f.any("scope", |v| v == self.scope)
            && (!f.contains("container")
                || (self.kind == "container" && f.any("container", id_or_name)))
            && (!f.contains("image")
                || f.any("image", |v| {
                    (self.kind == "image" && id_or_name(v)) || attr("image") == Some(v)
                }))
            && (!f.contains("network") || (self.kind == "network" && f.any("network", id_or_name)))
            && (!f.contains("volume") || (self.kind == "volume" && f.any("volume", id_or_name)))
            && (!f.contains("plugin") || (self.kind == "plugin" && f.any("plugin", id_or_name)))
            && (!f.contains("daemon") || (self.kind == "daemon" && f.any("daemon", id_or_name)))
            && f.match_labels("label", &self.actor.attributes)
    }
}

/// Publish/subscribe hub for events, shared by the whole daemon.
pub struct EventBus {
    history: Mutex<VecDeque<Event>>,
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> EventBus {
        let (tx, _) = broadcast::channel(256);
        EventBus {
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            tx,
        }
    }

    /// Record and broadcast an event.
    pub fn publish(&self, event: Event) {
        tracing::debug!(kind = %event.kind, action = %event.action, id = %event.actor.id, "event");
        // The history lock is held across the send so a subscriber never sees an
        // event both in its replay and live, nor misses one in between.
        let mut hist = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if hist.len() == HISTORY {
            hist.pop_front();
        }
        hist.push_back(event.clone());
        let _ = self.tx.send(event);
    }

    /// Shorthand for [`Event::new`] + [`EventBus::publish`].
    pub fn emit(&self, kind: &str, action: &str, id: &str, attributes: HashMap<String, String>) {
        self.publish(Event::new(kind, action, id, attributes));
    }

    /// Past events with `timeNano >= since_nanos`, and a receiver for every later one.
    pub fn subscribe(&self, since_nanos: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let hist = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = match since_nanos {
            Some(since) => hist
                .iter()
                .filter(|e| e.time_nano >= since)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (past, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn replay_then_live() {
        let bus = EventBus::new();
        bus.emit("container", "create", "c1", attrs(&[("name", "web")]));
        let (past, mut rx) = bus.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        bus.emit("container", "start", "c1", attrs(&[("name", "web")]));
        let ev = rx.recv().await.unwrap();
        assert_eq!(ev.action, "start");
        assert_eq!(ev.status.as_deref(), Some("start"));
        let (none, _) = bus.subscribe(None);
        assert!(none.is_empty());
    }

    #[test]
    fn filters_apply() {
        let ev = Event::new(
            "container",
            "health_status: healthy",
            "abcdef0123456789",
            attrs(&[("name", "web"), ("image", "bb"), ("tier", "front")]),
        );
        assert!(ev.matches(&Filters::from_pairs([("type", "container")])));
        assert!(ev.matches(&Filters::from_pairs([("event", "health_status")])));
        assert!(ev.matches(&Filters::from_pairs([("container", "web")])));
        assert!(ev.matches(&Filters::from_pairs([("container", "abcdef012345")])));
        assert!(ev.matches(&Filters::from_pairs([
            ("image", "bb"),
            ("label", "tier=front")
        ])));
        assert!(!ev.matches(&Filters::from_pairs([("type", "image")])));
        assert!(!ev.matches(&Filters::from_pairs([("container", "db")])));
        assert!(!ev.matches(&Filters::from_pairs([("network", "web")])));
    }
}
