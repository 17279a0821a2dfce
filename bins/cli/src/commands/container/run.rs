//! `create`, `run`, `start`, `attach`: docker's flow of create (pulling on
//! `No such image`), attach before start, wait registered before start, TTY
//! resize and signal proxying, and the container's exit code as ours.

use anyhow::{Result, anyhow, bail};
use berth_api::client::{self, ClientError};
use berth_api::types::container::ContainerCreateResponse;
use berth_api::types::inspect::{ContainerInspect, WaitResponse};
use clap::{ArgAction, Args};
use http::Method;
use http_body_util::BodyExt;

use super::super::Ctx;
use super::super::system::enc;
use super::config::{self, ContainerFlags, CreatePlan, RunOnly};
use super::pull;
use super::stream::{self, Ended};
use crate::ExitCode;

/// `create` flags.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
}

/// `run` flags.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    #[command(flatten)]
    pub run: RunOnly,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

/// `start` flags.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `attach` flags.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Proxy all received signals to the process.
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Container.
    pub container: String,
}

fn plan(flags: &ContainerFlags) -> Result<CreatePlan> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let lookup = |k: &str| std::env::var(k).ok();
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("open {p}: {e}"));
    config::build(flags, &cwd, &lookup, &read)
}

/// Create, pulling the image first (`--pull always`) or on `No such image` (`missing`).
async fn create(
    ctx: &Ctx,
    plan: &CreatePlan,
    pull_policy: &str,
    quiet: bool,
) -> Result<ContainerCreateResponse> {
    if let Some(file) = plan
        .body
        .host_config
        .as_ref()
        .map(|h| &h.container_id_file)
        .filter(|f| !f.is_empty())
        && std::path::Path::new(file).exists()
    {
        bail!(
            "container ID file found, make sure the other container isn't running or delete {file}"
        );
    }
    if pull_policy == "always" {
        pull::pull(ctx, &plan.image, plan.platform.as_deref(), quiet).await?;
    }
    let mut q = Vec::new();
    if let Some(n) = &plan.name {
        q.push(format!("name={}", enc(n)));
    }
    if let Some(p) = &plan.platform {
        q.push(format!("platform={}", enc(p)));
    }
    let path = format!("/containers/create?{}", q.join("&"));
    let resp = match ctx
        .client
        .post_json::<_, ContainerCreateResponse>(&path, Some(&plan.body))
        .await
    {
        Err(ClientError::Daemon { status, message })
            if status == http::StatusCode::NOT_FOUND
                && message.starts_with("No such image")
                && pull_policy == "missing" =>
        {
            stream::eprint_flush(&format!(
                "Unable to find image '{}' locally\n",
                pull::full_ref(&plan.image)
            ));
            pull::pull(ctx, &plan.image, plan.platform.as_deref(), quiet).await?;
            ctx.client.post_json(&path, Some(&plan.body)).await?
        }
        other => other?,
    };
    for w in &resp.warnings {
        stream::eprint_flush(&format!("WARNING: {w}\n"));
    }
    if let Some(file) = plan
        .body
        .host_config
        .as_ref()
        .map(|h| &h.container_id_file)
        .filter(|f| !f.is_empty())
    {
        std::fs::write(file, &resp.id)
            .map_err(|e| anyhow!("failed to write the container ID to the file: {e}"))?;
    }
    Ok(resp)
}

/// `berth create`.
pub async fn create_cmd(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let plan = plan(&a.flags)?;
    let resp = create(ctx, &plan, &a.flags.pull, a.flags.quiet).await?;
    println!("{}", resp.id);
    Ok(())
}

/// Docker's exit status for a failed `run`: 127 not found, 126 cannot invoke, else 125.
pub fn run_error_code(msg: &str) -> i32 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    }
}

fn run_fail(e: impl std::fmt::Display) -> anyhow::Error {
    let msg = e.to_string();
    eprintln!("berth: {msg}\n\nRun 'berth run --help' for more information");
    anyhow::Error::new(ExitCode(run_error_code(&msg)))
}

/// A wait registered now (the daemon answers its headers at once); its body
/// arrives when the condition is met.
async fn register_wait(
    ctx: &Ctx,
    id: &str,
    condition: &str,
) -> Result<tokio::sync::oneshot::Receiver<Result<WaitResponse>>> {
    let resp = ctx
        .client
        .request(
            Method::POST,
            &format!("/containers/{id}/wait?condition={condition}"),
            client::empty(),
            &[],
        )
        .await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let r = match resp.into_body().collect().await {
            Ok(b) => serde_json::from_slice::<WaitResponse>(&b.to_bytes())
                .map_err(|e| anyhow!("wait: {e}")),
            Err(e) => Err(anyhow!("wait: {e}")),
        };
        let _ = tx.send(r);
    });
    Ok(rx)
}

