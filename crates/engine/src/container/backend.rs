//! `ContainerBackend` and `ExecBackend` for the engine: thin delegation to the
//! per-verb methods.

use std::pin::Pin;

use async_trait::async_trait;
use berth_api::backend::container::{
    AttachOptions, ByteStream, CommitOptions, ContainerBackend, ExecBackend, ListOptions,
    LogsOptions, LogsStream, PathStat, StreamSession,
};
use berth_api::types::container::{ContainerCreateBody, ContainerCreateResponse};
use berth_api::types::exec::{ExecConfig, ExecInspect, ExecStartConfig};
use berth_api::types::inspect::{
    ContainerInspect, ContainerPruneResponse, ContainerSummary, FilesystemChange, TopResponse,
    UpdateBody, UpdateResponse, WaitResponse,
};
use berth_core::Result;
use berth_core::filters::Filters;
use futures::Stream;
use futures::future::BoxFuture;

use super::wait::{Condition, register};
use crate::Engine;

#[async_trait]
impl ContainerBackend for Engine {
    async fn container_create(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        self.me().create_container(name, body).await
    }
    async fn container_inspect(&self, id: &str, size: bool) -> Result<ContainerInspect> {
        self.inspect_container(id, size).await
    }
    async fn container_list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        self.list_containers(&opts).await
    }
    async fn container_start(&self, id: &str) -> Result<()> {
        self.me().start_container(id).await
    }
    async fn container_stop(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        self.me().stop_container(id, signal, timeout).await
    }
    async fn container_restart(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        self.me().restart_container(id, signal, timeout).await
    }
    async fn container_kill(&self, id: &str, signal: &str) -> Result<()> {
        self.kill_container(id, signal).await
    }
    async fn container_pause(&self, id: &str) -> Result<()> {
        self.pause_container(id).await
    }
    async fn container_unpause(&self, id: &str) -> Result<()> {
        self.unpause_container(id).await
    }
    async fn container_wait(
        &self,
        id: &str,
        condition: &str,
    ) -> Result<BoxFuture<'static, WaitResponse>> {
        let cond = Condition::parse(condition)?;
        let c = self.container(id)?;
        Ok(register(&c, cond))
    }
    async fn container_remove(
        &self,
        id: &str,
        force: bool,
        volumes: bool,
        link: bool,
    ) -> Result<()> {
        self.me().remove_container(id, force, volumes, link).await
    }
    async fn container_rename(&self, id: &str, name: &str) -> Result<()> {
        self.rename_container(id, name).await
    }
    async fn container_update(&self, id: &str, body: UpdateBody) -> Result<UpdateResponse> {
        self.update_container(id, body).await
    }
    async fn container_top(&self, id: &str, ps_args: &str) -> Result<TopResponse> {
        self.top_container(id, ps_args).await
    }
    async fn container_changes(&self, id: &str) -> Result<Vec<FilesystemChange>> {
        self.container_changes(id).await
    }
    async fn container_logs(&self, id: &str, opts: LogsOptions) -> Result<LogsStream> {
        self.me().container_logs(id, opts).await
    }
    async fn container_stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<Pin<Box<dyn Stream<Item = serde_json::Value> + Send>>> {
        self.me().container_stats(id, stream, one_shot).await
    }
    async fn container_export(&self, id: &str) -> Result<ByteStream> {
        self.me().export_container(id).await
    }
    async fn container_prune(&self, filters: Filters) -> Result<ContainerPruneResponse> {
        self.me().prune_containers(filters).await
    }
    async fn container_attach(&self, id: &str, opts: AttachOptions) -> Result<StreamSession> {
        self.me().attach_container(id, opts).await
    }
    async fn container_resize(&self, id: &str, height: u32, width: u32) -> Result<()> {
        self.resize_container(id, height, width).await
    }
    async fn container_stat_path(&self, id: &str, path: &str) -> Result<PathStat> {
        self.me().stat_path(id, path).await
    }
    async fn container_get_archive(&self, id: &str, path: &str) -> Result<(PathStat, ByteStream)> {
        self.me().get_archive(id, path).await
    }
    async fn container_put_archive(
        &self,
        id: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
        body: ByteStream,
    ) -> Result<()> {
        self.me()
            .put_archive(id, path, no_overwrite_dir_non_dir, copy_uid_gid, body)
            .await
    }
    async fn container_commit(&self, opts: CommitOptions) -> Result<String> {
        self.me().commit_container(opts).await
    }
}

#[async_trait]
impl ExecBackend for Engine {
    async fn exec_create(&self, container: &str, cfg: ExecConfig) -> Result<String> {
        Engine::exec_create(self, container, cfg).await
    }
    async fn exec_start(&self, id: &str, cfg: ExecStartConfig) -> Result<Option<StreamSession>> {
        self.me().exec_start(id, cfg).await
    }
    async fn exec_resize(&self, id: &str, height: u32, width: u32) -> Result<()> {
        Engine::exec_resize(self, id, height, width).await
    }
    async fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        Engine::exec_inspect(self, id)
    }
}
