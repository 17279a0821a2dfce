//! `POST /build` and `POST /build/prune`: parse Docker's query parameters
//! (JSON-encoded `buildargs`, `labels`, `cachefrom`; repeated `t`), hand the
//! body (the context tar) to [`berth_api::backend::build::BuildBackend`], and
//! answer with its JSON message stream.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use berth_api::backend::build::{BuildBackend, BuildPruneQuery, BuildQuery};
use berth_core::Error;

use crate::error::ApiResult;
use crate::jsonstream;
use crate::query::Query;

/// What the build routes need from a backend.
pub trait BuildApi: BuildBackend + Send + Sync + 'static {}

impl<T: BuildBackend + Send + Sync + ?Sized + 'static> BuildApi for T {}

/// Build routes.
pub fn routes<B: BuildApi + ?Sized>() -> Router<Arc<B>> {
    Router::new()
        .route("/build", post(build::<B>))
        .route("/build/prune", post(prune::<B>))
}

fn json_param<T: serde::de::DeserializeOwned + Default>(q: &Query, key: &str) -> Result<T, Error> {
    match q.get(key) {
        None | Some("") | Some("null") => Ok(T::default()),
        Some(v) => serde_json::from_str(v)
            .map_err(|e| Error::invalid(format!("invalid {key} parameter: {e}"))),
    }
}

fn int(q: &Query, key: &str) -> Result<i64, Error> {
    Ok(q.int(key)?.unwrap_or(0))
}

/// The query of `POST /build`.
pub fn parse_query(q: &Query) -> Result<BuildQuery, Error> {
    let build_args: BTreeMap<String, Option<String>> = json_param(q, "buildargs")?;
    let labels: BTreeMap<String, String> = json_param(q, "labels")?;
    let cache_from: Vec<String> = json_param(q, "cachefrom")?;
    let extra_hosts = q
        .all("extrahosts")
        .into_iter()
        .flat_map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(BuildQuery {
        tags: q
            .all("t")
            .into_iter()
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        dockerfile: q.str("dockerfile").to_string(),
        build_args,
        labels,
        target: q.str("target").to_string(),
        no_cache: q.bool("nocache"),
        pull: q.bool("pull"),
        rm: q.bool_or("rm", true),
        force_rm: q.bool("forcerm"),
        quiet: q.bool("q"),
        remote: q.str("remote").to_string(),
        cache_from,
        network_mode: q.str("networkmode").to_string(),
        shm_size: int(q, "shmsize")?,
        memory: int(q, "memory")?,
        memory_swap: int(q, "memswap")?,
        cpu_shares: int(q, "cpushares")?,
        cpuset_cpus: q.str("cpusetcpus").to_string(),
        cpuset_mems: q.str("cpusetmems").to_string(),
        cpu_period: int(q, "cpuperiod")?,
        cpu_quota: int(q, "cpuquota")?,
        cgroup_parent: q.str("cgroupparent").to_string(),
        extra_hosts,
        platform: q.str("platform").to_string(),
    })
}

async fn build<B: BuildApi + ?Sized>(
    State(s): State<Arc<B>>,
    q: Query,
    req: Request,
) -> ApiResult<Response> {
    let bq = parse_query(&q)?;
    if q.get("version") == Some("2") {
        return Err(Error::invalid(
            "BuildKit (version=2) is not supported; use the classic builder (DOCKER_BUILDKIT=0)",
        )
        .into());
    }
    let body = crate::upload::stream(req.into_body());
    let stream = s.build(bq, body).await?;
    Ok(jsonstream::respond(stream).await)
}

async fn prune<B: BuildApi + ?Sized>(State(s): State<Arc<B>>, q: Query) -> ApiResult<Response> {
    let pq = BuildPruneQuery {
        all: q.bool("all"),
        filters: q.filters()?,
        keep_storage: q
            .int("keep-storage")?
            .or(q.int("reserved-space")?)
            .unwrap_or(0),
    };
    Ok(Json(s.build_prune(pq).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query() {
        let q = Query::parse(
            "t=a%3A1&t=b&buildargs=%7B%22X%22%3A%221%22%2C%22Y%22%3Anull%7D&labels=%7B%22l%22%3A%22v%22%7D&rm=0&q=1&extrahosts=h%3A1.2.3.4%2Cg%3A5.6.7.8&memory=1024",
        );
        let b = parse_query(&q).unwrap();
        assert_eq!(b.tags, vec!["a:1", "b"]);
        assert_eq!(b.build_args.get("X"), Some(&Some("1".to_string())));
        assert_eq!(b.build_args.get("Y"), Some(&None));
        assert_eq!(b.labels.get("l").map(String::as_str), Some("v"));
        assert!(!b.rm && b.quiet);
        assert_eq!(b.extra_hosts, vec!["h:1.2.3.4", "g:5.6.7.8"]);
        assert_eq!(b.memory, 1024);
        assert!(parse_query(&Query::parse("buildargs=notjson")).is_err());
        assert!(parse_query(&Query::parse("")).unwrap().rm);
    }
}
