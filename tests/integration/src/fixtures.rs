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
            .args(["busybox:latest", "bb:latest", "alpine:3.10", "alpine:latest"])
            .status()
            .expect("run make-busybox-image.sh");
        assert!(st.success(), "make-busybox-image.sh failed");
        std::fs::rename(&tmp, &out).expect("rename fixture");
    }
    out
}
