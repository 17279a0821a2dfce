//! Docker's timestamp formats: RFC 3339 with nanoseconds in UTC, and Go's zero time.

use chrono::{DateTime, SecondsFormat, Utc};

/// Go's zero `time.Time`, which Docker prints for "never" (e.g. `FinishedAt` of a running container).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Now as RFC 3339 with nanoseconds, e.g. `2024-01-01T00:00:00.123456789Z`.
pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

/// A time as RFC 3339 with nanoseconds.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Parse RFC 3339 (any precision); `None` for the zero time or garbage.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    if s == ZERO_TIME || s.is_empty() {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parse Docker's `since`/`until` forms: unix seconds with optional fraction
/// (`1700000000.123`), RFC 3339, or a duration relative to `now` (`10m`, `1h30m`, `2s`).
pub fn parse_timestamp(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() && f >= 0.0 {
            let secs = f.trunc() as i64;
            let nanos = ((f - f.trunc()) * 1e9).round() as u32;
            return DateTime::from_timestamp(secs, nanos.min(999_999_999));
        }
        return None;
    }
    parse_go_duration(s).map(|d| now - d)
}

/// Parse a Go duration such as `1h30m`, `10s`, `250ms`.
pub fn parse_go_duration(s: &str) -> Option<chrono::Duration> {
    let mut total_ns: i128 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ns += (num * mult) as i128;
    }
    Some(chrono::Duration::nanoseconds(i64::try_from(total_ns).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_nanos() {
        let t = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.000000005Z");
    }

    #[test]
    fn parses_docker_since_forms() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        assert_eq!(parse_timestamp("0", now).unwrap().timestamp(), 0);
        assert_eq!(
            parse_timestamp("1700000000.5", now)
                .unwrap()
                .timestamp_subsec_millis(),
            500
        );
        assert_eq!(
            parse_timestamp("10m", now).unwrap().timestamp(),
            1_000_000 - 600
        );
        assert_eq!(
            parse_timestamp("1h30m", now).unwrap().timestamp(),
            1_000_000 - 5400
        );
        assert!(parse_timestamp("yesterday", now).is_none());
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20Z", now)
                .unwrap()
                .timestamp(),
            1_700_000_000
        );
    }
}
