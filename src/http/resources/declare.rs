//! The privacy declaration of a resource: every field of its view with its
//! class, and the patient a record discloses. Declared once, next to the
//! fields, by [`view!`](crate::view); everything that shows a record to a
//! caller reads it from here: single reads, lists, `include=`, history,
//! write responses, the access log and the OpenAPI schema's notes.
//!
//! The rule is one line ([`Class::least_reader`]): reference and
//! operational data go to every signed-in role, personal and health data
//! to navigators and admins, secrets to no one. A field the declaration
//! does not name is shown to no one.

use sea_orm::prelude::Uuid;
use serde::{Serialize, Serializer, ser::Error as _};
use serde_json::{Map, Value};

use crate::{domain::Role, http::versioning::Versioned};

/// How sensitive a field is; the role that may read it follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Reference data and professional directory data (conditions,
    /// hospitals, practitioners' names and work contacts).
    Reference,
    /// Ids, statuses, dates, links between records: pseudonymous.
    Operational,
    /// What identifies or reaches a person: names, email, phone, what they
    /// wrote.
    Personal,
    /// Special-category health data in free text: call notes, why a patient
    /// is ineligible, a condition as the person typed it.
    Health,
    /// Never sent to anyone.
    Secret,
}

impl Class {
    /// The least role that may read a field of this class; `None`: nobody.
    pub const fn least_reader(self) -> Option<Role> {
        match self {
            Class::Reference | Class::Operational => Some(Role::Viewer),
            Class::Personal | Class::Health => Some(Role::Navigator),
            Class::Secret => None,
        }
    }

    /// Whether `role` may read a field of this class.
    pub fn readable_by(self, role: Role) -> bool {
        self.least_reader().is_some_and(|least| role.allows(least))
    }

    /// Whether a record holding such a field is a patient's data, whose
    /// reads the access log records.
    pub const fn is_about_a_person(self) -> bool {
        matches!(self, Class::Personal | Class::Health)
    }

    /// The class's name in the docs and the OpenAPI notes.
    pub const fn name(self) -> &'static str {
        match self {
            Class::Reference => "reference data",
            Class::Operational => "operational data",
            Class::Personal => "personal data",
            Class::Health => "health data",
            Class::Secret => "secret",
        }
    }
}

/// One field of a view.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Its name in the JSON (and its column where history records it).
    pub name: &'static str,
    /// Its class.
    pub class: Class,
}

/// What a view declares about privacy.
#[derive(Debug)]
pub struct Declaration {
    /// The view's schema name in the OpenAPI document (`Call`).
    pub schema: &'static str,
    /// Every field of the view.
    pub fields: &'static [Field],
    /// The field that names the patient a record is about (`id` on
    /// patients, `patient_id` on their calls); `None` for records about no
    /// patient.
    pub patient: Option<&'static str>,
}

impl Declaration {
    /// The class of `name`, if the view declares it.
    pub fn class_of(&self, name: &str) -> Option<Class> {
        self.fields.iter().find(|f| f.name == name).map(|f| f.class)
    }

    /// Whether `role` may read the field `name` (undeclared: no).
    pub fn readable(&self, role: Role, name: &str) -> bool {
        self.class_of(name).is_some_and(|c| c.readable_by(role))
    }

    /// Whether some field is withheld from `role`.
    pub fn withholds_from(&self, role: Role) -> bool {
        self.fields.iter().any(|f| !f.class.readable_by(role))
    }

    /// Whether reading a record is a read of its patient's data, for the
    /// access log: it is about a patient and holds personal or health
    /// data. Whatever the reader's role: the log answers who looked at a
    /// person's records, including pseudonymised views of them.
    pub fn is_logged(&self) -> bool {
        self.patient.is_some() && self.fields.iter().any(|f| f.class.is_about_a_person())
    }

    /// The fields withheld from a viewer, for the OpenAPI notes and docs.
    pub fn withheld_from_viewers(&self) -> impl Iterator<Item = &Field> {
        self.fields
            .iter()
            .filter(|f| !f.class.readable_by(Role::Viewer))
    }

