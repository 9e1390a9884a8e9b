//! The whole stack in one run: pcscd loads `libifd_readerkit.so` on `sim:t1`, and a
//! short PC/SC session prints each APDU and its answer.
//!
//! ```sh
//! cargo build --release -p readerkit-pcsclite
//! cargo run --release -p readerkit-pcsclite --example demo [-- PATH/libifd_readerkit.so]
//! ```
//!
//! It builds nothing: the library is the argument, else `$READERKIT_IFD_LIB`, else
//! the `libifd_readerkit.so` next to this program's directory (`target/release/`
//! for `target/release/examples/demo`). Needs root, Debian's pcscd and
//! systemd-socket-activate; nothing from Python (`tools/demo.sh` installs what is
//! missing).

use std::path::PathBuf;
use std::process::ExitCode;

use pcsc::{Attribute, Context, Disposition, Protocol, Protocols, Scope, ShareMode};
use readerkit_testkit::apdu::{echo, get_challenge};
use readerkit_testkit::hex;
use readerkit_testkit::pcscd::{Entry, Pcscd};

fn library() -> Option<PathBuf> {
    if let Some(arg) = std::env::args_os().nth(1) {
        return Some(PathBuf::from(arg));
    }
    if let Some(path) = std::env::var_os("READERKIT_IFD_LIB") {
        return Some(PathBuf::from(path));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [
        dir.join("libifd_readerkit.so"),
        dir.parent()?.join("libifd_readerkit.so"),
    ]
    .into_iter()
    .find(|p| p.exists())
}

fn main() -> ExitCode {
    let Some(lib) = library().filter(|p| p.exists()) else {
        eprintln!(
            "libifd_readerkit.so not found: run `cargo build --release -p readerkit-pcsclite` \
             and pass target/release/libifd_readerkit.so"
        );
        return ExitCode::FAILURE;
    };
    let lib = std::fs::canonicalize(&lib).unwrap_or(lib);
    println!("driver: {}", lib.display());
    let mut pcscd = Pcscd::start(&[Entry {
        name: "readerkit sim",
        device: "sim:t1",
        lib: &lib,
    }]);
    println!("pcscd: socket-activated on {}", pcscd.socket.display());
    let ctx = Context::establish(Scope::User).expect("establish a PC/SC context");
    let readers = ctx.list_readers_owned().expect("list readers");
    let reader = readers.first().expect("one reader").clone();
    println!("reader: {}", reader.to_string_lossy());
    let card = ctx
        .connect(&reader, ShareMode::Shared, Protocols::ANY)
        .expect("connect");
    // pcsc-lite's attribute buffers are at most 264 bytes.
    let mut buf = [0u8; 64];
    let atr = card
        .get_attribute(Attribute::AtrString, &mut buf)
        .unwrap()
        .to_vec();
    println!("ATR: {}", hex(&atr));
    let mut names = [0u8; 256];
    let status = card.status2(&mut names, &mut buf).unwrap();
    let protocol = match status.protocol2() {
        Some(Protocol::T0) => "T=0",
        Some(Protocol::T1) => "T=1",
        Some(Protocol::RAW) => "raw",
        _ => "none",
    };
    println!("protocol: {protocol}");
    let session: [(&str, Vec<u8>); 5] = [
        ("SELECT MF", vec![0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00]),
        ("GET CHALLENGE", get_challenge(8).to_vec()),
        (
            "SELECT EF 0101",
            vec![0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01],
        ),
        ("READ BINARY", vec![0x00, 0xB0, 0x00, 0x00, 0x10]),
        ("ECHO", echo(b"hello")),
    ];
    let mut rx = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    for (name, apdu) in &session {
        println!("> {} ({name})", hex(apdu));
        match card.transmit(apdu, &mut rx) {
            Ok(answer) => println!("< {}", hex(answer)),
            Err(e) => println!("< error: {e}"),
        }
    }
    card.disconnect(Disposition::UnpowerCard)
        .map_err(|(_, e)| e)
        .unwrap();
    drop(ctx);
    pcscd.stop_and_check_log();
    println!("pcscd stopped cleanly (driver unloaded, no driver error in its log)");
    ExitCode::SUCCESS
}
