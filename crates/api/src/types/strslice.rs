//! Docker's `strslice`: a JSON field that may be a string or an array of strings
//! (`Cmd`, `Entrypoint`, `Healthcheck.Test` from old clients).

use serde::{Deserialize, Deserializer};

/// Deserialize `null`, `"cmd"` or `["a","b"]` into `Option<Vec<String>>`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}
