//! berth: a docker-compatible CLI for berthd.
//!
//! Command shape, flags, output and exit codes follow the docker CLI; each
//! command group lives in `commands/<group>.rs` and talks to the daemon through
//! `berth_api::client`.

mod commands;
mod output;
mod template;

use clap::Parser;

/// Default daemon address.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A self-sufficient runtime for containers (docker-compatible CLI for berthd)"
)]
#[command(disable_help_subcommand = true, propagate_version = true)]
struct Cli {
    /// Daemon socket to connect to (default: $BERTH_HOST, $DOCKER_HOST, unix:///run/berth/berth.sock).
    #[arg(short = 'H', long = "host", global = true)]
    host: Option<String>,
    /// Debug output.
    #[arg(short = 'D', long = "debug", global = true)]
    debug: bool,
    #[command(subcommand)]
    cmd: commands::Command,
}

/// A command's request for a specific process exit code (e.g. `run` returns
/// the container's own code).
#[derive(Debug)]
pub struct ExitCode(pub i32);

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for ExitCode {}

fn host(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("BERTH_HOST").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

fn main() {
    // Like docker and other Unix tools, die quietly when the reader of our output
    // goes away (`berth ps | head`) instead of panicking on EPIPE in println!.
    // SAFETY: setting a signal disposition to SIG_DFL at start, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                // docker exits 125 when its own flags are wrong.
                _ => 125,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async {
            let ctx = match berth_api::client::Client::new(&host(cli.host)) {
                Ok(client) => commands::Ctx { client },
                Err(e) => {
                    eprintln!("{e}");
                    return 1;
                }
            };
            match commands::run(cli.cmd, &ctx).await {
                Ok(()) => 0,
                Err(e) => report(&e, cli.debug),
            }
        }),
        Err(e) => {
            eprintln!("berth: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn report(e: &anyhow::Error, debug: bool) -> i32 {
    if let Some(ExitCode(c)) = e.downcast_ref::<ExitCode>() {
        return *c;
    }
    if debug {
        eprintln!("{e:?}");
    } else {
        eprintln!("{e:#}");
    }
    1
}
