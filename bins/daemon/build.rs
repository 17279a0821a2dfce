//! Release builds of berthd lay out the functions a start and the common
//! requests run next to each other (an lld symbol-ordering file made by
//! `bench/hot-symbols.sh` from a callgrind run). The kernel maps text in
//! 64 KiB fault-around windows, so with the hot code scattered over the
//! 18 MB binary nearly all of it became resident; packed, only the hot part
//! does. Symbols the file names that no longer exist are skipped quietly, so
//! a stale file costs memory, never a build. Relative relocations are
//! packed too (see below).

fn main() {
    // The run-time variable, not `env!`: a build script compiled for one
    // checkout is reused by cargo for another at a different path (a shared
    // target dir), and a path baked in at compile time would then point at
    // the first checkout and silently drop the layout.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    let order = std::path::Path::new(&dir).join("layout/hot-symbols.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    // rust-lld is the default linker of x86_64-unknown-linux-gnu since Rust 1.90.
    let lld_target = std::env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    if release && linux && lld_target && order.exists() {
        println!(
            "cargo:rustc-link-arg-bin=berthd=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=berthd=-Wl,--no-warn-symbol-ordering");
        // Relative relocations packed (DT_RELR, glibc >= 2.36): the dynamic
        // loader reads ~10 KiB instead of an 800 KiB `.rela.dyn` at every start.
        println!("cargo:rustc-link-arg-bin=berthd=-Wl,-z,pack-relative-relocs");
    }
}
