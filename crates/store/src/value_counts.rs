//! How often each value occurs in a segment's keyword columns, counted at
//! seal time and kept in the segment's footer (`evident.value_counts`).
//!
//! `| stats count by service` and SQL's `GROUP BY` one column over
//! segments the window covers whole then add these up instead of reading
//! a column per segment. Columns with more than [`MAX_VALUES`] distinct
//! values in a segment (client IPs, ids) are left out: their counts would
//! weigh more than reading the column. Users fit: counting events by user
//! is what audit questions ask most.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, DictionaryArray};
use arrow::datatypes::Int32Type;
use parquet::file::metadata::KeyValue;

/// The footer key.
pub const FOOTER_KEY: &str = "evident.value_counts";

/// Distinct values (the missing one included) above which a column is not
/// counted: at most some 200 KB of footer for a segment of 100k events.
pub const MAX_VALUES: usize = 8192;

/// Per column name: each value (`None`: the row has none) and its rows.
pub type ValueCounts = HashMap<String, Vec<(Option<String>, u64)>>;

/// The counts of one dictionary column; `None` when it has too many
/// distinct values.
pub fn count_column(column: &DictionaryArray<Int32Type>) -> Option<Vec<(Option<String>, u64)>> {
    let values = column.values().as_string_opt::<i32>()?;
    let mut per_key = vec![0u64; values.len()];
    let mut missing = 0u64;
    for row in 0..column.len() {
        if column.is_valid(row) {
            let key = usize::try_from(column.keys().value(row)).ok()?;
            *per_key.get_mut(key)? += 1;
        } else {
            missing += 1;
        }
    }
    // The dictionary builder keeps one key per distinct value.
    let mut counts: Vec<(Option<String>, u64)> = per_key
        .into_iter()
        .enumerate()
        .filter(|(_, count)| *count > 0)
        .map(|(key, count)| (Some(values.value(key).to_string()), count))
        .collect();
    if missing > 0 {
        counts.push((None, missing));
    }
    (counts.len() <= MAX_VALUES).then_some(counts)
}

/// The footer entry for `counts`.
pub fn footer_entry(counts: &ValueCounts) -> KeyValue {
    // A map of strings, vectors and integers always serializes.
    let text = serde_json::to_string(counts).unwrap_or_default();
    KeyValue::new(FOOTER_KEY.to_string(), text)
}

/// The counts a footer holds; empty when it holds none (segments sealed
/// before counts were kept) or they do not parse.
pub fn from_footer(footer: Option<&Vec<KeyValue>>) -> ValueCounts {
    footer
        .into_iter()
        .flatten()
        .find(|entry| entry.key == FOOTER_KEY)
        .and_then(|entry| entry.value.as_deref())
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringDictionaryBuilder;

    #[test]
    fn counts_values_and_the_missing_one_and_round_trip_through_the_footer() {
        let mut builder = StringDictionaryBuilder::<Int32Type>::new();
        for value in ["a", "b", "a", "a"] {
            builder.append_value(value);
        }
        builder.append_null();
        let counts = count_column(&builder.finish()).expect("few values");
        assert_eq!(
            counts,
            vec![(Some("a".into()), 3), (Some("b".into()), 1), (None, 1)]
        );
        let all: ValueCounts = [("service".to_string(), counts)].into();
        let entry = footer_entry(&all);
        assert_eq!(from_footer(Some(&vec![entry])), all);
        assert!(from_footer(None).is_empty());
    }

    #[test]
    fn many_distinct_values_are_not_counted() {
        let mut builder = StringDictionaryBuilder::<Int32Type>::new();
        for value in 0..=MAX_VALUES {
            builder.append_value(value.to_string());
        }
        assert!(count_column(&builder.finish()).is_none());
    }
}
