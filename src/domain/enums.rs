//! Closed sets of values. Each is stored as its snake_case text and read
//! back as the enum (SeaORM's `ActiveEnum`): the entities hold these types,
//! never strings. Each migration that made a CHECK constraint keeps its
//! own frozen copy of the values (`db::migrations::frozen`), so changing
//! an enum here cannot change what an applied migration does; a test fails
//! until a new migration widens the constraint.

use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
            EnumIter, DeriveActiveEnum,
        )]
        #[serde(rename_all = "snake_case")]
        #[sea_orm(rs_type = "String", db_type = "Text")]
        pub enum $name {
            $($(#[$vdoc])* #[sea_orm(string_value = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and serialised spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value spelled `text`, if there is one.
            pub fn from_text(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The spellings of every value, for CHECK constraints.
            pub fn texts() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Where a person stands: a lead until a navigator converts them.
    PatientStatus { Lead = "lead", Patient = "patient" }
);

string_enum!(
    /// The kind of healthcare professional.
    PractitionerKind { Physician = "physician", Pharmacist = "pharmacist" }
);

string_enum!(
    /// What became of a booked call.
    CallStatus { Scheduled = "scheduled", Completed = "completed", NoShow = "no_show", Cancelled = "cancelled" }
);

string_enum!(
    /// Whether an Expanded Access Program takes patients.
    ProgramStatus { Planned = "planned", Open = "open", Closed = "closed" }
);

string_enum!(
    /// Where a patient's enrollment in a program stands.
    EnrollmentStatus { Pending = "pending", Active = "active", Completed = "completed", Withdrawn = "withdrawn" }
);

string_enum!(
    /// A clinical trial's recruitment status.
    TrialStatus {
        NotYetRecruiting = "not_yet_recruiting",
        Recruiting = "recruiting",
        ActiveNotRecruiting = "active_not_recruiting",
        Completed = "completed",
        Terminated = "terminated",
        Withdrawn = "withdrawn"
    }
);

string_enum!(
    /// A referred patient's eligibility for a trial.
    Eligibility { Pending = "pending", Eligible = "eligible", Ineligible = "ineligible" }
);

string_enum!(
    /// The outcome of a trial referral.
    ReferralOutcome {
        Pending = "pending",
        Enrolled = "enrolled",
        NotEnrolled = "not_enrolled",
        ScreenFailure = "screen_failure",
        Withdrawn = "withdrawn"
    }
);

string_enum!(
    /// Who reached us through which form.
    Channel {
        /// The website's contact form.
        ContactForm = "contact_form",
        /// A campaign landing page's form.
        LandingPage = "landing_page",
        /// Taken by a navigator on the phone.
        Phone = "phone",
        /// Migrated from the legacy CRM (not accepted from the API).
        LegacyImport = "legacy_import"
    }
);

string_enum!(
    /// What a signed-in user may do; each role includes the ones before it.
    Role {
        /// Reads everything.
        Viewer = "viewer",
        /// Day-to-day work: creates and updates patients, practitioners and the journey.
        Navigator = "navigator",
        /// Also reference data, deletes and erasure.
        Admin = "admin"
    }
);

impl Role {
    /// Whether this role includes everything `needed` may do.
    pub fn allows(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }

    fn rank(self) -> u8 {
        match self {
            Role::Viewer => 0,
            Role::Navigator => 1,
            Role::Admin => 2,
        }
    }
}

impl CallStatus {
    /// Whether a call may move from `self` to `next`. A call that happened
    /// (completed) or was missed (no-show) is a fact and cannot be
    /// rescheduled; a cancelled call may be booked again.
    pub fn can_become(self, next: CallStatus) -> bool {
        use CallStatus::*;
        match (self, next) {
            (a, b) if a == b => true,
            (Scheduled, _) => true,
            (Cancelled, Scheduled) => true,
            (Completed, NoShow) | (NoShow, Completed) => true,
            _ => false,
        }
    }
}

impl EnrollmentStatus {
    /// Open enrollments count against "one open enrollment per patient and program".
    pub fn is_open(self) -> bool {
        matches!(self, EnrollmentStatus::Pending | EnrollmentStatus::Active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_roles_below_them() {
        assert!(Role::Admin.allows(Role::Navigator));
        assert!(Role::Navigator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Navigator));
        assert!(!Role::Navigator.allows(Role::Admin));
    }

    #[test]
    fn a_completed_call_cannot_go_back_to_scheduled() {
        assert!(!CallStatus::Completed.can_become(CallStatus::Scheduled));
        assert!(!CallStatus::NoShow.can_become(CallStatus::Scheduled));
        assert!(CallStatus::Scheduled.can_become(CallStatus::Completed));
        assert!(CallStatus::Cancelled.can_become(CallStatus::Scheduled));
    }

    #[test]
    fn every_value_round_trips_through_its_text() {
        for status in PatientStatus::ALL {
            assert_eq!(PatientStatus::from_text(status.as_str()), Some(*status));
        }
        assert_eq!(
            serde_json::to_string(&CallStatus::NoShow).unwrap(),
            "\"no_show\""
        );
    }
}
