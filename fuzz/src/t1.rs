//! The rule of `t1::Engine::transmit`, as both T=1 targets check it.

use readerkit::t1::{Action, Config, Engine, Error, Transaction};

/// Whether `engine` may begin a transaction under `config`: it is in step, or a
/// resynchronisation is allowed to bring it back.
pub fn can_start(engine: &Engine, config: &Config) -> bool {
    engine.is_synchronised() || config.max_resynchs > 0
}

/// Checks what `transmit` answered for `apdu` (`can_start` asked before the call):
/// refused exactly for an empty APDU (`EmptyApdu`) or, for any other, an engine
/// that cannot start (`TooManyErrors`); a transaction it begins starts with a
/// block to send. The transaction, if one began.
pub fn began<'a>(
    can_start: bool,
    apdu: &[u8],
    transmitted: Result<Transaction<'a>, Error>,
) -> Option<Transaction<'a>> {
    match transmitted {
        Ok(tx) => {
            assert!(!apdu.is_empty(), "began an empty APDU");
            assert!(
                can_start,
                "began out of step with no resynchronisation allowed"
            );
            assert!(
                matches!(tx.action(), Ok(Action::Send { .. })),
                "no first block"
            );
            Some(tx)
        }
        Err(e) => {
            let expected = if apdu.is_empty() {
                Error::EmptyApdu
            } else {
                Error::TooManyErrors
            };
            assert_eq!(e, expected, "APDU of {} bytes refused: {e}", apdu.len());
            assert!(apdu.is_empty() || !can_start, "refused with {e}");
            None
        }
    }
}
