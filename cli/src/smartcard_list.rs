//! Card identification from pcsc-tools' `smartcard_list.txt`, read at run time (it
//! is GPL and changes weekly, so readerkit never bundles it).
//!
//! Where the list is looked for, first found wins: `--list PATH`, then
//! `$XDG_CACHE_HOME/smartcard_list.txt` (default `~/.cache/smartcard_list.txt`,
//! where pcsc-tools' `ATR_analysis` keeps its updated copy), then Debian's
//! `/usr/share/pcsc/smartcard_list.txt` (package pcsc-tools). An empty file (what a
//! failed `ATR_analysis` update leaves) is passed over.
//!
//! Format: `#` comments; an ATR line is a regular expression matched against the
//! whole ATR in upper-case hex with single spaces, case-insensitively (`..` is any
//! byte, `0[1-5]` a range, `.*` anything), as pcsc-tools' `m/^$line$/i` does; the
//! tab-indented lines after it describe the card.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Serialize;

/// The system copy (Debian package pcsc-tools).
pub const SYSTEM_LIST: &str = "/usr/share/pcsc/smartcard_list.txt";

/// One ATR pattern of the list with its descriptions.
#[derive(Debug)]
struct Entry {
    pattern: String,
    /// The pattern's plain beginning (before its first `.`, `[`, `*`...), upper
    /// case: an ATR that does not start with it cannot match.
    prefix: String,
    /// Whether the pattern is plain hex (compared as text).
    plain: bool,
    /// The compiled pattern, made the first time the prefix matches (`None` inside:
    /// Rust's regex cannot read it, and it matches nothing).
    regex: OnceCell<Option<Regex>>,
    descriptions: Vec<String>,
}

/// A loaded list.
#[derive(Debug)]
pub struct List {
    path: PathBuf,
    entries: Vec<Entry>,
}

/// One pattern that matches an ATR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    /// The ATR line of the list, as written there.
    pub pattern: String,
    /// Its description lines, without the leading tab.
    pub descriptions: Vec<String>,
}

/// Where the list was looked for when none was found.
#[derive(Debug)]
pub struct Absent {
    /// Each place tried, in order.
    pub tried: Vec<PathBuf>,
}

impl std::fmt::Display for Absent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tried: Vec<String> = self.tried.iter().map(|p| p.display().to_string()).collect();
        write!(
            f,
            "no smartcard_list.txt found (tried {}): install pcsc-tools or give --list PATH",
            tried.join(", ")
        )
    }
}

/// The default places, in order: the user's cache, then the system copy.
fn default_places() -> Vec<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")));
    let mut places: Vec<PathBuf> = cache
        .map(|dir| dir.join("smartcard_list.txt"))
        .into_iter()
        .collect();
    places.push(PathBuf::from(SYSTEM_LIST));
    places
}

/// The first non-empty list among the default places.
pub fn locate_default() -> Result<PathBuf, Absent> {
    locate(default_places())
}

/// The first non-empty file among `tried`.
fn locate(tried: Vec<PathBuf>) -> Result<PathBuf, Absent> {
    for place in &tried {
        if std::fs::metadata(place).is_ok_and(|m| m.is_file() && m.len() > 0) {
            return Ok(place.clone());
        }
    }
    Err(Absent { tried })
}

impl List {
    /// Read and compile the list at `path`.
    pub fn load(path: &Path) -> std::io::Result<List> {
        let bytes = std::fs::read(path)?;
        // The list is UTF-8 today; older copies had Latin-1 descriptions.
        Ok(List::from_text(path, &String::from_utf8_lossy(&bytes)))
    }

    /// The list whose text is `text`, said to be read from `path`.
    pub fn from_text(path: &Path, text: &str) -> List {
        List {
            path: path.to_path_buf(),
            entries: parse(text),
        }
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry whose pattern matches `atr`, in list order.
    pub fn identify(&self, atr: &[u8]) -> Vec<Match> {
        let text = crate::hex::encode(atr, " ");
        self.entries
            .iter()
            .filter(|e| e.matches(&text))
            .map(Entry::shown)
            .collect()
    }

    /// Every entry of the list, in list order, each with its descriptions.
    pub fn entries(&self) -> impl Iterator<Item = Match> + '_ {
        self.entries.iter().map(Entry::shown)
    }
}

impl Entry {
    fn shown(&self) -> Match {
        Match {
            pattern: self.pattern.clone(),
            descriptions: self.descriptions.clone(),
        }
    }

