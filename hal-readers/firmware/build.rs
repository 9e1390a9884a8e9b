//! Hand the board's linker script to the linker: `mps2.x` for the QEMU board
//! (feature `qemu`), `stm32f4.x` for the device.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let script = if std::env::var_os("CARGO_FEATURE_QEMU").is_some() {
        "mps2.x"
    } else {
        "stm32f4.x"
    };
    println!("cargo:rustc-link-search={dir}");
    println!("cargo:rustc-link-arg-bins=-T{script}");
    println!("cargo:rerun-if-changed=mps2.x");
    println!("cargo:rerun-if-changed=stm32f4.x");
}
