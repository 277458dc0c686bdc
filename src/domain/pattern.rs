//! The regular expressions the OpenAPI document gives for the text types,
//! built from the same character sets their `parse` uses, so that a
//! generated client or a fuzzer produces exactly the values the API
//! accepts.
//!
//! They use only what ECMA-262, Python's `re` and Rust's `regex` read the
//! same way: character classes with `\uXXXX` escapes, groups, `?`, `*`,
//! `+` and `{m,n}`; no `\s` (each dialect has its own idea of white space)
//! and no look-around.

/// Rust's `char::is_whitespace` (Unicode White_Space), which `str::trim`
/// removes.
const WHITESPACE: &str =
    r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// Rust's `char::is_control` (Unicode Cc).
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";

/// The control characters refused inside text (tab and newline are kept).
const CONTROL_BUT_TAB_AND_NEWLINE: &str = r"\u0000-\u0008\u000B-\u001F\u007F-\u009F";

/// Characters an email address may not hold anywhere (besides white space
/// and control characters).
pub(super) const EMAIL_SPECIALS: &str = "<>()[],;:\\\"";

/// The same, escaped for a character class.
const EMAIL_SPECIALS_CLASS: &str = r#"<>()\[\],;:\\""#;

/// Text that is not blank once trimmed and holds no control character but
/// tab and newline: any white space around it, then a non-space character,
/// then optionally anything allowed ending with a non-space character.
pub(super) fn trimmed_text() -> String {
    let edge = format!("[^{WHITESPACE}{CONTROL}]");
    format!("^[{WHITESPACE}]*{edge}(?:[^{CONTROL_BUT_TAB_AND_NEWLINE}]*{edge})?[{WHITESPACE}]*$")
}

/// A phone number once trimmed: an optional leading `+`, then digits (5 to
/// 20) with spaces, dots, dashes and parentheses among them.
pub(super) fn phone() -> String {
    format!(r"^[{WHITESPACE}]*\+?[ ().\-]*(?:[0-9][ ().\-]*){{5,20}}[{WHITESPACE}]*$")
}

/// An email address once trimmed: 1 to 64 characters, `@`, then a domain
/// of at least two dot-separated labels that neither starts nor ends with
/// a dash; no white space, control character or `<>()[],;:\"` anywhere.
pub(super) fn email() -> String {
    let local = format!("[^@{WHITESPACE}{CONTROL}{EMAIL_SPECIALS_CLASS}]");
    let label = format!("[^.@{WHITESPACE}{CONTROL}{EMAIL_SPECIALS_CLASS}]");
    let edge = format!(r"[^.@\-{WHITESPACE}{CONTROL}{EMAIL_SPECIALS_CLASS}]");
    format!(
        r"^[{WHITESPACE}]*{local}{{1,64}}@{edge}{label}*(?:\.{label}+)*\.{label}*{edge}[{WHITESPACE}]*$"
    )
}

#[cfg(test)]
pub(super) mod tests {
    //! Checks that a type's schema and its `parse` agree on sampled values.

    use utoipa::PartialSchema;

    /// Whether the schema of `T` allows `value`: its pattern (read by Rust's
    /// `regex`, one of the dialects the pattern is written for) and its
    /// lengths, in characters as JSON Schema counts them.
    pub fn allows<T: PartialSchema>(value: &str) -> bool {
        let schema = serde_json::to_value(T::schema()).unwrap();
        let chars = value.chars().count() as u64;
        let pattern = schema["pattern"].as_str().expect("a pattern");
        regex::Regex::new(pattern).unwrap().is_match(value)
            && schema["minLength"].as_u64().is_none_or(|min| chars >= min)
            && schema["maxLength"].as_u64().is_none_or(|max| chars <= max)
    }

    /// Asserts that, for each sample, the schema allows it exactly when
    /// `parse` accepts it, and that the samples hold both kinds.
    pub fn agree<T: PartialSchema, E>(parse: impl Fn(&str) -> Result<T, E>, samples: &[&str]) {
        let mut allowed = 0;
        for sample in samples {
            let by_schema = allows::<T>(sample);
            assert_eq!(
                by_schema,
                parse(sample).is_ok(),
                "{sample:?}: the schema {} it, parse does not",
                if by_schema { "allows" } else { "forbids" }
            );
            allowed += usize::from(by_schema);
        }
        assert!(allowed > 0 && allowed < samples.len(), "one-sided samples");
    }

    #[test]
    fn the_patterns_compile_in_rust_regex() {
        for pattern in [super::trimmed_text(), super::phone(), super::email()] {
            regex::Regex::new(&pattern).unwrap();
        }
    }

    #[test]
    fn the_special_characters_are_the_same_in_both_spellings() {
        let class = regex::Regex::new(&format!("^[{}]+$", super::EMAIL_SPECIALS_CLASS)).unwrap();
        assert!(class.is_match(super::EMAIL_SPECIALS));
        assert_eq!(super::EMAIL_SPECIALS.chars().count(), 11);
        assert!(!class.is_match("a"));
    }
}
