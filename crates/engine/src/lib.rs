//! berth-engine: the orchestration layer. It opens the state store, owns the
//! event bus and every subsystem, runs the recovery sequence at start, and
//! implements the `berth_api::backend` traits the server calls.
//!
//! It knows nothing of HTTP.

pub mod build;
pub mod config;
pub mod container;
pub mod host;
pub mod images;
pub mod networks;
pub mod system;
pub mod volumes;

use std::path::PathBuf;
use std::sync::{Arc, Weak};

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
    /// Images, layers and container read-write layers (`<data-root>/image`).
    pub images: Arc<berth_image::ImageService>,
    /// Containers by id and name.
    pub containers: container::Containers,
    /// Exec instances.
    pub execs: container::exec::Execs,
    /// Spawns and finds container shims under the exec root.
    pub shims: berth_runtime::client::ShimRunner,
    /// The `Arc` this engine lives in (for tasks that outlive a request).
    me: Weak<Engine>,
    /// Volumes (`<data-root>/volumes`, tables `volume.*`).
    pub volumes: Arc<berth_volume::VolumeService>,
    /// Networks, endpoints and sandboxes (tables `network.*`, `<exec-root>/netns`).
    pub networks: Arc<berth_network::Controller>,
    /// Legacy plugins (network, IPAM, volume, authorization), found lazily by name.
    pub plugins: Arc<berth_plugin::Registry>,
    /// VM isolation: the host probe and the guest initramfs.
    pub vm: container::vm::VmState,
}

impl Engine {
    /// Open the data root and run the recovery sequence.
    ///
    /// The caller holds the data-root lock; see `berthd`.
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>> {
        for dir in [&config.data_root, &config.exec_root] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("create {}: {e}", dir.display())))?;
        }
        let t0 = std::time::Instant::now();
        berth_core::fsutil::sweep_tmp(&config.data_root);
        let store = Arc::new(Store::open(&config.data_root.join("meta.db"))?);
        let engine_id = load_or_create_id(&config.data_root.join("engine-id"))?;
        let events = Arc::new(EventBus::new());
        let t_store = t0.elapsed();
        let images = images::open(&config, store.clone(), events.clone())?;
        let t_images = t0.elapsed();
        let volumes = volumes::open(&config, store.clone(), events.clone())?;
        let t_volumes = t0.elapsed();
        let networks = networks::open(&config, store.clone())?;
        let t_networks = t0.elapsed();
        tracing::debug!(
            ?t_store,
            ?t_images,
            ?t_volumes,
            ?t_networks,
            "engine subsystems open"
        );
        // Driver names the subsystems do not know are looked up as plugins.
        let plugins = Arc::new(config.plugin_registry());
        volumes.set_plugins(plugins.clone());
        networks.set_plugins(plugins.clone());
        let shims = berth_runtime::client::ShimRunner::new(
            container::runtime::shim_binary(),
            &config.exec_root,
        );
        let engine = Arc::new_cyclic(|me| Engine {
            me: me.clone(),
            execs: Default::default(),
            shims,
            config,
            store,
            events,
            images,
            containers: container::Containers::default(),
            volumes,
            networks,
            plugins,
            vm: Default::default(),
            engine_id,
            started: std::time::Instant::now(),
        });
        engine
            .images
            .set_users(Arc::new(container::users::Users(Arc::downgrade(&engine))));
        Ok(engine)
    }

    /// This engine as an `Arc`, for work that outlives the current request.
    pub fn me(&self) -> Arc<Engine> {
        match self.me.upgrade() {
            Some(e) => e,
            // `Engine::open` is the only constructor and returns the Arc.
            None => unreachable!("engine used while being dropped"),
        }
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
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
