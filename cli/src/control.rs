//! The serving commands' card movements, lines on stdin: `remove [SLOT]` and
//! `insert [SLOT]`, no slot number being slot 0.

/// A card movement asked for on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// `remove`: the card is taken out.
    Remove,
    /// `insert`: a fresh card goes in.
    Insert,
}

/// Why a control line moves no card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The line is no `remove [SLOT]` nor `insert [SLOT]` (its text, trimmed).
    Unknown(String),
    /// The slot word is no slot of the reader (the word as written).
    NoSlot(String),
}

/// The message: `unknown control `LINE`` or `no slot `WORD`` (control characters
/// escaped).
impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::shown::escaped;
        match self {
            Refusal::Unknown(line) => write!(f, "unknown control `{}`", escaped(line)),
            Refusal::NoSlot(word) => write!(f, "no slot `{}`", escaped(word)),
        }
    }
}

impl Move {
    /// The movement and slot (below `slots`, the reader's slot count) the control
    /// line `line` names; `Ok(None)` for an empty line.
    pub fn parse(line: &str, slots: usize) -> Result<Option<(Move, usize)>, Refusal> {
        let unknown = || Refusal::Unknown(line.trim().to_string());
        let mut words = line.split_whitespace();
        let moved = match words.next() {
            None => return Ok(None),
            Some("remove") => Move::Remove,
            Some("insert") => Move::Insert,
            Some(_) => return Err(unknown()),
        };
        let slot = words.next();
        if words.next().is_some() {
            return Err(unknown());
        }
        match slot.map_or(Some(0), |word| word.parse::<usize>().ok()) {
            Some(n) if n < slots => Ok(Some((moved, n))),
            _ => Err(Refusal::NoSlot(slot.unwrap_or("0").to_string())),
        }
    }

    /// The control line's word for it.
    pub fn word(self) -> &'static str {
        match self {
            Move::Remove => "remove",
            Move::Insert => "insert",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_lines_name_movements_and_slots_and_nothing_else_moves() {
        let cases = [
            ("remove", Some((Move::Remove, 0))),
            ("insert", Some((Move::Insert, 0))),
            (" insert  1 ", Some((Move::Insert, 1))),
            ("remove 0", Some((Move::Remove, 0))),
            ("remove 2", None),
            ("remove x", None),
            ("remove 1 1", None),
            ("", None),
            ("eject", None),
            ("Remove", None),
        ];
        for (line, moved) in cases {
            assert_eq!(Move::parse(line, 2).ok().flatten(), moved, "`{line}`");
        }
        assert_eq!(Move::parse(" ", 2), Ok(None));
        // What was typed is shown with its control characters escaped: the
        // refusal goes to a terminal.
        let refusals = [
            ("remove 2", "no slot `2`"),
            (" eject ", "unknown control `eject`"),
            ("eject\x1b[2J", "unknown control `eject\\u{1b}[2J`"),
            ("remove \x07", "no slot `\\u{7}`"),
        ];
        for (line, message) in refusals {
            let refusal = Move::parse(line, 2).map_err(|e| e.to_string());
            assert_eq!(refusal, Err(message.to_string()), "`{line}`");
        }
        // A one-slot reader (usbip-serve) has slot 0 only.
        assert_eq!(Move::parse("remove 0", 1), Ok(Some((Move::Remove, 0))));
        assert!(Move::parse("remove 1", 1).is_err());
    }
}
