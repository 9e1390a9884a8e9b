//! The committed header `include/readerkit.h` must be what cbindgen generates now.
//!
//! Regenerate it with
//! `cargo test -p readerkit-c --test header -- --ignored regenerate`.

use std::path::PathBuf;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> String {
    let dir = crate_dir();
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen failed");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("utf-8 header")
}

#[test]
fn header_is_up_to_date() {
    let path = crate_dir().join("include/readerkit.h");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let fresh = generate();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()));
        panic!(
            "{} differs from what cbindgen generates now (first difference at line {}:\n  committed: {:?}\n  generated: {:?}).\n\
             Regenerate it with: cargo test -p readerkit-c --test header -- --ignored regenerate",
            path.display(),
            line + 1,
            committed.lines().nth(line),
            fresh.lines().nth(line),
        );
    }
}

#[test]
#[ignore = "writes include/readerkit.h; run explicitly to regenerate"]
fn regenerate() {
    std::fs::write(crate_dir().join("include/readerkit.h"), generate()).expect("write header");
}
