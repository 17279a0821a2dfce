//! `cp` (both directions, tar over the archive endpoints, `-` for a tar on
//! stdin/stdout), `export`, `commit`.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use berth_api::backend::container::PathStat;
use berth_api::client::{self, ClientError};
use berth_api::types::IdResponse;
use clap::{ArgAction, Args};
use http::Method;

use super::super::Ctx;
use super::super::system::enc;
use crate::output::human_size;

/// `cp` flags.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// `CONTAINER:SRC_PATH` or a local path (or `-`).
    pub src: String,
    /// `CONTAINER:DEST_PATH` or a local path (or `-`).
    pub dest: String,
}

/// `export` flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Container.
    pub container: String,
}

/// `commit` flags.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Commit message.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit.
    #[arg(short = 'p', long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    /// Container.
    pub container: String,
    /// `REPOSITORY[:TAG]`.
    pub reference: Option<String>,
}

/// A `cp` operand: a container path or a local one.
#[derive(Debug, PartialEq, Eq)]
pub enum Operand {
    /// `container:path`.
    Container(String, String),
    /// A local path or `-`.
    Local(String),
}

/// Docker's `splitCpArg`: `name:path`, unless the argument is an absolute or
/// `./`-relative local path.
pub fn split_cp_arg(arg: &str) -> Operand {
    if arg.starts_with('/') || arg.starts_with('.') {
        return Operand::Local(arg.to_string());
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() => Operand::Container(c.to_string(), p.to_string()),
        _ => Operand::Local(arg.to_string()),
    }
}

/// Go's `os.ModeDir`.
const MODE_DIR: u32 = 1 << 31;

fn decode_stat(h: Option<&http::HeaderValue>) -> Option<PathStat> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h?.as_bytes())
        .ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Where an archive entry goes: the root entry `root` renamed to `rename_to`
/// (when copying to a new name), under `dest_dir`. `None` for unsafe paths.
pub fn entry_target(
    dest_dir: &Path,
    entry: &Path,
    root: &str,
    rename_to: Option<&str>,
) -> Option<PathBuf> {
    let mut comps = entry
        .components()
        .filter(|c| !matches!(c, Component::CurDir));
    let mut out = dest_dir.to_path_buf();
    match comps.next()? {
        Component::Normal(first) => match rename_to {
            Some(new) if first == root => out.push(new),
            _ => out.push(first),
        },
        _ => return None,
    }
    for c in comps {
        match c {
            Component::Normal(n) => out.push(n),
            _ => return None,
        }
    }
    Some(out)
}

async fn copy_from_container(
    ctx: &Ctx,
    a: &CpArgs,
    container: &str,
    src: &str,
    dest: &str,
) -> Result<()> {
    let path = format!("/containers/{}/archive?path={}", enc(container), enc(src));
    let resp = ctx
        .client
        .request(Method::GET, &path, client::empty(), &[])
        .await?;
    let stat = decode_stat(resp.headers().get("X-Docker-Container-Path-Stat"));
    let tar = client::read_all(resp).await?;
    if dest == "-" {
        std::io::stdout().write_all(&tar)?;
        return Ok(());
    }
    let dest_path = Path::new(dest);
    let src_is_dir = stat.as_ref().is_some_and(|s| s.mode & MODE_DIR != 0);
    let (dest_dir, rename_to) = match std::fs::metadata(dest_path) {
        Ok(m) if m.is_dir() => (dest_path.to_path_buf(), None),
        Ok(_) if src_is_dir => bail!("cannot copy directory to file {dest:?}"),
        Ok(_) | Err(_) => {
            if dest.ends_with('/') {
                bail!("destination directory {dest:?} does not exist");
            }
            let parent = dest_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !parent.is_dir() {
                bail!("no such directory: {}", parent.display());
            }
            let name = dest_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            (parent.to_path_buf(), name)
        }
    };
    let mut archive = tar::Archive::new(std::io::Cursor::new(&tar[..]));
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(a.archive);
    let mut root: Option<String> = None;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let p = entry.path()?.into_owned();
        let first = p.components().find_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        });
        let root = root
            .get_or_insert_with(|| first.clone().unwrap_or_default())
            .clone();
        let Some(target) = entry_target(&dest_dir, &p, &root, rename_to.as_deref()) else {
            bail!("invalid path in archive: {}", p.display());
        };
        entry
            .unpack(&target)
            .with_context(|| format!("extract {}", target.display()))?;
    }
    if !a.quiet {
        eprintln!(
            "Successfully copied {} to {dest}",
            human_size(tar.len() as i64)
        );
    }
    Ok(())
}

