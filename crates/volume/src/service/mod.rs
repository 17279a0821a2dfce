//! The volume service: the one entry point of the engine for volumes. It keeps
//! the registry of drivers (the `local` driver built in, remote plugins
//! registered later), the volume records (`volume.volumes`: driver, labels,
//! options), who uses which volume, and emits `volume` events.
//!
//! API operations are here; the container-facing ones (create, mount, release,
//! restore) are in [`containers`].

pub mod containers;
pub mod filter;
pub mod records;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use berth_api::types::volume::{Volume, VolumePruneResponse, VolumeUsageData};
use berth_core::events::EventBus;
use berth_core::filters::Filters;
use berth_core::store::Store;
use berth_core::{Classify, ErrorKind};

use crate::driver::{DriverVolume, LOCAL, Scope, VolumeDriver};
use crate::error::{Result, VolumeError};
use crate::local::LocalDriver;
use crate::mounter::{Mounter, SysMounter};
use crate::names::{self, ANONYMOUS_LABEL};
pub use records::VolumeRecord;
use records::{NameLocks, TABLE, Users};

/// Volumes of every driver, and who uses them.
pub struct VolumeService {
    store: Arc<Store>,
    events: Arc<EventBus>,
    local: LocalDriver,
    drivers: RwLock<BTreeMap<String, Arc<dyn VolumeDriver>>>,
    records: Mutex<BTreeMap<String, VolumeRecord>>,
    users: Users,
    locks: NameLocks,
    pruning: AtomicBool,
    /// Where unknown driver names are looked up (none: built-in only).
    plugins: OnceLock<Arc<berth_plugin::Registry>>,
}

fn now_secs() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Resets the prune flag however prune ends.
struct PruneGuard<'a>(&'a AtomicBool);

impl Drop for PruneGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl VolumeService {
    /// Open the service with local volumes under `root` (`<data-root>/volumes`).
    pub fn open(root: PathBuf, store: Arc<Store>, events: Arc<EventBus>) -> Result<VolumeService> {
        Self::open_with(root, store, events, Arc::new(SysMounter))
    }

    /// As [`VolumeService::open`], with another mounter (tests of logic above the kernel seam).
    pub fn open_with(
        root: PathBuf,
        store: Arc<Store>,
        events: Arc<EventBus>,
        mounter: Arc<dyn Mounter>,
    ) -> Result<VolumeService> {
        let local = LocalDriver::open(root, store.clone(), mounter)?;
        let mut records: BTreeMap<String, VolumeRecord> =
            store.list::<VolumeRecord>(TABLE)?.into_iter().collect();
        let local_names = local.names();
        // Records of local volumes whose data is gone, and local volumes without a record.
        let stale: Vec<String> = records
            .values()
            .filter(|r| r.driver == LOCAL && !local_names.contains(&r.name))
            .map(|r| r.name.clone())
            .collect();
        for name in stale {
            store.delete(TABLE, &name)?;
            records.remove(&name);
        }
        for name in local_names {
            if let std::collections::btree_map::Entry::Vacant(slot) = records.entry(name.clone()) {
                let options = local.mount_opts(&name).map(|m| {
                    BTreeMap::from([
                        ("type".to_string(), m.kind),
                        ("device".to_string(), m.device),
                        ("o".to_string(), m.options),
                    ])
                });
                let rec = VolumeRecord {
                    name: name.clone(),
                    driver: LOCAL.into(),
                    labels: None,
                    options,
                    created_at: now_secs(),
                };
                store.put(TABLE, &name, &rec)?;
                slot.insert(rec);
            }
        }
        let mut drivers: BTreeMap<String, Arc<dyn VolumeDriver>> = BTreeMap::new();
        drivers.insert(LOCAL.into(), Arc::new(local.clone()));
        Ok(VolumeService {
            store,
            events,
            local,
            drivers: RwLock::new(drivers),
            records: Mutex::new(records),
            users: Users::default(),
            locks: NameLocks::default(),
            pruning: AtomicBool::new(false),
            plugins: OnceLock::new(),
        })
    }

    /// The built-in driver.
    pub fn local(&self) -> &LocalDriver {
        &self.local
    }

    /// Add (or replace) a driver, e.g. a remote plugin once activated.
    pub fn register_driver(&self, driver: Arc<dyn VolumeDriver>) {
        let mut d = self.drivers.write().unwrap_or_else(|p| p.into_inner());
        d.insert(driver.name().to_string(), driver);
    }

    /// Look unknown driver names up as plugins in `reg`. Set once, right after opening.
    pub fn set_plugins(&self, reg: Arc<berth_plugin::Registry>) {
        let _ = self.plugins.set(reg);
    }