    /// Keeps of a JSON object (a record, or a history entry's changes)
    /// only the fields `role` may read.
    pub fn redact(&self, role: Role, object: &mut Map<String, Value>) {
        object.retain(|name, _| self.readable(role, name));
    }
}

/// A view with its declaration: implemented by [`view!`](crate::view).
pub trait Declared: Serialize {
    /// The view's privacy declaration.
    const DECLARATION: &'static Declaration;
    /// The patient this record is about, if any.
    fn patient(&self) -> Option<Uuid>;
}

/// A field that names a patient: always (`Uuid`) or where it does
/// (`Option<Uuid>`).
pub trait Patient {
    /// The patient named, if any.
    fn patient(&self) -> Option<Uuid>;
}

impl Patient for Uuid {
    fn patient(&self) -> Option<Uuid> {
        Some(*self)
    }
}

impl Patient for Option<Uuid> {
    fn patient(&self) -> Option<Uuid> {
        *self
    }
}

/// A record as `role` may see it: what every response that shows a record
/// serialises. Where the role reads every field (the common case), the
/// view is written as it is; otherwise through JSON without the withheld
/// fields. `view!` makes a view's fields and its declaration one list, so
/// both paths write the same declared fields.
#[derive(Debug)]
pub struct Shown<V> {
    view: V,
    role: Role,
}

impl<V: Declared> Shown<V> {
    /// `view` as `role` may see it.
    pub fn new(view: V, role: Role) -> Self {
        Self { view, role }
    }

    /// The record, whole (for the server's own use, never sent as is).
    pub fn view(&self) -> &V {
        &self.view
    }

    /// The patient whose record this response shows, where the access log
    /// records it ([`Declaration::is_logged`]).
    pub fn disclosed_patient(&self) -> Option<Uuid> {
        V::DECLARATION
            .is_logged()
            .then(|| self.view.patient())
            .flatten()
    }
}

impl<V: Declared> Serialize for Shown<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !V::DECLARATION.withholds_from(self.role) {
            return self.view.serialize(serializer);
        }
        let mut value = serde_json::to_value(&self.view).map_err(S::Error::custom)?;
        if let Value::Object(object) = &mut value {
            V::DECLARATION.redact(self.role, object);
        }
        value.serialize(serializer)
    }
}

impl<V: Versioned> Versioned for Shown<V> {
    fn version(&self) -> i32 {
        self.view.version()
    }
}

