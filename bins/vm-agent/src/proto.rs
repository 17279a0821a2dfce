//! The host↔agent wire protocol, version [`VERSION`].
//!
//! One byte stream (a virtio-serial port today, a vsock connection later) carries
//! frames: `kind u8 | session u32 LE | len u32 LE | payload`. Session 0 is the VM
//! itself; every process the host runs in the guest gets its own session number, so
//! stdio, signals, resizes and exits of all processes share the stream. Payloads
//! are encoded with [`Enc`]/[`Dec`]: little-endian integers and length-prefixed
//! byte strings, in the field order of each struct.
//!
//! A conversation: agent → `Ready`; host → `Setup`, agent → `Ok`; host →
//! `Run`/`Exec` (session s), agent → `Started` or `Error` (s); then `Stdin`,
//! `StdinClose`, `Signal`, `Resize` from the host and `Stdout`/`Stderr` from the
//! agent, until the agent's `Exit` (s). `DnsQuery`/`DnsReply` relay the guest's
//! queries to 127.0.0.11 to the container's resolver on the host. `Shutdown` powers
//! the VM off. An unknown kind is a protocol error, so both ends must speak the
//! same version: `Ready` carries the agent's and the host refuses others.
//!
//! This file has no dependencies beyond std: it is compiled into the static agent
//! by `build.rs` and into the host side through the `berth-vm-agent` library.

/// Protocol version.
pub const VERSION: u32 = 1;
/// Frame header size.
pub const HEADER: usize = 9;
/// Largest payload accepted.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Largest chunk of process output or stdin put in one frame.
pub const CHUNK: usize = 32 * 1024;

/// Frame kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// agent → host, session 0: [`Ready`].
    Ready = 1,
    /// host → agent, session 0: [`Setup`].
    Setup = 2,
    /// Success of `Setup` (empty payload).
    Ok = 3,
    /// Failure of the request on that session: a UTF-8 message.
    Error = 4,
    /// host → agent: run the container's init, a [`Process`].
    Run = 5,
    /// host → agent: run a process in the running container, a [`Process`].
    Exec = 6,
    /// agent → host: the process runs; payload: guest pid (u32).
    Started = 7,
    /// host → agent: bytes for the process's stdin.
    Stdin = 8,
    /// host → agent: close the process's stdin once what was sent is written.
    StdinClose = 9,
    /// agent → host: process output.
    Stdout = 10,
    /// agent → host: process error output.
    Stderr = 11,
    /// host → agent: send a signal (i32) to the process.
    Signal = 12,
    /// host → agent: terminal size (u16 width, u16 height).
    Resize = 13,
    /// agent → host: the process ended, an [`Exit`]; the session is over.
    Exit = 14,
    /// agent → host: a DNS query (session: relay id), raw message.
    DnsQuery = 15,
    /// host → agent: the answer to the query of that session, raw message.
    DnsReply = 16,
    /// host → agent: kill everything, sync and power off.
    Shutdown = 17,
    /// agent → host: a diagnostic line.
    Log = 18,
}

impl Kind {
    /// From the header byte.
    pub fn from_u8(b: u8) -> Option<Kind> {
        use Kind::*;
        Some(match b {
            1 => Ready,
            2 => Setup,
            3 => Ok,
            4 => Error,
            5 => Run,
            6 => Exec,
            7 => Started,
            8 => Stdin,
            9 => StdinClose,
            10 => Stdout,
            11 => Stderr,
            12 => Signal,
            13 => Resize,
            14 => Exit,
            15 => DnsQuery,
            16 => DnsReply,
            17 => Shutdown,
            18 => Log,
            _ => return None,
        })
    }
}

/// A protocol violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError(pub String);

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vm agent protocol: {}", self.0)
    }
}

impl std::error::Error for ProtoError {}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Kind.
    pub kind: Kind,
    /// Session (0: the VM).
    pub session: u32,
    /// Payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// A frame.
    pub fn new(kind: Kind, session: u32, payload: Vec<u8>) -> Frame {
        Frame {
            kind,
            session,
            payload,
        }
    }

    /// Append the encoded frame to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.kind as u8);
        out.extend_from_slice(&self.session.to_le_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.payload);
    }

    /// The encoded frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER + self.payload.len());
        self.encode_into(&mut v);
        v
    }

    /// Parse one frame from the front of `buf`: the frame and the bytes it used, or
    /// `None` when more bytes are needed.
    pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtoError> {
        if buf.len() < HEADER {
            return Ok(None);
        }
        let kind = Kind::from_u8(buf[0])
            .ok_or_else(|| ProtoError(format!("unknown frame kind {}", buf[0])))?;
        let session = u32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]);
        let len = u32::from_le_bytes([buf[5], buf[6], buf[7], buf[8]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(ProtoError(format!("frame of {len} bytes")));
        }
        if buf.len() < HEADER + len {
            return Ok(None);
        }
        let payload = buf[HEADER..HEADER + len].to_vec();
        Ok(Some((Frame::new(kind, session, payload), HEADER + len)))
    }
}

