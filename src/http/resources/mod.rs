//! One module per collection. Each declares its wire types (views, create
//! and patch bodies), its filters and its rules, and routes to the shared
//! flows of [`common`].

pub mod common;
pub mod hospitals;
pub mod medical_conditions;
pub mod patients;
pub mod practitioners;
pub mod specializations;
