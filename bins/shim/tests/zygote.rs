//! Shims forked by the zygote: one zygote per runner, the daemon's child; a dead
//! zygote is replaced; its shims outlive it; and exec'ing shims still works.
//! Needs root, cgroups and /bin/busybox.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod common;

use berth_runtime::client::ShimRunner;
use berth_runtime::layout::RuntimeKind;
use berth_runtime::proto::Status;
use common::*;

fn ppid(pid: i32) -> i32 {
    stat_fields(pid).unwrap()[1].parse().unwrap()
}

fn cmdline(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .replace('\0', " ")
}

/// Gone, or a zombie waiting for the runner's background reaper.
async fn wait_gone(pid: i32) {
    for _ in 0..200 {
        match stat_fields(pid) {
            None => return,
            Some(f) if f[0] == "Z" => return,
            Some(_) => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
        }
    }
    panic!("process {pid} is still running");
}

#[tokio::test]
async fn shims_come_from_one_zygote_that_is_replaced_when_it_dies() {
    let mut env = Env::new(RuntimeKind::Youki);
    let a = env.create(&env.spec(&["sleep", "1000"])).await;
    let b = env.create(&env.spec(&["sleep", "1000"])).await;
    a.h.start().await.unwrap();
    b.h.start().await.unwrap();
    let zygote = ppid(a.h.shim_pid().unwrap());
    assert_eq!(
        ppid(b.h.shim_pid().unwrap()),
        zygote,
        "both shims from one zygote"
    );
    assert_eq!(
        ppid(zygote),
        std::process::id() as i32,
        "the zygote is the runner's child"
    );
    assert!(
        cmdline(zygote).ends_with("berth-shim zygote "),
        "{}",
        cmdline(zygote)
    );

    // A killed zygote takes no container with it and is started again on demand.
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(zygote, libc::SIGKILL) };
    wait_gone(zygote).await;
    assert_eq!(a.h.state().await.unwrap().status, Status::Running);
    let c = env.create(&env.spec(&["sh", "-c", "exit 6"])).await;
    let second = ppid(c.h.shim_pid().unwrap());
    assert_ne!(second, zygote);
    c.h.start().await.unwrap();
    assert_eq!(c.h.wait().await.unwrap().code, 6);

    // Dropping the runner (the daemon going away) ends the zygote, not its shims.
    env.runner = ShimRunner::new(env!("CARGO_BIN_EXE_berth-shim"), env.dir.path().join("x"));
    wait_gone(second).await;
    assert_eq!(b.h.state().await.unwrap().status, Status::Running);
    for ctr in [a, b, c] {
        ctr.delete().await;
    }
}

#[tokio::test]
async fn exec_ed_shims_without_a_zygote() {
    let mut env = Env::new(RuntimeKind::Youki);
    env.runner = env.runner.clone().without_zygote();
    let c = env.create(&env.spec(&["sh", "-c", "exit 7"])).await;
    assert_eq!(ppid(c.h.shim_pid().unwrap()), std::process::id() as i32);
    c.h.start().await.unwrap();
    assert_eq!(c.h.wait().await.unwrap().code, 7);
    c.delete().await;
}

#[tokio::test]
async fn a_replaced_shim_binary_gets_a_new_zygote() {
    let mut env = Env::new(RuntimeKind::Youki);
    let bin = env.dir.path().join("berth-shim");
    std::fs::copy(env!("CARGO_BIN_EXE_berth-shim"), &bin).unwrap();
    env.runner = ShimRunner::new(&bin, env.dir.path().join("x"));
    let a = env.create(&env.spec(&["sleep", "1000"])).await;
    let old = ppid(a.h.shim_pid().unwrap());

    // An upgrade: a new file renamed over the old one.
    let next = env.dir.path().join("berth-shim.new");
    std::fs::copy(env!("CARGO_BIN_EXE_berth-shim"), &next).unwrap();
    std::fs::rename(&next, &bin).unwrap();
    let b = env.create(&env.spec(&["sleep", "1000"])).await;
    let new = ppid(b.h.shim_pid().unwrap());
    assert_ne!(
        new, old,
        "the next shim comes from a zygote of the new binary"
    );
    wait_gone(old).await;
    assert_eq!(a.h.state().await.unwrap().status, Status::Created);
    for ctr in [a, b] {
        ctr.delete().await;
    }
}