async fn wait_code(rx: tokio::sync::oneshot::Receiver<Result<WaitResponse>>) -> Result<i32> {
    let w = rx.await.map_err(|_| anyhow!("wait: connection lost"))??;
    if let Some(e) = w.error {
        bail!("{}", e.message);
    }
    Ok(w.status_code as i32)
}

fn exit_with(code: i32) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(ExitCode(code).into())
    }
}

fn attach_path(
    id: &str,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    detach_keys: Option<&str>,
) -> String {
    let b = |v: bool| if v { "1" } else { "0" };
    let mut p = format!(
        "/containers/{id}/attach?stream=1&stdin={}&stdout={}&stderr={}",
        b(stdin),
        b(stdout),
        b(stderr)
    );
    if let Some(k) = detach_keys {
        p.push_str(&format!("&detachKeys={}", enc(k)));
    }
    p
}

/// `berth run`.
pub async fn run_cmd(ctx: &Ctx, a: RunArgs) -> Result<()> {
    let f = &a.flags;
    if a.run.detach && !f.attach.is_empty() {
        return Err(run_fail("Conflicting options: -a and -d"));
    }
    let mut plan = plan(f).map_err(run_fail)?;
    let cfg = &mut plan.body.config;
    if a.run.detach {
        (
            cfg.attach_stdin,
            cfg.attach_stdout,
            cfg.attach_stderr,
            cfg.stdin_once,
        ) = (false, false, false, false);
    } else if cfg.open_stdin && cfg.attach_stdin {
        cfg.stdin_once = true;
    }
    let (tty, attach_in, attach_out, attach_err) = (
        cfg.tty,
        cfg.attach_stdin,
        cfg.attach_stdout,
        cfg.attach_stderr,
    );
    if tty && attach_in && !stream::stdin_is_tty() {
        return Err(run_fail("the input device is not a TTY"));
    }
    if tty && let (Some((h, w)), Some(hc)) = (stream::term_size(), plan.body.host_config.as_mut()) {
        hc.console_size = [u32::from(h), u32::from(w)];
    }
    let created = create(ctx, &plan, &f.pull, f.quiet)
        .await
        .map_err(run_fail)?;
    let id = created.id;
    if a.run.detach {
        ctx.client
            .post_empty(&format!("/containers/{id}/start"))
            .await
            .map_err(run_fail)?;
        println!("{id}");
        return Ok(());
    }
    let keys = f.detach_keys.as_deref();
    let conn = if attach_in || attach_out || attach_err {
        let (up, _) = ctx
            .client
            .upgrade(
                &attach_path(&id, attach_in, attach_out, attach_err, keys),
                client::empty(),
            )
            .await
            .map_err(run_fail)?;
        Some(up)
    } else {
        None
    };
    let auto_remove = plan
        .body
        .host_config
        .as_ref()
        .is_some_and(|h| h.auto_remove);
    let wait = register_wait(ctx, &id, if auto_remove { "removed" } else { "next-exit" })
        .await
        .map_err(run_fail)?;
    let _raw = (tty && attach_in).then(stream::RawGuard::stdin);
    if let Err(e) = ctx
        .client
        .post_empty(&format!("/containers/{id}/start"))
        .await
    {
        drop(_raw);
        return Err(run_fail(e));
    }
    let resizer = (tty && stream::stdout_is_tty())
        .then(|| stream::keep_resized(ctx, format!("/containers/{id}/resize")));
    let proxy = (a.run.sig_proxy && !tty).then(|| stream::proxy_signals(ctx, id.clone()));
    let ended = match conn {
        Some(conn) => {
            let detach = if tty {
                Some(super::opts::parse_detach_keys(keys.unwrap_or("")).map_err(|e| anyhow!(e))?)
            } else {
                None
            };
            stream::pump(conn, tty, attach_in, detach).await?
        }
        None => Ended::Output,
    };
    if let Some(t) = resizer {
        t.abort();
    }
    if let Some(t) = proxy {
        t.abort();
    }
    drop(_raw);
    if ended == Ended::Detached {
        return Ok(());
    }
    exit_with(wait_code(wait).await.map_err(run_fail)?)
}

