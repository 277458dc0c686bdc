//! Domain types: the vocabulary of Navigator, with no HTTP and no SQL.
//!
//! Every value here is built through `parse`/`TryFrom`, so an invalid email,
//! an empty name or an unknown status cannot exist past the boundary. Derives
//! for serde, utoipa and SeaORM only describe how a type is spelled on the
//! wire or in a column; the rules live in the constructors.

mod email;
mod enums;
mod pattern;
pub mod search;
mod text;

pub use email::Email;
pub use enums::{
    CallStatus, Channel, Eligibility, EnrollmentStatus, PatientStatus, PractitionerKind,
    ProgramStatus, ReferralOutcome, Role, TrialStatus,
};
pub use text::{Abbreviation, Name, Phone, RegistryId, Text};

/// Why a raw value was refused; the message is safe to show to the client
/// (it never repeats the value, which may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);
