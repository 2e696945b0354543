//! Embeds the sample events (`events/`, and `expected.tsv`) in the devkit,
//! so a tool built from it (the CLI's `dev-setup`, `seed --sample-events`)
//! needs no source tree beside it.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = manifest.join("../../events").canonicalize().expect("the repository's events/ folder");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("events/ is readable")
        .map(|entry| entry.expect("an entry of events/").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "tsv"))
        .collect();
    files.sort();
    let mut out = String::from(
        "/// Every file of `events/` as it was at build time: (name, text).\npub static FILES: &[(&str, &str)] = &[\n",
    );
    for path in files {
        let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
        writeln!(out, "    ({name:?}, include_str!({:?})),", path.display().to_string())
            .expect("a String takes writes");
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("events.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}
