//! The guest's initramfs: `/init` (the static agent), `/dev/console`, and the
//! kernel modules of a modular kernel (`modules/*.ko` + `modules/modules.order`,
//! as `scripts/vm/kernel-debian.sh` lays them out next to the `vmlinux`).
//!
//! Written as an uncompressed `newc` cpio archive: the kernel unpacks it without a
//! decompressor, which under TCG saves more time than the smaller file would.
//! Hand-written because the format is a fixed ASCII header per entry.

use std::io::Write;
use std::path::Path;

use crate::error::{Result, RuntimeError};

/// The static guest agent (`/init`).
pub use berth_vm_agent::AGENT;

struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let hdr = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.out.extend_from_slice(hdr.as_bytes());
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
}

/// The archive's bytes.
pub fn archive(agent: &[u8], modules: Option<&Path>) -> Result<Vec<u8>> {
    let mut c = Cpio {
        out: Vec::new(),
        ino: 0,
    };
    for d in ["dev", "proc", "sys", "modules"] {
        c.entry(d, 0o040755, (0, 0), &[]);
    }
    c.entry("dev/console", 0o020600, (5, 1), &[]);
    c.entry("init", 0o100755, (0, 0), agent);
    if let Some(dir) = modules {
        let order_path = dir.join("modules.order");
        let order = std::fs::read_to_string(&order_path)
            .map_err(|e| RuntimeError::io(format!("read {}", order_path.display()), e))?;
        for name in order.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if name.contains('/') {
                return Err(RuntimeError::Invalid(format!("bad module name {name}")));
            }
            let p = dir.join(name);
            let data = std::fs::read(&p)
                .map_err(|e| RuntimeError::io(format!("read {}", p.display()), e))?;
            c.entry(&format!("modules/{name}"), 0o100644, (0, 0), &data);
        }
        c.entry("modules/modules.order", 0o100644, (0, 0), order.as_bytes());
    }
    c.entry("TRAILER!!!", 0, (0, 0), &[]);
    Ok(c.out)
}

/// Write the initramfs to `out` (atomically).
pub fn build(out: &Path, agent: &[u8], modules: Option<&Path>) -> Result<()> {
    let data = archive(agent, modules)?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| RuntimeError::io(format!("create {}", dir.display()), e))?;
    }
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        RuntimeError::io(format!("write {}", out.display()), e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_archive_lists_with_cpio() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.ko"), b"module").unwrap();
        std::fs::write(d.path().join("modules.order"), "a.ko\n").unwrap();
        let out = d.path().join("i.cpio");
        build(&out, b"#!agent", Some(d.path())).unwrap();
        let data = std::fs::read(&out).unwrap();
        assert!(data.starts_with(b"070701"));
        assert_eq!(data.len() % 4, 0);
        // The real cpio tool reads it back, when installed.
        if let Ok(o) = std::process::Command::new("cpio")
            .args(["-it", "--quiet", "-F"])
            .arg(&out)
            .output()
        {
            let list = String::from_utf8_lossy(&o.stdout);
            assert!(
                list.contains("init")
                    && list.contains("modules/a.ko")
                    && list.contains("dev/console"),
                "{list}"
            );
        }
    }
}
