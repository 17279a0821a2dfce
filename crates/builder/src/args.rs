//! Build arguments and their scopes, as Docker's classic builder keeps them:
//!
//! - ARGs before the first FROM (meta args) are visible to FROM lines only;
//!   a stage sees one only after re-declaring it (`ARG NAME` with no default
//!   then takes the meta value).
//! - Each stage starts with no ARGs; an ARG is usable from its line on.
//! - `--build-arg` overrides defaults; an undeclared one is unused (and
//!   reported), except the predefined proxy arguments, which reach RUN
//!   without a declaration and stay out of the image history.
//! - RUN sees declared ARGs with a value as environment variables, unless an
//!   ENV of the same name exists.

use std::collections::{BTreeMap, BTreeSet};

/// Arguments usable without an ARG line.
pub const BUILTIN: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The arguments of one build.
#[derive(Debug, Clone, Default)]
pub struct BuildArgs {
    /// `--build-arg` values (`None`: given without a value and unset in the client).
    given: BTreeMap<String, Option<String>>,
    /// Meta args with their effective values.
    meta: BTreeMap<String, Option<String>>,
    /// Every name an ARG line declared (for the unused-argument warning).
    referenced: BTreeSet<String>,
}

impl BuildArgs {
    /// Start from the request's `buildargs`.
    pub fn new(given: BTreeMap<String, Option<String>>) -> BuildArgs {
        BuildArgs {
            given,
            ..Default::default()
        }
    }

    fn override_of(&self, name: &str) -> Option<&String> {
        self.given.get(name).and_then(Option::as_ref)
    }

    /// Declare a meta arg (default already expanded); returns its value.
    pub fn add_meta(&mut self, name: &str, default: Option<String>) -> Option<String> {
        let v = self.override_of(name).cloned().or(default);
        self.meta.insert(name.to_string(), v.clone());
        self.referenced.insert(name.to_string());
        v
    }

    /// Meta args with values, for expanding FROM lines (and the meta args themselves).
    pub fn meta_env(&self) -> Vec<(String, String)> {
        self.meta
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect()
    }

    /// A fresh scope for a stage.
    pub fn stage(&self) -> StageArgs {
        StageArgs {
            given: self.given.clone(),
            meta: self.meta.clone(),
            allowed: BTreeMap::new(),
        }
    }

    /// Record the names a stage declared.
    pub fn merge_referenced(&mut self, stage: &StageArgs) {
        self.referenced.extend(stage.allowed.keys().cloned());
    }

    /// `--build-arg`s no ARG line declared (predefined ones excepted), sorted.
    pub fn unused(&self) -> Vec<String> {
        self.given
            .keys()
            .filter(|k| !self.referenced.contains(*k) && !BUILTIN.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// The arguments in scope in one stage.
#[derive(Debug, Clone, Default)]
pub struct StageArgs {
    given: BTreeMap<String, Option<String>>,
    meta: BTreeMap<String, Option<String>>,
    /// Declared names with their effective values.
    allowed: BTreeMap<String, Option<String>>,
}

impl StageArgs {
    /// `ARG name[=default]` (default already expanded).
    pub fn declare(&mut self, name: &str, default: Option<String>) {
        let v = match self.given.get(name).and_then(Option::as_ref) {
            Some(v) => Some(v.clone()),
            None => match default {
                Some(d) => Some(d),
                None => self.meta.get(name).cloned().flatten(),
            },
        };
        self.allowed.insert(name.to_string(), v);
    }

    /// Declared names.
    pub fn declared(&self) -> impl Iterator<Item = &String> {
        self.allowed.keys()
    }

    /// Arguments with a value that no ENV overrides: declared ones plus given
    /// predefined ones, as `(name, value)`, sorted by name.
    pub fn visible(&self, config_env: &[String]) -> Vec<(String, String)> {
        let env_has = |k: &str| config_env.iter().any(|e| e.split('=').next() == Some(k));
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &self.allowed {
            if let Some(v) = v {
                out.insert(k.clone(), v.clone());
            }
        }
        for b in BUILTIN {
            if !self.allowed.contains_key(*b)
                && let Some(Some(v)) = self.given.get(*b)
            {
                out.insert((*b).to_string(), v.clone());
            }
        }
        out.into_iter().filter(|(k, _)| !env_has(k)).collect()
    }

    /// The `KEY=value` entries a RUN gets in its environment.
    pub fn run_env(&self, config_env: &[String]) -> Vec<String> {
        self.visible(config_env)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// The entries recorded in a RUN's history (`|N K=V … cmd`): predefined
    /// arguments not declared by an ARG are left out, so proxies do not bust the cache.
    pub fn history_env(&self, config_env: &[String]) -> Vec<String> {
        self.visible(config_env)
            .into_iter()
            .filter(|(k, _)| self.allowed.contains_key(k) || !BUILTIN.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn scoping_rules() {
        let mut b = BuildArgs::new(given(&[
            ("V", Some("cli")),
            ("HTTP_PROXY", Some("p")),
            ("UNUSED", Some("x")),
        ]));
        assert_eq!(b.add_meta("BASE", Some("bb".into())), Some("bb".into()));
        assert_eq!(b.add_meta("V", Some("dflt".into())), Some("cli".into()));
        let mut s = b.stage();
        assert!(
            s.visible(&[]).iter().all(|(k, _)| k == "HTTP_PROXY"),
            "meta args are not visible in stages"
        );
        s.declare("BASE", None);
        s.declare("X", None);
        s.declare("Y", Some("2".into()));
        let env = s.run_env(&["Y=from-env".into()]);
        assert_eq!(env, vec!["BASE=bb", "HTTP_PROXY=p"]);
        assert_eq!(s.history_env(&[]), vec!["BASE=bb", "Y=2"]);
        b.merge_referenced(&s);
        assert_eq!(b.unused(), vec!["UNUSED"]);
    }
}