/// A tar of local `src` whose root entry is named `name`.
pub fn tar_of(src: &Path, name: &str, follow_link: bool) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(follow_link);
    let meta = if follow_link {
        std::fs::metadata(src)
    } else {
        std::fs::symlink_metadata(src)
    }
    .with_context(|| format!("could not find the file {}", src.display()))?;
    if meta.is_dir() {
        b.append_dir_all(name, src)?;
    } else {
        b.append_path_with_name(src, name)?;
    }
    Ok(b.into_inner()?)
}

async fn copy_to_container(
    ctx: &Ctx,
    a: &CpArgs,
    src: &str,
    container: &str,
    dest: &str,
) -> Result<()> {
    let stat_path = format!("/containers/{}/archive?path={}", enc(container), enc(dest));
    let dest_stat = match ctx
        .client
        .request(Method::HEAD, &stat_path, client::empty(), &[])
        .await
    {
        Ok(r) => decode_stat(r.headers().get("X-Docker-Container-Path-Stat")),
        Err(ClientError::Daemon { status, .. }) if status == http::StatusCode::NOT_FOUND => None,
        Err(e) => return Err(e.into()),
    };
    let dest_is_dir = dest_stat.as_ref().is_some_and(|s| s.mode & MODE_DIR != 0);
    let (dir, tar) = if src == "-" {
        if !dest_is_dir {
            bail!("destination \"{container}:{dest}\" must be a directory");
        }
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        (dest.to_string(), buf)
    } else {
        let src_path = Path::new(src);
        let src_name = src_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        if dest_is_dir {
            (
                dest.to_string(),
                tar_of(src_path, &src_name, a.follow_link)?,
            )
        } else {
            if dest.ends_with('/') {
                bail!("destination directory \"{container}:{dest}\" does not exist");
            }
            let d = Path::new(dest);
            let parent = d
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into());
            let name = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| anyhow!("invalid destination {dest:?}"))?;
            (parent, tar_of(src_path, &name, a.follow_link)?)
        }
    };
    let size = tar.len();
    let put = format!(
        "/containers/{}/archive?path={}&noOverwriteDirNonDir=true{}",
        enc(container),
        enc(&dir),
        if a.archive { "&copyUIDGID=true" } else { "" }
    );
    let resp = ctx
        .client
        .request(
            Method::PUT,
            &put,
            client::bytes(tar),
            &[("Content-Type", "application/x-tar")],
        )
        .await?;
    client::read_all(resp).await?;
    if !a.quiet && src != "-" {
        eprintln!(
            "Successfully copied {} to {container}:{dest}",
            human_size(size as i64)
        );
    }
    Ok(())
}

/// `berth cp`.
pub async fn cp(ctx: &Ctx, a: CpArgs) -> Result<()> {
    match (split_cp_arg(&a.src), split_cp_arg(&a.dest)) {
        (Operand::Container(c, p), Operand::Local(d)) => {
            copy_from_container(ctx, &a, &c, &p, &d).await
        }
        (Operand::Local(s), Operand::Container(c, p)) => {
            copy_to_container(ctx, &a, &s, &c, &p).await
        }
        (Operand::Container(..), Operand::Container(..)) => {
            bail!("copying between containers is not supported")
        }
        (Operand::Local(_), Operand::Local(_)) => {
            bail!("must specify at least one container source")
        }
    }
}

