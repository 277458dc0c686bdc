use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// An email address, trimmed and lower-cased: the one form stored and
/// compared, so that `" Ann@Example.org"` and `"ann@example.org"` are the
/// same person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl utoipa::PartialSchema for Email {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Email,
            )))
            .description(Some(
                "Stored trimmed and lower-cased: one person is one address however it was typed.",
            ))
            .max_length(Some(254))
            .pattern(Some(super::pattern::email()))
            .examples(["ann@example.org"])
            .into()
    }
}

impl utoipa::ToSchema for Email {}

impl Email {
    /// Validates a raw address and normalises it: at most 254 characters,
    /// a local part of 1 to 64 characters, `@`, a domain of at least two
    /// dot-separated labels that neither starts nor ends with `-`, and no
    /// white space, control character or `<>()[],;:\"` once trimmed.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim();
        if email.is_empty() {
            return Err(Invalid("must not be empty"));
        }
        if raw.chars().count() > 254 {
            return Err(Invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(Invalid("must contain '@'"));
        };
        // Checked before lower-casing, which can change a character count
        // (the schema's pattern sees the address as sent).
        let well_formed = !local.is_empty()
            && local.chars().count() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && !email.chars().any(|c| {
                c.is_whitespace() || c.is_control() || super::pattern::EMAIL_SPECIALS.contains(c)
            });
        if well_formed {
            Ok(Self(email.to_lowercase()))
        } else {
            Err(Invalid("is not a valid email address"))
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ann.Lee@Example.ORG ").unwrap().as_str(),
            "ann.lee@example.org"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in [
            "",
            "   ",
            "ann",
            "ann@",
            "@example.org",
            "ann@example",
            "a b@example.org",
            "ann@@example.org",
            "ann@example..org",
            "ann@.example.org",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn the_schema_allows_exactly_the_addresses_parse_accepts() {
        let long_local = format!("{}@example.org", "a".repeat(64));
        let too_long_local = format!("{}@example.org", "a".repeat(65));
        let wide_local = format!("{}@example.org", "é".repeat(64));
        let longest = format!("a@{}.org", "b".repeat(248));
        let too_long = format!("a@{}.org", "b".repeat(249));
        super::super::pattern::tests::agree(
            Email::parse,
            &[
                "ann@example.org",
                " Ann@Example.ORG ",
                "\u{3000}ann@example.org\r\n",
                "ann+eap@example.org",
                "zoë@exämple.org",
                "o'brien!#$%&*/=?^_`{|}~@a.b",
                "ann@ex-.ample.org",
                "ann@a.b.c.d",
                &long_local,
                &too_long_local,
                &wide_local,
                &longest,
                &too_long,
                "",
                "ann",
                "ann@",
                "@example.org",
                "ann@example",
                "a b@example.org",
                "ann@@example.org",
                "ann@example..org",
                "ann@.example.org",
                "ann@example.org.",
                "ann@-example.org",
                "ann@example.org-",
                "ann<x>@example.org",
                "ann@exa\"mple.org",
                "ann@exam;ple.org",
                "ann\u{0}@example.org",
                "ann\u{85}@example.org",
                "ann@example.org\u{a0}x",
            ],
        );
    }

    #[test]
    fn plus_addressing_and_unicode_are_accepted() {
        assert!(Email::parse("ann+eap@example.org").is_ok());
        assert!(Email::parse("zoë@exämple.org").is_ok());
    }
}
