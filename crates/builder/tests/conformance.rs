//! The front end's conformance corpus: every `tests/dockerfiles/NAME.Dockerfile`
//! parses to exactly `NAME.expected` (berth's syntax tree, or the error Docker
//! would print). `BLESS=1 cargo test -p berth-builder --test conformance`
//! rewrites the expected files after a deliberate change; review the diff.

use std::path::Path;

fn render(text: &str) -> String {
    match berth_builder::dockerfile::parse(text) {
        Ok(df) => format!("{df:#?}\n"),
        Err(e) => format!("ERROR: {e}\n"),
    }
}

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfiles");
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "Dockerfile"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "corpus is missing");
    let mut failed = Vec::new();
    for p in names {
        let got = render(&std::fs::read_to_string(&p).unwrap());
        let exp_path = p.with_extension("expected");
        if bless {
            std::fs::write(&exp_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&exp_path).unwrap_or_default();
        if got != want {
            failed.push(format!(
                "{}:\n--- want\n{want}\n--- got\n{got}",
                p.display()
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