    /// The driver `name`: registered, or a `VolumeDriver` plugin found and
    /// activated now (waiting for one not present yet within the registry's
    /// retry budget), then registered.
    pub async fn resolve(&self, name: &str) -> Result<Arc<dyn VolumeDriver>> {
        let err = match self.driver(name) {
            Ok(d) => return Ok(d),
            Err(e) => e,
        };
        let Some(reg) = self.plugins.get() else {
            return Err(err);
        };
        match reg.get(name, berth_plugin::dto::iface::VOLUME).await {
            Ok(p) => Ok(self.adopt(p)),
            Err(berth_plugin::PluginError::NotFound(_)) => Err(err),
            Err(e) => Err(VolumeError::Core(berth_core::Error::new(
                e.kind(),
                format!("error looking up volume plugin {name}: {e}"),
            ))),
        }
    }

    /// Register an activated plugin unless a driver of its name exists.
    fn adopt(&self, p: Arc<berth_plugin::Plugin>) -> Arc<dyn VolumeDriver> {
        let mut d = self.drivers.write().unwrap_or_else(|p| p.into_inner());
        d.entry(p.name().to_string())
            .or_insert_with(|| Arc::new(crate::remote::RemoteVolumeDriver::new(p)))
            .clone()
    }

    /// Every driver, with the volume plugins on disk activated (Docker scans
    /// them for `volume ls` and for lookups of volumes berth has no record of).
    async fn every_driver(&self) -> Vec<Arc<dyn VolumeDriver>> {
        if let Some(reg) = self.plugins.get() {
            for p in reg.get_all(berth_plugin::dto::iface::VOLUME).await {
                self.adopt(p);
            }
        }
        self.all_drivers()
    }

    /// Names of the registered drivers (`docker info` Plugins.Volume).
    pub fn driver_names(&self) -> Vec<String> {
        self.drivers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// The driver called `name` (`""` is `local`).
    pub fn driver(&self, name: &str) -> Result<Arc<dyn VolumeDriver>> {
        let name = if name.is_empty() { LOCAL } else { name };
        let d = self.drivers.read().unwrap_or_else(|p| p.into_inner());
        d.get(name)
            .cloned()
            .ok_or_else(|| VolumeError::NoSuchDriver(name.to_string()))
    }

    fn all_drivers(&self) -> Vec<Arc<dyn VolumeDriver>> {
        self.drivers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn record(&self, name: &str) -> Option<VolumeRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    fn all_records(&self) -> Vec<VolumeRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn save(&self, rec: &VolumeRecord) -> Result<()> {
        self.store.put(TABLE, &rec.name, rec)?;
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rec.name.clone(), rec.clone());
        Ok(())
    }

    fn purge(&self, name: &str) -> Result<()> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.store.delete(TABLE, name)?;
        Ok(())
    }

    fn emit(&self, action: &str, name: &str, attrs: &[(&str, &str)]) {
        let attrs = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.events.emit("volume", action, name, attrs);
    }

    async fn scope(&self, d: &dyn VolumeDriver) -> Scope {
        // Docker: a driver that cannot say is `local`.
        d.capabilities()
            .await
            .map(|c| c.scope)
            .unwrap_or(Scope::Local)
    }

    fn to_api(rec: &VolumeRecord, scope: Scope, dv: DriverVolume) -> Volume {
        Volume {
            created_at: dv.created_at.unwrap_or_else(|| rec.created_at.clone()),
            driver: rec.driver.clone(),
            labels: rec.labels.clone(),
            mountpoint: dv.mountpoint.display().to_string(),
            name: rec.name.clone(),
            options: rec.options.clone(),
            scope: scope.as_str().to_string(),
            status: dv.status,
            usage_data: None,
        }
    }

    /// Containers using `name`, sorted.
    pub fn refs(&self, name: &str) -> Vec<String> {
        self.users.refs(name)
    }

    /// Create a volume (`POST /volumes/create`); an empty name makes an anonymous one.
    pub async fn create(
        &self,
        name: &str,
        driver: &str,
        opts: Option<BTreeMap<String, String>>,
        labels: Option<BTreeMap<String, String>>,
    ) -> Result<Volume> {
        let (rec, d, dv) = self.create_ref(name, driver, opts, labels, None).await?;
        Ok(Self::to_api(&rec, self.scope(d.as_ref()).await, dv))
    }