/// Payload encoder.
#[derive(Debug, Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    /// A u8.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    /// A bool as one byte.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(v as u8)
    }
    /// A u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// An i32.
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Length-prefixed bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
        self
    }
    /// A string.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    /// A list of strings.
    pub fn strs(&mut self, v: &[String]) -> &mut Self {
        self.u32(v.len() as u32);
        for s in v {
            self.str(s);
        }
        self
    }
    /// The encoded bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// Payload decoder.
#[derive(Debug)]
pub struct Dec<'a> {
    buf: &'a [u8],
}

impl<'a> Dec<'a> {
    /// Decode `buf`.
    pub fn new(buf: &'a [u8]) -> Dec<'a> {
        Dec { buf }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.buf.len() < n {
            return Err(ProtoError("truncated payload".into()));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    /// A u8.
    pub fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take(1)?[0])
    }
    /// A bool.
    pub fn bool(&mut self) -> Result<bool, ProtoError> {
        Ok(self.u8()? != 0)
    }
    /// A u16.
    pub fn u16(&mut self) -> Result<u16, ProtoError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    /// A u32.
    pub fn u32(&mut self) -> Result<u32, ProtoError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// An i32.
    pub fn i32(&mut self) -> Result<i32, ProtoError> {
        Ok(self.u32()? as i32)
    }
    /// A u64.
    pub fn u64(&mut self) -> Result<u64, ProtoError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// Length-prefixed bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], ProtoError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// A string.
    pub fn str(&mut self) -> Result<String, ProtoError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| ProtoError("invalid UTF-8".into()))
    }
    /// A list of strings.
    pub fn strs(&mut self) -> Result<Vec<String>, ProtoError> {
        let n = self.u32()? as usize;
        if n > MAX_PAYLOAD / 4 {
            return Err(ProtoError("list too long".into()));
        }
        (0..n).map(|_| self.str()).collect()
    }
    /// A list of `T`.
    pub fn list<T>(
        &mut self,
        f: impl Fn(&mut Dec<'a>) -> Result<T, ProtoError>,
    ) -> Result<Vec<T>, ProtoError> {
        let n = self.u32()? as usize;
        if n > MAX_PAYLOAD / 4 {
            return Err(ProtoError("list too long".into()));
        }
        (0..n).map(|_| f(self)).collect()
    }
}

/// `Ready`: the agent is up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready {
    /// The agent's protocol version.
    pub version: u32,
    /// The guest kernel's release (`uname -r`).
    pub kernel: String,
    /// Guest uptime when the agent was ready, in ms.
    pub uptime_ms: u64,
}

impl Ready {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        Enc::default()
            .u32(self.version)
            .str(&self.kernel)
            .u64(self.uptime_ms)
            .finish()
    }
    /// Decode.
    pub fn decode(b: &[u8]) -> Result<Ready, ProtoError> {
        let mut d = Dec::new(b);
        Ok(Ready {
            version: d.u32()?,
            kernel: d.str()?,
            uptime_ms: d.u64()?,
        })
    }
}

/// A host directory shared with the guest (virtio-9p tag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Share {
    /// The mount tag; the agent mounts it at `/shares/<tag>` (`rootfs`: at `/rootfs`).
    pub tag: String,
    /// Mount read-only.
    pub readonly: bool,
}

/// One mount of the container, in order, relative to its root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    /// Destination inside the container.
    pub dest: String,
    /// Filesystem type; `bind` binds `source`, a path in the guest
    /// (`/shares/<tag>[/<file>]`, or `/dev/pts` for the terminal devices).
    pub fstype: String,
    /// Source (device name for filesystems, guest path for binds).
    pub source: String,
    /// `MS_*` flags.
    pub flags: u64,
    /// Filesystem data (`mode=755,size=65536k`).
    pub data: String,
}

impl Mount {
    fn encode(&self, e: &mut Enc) {
        e.str(&self.dest)
            .str(&self.fstype)
            .str(&self.source)
            .u64(self.flags)
            .str(&self.data);
    }
    fn decode(d: &mut Dec<'_>) -> Result<Mount, ProtoError> {
        Ok(Mount {
            dest: d.str()?,
            fstype: d.str()?,
            source: d.str()?,
            flags: d.u64()?,
            data: d.str()?,
        })
    }
}

