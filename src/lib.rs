//! Navigator: the patient-navigation backend.
//!
//! A request flows `http` (routing, auth, parsing into `domain` types) →
//! `db` (SeaORM on SQLite or PostgreSQL). The same [`http::app`] router is
//! served by the local server (`cli`), by AWS Lambda (`lambda`) and by the
//! tests.

pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod lambda;
pub mod legacy;

pub use http::{AppState, app};
