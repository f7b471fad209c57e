//! Pure logic of pulse: everything that can be tested without PostgreSQL.
//! The extension crate (`pulse`, at the repository root) wraps these in SQL functions.

pub mod assertion;
pub mod chain;
pub mod discovery_filter;
pub mod jsonb_text;
pub mod phc;
pub mod s3_presign;
pub mod snapshot_diff;
pub mod timestamp;
pub mod token;
pub mod uuid_text;
