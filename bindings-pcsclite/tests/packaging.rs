//! The reader.conf examples the Debian package installs in `/etc/reader.conf.d/`
//! (`packaging/reader.conf.d/`): every line is commented out, and every example
//! entry, once uncommented, is one this library accepts, so the examples cannot
//! drift from the DEVICENAME syntaxes. `tools/deb-test.sh` runs the sim and vpcd
//! examples under the stock pcscd from the installed package.

// The package is Debian's, and `serial:` exists on Linux only.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use ifd_readerkit::part10::Pcsclite;
use readerkit_host_readers::{serial, vpcd};

/// Where the package installs the handler (Debian's serial IFD handlers' directory).
const INSTALLED_LIB: &str = "/usr/lib/pcsc/drivers/serial/libifd_readerkit.so";

/// One commented-out example entry.
#[derive(Debug)]
struct Example {
    file: String,
    friendly_name: String,
    device_name: String,
    lib_path: String,
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/reader.conf.d")
}

/// Read every example file: check that no line is active, and collect the entries
/// (`#FRIENDLYNAME`, `#DEVICENAME`, `#LIBPATH`, in that order, on their own lines).
fn examples() -> Vec<Example> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("packaging/reader.conf.d")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut found = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut pending: Vec<(&str, String)> = Vec::new();
        for line in text.lines() {
            let trimmed = line.trim();
            assert!(
                trimmed.is_empty() || trimmed.starts_with('#'),
                "{file}: an active line (the package enables nothing): {line:?}"
            );
            let body = trimmed.trim_start_matches('#');
            for key in ["FRIENDLYNAME", "DEVICENAME", "LIBPATH"] {
                if let Some(value) = body.strip_prefix(key) {
                    if value.starts_with([' ', '\t']) {
                        pending.push((key, value.trim().trim_matches('"').to_owned()));
                    }
                }
            }
            if pending.len() == 3 {
                let keys: Vec<&str> = pending.iter().map(|(k, _)| *k).collect();
                assert_eq!(
                    keys,
                    ["FRIENDLYNAME", "DEVICENAME", "LIBPATH"],
                    "{file}: an entry is FRIENDLYNAME, DEVICENAME, LIBPATH"
                );
                let mut values = pending.drain(..).map(|(_, v)| v);
                found.push(Example {
                    file: file.clone(),
                    friendly_name: values.next().unwrap(),
                    device_name: values.next().unwrap(),
                    lib_path: values.next().unwrap(),
                });
            }
        }
        assert!(
            pending.is_empty(),
            "{file}: an incomplete entry {pending:?}"
        );
    }
    found
}

#[test]
fn every_example_is_commented_out_and_names_the_installed_library() {
    let examples = examples();
    assert!(!examples.is_empty());
    for e in &examples {
        assert_eq!(e.lib_path, INSTALLED_LIB, "{}: {e:?}", e.file);
        assert!(!e.friendly_name.is_empty(), "{e:?}");
        // pcscd 1.9 rejects the whole configuration for a DEVICENAME without a colon
        // that is not an existing file.
        assert!(e.device_name.contains(':'), "{e:?}");
    }
    let mut names: Vec<&str> = examples.iter().map(|e| e.friendly_name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        examples.len(),
        "each example reader has its own name"
    );
}

#[test]
fn every_backend_has_an_example_the_library_accepts() {
    let (mut sim, mut vpcd, mut tda8029, mut gpio) = (0, 0, 0, 0);
    for e in examples() {
        let device = e.device_name.as_str();
        if device.starts_with("sim:") {
            // Opens in process: the simulated card needs nothing outside.
            let reader = readerkit_host_readers::open::<Pcsclite>(device, 0);
            assert!(reader.is_ok(), "{e:?}: {:?}", reader.err());
            sim += 1;
        } else if let Some(spec) = device.strip_prefix("vpcd:") {
            let spec = vpcd::spec::parse(spec);
            assert!(spec.is_ok(), "{e:?}: {spec:?}");
            // The example shows the timeout option, with a value other than the
            // default (so it is visibly taken).
            assert!(device.contains(":timeout="), "{e:?}");
            assert_ne!(spec.unwrap().deadline, Duration::from_secs(120), "{e:?}");
            vpcd += 1;
        } else if let Some(spec) = device.strip_prefix("serial:") {
            match serial::spec::parse(spec) {
                Ok(serial::spec::Spec::Alpar { .. }) => tda8029 += 1,
                Ok(serial::spec::Spec::Gpio { .. }) => gpio += 1,
                Err(status) => panic!("{e:?}: {status:?}"),
            }
        } else {
            panic!("{e:?}: not a DEVICENAME of this library");
        }
    }
    assert_eq!(
        (sim, vpcd, tda8029, gpio),
        (1, 1, 1, 1),
        "one example for sim:, vpcd:, serial: TDA8029 and serial: GPIO + UART"
    );
}
