//! The API over TLS on TCP (dockerd's `--tls`/`--tlsverify`): a TLS handshake per
//! connection, then the same router as on the unix socket, with HTTP upgrades
//! (attach/exec hijacking) working through the TLS stream.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

/// Paths of the PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Server certificate chain.
    pub cert: std::path::PathBuf,
    /// Server private key.
    pub key: std::path::PathBuf,
    /// CA that client certificates must chain to (`--tlsverify`); `None` accepts any client.
    pub client_ca: Option<std::path::PathBuf>,
}

/// Build an acceptor from PEM files; errors name the file.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("read TLS certificate {}: {e}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("read TLS key {}: {e}", files.key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("read TLS CA {}: {e}", ca.display()))?
            {
                let c = c.map_err(|e| format!("read TLS CA {}: {e}", ca.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("TLS CA {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS client verifier: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Accept TLS connections until `stop` turns true.
pub async fn serve_tls<S>(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    app: S,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => r?,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
            };
            let svc = TowerToHyperService::new(tower::ServiceExt::map_request(
                app,
                |r: hyper::Request<hyper::body::Incoming>| r.map(axum::body::Body::new),
            ));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "TLS connection: {e}");
            }
        });
    }
}
