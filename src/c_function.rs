//! What every C-language function declared by hand in the sql/ files needs besides its
//! entry point: the `pg_finfo_<symbol>` record by which PostgreSQL learns that the entry
//! point uses the version-1 calling convention (`PG_FUNCTION_INFO_V1` in C).

/// Declares `pg_finfo_...`, the version-1 record of a C entry point.
macro_rules! function_info_v1 {
    ($finfo:ident) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static ::pgrx::pg_sys::Pg_finfo_record {
            const V1_API: ::pgrx::pg_sys::Pg_finfo_record =
                ::pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1_API
        }
    };
}

pub(crate) use function_info_v1;
