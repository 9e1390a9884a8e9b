//! Engine tests: scripted card exchanges, error paths, random replies.
