//! Time bounds as the Datadog APIs and `dd.audit` take them: `now`, date math
//! (`now-15m`, `now+1h`, `now-7d`), ISO 8601 and epoch milliseconds.

use crate::Timestamp;

/// Parses one bound relative to `now`.
pub fn parse_time(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Some(math) = text.strip_prefix("now") {
        if math.is_empty() {
            return Ok(now);
        }
        let (sign, amount) = match math.split_at(1) {
            ("-", rest) => (-1i64, rest),
            ("+", rest) => (1i64, rest),
            _ => {
                return Err(format!(
                    "invalid date math {text:?}: expected now-15m, now+1h, ..."
                ));
            }
        };
        let digits_end = amount
            .find(|ch: char| !ch.is_ascii_digit())
            .unwrap_or(amount.len());
        let (number, unit) = amount.split_at(digits_end);
        let number: i64 = number
            .parse()
            .map_err(|_| format!("invalid date math {text:?}: missing a number"))?;
        let seconds_per_unit: i64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            "M" => 30 * 86_400,
            "y" => 365 * 86_400,
            _ => {
                return Err(format!(
                    "invalid date math {text:?}: the unit must be one of s m h d w M y"
                ));
            }
        };
        let nanos = number
            .checked_mul(seconds_per_unit)
            .and_then(|seconds| seconds.checked_mul(1_000_000_000))
            .and_then(|delta| now.as_nanos().checked_add(sign * delta))
            .ok_or_else(|| format!("date math {text:?} is out of range"))?;
        return Ok(Timestamp::from_nanos(nanos));
    }
    text.parse::<Timestamp>().map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = Timestamp::from_millis(1_714_564_800_000).expect("in range");
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(
            parse_time("now-15m", now),
            Timestamp::from_millis(1_714_564_800_000 - 900_000).ok_or_else(String::new)
        );
        assert_eq!(
            parse_time("now+1h", now).map(|t| t.as_nanos() - now.as_nanos()),
            Ok(3_600_000_000_000)
        );
        assert_eq!(parse_time("1714564800000", now), Ok(now));
        assert_eq!(parse_time("2024-05-01T12:00:00Z", now), Ok(now));
        assert!(parse_time("now-15x", now).is_err());
        assert!(parse_time("now*2", now).is_err());
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("now-99999999999y", now).is_err());
    }
}
