//! Image commands: `pull push images tag rmi history login logout` and
//! `image ls|inspect|prune|…` (`load save import` in [`archive`]), with
//! docker's flags and output.

pub mod archive;
pub mod auth;
pub mod progress;

use std::io::Read;

use anyhow::{Result, bail};
use berth_api::client;
use clap::{Args, Subcommand};
use http::Method;
use serde_json::{Value, json};

use super::Ctx;
use super::system::{enc, filters_json};
use crate::output::{self, ago, human_size};
use archive::{ImportArgs, LoadArgs, SaveArgs};
use progress::{Renderer, render};

/// `pull` flags.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// NAME[:TAG|@DIGEST].
    pub image: String,
}

/// `push` flags.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Push all tags of the repository.
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// NAME[:TAG].
    pub image: String,
}

/// `images` flags.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show all images (default hides intermediate images).
    #[arg(short, long)]
    pub all: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided.
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// REPOSITORY[:TAG].
    pub repository: Option<String>,
}

/// `tag` arguments.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG].
    pub source: String,
    /// TARGET_IMAGE[:TAG].
    pub target: String,
}

/// `rmi` flags.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents.
    #[arg(long)]
    pub no_prune: bool,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `history` flags.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Pretty-print using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format (`-H` is berth's `--host`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// IMAGE.
    pub image: String,
}

/// `image inspect` flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `image prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// `login` flags.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password.
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// SERVER.
    pub server: Option<String>,
}

/// `logout` arguments.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// SERVER.
    pub server: Option<String>,
}

/// Top-level image commands.
#[derive(Debug, Subcommand)]
pub enum TopCmd {
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
    /// List images.
    Images(ListArgs),
    /// Load an image from a tar archive or STDIN.
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(SaveArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Remove one or more images.
    Rmi(RmiArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Authenticate to a registry.
    Login(LoginArgs),
    /// Log out from a registry.
    Logout(LogoutArgs),
}

/// `image …`.
#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// List images.
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more images.
    Inspect(InspectArgs),
    /// Remove unused images.
    Prune(PruneArgs),
    /// Remove one or more images.
    Rm(RmiArgs),
    #[command(flatten)]
    Common(TopCmd),
}

/// Dispatch `image …`.
pub async fn run(ctx: &Ctx, cmd: ImageCmd) -> Result<()> {
    match cmd {
        ImageCmd::Ls(a) => list(ctx, a).await,
        ImageCmd::Inspect(a) => inspect(ctx, a).await,
        ImageCmd::Prune(a) => prune(ctx, a).await,
        ImageCmd::Rm(a) => rmi(ctx, a).await,
        ImageCmd::Common(c) => run_top(ctx, c).await,
    }
}

/// Dispatch the top-level image commands.
pub async fn run_top(ctx: &Ctx, cmd: TopCmd) -> Result<()> {
    match cmd {
        TopCmd::Pull(a) => pull(ctx, a).await,
        TopCmd::Push(a) => push(ctx, a).await,
        TopCmd::Images(a) => list(ctx, a).await,
        TopCmd::Load(a) => archive::load(ctx, a).await,
        TopCmd::Save(a) => archive::save(ctx, a).await,
        TopCmd::Import(a) => archive::import(ctx, a).await,
        TopCmd::Tag(a) => tag(ctx, a).await,
        TopCmd::Rmi(a) => rmi(ctx, a).await,
        TopCmd::History(a) => history(ctx, a).await,
        TopCmd::Login(a) => login(ctx, a).await,
        TopCmd::Logout(a) => logout(a),
    }
}

/// `name[:tag|@digest]` → (name, tag-or-digest, explicit).
fn split(image: &str) -> (String, String, bool) {
    if let Some((n, d)) = image.split_once('@') {
        return (n.to_string(), d.to_string(), true);
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, t)) => (
            image[..image.len() - t.len() - 1].to_string(),
            t.to_string(),
            true,
        ),
        None => (image.to_string(), "latest".to_string(), false),
    }
}

fn auth_headers(image: &str) -> Vec<(String, String)> {
    auth::header_for(image)
        .map(|h| vec![("X-Registry-Auth".to_string(), h)])
        .unwrap_or_default()
}

async fn stream_request(
    ctx: &Ctx,
    method: Method,
    path: &str,
    body: client::Body,
    headers: &[(String, String)],
    quiet: bool,
) -> Result<Renderer> {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let resp = ctx.client.request(method, path, body, &h).await?;
    let mut r = Renderer::new(quiet);
    render(resp, &mut r).await?;
    Ok(r)
}

/// The fully qualified name docker prints after a pull (`docker.io/library/busybox:latest`).
fn qualified(name: &str, tag: &str) -> String {
    let full = if auth::domain_of(name) == "docker.io" && !name.starts_with("docker.io/") {
        if name.contains('/') {
            format!("docker.io/{name}")
        } else {
            format!("docker.io/library/{name}")
        }
    } else {
        name.to_string()
    };
    if tag.contains(':') {
        format!("{full}@{tag}")
    } else {
        format!("{full}:{tag}")
    }
}

