//! API versions: berth implements up to [`MAX`] and accepts clients down to [`MIN`].

use std::fmt;

use berth_core::{Error, Result};

/// A `major.minor` API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// Always 1 so far.
    pub major: u32,
    /// 24 ..= 50.
    pub minor: u32,
}

/// The newest version berth speaks (the docker 28 CLI's own).
pub const MAX: ApiVersion = ApiVersion {
    major: 1,
    minor: 50,
};
/// The oldest version berth accepts.
pub const MIN: ApiVersion = ApiVersion {
    major: 1,
    minor: 24,
};

impl ApiVersion {
    /// Parse `1.43`.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        Some(ApiVersion {
            major: a.parse().ok()?,
            minor: b.parse().ok()?,
        })
    }

    /// True when this version is at least `major.minor`.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= ApiVersion { major, minor }
    }

    /// Check a client's version against [`MIN`]..=[`MAX`], with Docker's messages.
    pub fn check(self) -> Result<ApiVersion> {
        if self > MAX {
            return Err(Error::invalid(format!(
                "client version {self} is too new. Maximum supported API version is {MAX}"
            )));
        }
        if self < MIN {
            return Err(Error::invalid(format!(
                "client version {self} is too old. Minimum supported API version is {MIN}, please upgrade your client to a newer version"
            )));
        }
        Ok(self)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_messages() {
        assert_eq!(
            ApiVersion::parse("1.43")
                .unwrap()
                .check()
                .unwrap()
                .to_string(),
            "1.43"
        );
        let e = ApiVersion::parse("1.51").unwrap().check().unwrap_err();
        assert_eq!(
            e.message(),
            "client version 1.51 is too new. Maximum supported API version is 1.50"
        );
        assert!(
            ApiVersion::parse("1.12")
                .unwrap()
                .check()
                .unwrap_err()
                .message()
                .contains("too old")
        );
        assert!(ApiVersion::parse("x.y").is_none());
        assert!(ApiVersion::parse("1.41").unwrap().at_least(1, 40));
    }
}