/// A network interface the guest configures, found by its MAC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Iface {
    /// MAC (`02:42:…`).
    pub mac: String,
    /// Name in the guest (`eth0`).
    pub name: String,
    /// Addresses with prefix (`10.1.0.2/24`, `fd00::2/64`).
    pub addrs: Vec<String>,
    /// MTU (0: leave).
    pub mtu: u32,
}

/// A route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Destination with prefix (`0.0.0.0/0` for the default route).
    pub dest: String,
    /// Gateway, empty for on-link.
    pub gateway: String,
    /// Interface name in the guest.
    pub iface: String,
}

/// `Setup`: everything the container needs before its init runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// Shares to mount (the root filesystem is tag `rootfs`).
    pub shares: Vec<Share>,
    /// Container mounts in order.
    pub mounts: Vec<Mount>,
    /// Remount the root read-only.
    pub readonly_rootfs: bool,
    /// Paths hidden from the container.
    pub masked: Vec<String>,
    /// Paths made read-only.
    pub readonly_paths: Vec<String>,
    /// Device nodes of the guest's `/dev` to bind into the container's `/dev`.
    pub devices: Vec<String>,
    /// Hostname.
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// Network interfaces.
    pub ifaces: Vec<Iface>,
    /// Routes.
    pub routes: Vec<Route>,
    /// `net.*` and other namespaced sysctls (key with dots, value).
    pub sysctls: Vec<(String, String)>,
}

impl Setup {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u32(self.shares.len() as u32);
        for s in &self.shares {
            e.str(&s.tag).bool(s.readonly);
        }
        e.u32(self.mounts.len() as u32);
        for m in &self.mounts {
            m.encode(&mut e);
        }
        e.bool(self.readonly_rootfs)
            .strs(&self.masked)
            .strs(&self.readonly_paths)
            .strs(&self.devices)
            .str(&self.hostname)
            .str(&self.domainname);
        e.u32(self.ifaces.len() as u32);
        for i in &self.ifaces {
            e.str(&i.mac).str(&i.name).strs(&i.addrs).u32(i.mtu);
        }
        e.u32(self.routes.len() as u32);
        for r in &self.routes {
            e.str(&r.dest).str(&r.gateway).str(&r.iface);
        }
        e.u32(self.sysctls.len() as u32);
        for (k, v) in &self.sysctls {
            e.str(k).str(v);
        }
        e.finish()
    }

    /// Decode.
    pub fn decode(b: &[u8]) -> Result<Setup, ProtoError> {
        let mut d = Dec::new(b);
        Ok(Setup {
            shares: d.list(|d| {
                Ok(Share {
                    tag: d.str()?,
                    readonly: d.bool()?,
                })
            })?,
            mounts: d.list(Mount::decode)?,
            readonly_rootfs: d.bool()?,
            masked: d.strs()?,
            readonly_paths: d.strs()?,
            devices: d.strs()?,
            hostname: d.str()?,
            domainname: d.str()?,
            ifaces: d.list(|d| {
                Ok(Iface {
                    mac: d.str()?,
                    name: d.str()?,
                    addrs: d.strs()?,
                    mtu: d.u32()?,
                })
            })?,
            routes: d.list(|d| {
                Ok(Route {
                    dest: d.str()?,
                    gateway: d.str()?,
                    iface: d.str()?,
                })
            })?,
            sysctls: d.list(|d| Ok((d.str()?, d.str()?)))?,
        })
    }
}

/// Capability sets as bit masks (bit n = capability n).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    /// Bounding set.
    pub bounding: u64,
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
    /// Ambient set.
    pub ambient: u64,
}

/// A resource limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rlimit {
    /// `RLIMIT_*` number.
    pub resource: u32,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// A process to run (`Run`, `Exec`): the OCI process, translated by the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    /// argv; `args[0]` is looked up in the `PATH` of `env` inside the container.
    pub args: Vec<String>,
    /// `KEY=value` environment.
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: String,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub gids: Vec<u32>,
    /// Allocate a terminal.
    pub terminal: bool,
    /// Keep stdin open (`Stdin` frames); otherwise stdin is `/dev/null`.
    pub stdin: bool,
    /// Capabilities.
    pub caps: Caps,
    /// `no_new_privs`.
    pub no_new_privs: bool,
    /// Resource limits.
    pub rlimits: Vec<Rlimit>,
    /// Initial terminal width and height (0: unset).
    pub size: (u16, u16),
}

