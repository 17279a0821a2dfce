//! berth-engine: the orchestration layer. It opens the state store, owns the
//! event bus and every subsystem, runs the recovery sequence at start, and
//! implements the `berth_api::backend` traits the server calls.
//!
//! It knows nothing of HTTP.

pub mod config;
pub mod host;
pub mod system;

use std::path::PathBuf;
use std::sync::Arc;

use berth_core::events::EventBus;
use berth_core::store::Store;
use berth_core::{Error, Result};

pub use config::EngineConfig;

/// The engine: shared by all request handlers behind an `Arc`.
pub struct Engine {
    /// Daemon settings.
    pub config: EngineConfig,
    /// Metadata store (`<data-root>/meta.db`).
    pub store: Arc<Store>,
    /// Event bus.
    pub events: Arc<EventBus>,
    /// Stable engine id (`<data-root>/engine-id`).
    pub engine_id: String,
    /// When the engine started.
    pub started: std::time::Instant,
}

impl Engine {
    /// Open the data root and run the recovery sequence.
    ///
    /// The caller holds the data-root lock; see `berthd`.
    pub fn open(config: EngineConfig) -> Result<Engine> {
        for dir in [&config.data_root, &config.exec_root] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("create {}: {e}", dir.display())))?;
        }
        berth_core::fsutil::sweep_tmp(&config.data_root);
        let store = Arc::new(Store::open(&config.data_root.join("meta.db"))?);
        let engine_id = load_or_create_id(&config.data_root.join("engine-id"))?;
        Ok(Engine {
            config,
            store,
            events: Arc::new(EventBus::new()),
            engine_id,
            started: std::time::Instant::now(),
        })
    }

    /// Path under the data root.
    pub fn data_path(&self, rel: &str) -> PathBuf {
        self.config.data_root.join(rel)
    }
}

fn load_or_create_id(path: &std::path::Path) -> Result<String> {
    if let Ok(s) = std::fs::read_to_string(path) {
        let s = s.trim().to_string();
        if !s.is_empty() {
            return Ok(s);
        }
    }
    let id = uuid_like();
    berth_core::fsutil::atomic_write(path, id.as_bytes())?;
    Ok(id)
}

/// Docker's engine ids are UUIDs; berth uses the same shape from random bits.
fn uuid_like() -> String {
    let h = berth_core::id::generate();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}
