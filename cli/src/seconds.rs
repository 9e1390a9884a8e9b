//! Seconds typed as a decimal number (`scan --timeout 2.5`).

use std::time::Duration;

/// `text` (surrounding spaces dropped) as a number of seconds from 0 to about
/// 1.8e19, what a [`Duration`] holds; anything else (NaN, infinite, negative,
/// 1e300, not a number) is refused with the range in words.
pub fn parse(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| "a number of seconds from 0 to 1.8e19".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_in_range_and_the_rest_refused() {
        assert_eq!(parse(" 2.5 "), Ok(Duration::from_millis(2500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        // The refusal's range is the one taken: 1.5e19 s is, 1.9e19 s is not.
        assert_eq!(
            parse("1.5e19"),
            Ok(Duration::from_secs(15_000_000_000_000_000_000))
        );
        let refusal = parse("1.9e19").unwrap_err();
        assert_eq!(refusal, "a number of seconds from 0 to 1.8e19");
        for bad in ["nan", "inf", "-1", "1e300", "", "1s"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