/// `berth start`.
pub async fn start_cmd(ctx: &Ctx, a: StartArgs) -> Result<()> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let c: ContainerInspect = ctx
            .client
            .get_json(&format!("/containers/{}/json", enc(&a.containers[0])))
            .await?;
        let tty = c.config.tty;
        let stdin = a.interactive && c.config.open_stdin;
        let keys = a.detach_keys.as_deref();
        let (conn, _) = ctx
            .client
            .upgrade(
                &attach_path(&c.id, stdin, true, true, keys),
                client::empty(),
            )
            .await?;
        let wait = register_wait(
            ctx,
            &c.id,
            if c.host_config.auto_remove {
                "removed"
            } else {
                "next-exit"
            },
        )
        .await?;
        let _raw = (tty && stdin).then(stream::RawGuard::stdin);
        ctx.client
            .post_empty(&format!("/containers/{}/start", c.id))
            .await?;
        let resizer = (tty && stream::stdout_is_tty())
            .then(|| stream::keep_resized(ctx, format!("/containers/{}/resize", c.id)));
        let proxy = (!tty).then(|| stream::proxy_signals(ctx, c.id.clone()));
        let detach = if tty {
            Some(super::opts::parse_detach_keys(keys.unwrap_or("")).map_err(|e| anyhow!(e))?)
        } else {
            None
        };
        let ended = stream::pump(conn, tty, stdin, detach).await?;
        for t in [resizer, proxy].into_iter().flatten() {
            t.abort();
        }
        drop(_raw);
        if ended == Ended::Detached {
            return Ok(());
        }
        return exit_with(wait_code(wait).await?);
    }
    let mut failed = Vec::new();
    for c in &a.containers {
        match ctx
            .client
            .post_empty(&format!("/containers/{}/start", enc(c)))
            .await
        {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(c.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("failed to start containers: {}", failed.join(", "));
    }
    Ok(())
}

/// `berth attach`.
pub async fn attach_cmd(ctx: &Ctx, a: AttachArgs) -> Result<()> {
    let c: ContainerInspect = ctx
        .client
        .get_json(&format!("/containers/{}/json", enc(&a.container)))
        .await?;
    if !c.state.running {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if c.state.paused {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    if c.state.restarting {
        bail!("You cannot attach to a restarting container, wait until it is running");
    }
    let tty = c.config.tty;
    let stdin = !a.no_stdin && c.config.open_stdin;
    if tty && stdin && !stream::stdin_is_tty() {
        bail!("the input device is not a TTY");
    }
    let keys = a.detach_keys.as_deref();
    let wait = register_wait(ctx, &c.id, "not-running").await?;
    let (conn, _) = ctx
        .client
        .upgrade(
            &attach_path(&c.id, stdin, true, true, keys),
            client::empty(),
        )
        .await?;
    let _raw = (tty && stdin).then(stream::RawGuard::stdin);
    let resizer = (tty && stream::stdout_is_tty())
        .then(|| stream::keep_resized(ctx, format!("/containers/{}/resize", c.id)));
    let proxy = (a.sig_proxy && !tty).then(|| stream::proxy_signals(ctx, c.id.clone()));
    let detach = if tty {
        Some(super::opts::parse_detach_keys(keys.unwrap_or("")).map_err(|e| anyhow!(e))?)
    } else {
        None
    };
    let ended = stream::pump(conn, tty, stdin, detach).await?;
    for t in [resizer, proxy].into_iter().flatten() {
        t.abort();
    }
    drop(_raw);
    if ended == Ended::Detached {
        return Ok(());
    }
    exit_with(wait_code(wait).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_exit_codes_like_docker() {
        assert_eq!(
            run_error_code(
                "failed to create task: exec: \"nope\": executable file not found in $PATH"
            ),
            127
        );
        assert_eq!(run_error_code("exec: \"/etc\": is a directory"), 126);
        assert_eq!(run_error_code("exec /x: permission denied"), 126);
        assert_eq!(
            run_error_code("Error response from daemon: No such image: zz"),
            125
        );
    }

    #[test]
    fn attach_query() {
        assert_eq!(
            attach_path("c", true, true, false, Some("ctrl-x")),
            "/containers/c/attach?stream=1&stdin=1&stdout=1&stderr=0&detachKeys=ctrl-x"
        );
    }
}
