//! `POST /containers/{id}/wait`: conditions `not-running` (default),
//! `next-exit` and `removed`. The waiter subscribes before the call returns, so
//! a `start` sent right after cannot slip past it.

use std::sync::Arc;

use berth_api::types::inspect::WaitResponse;
use berth_core::{Error, Result};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Container, Status};

/// A wait condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Resolve when not running (at once if it is not).
    NotRunning,
    /// Resolve at the next exit.
    NextExit,
    /// Resolve when removed.
    Removed,
}

impl Condition {
    /// Parse Docker's names; empty means `not-running`.
    pub fn parse(s: &str) -> Result<Condition> {
        match s {
            "" | "not-running" => Ok(Condition::NotRunning),
            "next-exit" => Ok(Condition::NextExit),
            "removed" => Ok(Condition::Removed),
            other => Err(Error::invalid(format!("invalid condition: \"{other}\""))),
        }
    }
}

/// Register a waiter on `c` and return the future that resolves with the exit code.
pub fn register(c: &Arc<Container>, cond: Condition) -> BoxFuture<'static, WaitResponse> {
    let mut rx = c.watch();
    let start = rx.borrow().clone();
    async move {
        loop {
            let t = rx.borrow_and_update().clone();
            let done = match cond {
                // Like Docker, an exit resolves it even when a restart policy
                // brings the container back (Docker notifies stop waiters on restart).
                Condition::NotRunning => {
                    !matches!(
                        t.status,
                        Status::Running | Status::Paused | Status::Restarting
                    ) || t.exits > start.exits
                        || t.removed
                }
                Condition::NextExit => t.exits > start.exits || t.removed,
                Condition::Removed => t.removed,
            };
            if done {
                return WaitResponse {
                    status_code: t.exit_code,
                    error: None,
                };
            }
            if rx.changed().await.is_err() {
                // The container object is gone: it was removed.
                let t = rx.borrow().clone();
                return WaitResponse {
                    status_code: t.exit_code,
                    error: None,
                };
            }
        }
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::{ConfigRecord, StateRecord};

    fn running() -> Arc<Container> {
        let st = StateRecord {
            status: Status::Running,
            ..Default::default()
        };
        Arc::new(Container::new(
            ConfigRecord {
                id: "c".into(),
                ..Default::default()
            },
            st,
        ))
    }

    #[tokio::test]
    async fn next_exit_and_removed() {
        let c = running();
        let exit = register(&c, Condition::NextExit);
        let removed = register(&c, Condition::Removed);
        c.update_state(|s| {
            s.status = Status::Exited;
            s.exit_code = 7;
            s.exits += 1;
        });
        assert_eq!(exit.await.status_code, 7);
        c.mark_removed();
        assert_eq!(removed.await.status_code, 7);
        // Not running already: resolves at once.
        assert_eq!(register(&c, Condition::NotRunning).await.status_code, 7);
        assert!(Condition::parse("soon").is_err());
    }
}
