//! Phase changes of projects and documents follow the order of `pulse.phase_reference`: one
//! phase forward at a time, back to any earlier phase (reopening), or to a terminal phase
//! (archiving) from anywhere. A rollback restores whatever phase it restores.

use pgrx::prelude::*;
use pgrx::{PgSqlErrorCode, WhoAllocated};

use crate::direct_read::Table;
use crate::errors::{raise, SqlError};
use crate::history::rollback::rollback_in_progress;
use crate::trigger_entry::trigger_function;

#[derive(Debug, thiserror::Error)]
#[error("{table} {id}: the phase cannot move from {from} to {to}")]
pub struct PhaseError {
    table: &'static str,
    id: i64,
    from: String,
    to: String,
}

impl SqlError for PhaseError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_CHECK_VIOLATION
    }

    fn hint(&self) -> Option<String> {
        Some("A phase moves one step forward in pulse.phase_reference's order, back to any earlier phase, or to a terminal phase.".into())
    }
}

/// A phase: its order, whether it is terminal, and its label.
struct Phase {
    id: i32,
    sort_order: i16,
    is_terminal: bool,
    label: String,
}

fn phases() -> Vec<Phase> {
    let table = Table::open(c"pulse", c"phase_reference");
    let columns = (
        table.column(c"phase_id"),
        table.column(c"sort_order"),
        table.column(c"is_terminal"),
        table.column(c"label"),
    );
    let mut all = Vec::new();
    table.scan_all(c"phase_reference_pkey", |row| {
        all.push(Phase {
            id: row.get(columns.0).unwrap_or_default(),
            sort_order: row.get(columns.1).unwrap_or_default(),
            is_terminal: row.get(columns.2).unwrap_or_default(),
            label: row.get(columns.3).unwrap_or_default(),
        });
        std::ops::ControlFlow::Continue(())
    });
    all
}

/// Whether moving from `from` to `to` is allowed, given every phase.
fn allowed(all: &[Phase], from: &Phase, to: &Phase) -> bool {
    let next = all
        .iter()
        .filter(|p| p.sort_order > from.sort_order)
        .min_by_key(|p| p.sort_order);
    to.sort_order < from.sort_order || to.is_terminal || next.is_some_and(|n| n.id == to.id)
}

fn phase_of<A: WhoAllocated>(row: &PgHeapTuple<'_, A>) -> Option<i32> {
    row.get_by_name::<i32>("phase_id").ok().flatten()
}

/// BEFORE UPDATE OF phase_id on projects.projects and documents.documents.
fn check_phase_transition<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, impl WhoAllocated>>, PgHeapTupleError> {
    let (Some(old), Some(new)) = (trigger.old(), trigger.new()) else {
        return Ok(trigger.new());
    };
    let (from, to) = (phase_of(&old), phase_of(&new));
    if from == to || rollback_in_progress() {
        return Ok(Some(new));
    }
    let all = phases();
    let find = |id: Option<i32>| all.iter().find(|p| Some(p.id) == id);
    // An unknown phase id is the foreign key's error to report.
    if let (Some(from), Some(to)) = (find(from), find(to)) {
        if !allowed(&all, from, to) {
            let table = if trigger.table_name().is_ok_and(|t| t == "projects") {
                "project"
            } else {
                "document"
            };
            let key = if table == "project" {
                "project_id"
            } else {
                "document_id"
            };
            raise(PhaseError {
                table,
                id: new
                    .get_by_name::<i64>(key)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                from: from.label.clone(),
                to: to.label.clone(),
            });
        }
    }
    Ok(Some(new))
}
trigger_function!(
    "pulse.check_phase_transition()",
    pg_finfo_check_phase_transition_wrapper,
    check_phase_transition_wrapper,
    check_phase_transition
);
