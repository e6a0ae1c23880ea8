//! Statement parameters (`$1`, `$2`, ...), which PostgreSQL clients send
//! apart from the statement text. They are bound into the parsed statement
//! as literals before it is planned, so a parameter may stand wherever a
//! literal may: in `dd.audit(filter => $1, from_timestamp => $2)` too,
//! whose arguments are read while the statement is planned.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, ExactNumberInfo, Expr, Statement, TimezoneInfo, Value,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::SqlError;

/// One parameter's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Parameter {
    Null,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    /// Text, typed by where it stands, like PostgreSQL's untyped literals.
    Text(String),
    /// A time as text (`2024-05-01 10:00:00`, ISO 8601), bound as a
    /// `TIMESTAMP`.
    Timestamp(String),
}

impl Parameter {
    /// The value as JSON, for the record of the statement.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Parameter::Null => serde_json::Value::Null,
            Parameter::Boolean(value) => (*value).into(),
            Parameter::Integer(value) => (*value).into(),
            Parameter::Float(value) => (*value).into(),
            Parameter::Text(text) | Parameter::Timestamp(text) => text.as_str().into(),
        }
    }

    fn literal(&self) -> Expr {
        let text = |text: &str| Expr::value(Value::SingleQuotedString(text.to_string()));
        let cast = |text: &str, data_type: DataType| Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(Expr::value(Value::SingleQuotedString(text.to_string()))),
            data_type,
            array: false,
            format: None,
        };
        match self {
            Parameter::Null => Expr::value(Value::Null),
            Parameter::Boolean(value) => Expr::value(Value::Boolean(*value)),
            Parameter::Integer(value) => Expr::value(Value::Number(value.to_string(), false)),
            Parameter::Float(value) if value.is_finite() => {
                Expr::value(Value::Number(format!("{value:?}"), false))
            }
            // NaN and the infinities have no numeric literal.
            Parameter::Float(value) => {
                cast(&value.to_string(), DataType::Double(ExactNumberInfo::None))
            }
            Parameter::Text(value) => text(value),
            Parameter::Timestamp(value) => {
                cast(value, DataType::Timestamp(None, TimezoneInfo::None))
            }
        }
    }
}

/// What to do about a parameter without a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbound {
    /// Refuse the statement (running it).
    Refuse,
    /// Take NULL (describing a statement before its values are known: its
    /// columns do not depend on them).
    Null,
}

/// Replaces every `$n` in `statement` with the literal of `parameters[n-1]`.
pub fn bind(
    statement: &mut Statement,
    parameters: &[Parameter],
    unbound: Unbound,
) -> Result<(), SqlError> {
    let outcome = visit_expressions_mut(statement, |expr| {
        let Expr::Value(value) = expr else {
            return ControlFlow::Continue(());
        };
        let Value::Placeholder(name) = &value.value else {
            return ControlFlow::Continue(());
        };
        let Some(position) = name
            .strip_prefix('$')
            .and_then(|number| number.parse::<usize>().ok())
            .filter(|position| *position > 0)
        else {
            return ControlFlow::Break(format!(
                "parameter {name}: parameters are written $1, $2, ..."
            ));
        };
        let literal = match (parameters.get(position - 1), unbound) {
            (Some(parameter), _) => parameter.literal(),
            (None, Unbound::Null) => Expr::value(Value::Null),
            (None, Unbound::Refuse) => {
                return ControlFlow::Break(format!(
                    "parameter {name} has no value ({} given): send the values with the statement, or write them into it",
                    parameters.len()
                ));
            }
        };
        *expr = literal;
        ControlFlow::Continue(())
    });
    match outcome {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(message) => Err(SqlError::Invalid(message)),
    }
}

/// How many parameters `sql` takes: the highest `$n` outside strings and
/// comments.
pub fn parameter_count(sql: &str) -> usize {
    Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .map(|tokens| {
            tokens
                .iter()
                .filter_map(|token| match token {
                    Token::Placeholder(name) => name.strip_prefix('$')?.parse::<usize>().ok(),
                    _ => None,
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn bound(sql: &str, parameters: &[Parameter], unbound: Unbound) -> Result<String, SqlError> {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|error| SqlError::Invalid(error.to_string()))?;
        bind(&mut statements[0], parameters, unbound)?;
        Ok(statements[0].to_string())
    }

    #[test]
    fn binds_each_kind_as_its_literal() {
        let sql = "SELECT $1, $2, $3, $4, $5, $6, $7, $1";
        let parameters = [
            Parameter::Text("it's".into()),
            Parameter::Integer(-7),
            Parameter::Float(1.5),
            Parameter::Boolean(true),
            Parameter::Null,
            Parameter::Timestamp("2024-05-01 10:00:00".into()),
            Parameter::Float(f64::NAN),
        ];
        assert_eq!(
            bound(sql, &parameters, Unbound::Refuse).ok().as_deref(),
            Some(
                "SELECT 'it''s', -7, 1.5, true, NULL, CAST('2024-05-01 10:00:00' AS TIMESTAMP), CAST('NaN' AS DOUBLE), 'it''s'"
            )
        );
    }

    #[test]
    fn binds_inside_dd_audit_arguments() {
        let sql = "SELECT * FROM \"dd.audit\"(columns => ARRAY['timestamp'], filter => $1) AS _dd(ts TIMESTAMP)";
        let text = bound(
            sql,
            &[Parameter::Text("@evt.name:x".into())],
            Unbound::Refuse,
        );
        assert!(text.is_ok_and(|text| text.contains("filter => '@evt.name:x'")));
    }

    #[test]
    fn a_missing_value_is_refused_or_null() {
        let refused = bound("SELECT $2", &[Parameter::Integer(1)], Unbound::Refuse);
        assert!(refused.is_err_and(|error| error.to_string().contains("$2 has no value")));
        let described = bound("SELECT $1", &[], Unbound::Null);
        assert_eq!(described.ok().as_deref(), Some("SELECT NULL"));
    }

    #[test]
    fn counts_parameters_outside_strings() {
        assert_eq!(
            parameter_count("SELECT * FROM t WHERE a = $2 AND b = $1"),
            2
        );
        assert_eq!(parameter_count("SELECT '$1' AS a -- $3"), 0);
    }
}
