//! The PC/SC client side shared by `scan` and `apdu`: a context on the system's
//! pcscd (through libpcsclite, the `pcsc` crate) and one-line errors that say what
//! to do.

use std::ffi::{CStr, CString};

use pcsc::{Context, Error, Scope};
use readerkit_cli::shown::escaped;

/// A PC/SC failure explained for a person, on one line; `reader`'s name is
/// shown with its control characters escaped (a driver chose it, and the line
/// goes to a terminal).
pub(crate) fn explain(e: Error, reader: Option<&str>) -> String {
    let reader = reader.map_or_else(|| "the reader".to_string(), escaped);
    match e {
        Error::NoService | Error::ServiceStopped | Error::CommError => format!(
            "pcscd is not running ({e}): start it (`systemctl start pcscd.socket`, or `pcscd -f` as root) and try again"
        ),
        Error::NoReadersAvailable => format!(
            "no smart-card reader ({e}): plug one in, or configure one for pcscd in /etc/reader.conf.d/, and check `readerkit scan`"
        ),
        Error::NoSmartcard | Error::RemovedCard => {
            format!("no card in `{reader}` ({e}): insert one and try again")
        }
        Error::UnknownReader | Error::ReaderUnavailable => {
            format!("reader `{reader}` is not there ({e}): `readerkit scan` lists the readers")
        }
        Error::UnresponsiveCard | Error::UnpoweredCard => {
            format!("the card in `{reader}` does not answer ({e}): reinsert it")
        }
        Error::ProtoMismatch | Error::NotTransacted => {
            format!("{e} with the card in `{reader}`: try the other protocol (--protocol t0 or t1)")
        }
        Error::SharingViolation => {
            format!("`{reader}` is used exclusively by another program ({e})")
        }
        other => format!("PC/SC error on `{reader}`: {other}"),
    }
}

/// Establish a context with pcscd.
pub(crate) fn establish() -> Result<Context, String> {
    Context::establish(Scope::User).map_err(|e| explain(e, None))
}

/// The reader names; no reader is an empty list, not an error.
pub(crate) fn readers(ctx: &Context) -> Result<Vec<CString>, String> {
    match ctx.list_readers_owned() {
        Ok(names) => Ok(names),
        Err(Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(explain(e, None)),
    }
}

/// A reader name for display.
pub(crate) fn name(reader: &CStr) -> String {
    reader.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message that names the reader shows its control characters
    /// escaped, whichever call site hands the name in.
    #[test]
    fn explained_errors_escape_the_readers_name() {
        let errors = [
            Error::RemovedCard,
            Error::ReaderUnavailable,
            Error::UnresponsiveCard,
            Error::ProtoMismatch,
            Error::SharingViolation,
            Error::InvalidParameter,
        ];
        for e in errors {
            let message = explain(e, Some("RK \x1b[2J 00 00"));
            assert!(
                message.contains("`RK \\u{1b}[2J 00 00`") && !message.contains('\x1b'),
                "{message:?}"
            );
        }
    }
}
