//! The client and registry against real plugin processes' transport: a unix
//! socket server (this crate's serving side), a raw socket speaking garbage,
//! a slow plugin, a plugin appearing late, TCP and TLS (`.json` with a CA).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_core::{Classify, ErrorKind};
use berth_plugin::dto::volume::{MountRequest, MountResponse};
use berth_plugin::server::{Handler, Reply, serve_unix};
use berth_plugin::{Dirs, PluginError, Registry, Settings};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Fake;

#[async_trait::async_trait]
impl Handler for Fake {
    fn implements(&self) -> Vec<String> {
        vec!["VolumeDriver".into()]
    }
    async fn call(&self, method: &str, body: Bytes) -> Reply {
        match method {
            "VolumeDriver.Mount" => {
                let r: MountRequest = berth_plugin::ci::from_slice(&body).unwrap();
                Reply::Ok(serde_json::json!({"mountpoint": format!("/m/{}/{}", r.name, r.id)}))
            }
            "VolumeDriver.Remove" => Reply::Err("boom".into()),
            "VolumeDriver.Path" => Reply::Ok(serde_json::json!({"Err": "inline failure"})),
            "VolumeDriver.Get" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Reply::Ok(serde_json::json!({}))
            }
            _ => Reply::NotFound,
        }
    }
}

fn settings() -> Settings {
    Settings {
        call_timeout: Duration::from_millis(500),
        retry_budget: Duration::from_secs(3),
    }
}

fn dirs(root: &Path) -> Dirs {
    Dirs {
        sockets: vec![root.join("run")],
        specs: vec![root.join("etc")],
    }
}

