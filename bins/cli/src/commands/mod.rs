//! The command tree. Each group module defines its clap args and an async
//! `run`; this module lists them and holds the context they share.

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

impl Ctx {
    /// `GET path` (a tar stream) written to `output`, a file created for it,
    /// or to stdout, which must not be a terminal (as `save` and `export`
    /// do). `create_failed` prefixes the error when the file cannot be made.
    pub async fn download(
        &self,
        path: &str,
        output: Option<&str>,
        create_failed: &str,
    ) -> anyhow::Result<()> {
        use std::io::{IsTerminal, Write};

        use anyhow::Context as _;
        use http_body_util::BodyExt;

        if output.is_none() && std::io::stdout().is_terminal() {
            anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        }
        let resp = self
            .client
            .request(http::Method::GET, path, berth_api::client::empty(), &[])
            .await?;
        let mut out: Box<dyn Write> = match output {
            Some(p) => {
                Box::new(std::fs::File::create(p).with_context(|| format!("{create_failed} {p}"))?)
            }
            None => Box::new(std::io::stdout().lock()),
        };
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| berth_api::client::ClientError::Protocol(e.to_string()))?;
            if let Some(d) = frame.data_ref() {
                out.write_all(d)?;
            }
        }
        out.flush()?;
        Ok(())
    }
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
