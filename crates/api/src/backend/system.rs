//! System endpoints: ping, version, info, events, disk usage.

use std::pin::Pin;

use async_trait::async_trait;
use berth_core::Result;
use berth_core::events::Event;
use berth_core::filters::Filters;
use futures::Stream;

use crate::types::system::{SystemDataUsage, SystemInfo, SystemVersion};

/// A stream of events for `GET /events`; it ends at `until` when one was given.
pub type EventStream = Pin<Box<dyn Stream<Item = Event> + Send>>;

/// Parsed `GET /events` query.
#[derive(Debug, Clone, Default)]
pub struct EventsQuery {
    /// Replay events at or after this time (unix nanoseconds).
    pub since_nanos: Option<i64>,
    /// Stop at this time (unix nanoseconds).
    pub until_nanos: Option<i64>,
    /// Docker event filters.
    pub filters: Filters,
}

/// `/_ping`, `/version`, `/info`, `/events`, `/system/df`.
#[async_trait]
pub trait SystemBackend {
    /// `GET /version`. Never fails.
    async fn version(&self) -> Result<SystemVersion>;
    /// `GET /info`: host figures and object counts.
    async fn info(&self) -> Result<SystemInfo>;
    /// `GET /events`. `InvalidArgument` for bad filters.
    async fn events(&self, query: EventsQuery) -> Result<EventStream>;
    /// `GET /system/df?type=...` (empty `types` means all).
    async fn data_usage(&self, types: &[String]) -> Result<SystemDataUsage>;
}
