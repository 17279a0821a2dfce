//! Docker's `json-file` format: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}`.
//! Invalid UTF-8 is replaced, as Docker does.

use serde::{Deserialize, Serialize};

use super::{LogEntry, LogStream};

#[derive(Serialize, Deserialize)]
struct Line<'a> {
    log: std::borrow::Cow<'a, str>,
    stream: std::borrow::Cow<'a, str>,
    time: std::borrow::Cow<'a, str>,
}

/// Append the encoded entry (with its newline) to `out`.
pub fn encode(e: &LogEntry, out: &mut Vec<u8>) {
    let line = Line {
        log: String::from_utf8_lossy(&e.data),
        stream: e.stream.as_str().into(),
        time: e.timestamp().into(),
    };
    // Serializing three strings cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}

/// Decode one line; `None` for a torn or foreign line.
pub fn decode(line: &[u8]) -> Option<LogEntry> {
    let l: Line<'_> = serde_json::from_slice(line).ok()?;
    let stream = match l.stream.as_ref() {
        "stdout" => LogStream::Stdout,
        "stderr" => LogStream::Stderr,
        _ => return None,
    };
    let t = chrono::DateTime::parse_from_rfc3339(&l.time).ok()?;
    let data = l.log.into_owned().into_bytes();
    let partial = !data.ends_with(b"\n");
    Some(LogEntry {
        stream,
        time_nanos: t.timestamp_nanos_opt()?,
        data,
        partial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_docker_shape() {
        let e = LogEntry {
            stream: LogStream::Stderr,
            time_nanos: 1_700_000_000_000_000_005,
            data: b"a\"b\n".to_vec(),
            partial: false,
        };
        let mut out = Vec::new();
        encode(&e, &mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "{\"log\":\"a\\\"b\\n\",\"stream\":\"stderr\",\"time\":\"2023-11-14T22:13:20.000000005Z\"}\n"
        );
        assert_eq!(decode(&out[..out.len() - 1]).unwrap(), e);
        assert!(decode(b"{\"log\":").is_none());
    }
}
