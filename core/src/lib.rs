//! Pure logic of pulse: everything that can be tested without PostgreSQL.
//! The extension crate (`pulse`, at the repository root) wraps these in SQL functions.

pub mod assertion;
pub mod phc;
pub mod token;
pub mod uuid_text;
