//! `/images/*`, `/distribution/*` and `/auth`: parse, call
//! [`berth_api::backend::image::ImageBackend`], encode. Image names contain
//! slashes (`127.0.0.1:5000/x/bb:1`), so `/images/{name}/…` is routed as a
//! wildcard and split on its last segment, as Docker's `{name:.*}` routes are.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use berth_api::ApiVersion;
use berth_api::backend::container::ByteStream;
use berth_api::backend::image::{ImageBackend, ImageImportQuery, ImageListQuery, ImagePullQuery};
use berth_api::types::image::AuthConfig;
use berth_core::Error;

use super::body::JsonBody;
use crate::error::ApiResult;
use crate::jsonstream;
use crate::query::Query;

/// What the image routes need from a backend.
pub trait ImageApi: ImageBackend + Send + Sync + 'static {}

impl<T: ImageBackend + Send + Sync + ?Sized + 'static> ImageApi for T {}

/// Image routes.
pub fn routes<B: ImageApi + ?Sized>() -> Router<Arc<B>> {
    Router::new()
        .route("/images/json", get(list::<B>))
        .route("/images/create", post(create::<B>))
        .route("/images/load", post(load::<B>))
        .route("/images/get", get(save_many::<B>))
        .route("/images/prune", post(prune::<B>))
        .route(
            "/images/{*rest}",
            get(get_named::<B>)
                .post(post_named::<B>)
                .delete(delete::<B>),
        )
        .route("/distribution/{*rest}", get(distribution::<B>))
        .route("/auth", post(auth::<B>))
}

/// Filter keys `GET /images/json` accepts.
const LIST_FILTERS: &[&str] = &["before", "dangling", "label", "reference", "since", "until"];

/// Decode `X-Registry-Auth` (base64url JSON; padding optional, standard alphabet tolerated).
pub fn registry_auth(headers: &HeaderMap) -> Result<Option<AuthConfig>, Error> {
    let Some(v) = headers.get("X-Registry-Auth").and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let v = v.trim();
    if v.is_empty() || v == "null" {
        return Ok(None);
    }
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    let raw = engines
        .iter()
        .find_map(|e| e.decode(v).ok())
        .ok_or_else(|| Error::invalid("invalid X-Registry-Auth header: not base64"))?;
    if raw.trim_ascii() == b"{}" || raw.trim_ascii().is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|e| Error::invalid(format!("invalid X-Registry-Auth header: {e}")))
}

fn body_stream(req: Request) -> ByteStream {
    crate::upload::stream(req.into_body())
}

async fn list<B: ImageApi + ?Sized>(
    State(s): State<Arc<B>>,
    q: Query,
    req: Request,
) -> ApiResult<Response> {
    let filters = q.filters()?;
    filters.validate(LIST_FILTERS)?;
    // Old clients send `filter=<reference>`.
    let filters = match q.get("filter") {
        Some(f) if !f.is_empty() => {
            let mut pairs: Vec<(String, String)> = Vec::new();
            for k in LIST_FILTERS {
                for v in filters.get(k) {
                    pairs.push((k.to_string(), v.clone()));
                }
            }
            pairs.push(("reference".into(), f.to_string()));
            berth_core::filters::Filters::from_pairs(
                pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())),
            )
        }
        _ => filters,
    };
    let api_version = req
        .extensions()
        .get::<berth_api::ApiVersion>()
        .map(|v| (v.major, v.minor));
    let out = s
        .image_list(ImageListQuery {
            all: q.bool("all"),
            filters,
            shared_size: q.bool("shared-size"),
            digests: q.bool("digests"),
            api_version,
        })
        .await?;
    Ok(Json(out).into_response())
}

async fn create<B: ImageApi + ?Sized>(
    State(s): State<Arc<B>>,
    q: Query,
    req: Request,
) -> ApiResult<Response> {
    let auth = registry_auth(req.headers())?;
    if let Some(src) = q.get("fromSrc") {
        let iq = ImageImportQuery {
            from_src: src.to_string(),
            repo: q.str("repo").to_string(),
            tag: q.str("tag").to_string(),
            message: q.str("message").to_string(),
            changes: q.all("changes").into_iter().map(str::to_string).collect(),
            platform: q.str("platform").to_string(),
        };
        let stream = s.image_import(body_stream(req), iq).await?;
        return Ok(jsonstream::respond(stream).await);
    }
    let from = q.str("fromImage");
    if from.is_empty() {
        return Err(Error::invalid("fromImage or fromSrc is required").into());
    }
    let pq = ImagePullQuery {
        from_image: from.to_string(),
        tag: q.str("tag").to_string(),
        platform: q.str("platform").to_string(),
    };
    let stream = s.image_pull(pq, auth).await?;
    Ok(jsonstream::respond(stream).await)
}

