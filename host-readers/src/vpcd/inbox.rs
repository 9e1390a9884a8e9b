//! Which of the peer's messages answers a command, sans I/O: the first message
//! that *begins* at or after the byte offset of the peer's stream where the
//! command went out. Every other message (sent before the command, a second
//! answer, one between commands) is nobody's: it is discarded and counted.
//!
//! The connection (the `link` module) says when a command goes out and hands over
//! every whole message the framing ([`super::frame`]) cuts from the stream.

use super::frame::Frame;

/// What the reader waits for from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Expect {
    /// Nothing: every message that arrives is discarded.
    #[default]
    Nothing,
    /// The answer: the first message beginning at or after byte offset `from`.
    Answer { from: u64 },
}

/// The answer awaited on one connection, and the count of messages discarded. A
/// new inbox awaits nothing.
#[derive(Debug, Default)]
pub struct Inbox {
    expect: Expect,
    answer: Option<Vec<u8>>,
    discarded: u64,
}

impl Inbox {
    /// At the start of a connection: nothing awaited, nothing discarded.
    pub fn new() -> Inbox {
        Inbox::default()
    }

    /// A command went out when the peer's stream was at byte offset `from` (every
    /// byte before it was sent earlier): its answer is the first message that
    /// begins there or later. An answer not taken yet is dropped.
    pub fn await_answer(&mut self, from: u64) {
        self.answer = None;
        self.expect = Expect::Answer { from };
    }

    /// Await nothing more: later messages are discarded. An answer delivered but
    /// not taken yet stays (the card answered, then the connection ended).
    pub fn stop_awaiting(&mut self) {
        self.expect = Expect::Nothing;
    }

    /// An exchange is over: await nothing, drop an answer not taken.
    pub fn clear(&mut self) {
        self.expect = Expect::Nothing;
        self.answer = None;
    }

    /// A whole message arrived: the answer if one is awaited and `frame` began at
    /// or after its command; otherwise discarded. Returns `true` if it is the
    /// answer (then nothing is awaited any more).
    pub fn deliver(&mut self, frame: Frame) -> bool {
        match self.expect {
            Expect::Answer { from } if frame.start >= from => {
                self.answer = Some(frame.body);
                self.expect = Expect::Nothing;
                true
            }
            _ => {
                self.discarded += 1;
                false
            }
        }
    }

    /// The answer, once (`None` until it arrived).
    pub fn take_answer(&mut self) -> Option<Vec<u8>> {
        self.answer.take()
    }

    /// Messages discarded on this connection so far.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(start: u64, body: &[u8]) -> Frame {
        Frame {
            start,
            body: body.to_vec(),
        }
    }

    #[test]
    fn the_answer_is_the_first_message_begun_after_the_command() {
        let mut inbox = Inbox::new();
        assert!(!inbox.deliver(frame(0, b"early")));
        inbox.await_answer(10);
        // Began before the command went out (its end arrives later).
        assert!(!inbox.deliver(frame(7, b"late")));
        assert_eq!(inbox.take_answer(), None);
        assert!(inbox.deliver(frame(13, b"answer")));
        // A second answer is nobody's.
        assert!(!inbox.deliver(frame(21, b"again")));
        assert_eq!(inbox.take_answer().as_deref(), Some(&b"answer"[..]));
        assert_eq!(inbox.take_answer(), None);
        assert_eq!(inbox.discarded(), 3);
    }

    #[test]
    fn an_answer_stays_after_the_end_but_not_past_the_next_command() {
        let mut inbox = Inbox::new();
        inbox.await_answer(0);
        assert!(inbox.deliver(frame(0, b"")));
        inbox.stop_awaiting();
        assert_eq!(inbox.take_answer().as_deref(), Some(&b""[..]));

        inbox.await_answer(2);
        assert!(inbox.deliver(frame(2, b"first")));
        inbox.await_answer(9);
        assert_eq!(inbox.take_answer(), None);
        inbox.clear();
        assert!(!inbox.deliver(frame(9, b"second")));
        assert_eq!(inbox.discarded(), 1);
    }
}
