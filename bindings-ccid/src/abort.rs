//! How a slot pairs the class request ABORT with its PC_to_RDR_Abort (CCID 1.1
//! §5.3.1, §6.1.13).
//!
//! A host aborts in two halves that carry the same `bSlot` and `bSeq`: the
//! class request ABORT on the control endpoint (`wValue` = slot | seq << 8) and
//! the PC_to_RDR_Abort on the bulk-OUT pipe; they may arrive in either order.
//! §5.3.1: if the last bulk-OUT message of the slot was the PC_to_RDR_Abort
//! with the class request's `bSeq`, the pair is complete. Otherwise the slot
//! fails every bulk-OUT command (`bmCommandStatus` Failed, `bError`
//! CMD_ABORTED) until the PC_to_RDR_Abort with that `bSeq` comes, which is
//! answered with the slot's status.
//!
//! One difference from §5.3.1, where the PC_to_RDR_Abort comes first: the spec
//! has the reader answer it once the class request arrives; here it is
//! answered at once (a transport without a control endpoint, the GemPC Twin
//! serial framing, never sends the class request, and the running command it
//! stops has ended before it runs, see [`crate::busy`]). The class request
//! that follows with the same `bSeq` then completes the pair and changes
//! nothing.
//!
//! Only a well-formed PC_to_RDR_Abort counts ([`is_abort`]): a header alone,
//! `dwLength` 0 (§6.1.13). One whose `dwLength` is not 0 or disagrees with the
//! bytes is a malformed message, answered `bError` 1 (the offset of
//! `dwLength`) as any other, or CMD_ABORTED while a class ABORT waits: it
//! neither completes the pair nor starts one, and it stops no running command
//! ([`crate::busy::Gate::admit`]). The host meant an Abort, but the reader
//! cannot tell which of its bytes are wrong, `bMessageType` included.
//!
//! The pairing applies wherever the class request reaches the reader, as
//! [`crate::CcidReader::class_request`] (which refuses a slot the reader does
//! not have) or as news it hears ([`crate::Notice::ClassAbort`],
//! [`crate::CcidReader::hear`]): the USB class `usb::CcidClass` passes it on
//! at once; `usb::port::CcidPort` stops the running command with it and hands
//! it to its runner (`usb::port::Task::Notice`) before any message that came
//! after it, and the runner passes it on. A host that goes leaves no abort
//! under way for the next one ([`crate::Notice::HostGone`]).

use crate::message::{HEADER_LEN, Message, pc_to_rdr};

/// `true` if the bulk-OUT message `bytes` is a PC_to_RDR_Abort as CCID 1.1
/// §6.1.13 has it: a header alone, `dwLength` 0. The one rule of what counts
/// as the Abort, for the pairing ([`Pairing::bulk`]) and for stopping a
/// running command ([`crate::busy::Gate::admit`]).
pub(crate) fn is_abort(bytes: &[u8]) -> bool {
    let message = Message::new_unchecked(bytes);
    bytes.len() == HEADER_LEN && message.message_type() == pc_to_rdr::ABORT && message.length() == 0
}

/// A slot's progress through an abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Pairing {
    /// No abort under way; the last bulk-OUT message was not a PC_to_RDR_Abort.
    Idle,
    /// No abort under way, and the last bulk-OUT message of the slot was a
    /// PC_to_RDR_Abort with `seq` (answered): a class ABORT with the same `seq`
    /// completes the pair, or finds it complete (§5.3.1 looks at the last
    /// message, whether or not a class ABORT has already been paired with it).
    BulkFirst {
        /// Its `bSeq`.
        seq: u8,
    },
    /// The class ABORT with `seq` came first: every bulk-OUT command to the
    /// slot fails CMD_ABORTED until the PC_to_RDR_Abort with `seq`.
    ClassFirst {
        /// The class request's `bSeq`.
        seq: u8,
        /// The `bSeq` of the slot's last bulk-OUT message if it was a
        /// PC_to_RDR_Abort (answered before the class request, or failed
        /// since): a class ABORT with that `bSeq`, replacing this one,
        /// completes the pair at once (§5.3.1 looks at the last message).
        last_abort: Option<u8>,
    },
}