/// `berth export`.
pub async fn export(ctx: &Ctx, a: ExportArgs) -> Result<()> {
    let path = format!("/containers/{}/export", enc(&a.container));
    ctx.download(&path, a.output.as_deref(), "failed to export container:")
        .await
}

/// The `/commit` query for the flags.
pub fn commit_query(a: &CommitArgs) -> String {
    let (repo, tag) = match &a.reference {
        Some(r) => {
            let (repo, tag) = super::pull::split_ref(r);
            // A reference without a tag commits as `repo` with no tag given.
            let tag = if r.rsplit('/').next().is_some_and(|l| l.contains(':')) {
                tag
            } else {
                String::new()
            };
            (repo, tag)
        }
        None => (String::new(), String::new()),
    };
    let mut q = format!(
        "/commit?container={}&repo={}&tag={}&comment={}&author={}&pause={}",
        enc(&a.container),
        enc(&repo),
        enc(&tag),
        enc(a.message.as_deref().unwrap_or("")),
        enc(a.author.as_deref().unwrap_or("")),
        if a.pause { "1" } else { "0" }
    );
    for c in &a.change {
        q.push_str(&format!("&changes={}", enc(c)));
    }
    q
}

/// `berth commit`.
pub async fn commit(ctx: &Ctx, a: CommitArgs) -> Result<()> {
    let r: IdResponse = ctx
        .client
        .post_json::<(), _>(&commit_query(&a), None)
        .await?;
    println!("{}", r.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_operands() {
        assert_eq!(
            split_cp_arg("web:/etc/hosts"),
            Operand::Container("web".into(), "/etc/hosts".into())
        );
        assert_eq!(split_cp_arg("/tmp/a:b"), Operand::Local("/tmp/a:b".into()));
        assert_eq!(split_cp_arg("./x:y"), Operand::Local("./x:y".into()));
        assert_eq!(split_cp_arg("-"), Operand::Local("-".into()));
        assert_eq!(split_cp_arg("file"), Operand::Local("file".into()));
    }

    #[test]
    fn entries_land_under_dest_and_never_escape() {
        let d = Path::new("/out");
        assert_eq!(
            entry_target(d, Path::new("etc/hosts"), "etc", None).unwrap(),
            Path::new("/out/etc/hosts")
        );
        assert_eq!(
            entry_target(d, Path::new("etc/hosts"), "etc", Some("conf")).unwrap(),
            Path::new("/out/conf/hosts")
        );
        assert_eq!(
            entry_target(d, Path::new("./hosts"), "hosts", Some("h2")).unwrap(),
            Path::new("/out/h2")
        );
        assert!(entry_target(d, Path::new("etc/../../x"), "etc", None).is_none());
        assert!(entry_target(d, Path::new("/abs"), "abs", None).is_none());
    }

    #[test]
    fn local_tars_are_named_for_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.txt"), b"hi").unwrap();
        let tar = tar_of(&dir.path().join("f.txt"), "renamed.txt", false).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["renamed.txt"]);
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/x"), b"x").unwrap();
        let tar = tar_of(&dir.path().join("d"), "d", false).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let mut names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["d/", "d/x"]);
    }

    #[test]
    fn commit_queries() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: CommitArgs,
        }
        let t = T::try_parse_from([
            "commit",
            "-m",
            "msg",
            "-c",
            "ENV A=1",
            "-c",
            "CMD [\"sh\"]",
            "--pause=false",
            "c1",
            "repo/img:v2",
        ])
        .unwrap();
        let q = commit_query(&t.a);
        assert!(
            q.starts_with(
                "/commit?container=c1&repo=repo%2Fimg&tag=v2&comment=msg&author=&pause=0"
            ),
            "{q}"
        );
        assert!(
            q.contains("&changes=ENV%20A%3D1&changes=CMD%20%5B%22sh%22%5D"),
            "{q}"
        );
        let t = T::try_parse_from(["commit", "c1", "img"]).unwrap();
        assert!(commit_query(&t.a).contains("repo=img&tag=&"));
    }
}