    /// Create or find `name`; with `reference`, record that container as a user
    /// under the same lock (so a concurrent remove cannot slip in between).
    pub(crate) async fn create_ref(
        &self,
        name: &str,
        driver: &str,
        opts: Option<BTreeMap<String, String>>,
        labels: Option<BTreeMap<String, String>>,
        reference: Option<(&str, bool)>,
    ) -> Result<(VolumeRecord, Arc<dyn VolumeDriver>, DriverVolume)> {
        let (name, labels) = if name.is_empty() {
            let mut l = labels.unwrap_or_default();
            l.insert(ANONYMOUS_LABEL.into(), String::new());
            (names::generate(), Some(l))
        } else {
            (name.to_string(), labels)
        };
        let _guard = self.locks.lock(&name).await;
        if let Some(rec) = self.record(&name) {
            let d = self
                .resolve(&rec.driver)
                .await
                .map_err(|e| e.op("create", &name))?;
            match d.get(&name).await {
                Ok(dv) => {
                    if !driver.is_empty() && driver != rec.driver {
                        return Err(VolumeError::Conflict(format!(
                            "create {name}: driver '{}' already has volume '{name}': volume name must be unique",
                            rec.driver
                        )));
                    }
                    if let Some((c, anon)) = reference {
                        self.users.add(c, &name, anon);
                    }
                    return Ok((rec, d, dv));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    if !self.users.refs(&name).is_empty() {
                        return Err(VolumeError::Conflict(format!(
                            "create {name}: found references to volume '{name}' in driver '{}' but the volume was not found in the driver -- you may need to remove containers referencing this volume or force remove the volume to re-create it: volume name must be unique",
                            rec.driver
                        )));
                    }
                    self.purge(&name)?;
                }
                Err(e) => return Err(e.op("create", &name)),
            }
        }
        let driver = if driver.is_empty() { LOCAL } else { driver };
        let d = self
            .resolve(driver)
            .await
            .map_err(|e| e.op("create", &name))?;
        let existed = d.get(&name).await.is_ok();
        if !existed {
            d.create(&name, &opts.clone().unwrap_or_default())
                .await
                .map_err(|e| e.op("create", &name))?;
        }
        let dv = d.get(&name).await.map_err(|e| e.op("create", &name))?;
        let rec = VolumeRecord {
            name: name.clone(),
            driver: driver.to_string(),
            labels,
            options: opts,
            created_at: now_secs(),
        };
        if let Err(e) = self.save(&rec) {
            if !existed {
                let _ = d.remove(&name).await;
            }
            return Err(e);
        }
        if let Some((c, anon)) = reference {
            self.users.add(c, &name, anon);
        }
        self.emit("create", &name, &[("driver", driver)]);
        Ok((rec, d, dv))
    }

