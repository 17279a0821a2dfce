//! Volume names: the local driver uses the name as a directory under the data
//! root, so it accepts only Docker's restricted set (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`),
//! which can never be `.`, `..` or contain `/`. Anonymous volumes get a random
//! 64-hex name.

use crate::error::{Result, VolumeError};

/// Docker's allowed characters, as its error message shows them.
pub const RESTRICTED_NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

/// Label Docker puts on volumes created without a name.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// Check a name for the local driver, with Docker's messages.
pub fn validate_local(name: &str) -> Result<()> {
    if name.chars().count() == 1 {
        return Err(VolumeError::Invalid(
            "volume name is too short, names should be at least two alphanumeric characters".into(),
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !(first_ok && rest_ok) {
        return Err(VolumeError::Invalid(format!(
            "{name:?} includes invalid characters for a local volume name, only {RESTRICTED_NAME_CHARS:?} are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// A fresh anonymous volume name.
pub fn generate() -> String {
    berth_core::id::generate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        for ok in ["ab", "a.b-c_d", "0x", "Vol1"] {
            validate_local(ok).unwrap();
        }
        for bad in ["../x", "a/b", ".hidden", "-x", "", "a b", "x\u{e9}"] {
            let e = validate_local(bad).unwrap_err();
            assert!(
                e.to_string()
                    .contains("includes invalid characters for a local volume name"),
                "{bad}: {e}"
            );
        }
        let e = validate_local("../x").unwrap_err().to_string();
        assert_eq!(
            e,
            "\"../x\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        assert!(
            validate_local("a")
                .unwrap_err()
                .to_string()
                .contains("too short")
        );
        assert_eq!(generate().len(), 64);
    }
}
