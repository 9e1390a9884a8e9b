//! What a transport tells the reader besides the host's messages: the news
//! [`crate::CcidReader::hear`] takes, which it cannot fail.
//!
//! A transport that runs the reader's commands outside its USB class
//! (`usb::port::CcidPort`) hands these to its runner as they come, in order
//! with the messages (`usb::port::Task::Notice`), and the runner passes each
//! on whole with one call: the rule for each stays the reader's (the `abort`
//! module pairs a class request ABORT with its PC_to_RDR_Abort, CCID 1.1
//! §5.3.1).

/// News for the reader from its transport ([`crate::CcidReader::hear`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notice {
    /// The host's class request ABORT (`wValue` = `slot` | `seq` << 8), which
    /// the transport accepted: the reader pairs it with the PC_to_RDR_Abort of
    /// the same `slot` and `seq` (until that comes, the slot's commands fail
    /// CMD_ABORTED). For a slot the reader does not have it changes nothing
    /// (a transport refuses such a request to the host itself; one that
    /// answers it from the reader asks
    /// [`crate::CcidReader::class_request`], which refuses it).
    ClassAbort {
        /// `bSlot`: the slot whose commands the host aborts.
        slot: u8,
        /// `bSeq`: the sequence number its PC_to_RDR_Abort carries.
        seq: u8,
    },
    /// The host has gone and another may come (a USB bus reset or
    /// SET_CONFIGURATION, a USB/IP client's connection ending): no abort is
    /// under way for the next one, so a class request ABORT the gone host sent
    /// without its PC_to_RDR_Abort fails nothing of the next host's commands.
    HostGone,
}