    /// Find a volume: by its record, or by asking every driver (volumes a plugin
    /// has that berth never created). The caller may hold the name lock.
    async fn lookup(
        &self,
        name: &str,
    ) -> Result<(VolumeRecord, Arc<dyn VolumeDriver>, DriverVolume)> {
        let no_such = || VolumeError::NoSuchVolume {
            op: "get",
            name: name.to_string(),
        };
        if let Some(rec) = self.record(name) {
            let d = self
                .resolve(&rec.driver)
                .await
                .map_err(|e| e.op("get", name))?;
            return match d.get(name).await {
                Ok(dv) => Ok((rec, d, dv)),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    if self.users.refs(name).is_empty() {
                        self.purge(name)?;
                    }
                    Err(no_such())
                }
                Err(e) => Err(e.op("get", name)),
            };
        }
        for d in self.every_driver().await {
            if let Ok(dv) = d.get(name).await {
                let rec = VolumeRecord {
                    name: name.to_string(),
                    driver: d.name().to_string(),
                    created_at: now_secs(),
                    ..Default::default()
                };
                self.save(&rec)?;
                return Ok((rec, d, dv));
            }
        }
        Err(no_such())
    }

    /// Inspect (`GET /volumes/{name}`).
    pub async fn inspect(&self, name: &str) -> Result<Volume> {
        let (rec, d, dv) = self.lookup(name).await?;
        Ok(Self::to_api(&rec, self.scope(d.as_ref()).await, dv))
    }

    /// Every volume passing `filters` (`name`, `driver`, `label`, `dangling`), sorted by
    /// name, and warnings for drivers that could not be listed.
    pub async fn list(&self, filters: &Filters) -> Result<(Vec<Volume>, Vec<String>)> {
        filters.validate(filter::LIST)?;
        let dangling = filter::dangling(filters)?;
        let records: BTreeMap<String, VolumeRecord> = self
            .all_records()
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        let mut warnings = Vec::new();
        let mut out = Vec::new();
        for d in self.every_driver().await {
            if !filters.any("driver", |v| v == d.name()) {
                continue;
            }
            let scope = self.scope(d.as_ref()).await;
            let vols = match d.list().await {
                Ok(v) => v,
                Err(e) => {
                    warnings.push(format!("list {}: {e}", d.name()));
                    // Show what berth knows of that driver's volumes anyway.
                    records
                        .values()
                        .filter(|r| r.driver == d.name())
                        .map(|r| DriverVolume {
                            name: r.name.clone(),
                            mountpoint: PathBuf::new(),
                            created_at: None,
                            status: None,
                        })
                        .collect()
                }
            };
            for dv in vols {
                let rec = match records.get(&dv.name) {
                    Some(r) if r.driver != d.name() => continue,
                    Some(r) => r.clone(),
                    None => VolumeRecord {
                        name: dv.name.clone(),
                        driver: d.name().to_string(),
                        ..Default::default()
                    },
                };
                let in_use = !self.users.refs(&rec.name).is_empty();
                if filter::keep(filters, &rec, in_use, dangling) {
                    out.push(Self::to_api(&rec, scope, dv));
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((out, warnings))
    }

    /// Remove (`DELETE /volumes/{name}`). A volume in use is a Conflict even with
    /// `force`; `force` only forgives a missing volume or a failing driver (Docker's rules).
    pub async fn remove(&self, name: &str, force: bool) -> Result<()> {
        let _guard = self.locks.lock(name).await;
        self.remove_locked(name, force).await
    }

    async fn remove_locked(&self, name: &str, force: bool) -> Result<()> {
        let (rec, d) = match self.record(name) {
            Some(rec) => match self.resolve(&rec.driver).await {
                Ok(d) => (rec, d),
                Err(e) if force => {
                    tracing::warn!(volume = %name, "forgetting volume of missing driver: {e}");
                    return self.purge(name);
                }
                Err(e) => return Err(e.op("remove", name)),
            },
            None => match self.lookup(name).await {
                Ok((rec, d, _)) => (rec, d),
                Err(e) if force && e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            },
        };
        let refs = self.users.refs(name);
        if !refs.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                refs,
            });
        }
        match d.remove(name).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                if force {
                    self.purge(name)?;
                }
                return Err(e.op("remove", name));
            }
        }
        self.purge(name)?;
        self.emit("destroy", name, &[("driver", &rec.driver)]);
        Ok(())
    }

    /// Prune unused local volumes without driver options: anonymous ones, or all with
    /// `all=true`; filters `label`, `label!`, `all`.
    pub async fn prune(&self, filters: &Filters) -> Result<VolumePruneResponse> {
        if self.pruning.swap(true, Ordering::SeqCst) {
            return Err(VolumeError::Conflict(
                "a prune operation is already running".into(),
            ));
        }
        let _reset = PruneGuard(&self.pruning);
        filters.validate(filter::PRUNE)?;
        let all = filter::prune_all(filters)?;
        let mut report = VolumePruneResponse::default();
        for rec in self.all_records() {
            let unused = self.users.refs(&rec.name).is_empty();
            if rec.driver != LOCAL
                || rec.has_options()
                || !unused
                || !filter::prunable(filters, &rec, all)
            {
                continue;
            }
            let _guard = self.locks.lock(&rec.name).await;
            if !self.users.refs(&rec.name).is_empty() {
                continue;
            }
            let size = self.size_of(&rec.name).await;
            match self.remove_locked(&rec.name, false).await {
                Ok(()) => {
                    report.space_reclaimed += size.max(0) as u64;
                    report.volumes_deleted.push(rec.name.clone());
                }
                Err(e) => tracing::warn!(volume = %rec.name, "prune: {e}"),
            }
        }
        let reclaimed = report.space_reclaimed.to_string();
        self.emit("prune", "", &[("reclaimed", &reclaimed)]);
        Ok(report)
    }

    /// Size of a local volume's data, `-1` when unknown.
    async fn size_of(&self, name: &str) -> i64 {
        let path = self.local.data_path(name);
        tokio::task::spawn_blocking(move || crate::fsops::dir_size(&path))
            .await
            .ok()
            .and_then(|r| r.ok())
            .map_or(-1, |s| s as i64)
    }

    /// Local volumes without driver options with `UsageData` (size, users), for `system df`.
    pub async fn usage(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for rec in self.all_records() {
            if rec.driver != LOCAL || rec.has_options() {
                continue;
            }
            let Ok(dv) = self.local.get(&rec.name).await else {
                continue;
            };
            let mut v = Self::to_api(&rec, Scope::Local, dv);
            v.usage_data = Some(VolumeUsageData {
                size: self.size_of(&rec.name).await,
                ref_count: self.users.refs(&rec.name).len() as i64,
            });
            out.push(v);
        }
        Ok(out)
    }
}
