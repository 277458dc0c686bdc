//! Search terms: the words of a name, an email or a phone number as staff
//! type them. Folded here, in Rust, so that SQLite and PostgreSQL compare
//! the same text: `Müller` and `José` are stored as `muller` and `jose`,
//! and a typed word matches the start of a stored one.

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// `text` without accents, in lower case (canonical decomposition, then
/// combining marks dropped).
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The folded words of `text`: runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The terms a record is found by from one field's value: its words, and
/// for a value of several words (an email, a phone number) the value
/// folded whole, without its separators, so that `jose.m@` and `0612`
/// find what they start.
pub fn terms(value: &str) -> Vec<String> {
    let mut terms = words(value);
    if terms.len() > 1 {
        terms.push(terms.concat());
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_and_case_fold_away() {
        assert_eq!(fold("Müller"), "muller");
        assert_eq!(fold("JOSÉ"), "jose");
        assert_eq!(words("Anne-Marie  Ŝtefan"), ["anne", "marie", "stefan"]);
    }

    #[test]
    fn an_email_and_a_phone_are_found_by_their_parts_and_whole() {
        assert_eq!(
            terms("jose.m@example.org"),
            ["jose", "m", "example", "org", "josemexampleorg"]
        );
        assert_eq!(terms("+31 6 1234"), ["31", "6", "1234", "3161234"]);
    }
}
