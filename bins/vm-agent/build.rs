//! Builds the guest agent (src/main.rs) as a static executable for the initramfs;
//! see the library's documentation for why rustc is called directly.

use std::path::PathBuf;
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for f in [
        "main.rs", "agent.rs", "boot.rs", "net.rs", "proto.rs", "spawn.rs", "sys.rs",
    ] {
        println!("cargo:rerun-if-changed=src/{f}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("berth-vm-agent");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = std::env::var("TARGET")?;
    let status = Command::new(rustc)
        .args([
            "--edition=2024",
            "--crate-name",
            "berth_vm_agent",
            "--crate-type",
            "bin",
        ])
        .args(["--target", &target])
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "target-feature=+crt-static",
            "-C",
            "panic=abort",
        ])
        .args(["-C", "strip=symbols", "-C", "codegen-units=1"])
        .arg("-o")
        .arg(&out)
        .arg("src/main.rs")
        .status()?;
    if !status.success() {
        return Err(format!("building the static vm agent failed: {status}").into());
    }
    Ok(())
}
