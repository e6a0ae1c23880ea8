//! Statement parameters as PostgreSQL clients send them: bytes in text or
//! binary format, typed by the statement's declared parameter types (or
//! untyped, which binds as text, like PostgreSQL's untyped literals).

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use evident_query::sql::parameters::Parameter;
use pgwire::api::Type;
use pgwire::api::portal::{Format, Portal};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

/// The values bound to `portal`, in order.
pub fn decode(portal: &Portal<String>) -> PgWireResult<Vec<Parameter>> {
    portal
        .parameters
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let declared = portal
                .statement
                .parameter_types
                .get(index)
                .cloned()
                .flatten()
                .unwrap_or(Type::UNKNOWN);
            if value.is_none() {
                Ok(Parameter::Null)
            } else if is_binary(&portal.parameter_format, index) {
                binary(portal, index, &declared)
            } else {
                let bytes = value.as_deref().unwrap_or_default();
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| invalid(index, "is not UTF-8 text".into()))?;
                text_value(index, &declared, text)
            }
        })
        .collect()
}

/// The types to announce for `count` parameters: the declared ones, text
/// for the rest (their values then come as text).
pub fn announced_types(declared: &[Option<Type>], count: usize) -> Vec<Type> {
    (0..count.max(declared.len()))
        .map(|index| {
            declared
                .get(index)
                .cloned()
                .flatten()
                .filter(|kind| *kind != Type::UNKNOWN)
                .unwrap_or(Type::TEXT)
        })
        .collect()
}

fn is_binary(format: &Format, index: usize) -> bool {
    match format {
        Format::UnifiedText => false,
        Format::UnifiedBinary => true,
        // A list shorter than the parameters must not panic.
        Format::Individual(codes) => codes.get(index).is_some_and(|code| *code == 1),
    }
}

fn text_value(index: usize, declared: &Type, text: &str) -> PgWireResult<Parameter> {
    let kind = declared.clone();
    let parameter = if kind == Type::BOOL {
        match text.to_ascii_lowercase().as_str() {
            "t" | "true" | "on" | "yes" | "1" => Parameter::Boolean(true),
            "f" | "false" | "off" | "no" | "0" => Parameter::Boolean(false),
            _ => return Err(invalid(index, format!("{text:?} is not a boolean"))),
        }
    } else if [Type::INT2, Type::INT4, Type::INT8, Type::OID].contains(&kind) {
        Parameter::Integer(
            text.trim()
                .parse()
                .map_err(|_| invalid(index, format!("{text:?} is not an integer")))?,
        )
    } else if [Type::FLOAT4, Type::FLOAT8, Type::NUMERIC].contains(&kind) {
        Parameter::Float(
            text.trim()
                .parse()
                .map_err(|_| invalid(index, format!("{text:?} is not a number")))?,
        )
    } else if [Type::TIMESTAMP, Type::TIMESTAMPTZ, Type::DATE].contains(&kind) {
        Parameter::Timestamp(text.to_string())
    } else {
        Parameter::Text(text.to_string())
    };
    Ok(parameter)
}

fn binary(portal: &Portal<String>, index: usize, declared: &Type) -> PgWireResult<Parameter> {
    let kind = declared.clone();
    let null = || Parameter::Null;
    let parameter = if kind == Type::BOOL {
        portal
            .parameter::<bool>(index, &kind)?
            .map_or_else(null, Parameter::Boolean)
    } else if kind == Type::INT2 {
        portal
            .parameter::<i16>(index, &kind)?
            .map_or_else(null, |value| Parameter::Integer(value.into()))
    } else if kind == Type::INT4 {
        portal
            .parameter::<i32>(index, &kind)?
            .map_or_else(null, |value| Parameter::Integer(value.into()))
    } else if kind == Type::INT8 {
        portal
            .parameter::<i64>(index, &kind)?
            .map_or_else(null, Parameter::Integer)
    } else if kind == Type::FLOAT4 {
        portal
            .parameter::<f32>(index, &kind)?
            .map_or_else(null, |value| Parameter::Float(value.into()))
    } else if kind == Type::FLOAT8 {
        portal
            .parameter::<f64>(index, &kind)?
            .map_or_else(null, Parameter::Float)
    } else if kind == Type::TIMESTAMP {
        portal
            .parameter::<NaiveDateTime>(index, &kind)?
            .map_or_else(null, |time| Parameter::Timestamp(time.to_string()))
    } else if kind == Type::TIMESTAMPTZ {
        portal
            .parameter::<DateTime<FixedOffset>>(index, &kind)?
            .map_or_else(null, |time| {
                Parameter::Timestamp(time.naive_utc().to_string())
            })
    } else if [
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
    ]
    .contains(&kind)
    {
        portal
            .parameter::<String>(index, &kind)?
            .map_or_else(null, Parameter::Text)
    } else {
        return Err(invalid(
            index,
            format!(
                "binary {} values are not supported: send it as text",
                kind.name()
            ),
        ));
    };
    Ok(parameter)
}

fn invalid(index: usize, what: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "22P02".into(),
        format!("parameter ${}: {what}", index + 1),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_take_their_declared_type() {
        let value = |kind: Type, text: &str| text_value(0, &kind, text).ok();
        assert_eq!(value(Type::INT8, "42"), Some(Parameter::Integer(42)));
        assert_eq!(value(Type::BOOL, "t"), Some(Parameter::Boolean(true)));
        assert_eq!(value(Type::FLOAT8, "1.5"), Some(Parameter::Float(1.5)));
        assert_eq!(
            value(Type::UNKNOWN, "@evt.name:x"),
            Some(Parameter::Text("@evt.name:x".into()))
        );
        assert!(value(Type::INT4, "four").is_none());
    }

    #[test]
    fn untyped_parameters_are_announced_as_text() {
        assert_eq!(
            announced_types(&[Some(Type::INT8), None], 3),
            vec![Type::INT8, Type::TEXT, Type::TEXT]
        );
    }
}
