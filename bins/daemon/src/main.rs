//! berthd: the berth daemon. This file is the composition root: flags and
//! config file → locked data root → engine → API listeners → signals.

mod authz;
mod config;
mod execroot;
mod flags;
mod listen;
mod lock;
mod netplugin;
mod vmconfig;

use anyhow::{Context, Result};
use berth_engine::{Engine, EngineConfig};

fn main() {
    limit_malloc_arenas();
    if let Err(e) = run() {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}

/// glibc gives every thread that allocates its own arena; bursts of
/// blocking-pool threads (one per concurrent blocking call) otherwise leave
/// ~10 MiB of dirty arenas behind. Two arenas serve this daemon's load.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tunables; called before any
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn run() -> Result<()> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "network-plugin") {
        return netplugin::main(argv.into_iter().skip(2).collect());
    }
    let args = flags::parse_args(argv)?;
    let cfg = config::resolve(&args)?;
    init_logging(&cfg.log_level);
    for ignored in &args.ignored {
        tracing::info!("ignoring dockerd flag {ignored} (not applicable to berth)");
    }
    for key in &cfg.ignored_keys {
        tracing::info!("ignoring config file key {key:?} (not applicable to berth)");
    }

    std::fs::create_dir_all(&cfg.data_root)
        .with_context(|| format!("create data root {}", cfg.data_root.display()))?;
    let _lock = lock::DataRootLock::acquire(&cfg.data_root)?;
    match execroot::ensure_tmpfs(&cfg.exec_root) {
        Ok(true) => {
            tracing::debug!(exec_root = %cfg.exec_root.display(), "mounted a tmpfs on the exec root")
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(exec_root = %cfg.exec_root.display(), "exec root stays on disk: {e}")
        }
    }
    if let Some(pidfile) = &cfg.pidfile {
        lock::write_pidfile(pidfile)?;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start tokio runtime")?;
    let result = runtime.block_on(serve(&cfg));
    if let Some(pidfile) = &cfg.pidfile {
        let _ = std::fs::remove_file(pidfile);
    }
    execroot::release(&cfg.exec_root);
    result
}

async fn serve(cfg: &config::DaemonConfig) -> Result<()> {
    let mut engine_cfg = EngineConfig::new(cfg.data_root.clone(), cfg.exec_root.clone());
    engine_cfg.debug = cfg.debug;
    engine_cfg.labels = cfg.labels.clone();
    engine_cfg.registry_mirrors = cfg.registry_mirrors.clone();
    engine_cfg.insecure_registries = cfg.insecure_registries.clone();
    engine_cfg.live_restore = cfg.live_restore;
    engine_cfg.firewall = cfg.iptables;
    engine_cfg.userland_proxy = cfg.userland_proxy;
    engine_cfg.bridge_subnet = cfg.bip.clone();
    engine_cfg.bridge_name = cfg.bridge.clone();
    engine_cfg.default_address_pools = cfg.default_address_pools.clone();
    engine_cfg.dns_upstream = cfg.dns_upstream.clone();
    engine_cfg.plugin_socket_dirs = cfg.plugin_socket_dirs.clone();
    engine_cfg.plugin_spec_dirs = cfg.plugin_spec_dirs.clone();
    engine_cfg.plugin_call_timeout = cfg.plugin_call_timeout;
    engine_cfg.plugin_retry_timeout = cfg.plugin_retry_timeout;
    engine_cfg.authorization_plugins = cfg.authorization_plugins.clone();
    engine_cfg.vm = cfg.vm.clone();
    let t0 = std::time::Instant::now();
    let engine = Engine::open(engine_cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let t_open = t0.elapsed();
    engine
        .restore_containers()
        .await
        .map_err(|e| anyhow::anyhow!("restore containers: {e}"))?;
    tracing::debug!(?t_open, t_restore = ?t0.elapsed(), "engine ready");

    let (listeners, cleanup) =
        listen::bind_all(&cfg.hosts, cfg.group.as_deref(), cfg.tls.as_ref())?;
    tracing::info!(hosts = ?cfg.hosts, data_root = %cfg.data_root.display(), "berthd ready");
    engine
        .events
        .emit("daemon", "start", &engine.engine_id, Default::default());

    // Authorization plugins see every request and response, in the order given.
    let authz: Option<std::sync::Arc<dyn berth_server::authz::AuthzHook>> =
        (!cfg.authorization_plugins.is_empty()).then(|| {
            let chain = berth_plugin::authz::Chain::new(
                engine.plugins.clone(),
                cfg.authorization_plugins.clone(),
            );
            std::sync::Arc::new(authz::PluginAuthz(chain)) as _
        });
    let served =
        berth_server::serve_with(listeners, engine.clone(), authz, shutdown_signal()).await;
    cleanup.remove();
    // Containers keep running (live restore); only idle network objects go.
    engine.networks.shutdown().await;
    served.context("serve API")?;
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}

/// `BERTH_LOG` takes `target=level` lists (`warn,berth_network=debug`).
/// A plain `Targets` filter rather than `EnvFilter`: the latter compiles
/// regexes at start-up, a megabyte of code the daemon otherwise never runs.
fn init_logging(level: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = || format!("warn,berth={level},berthd={level}");
    let spec = std::env::var("BERTH_LOG").unwrap_or_else(|_| default());
    let filter: tracing_subscriber::filter::Targets = spec.parse().unwrap_or_else(|e| {
        eprintln!("berthd: ignoring BERTH_LOG={spec:?}: {e}");
        default().parse().unwrap_or_default()
    });
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
}
