//! Test images made offline, cached under the cargo target dir.
//!
//! `busybox_tar()` builds a `docker save` tarball from Debian's busybox-static
//! (tests/fixtures/make-busybox-image.sh), tagged `busybox:latest`, `bb:latest`,
//! `alpine:3.10` and `alpine:latest`. It is built once per target dir.

use std::path::PathBuf;
use std::process::Command;

use rustix::fs::{FlockOperation, flock};

/// Where fixtures are cached.
pub fn fixture_dir() -> PathBuf {
    let d = crate::bin_dir().join("test-fixtures");
    std::fs::create_dir_all(&d).expect("fixture dir");
    d
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Build (once) and return the busybox image tarball.
pub fn busybox_tar() -> PathBuf {
    let dir = fixture_dir();
    let out = dir.join("busybox.tar");
    let lock = std::fs::File::create(dir.join(".lock")).expect("lock file");
    flock(&lock, FlockOperation::LockExclusive).expect("flock");
    if !out.exists() {
        let tmp = dir.join("busybox.tar.tmp");
        let st = Command::new(repo_root().join("tests/fixtures/make-busybox-image.sh"))
            .arg(&tmp)
            .args([
                "busybox:latest",
                "bb:latest",
                "alpine:3.10",
                "alpine:latest",
            ])
            .status()
            .expect("run make-busybox-image.sh");
        assert!(st.success(), "make-busybox-image.sh failed");
        std::fs::rename(&tmp, &out).expect("rename fixture");
    }
    out
}

/// One layer of a hand-made image: a plain tar.
pub struct Layer(pub Vec<u8>);

/// sha256 of bytes as `sha256:<hex>`.
pub fn digest(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Builds tar archives entry by entry, with raw names (so tests can write hostile ones).
#[derive(Default)]
pub struct TarBuilder {
    b: Option<tar::Builder<Vec<u8>>>,
}

impl TarBuilder {
    /// An empty archive.
    pub fn new() -> TarBuilder {
        TarBuilder {
            b: Some(tar::Builder::new(Vec::new())),
        }
    }

    fn header(name: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name = [0; 100];
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h
    }

    fn push(&mut self, mut h: tar::Header, data: &[u8]) -> &mut Self {
        h.set_cksum();
        self.b
            .as_mut()
            .expect("open")
            .append(&h, data)
            .expect("append");
        self
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.push(
            Self::header(name, tar::EntryType::Regular, data.len() as u64, 0o644),
            data,
        )
    }

    /// A directory.
    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.push(Self::header(name, tar::EntryType::Directory, 0, 0o755), b"")
    }

    /// A symlink or hardlink.
    pub fn link(&mut self, name: &str, target: &str, hard: bool) -> &mut Self {
        let kind = if hard {
            tar::EntryType::Link
        } else {
            tar::EntryType::Symlink
        };
        let mut h = Self::header(name, kind, 0, 0o777);
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.linkname = [0; 100];
        gnu.linkname[..target.len()].copy_from_slice(target.as_bytes());
        self.push(h, b"")
    }

    /// The finished archive.
    pub fn finish(&mut self) -> Vec<u8> {
        self.b
            .take()
            .expect("open")
            .into_inner()
            .expect("finish tar")
    }
}

/// The (config JSON, base layer tar) of the busybox fixture.
pub fn busybox_parts() -> (serde_json::Value, Vec<u8>) {
    let f = std::fs::File::open(busybox_tar()).expect("open busybox.tar");
    let mut ar = tar::Archive::new(f);
    let mut files = std::collections::HashMap::new();
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let p = e
            .path()
            .expect("path")
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).expect("read");
        files.insert(p, v);
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&files["manifest.json"]).expect("manifest.json");
    let cfg: serde_json::Value =
        serde_json::from_slice(&files[manifest[0]["Config"].as_str().expect("Config")])
            .expect("config");
    let layer = files[manifest[0]["Layers"][0].as_str().expect("layer")].clone();
    (cfg, layer)
}

