//! Unit tests of layer application, including a corpus of hostile archives.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use super::*;

/// One archive entry for the test builder.
pub enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Fifo(&'a str),
    Char(&'a str, u32, u32),
}

fn header(name: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    // Raw bytes so that hostile names ("../x", "/abs") are written as given.
    let gnu = h.as_gnu_mut().expect("gnu");
    gnu.name = [0; 100];
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_mtime(1_000_000);
    h
}

/// Build a tar from entries.
pub fn tar_of(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (mut h, data): (tar::Header, &[u8]) = match e {
            E::Dir(p) => (header(p, tar::EntryType::Directory, 0, 0o755), b""),
            E::File(p, d) => (
                header(p, tar::EntryType::Regular, d.len() as u64, 0o4755),
                d,
            ),
            E::Sym(p, t) | E::Hard(p, t) => {
                let kind = if matches!(e, E::Sym(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = header(p, kind, 0, 0o777);
                let gnu = h.as_gnu_mut().expect("gnu");
                gnu.linkname = [0; 100];
                gnu.linkname[..t.len()].copy_from_slice(t.as_bytes());
                (h, b"")
            }
            E::Fifo(p) => (header(p, tar::EntryType::Fifo, 0, 0o640), b""),
            E::Char(p, ma, mi) => {
                let mut h = header(p, tar::EntryType::Char, 0, 0o666);
                h.set_device_major(*ma).unwrap();
                h.set_device_minor(*mi).unwrap();
                (h, b"")
            }
        };
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn unpacks_all_kinds_and_whiteouts() {
    let dir = tempfile::tempdir().unwrap();
    let t = tar_of(&[
        E::Dir("etc/"),
        E::File("etc/passwd", b"root"),
        E::File("bin/busybox", b"ELF"), // parent created implicitly
        E::Sym("bin/sh", "busybox"),
        E::Sym("etc/localtime", "/usr/share/zoneinfo/UTC"),
        E::Hard("bin/ash", "bin/busybox"),
        E::Fifo("run/fifo"),
        E::Char("dev/null", 1, 3),
        E::File("etc/.wh.motd", b""),
        E::Dir("var/cache/"),
        E::File("var/cache/.wh..wh..opq", b""),
    ]);
    let applied = apply_layer(&gz(&t)[..], dir.path(), WhiteoutMode::Overlay).unwrap();
    assert_eq!(applied.diff_id, Digest::of(&t));
    assert_eq!(applied.tar_size, t.len() as u64);
    let p = dir.path();
    let md = fs::metadata(p.join("etc/passwd")).unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.permissions().mode() & 0o7777),
        (1234, 5678, 0o4755)
    );
    assert_eq!(
        fs::read_link(p.join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    assert_eq!(
        fs::metadata(p.join("bin/ash")).unwrap().ino(),
        fs::metadata(p.join("bin/busybox")).unwrap().ino()
    );
    assert!(
        fs::symlink_metadata(p.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let null = fs::symlink_metadata(p.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    let wh = fs::symlink_metadata(p.join("etc/motd")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    let mut v = [0u8; 4];
    let n = rustix::fs::getxattr(p.join("var/cache"), OPAQUE_XATTR, &mut v[..]).unwrap();
    assert_eq!(&v[..n], b"y");
    assert_eq!(fs::metadata(p.join("etc")).unwrap().mtime(), 1_000_000);
}

#[test]
fn apply_mode_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    apply_layer(
        &tar_of(&[
            E::File("a/x", b"1"),
            E::File("a/y", b"2"),
            E::File("b/z", b"3"),
            E::File("c", b"4"),
        ])[..],
        p,
        WhiteoutMode::Apply,
    )
    .unwrap();
    apply_layer(
        &tar_of(&[
            E::File("a/.wh..wh..opq", b""),
            E::File("a/new", b"n"),
            E::File(".wh.c", b""),
            E::File("b/.wh.z", b""),
        ])[..],
        p,
        WhiteoutMode::Apply,
    )
    .unwrap();
    assert!(p.join("a/new").exists() && !p.join("a/x").exists() && !p.join("a/y").exists());
    assert!(!p.join("c").exists() && !p.join("b/z").exists() && p.join("b").exists());
}

#[test]
fn zstd_and_plain() {
    let t = tar_of(&[E::File("f", b"data")]);
    for input in [t.clone(), zstd::encode_all(&t[..], 3).unwrap()] {
        let dir = tempfile::tempdir().unwrap();
        let a = apply_layer(&input[..], dir.path(), WhiteoutMode::Overlay).unwrap();
        assert_eq!(a.diff_id, Digest::of(&t));
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"data");
    }
}

/// Every trick must fail the layer and leave the outside untouched.
#[test]
fn hostile_corpus_is_refused() {
    let outer = tempfile::tempdir().unwrap();
    let outside = outer.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let out = outside.to_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", tar_of(&[E::File("../escape", b"x")])),
        ("dotdot-deep", tar_of(&[E::File("a/../../escape", b"x")])),
        ("absolute", tar_of(&[E::File(&format!("{out}/abs"), b"x")])),
        (
            "symlink-then-write",
            tar_of(&[E::Sym("lnk", &out), E::File("lnk/pwned", b"x")]),
        ),
        (
            "relative-escape-symlink",
            tar_of(&[E::Sym("rel", "../../../../../../../../")]),
        ),
        (
            "symlink-dir-swap",
            tar_of(&[E::Dir("d/"), E::Sym("d", &out), E::File("d/pwned", b"x")]),
        ),
        (
            "hardlink-outside",
            tar_of(&[E::Hard("h", &format!("{out}/secret"))]),
        ),
        (
            "hardlink-dotdot",
            tar_of(&[E::Hard("h", "../outside/secret")]),
        ),
        (
            "hardlink-through-symlink",
            tar_of(&[E::Sym("s", &out), E::Hard("h", "s/secret")]),
        ),
        (
            "whiteout-through-symlink",
            tar_of(&[E::Sym("s", &out), E::File("s/.wh.secret", b"")]),
        ),
        (
            "opaque-through-symlink",
            tar_of(&[E::Sym("s", &out), E::File("s/.wh..wh..opq", b"")]),
        ),
    ];
    fs::write(outside.join("secret"), b"keep").unwrap();
    for (name, t) in cases {
        let dest = outer.path().join(format!("dest-{name}"));
        fs::create_dir(&dest).unwrap();
        for mode in [WhiteoutMode::Overlay, WhiteoutMode::Apply] {
            let err = apply_layer(&t[..], &dest, mode).expect_err(name);
            assert!(matches!(err, ImageError::Hostile { .. }), "{name}: {err}");
        }
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            1,
            "{name} wrote outside"
        );
        assert_eq!(fs::read(outside.join("secret")).unwrap(), b"keep", "{name}");
    }
}

#[test]
fn truncated_gzip_is_refused() {
    let t = tar_of(&[E::File("big", &vec![7u8; 200_000])]);
    let z = gz(&t);
    let dir = tempfile::tempdir().unwrap();
    let err = apply_layer(&z[..z.len() / 2], dir.path(), WhiteoutMode::Overlay).unwrap_err();
    assert!(matches!(err, ImageError::BadContent(_)), "{err}");
}
