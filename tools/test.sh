#!/usr/bin/env bash
# The test suite: what CI runs and what a developer runs before pushing.
#   ./tools/test.sh           everything
#   FUZZ_SECONDS=60 ./tools/test.sh   longer fuzz smoke runs (default 10 s per target)
# It installs what it needs that is missing (Debian packages when run as root, the
# thumbv7em target, the nightly toolchain with rust-src, clippy and miri, cargo-fuzz,
# cargo-deb) and says so; a check whose tools cannot be had fails, it is never
# reported as passed.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/debs.sh

step() { printf '\n=== %s\n' "$*"; }
fuzz_seconds=${FUZZ_SECONDS:-10}
embedded_target=thumbv7em-none-eabihf

# The ATR corpus test reads Debian's pcsc-tools list of known ATRs.
ensure_debs test "ATR corpus" pcsc-tools ||
  echo "note: the ATR corpus test fails without /usr/share/pcsc/smartcard_list.txt"

# The pcsc-lite binding's end-to-end tests run Debian's pcscd with real clients
# (pyscard, the pcsc crate, pcsc_scan, OpenSC's opensc-tool and opensc-explorer) and
# vsmartcard's vicc, which imports
# pycryptodome as `Crypto` (Debian's python3-pycryptodome ships it as `Cryptodome`;
# the tests' vicc launcher maps one name onto the other).
# The C binding's tests compile C programs with gcc/g++ and run them under valgrind;
# llvm gives llvm-size for the firmware size check; usbip (Debian's USB/IP tool)
# lists the device `readerkit usbip-serve` exports.
pcsc_pkgs=(pcscd libccid usbip libpcsclite-dev dpkg-dev binutils pcsc-tools python3-pyscard python3-pycryptodome vsmartcard-vpcd vsmartcard-vpicc python3-virtualsmartcard opensc systemd pkg-config gcc g++ valgrind llvm)
ensure_debs test "pcscd end-to-end and C tests" "${pcsc_pkgs[@]}" ||
  echo "note: the pcscd end-to-end and C tests fail without them"

# The nightly toolchain (with rust-src) builds the WDM sample kernel image
# (-Zbuild-std) and runs cargo-fuzz.
if ! rustup toolchain list | grep -q '^nightly'; then
  step "installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
  rustup component add rust-src --toolchain nightly
fi
# Clippy (nightly) lints the WDM kernel layer for its Windows target.
if ! rustup component list --toolchain nightly --installed | grep -q '^clippy'; then
  rustup component add clippy --toolchain nightly
fi
# Miri (nightly) runs the C and pcsc-lite bindings' entry points for undefined behaviour.
if ! rustup component list --toolchain nightly --installed | grep -q '^miri'; then
  step "installing Miri (nightly)"
  rustup component add miri --toolchain nightly
fi

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check
# The workspaces the main one excludes (fuzz targets, firmware, the Wine test driver).
for excluded in fuzz hal-readers/firmware bindings-wdm/vreader; do
  (cd "$excluded" && cargo fmt --all -- --check)
done

step "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

step "API documentation (rustdoc -D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "no_std core for $embedded_target"
if ! rustup target list --installed | grep -qx "$embedded_target"; then
  rustup target add "$embedded_target"
fi
cargo build -p readerkit --target "$embedded_target"
cargo build -p readerkit-card-sim --target "$embedded_target"
cargo build -p readerkit-hal --target "$embedded_target"
cargo build -p readerkit-ccid --features usb --target "$embedded_target"
# The core's trace sinks: the log feature (std hosts) and defmt (firmware) are
# exclusive. The workspace build compiles log (the pcsc-lite binding uses it) but
# never defmt, and lints neither on the core alone: each is checked here.
cargo build -p readerkit --features defmt --target "$embedded_target"
cargo clippy -p readerkit --features defmt -- -D warnings
cargo clippy -p readerkit --features log --all-targets -- -D warnings
cargo test -p readerkit --features log --lib trace
# The C binding for firmware: a no_std staticlib (the target aborts on panic).
cargo build -p readerkit-c --no-default-features --features firmware --target "$embedded_target"

