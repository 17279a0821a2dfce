//! Builds `berth-init` (init/main.rs) as a static executable for `--init`.
//!
//! It must run in images without a libc, so it is linked statically. Cargo cannot
//! give one binary of a package different target features, and the musl target may
//! be missing from a machine, so this script calls rustc directly with glibc's
//! `crt-static`; the shim embeds the result and installs it on request.
//!
//! Release builds also pack the shim's relative relocations (DT_RELR), as
//! berthd's build script does: every container start execs the shim, and the
//! loader then reads a 6 KiB bitmap instead of a 500 KiB `.rela.dyn`. (A
//! hot-function layout like berthd's was tried and dropped: the shim's page
//! faults are heap and relocated data, not text — 926 against 947 per ten runs.)

use std::path::PathBuf;
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=init/main.rs");
    pack_relocations();
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

/// DT_RELR (glibc >= 2.36) for release builds with rust-lld, x86_64 glibc's
/// default linker since Rust 1.90.
fn pack_relocations() {
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let lld_target = std::env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    if release && lld_target {
        println!("cargo:rustc-link-arg-bin=berth-shim=-Wl,-z,pack-relative-relocs");
    }
}
