//! The pieces device names are made of, read one way for every reader kind:
//! decimal numbers, and `key=value` options, each key at most once. Anything else
//! is [`Status::NotSupported`], like any malformed device name.

use std::str::FromStr;

use readerkit::Status;

/// A number in a device name: plain decimal digits (no sign, no spaces, no hex)
/// whose value fits `T`.
pub(crate) fn number<T: FromStr>(value: &str) -> Result<T, Status> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Status::NotSupported);
    }
    value.parse().map_err(|_| Status::NotSupported)
}

/// `fields` as `(key, value)` options: every field `key=value`, no key twice.
pub(crate) fn options<'a>(fields: &[&'a str]) -> Result<Vec<(&'a str, &'a str)>, Status> {
    let mut options: Vec<(&str, &str)> = Vec::with_capacity(fields.len());
    for field in fields {
        let (key, value) = field.split_once('=').ok_or(Status::NotSupported)?;
        if options.iter().any(|&(seen, _)| seen == key) {
            return Err(Status::NotSupported);
        }
        options.push((key, value));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_decimal_digits_that_fit() {
        assert_eq!(number::<u16>("35963"), Ok(35_963));
        assert_eq!(number::<u32>("0"), Ok(0));
        for bad in ["", "+1", "-1", " 1", "1 ", "0x10", "1.5", "65536"] {
            assert_eq!(number::<u16>(bad), Err(Status::NotSupported), "{bad:?}");
        }
        assert_eq!(
            number::<u64>("99999999999999999999"),
            Err(Status::NotSupported)
        );
    }

    #[test]
    fn options_are_key_value_fields_each_key_once() {
        assert_eq!(
            options(&["clock=4000", "div=2", "echo="]),
            Ok(vec![("clock", "4000"), ("div", "2"), ("echo", "")])
        );
        assert_eq!(options(&[]), Ok(vec![]));
        assert_eq!(options(&["clock=1", "clock=1"]), Err(Status::NotSupported));
        assert_eq!(options(&["clock=1", "4000"]), Err(Status::NotSupported));
    }
}
