//! Behaviour of the HTTP API through `navigator::app`, each test on SQLite
//! and on PostgreSQL.

mod helpers;

mod auth;
mod authorization;
mod console;
mod edges;
mod errors;
mod export;
mod journey;
mod legacy;
mod mechanisms;
mod metrics;
mod openapi;
mod patients;
mod pool;
mod practitioners;
mod privacy;
mod reference_data;
mod references;
mod schema;
mod search;
mod security;
mod sqlite_build;
mod sqlite_writers;
mod walk;
mod work;
