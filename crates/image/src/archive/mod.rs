//! Image archives: `docker save` tarballs (Docker and OCI layouts) in and out,
//! and rootfs imports.

pub mod import;
pub mod load;
pub mod save;

use crate::spec::media;
use crate::unpack::decompress::{Compression, sniff};

/// Media type of a stored layer blob, from its first bytes.
pub(crate) fn layer_media_type(path: &std::path::Path) -> String {
    let Ok(f) = std::fs::File::open(path) else {
        return media::DOCKER_LAYER.into();
    };
    let mut r = std::io::BufReader::new(f);
    match sniff(&mut r) {
        Ok(Compression::Gzip) => media::DOCKER_LAYER_GZIP.into(),
        Ok(Compression::Zstd) => media::OCI_LAYER_ZSTD.into(),
        _ => media::DOCKER_LAYER.into(),
    }
}
