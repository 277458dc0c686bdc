//! Bounded, trimmed text values.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Describes a string newtype in the OpenAPI document with the same bounds
/// its `parse` enforces (the pattern from [`super::pattern`]).
macro_rules! string_schema {
    ($name:ident, min = $min:literal, max = $max:literal, pattern = $pattern:expr, example = $example:literal) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some($min))
                    .max_length(Some($max))
                    .pattern(Some($pattern()))
                    .examples([$example])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

/// Checks the raw length (so that what the schema calls too long is refused
/// even when trimming would shorten it), then trims.
fn bounded(raw: &str, max: usize) -> Result<String, Invalid> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(Invalid("must not be empty"));
    }
    if raw.chars().count() > max {
        return Err(Invalid(match max {
            40 => "must be at most 40 characters",
            100 => "must be at most 100 characters",
            200 => "must be at most 200 characters",
            _ => "must be at most 4000 characters",
        }));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Invalid("must not contain control characters"));
    }
    Ok(value.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, max = $max:literal, example = $example:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        string_schema!($name, min = 1, max = $max, pattern = super::pattern::trimmed_text, example = $example);

        impl $name {
            /// Trims and checks the length (1 to the maximum, in characters).
            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                bounded(raw, $max).map(Self)
            }

            /// The stored text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(raw: String) -> Result<Self, Invalid> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

text_type!(
    /// A person's or a thing's name: 1 to 200 characters once trimmed.
    Name, max = 200, example = "Ann"
);
text_type!(
    /// Free text such as notes or a reason: 1 to 4000 characters once trimmed.
    Text, max = 4000, example = "Left ventricular ejection fraction below inclusion threshold"
);

/// A phone number as people write it: digits with optional `+`, spaces,
/// dots, dashes and parentheses; 5 to 20 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

string_schema!(
    Phone,
    min = 5,
    max = 40,
    pattern = super::pattern::phone,
    example = "+31 20 123 4567"
);

impl Phone {
    /// Trims and checks the characters and the number of digits.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = bounded(raw, 40)?;
        let body = value.strip_prefix('+').unwrap_or(&value);
        if !body
            .chars()
            .all(|c| c.is_ascii_digit() || " ().-".contains(c))
        {
            return Err(Invalid(
                "may contain only digits, spaces, '+', '(', ')', '.' and '-'",
            ));
        }
        let digits = body.chars().filter(char::is_ascii_digit).count();
        if !(5..=20).contains(&digits) {
            return Err(Invalid("must have 5 to 20 digits"));
        }
        Ok(Self(value))
    }
}

impl TryFrom<String> for Phone {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> String {
        value.0
    }
}

/// A short code such as a medical condition's abbreviation (`DMD`): 1 to 40
/// characters, stored upper-case so that `dmd` and `DMD` are one condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Abbreviation(String);

string_schema!(
    Abbreviation,
    min = 1,
    max = 40,
    pattern = super::pattern::trimmed_text,
    example = "DMD"
);

impl Abbreviation {
    /// Trims, upper-cases and checks the length.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        bounded(raw, 40).map(|value| Self(value.to_uppercase()))
    }
}

impl TryFrom<String> for Abbreviation {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Abbreviation> for String {
    fn from(value: Abbreviation) -> String {
        value.0
    }
}

/// A clinical-trial registry id (`NCT01234567`, `EUCT 2023-500001-23-00`):
/// trimmed and upper-cased, so one trial is one id however it was typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegistryId(String);

string_schema!(
    RegistryId,
    min = 1,
    max = 40,
    pattern = super::pattern::trimmed_text,
    example = "NCT01234567"
);

impl RegistryId {
    /// Trims, upper-cases and checks the length.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        bounded(raw, 40).map(|value| Self(value.to_uppercase()))
    }
}

impl TryFrom<String> for RegistryId {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<RegistryId> for String {
    fn from(value: RegistryId) -> String {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_must_not_be_blank() {
        assert_eq!(Name::parse("  Ann ").unwrap().as_str(), "Ann");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(201)).is_err());
        assert!(Name::parse(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn phones_need_digits_and_only_phone_punctuation() {
        assert!(Phone::parse("+31 (0)20-123.4567").is_ok());
        assert!(Phone::parse("12").is_err());
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("++3112345").is_err());
    }

    use super::super::pattern::tests::agree;

    #[test]
    fn the_schema_of_a_name_allows_exactly_what_parse_accepts() {
        let longest = "é".repeat(200);
        let too_long = "x".repeat(201);
        let padded_too_long = format!(" {}", "x".repeat(200));
        agree(
            Name::parse,
            &[
                "Ann",
                "  Ann ",
                "Zoë 李",
                "\tAnn\n",
                "A\tn\nn",
                "\r\u{b}Ann\u{c}\r",
                "\u{85}Ann\u{3000}",
                "\u{feff}",
                "a\u{a0}b",
                &longest,
                &too_long,
                &padded_too_long,
                "",
                "   ",
                "\u{a0}\u{2028}",
                "A\rB",
                "A\u{0}B",
                "A\u{85}B",
                "\u{9f}",
                "\u{7f}Ann",
            ],
        );
    }

    #[test]
    fn the_schema_of_a_text_allows_exactly_what_parse_accepts() {
        let longest = "x".repeat(4000);
        let too_long = "x".repeat(4001);
        agree(
            Text::parse,
            &[
                "Line one\nLine two",
                &longest,
                &too_long,
                "\n\n",
                "bell\u{7}",
            ],
        );
    }

    #[test]
    fn the_schema_of_a_phone_allows_exactly_what_parse_accepts() {
        agree(
            Phone::parse,
            &[
                "+31 (0)20-123.4567",
                "12345",
                " 12345\t",
                "\u{a0}+12345",
                "+ 1 2 3 4 5",
                "(((((12345)))))",
                "12345678901234567890",
                "1234",
                "123456789012345678901",
                "++3112345",
                "12345+",
                "call me",
                "123\u{a0}45",
                "12\t345",
                "",
                "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1",
            ],
        );
    }

    #[test]
    fn the_schemas_of_codes_allow_exactly_what_parse_accepts() {
        let longest = "x".repeat(40);
        let too_long = "x".repeat(41);
        let samples = ["dmd", " NCT0001 ", &longest, &too_long, "", " ", "a\u{1b}b"];
        agree(Abbreviation::parse, &samples);
        agree(RegistryId::parse, &samples);
    }

    #[test]
    fn abbreviations_and_registry_ids_are_upper_cased() {
        assert_eq!(String::from(Abbreviation::parse(" dmd ").unwrap()), "DMD");
        assert_eq!(
            String::from(RegistryId::parse(" nct0001 ").unwrap()),
            "NCT0001"
        );
    }
}