fn serve(path: &Path) -> tokio::task::JoinHandle<()> {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let l = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        serve_unix(l, Arc::new(Fake), std::future::pending())
            .await
            .unwrap();
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_errors_and_timeouts() {
    let t = tempfile::tempdir().unwrap();
    let d = dirs(t.path());
    let _srv = serve(&d.sockets[0].join("vol.sock"));
    let reg = Registry::new(d, settings());
    let e = reg.get("vol", "NetworkDriver").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(
        e.to_string()
            .contains("requested implementation=\"NetworkDriver\""),
        "{e}"
    );
    let p = reg.get("vol", "VolumeDriver").await.unwrap();
    assert_eq!(reg.activated("VolumeDriver"), ["vol"]);
    let c = p.client();
    let m: MountResponse = c
        .call(
            "VolumeDriver.Mount",
            Some(&MountRequest {
                name: "v".into(),
                id: "i".into(),
            }),
        )
        .await
        .unwrap();
    assert_eq!(m.mountpoint, "/m/v/i");
    let e = c
        .call::<_, MountResponse>(
            "VolumeDriver.Remove",
            Some(&serde_json::json!({"Name": "v"})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "plugin \"vol\": VolumeDriver.Remove: boom");
    assert_eq!(e.call_detail(), "VolumeDriver.Remove: boom");
    let e = c
        .call::<_, MountResponse>("VolumeDriver.Path", Some(&serde_json::json!({"Name": "v"})))
        .await
        .unwrap_err();
    assert_eq!(e.remote_message(), Some("inline failure"));
    let e = c
        .call::<(), MountResponse>("VolumeDriver.Capabilities", None)
        .await
        .unwrap_err();
    assert!(e.is_not_found_status(), "{e:?}");
    let e = c
        .call::<_, MountResponse>("VolumeDriver.Get", Some(&serde_json::json!({"Name": "v"})))
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::Timeout { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(
        e.to_string()
            .contains("VolumeDriver.Get: no answer within 0.5s"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_vanishing_plugins_give_clear_errors() {
    let t = tempfile::tempdir().unwrap();
    let d = dirs(t.path());
    std::fs::create_dir_all(&d.sockets[0]).unwrap();
    let l = tokio::net::UnixListener::bind(d.sockets[0].join("junk.sock")).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"\x00\x01 this is not HTTP\r\n\r\n").await;
        }
    });
    let reg = Registry::new(d.clone(), settings());
    let e = reg.get("junk", "VolumeDriver").await.unwrap_err();
    assert!(matches!(e, PluginError::Activation { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("plugin \"junk\": activation failed: Plugin.Activate:"),
        "{e}"
    );
    // Absent: not found once the retry budget is spent.
    let e = reg.get("nobody", "VolumeDriver").await.unwrap_err();
    assert_eq!(e.to_string(), "plugin \"nobody\" not found");
    // A spec pointing at a dead address: connection failures retried, then reported.
    std::fs::create_dir_all(&d.specs[0]).unwrap();
    std::fs::write(
        d.specs[0].join("dead.spec"),
        format!("unix://{}/nothing.sock", t.path().display()),
    )
    .unwrap();
    let e = reg.get("dead", "VolumeDriver").await.unwrap_err();
    assert!(e.to_string().contains("cannot connect to unix://"), "{e}");
    // A scan skips all three (junk, dead, nobody) without waiting for them.
    assert!(reg.get_all("VolumeDriver").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_appearing_late_is_found_and_activated_once() {
    let t = tempfile::tempdir().unwrap();
    let d = dirs(t.path());
    let reg = Arc::new(Registry::new(d.clone(), settings()));
    let (a, b) = (reg.clone(), reg.clone());
    let first = tokio::spawn(async move { a.get("late", "VolumeDriver").await });
    let second = tokio::spawn(async move { b.get("late", "VolumeDriver").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _srv = serve(&d.sockets[0].join("late").join("late.sock"));
    let p1 = first.await.unwrap().unwrap();
    let p2 = second.await.unwrap().unwrap();
    assert!(
        Arc::ptr_eq(&p1, &p2),
        "one activation for concurrent first users"
    );
    assert_eq!(reg.scan(), ["late"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_and_tls_specs() {
    let t = tempfile::tempdir().unwrap();
    let d = dirs(t.path());
    std::fs::create_dir_all(&d.specs[0]).unwrap();
    // Plain TCP through a .spec file.
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    tokio::spawn(proxy_to_fake(tcp, None));
    std::fs::write(
        d.specs[0].join("overtcp.spec"),
        format!("tcp://127.0.0.1:{port}\n"),
    )
    .unwrap();
    // TLS through a .json file with a CA (the certificate names 127.0.0.1).
    let (ca, cert, key) = make_cert(t.path());
    let acceptor = tls_acceptor(&cert, &key);
    let tls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tport = tls.local_addr().unwrap().port();
    tokio::spawn(proxy_to_fake(tls, Some(acceptor)));
    std::fs::write(
        d.specs[0].join("overtls.json"),
        serde_json::json!({"Name": "overtls", "Addr": format!("https://127.0.0.1:{tport}"),
            "TLSConfig": {"CAFile": ca, "InsecureSkipVerify": false}})
        .to_string(),
    )
    .unwrap();
    let reg = Registry::new(d.clone(), settings());
    for name in ["overtcp", "overtls"] {
        let p = reg
            .get(name, "VolumeDriver")
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let m: MountResponse = p
            .client()
            .call(
                "VolumeDriver.Mount",
                Some(&MountRequest {
                    name: name.into(),
                    id: "x".into(),
                }),
            )
            .await
            .unwrap();
        assert_eq!(m.mountpoint, format!("/m/{name}/x"));
    }
}

/// Serve [`Fake`] on TCP by relaying each connection to a private unix server.
async fn proxy_to_fake(l: tokio::net::TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("inner.sock");
    let _srv = serve(&sock);
    loop {
        let Ok((tcp, _)) = l.accept().await else {
            return;
        };
        let sock = sock.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut inner = tokio::net::UnixStream::connect(&sock).await.unwrap();
            match tls {
                Some(a) => {
                    let Ok(mut s) = a.accept(tcp).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut s, &mut inner).await;
                }
                None => {
                    let mut tcp = tcp;
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut inner).await;
                }
            }
        });
    }
}

/// A CA and a leaf certificate for 127.0.0.1 signed by it: (CA, leaf, leaf key).
fn make_cert(dir: &Path) -> (String, String, String) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=plugin",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    let p = |f: &str| dir.join(f).display().to_string();
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

fn tls_acceptor(cert: &str, key: &str) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    let chain: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}
