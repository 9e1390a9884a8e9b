//! A minimal JSON object writer: enough for flat and nested objects of strings,
//! numbers, booleans, null and arrays, with correct string escaping.

use std::fmt::Write;

/// Builds one JSON object as text.
pub(crate) struct Object {
    out: String,
    first: bool,
}

impl Object {
    /// An empty object.
    pub(crate) fn new() -> Object {
        Object {
            out: String::from("{"),
            first: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push_str(", ");
        }
        self.first = false;
        push_str(&mut self.out, key);
        self.out.push_str(": ");
    }

    /// `"key": "value"`.
    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Object {
        self.key(key);
        push_str(&mut self.out, value);
        self
    }

    /// `"key": number`.
    pub(crate) fn num(&mut self, key: &str, value: impl Into<u64>) -> &mut Object {
        self.key(key);
        let _ = write!(self.out, "{}", value.into());
        self
    }

    /// `"key": number` or `"key": null`.
    pub(crate) fn opt_num(&mut self, key: &str, value: Option<impl Into<u64>>) -> &mut Object {
        match value {
            Some(v) => self.num(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// `"key": "value"` or `"key": null`.
    pub(crate) fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Object {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// `"key": true|false`.
    pub(crate) fn bool(&mut self, key: &str, value: bool) -> &mut Object {
        self.raw(key, if value { "true" } else { "false" })
    }

    /// `"key": [n, ...]`.
    pub(crate) fn nums(&mut self, key: &str, values: &[u64]) -> &mut Object {
        let items: Vec<String> = values.iter().map(u64::to_string).collect();
        self.raw(key, &format!("[{}]", items.join(", ")))
    }

    /// `"key": ["s", ...]`.
    pub(crate) fn strs(&mut self, key: &str, values: &[&str]) -> &mut Object {
        let mut text = String::from("[");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            push_str(&mut text, v);
        }
        text.push(']');
        self.raw(key, &text)
    }

    /// `"key": <nested object>`.
    pub(crate) fn obj(&mut self, key: &str, value: Object) -> &mut Object {
        let text = value.finish();
        self.raw(key, &text)
    }

    /// `"key": <already valid JSON text>`.
    fn raw(&mut self, key: &str, json: &str) -> &mut Object {
        self.key(key);
        self.out.push_str(json);
        self
    }

    /// The object text.
    pub(crate) fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Append `s` as a JSON string literal (RFC 8259 escaping).
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_strings() {
        let mut o = Object::new();
        o.str("a\"b", "x\\y\n\u{1}")
            .num("n", 5u8)
            .bool("t", true)
            .opt_num("z", None::<u8>);
        assert_eq!(
            o.finish(),
            r#"{"a\"b": "x\\y\n\u0001", "n": 5, "t": true, "z": null}"#
        );
    }
}