/// What to do with a bulk-OUT message given the slot's [`Pairing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Verdict {
    /// Run it.
    Run,
    /// Fail it with CMD_ABORTED (`bError` FF) without running it.
    Aborted,
}

impl Pairing {
    /// A bulk-OUT message for the slot, a well-formed PC_to_RDR_Abort or not
    /// (`abort`, [`is_abort`]: a malformed one is any other message here),
    /// with `seq`: what to do with it, and the slot's pairing afterwards.
    pub(crate) const fn bulk(self, abort: bool, seq: u8) -> (Verdict, Pairing) {
        match self {
            Pairing::ClassFirst { seq: awaited, .. } if abort && seq == awaited => {
                (Verdict::Run, Pairing::BulkFirst { seq })
            }
            Pairing::ClassFirst { seq: awaited, .. } => {
                let last_abort = if abort { Some(seq) } else { None };
                let waiting = Pairing::ClassFirst {
                    seq: awaited,
                    last_abort,
                };
                (Verdict::Aborted, waiting)
            }
            Pairing::Idle | Pairing::BulkFirst { .. } if abort => {
                (Verdict::Run, Pairing::BulkFirst { seq })
            }
            Pairing::Idle | Pairing::BulkFirst { .. } => (Verdict::Run, Pairing::Idle),
        }
    }

