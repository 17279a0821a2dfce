//! Docker's JSON progress messages (`pkg/jsonmessage`): the body of pull, push,
//! load, import and build responses, one object per line.

use serde::{Deserialize, Serialize};

/// `progressDetail`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProgressDetail {
    /// Bytes done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<i64>,
    /// Bytes in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// `errorDetail`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    /// Exit code (build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// The error text.
    pub message: String,
}

/// One JSON message.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct JsonMessage {
    /// Text printed verbatim (build output, `Loaded image: …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Status line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Byte counts for progress bars.
    #[serde(
        rename = "progressDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub progress_detail: Option<ProgressDetail>,
    /// Pre-rendered progress bar (deprecated, still sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// Layer id or tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Error (mid-stream).
    #[serde(
        rename = "errorDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_detail: Option<ErrorDetail>,
    /// Same text as `errorDetail.message` (deprecated, still sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Structured data for the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl JsonMessage {
    /// `{"status": ...}` with an optional id.
    pub fn status(status: impl Into<String>, id: Option<&str>) -> JsonMessage {
        JsonMessage {
            status: Some(status.into()),
            id: id.map(str::to_string),
            ..Default::default()
        }
    }

    /// `{"stream": ...}`.
    pub fn stream(text: impl Into<String>) -> JsonMessage {
        JsonMessage {
            stream: Some(text.into()),
            ..Default::default()
        }
    }

    /// An error message (both the new and the deprecated field).
    pub fn error(message: impl Into<String>) -> JsonMessage {
        let message = message.into();
        JsonMessage {
            error_detail: Some(ErrorDetail {
                code: None,
                message: message.clone(),
            }),
            error: Some(message),
            ..Default::default()
        }
    }

    /// A status with byte counts and the rendered bar.
    pub fn progress(status: impl Into<String>, id: &str, current: i64, total: i64) -> JsonMessage {
        JsonMessage {
            status: Some(status.into()),
            id: Some(id.to_string()),
            progress_detail: Some(ProgressDetail {
                current: Some(current),
                total: (total > 0).then_some(total),
            }),
            progress: Some(render_bar(current, total)),
            ..Default::default()
        }
    }
}

/// Docker's size units (`1.235MB`: decimal, four significant digits, as go-units' HumanSize).
pub fn human_size(n: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let int_digits = if v < 10.0 {
        1
    } else if v < 100.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.*}", 4 - int_digits);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

/// The bar Docker pre-renders: `[=====>     ]  1.2MB/3.4MB`.
pub fn render_bar(current: i64, total: i64) -> String {
    if total <= 0 {
        return human_size(current);
    }
    let width = 50;
    let filled = ((current.min(total) as f64 / total as f64) * width as f64) as usize;
    let mut bar = "=".repeat(filled);
    if filled < width {
        bar.push('>');
        bar.push_str(&" ".repeat(width - filled - 1));
    }
    format!("[{bar}] {:>8}/{}", human_size(current), human_size(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let m = JsonMessage::progress("Downloading", "abc", 500, 1000);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["progressDetail"]["current"], 500);
        assert_eq!(v["id"], "abc");
        assert!(v.get("error").is_none());
        let e = serde_json::to_value(JsonMessage::error("boom")).unwrap();
        assert_eq!(e["errorDetail"]["message"], "boom");
        assert_eq!(e["error"], "boom");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(2_000_000), "2MB");
        assert_eq!(human_size(999), "999B");
    }
}
