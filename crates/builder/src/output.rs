//! The build's output: Docker's JSON messages (`stream`, `aux`, `status` of
//! pulls), sent in order to the client. Stages running in parallel each write
//! to their own [`Output`]; [`crate::build`] replays them in stage order so the
//! log reads like a sequential classic build.

use berth_api::types::jsonmessage::JsonMessage;
use tokio::sync::mpsc;

/// Where a build (or one stage of it) writes.
#[derive(Debug, Clone)]
pub struct Output {
    tx: mpsc::UnboundedSender<JsonMessage>,
    quiet: bool,
}

impl Output {
    /// A new output and the receiving end.
    pub fn channel(quiet: bool) -> (Output, mpsc::UnboundedReceiver<JsonMessage>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Output { tx, quiet }, rx)
    }

    /// Text printed as is (`{"stream": …}`); dropped in quiet mode.
    pub fn stream(&self, text: impl Into<String>) {
        if !self.quiet {
            let _ = self.tx.send(JsonMessage::stream(text));
        }
    }

    /// A RUN step's standard error: printed as Docker's classic builder does,
    /// each chunk wrapped in the terminal's bright-red colour codes
    /// (`ESC[91m` … `ESC[0m`), which clients print as is.
    pub fn stream_stderr(&self, text: &str) {
        self.stream(format!("\x1b[91m{text}\x1b[0m"));
    }

    /// Any message (pull progress); dropped in quiet mode.
    pub fn message(&self, m: JsonMessage) {
        if !self.quiet {
            let _ = self.tx.send(m);
        }
    }

    /// Sent even in quiet mode.
    pub fn always(&self, m: JsonMessage) {
        let _ = self.tx.send(m);
    }

    /// `{"aux": {"ID": id}}` (not in quiet mode).
    pub fn aux_id(&self, id: &str) {
        if !self.quiet {
            let _ = self.tx.send(JsonMessage {
                aux: Some(serde_json::json!({ "ID": id })),
                ..Default::default()
            });
        }
    }

    /// Is the receiving end gone (the client disconnected)?
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves when the receiving end is gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    /// Quiet mode?
    pub fn quiet(&self) -> bool {
        self.quiet
    }
}
