//! The three medical conditions the CRM had as an option set, with fixed ids
//! so every environment (and the legacy import) agrees on them.

use chrono::Utc;
use sea_orm::{DbBackend, Statement, sea_query::Query};
use uuid::Uuid;

/// The seeded conditions: id, name, abbreviation.
pub const SEEDED: [(Uuid, &str, &str); 3] = [
    (
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
        "Duchenne Muscular Dystrophy",
        "DMD",
    ),
    (
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002),
        "Glioblastoma",
        "GBM",
    ),
    (
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003),
        "Idiopathic Pulmonary Fibrosis",
        "IPF",
    ),
];

pub fn statements(backend: DbBackend) -> Vec<Statement> {
    let now = Utc::now();
    let mut insert = Query::insert();
    insert.into_table("medical_conditions").columns([
        "id",
        "name",
        "abbreviation",
        "version",
        "created_at",
        "updated_at",
    ]);
    for (id, name, abbreviation) in SEEDED {
        insert.values_panic([
            id.into(),
            name.into(),
            abbreviation.into(),
            1.into(),
            now.into(),
            now.into(),
        ]);
    }
    vec![backend.build(&insert)]
}
