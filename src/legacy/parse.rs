//! The CRM's value formats: option sets given as labels or integer values,
//! and date-times in ISO 8601 UTC or `dd-MM-yyyy HH:mm` Amsterdam time.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};

use crate::domain::{Eligibility, ReferralOutcome};

/// What a contact row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactType {
    Lead,
    Physician,
    Pharmacist,
}

/// `contact_type`.
pub fn contact_type(value: &str) -> Option<ContactType> {
    match value.trim() {
        "Patient - Lead" | "100000000" => Some(ContactType::Lead),
        "Physician" | "100000001" => Some(ContactType::Physician),
        "Pharmacist" | "100000002" => Some(ContactType::Pharmacist),
        _ => None,
    }
}

/// `contact.medical_condition` (the option set) as the abbreviation of the
/// consolidated condition.
pub fn condition_option(value: &str) -> Option<&'static str> {
    match value.trim() {
        "Duchenne Muscular Dystrophy" | "100000000" => Some("DMD"),
        "Glioblastoma" | "100000001" => Some("GBM"),
        "Idiopathic Pulmonary Fibrosis" | "100000002" => Some("IPF"),
        _ => None,
    }
}

/// `eligible`.
pub fn eligibility(value: &str) -> Option<Eligibility> {
    match value.trim() {
        "Yes" | "100000000" => Some(Eligibility::Eligible),
        "No" | "100000001" => Some(Eligibility::Ineligible),
        _ => None,
    }
}

/// `ct_outcome`.
pub fn outcome(value: &str) -> Option<ReferralOutcome> {
    match value.trim() {
        "Pending" | "100000000" => Some(ReferralOutcome::Pending),
        "Enrolled" | "100000001" => Some(ReferralOutcome::Enrolled),
        "Not Enrolled" | "100000002" => Some(ReferralOutcome::NotEnrolled),
        "Screen Failure" | "100000003" => Some(ReferralOutcome::ScreenFailure),
        "Withdrawn" | "100000004" => Some(ReferralOutcome::Withdrawn),
        _ => None,
    }
}

/// `no_show`: `Some(true)` the lead did not come, `Some(false)` the call
/// took place.
pub fn yes_no(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Some(true),
        "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// A date-time: ISO 8601 (`2023-04-11T15:30:00Z`, any offset) or
/// `dd-MM-yyyy HH:mm` wall-clock time in Europe/Amsterdam. `None` when the
/// value is in neither form or names a time that does not exist.
pub fn datetime(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(parsed) = DateTime::parse_from_rfc3339(value) {
        return Some(parsed.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(value, "%d-%m-%Y %H:%M").ok()?;
    amsterdam_to_utc(local)
}

/// Europe/Amsterdam since 1996: CET (UTC+1), and CEST (UTC+2) from the last
/// Sunday of March 02:00 to the last Sunday of October 03:00 local time. A
/// time in the spring-forward gap does not exist (`None`); one in the
/// autumn's repeated hour is read as summer time.
pub fn amsterdam_to_utc(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let year = local.year();
    let dst_start = last_sunday(year, 3)?.and_hms_opt(2, 0, 0)?;
    let dst_end = last_sunday(year, 10)?.and_hms_opt(3, 0, 0)?;
    if local >= dst_start && local < dst_start + Duration::hours(1) {
        return None;
    }
    let offset_hours = if local >= dst_start && local < dst_end {
        2
    } else {
        1
    };
    Some(Utc.from_utc_datetime(&(local - Duration::hours(offset_hours))))
}

fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let next_month = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }?;
    let mut day = next_month.pred_opt()?;
    while day.weekday() != Weekday::Sun {
        day = day.pred_opt()?;
    }
    Some(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn iso_and_amsterdam_wall_clock_times_are_read() {
        assert_eq!(
            datetime("2023-04-11T15:30:00Z"),
            Some(utc("2023-04-11T15:30:00Z"))
        );
        assert_eq!(
            datetime("10-03-2022 10:30"),
            Some(utc("2022-03-10T09:30:00Z")),
            "winter: UTC+1"
        );
        assert_eq!(
            datetime("04-07-2023 11:30"),
            Some(utc("2023-07-04T09:30:00Z")),
            "summer: UTC+2"
        );
    }

    #[test]
    fn daylight_saving_edges_follow_the_eu_rule() {
        // 2023: summer time from 26 March 02:00 to 29 October 03:00.
        assert_eq!(
            datetime("26-03-2023 01:59"),
            Some(utc("2023-03-26T00:59:00Z"))
        );
        assert_eq!(datetime("26-03-2023 02:30"), None, "does not exist");
        assert_eq!(
            datetime("26-03-2023 03:00"),
            Some(utc("2023-03-26T01:00:00Z"))
        );
        assert_eq!(
            datetime("29-10-2023 03:00"),
            Some(utc("2023-10-29T02:00:00Z"))
        );
    }

    #[test]
    fn impossible_or_foreign_dates_are_invalid() {
        for bad in [
            "31-02-2023 25:61",
            "2023/04/11",
            "yesterday",
            "11-04-2023",
            "31-02-2023 10:00",
        ] {
            assert_eq!(datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn option_sets_accept_labels_and_values() {
        assert_eq!(contact_type("100000001"), Some(ContactType::Physician));
        assert_eq!(contact_type("Patient - Lead"), Some(ContactType::Lead));
        assert_eq!(condition_option("100000002"), Some("IPF"));
        assert_eq!(eligibility("No"), Some(Eligibility::Ineligible));
        assert_eq!(outcome("100000004"), Some(ReferralOutcome::Withdrawn));
        assert_eq!(yes_no(""), None);
    }
}
