//! Builds `berth-init` (init/main.rs) as a static executable for `--init`.
//!
//! It must run in images without a libc, so it is linked statically. Cargo cannot
//! give one binary of a package different target features, and the musl target may
//! be missing from a machine, so this script calls rustc directly with glibc's
//! `crt-static`; the shim embeds the result and installs it on request.

use std::path::PathBuf;
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=init/main.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("berth-init");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = std::env::var("TARGET")?;
    let status = Command::new(rustc)
        .args([
            "--edition=2024",
            "--crate-name",
            "berth_init",
            "--crate-type",
            "bin",
            "--target",
            &target,
        ])
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "target-feature=+crt-static",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .arg("-o")
        .arg(&out)
        .arg("init/main.rs")
        .status()?;
    if !status.success() {
        return Err(format!("building berth-init failed: {status}").into());
    }
    Ok(())
}
