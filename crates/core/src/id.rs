//! Object identifiers: Docker-style 64-hex-digit random ids and their 12-digit short form.

/// A new random 256-bit id as 64 lowercase hex digits (containers, networks, execs).
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// The 12-character form Docker prints.
pub fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// True when `s` is 64 lowercase hex digits.
pub fn is_full(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True when `s` could be an id prefix (1–64 lowercase hex digits).
pub fn is_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_full_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(is_full(&a) && is_full(&b));
        assert_ne!(a, b);
        assert_eq!(short(&a).len(), 12);
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
        assert!(is_prefix("abc") && !is_prefix("xyz") && !is_prefix(""));
    }
}
