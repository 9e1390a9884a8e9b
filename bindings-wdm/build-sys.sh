#!/bin/sh
# Build the sample WDM driver readerkit-vreader into a kernel image, from Linux (or any
# host): nightly toolchain with rust-src, -Zbuild-std=core, rust-lld as the linker, the
# driver link arguments in bindings-wdm/vreader/.cargo/config.toml. Leaves
#   target/wdm/readerkit-vreader.sys
# (plus readerkit-vreader.inf made from the .inx template) at the workspace root.
#
# Needs: `rustup toolchain install nightly --profile minimal` and
#        `rustup component add rust-src --toolchain nightly`. Nothing else: rust-lld
# ships with the toolchain and the ntoskrnl.exe imports are raw-dylib.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out="$root/target/wdm"
mkdir -p "$out"
cd "$here/vreader"
# Release build (LTO, panic=abort); link arguments from vreader/.cargo/config.toml.
cargo +nightly build --release --locked \
    -Zbuild-std=core,compiler_builtins -Zbuild-std-features=compiler-builtins-mem \
    --target x86_64-pc-windows-msvc --target-dir "$out/build" "$@"
cp "$out/build/x86_64-pc-windows-msvc/release/readerkit_vreader.dll" "$out/readerkit-vreader.sys"
sed -e 's/\$ARCH\$/amd64/g' -e "s|^DriverVer   =.*|DriverVer   = $(date -u +%m/%d/%Y),0.1.0.0|" \
    "$here/vreader/readerkit-vreader.inx" > "$out/readerkit-vreader.inf"
echo "built $out/readerkit-vreader.sys ($(wc -c < "$out/readerkit-vreader.sys") bytes)"
