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

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::Path;

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// Most bytes of detail appended to one error message.
const MAX_DETAIL: usize = 2048;

/// Install the subscriber writing to `log` (appending). Failure only loses diagnostics.
pub fn init(log: &Path) {
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    else {
        return;
    };
    let level = std::env::var("BERTH_SHIM_LOG")
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::WARN);
    let _ = tracing::subscriber::set_global_default(LineSubscriber { file, level });
}

/// Events as lines (`<time> <LEVEL> <target>: <message> <field>=<value>...`), one
/// write(2) each on an O_APPEND file, so the shim and the runtime's processes can
/// share it. Spans are not recorded (libcontainer's are trace-level).
///
/// By hand rather than tracing-subscriber's fmt: its registry preallocates span
/// storage for 4096 threads, and with its formatting code it cost each shim
/// ~50 KiB of private memory, for a single-threaded process that only writes lines.
struct LineSubscriber {
    file: File,
    level: LevelFilter,
}

impl LineSubscriber {
    fn level_for(&self, target: &str) -> LevelFilter {
        // libcgroups warns about every v1 controller the host does not mount, on
        // every create, exec and delete; that is the host's layout, not news.
        if target.starts_with("libcgroups::v1::manager") && self.level <= LevelFilter::WARN {
            LevelFilter::ERROR.min(self.level)
        } else {
            self.level
        }
    }
}

/// Collects an event's message and fields.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for LineSubscriber {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.enabled(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.is_event() && *meta.level() <= self.level_for(meta.target())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.level)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line::default();
        event.record(&mut line);
        let meta = event.metadata();
        let text = format!(
            "{} {:>5} {}: {}{}\n",
            berth_core::timefmt::now_rfc3339(),
            meta.level(),
            meta.target(),
            line.message,
            line.fields
        );
        let _ = (&self.file).write_all(text.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn errors_since_keeps_new_causes_only() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("shim.log");
        std::fs::write(&log, "old ERROR a: before the mark\n").unwrap();
        let mark = mark(&log);
        let lines = "t ERROR libcontainer::rootfs::device: failed to mknod device err=EEXIST\n\
                     t  WARN x: not an error\n\
                     t ERROR libcontainer::process::init::process: failed to prepare rootfs err=Device\n\
                     t ERROR libcontainer::rootfs::device: failed to mknod device err=EEXIST\n";
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(lines.as_bytes())
            .unwrap();
        let known = "failed to create container: exec process failed with error error in executing process : failed to prepare rootfs";
        assert_eq!(
            errors_since(&log, mark, known),
            "libcontainer::rootfs::device: failed to mknod device err=EEXIST"
        );
        assert_eq!(errors_since(&log, mark + 10_000, known), "");
    }
}