async fn pull(ctx: &Ctx, a: PullArgs) -> Result<()> {
    let (name, tag, _) = split(&a.image);
    let mut path = format!("/images/create?fromImage={}&tag={}", enc(&name), enc(&tag));
    if let Some(p) = &a.platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    if !a.quiet {
        let tag_line = if tag.contains(':') {
            String::new()
        } else {
            tag.clone()
        };
        if tag_line == "latest" && !a.image.contains(':') {
            println!("Using default tag: latest");
        }
    }
    stream_request(
        ctx,
        Method::POST,
        &path,
        client::empty(),
        &auth_headers(&name),
        a.quiet,
    )
    .await?;
    println!("{}", qualified(&name, &tag));
    Ok(())
}

async fn push(ctx: &Ctx, a: PushArgs) -> Result<()> {
    let (name, tag, explicit) = split(&a.image);
    let tag = if a.all_tags {
        String::new()
    } else if explicit {
        tag
    } else {
        "latest".into()
    };
    if !a.all_tags && !explicit && !a.quiet {
        println!("Using default tag: latest");
    }
    let path = format!("/images/{name}/push?tag={}", enc(&tag));
    stream_request(
        ctx,
        Method::POST,
        &path,
        client::empty(),
        &auth_headers(&name),
        a.quiet,
    )
    .await?;
    if a.quiet {
        println!("{}", a.image);
    }
    Ok(())
}

fn trunc_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.trim_start_matches("sha256:").chars().take(12).collect()
    }
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.repository {
        filters.push(format!("reference={r}"));
    }
    let mut path = format!("/images/json?all={}", u8::from(a.all));
    if !filters.is_empty() {
        path.push_str(&format!("&filters={}", enc(&filters_json(&filters)?)));
    }
    let images: Vec<Value> = ctx.client.get_json(&path).await?;
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for i in &images {
            let id = trunc_id(i["Id"].as_str().unwrap_or(""), a.no_trunc);
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(());
    }
    let mut rows = Vec::new();
    for i in &images {
        let id = trunc_id(i["Id"].as_str().unwrap_or(""), a.no_trunc);
        let tags: Vec<String> = i["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        let digests: Vec<String> = i["RepoDigests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        let pairs: Vec<(String, String)> = if tags.is_empty() {
            let repo = digests
                .first()
                .and_then(|d| d.split_once('@'))
                .map(|(r, _)| r.to_string())
                .unwrap_or_else(|| "<none>".into());
            vec![(repo, "<none>".into())]
        } else {
            tags.iter()
                .map(|t| split(t))
                .map(|(n, t, _)| (n, t))
                .collect()
        };
        for (repo, tag) in pairs {
            let digest = digests
                .iter()
                .find(|d| d.starts_with(&format!("{repo}@")))
                .and_then(|d| d.split_once('@'))
                .map(|(_, d)| d.to_string())
                .unwrap_or_else(|| "<none>".into());
            let created = i["Created"].as_i64().unwrap_or(0);
            rows.push(json!({
                "Repository": repo, "Tag": tag, "Digest": digest, "ID": id,
                "CreatedSince": ago(created), "CreatedAt": chrono::DateTime::from_timestamp(created, 0).map(|t| t.to_string()).unwrap_or_default(),
                "Size": human_size(i["Size"].as_i64().unwrap_or(0)),
            }));
        }
    }
    const HEADERS: &[(&str, &str)] = &[
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("Size", "SIZE"),
    ];
    let fmt = output::parse_format(a.format.as_deref(), HEADERS)?;
    let digests = a.digests;
    output::print_rows(&fmt, &rows, |rows| {
        let mut lines = vec![
            if digests {
                "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE"
            } else {
                "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE"
            }
            .to_string(),
        ];
        for r in rows {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            lines.push(if digests {
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    s("Repository"),
                    s("Tag"),
                    s("Digest"),
                    s("ID"),
                    s("CreatedSince"),
                    s("Size")
                )
            } else {
                format!(
                    "{}\t{}\t{}\t{}\t{}",
                    s("Repository"),
                    s("Tag"),
                    s("ID"),
                    s("CreatedSince"),
                    s("Size")
                )
            });
        }
        output::tabwrite(&lines)
    })
}

async fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<()> {
    let tpl = a.format.as_deref().map(output::parse_tpl).transpose()?;
    let mut all = Vec::new();
    let mut failed = None;
    for name in &a.images {
        match ctx
            .client
            .get_json::<Value>(&format!("/images/{name}/json"))
            .await
        {
            Ok(v) => all.push(v),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = Some(e);
            }
        }
    }
    match tpl {
        Some(t) => {
            for v in &all {
                println!("{}", output::render(&t, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&all)?),
    }
    if failed.is_some() {
        return Err(crate::ExitCode(1).into());
    }
    Ok(())
}

async fn tag(ctx: &Ctx, a: TagArgs) -> Result<()> {
    let (repo, tag, _) = split(&a.target);
    if tag.contains(':') {
        bail!("refusing to create a tag with a digest reference");
    }
    ctx.client
        .post_empty(&format!(
            "/images/{}/tag?repo={}&tag={}",
            a.source,
            enc(&repo),
            enc(&tag)
        ))
        .await?;
    Ok(())
}

async fn rmi(ctx: &Ctx, a: RmiArgs) -> Result<()> {
    let mut failed = false;
    for name in &a.images {
        let path = format!(
            "/images/{name}?force={}&noprune={}",
            u8::from(a.force),
            u8::from(a.no_prune)
        );
        match ctx.client.delete(&path).await {
            Ok(body) => {
                let items: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
                for i in items {
                    if let Some(u) = i["Untagged"].as_str() {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = i["Deleted"].as_str() {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(crate::ExitCode(1).into());
    }
    Ok(())
}

async fn history(ctx: &Ctx, a: HistoryArgs) -> Result<()> {
    let items: Vec<Value> = ctx
        .client
        .get_json(&format!("/images/{}/history", a.image))
        .await?;
    if a.quiet {
        for i in &items {
            println!("{}", trunc_id(i["Id"].as_str().unwrap_or(""), a.no_trunc));
        }
        return Ok(());
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|i| {
            let id = i["Id"].as_str().unwrap_or("");
            let id = if id == "<missing>" { id.to_string() } else { trunc_id(id, a.no_trunc) };
            let created = i["Created"].as_i64().unwrap_or(0);
            let mut by = i["CreatedBy"].as_str().unwrap_or("").to_string();
            if !a.no_trunc && by.chars().count() > 45 {
                by = by.chars().take(44).collect::<String>() + "…";
            }
            json!({
                "ID": id,
                "CreatedSince": if created == 0 { "N/A".to_string() } else if a.human { ago(created) } else { created.to_string() },
                "CreatedBy": by,
                "Size": if a.human { human_size(i["Size"].as_i64().unwrap_or(0)) } else { i["Size"].to_string() },
                "Comment": i["Comment"].as_str().unwrap_or(""),
            })
        })
        .collect();
    const HEADERS: &[(&str, &str)] = &[
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ];
    let fmt = output::parse_format(a.format.as_deref(), HEADERS)?;
    output::print_rows(&fmt, &rows, |rows| {
        let mut lines = vec!["IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT".to_string()];
        for r in rows {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            lines.push(format!(
                "{}\t{}\t{}\t{}\t{}",
                s("ID"),
                s("CreatedSince"),
                s("CreatedBy"),
                s("Size"),
                s("Comment")
            ));
        }
        output::tabwrite(&lines)
    })
}

async fn prune(ctx: &Ctx, a: PruneArgs) -> Result<()> {
    if !a.force {
        bail!("refusing to prune without --force (berth does not prompt)");
    }
    let mut filters = a.filter.clone();
    if a.all {
        filters.push("dangling=false".into());
    }
    let mut path = "/images/prune".to_string();
    if !filters.is_empty() {
        path.push_str(&format!("?filters={}", enc(&filters_json(&filters)?)));
    }
    let v: Value = ctx.client.post_json::<Value, Value>(&path, None).await?;
    if let Some(items) = v["ImagesDeleted"].as_array() {
        println!("Deleted Images:");
        for i in items {
            if let Some(u) = i["Untagged"].as_str() {
                println!("untagged: {u}");
            }
            if let Some(d) = i["Deleted"].as_str() {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(v["SpaceReclaimed"].as_i64().unwrap_or(0))
    );
    Ok(())
}

async fn login(ctx: &Ctx, a: LoginArgs) -> Result<()> {
    let server = a.server.clone().unwrap_or_else(|| auth::HUB.to_string());
    let user = a
        .username
        .clone()
        .ok_or_else(|| anyhow::anyhow!("Username is required (-u)"))?;
    let password = match (&a.password, a.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p.clone(),
        (None, true) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => bail!("Password is required (-p or --password-stdin)"),
    };
    if password.is_empty() {
        bail!("Password is required");
    }
    let body =
        json!({"username": user, "password": password, "serveraddress": auth::server_key(&server)});
    let resp: Value = ctx.client.post_json("/auth", Some(&body)).await?;
    auth::store(
        &server,
        &user,
        &password,
        resp["IdentityToken"].as_str().unwrap_or(""),
    )?;
    println!("{}", resp["Status"].as_str().unwrap_or("Login Succeeded"));
    Ok(())
}

fn logout(a: LogoutArgs) -> Result<()> {
    let server = a.server.unwrap_or_else(|| auth::HUB.to_string());
    let key = auth::server_key(&server);
    if auth::erase(&server)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_qualifies() {
        assert_eq!(
            split("127.0.0.1:5000/x/bb:1"),
            ("127.0.0.1:5000/x/bb".into(), "1".into(), true)
        );
        assert_eq!(split("busybox"), ("busybox".into(), "latest".into(), false));
        assert_eq!(
            qualified("busybox", "latest"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            qualified("127.0.0.1:5000/x/bb", "1"),
            "127.0.0.1:5000/x/bb:1"
        );
        assert_eq!(qualified("a/b", "sha256:ab"), "docker.io/a/b@sha256:ab");
    }
}
