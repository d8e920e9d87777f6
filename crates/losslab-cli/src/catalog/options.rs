//! Option values: parsed from the command line or from JSON, then checked
//! against the type a loss declares for them.

use anyhow::{bail, Result};
use std::fmt;
use std::str::FromStr;

/// A loss option's value before it is checked against the loss's declared
/// [`OptionType`]: what `--option KEY=VALUE` or a JSON value says.
///
/// # Examples
/// ```
/// use losslab_cli::catalog::OptionValue;
/// assert_eq!("-100".parse::<OptionValue>().unwrap(), OptionValue::Int(-100));
/// assert_eq!("0.1".parse::<OptionValue>().unwrap(), OptionValue::Float(0.1));
/// assert_eq!("True".parse::<OptionValue>().unwrap(), OptionValue::Bool(true));
/// assert_eq!("None".parse::<OptionValue>().unwrap(), OptionValue::None);
/// assert!("abc".parse::<OptionValue>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptionValue {
    /// An integer literal (`-100`, `2`).
    Int(i64),
    /// A number with a fraction, an exponent, or beyond `i64` (`0.1`, `1e-3`, `inf`, `nan`).
    Float(f64),
    /// `true`/`false` (also Python's `True`/`False`).
    Bool(bool),
    /// `None` (also `null`): "not given", for options whose default is `None`.
    None,
}

impl FromStr for OptionValue {
    type Err = anyhow::Error;

    /// Parses `true`/`True`/`false`/`False`, `None`/`null`, an integer, or a
    /// float (`inf`, `-inf` and `nan` included).
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        Ok(match t {
            "true" | "True" => OptionValue::Bool(true),
            "false" | "False" => OptionValue::Bool(false),
            "None" | "null" => OptionValue::None,
            _ => {
                if let Ok(i) = t.parse::<i64>() {
                    OptionValue::Int(i)
                } else if let Ok(f) = t.parse::<f64>() {
                    OptionValue::Float(f)
                } else {
                    bail!("cannot parse `{s}`: expected a number, true/false (or True/False), or None/null")
                }
            }
        })
    }
}

impl OptionValue {
    /// The value a JSON value stands for: a number, a boolean, `null`, or one
    /// of the strings `"nan"`, `"inf"`, `"-inf"`.
    ///
    /// # Errors
    /// For arrays, objects, and other strings.
    ///
    /// # Examples
    /// ```
    /// use losslab_cli::catalog::OptionValue;
    /// assert_eq!(OptionValue::from_json(&serde_json::json!(0.5)).unwrap(), OptionValue::Float(0.5));
    /// assert_eq!(OptionValue::from_json(&serde_json::json!(-1)).unwrap(), OptionValue::Int(-1));
    /// assert_eq!(OptionValue::from_json(&serde_json::json!(null)).unwrap(), OptionValue::None);
    /// ```
    pub fn from_json(v: &serde_json::Value) -> Result<Self> {
        use serde_json::Value as J;
        Ok(match v {
            J::Null => OptionValue::None,
            J::Bool(b) => OptionValue::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => OptionValue::Int(i),
                None => OptionValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) if matches!(s.as_str(), "nan" | "inf" | "-inf") => OptionValue::Float(s.parse().expect("a float")),
            other => bail!("cannot use JSON `{other}` as an option value: expected a number, a boolean or null"),
        })
    }
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Int(i) => write!(f, "{i}"),
            OptionValue::Float(x) => write!(f, "{x:?}"),
            OptionValue::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            OptionValue::None => f.write_str("None"),
        }
    }
}

/// The type of a loss option, as the reference declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionType {
    /// A float (an integer is accepted and converted).
    Float,
    /// A float, or `None`.
    OptionalFloat,
    /// An integer.
    Int,
    /// An axis: an integer, negative counting from the end.
    Axis,
    /// `True` or `False`.
    Bool,
}

