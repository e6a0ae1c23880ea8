//! A monitor group's state and how a value moves it: OK → WARN → ALERT →
//! OK (recovery), NO DATA; recovery thresholds hold a state until the
//! value has come back far enough.

use serde::{Deserialize, Serialize};

use crate::query::Comparator;

/// The state of a monitor group, as Datadog names it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord,
)]
pub enum Level {
    #[default]
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "Warn")]
    Warn,
    #[serde(rename = "Alert")]
    Alert,
    #[serde(rename = "No Data")]
    NoData,
}

impl Level {
    /// As Datadog's `overall_state` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warn => "Warn",
            Level::Alert => "Alert",
            Level::NoData => "No Data",
        }
    }

    /// How bad, for the overall state of several groups.
    pub fn severity(self) -> u8 {
        match self {
            Level::Ok => 0,
            Level::NoData => 1,
            Level::Warn => 2,
            Level::Alert => 3,
        }
    }
}

/// `options.thresholds` of a threshold monitor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub critical: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_recovery: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_recovery: Option<f64>,
}

impl Thresholds {
    /// Whether the thresholds are in an order that can work with
    /// `comparator`: a warning before the critical threshold, each
    /// recovery threshold on the safe side of what it recovers from.
    pub fn check(&self, comparator: Comparator) -> Result<(), String> {
        let upward = comparator.upward();
        let word = if upward { "below" } else { "above" };
        let strictly = |a: f64, b: f64| if upward { a < b } else { a > b };
        if let Some(warning) = self.warning
            && !strictly(warning, self.critical)
        {
            return Err(format!(
                "the warning threshold ({warning}) must be {word} the critical threshold ({}) for '{}'",
                self.critical,
                comparator.symbol()
            ));
        }
        if let Some(recovery) = self.critical_recovery
            && !strictly(recovery, self.critical)
        {
            return Err(format!(
                "the critical recovery threshold ({recovery}) must be {word} the critical threshold ({})",
                self.critical
            ));
        }
        if let (Some(recovery), Some(warning)) = (self.warning_recovery, self.warning)
            && !strictly(recovery, warning)
        {
            return Err(format!(
                "the warning recovery threshold ({recovery}) must be {word} the warning threshold ({warning})"
            ));
        }
        if self.warning_recovery.is_some() && self.warning.is_none() {
            return Err("a warning recovery threshold needs a warning threshold".into());
        }
        for value in [
            Some(self.critical),
            self.warning,
            self.critical_recovery,
            self.warning_recovery,
        ]
        .into_iter()
        .flatten()
        {
            if !value.is_finite() {
                return Err("thresholds are finite numbers".into());
            }
        }
        Ok(())
    }

    /// The level `value` puts a group in that was at `previous`.
    pub fn judge(&self, comparator: Comparator, previous: Level, value: f64) -> Level {
        let breached = |threshold: f64| comparator.breached(value, threshold);
        // A state holds until the value is back past its recovery threshold.
        let holds_alert = previous == Level::Alert && self.critical_recovery.is_some_and(breached);
        if breached(self.critical) || holds_alert {
            return Level::Alert;
        }
        let Some(warning) = self.warning else {
            return Level::Ok;
        };
        let holds_warning = matches!(previous, Level::Warn | Level::Alert)
            && self.warning_recovery.is_some_and(breached);
        if breached(warning) || holds_warning {
            Level::Warn
        } else {
            Level::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds {
            critical: 10.0,
            warning: Some(5.0),
            critical_recovery: Some(8.0),
            warning_recovery: Some(3.0),
        }
    }

    #[test]
    fn values_move_a_group_through_its_levels_with_recovery_thresholds() {
        let t = thresholds();
        let above = Comparator::Above;
        assert_eq!(t.judge(above, Level::Ok, 4.0), Level::Ok);
        assert_eq!(t.judge(above, Level::Ok, 6.0), Level::Warn);
        assert_eq!(t.judge(above, Level::Ok, 11.0), Level::Alert);
        // Held above 8 (critical recovery), then warning until 3.
        assert_eq!(t.judge(above, Level::Alert, 9.0), Level::Alert);
        assert_eq!(t.judge(above, Level::Alert, 8.0), Level::Warn);
        assert_eq!(t.judge(above, Level::Warn, 4.0), Level::Warn);
        assert_eq!(t.judge(above, Level::Warn, 3.0), Level::Ok);
        assert_eq!(t.judge(above, Level::Ok, 9.0), Level::Warn);
    }

    #[test]
    fn thresholds_in_the_wrong_order_are_refused() {
        assert!(thresholds().check(Comparator::Above).is_ok());
        let wrong = Thresholds {
            warning: Some(20.0),
            ..thresholds()
        };
        let error = wrong
            .check(Comparator::Above)
            .expect_err("warning above critical");
        assert!(
            error.contains("warning threshold (20) must be below"),
            "{error}"
        );
        assert!(thresholds().check(Comparator::Below).is_err());
        let below = Thresholds {
            critical: 1.0,
            warning: Some(5.0),
            critical_recovery: None,
            warning_recovery: None,
        };
        assert!(below.check(Comparator::Below).is_ok());
        assert_eq!(below.judge(Comparator::Below, Level::Ok, 0.0), Level::Alert);
        assert_eq!(below.judge(Comparator::Below, Level::Ok, 3.0), Level::Warn);
    }
}