impl Process {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.strs(&self.args)
            .strs(&self.env)
            .str(&self.cwd)
            .u32(self.uid)
            .u32(self.gid)
            .u32(self.gids.len() as u32);
        for g in &self.gids {
            e.u32(*g);
        }
        e.bool(self.terminal)
            .bool(self.stdin)
            .u64(self.caps.bounding)
            .u64(self.caps.effective)
            .u64(self.caps.permitted)
            .u64(self.caps.inheritable)
            .u64(self.caps.ambient)
            .bool(self.no_new_privs)
            .u32(self.rlimits.len() as u32);
        for r in &self.rlimits {
            e.u32(r.resource).u64(r.soft).u64(r.hard);
        }
        e.u16(self.size.0).u16(self.size.1).finish()
    }

    /// Decode.
    pub fn decode(b: &[u8]) -> Result<Process, ProtoError> {
        let mut d = Dec::new(b);
        Ok(Process {
            args: d.strs()?,
            env: d.strs()?,
            cwd: d.str()?,
            uid: d.u32()?,
            gid: d.u32()?,
            gids: d.list(|d| d.u32())?,
            terminal: d.bool()?,
            stdin: d.bool()?,
            caps: Caps {
                bounding: d.u64()?,
                effective: d.u64()?,
                permitted: d.u64()?,
                inheritable: d.u64()?,
                ambient: d.u64()?,
            },
            no_new_privs: d.bool()?,
            rlimits: d.list(|d| {
                Ok(Rlimit {
                    resource: d.u32()?,
                    soft: d.u64()?,
                    hard: d.u64()?,
                })
            })?,
            size: (d.u16()?, d.u16()?),
        })
    }
}

/// `Exit`: how a process ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exit {
    /// Exit code (0–255), or 128 + signal.
    pub code: i32,
    /// The signal that killed it, 0 if none.
    pub signal: i32,
}

impl Exit {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        Enc::default().i32(self.code).i32(self.signal).finish()
    }
    /// Decode.
    pub fn decode(b: &[u8]) -> Result<Exit, ProtoError> {
        let mut d = Dec::new(b);
        Ok(Exit {
            code: d.i32()?,
            signal: d.i32()?,
        })
    }
    /// From a `waitpid` status.
    pub fn from_wait(status: i32) -> Exit {
        let sig = status & 0x7f;
        if sig == 0 {
            Exit {
                code: (status >> 8) & 0xff,
                signal: 0,
            }
        } else {
            Exit {
                code: 128 + sig,
                signal: sig,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split() {
        let f = Frame::new(Kind::Stdout, 7, b"hello".to_vec());
        let mut b = f.encode();
        assert_eq!(b.len(), HEADER + 5);
        assert_eq!(Frame::parse(&b[..HEADER + 2]).unwrap(), None);
        b.extend_from_slice(&Frame::new(Kind::Exit, 7, Exit::from_wait(3 << 8).encode()).encode());
        let (g, n) = Frame::parse(&b).unwrap().unwrap();
        assert_eq!(g, f);
        let (e, _) = Frame::parse(&b[n..]).unwrap().unwrap();
        assert_eq!(
            Exit::decode(&e.payload).unwrap(),
            Exit { code: 3, signal: 0 }
        );
        assert!(Frame::parse(&[99, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn payloads_round_trip() {
        let s = Setup {
            shares: vec![Share {
                tag: "rootfs".into(),
                readonly: false,
            }],
            mounts: vec![Mount {
                dest: "/proc".into(),
                fstype: "proc".into(),
                source: "proc".into(),
                flags: 14,
                data: String::new(),
            }],
            hostname: "h".into(),
            ifaces: vec![Iface {
                mac: "02:42:0a:00:00:02".into(),
                name: "eth0".into(),
                addrs: vec!["10.0.0.2/24".into()],
                mtu: 1500,
            }],
            routes: vec![Route {
                dest: "0.0.0.0/0".into(),
                gateway: "10.0.0.1".into(),
                iface: "eth0".into(),
            }],
            sysctls: vec![("net.ipv4.ip_forward".into(), "1".into())],
            ..Setup::default()
        };
        assert_eq!(Setup::decode(&s.encode()).unwrap(), s);
        let p = Process {
            args: vec!["sh".into(), "-c".into(), "exit 3".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            gids: vec![1, 2],
            caps: Caps {
                bounding: 5,
                ..Caps::default()
            },
            rlimits: vec![Rlimit {
                resource: 7,
                soft: 1024,
                hard: 2048,
            }],
            size: (80, 24),
            ..Process::default()
        };
        assert_eq!(Process::decode(&p.encode()).unwrap(), p);
        assert_eq!(
            Exit::from_wait(9),
            Exit {
                code: 137,
                signal: 9
            }
        );
        let r = Ready {
            version: VERSION,
            kernel: "6.1".into(),
            uptime_ms: 2300,
        };
        assert_eq!(Ready::decode(&r.encode()).unwrap(), r);
    }
}