/// A `docker save` archive of `layers` (stored as given, compressed or not) with
/// `diff_ids` (defaults to the digests of the layers) on top of `config`.
pub fn docker_archive(
    config: &serde_json::Value,
    layers: &[Vec<u8>],
    diff_ids: Option<Vec<String>>,
    tags: &[&str],
) -> Vec<u8> {
    let mut cfg = config.clone();
    let diffs = diff_ids.unwrap_or_else(|| layers.iter().map(|l| digest(l)).collect());
    cfg["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": diffs});
    let history: Vec<serde_json::Value> =
        (0..layers.len()).map(|i| serde_json::json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("layer {i}")})).collect();
    cfg["history"] = serde_json::Value::Array(history);
    let cfg_raw = serde_json::to_vec(&cfg).expect("config json");
    let cfg_name = format!("{}.json", &digest(&cfg_raw)[7..]);
    let mut t = TarBuilder::new();
    let mut paths = Vec::new();
    for l in layers {
        let p = format!("{}/layer.tar", &digest(l)[7..]);
        t.file(&p, l);
        paths.push(p);
    }
    t.file(&cfg_name, &cfg_raw);
    let manifest = serde_json::json!([{"Config": cfg_name, "RepoTags": tags, "Layers": paths}]);
    t.file(
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("manifest"),
    );
    t.finish()
}

/// gzip `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// busybox plus a second layer that deletes `/etc/group` (a whiteout), makes
/// `/opt` opaque and adds `/etc/added`, tagged `layered:1`.
pub fn layered_tar() -> PathBuf {
    let out = fixture_dir().join("layered.tar");
    if !out.exists() {
        let (cfg, base) = busybox_parts();
        let top = TarBuilder::new()
            .file("etc/.wh.group", b"")
            .file("etc/added", b"added\n")
            .dir("opt/")
            .file("opt/.wh..wh..opq", b"")
            .file("opt/new", b"new\n")
            .finish();
        let tmp = fixture_dir().join(format!("layered.{}.tmp", std::process::id()));
        std::fs::write(
            &tmp,
            docker_archive(&cfg, &[base, top], None, &["layered:1"]),
        )
        .expect("write fixture");
        std::fs::rename(&tmp, &out).expect("rename fixture");
    }
    out
}

/// The busybox image as an OCI archive (OCI layout, gzip layers) made by skopeo, named `ocibox:1`.
pub fn oci_archive() -> PathBuf {
    let out = fixture_dir().join("ocibox.tar");
    if !out.exists() {
        let tmp = fixture_dir().join(format!("ocibox.{}.tmp", std::process::id()));
        let st = Command::new("skopeo")
            .arg("copy")
            .arg("-q")
            .arg(format!(
                "docker-archive:{}:busybox:latest",
                busybox_tar().display()
            ))
            .arg(format!(
                "oci-archive:{}:docker.io/library/ocibox:1",
                tmp.display()
            ))
            .status()
            .expect("run skopeo");
        assert!(st.success(), "skopeo copy failed");
        std::fs::rename(&tmp, &out).expect("rename fixture");
    }
    out
}

/// An image of `n` layers of `mb` MiB of random bytes each on busybox, as a docker archive.
pub fn random_image(n: usize, mb: usize, tag: &str) -> Vec<u8> {
    use std::io::Read;
    let (cfg, base) = busybox_parts();
    let mut layers = vec![base];
    let mut rnd = std::fs::File::open("/dev/urandom").expect("urandom");
    for i in 0..n {
        let mut data = vec![0u8; mb << 20];
        rnd.read_exact(&mut data).expect("random");
        layers.push(
            TarBuilder::new()
                .file(&format!("data/blob{i}"), &data)
                .finish(),
        );
    }
    docker_archive(&cfg, &layers, None, &[tag])
}
