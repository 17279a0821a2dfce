//! Listeners and the serving loop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt;
use axum::extract::Request;
use berth_api::backend::Backend;
use tower::Layer;

use crate::authz::AuthzHook;
use crate::routes;

/// A bound API listener.
pub enum Listener {
    /// `unix:///run/berth/berth.sock`.
    Unix(tokio::net::UnixListener),
    /// `tcp://127.0.0.1:2375` (loopback only unless TLS).
    Tcp(tokio::net::TcpListener),
    /// `tcp://0.0.0.0:2376` with `--tls`/`--tlsverify`.
    Tls(tokio::net::TcpListener, tokio_rustls::TlsAcceptor),
}

/// How long open streams (events, attach, logs -f) may hold the daemon after a
/// shutdown signal before they are cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(300);

/// Serve the API on every listener until `shutdown` resolves; then stop
/// accepting and give open connections [`SHUTDOWN_GRACE`] to finish.
pub async fn serve(
    listeners: Vec<Listener>,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listeners, backend, None, shutdown).await
}

/// [`serve`] with an authorization hook seeing every request and response.
pub async fn serve_with(
    listeners: Vec<Listener>,
    backend: Arc<dyn Backend>,
    authz: Option<Arc<dyn AuthzHook>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = routes::router(backend);
    // The version layer wraps the router service itself so it runs before
    // routing and can rewrite the path.
    let app = axum::middleware::from_fn(crate::version::layer).layer(router);
    // Authorization wraps everything: it sees the URI as the client sent it.
    let app = axum::middleware::from_fn_with_state(authz, crate::authz::layer).layer(app);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for l in listeners {
        let app = app.clone();
        let mut rx = stop_rx.clone();
        let tls_stop = stop_rx.clone();
        let stop = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tasks.push(tokio::spawn(async move {
            let tls_app = app.clone();
            let svc = ServiceExt::<Request>::into_make_service(app);
            match l {
                Listener::Unix(u) => axum::serve(u, svc).with_graceful_shutdown(stop).await,
                Listener::Tcp(t) => axum::serve(t, svc).with_graceful_shutdown(stop).await,
                Listener::Tls(t, acceptor) => {
                    crate::tls::serve_tls(t, acceptor, tls_app, tls_stop).await
                }
            }
        }));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    let all = futures::future::join_all(tasks);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, all).await;
    Ok(())
}
