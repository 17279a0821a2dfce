//! Container commands: the top-level docker forms (`run`, `ps`, `exec`, …) and
//! the `container` management group with the same commands as subcommands.
//!
//! Flag value syntaxes live in [`opts`] (pure, unit-tested); the create body in
//! [`config`]; hijacked streams and the terminal in [`stream`].

pub mod config;
pub mod cp;
pub mod exec;
pub mod info;
pub mod lifecycle;
pub mod opts;
pub mod ps;
pub mod pull;
pub mod run;
pub mod stats;
pub mod stream;

use anyhow::Result;
use clap::Subcommand;

use super::Ctx;

/// Container commands docker also offers at the top level.
#[derive(Debug, Subcommand)]
pub enum TopCmd {
    /// Attach local standard input, output, and error streams to a running container.
    Attach(run::AttachArgs),
    /// Create a new image from a container's changes.
    Commit(cp::CommitArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(cp::CpArgs),
    /// Create a new container.
    Create(Box<run::CreateArgs>),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(info::DiffArgs),
    /// Execute a command in a running container.
    Exec(exec::ExecArgs),
    /// Export a container's filesystem as a tar archive.
    Export(cp::ExportArgs),
    /// Return low-level information on berth objects.
    Inspect(info::InspectArgs),
    /// Kill one or more running containers.
    Kill(lifecycle::KillArgs),
    /// Fetch the logs of a container.
    Logs(info::LogsArgs),
    /// Pause all processes within one or more containers.
    Pause(lifecycle::NamesArgs),
    /// List port mappings or a specific mapping for the container.
    Port(info::PortArgs),
    /// List containers.
    Ps(ps::PsArgs),
    /// Rename a container.
    Rename(lifecycle::RenameArgs),
    /// Restart one or more containers.
    Restart(lifecycle::StopArgs),
    /// Remove one or more containers.
    Rm(lifecycle::RmArgs),
    /// Create and run a new container from an image.
    Run(Box<run::RunArgs>),
    /// Start one or more stopped containers.
    Start(run::StartArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::StatsArgs),
    /// Stop one or more running containers.
    Stop(lifecycle::StopArgs),
    /// Display the running processes of a container.
    Top(info::TopArgs),
    /// Unpause all processes within one or more containers.
    Unpause(lifecycle::NamesArgs),
    /// Update configuration of one or more containers.
    Update(lifecycle::UpdateArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(lifecycle::NamesArgs),
}

/// `container …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContainerCmd {
    /// List containers.
    #[command(visible_alias = "list")]
    Ls(ps::PsArgs),
    /// Remove all stopped containers.
    Prune(lifecycle::PruneArgs),
    /// Remove one or more containers.
    #[command(name = "remove")]
    Remove(lifecycle::RmArgs),
    #[command(flatten)]
    Common(TopCmd),
}

/// Run a top-level container command; `in_group` for `container inspect`
/// (containers only) versus the generic `inspect`.
pub async fn run_top(ctx: &Ctx, cmd: TopCmd, in_group: bool) -> Result<()> {
    match cmd {
        TopCmd::Attach(a) => run::attach_cmd(ctx, a).await,
        TopCmd::Commit(a) => cp::commit(ctx, a).await,
        TopCmd::Cp(a) => cp::cp(ctx, a).await,
        TopCmd::Create(a) => run::create_cmd(ctx, *a).await,
        TopCmd::Diff(a) => info::diff(ctx, a).await,
        TopCmd::Exec(a) => exec::exec(ctx, a).await,
        TopCmd::Export(a) => cp::export(ctx, a).await,
        TopCmd::Inspect(a) => info::inspect(ctx, a, in_group.then_some("container")).await,
        TopCmd::Kill(a) => lifecycle::kill(ctx, a).await,
        TopCmd::Logs(a) => info::logs(ctx, a).await,
        TopCmd::Pause(a) => lifecycle::pause(ctx, a, "pause").await,
        TopCmd::Port(a) => info::port(ctx, a).await,
        TopCmd::Ps(a) => ps::ps(ctx, a).await,
        TopCmd::Rename(a) => lifecycle::rename(ctx, a).await,
        TopCmd::Restart(a) => lifecycle::stop(ctx, a, "restart").await,
        TopCmd::Rm(a) => lifecycle::rm(ctx, a).await,
        TopCmd::Run(a) => run::run_cmd(ctx, *a).await,
        TopCmd::Start(a) => run::start_cmd(ctx, a).await,
        TopCmd::Stats(a) => stats::stats(ctx, a).await,
        TopCmd::Stop(a) => lifecycle::stop(ctx, a, "stop").await,
        TopCmd::Top(a) => info::top(ctx, a).await,
        TopCmd::Unpause(a) => lifecycle::pause(ctx, a, "unpause").await,
        TopCmd::Update(a) => lifecycle::update(ctx, a).await,
        TopCmd::Wait(a) => lifecycle::wait(ctx, a).await,
    }
}

/// Run `container …`.
pub async fn run(ctx: &Ctx, cmd: ContainerCmd) -> Result<()> {
    match cmd {
        ContainerCmd::Ls(a) => ps::ps(ctx, a).await,
        ContainerCmd::Prune(a) => lifecycle::prune(ctx, a).await,
        ContainerCmd::Remove(a) => lifecycle::rm(ctx, a).await,
        ContainerCmd::Common(c) => run_top(ctx, c, true).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        #[command(subcommand)]
        Container(ContainerCmd),
        #[command(flatten)]
        T(TopCmd),
    }

    fn parse(args: &[&str]) -> Result<Top, clap::Error> {
        Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied())).map(|c| c.cmd)
    }

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn docker_command_lines_parse() {
        let Top::T(TopCmd::Run(r)) =
            parse(&["run", "-h", "box", "--rm", "-it", "busybox", "sh"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.flags.hostname.as_deref(), Some("box"));
        assert_eq!(r.flags.image_and_cmd, ["busybox", "sh"]);
        assert_eq!(
            parse(&["run", "--help"]).unwrap_err().kind(),
            clap::error::ErrorKind::DisplayHelp
        );
        let Top::T(TopCmd::Exec(e)) = parse(&["exec", "-it", "c1", "sh", "-c", "ls -l"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.args, ["c1", "sh", "-c", "ls -l"]);
        assert!(matches!(
            parse(&["container", "ls", "-aq"]).unwrap(),
            Top::Container(ContainerCmd::Ls(_))
        ));
        assert!(matches!(
            parse(&["container", "list"]).unwrap(),
            Top::Container(ContainerCmd::Ls(_))
        ));
        assert!(matches!(
            parse(&["container", "remove", "-f", "x"]).unwrap(),
            Top::Container(ContainerCmd::Remove(_))
        ));
        assert!(matches!(
            parse(&["container", "inspect", "x"]).unwrap(),
            Top::Container(ContainerCmd::Common(TopCmd::Inspect(_)))
        ));
        assert!(matches!(
            parse(&["container", "prune", "-f"]).unwrap(),
            Top::Container(ContainerCmd::Prune(_))
        ));
        let Top::T(TopCmd::Stop(s)) = parse(&["stop", "-t", "0", "a", "b"]).unwrap() else {
            panic!()
        };
        assert_eq!((s.timeout, s.containers.len()), (Some(0), 2));
        let Top::T(TopCmd::Top(t)) = parse(&["top", "c1", "-o", "pid"]).unwrap() else {
            panic!()
        };
        assert_eq!(t.ps_args, ["-o", "pid"]);
        let Top::T(TopCmd::Logs(l)) = parse(&["logs", "-n", "5", "-f", "c1"]).unwrap() else {
            panic!()
        };
        assert_eq!((l.tail.as_str(), l.follow), ("5", true));
    }
}
