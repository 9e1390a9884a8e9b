//! The READMEs name what exists: every repository path they write in code
//! (`host-readers/src/serial/mod.rs`, `tests/c/check.h`, `./tools/demo.sh`), read
//! from the repository root or from the README's own folder, is a file or folder
//! of the tree, and every test they name by its path (`tracking::tests::NAME`) is a
//! function of the workspace. Build outputs (`target/...`), absolute paths and
//! patterns (`corpus/TARGET/seed-*`) are not checked. The tables that map the tree
//! match it: a README's module table lists every public module of its crate (the
//! top README's, the core's), and the top README's crate table every folder the
//! workspace's `Cargo.toml` names.

use std::fs;
use std::path::{Path, PathBuf};

/// The repository root (this crate is `testkit/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ has a parent")
        .to_path_buf()
}

/// The top-level Markdown files and every README one or two folders down.
fn readmes(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![(root.to_path_buf(), 0)];
    while let Some((folder, depth)) = folders.pop() {
        for entry in fs::read_dir(&folder).expect("read a folder") {
            let path = entry.expect("a folder entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if depth < 2 && !name.starts_with('.') && name != "target" {
                    folders.push((path, depth + 1));
                }
            } else if (depth == 0 && name.ends_with(".md")) || name == "README.md" {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every `.rs` file's text under `folder` (build outputs and `.git` left out).
fn rust_sources(folder: &Path, texts: &mut Vec<String>) {
    for entry in fs::read_dir(folder).expect("read a folder") {
        let path = entry.expect("a folder entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                rust_sources(&path, texts);
            }
        } else if name.ends_with(".rs") {
            texts.push(fs::read_to_string(&path).expect("read a Rust file"));
        }
    }
}

/// The characters of a repository path as the READMEs write them.
fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// Whether `word` is a repository path: relative, with a folder, and ending in a
/// file name with an extension or (`dirs`) in a `/`.
fn is_repository_path(word: &str, dirs: bool) -> bool {
    let last = word.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    !word.is_empty()
        && word.chars().all(path_char)
        && word.contains('/')
        && !word.starts_with('/')
        && !word.trim_start_matches("./").starts_with("target/")
        && !word.contains("...")
        && (last.contains('.') || (dirs && word.ends_with('/')))
}

/// `dir/{a,b}.rs` as `dir/a.rs` and `dir/b.rs` (one brace group); any other
/// text as itself.
fn expand_braces(text: &str) -> Vec<String> {
    let group = text.split_once('{').and_then(|(head, rest)| {
        let (choices, tail) = rest.split_once('}')?;
        Some((head, choices, tail))
    });
    match group {
        Some((head, choices, tail)) => choices
            .split(',')
            .map(|choice| format!("{head}{choice}{tail}"))
            .collect(),
        None => vec![text.to_owned()],
    }
}

/// What one README names: repository paths and tests.
#[derive(Default)]
struct Names {
    paths: Vec<String>,
    tests: Vec<String>,
}

fn names_in(text: &str) -> Names {
    let mut names = Names::default();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            // A command: any word that is a path to a file.
            let words = line.split(|c: char| !path_char(c));
            let paths = words.filter(|w| is_repository_path(w, false));
            names.paths.extend(paths.map(str::to_owned));
            continue;
        }
        // Code spans: the odd pieces between backticks.
        for span in line.split('`').skip(1).step_by(2) {
            let paths = expand_braces(span);
            if paths.iter().all(|p| is_repository_path(p, true)) {
                names.paths.extend(paths);
            } else if let Some((_, test)) = span.split_once("::tests::") {
                if test.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    names.tests.push(test.to_owned());
                }
            }
        }
    }
    names
}

