//! Container names: validation with Docker's rule and message, and generated
//! `adjective_noun` names when none is given. The word lists are berth's own.

use berth_core::{Error, Result};

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "ancient", "bold", "brave", "bright", "brisk", "calm", "candid", "careful",
    "clever", "cosmic", "crisp", "curious", "daring", "deft", "eager", "earnest", "elated", "epic",
    "fervent", "fond", "frosty", "gallant", "gentle", "glad", "golden", "graceful", "hardy",
    "hasty", "humble", "jolly", "keen", "kind", "lively", "loyal", "lucid", "merry", "mighty",
    "modest", "nimble", "noble", "patient", "placid", "plucky", "polite", "proud", "quick",
    "quiet", "radiant", "rapid", "serene", "sharp", "shiny", "silent", "sleek", "smooth", "snug",
    "spry", "stoic", "sturdy", "sunny", "swift", "tender", "tidy", "trusty", "upbeat", "vivid",
    "warm", "wise", "witty", "zealous", "zesty",
];

const NOUNS: &[&str] = &[
    "anchor",
    "atoll",
    "barge",
    "beacon",
    "bollard",
    "breakwater",
    "buoy",
    "cabin",
    "canal",
    "cape",
    "capstan",
    "cargo",
    "channel",
    "clipper",
    "compass",
    "coral",
    "cove",
    "current",
    "cutter",
    "delta",
    "dinghy",
    "dock",
    "estuary",
    "ferry",
    "fjord",
    "galley",
    "gangway",
    "harbor",
    "hawser",
    "helm",
    "hull",
    "inlet",
    "island",
    "jetty",
    "keel",
    "kelp",
    "lagoon",
    "lantern",
    "lighthouse",
    "lock",
    "marina",
    "mast",
    "mooring",
    "navigator",
    "oar",
    "pier",
    "pilot",
    "port",
    "quay",
    "reef",
    "rudder",
    "sail",
    "schooner",
    "shoal",
    "skiff",
    "sloop",
    "sound",
    "spinnaker",
    "starboard",
    "strait",
    "tide",
    "tiller",
    "trawler",
    "tug",
    "wake",
    "wharf",
    "windlass",
    "yacht",
];

/// Is `name` allowed? Docker: `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`.
pub fn validate(name: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let ok = n.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(Error::invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(n.to_string())
}

/// A random `adjective_noun`; after `attempt` 0, a digit suffix keeps retries cheap.
pub fn generate(attempt: u32) -> String {
    let a = ADJECTIVES[rand::random_range(0..ADJECTIVES.len())];
    let n = NOUNS[rand::random_range(0..NOUNS.len())];
    if attempt == 0 {
        format!("{a}_{n}")
    } else {
        format!("{a}_{n}{}", rand::random_range(0..100u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_name_rule() {
        assert_eq!(validate("/web-1").unwrap(), "web-1");
        assert_eq!(validate("a.b_c").unwrap(), "a.b_c");
        for bad in ["a", "-x", "_x", "x y", "../x", "x/y", ""] {
            let e = validate(bad).unwrap_err();
            assert!(e.message().contains("Invalid container name"), "{bad}");
        }
        for i in 0..20 {
            validate(&generate(i)).unwrap();
        }
    }
}
