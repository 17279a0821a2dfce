//! `exec`: create the exec, start it hijacked (or detached), then take the
//! exit code from the exec's inspect, as docker does.

use anyhow::{Result, anyhow, bail};
use berth_api::client;
use berth_api::types::IdResponse;
use berth_api::types::exec::{ExecConfig, ExecInspect, ExecStartConfig};
use clap::Args;

use super::super::Ctx;
use super::super::system::enc;
use super::{opts, stream};

/// `exec` flags.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command.
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]").
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Container, then the command and its arguments.
    #[arg(value_name = "CONTAINER COMMAND [ARG...]", required = true, num_args = 2.., trailing_var_arg = true)]
    pub args: Vec<String>,
}

/// The exec create body for the flags.
pub fn exec_config(a: &ExecArgs, console: Option<(u16, u16)>) -> Result<ExecConfig> {
    let lookup = |k: &str| std::env::var(k).ok();
    let mut env = Vec::new();
    for f in &a.env_file {
        let content = std::fs::read_to_string(f).map_err(|e| anyhow!("open {f}: {e}"))?;
        env.extend(opts::parse_kv_file(&content, Some(&lookup)).map_err(|e| anyhow!(e))?);
    }
    env.extend(a.env.iter().map(|e| opts::env_value(e, lookup)));
    Ok(ExecConfig {
        attach_stdin: a.interactive && !a.detach,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        console_size: if a.tty {
            console.map(|(h, w)| [u32::from(h), u32::from(w)])
        } else {
            None
        },
        detach_keys: a.detach_keys.clone().unwrap_or_default(),
        tty: a.tty,
        env: Some(env),
        cmd: Some(a.args[1..].to_vec()),
        privileged: a.privileged,
        user: a.user.clone().unwrap_or_default(),
        working_dir: a.workdir.clone().unwrap_or_default(),
    })
}

/// `berth exec`.
pub async fn exec(ctx: &Ctx, a: ExecArgs) -> Result<()> {
    let container = &a.args[0];
    if a.tty && a.interactive && !a.detach && !stream::stdin_is_tty() {
        bail!("the input device is not a TTY");
    }
    let console = if a.tty { stream::term_size() } else { None };
    let cfg = exec_config(&a, console)?;
    let created: IdResponse = ctx
        .client
        .post_json(&format!("/containers/{}/exec", enc(container)), Some(&cfg))
        .await?;
    let id = created.id;
    let start = ExecStartConfig {
        detach: a.detach,
        tty: a.tty,
        console_size: cfg.console_size,
    };
    if a.detach {
        let resp = ctx
            .client
            .request(
                http::Method::POST,
                &format!("/exec/{id}/start"),
                client::json(&start)?,
                &[("Content-Type", "application/json")],
            )
            .await?;
        client::read_all(resp).await?;
        return Ok(());
    }
    let (conn, _) = ctx
        .client
        .upgrade(&format!("/exec/{id}/start"), client::json(&start)?)
        .await?;
    let _raw = (a.tty && a.interactive).then(stream::RawGuard::stdin);
    let resizer = (a.tty && stream::stdout_is_tty())
        .then(|| stream::keep_resized(ctx, format!("/exec/{id}/resize")));
    let detach = if a.tty {
        Some(
            opts::parse_detach_keys(a.detach_keys.as_deref().unwrap_or(""))
                .map_err(|e| anyhow!(e))?,
        )
    } else {
        None
    };
    let ended = stream::pump(conn, a.tty, a.interactive, detach).await?;
    if let Some(t) = resizer {
        t.abort();
    }
    drop(_raw);
    if ended == stream::Ended::Detached {
        return Ok(());
    }
    // The output ended; the exit code may lag behind by a moment.
    let mut delay = std::time::Duration::from_millis(10);
    loop {
        let i: ExecInspect = ctx.client.get_json(&format!("/exec/{id}/json")).await?;
        if !i.running {
            let code = i.exit_code.unwrap_or(0) as i32;
            return if code == 0 {
                Ok(())
            } else {
                Err(crate::ExitCode(code).into())
            };
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ExecArgs,
    }

    #[test]
    fn config_for_flags() {
        let t = T::try_parse_from([
            "exec", "-it", "-e", "A=1", "-u", "1000", "-w", "/tmp", "c1", "sh", "-c", "ls -l",
        ])
        .unwrap();
        assert_eq!(t.a.args, ["c1", "sh", "-c", "ls -l"]);
        let c = exec_config(&t.a, Some((24, 80))).unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["Cmd"], serde_json::json!(["sh", "-c", "ls -l"]));
        assert_eq!(v["AttachStdin"], true);
        assert_eq!(v["Tty"], true);
        assert_eq!(v["ConsoleSize"], serde_json::json!([24, 80]));
        assert_eq!(v["User"], "1000");
        let t = T::try_parse_from(["exec", "-d", "c1", "true"]).unwrap();
        let c = exec_config(&t.a, None).unwrap();
        assert!(!c.attach_stdout && !c.attach_stderr && !c.attach_stdin);
        assert!(T::try_parse_from(["exec", "c1"]).is_err());
    }
}