async fn load<B: ImageApi + ?Sized>(
    State(s): State<Arc<B>>,
    q: Query,
    req: Request,
) -> ApiResult<Response> {
    let stream = s.image_load(body_stream(req), q.bool("quiet")).await?;
    Ok(jsonstream::respond_in_stream(stream).await)
}

fn tar_response(body: ByteStream) -> Response {
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    resp
}

async fn save_many<B: ImageApi + ?Sized>(State(s): State<Arc<B>>, q: Query) -> ApiResult<Response> {
    let names: Vec<String> = q.all("names").into_iter().map(str::to_string).collect();
    if names.is_empty() {
        return Err(Error::invalid("no images specified").into());
    }
    Ok(tar_response(s.image_save(names).await?))
}

async fn prune<B: ImageApi + ?Sized>(State(s): State<Arc<B>>, q: Query) -> ApiResult<Response> {
    Ok(Json(s.image_prune(q.filters()?).await?).into_response())
}

/// Keys an image's `Config` had (with empty values) while it was a container
/// `Config`, i.e. before API 1.50; moby still adds them for older clients
/// (docker-py 6 reads `Config.OnBuild`).
const LEGACY_CONFIG_KEYS: &[(&str, serde_json::Value)] = &[
    ("AttachStderr", serde_json::Value::Bool(false)),
    ("AttachStdin", serde_json::Value::Bool(false)),
    ("AttachStdout", serde_json::Value::Bool(false)),
    ("Cmd", serde_json::Value::Null),
    ("Domainname", serde_json::Value::String(String::new())),
    ("Entrypoint", serde_json::Value::Null),
    ("Env", serde_json::Value::Null),
    ("Hostname", serde_json::Value::String(String::new())),
    ("Image", serde_json::Value::String(String::new())),
    ("Labels", serde_json::Value::Null),
    ("OnBuild", serde_json::Value::Null),
    ("OpenStdin", serde_json::Value::Bool(false)),
    ("StdinOnce", serde_json::Value::Bool(false)),
    ("Tty", serde_json::Value::Bool(false)),
    ("User", serde_json::Value::String(String::new())),
    ("Volumes", serde_json::Value::Null),
    ("WorkingDir", serde_json::Value::String(String::new())),
];

/// Image inspect in the shape of the request's API version.
fn versioned_inspect(img: berth_api::types::image::ImageInspect, v: ApiVersion) -> Response {
    let mut val = serde_json::to_value(&img).unwrap_or_default();
    if v.at_least(1, 45) {
        // Docker stopped sending the commit's source container in API 1.45.
        if let Some(obj) = val.as_object_mut() {
            obj.remove("Container");
            obj.remove("ContainerConfig");
        }
    }
    if v.at_least(1, 50) {
        return Json(val).into_response();
    }
    if let Some(cfg) = val.get_mut("Config") {
        if cfg.is_null() {
            *cfg = serde_json::Value::Object(serde_json::Map::new());
        }
        if let Some(obj) = cfg.as_object_mut() {
            for (k, empty) in LEGACY_CONFIG_KEYS {
                obj.entry(k.to_string()).or_insert_with(|| empty.clone());
            }
        }
    }
    Json(val).into_response()
}

async fn get_named<B: ImageApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(rest): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/json") {
        let v = ext
            .get::<ApiVersion>()
            .copied()
            .unwrap_or(berth_api::version::MAX);
        return Ok(versioned_inspect(s.image_inspect(name).await?, v));
    }
    if let Some(name) = rest.strip_suffix("/history") {
        return Ok(Json(s.image_history(name).await?).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return Ok(tar_response(s.image_save(vec![name.to_string()]).await?));
    }
    Err(Error::not_found("page not found").into())
}

async fn post_named<B: ImageApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(rest): Path<String>,
    q: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/tag") {
        s.image_tag(name, q.str("repo"), q.str("tag")).await?;
        return Ok(StatusCode::CREATED.into_response());
    }
    if let Some(name) = rest.strip_suffix("/push") {
        let auth = registry_auth(&headers)?;
        let stream = s.image_push(name, q.str("tag"), auth).await?;
        return Ok(jsonstream::respond(stream).await);
    }
    Err(Error::not_found("page not found").into())
}

async fn delete<B: ImageApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(name): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    Ok(Json(
        s.image_delete(&name, q.bool("force"), q.bool("noprune"))
            .await?,
    )
    .into_response())
}

async fn distribution<B: ImageApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some(name) = rest.strip_suffix("/json") else {
        return Err(Error::not_found("page not found").into());
    };
    let auth = registry_auth(&headers)?;
    Ok(Json(s.distribution_inspect(name, auth).await?).into_response())
}

async fn auth<B: ImageApi + ?Sized>(
    State(s): State<Arc<B>>,
    JsonBody(cfg): JsonBody<AuthConfig>,
) -> ApiResult<Response> {
    Ok(Json(s.auth(cfg).await?).into_response())
}
