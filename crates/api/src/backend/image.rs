//! Image endpoints: list, inspect, history, tag, delete, prune, load, save,
//! import, pull, push, distribution inspect, and `/auth`.
//!
//! Long operations return a [`JsonStream`]: the server sends an `Err` that
//! comes before any message as a plain HTTP error (so `pull` of a missing image
//! is a 404), and a later one as an `errorDetail` message in the stream.

use std::pin::Pin;

use async_trait::async_trait;
use berth_core::filters::Filters;
use berth_core::{Error, Result};
use futures::Stream;

use super::container::ByteStream;
use crate::types::image::{
    AuthConfig, AuthResponse, DistributionInspect, HistoryResponseItem, ImageDeleteResponseItem,
    ImageInspect, ImagePruneResponse, ImageSummary,
};
use crate::types::jsonmessage::JsonMessage;

/// A stream of JSON progress messages.
pub type JsonStream = Pin<Box<dyn Stream<Item = Result<JsonMessage>> + Send>>;

/// `GET /images/json` query.
#[derive(Debug, Clone, Default)]
pub struct ImageListQuery {
    /// `all`: include intermediate images.
    pub all: bool,
    /// `filters`: reference, dangling, label, before, since, until.
    pub filters: Filters,
    /// `shared-size`.
    pub shared_size: bool,
    /// `digests`.
    pub digests: bool,
    /// API version of the request (`VirtualSize` before 1.44).
    pub api_version: Option<(u32, u32)>,
}

/// `POST /images/create?fromImage=…` query.
#[derive(Debug, Clone, Default)]
pub struct ImagePullQuery {
    /// `fromImage`.
    pub from_image: String,
    /// `tag` (a tag or a digest).
    pub tag: String,
    /// `platform`.
    pub platform: String,
}

/// `POST /images/create?fromSrc=…` query.
#[derive(Debug, Clone, Default)]
pub struct ImageImportQuery {
    /// `fromSrc` (`-` for the body).
    pub from_src: String,
    /// `repo`.
    pub repo: String,
    /// `tag`.
    pub tag: String,
    /// `message`.
    pub message: String,
    /// `changes` (repeated).
    pub changes: Vec<String>,
    /// `platform`.
    pub platform: String,
}

fn todo(what: &str) -> Error {
    Error::not_implemented(format!("{what} is not implemented"))
}

/// The image routes.
#[async_trait]
pub trait ImageBackend {
    /// `GET /images/json`. `InvalidArgument` for bad filters.
    async fn image_list(&self, _q: ImageListQuery) -> Result<Vec<ImageSummary>> {
        Err(todo("image list"))
    }
    /// `GET /images/{name}/json`. `NotFound`: `No such image: x`.
    async fn image_inspect(&self, _name: &str) -> Result<ImageInspect> {
        Err(todo("image inspect"))
    }
    /// `GET /images/{name}/history`.
    async fn image_history(&self, _name: &str) -> Result<Vec<HistoryResponseItem>> {
        Err(todo("image history"))
    }
    /// `POST /images/{name}/tag?repo=&tag=`.
    async fn image_tag(&self, _name: &str, _repo: &str, _tag: &str) -> Result<()> {
        Err(todo("image tag"))
    }
    /// `DELETE /images/{name}`. `Conflict` when in use.
    async fn image_delete(
        &self,
        _name: &str,
        _force: bool,
        _noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        Err(todo("image delete"))
    }
    /// `POST /images/prune`.
    async fn image_prune(&self, _filters: Filters) -> Result<ImagePruneResponse> {
        Err(todo("image prune"))
    }
    /// `POST /images/load`: the body is a `docker save` archive.
    async fn image_load(&self, _body: ByteStream, _quiet: bool) -> Result<JsonStream> {
        Err(todo("image load"))
    }
    /// `GET /images/get`, `/images/{name}/get`: a `docker save` archive.
    async fn image_save(&self, _names: Vec<String>) -> Result<ByteStream> {
        Err(todo("image save"))
    }
    /// `POST /images/create?fromSrc=`.
    async fn image_import(&self, _body: ByteStream, _q: ImageImportQuery) -> Result<JsonStream> {
        Err(todo("image import"))
    }
    /// `POST /images/create?fromImage=`.
    async fn image_pull(
        &self,
        _q: ImagePullQuery,
        _auth: Option<AuthConfig>,
    ) -> Result<JsonStream> {
        Err(todo("image pull"))
    }
    /// `POST /images/{name}/push?tag=`.
    async fn image_push(
        &self,
        _name: &str,
        _tag: &str,
        _auth: Option<AuthConfig>,
    ) -> Result<JsonStream> {
        Err(todo("image push"))
    }
    /// `GET /distribution/{name}/json`.
    async fn distribution_inspect(
        &self,
        _name: &str,
        _auth: Option<AuthConfig>,
    ) -> Result<DistributionInspect> {
        Err(todo("distribution inspect"))
    }
    /// `POST /auth`. `Unauthorized` for wrong credentials.
    async fn auth(&self, _auth: AuthConfig) -> Result<AuthResponse> {
        Err(todo("registry login"))
    }
}