impl OptionType {
    /// The type's name as `losslab list` shows it.
    pub fn name(self) -> &'static str {
        match self {
            OptionType::Float => "float",
            OptionType::OptionalFloat => "float or None",
            OptionType::Int => "int",
            OptionType::Axis => "axis (int)",
            OptionType::Bool => "bool",
        }
    }

    /// `value` converted to this type (`Int` to `Float` for float options).
    ///
    /// # Errors
    /// If `value` is not of this type: the message says what is expected.
    pub fn coerce(self, value: OptionValue) -> std::result::Result<OptionValue, String> {
        use OptionValue as V;
        #[allow(clippy::cast_precision_loss)]
        match (self, value) {
            (OptionType::Float | OptionType::OptionalFloat, V::Float(_)) => Ok(value),
            (OptionType::Float | OptionType::OptionalFloat, V::Int(i)) => Ok(V::Float(i as f64)),
            (OptionType::OptionalFloat, V::None) => Ok(V::None),
            (OptionType::Int | OptionType::Axis, V::Int(_)) => Ok(value),
            (OptionType::Bool, V::Bool(_)) => Ok(value),
            (t, v) => Err(format!(
                "expected {}, got {v}",
                match t {
                    OptionType::Float => "a number",
                    OptionType::OptionalFloat => "a number or None",
                    OptionType::Int => "an integer",
                    OptionType::Axis => "an integer axis",
                    OptionType::Bool => "True or False",
                }
            )),
        }
    }
}

impl fmt::Display for OptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_literals_of_python_and_json() {
        for (s, v) in [
            ("1", OptionValue::Int(1)),
            ("-100", OptionValue::Int(-100)),
            (" 2 ", OptionValue::Int(2)),
            ("1.0", OptionValue::Float(1.0)),
            ("1e-3", OptionValue::Float(1e-3)),
            ("-inf", OptionValue::Float(f64::NEG_INFINITY)),
            ("true", OptionValue::Bool(true)),
            ("True", OptionValue::Bool(true)),
            ("false", OptionValue::Bool(false)),
            ("False", OptionValue::Bool(false)),
            ("None", OptionValue::None),
            ("null", OptionValue::None),
            ("99999999999999999999", OptionValue::Float(1e20)),
        ] {
            assert_eq!(s.parse::<OptionValue>().unwrap(), v, "{s}");
        }
        assert!("nan".parse::<OptionValue>().map(|v| matches!(v, OptionValue::Float(x) if x.is_nan())).unwrap());
        for bad in ["", "abc", "TRUE", "1,5", "0x10", "[1]"] {
            let e = bad.parse::<OptionValue>().unwrap_err().to_string();
            assert!(e.contains("expected a number, true/false"), "{bad}: {e}");
        }
    }

    #[test]
    fn json_values() {
        use serde_json::json;
        assert_eq!(OptionValue::from_json(&json!(true)).unwrap(), OptionValue::Bool(true));
        assert_eq!(OptionValue::from_json(&json!(1.0)).unwrap(), OptionValue::Float(1.0));
        assert_eq!(OptionValue::from_json(&json!("-inf")).unwrap(), OptionValue::Float(f64::NEG_INFINITY));
        assert!(OptionValue::from_json(&json!("abc")).is_err());
        assert!(OptionValue::from_json(&json!([1])).is_err());
    }

    #[test]
    fn coercion() {
        use OptionValue as V;
        assert_eq!(OptionType::Float.coerce(V::Int(2)), Ok(V::Float(2.0)));
        assert_eq!(OptionType::OptionalFloat.coerce(V::None), Ok(V::None));
        assert_eq!(OptionType::Float.coerce(V::None), Err("expected a number, got None".into()));
        assert_eq!(OptionType::Int.coerce(V::Float(1.5)), Err("expected an integer, got 1.5".into()));
        assert_eq!(OptionType::Bool.coerce(V::Int(1)), Err("expected True or False, got 1".into()));
        assert_eq!(OptionType::Axis.coerce(V::Int(-1)), Ok(V::Int(-1)));
    }
}
