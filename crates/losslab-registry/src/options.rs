//! Option values: parsed from text (the command line, a front end's literal), then checked
//! against the type a loss declares for them.

use crate::error::fail;
use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// A loss option's value before it is checked against the loss's declared
/// [`OptionType`]: what `--option KEY=VALUE`, a JSON value or a Python argument says.
///
/// # Examples
/// ```
/// use losslab_registry::OptionValue;
/// assert_eq!("-100".parse::<OptionValue>().unwrap(), OptionValue::Int(-100));
/// assert_eq!("0.1".parse::<OptionValue>().unwrap(), OptionValue::Float(0.1));
/// assert_eq!("True".parse::<OptionValue>().unwrap(), OptionValue::Bool(true));
/// assert_eq!("None".parse::<OptionValue>().unwrap(), OptionValue::None);
/// assert_eq!("cosine".parse::<OptionValue>().unwrap().to_string(), "cosine"); // a name
/// assert!("1,5".parse::<OptionValue>().is_err());
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
    /// A name (an identifier such as `cosine`), for options that choose among named
    /// alternatives ([`OptionType::Choice`]).
    Name(Name),
}

/// A short name held inline (at most 31 ASCII letters, digits or `_`, not
/// starting with a digit), so that [`OptionValue`] stays `Copy`.
///
/// # Examples
/// ```
/// use losslab_registry::Name;
/// assert_eq!(Name::new("cosine").unwrap().as_str(), "cosine");
/// assert!(Name::new("0x10").is_none() && Name::new("a b").is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    len: u8,
    bytes: [u8; 31],
}

impl Name {
    /// The name `s`, if it is one.
    pub fn new(s: &str) -> Option<Name> {
        let ok = !s.is_empty()
            && s.len() <= 31
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !s.as_bytes()[0].is_ascii_digit();
        ok.then(|| {
            let mut bytes = [0u8; 31];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Name { len: s.len() as u8, bytes }
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("ASCII")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl FromStr for OptionValue {
    type Err = Error;

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
                } else if let Some(n) = Name::new(t) {
                    OptionValue::Name(n)
                } else {
                    fail!(Option, "cannot parse `{s}`: expected a number, true/false (or True/False), None/null, or a name")
                }
            }
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
            OptionValue::Name(n) => f.write_str(n.as_str()),
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
    /// One of the listed names.
    Choice(&'static [&'static str]),
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
            OptionType::Choice(_) => "name",
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
            (OptionType::Choice(names), V::Name(n)) if names.contains(&n.as_str()) => Ok(value),
            (OptionType::Choice(names), _) => Err(format!("expected one of {}", names.join(", "))),
            (t, _) => Err(format!(
                "expected {}",
                match t {
                    OptionType::Float => "a number",
                    OptionType::OptionalFloat => "a number or None",
                    OptionType::Int => "an integer",
                    OptionType::Axis => "an integer axis",
                    OptionType::Bool => "True or False",
                    OptionType::Choice(_) => unreachable!("handled above"),
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
