//! Inspects the sample driver image that `bindings-wdm/build-sys.sh` links on Linux:
//! `target/wdm/readerkit-vreader.sys` must be a PE32+ x86-64 kernel image — subsystem
//! native, the WDM driver flag set, the entry point at the exported `DriverEntry`,
//! a valid image checksum, and imports only from ntoskrnl.exe (HAL.dll allowed).
//!
//! The test FAILS when the image is missing: run `bindings-wdm/build-sys.sh` first
//! (CI does).

use std::path::PathBuf;

fn image_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wdm/readerkit-vreader.sys")
}

fn image() -> Vec<u8> {
    let path = image_path();
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. The sample driver is built by `bindings-wdm/build-sys.sh` \
             (nightly + rust-src); run it before `cargo test`.",
            path.display()
        )
    })
}

struct Pe<'a> {
    data: &'a [u8],
    opt: usize,
    sections: Vec<(u32, u32, u32, u32)>, // (rva, virtual size, raw offset, raw size)
}

fn u16_at(d: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(d[off..off + 2].try_into().unwrap())
}
fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().unwrap())
}
fn u64_at(d: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(d[off..off + 8].try_into().unwrap())
}

impl<'a> Pe<'a> {
    fn parse(data: &'a [u8]) -> Pe<'a> {
        assert_eq!(&data[..2], b"MZ", "DOS header");
        let pe = u32_at(data, 0x3C) as usize;
        assert_eq!(&data[pe..pe + 4], b"PE\0\0", "PE signature");
        let coff = pe + 4;
        let sections = u16_at(data, coff + 2) as usize;
        let opt_size = u16_at(data, coff + 16) as usize;
        let opt = coff + 20;
        let table = opt + opt_size;
        let sections = (0..sections)
            .map(|i| {
                let s = table + i * 40;
                (
                    u32_at(data, s + 12),
                    u32_at(data, s + 8),
                    u32_at(data, s + 20),
                    u32_at(data, s + 16),
                )
            })
            .collect();
        Pe {
            data,
            opt,
            sections,
        }
    }

    fn coff(&self) -> usize {
        self.opt - 20
    }

    /// File offset of an RVA.
    fn at(&self, rva: u32) -> usize {
        for &(va, vsize, raw, rsize) in &self.sections {
            if rva >= va && rva < va + vsize.max(rsize) {
                return (rva - va + raw) as usize;
            }
        }
        panic!("RVA {rva:#x} in no section");
    }

    fn cstr(&self, rva: u32) -> String {
        let off = self.at(rva);
        let end = self.data[off..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8(self.data[off..off + end].to_vec()).unwrap()
    }

    /// Data directory `i` (PE32+: they start at optional header + 112).
    fn dir(&self, i: usize) -> (u32, u32) {
        let d = self.opt + 112 + i * 8;
        (u32_at(self.data, d), u32_at(self.data, d + 4))
    }

    fn exports(&self) -> Vec<(String, u32)> {
        let (rva, size) = self.dir(0);
        assert!(size > 0, "no export directory");
        let e = self.at(rva);
        let names = u32_at(self.data, e + 24) as usize;
        let functions = u32_at(self.data, e + 28);
        let name_table = u32_at(self.data, e + 32);
        let ordinals = u32_at(self.data, e + 36);
        (0..names)
            .map(|i| {
                let name = self.cstr(u32_at(self.data, self.at(name_table) + i * 4));
                let ordinal = u16_at(self.data, self.at(ordinals) + i * 2) as usize;
                let f = u32_at(self.data, self.at(functions) + ordinal * 4);
                (name, f)
            })
            .collect()
    }

    /// (DLL, [functions]) for every import descriptor.
    fn imports(&self) -> Vec<(String, Vec<String>)> {
        let (rva, size) = self.dir(1);
        assert!(size > 0, "no import directory");
        let mut out = Vec::new();
        let mut d = self.at(rva);
        loop {
            let lookup = u32_at(self.data, d);
            let name = u32_at(self.data, d + 12);
            let thunks = u32_at(self.data, d + 16);
            if name == 0 && thunks == 0 {
                break;
            }
            let mut functions = Vec::new();
            let mut t = self.at(if lookup != 0 { lookup } else { thunks });
            loop {
                let entry = u64_at(self.data, t);
                if entry == 0 {
                    break;
                }
                assert_eq!(entry >> 63, 0, "import by ordinal");
                functions.push(self.cstr(entry as u32 + 2));
                t += 8;
            }
            out.push((self.cstr(name), functions));
            d += 20;
        }
        out
    }
}

/// The PE image checksum (as `CheckSumMappedFile` computes it).
fn pe_checksum(data: &[u8], checksum_field: usize) -> u32 {
    let mut sum: u64 = 0;
    let mut i = 0;
    while i < data.len() {
        if i == checksum_field {
            i += 4;
            continue;
        }
        let word = if i + 1 < data.len() {
            u16::from_le_bytes([data[i], data[i + 1]])
        } else {
            data[i] as u16
        };
        sum += word as u64;
        sum = (sum & 0xFFFF) + (sum >> 16);
        i += 2;
    }
    sum = (sum & 0xFFFF) + (sum >> 16);
    (sum as u32) + data.len() as u32
}

#[test]
fn sample_driver_is_a_wdm_kernel_image() {
    let data = image();
    let pe = Pe::parse(&data);
    // COFF header.
    assert_eq!(u16_at(&data, pe.coff()), 0x8664, "machine: x86-64");
    let characteristics = u16_at(&data, pe.coff() + 18);
    assert_ne!(characteristics & 0x0002, 0, "IMAGE_FILE_EXECUTABLE_IMAGE");
    assert_eq!(characteristics & 0x0001, 0, "relocations not stripped");
    // Optional header.
    assert_eq!(u16_at(&data, pe.opt), 0x20B, "PE32+");
    assert_eq!(
        u16_at(&data, pe.opt + 68),
        1,
        "subsystem: IMAGE_SUBSYSTEM_NATIVE"
    );
    let dll_characteristics = u16_at(&data, pe.opt + 70);
    assert_ne!(
        dll_characteristics & 0x2000,
        0,
        "IMAGE_DLLCHARACTERISTICS_WDM_DRIVER"
    );
    assert_ne!(dll_characteristics & 0x0100, 0, "NX compatible");
    let checksum = u32_at(&data, pe.opt + 64);
    assert_eq!(checksum, pe_checksum(&data, pe.opt + 64), "image checksum");
    // Entry point = the exported DriverEntry.
    let entry = u32_at(&data, pe.opt + 16);
    let exports = pe.exports();
    let driver_entry = exports
        .iter()
        .find(|(name, _)| name == "DriverEntry")
        .expect("DriverEntry exported");
    assert_eq!(entry, driver_entry.1, "entry point is DriverEntry");
    // Imports: kernel only.
    let imports = pe.imports();
    for (dll, functions) in &imports {
        assert!(
            dll.eq_ignore_ascii_case("ntoskrnl.exe") || dll.eq_ignore_ascii_case("hal.dll"),
            "import from {dll}: {functions:?}"
        );
    }
    let ntoskrnl = &imports
        .iter()
        .find(|(dll, _)| dll.eq_ignore_ascii_case("ntoskrnl.exe"))
        .expect("imports from ntoskrnl.exe")
        .1;
    for needed in [
        "IofCompleteRequest",
        "IoCreateDevice",
        "IoRegisterDeviceInterface",
        "KeWaitForSingleObject",
        "KeAcquireSpinLockRaiseToDpc",
        "KeBugCheckEx",
    ] {
        assert!(
            ntoskrnl.iter().any(|f| f == needed),
            "{needed} not imported"
        );
    }
    println!(
        "{}: {} bytes, entry {entry:#x}, imports {:?}",
        image_path().display(),
        data.len(),
        imports
    );
}

#[test]
fn inf_is_a_smart_card_reader_class_inf() {
    let path = image_path().with_extension("inf");
    let inf = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `bindings-wdm/build-sys.sh` first",
            path.display()
        )
    });
    assert!(inf.contains("Class       = SmartCardReader"));
    assert!(inf.contains("{50DD5230-BA8A-11D1-BF5D-0000F805F530}"));
    assert!(inf.contains("root\\readerkit_vreader"));
    assert!(inf.contains("NTamd64"));
    assert!(!inf.contains("$ARCH$"));
    assert!(inf.contains("DriverVer   = "));
}