#[test]
fn every_path_and_test_a_readme_names_exists() {
    let root = root();
    let mut sources = Vec::new();
    rust_sources(&root, &mut sources);
    let readmes = readmes(&root);
    assert!(
        readmes.len() >= 10,
        "the READMEs: {readmes:?} (the search went wrong)"
    );
    let mut missing = Vec::new();
    let mut checked = 0;
    for readme in &readmes {
        let text = fs::read_to_string(readme).expect("read a README");
        let folder = readme.parent().expect("a README's folder");
        let shown = readme.strip_prefix(&root).unwrap_or(readme).display();
        let names = names_in(&text);
        for path in &names.paths {
            checked += 1;
            if !root.join(path).exists() && !folder.join(path).exists() {
                missing.push(format!("{shown}: no file or folder `{path}`"));
            }
        }
        for test in &names.tests {
            checked += 1;
            let defined = format!("fn {test}(");
            if !sources.iter().any(|s| s.contains(&defined)) {
                missing.push(format!("{shown}: no test function `{test}`"));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} names found: the scan went wrong"
    );
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn paths_are_told_from_other_code() {
    let names = names_in(
        "`core/src/line.rs`, `firmware/`, `./tools/demo.sh`, `x::tests::a_b`, `d/{e,f}.rs`\n\
         `target/debug/x.so`, `/usr/lib/x.so`, `corpus/TARGET/seed-*`, `T=0/T=1`\n\
         `rk_status_to_ntstatus/_win32`, `https://e.org/a.html`, `cargo test -p a`\n\
         ```sh\n./bindings-c/build.sh --out target/x/y.a -Ia/b /etc/x.conf\n```\n",
    );
    assert_eq!(
        names.paths,
        [
            "core/src/line.rs",
            "firmware/",
            "./tools/demo.sh",
            "d/e.rs",
            "d/f.rs",
            "./bindings-c/build.sh"
        ]
    );
    assert_eq!(names.tests, ["a_b"]);
}

/// The backticked words of the first cell of each row of every table whose header
/// row starts with `| HEADER |`.
fn first_column(text: &str, header: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if line.starts_with(&format!("| {header} |")) {
            in_table = true;
            continue;
        }
        let first = line.split('|').nth(1).unwrap_or("");
        if in_table && !first.trim_start().starts_with("---") {
            let spans = first.split('`').skip(1).step_by(2);
            words.extend(spans.map(str::to_owned));
        }
    }
    words
}

/// The `pub mod NAME;` lines of a crate root (feature-gated ones included).
fn public_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_module_table_lists_every_public_module() {
    let root = root();
    let mut tables = 0;
    let mut missing = Vec::new();
    for readme in readmes(&root) {
        let text = fs::read_to_string(&readme).expect("read a README");
        let listed = first_column(&text, "module");
        if listed.is_empty() {
            continue;
        }
        tables += 1;
        let folder = readme.parent().expect("a README's folder");
        let crate_folder = if folder == root {
            root.join("core")
        } else {
            folder.to_path_buf()
        };
        let lib = fs::read_to_string(crate_folder.join("src/lib.rs")).expect("read lib.rs");
        let shown = readme.strip_prefix(&root).unwrap_or(&readme).display();
        for module in public_modules(&lib) {
            if !listed.contains(&module) {
                missing.push(format!("{shown}: module `{module}` not in its table"));
            }
        }
    }
    assert!(tables >= 5, "only {tables} module tables found");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_crate_table_names_every_workspace_folder() {
    let root = root();
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let readme = fs::read_to_string(root.join("README.md")).expect("read README.md");
    let listed = first_column(&readme, "folder");
    let folders: Vec<&str> = manifest
        .lines()
        .filter(|l| l.starts_with("members") || l.starts_with("exclude"))
        .flat_map(|l| l.split('"').skip(1).step_by(2))
        .collect();
    assert!(folders.len() >= 10, "the workspace's folders: {folders:?}");
    for folder in folders {
        // An excluded workspace inside a member's folder is described with it.
        let top = folder.split('/').next().unwrap_or(folder);
        assert!(
            listed.contains(&format!("{top}/")),
            "README.md's crate table has no row for `{top}/`"
        );
    }
}

#[test]
fn the_fuzz_readme_describes_every_target() {
    let fuzz = root().join("fuzz");
    let manifest = fs::read_to_string(fuzz.join("Cargo.toml")).expect("read fuzz/Cargo.toml");
    let readme = fs::read_to_string(fuzz.join("README.md")).expect("read fuzz/README.md");
    let described = first_column(&readme, "target | what it drives");
    // Each target is a `[[bin]]` whose name is the line after the section header.
    let mut lines = manifest.lines();
    let mut targets = Vec::new();
    while let Some(line) = lines.next() {
        if line.trim() == "[[bin]]" {
            let name = lines.next().and_then(|l| l.split('"').nth(1));
            targets.push(name.expect("a [[bin]] starts with its name"));
        }
    }
    assert!(targets.len() >= 10, "the fuzz targets: {targets:?}");
    for target in targets {
        assert!(
            described.iter().any(|d| d == target),
            "fuzz/README.md's target table has no row for `{target}`"
        );
    }
}

#[test]
fn crate_docs_with_layers_link_every_public_module() {
    let root = root();
    let mut listed = 0;
    for entry in fs::read_dir(&root).expect("read the root") {
        let lib_path = entry.expect("a folder entry").path().join("src/lib.rs");
        let Ok(lib) = fs::read_to_string(&lib_path) else {
            continue;
        };
        // `//!` lines and `doc = "..."` attributes (a link only some features make).
        let docs: Vec<&str> = lib
            .lines()
            .filter_map(|l| {
                l.strip_prefix("//!")
                    .or_else(|| l.split_once("doc = \"").map(|d| d.1))
            })
            .collect();
        if !docs.iter().any(|l| l.starts_with(" ## Layers")) {
            continue;
        }
        listed += 1;
        let docs = docs.join("\n");
        for module in public_modules(&lib) {
            assert!(
                docs.contains(&format!("[`{module}`]")),
                "{}: the crate docs do not link the module `{module}`",
                lib_path.display()
            );
        }
    }
    assert!(listed >= 2, "only {listed} crate roots list their layers");
}

#[test]
fn table_cells_are_read_from_the_first_column() {
    let text = "| module | what |\n| --- | --- |\n| `a`, `b` | `c` |\n| `d` (feature `e`) | f |\n\n\
                | other | x |\n| `g` | h |\n";
    assert_eq!(first_column(text, "module"), ["a", "b", "d", "e"]);
    assert_eq!(
        public_modules("pub mod a;\nmod b;\n#[cfg(x)]\npub mod c;\n"),
        ["a", "c"]
    );
}