step "example firmware: USB CCID reader budget (flash <= 48 KiB, static RAM + stack <= 6 KiB, CCID stack measured under QEMU) and the scripted session under QEMU (mps2-an386)"
./tools/qemu-firmware.sh

step "tests of core, card-sim, hal-readers on armv7 (32-bit) and s390x (big-endian) under qemu-user"
./tools/cross-test.sh
# The core must not use alloc, and std only behind its test/std/loom gate in lib.rs.
if grep -rn 'extern crate alloc' core/src; then
  echo "core/src uses alloc" >&2
  exit 1
fi
if [ "$(grep -rn 'extern crate std' core/src | wc -l)" != 1 ] ||
  ! grep -B1 'extern crate std' core/src/lib.rs | grep -q 'cfg(any(test, feature = "std", loom))'; then
  echo "core/src uses std outside the gate in lib.rs" >&2
  exit 1
fi

step "WDM sample driver: kernel image linked on Linux (inspected by the readerkit-wdm tests)"
./bindings-wdm/build-sys.sh
# The kernel layer compiles only for Windows: lint it there too (no wdk-sys here, so
# the facade's own declarations stand in, as in the .sys build above).
cargo +nightly clippy -p readerkit-wdm --lib -Zbuild-std=core,compiler_builtins \
  -Zbuild-std-features=compiler-builtins-mem --target x86_64-pc-windows-msvc \
  --target-dir target/wdm/clippy -- -D warnings
# Lints of the workspaces the main one excludes: the fuzz targets (nightly, as
# cargo-fuzz builds them), the firmware (each feature set its scripts build) and the
# Wine test driver (its own target dir: its .cargo/config.toml sets other flags).
(cd fuzz && cargo +nightly clippy --all-targets -- -D warnings)
for features in "" qemu qemu,ccid; do
  (cd hal-readers/firmware && cargo clippy --locked --all-targets --target "$embedded_target" \
    ${features:+--features "$features"} -- -D warnings)
done
(cd bindings-wdm/vreader && cargo +nightly clippy --locked --all-targets -Zbuild-std=core,compiler_builtins \
  -Zbuild-std-features=compiler-builtins-mem --target x86_64-pc-windows-msvc \
  --target-dir ../../target/wdm/vreader-clippy -- -D warnings)

step "WDM sample driver in Wine's NT kernel, driven by a polite and a hostile Win32 client (tools/wdm-wine.sh)"
./tools/wdm-wine.sh

step "unit, integration and doc tests; benchmarks once in test mode"
cargo test --workspace --all-targets
cargo test --workspace --doc

step "the main job: tools/demo.sh, its output checked (tools/demo-check.sh)"
./tools/demo-check.sh

step "the Debian package: cargo-deb, dpkg -i, a session through the stock pcscd, purge (tools/deb-test.sh)"
cargo deb --version >/dev/null 2>&1 || cargo install cargo-deb --locked --version 3.8.0
./tools/deb-test.sh

step "the C entry points of the C and pcsc-lite bindings under Miri (tools/miri.sh)"
./tools/miri.sh

step "loom model checking (RUSTFLAGS=--cfg loom)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p readerkit --test loom --release

step "fuzz smoke runs (${fuzz_seconds} s per target)"
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked
fi
# The fuzz crate's own unit tests (the C structs' field and padding lists).
(cd fuzz && cargo +nightly test --lib)
(
  targets=$(cd fuzz && cargo +nightly fuzz list)
  for target in $targets; do
    mkdir -p "fuzz/corpus/$target"
    (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$fuzz_seconds" 2>&1 | tail -n 2)
  done
  echo "fuzz smoke: $(echo "$targets" | wc -w) targets, ${fuzz_seconds} s each, no crash"
)
