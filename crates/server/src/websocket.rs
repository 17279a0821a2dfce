//! Attach and exec sessions over a WebSocket (`GET /containers/{id}/attach/ws`).
//!
//! The session runs as over a hijacked connection, against one end of a
//! duplex pipe; this module pumps the other end to the socket. As dockerd
//! does, output is never multiplexed here: stdcopy frames from a non-TTY
//! session are unwrapped and each payload becomes one message (binary from
//! API 1.28 on, text before; stdout and stderr are not told apart, as in
//! Docker). Every data message the client sends is stdin, and a close from
//! it ends stdin; the socket is closed when the session's output ends, and
//! the session is dropped when the client goes away without a close.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use berth_api::backend::container::StreamSession;
use berth_api::stdcopy;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Pipe between the session and the socket pumps.
const PIPE: usize = 64 << 10;
/// Close code for a session that ended normally (RFC 6455 §7.4.1).
const NORMAL_CLOSURE: u16 = 1000;

/// Run `session` over `ws` until its output ends.
pub async fn run(ws: WebSocket, session: StreamSession, binary: bool) {
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let tty = session.tty;
    let pump = tokio::spawn((session.run)(Box::new(theirs)));
    let (mut from_session, mut to_session) = tokio::io::split(ours);
    let (mut tx, mut rx) = ws.split();

    // Ends true when the connection vanished without a close from the client.
    let stdin = async move {
        let gone = loop {
            let data = match rx.next().await {
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(Message::Text(t))) => Bytes::from(t),
                Some(Ok(Message::Close(_))) => break false,
                // axum answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Err(_)) | None => break true,
            };
            if to_session.write_all(&data).await.is_err() {
                break false;
            }
        };
        // Stdin EOF; after a close the output keeps flowing until it ends
        // or the socket refuses it.
        let _ = to_session.shutdown().await;
        gone
    };
    let output = async move {
        let mut frames = stdcopy::Decoder::default();
        let mut buf = vec![0u8; PIPE];
        loop {
            let n = match from_session.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let payloads: Vec<Bytes> = if tty {
                vec![Bytes::copy_from_slice(&buf[..n])]
            } else {
                frames.push(&buf[..n]);
                let mut out = Vec::new();
                while let Ok(Some((_, data))) = frames.next_frame() {
                    out.push(data);
                }
                out
            };
            for data in payloads {
                let msg = if binary {
                    Message::Binary(data)
                } else {
                    Message::Text(Utf8Bytes::from(String::from_utf8_lossy(&data).into_owned()))
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
        }
        let close = CloseFrame {
            code: NORMAL_CLOSURE,
            reason: Utf8Bytes::from_static(""),
        };
        let _ = tx.send(Message::Close(Some(close))).await;
    };
    // Output decides the end, unless the client vanished: then nobody reads
    // it, and a container with nothing more to say must not keep the session.
    let mut stdin = tokio::spawn(stdin);
    tokio::pin!(output);
    tokio::select! {
        () = &mut output => stdin.abort(),
        gone = &mut stdin => {
            if !matches!(gone, Ok(true)) {
                output.await;
            }
        }
    }
    pump.abort();
}
