//! Builds the library with the `sim` feature, compiles the C programs in `tests/c`
//! and `examples/` with gcc (C99, `-Wall -Wextra -Werror -pedantic`) and g++ (the
//! header as C++), runs them, and runs them again under valgrind
//! (`--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=all`). Needs gcc,
//! g++ and valgrind; a missing tool fails the test with a message.

use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Build the staticlib with `sim` in this test's target dir; return its path.
fn build_library() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/c_programs-xxxx -> target
    let target_dir = exe.ancestors().nth(3).expect("target dir").to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "-p",
            "readerkit-c",
            "--features",
            "sim",
            "--message-format=json",
        ])
        .arg("--manifest-path")
        .arg(crate_dir().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build -p readerkit-c --features sim failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines().filter(|l| l.contains("\"readerkit_c\"")) {
        if let Some(i) = line.find("libreaderkit_c.a\"") {
            let start = line[..i].rfind('"').expect("json string") + 1;
            return PathBuf::from(&line[start..i + "libreaderkit_c.a".len()]);
        }
    }
    panic!("no libreaderkit_c.a in cargo's output");
}

fn need(tool: &str, package: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{tool}` is required by the C tests and was not found; install the Debian package `{package}`"
    );
}

fn compile(compiler: &str, std: &str, source: &Path, lib: &Path, out: &Path) {
    let dir = crate_dir();
    let mut cmd = Command::new(compiler);
    cmd.arg(format!("-std={std}"))
        .args([
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-g",
            "-DRK_FEATURE_SIM",
        ])
        .arg("-I")
        .arg(dir.join("include"))
        .arg("-I")
        .arg(dir.join("tests/c"));
    if compiler == "g++" {
        cmd.args(["-x", "c++"]);
    }
    cmd.arg(source)
        .args(["-x", "none"])
        .arg(lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(out);
    let o = cmd.output().expect("run compiler");
    assert!(
        o.status.success(),
        "{compiler} failed on {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn run(program: &Path, valgrind: bool) -> String {
    let o = if valgrind {
        Command::new("valgrind")
            .args([
                "--error-exitcode=1",
                "--leak-check=full",
                "--errors-for-leak-kinds=all",
                "--quiet",
            ])
            .arg(program)
            .output()
    } else {
        Command::new(program).output()
    }
    .expect("run program");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{} failed (valgrind: {valgrind}): {}\nstdout:\n{stdout}\nstderr:\n{}",
        program.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

#[test]
fn c_programs_against_the_library() {
    need("gcc", "gcc");
    need("g++", "g++");
    need("valgrind", "valgrind");
    let lib = build_library();
    let out_dir = lib.parent().expect("lib dir").join("c-tests");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let dir = crate_dir();
    let programs = [
        (
            "driver_test",
            dir.join("tests/c/driver_test.c"),
            "driver_test: OK",
        ),
        (
            "pinpad_test",
            dir.join("tests/c/pinpad_test.c"),
            "pinpad_test: OK",
        ),
        (
            "bad_input",
            dir.join("tests/c/bad_input.c"),
            "bad_input: OK",
        ),
        (
            "contracts",
            dir.join("tests/c/contracts.c"),
            "contracts: OK",
        ),
        ("log_test", dir.join("tests/c/log_test.c"), "log_test: OK"),
        (
            "deactivation_test",
            dir.join("tests/c/deactivation_test.c"),
            "deactivation_test: OK",
        ),
        (
            "sleep_test",
            dir.join("tests/c/sleep_test.c"),
            "sleep_test: OK",
        ),
        (
            "field_sizes_test",
            dir.join("tests/c/field_sizes_test.c"),
            "field_sizes_test: OK",
        ),
        (
            "minimal_driver",
            dir.join("examples/minimal_driver.c"),
            "minimal_driver: OK",
        ),
    ];
    for (name, source, expect) in &programs {
        let exe = out_dir.join(name);
        compile("gcc", "c99", source, &lib, &exe);
        let out = run(&exe, false);
        assert!(out.contains(expect), "{name}: no {expect:?} in:\n{out}");
        let out = run(&exe, true);
        assert!(
            out.contains(expect),
            "{name} under valgrind: no {expect:?} in:\n{out}"
        );
    }
    // The header (and a driver using it) as C++.
    let exe = out_dir.join("bad_input_cxx");
    compile("g++", "c++11", &dir.join("tests/c/bad_input.c"), &lib, &exe);
    assert!(run(&exe, false).contains("bad_input: OK"));
}
