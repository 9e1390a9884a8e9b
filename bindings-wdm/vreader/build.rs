//! On a Windows host with `--features wdk`: wdk-build configures the WDM link (the
//! production path of windows-drivers-rs). Otherwise (the Linux build by
//! `../build-sys.sh`) nothing: the link arguments are in `.cargo/config.toml`.

#[cfg(all(windows, feature = "wdk"))]
fn main() -> Result<(), wdk_build::ConfigError> {
    wdk_build::configure_wdk_binary_build()
}

#[cfg(not(all(windows, feature = "wdk")))]
fn main() {}
