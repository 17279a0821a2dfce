//! berth-builder: builds images from Dockerfiles the way Docker's classic
//! builder does (`DOCKER_BUILDKIT=0`), with BuildKit's Dockerfile syntax.
//!
//! - [`dockerfile`]: the front end (parse-dockerfile plus berth's line
//!   joining, here-documents, key=value splitting, variable expansion).
//! - [`args`]: ARG scoping and build arguments.
//! - [`ignore`]: `.dockerignore` patterns.
//! - [`context`]: the build context (a tar, indexed in memory) and content hashes.
//! - [`build`]: the orchestration of stages and steps; RUN steps go through
//!   the [`runner::StepRunner`] the engine implements, everything else works on
//!   images and read-write layers of [`berth_image::ImageService`] directly.
//!
//! It knows nothing of containers or HTTP.

pub mod args;
pub mod build;
pub mod cache;
pub mod context;
pub mod dockerfile;
pub mod error;
pub mod fetch;
pub mod fsops;
pub mod history;
pub mod ignore;
pub mod output;
pub mod runner;
pub mod tree;

pub use build::{BuildOptions, Builder, Prepared};
pub use context::{Context, Loaded};
pub use output::Output;
pub use runner::{HostSettings, RunMount, RunSpec, StepRunner};

pub use error::{BuildError, Result};
