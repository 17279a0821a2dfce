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

pub mod dockerfile;
pub mod error;

pub use error::{BuildError, Result};
