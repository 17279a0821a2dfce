//! A client that hangs up while waiting must not make the shim spin or wedge.

#![allow(clippy::unwrap_used)] // helper outside #[test] fns

mod common;

use common::*;
use std::io::Write;

fn cpu_ticks(pid: i32) -> u64 {
    let f = stat_fields(pid).unwrap();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[tokio::test]
async fn hung_up_waiters_and_attachers_are_dropped() {
    let env = Env::new(berth_runtime::layout::RuntimeKind::Youki);
    let c = env.spec(&["sleep", "1000"]);
    let ctr = env.create(&c).await;
    ctr.h.start().await.unwrap();
    let sock = ctr.h.dir().join("ctl.sock");
    for req in [
        &b"{\"v\":1,\"op\":\"wait\"}\n"[..],
        b"{\"v\":1,\"op\":\"attach\",\"stdout\":true}\n",
    ] {
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        s.write_all(req).unwrap();
        drop(s);
    }
    let pid = ctr.h.shim_pid().unwrap();
    let before = cpu_ticks(pid);
    for _ in 0..20 {
        assert_eq!(
            ctr.h.state().await.unwrap().status,
            berth_runtime::proto::Status::Running
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // A spinning loop would burn ~50 ticks (1/100 s each) in half a second.
    assert!(cpu_ticks(pid) - before < 20, "shim is spinning");
    ctr.delete().await;
}
