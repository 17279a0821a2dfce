//! The command tree. Each group module defines its clap args and an async
//! `run`; this module only lists them.

pub mod system;

use berth_api::client::Client;
use clap::Subcommand;

/// What every command gets.
pub struct Ctx {
    /// Daemon client.
    pub client: Client,
    /// `--debug`.
    pub debug: bool,
}

/// Top-level commands, as docker names them.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the berth version information.
    Version(system::VersionArgs),
    /// Display system-wide information.
    Info(system::InfoArgs),
    /// Get real time events from the server.
    Events(system::EventsArgs),
    /// Manage berth.
    #[command(subcommand)]
    System(system::SystemCmd),
}

/// Run a parsed command.
pub async fn run(cmd: Command, ctx: &Ctx) -> anyhow::Result<()> {
    match cmd {
        Command::Version(a) => system::version(ctx, a).await,
        Command::Info(a) => system::info(ctx, a).await,
        Command::Events(a) => system::events(ctx, a).await,
        Command::System(c) => system::run(ctx, c).await,
    }
}