    /// The class request ABORT for the slot with `seq`: the slot's pairing
    /// afterwards. If the slot's last bulk-OUT message was the
    /// PC_to_RDR_Abort with `seq`, the pair is complete, whether or not an
    /// earlier class ABORT waits (this one replaces it); otherwise the slot
    /// waits for that Abort. A completed pair still remembers that Abort as
    /// the last message, so the outcome of class ABORTs depends only on the
    /// last one and the last bulk-OUT message (what a port that keeps only
    /// the last one it has not handed over relies on).
    pub(crate) const fn class_request(self, seq: u8) -> Pairing {
        let last_abort = match self {
            Pairing::Idle => None,
            Pairing::BulkFirst { seq: sent } => Some(sent),
            Pairing::ClassFirst { last_abort, .. } => last_abort,
        };
        match last_abort {
            Some(sent) if sent == seq => Pairing::BulkFirst { seq: sent },
            _ => Pairing::ClassFirst { seq, last_abort },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_request_first_fails_everything_until_its_abort() {
        let waiting = |seq, last_abort| Pairing::ClassFirst { seq, last_abort };
        let p = Pairing::Idle.class_request(9);
        assert_eq!(p, waiting(9, None));
        // Another command, or an Abort with another bSeq: failed, still waiting.
        assert_eq!(p.bulk(false, 9), (Verdict::Aborted, p));
        let (verdict, after_abort_8) = p.bulk(true, 8);
        assert_eq!(
            (verdict, after_abort_8),
            (Verdict::Aborted, waiting(9, Some(8)))
        );
        // Its Abort: answered, the pair done (that Abort the last message).
        let done = Pairing::BulkFirst { seq: 9 };
        assert_eq!(p.bulk(true, 9), (Verdict::Run, done));
        assert_eq!(after_abort_8.bulk(true, 9), (Verdict::Run, done));
        // The class request again: the last message is its Abort, complete.
        assert_eq!(done.class_request(9), done);
        // A second class request replaces the first...
        assert_eq!(p.class_request(3), waiting(3, None));
        // ... and one with the bSeq of the last message, an Abort, completes
        // that pair (§5.3.1), even though that Abort was failed.
        assert_eq!(
            after_abort_8.class_request(8),
            Pairing::BulkFirst { seq: 8 }
        );
        // A command after that Abort: it is no longer the last message.
        let (_, after_command) = after_abort_8.bulk(false, 10);
        assert_eq!(after_command.class_request(8), waiting(8, None));
    }

    /// Two class requests before the slot's next message, where its last
    /// message was the PC_to_RDR_Abort with the second's bSeq: the second
    /// completes that pair (§5.3.1 looks at the last message), as it does
    /// alone. Before, the first made the pairing forget the Abort, and the
    /// second waited for another.
    #[test]
    fn a_second_class_request_still_sees_the_last_abort() {
        let (_, after_abort) = Pairing::Idle.bulk(true, 10);
        let first = after_abort.class_request(11);
        assert_eq!(
            first,
            Pairing::ClassFirst {
                seq: 11,
                last_abort: Some(10)
            }
        );
        assert_eq!(first.class_request(10), after_abort);
        assert_eq!(after_abort.class_request(10), after_abort);
    }

    /// Class ABORTs before the slot's next bulk-OUT message end where the
    /// last alone leaves the slot, from every state (what `CcidPort`, which
    /// keeps only the last one it has not handed over, relies on). Before, a
    /// completed pair forgot its Abort: Abort 10, class ABORTs 10 and 11, then
    /// 10 again waited for another Abort, where 11 and 10 alone completed.
    #[test]
    fn class_requests_end_where_the_last_alone_does() {
        let seqs = 0..4u8;
        let waiting = seqs.clone().flat_map(|seq| {
            let last_aborts = seqs.clone().map(Some).chain([None]);
            last_aborts.map(move |last_abort| Pairing::ClassFirst { seq, last_abort })
        });
        let after_abort = seqs.clone().map(|seq| Pairing::BulkFirst { seq });
        let states = [Pairing::Idle]
            .into_iter()
            .chain(after_abort)
            .chain(waiting);
        for state in states {
            for first in seqs.clone() {
                for last in seqs.clone() {
                    assert_eq!(
                        state.class_request(first).class_request(last),
                        state.class_request(last),
                        "{state:?}, class ABORTs {first} then {last}"
                    );
                }
            }
        }
        let (_, after_abort) = Pairing::Idle.bulk(true, 10);
        let both = after_abort.class_request(10).class_request(11);
        assert_eq!(both.class_request(10), after_abort);
    }

    #[test]
    fn only_a_header_alone_with_dw_length_0_is_an_abort() {
        let abort = [0x72, 0, 0, 0, 0, 0, 5, 0, 0, 0];
        assert!(is_abort(&abort));
        let mut with_data = [0x72, 1, 0, 0, 0, 0, 5, 0, 0, 0, 0xAA];
        assert!(!is_abort(&with_data), "dwLength 1");
        with_data[1] = 0;
        assert!(!is_abort(&with_data), "a byte more");
        let mut lacking = abort;
        lacking[1] = 1;
        assert!(!is_abort(&lacking), "a byte less");
        let mut status = abort;
        status[0] = 0x65;
        assert!(!is_abort(&status), "GetSlotStatus");
    }

    #[test]
    fn abort_first_is_completed_by_its_class_request() {
        let p = Pairing::Idle.bulk(true, 4);
        assert_eq!(p, (Verdict::Run, Pairing::BulkFirst { seq: 4 }));
        assert_eq!(p.1.class_request(4), p.1);
        // Another bSeq: the class request comes first of its own pair.
        let other = Pairing::ClassFirst {
            seq: 5,
            last_abort: Some(4),
        };
        assert_eq!(p.1.class_request(5), other);
        // A command after the Abort: the Abort is no longer the last message.
        let (verdict, after) = p.1.bulk(false, 5);
        assert_eq!((verdict, after), (Verdict::Run, Pairing::Idle));
        let fresh = Pairing::ClassFirst {
            seq: 4,
            last_abort: None,
        };
        assert_eq!(after.class_request(4), fresh);
        // A second Abort is the last one.
        assert_eq!(
            p.1.bulk(true, 6),
            (Verdict::Run, Pairing::BulkFirst { seq: 6 })
        );
    }
}