/// Declares a view: its struct and, from the same list, its privacy
/// declaration. Each field is prefixed with its [`Class`] in lower case.
/// `: versioned` appends the columns every stored record has (`version`,
/// its ETag, and `created_at`/`updated_at`); `: etag` makes a declared
/// `version` field the ETag. `from table::Model` writes the conversion
/// from a row whose columns are the view's fields; `about patient_id`
/// names the field that says which patient a record is about.
///
/// ```ignore
/// view! {
///     /// A call with a lead or patient.
///     pub struct View as Call from table::Model: versioned, about patient_id {
///         operational id: Uuid,
///         operational patient_id: Uuid,
///         /// What was said.
///         health notes: Option<String>,
///     }
/// }
/// ```
#[macro_export]
macro_rules! view {
    (
        $(#[$meta:meta])*
        pub struct $name:ident as $schema:ident $(from $model:path)? : versioned
            $(, about $patient:ident)? {
            $( $(#[$fmeta:meta])* $class:ident $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $crate::view! {
            $(#[$meta])*
            pub struct $name as $schema $(from $model)? : etag $(, about $patient)? {
                $( $(#[$fmeta])* $class $field : $ty, )*
                operational version: i32,
                #[serde(serialize_with = "crate::http::timestamp::serialize")]
                operational created_at: chrono::DateTime<chrono::Utc>,
                #[serde(serialize_with = "crate::http::timestamp::serialize")]
                operational updated_at: chrono::DateTime<chrono::Utc>,
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident as $schema:ident $(from $model:path)? $(: $etag:ident)?
            $(, about $patient:ident)? {
            $( $(#[$fmeta:meta])* $class:ident $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        #[schema(as = $schema)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::http::resources::declare::Declared for $name {
            const DECLARATION: &'static $crate::http::resources::declare::Declaration =
                &$crate::http::resources::declare::Declaration {
                    schema: stringify!($schema),
                    fields: &[$($crate::http::resources::declare::Field {
                        name: stringify!($field),
                        class: $crate::view!(@class $class),
                    }),*],
                    patient: $crate::view!(@name $($patient)?),
                };

            fn patient(&self) -> Option<sea_orm::prelude::Uuid> {
                $crate::view!(@patient self $($patient)?)
            }
        }

        $crate::view!(@from $name [$($field)*] $($model)?);

        $($crate::view!(@$etag $name);)?
    };
    (@from $name:ident [$($field:ident)*]) => {};
    (@from $name:ident [$($field:ident)*] $model:path) => {
        impl From<$model> for $name {
            fn from(row: $model) -> Self {
                Self { $( $field: row.$field, )* }
            }
        }
    };
    (@etag $name:ident) => {
        impl $crate::http::versioning::Versioned for $name {
            fn version(&self) -> i32 {
                self.version
            }
        }
    };
    (@class reference) => { $crate::http::resources::declare::Class::Reference };
    (@class operational) => { $crate::http::resources::declare::Class::Operational };
    (@class personal) => { $crate::http::resources::declare::Class::Personal };
    (@class health) => { $crate::http::resources::declare::Class::Health };
    (@class secret) => { $crate::http::resources::declare::Class::Secret };
    (@name) => { None };
    (@name $patient:ident) => { Some(stringify!($patient)) };
    (@patient $self:ident) => { None };
    (@patient $self:ident $patient:ident) => {
        $crate::http::resources::declare::Patient::patient(&$self.$patient)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::view! {
        /// A record for the tests.
        pub struct Sample as Sample, about patient_id {
            operational id: Uuid,
            operational patient_id: Uuid,
            personal name: String,
            health notes: Option<String>,
            secret digest: String,
        }
    }

    fn sample() -> Sample {
        Sample {
            id: Uuid::nil(),
            patient_id: Uuid::max(),
            name: "Ann".into(),
            notes: Some("cough".into()),
            digest: "x".into(),
        }
    }

    #[test]
    fn a_viewer_receives_only_operational_and_reference_fields() {
        let json = serde_json::to_value(Shown::new(sample(), Role::Viewer)).unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["id", "patient_id"]);
    }

    #[test]
    fn a_navigator_receives_personal_and_health_fields_but_no_secret() {
        let json = serde_json::to_value(Shown::new(sample(), Role::Navigator)).unwrap();
        assert_eq!(json["name"], "Ann");
        assert_eq!(json["notes"], "cough");
        assert!(json.get("digest").is_none());
    }

    #[test]
    fn a_record_about_a_patient_with_personal_data_is_a_read_of_that_patient() {
        for role in [Role::Viewer, Role::Admin] {
            assert_eq!(
                Shown::new(sample(), role).disclosed_patient(),
                Some(Uuid::max())
            );
        }
    }

    crate::view! {
        /// A record about a patient with nothing personal in it.
        pub struct Bare as Bare, about patient_id {
            operational id: Uuid,
            operational patient_id: Uuid,
        }
    }

    #[test]
    fn a_record_with_nothing_personal_is_not_logged() {
        let bare = Bare {
            id: Uuid::nil(),
            patient_id: Uuid::max(),
        };
        assert_eq!(Shown::new(bare, Role::Admin).disclosed_patient(), None);
    }

    #[test]
    fn an_undeclared_field_is_withheld_from_everyone() {
        let mut object = serde_json::json!({"id": 1, "unknown": 2})
            .as_object()
            .cloned()
            .unwrap();
        Sample::DECLARATION.redact(Role::Admin, &mut object);
        assert!(object.get("unknown").is_none());
    }
}
