//! libcontainer's diagnostics: its `tracing` events (from the shim and from the
//! container's intermediate and init processes, which inherit the subscriber across
//! clone) go to `shim.log`, and the ERROR lines logged while a container is being
//! created are appended to the error the daemon receives. libcontainer passes an
//! init failure back as its top-level message only ("failed to prepare rootfs");
//! the cause (which mount, which device, which errno) is only in these events.
//!
//! The log file gets a descriptor of its own (close-on-exec): the init process points
//! fd 2 at the container's stderr before it prepares the rootfs, so writing events to
//! stderr would put them into the container's output.
//!
//! The level is `warn` unless `BERTH_SHIM_LOG` names another (`error`, `info`,
//! `debug`, `trace`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Most bytes of detail appended to one error message.
const MAX_DETAIL: usize = 2048;

/// Install the subscriber writing to `log` (appending). Failure only loses diagnostics.
pub fn init(log: &Path) {
    let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(log) else {
        return;
    };
    let level = std::env::var("BERTH_SHIM_LOG")
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::WARN);
    // libcgroups warns about every v1 controller the host does not mount, on
    // every create, exec and delete; that is the host's layout, not news.
    let cgroups = if level > LevelFilter::WARN {
        level
    } else {
        LevelFilter::ERROR.min(level)
    };
    let filter = Targets::new()
        .with_default(level)
        .with_target("libcgroups::v1::manager", cgroups);
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file));
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

/// The current end of `log`: pass it to [`errors_since`] after a failed operation.
pub fn mark(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// The distinct ERROR events logged to `log` after `offset`, without timestamps,
/// joined with "; " (empty when there are none). Events that only repeat `known`
/// (the error being reported) are left out.
pub fn errors_since(log: &Path, offset: u64, known: &str) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(log)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = f.take(1 << 20).read_to_string(&mut text);
    }
    // The parts of the error chain; an event mentioning one only relays the error
    // up the process chain (init → intermediate → main) and adds nothing.
    let parts: Vec<&str> = known
        .split(": ")
        .flat_map(|p| p.split(" : "))
        .map(str::trim)
        .filter(|p| p.len() >= 16)
        .collect();
    let mut all: Vec<&str> = Vec::new();
    let mut new: Vec<&str> = Vec::new();
    for line in text.lines() {
        let Some((_, msg)) = line.split_once(" ERROR ") else {
            continue;
        };
        let msg = msg.trim();
        if all.contains(&msg) {
            continue;
        }
        all.push(msg);
        // `target: text`: the text alone decides whether it says anything new.
        let text = msg.split_once(": ").map_or(msg, |(_, t)| t);
        if !known.contains(text) && !parts.iter().any(|p| text.contains(p)) {
            new.push(msg);
        }
    }
    let mut out = if new.is_empty() { all } else { new }.join("; ");
    if out.len() > MAX_DETAIL {
        let mut end = MAX_DETAIL;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}
