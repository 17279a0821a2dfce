//! The command tree. Each group module defines its clap args and an async
//! `run`; this module only lists them.

pub mod build;
pub mod container;
pub mod image;
pub mod network;
pub mod system;
pub mod volume;

use berth_api::client::Client;
use clap::Subcommand;

/// What every command gets.
pub struct Ctx {
    /// Daemon client.
    pub client: Client,
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
    /// Manage containers.
    #[command(subcommand)]
    Container(container::ContainerCmd),
    #[command(flatten)]
    ContainerTop(container::TopCmd),
    /// Manage images.
    #[command(subcommand)]
    Image(image::ImageCmd),
    #[command(flatten)]
    ImageTop(image::TopCmd),
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Manage builds.
    #[command(subcommand)]
    Builder(build::BuilderCmd),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCmd),
    /// Manage networks.
    #[command(subcommand)]
    Network(network::NetworkCmd),
}

/// Run a parsed command.
pub async fn run(cmd: Command, ctx: &Ctx) -> anyhow::Result<()> {
    match cmd {
        Command::Version(a) => system::version(ctx, a).await,
        Command::Info(a) => system::info(ctx, a).await,
        Command::Events(a) => system::events(ctx, a).await,
        Command::System(c) => system::run(ctx, c).await,
        Command::Container(c) => container::run(ctx, c).await,
        Command::ContainerTop(c) => container::run_top(ctx, c, false).await,
        Command::Image(c) => image::run(ctx, c).await,
        Command::ImageTop(c) => image::run_top(ctx, c).await,
        Command::Build(a) => build::build(ctx, a).await,
        Command::Builder(c) => build::run(ctx, c).await,
        Command::Volume(c) => volume::run(ctx, c).await,
        Command::Network(c) => network::run(ctx, c).await,
    }
}