    fn matches(&self, atr: &str) -> bool {
        if self.plain {
            return self.pattern.eq_ignore_ascii_case(atr);
        }
        if !atr.to_ascii_uppercase().starts_with(&self.prefix) {
            return false;
        }
        self.regex
            .get_or_init(|| Regex::new(&format!("(?i)^(?:{})$", self.pattern)).ok())
            .as_ref()
            .is_some_and(|regex| regex.is_match(atr))
    }
}

fn parse(text: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    // Whether the lines being read describe the last entry.
    let mut describing = false;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            describing = false;
            continue;
        }
        if let Some(description) = line.strip_prefix('\t') {
            if describing {
                if let Some(entry) = entries.last_mut() {
                    entry.descriptions.push(description.trim_end().to_string());
                }
            }
            continue;
        }
        let pattern = line.trim_end().to_string();
        let plain = pattern.chars().all(|c| c.is_ascii_hexdigit() || c == ' ');
        let prefix = pattern
            .chars()
            .take_while(|c| c.is_ascii_hexdigit() || *c == ' ')
            .collect::<String>()
            .to_ascii_uppercase();
        // A plain prefix followed by `*`, `?` or `{` is not a prefix of every match.
        let prefix = match pattern[prefix.len()..].chars().next() {
            _ if pattern.contains(['|', '(']) => String::new(),
            Some('*' | '?' | '{') => prefix[..prefix.len().saturating_sub(1)].to_string(),
            _ => prefix,
        };
        entries.push(Entry {
            pattern,
            prefix,
            plain,
            regex: OnceCell::new(),
            descriptions: Vec::new(),
        });
        describing = true;
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "\
# comment
3B 02 14 50
\tSchlumberger Multiflex 3k
\tsecond line

3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D .. .. .. .. ..
\treaderkit simulated card (any capabilities)
3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF
\treaderkit sim:t1
3F 65 35 10 0. 04 [6,E]C 90 00
\tbracket pattern
3B EF 00 FF 81 31 42 45 .* 38
\tstar pattern
3B 0[
\tbroken pattern
";

    #[test]
    fn an_absent_list_is_said_plainly() {
        let dir = std::env::temp_dir().join(format!("readerkit-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.txt");
        std::fs::write(&empty, "").unwrap();
        let absent = locate(vec![dir.join("missing.txt"), empty.clone()]).unwrap_err();
        let text = absent.to_string();
        assert!(
            text.starts_with("no smartcard_list.txt found (tried "),
            "{text}"
        );
        assert!(
            text.contains("missing.txt") && text.contains("empty.txt"),
            "{text}"
        );
        assert!(
            text.ends_with("install pcsc-tools or give --list PATH"),
            "{text}"
        );
        std::fs::write(&empty, "3B 00\n\tx\n").unwrap();
        assert_eq!(
            locate(vec![dir.join("missing.txt"), empty.clone()]).unwrap(),
            empty
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn patterns_match_like_pcsc_tools() {
        let list = List {
            path: PathBuf::from("test"),
            entries: parse(LIST),
        };
        assert_eq!(list.entries.len(), 6);
        let sim = crate::hex::parse(&[
            "3B 9B 96 81 71 FE 45 00 80 65 52 4B 53 49 4D 73 10 21 40 EF".into(),
        ])
        .unwrap();
        let found = list.identify(&sim);
        assert_eq!(
            found.len(),
            2,
            "the wildcard entry and the exact one: {found:?}"
        );
        assert_eq!(
            found[0].descriptions,
            ["readerkit simulated card (any capabilities)"]
        );
        assert_eq!(found[1].descriptions, ["readerkit sim:t1"]);
        let m = list.identify(&[0x3B, 0x02, 0x14, 0x50]);
        assert_eq!(
            m[0].descriptions,
            ["Schlumberger Multiflex 3k", "second line"]
        );
        assert_eq!(
            list.identify(&[0x3F, 0x65, 0x35, 0x10, 0x02, 0x04, 0xEC, 0x90, 0x00])
                .len(),
            1
        );
        assert_eq!(
            list.identify(&[0x3F, 0x65, 0x35, 0x10, 0x02, 0x04, 0x7C, 0x90, 0x00])
                .len(),
            0
        );
        assert_eq!(
            list.identify(&[
                0x3B, 0xEF, 0x00, 0xFF, 0x81, 0x31, 0x42, 0x45, 1, 2, 3, 0x38
            ])
            .len(),
            1
        );
        // `..` is one byte, not any number of them.
        assert!(list.identify(&[0x3B, 0x02, 0x14]).is_empty());
        // The broken pattern matches nothing (and does not stop the others).
        assert!(list.identify(&[0x3B, 0x0F]).is_empty());
    }
}
