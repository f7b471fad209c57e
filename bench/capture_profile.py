"""Where pulse's capture trigger spends its time, from `perf script` output (stdlib only).

    perf script -F comm,ip,sym -i perf.data | python3 bench/capture_profile.py

bench/profile_capture.sh records the samples (every CPU, cpu-clock, DWARF call graphs) while
the audit suite's single-row UPDATE runs. Each sample of a backend whose stack passes through
the capture trigger's entry point is put in the first part below whose patterns all match
frames of it, in that order from the outside in; the others are counted as "other". The
parts follow pulse's function names, so a renamed or inlined function moves its samples to
the part around it or to "other", which the table shows, never hides. Samples are counted,
not timed: with N samples under capture a part's share is uncertain by about
sqrt(share * N) / N.
"""

import re
import sys

ENTRY = "capture_document_wrapper"
BACKEND = "PostgresMain"

# (part, alternatives); an alternative is a list of patterns (regular expressions searched in
# frame names), one frame each, outermost first.
PARTS = [
    ("the chain head: read", [["append::append", "with_snapshot"]]),
    ("the chain head: moved (HOT update)", [["append::append", "simple_heap_update"]]),
    ("the history row: heap insert", [["append::append", "heap_insert"]]),
    ("the history row: index entries", [["append::append", "insert_index_entries"]]),
    ("opening the history and head tables", [["append::append", "open_with"]]),
    ("the row hash: SHA-256", [["RowEncoder"]]),
    ("the row hash: reading the row's values", [["append::append", "FromDatum"]]),
    ("the snapshot: rendering the row", [["update_objects"], ["row_object"]]),
    ("the snapshot: building its jsonb", [["jsonb_datum"]]),
    ("the snapshot: printing its text for the hash", [["jsonb_text"]]),
    ("the diff and the summary", [["snapshot_diff"], ["Record::new"], ["capture::alongside"]]),
    ("dropping the snapshot's values", [["drop_in_place<.*serde_json"]]),
    ("attribution (user, session, reason)", [["common_values"]]),
    # Last: what an append does itself, and what is inlined into it (forming the two rows).
    ("the append's own work (forming the rows)", [["append::append"]]),
]
OTHER = "other"


def samples(lines):
    """Each sample as (command, frames outermost first) from `perf script -F comm,ip,sym`."""
    command, frames = None, []
    for line in lines:
        line = line.strip()
        if not line:
            if command is not None:
                yield command, frames[::-1]
            command, frames = None, []
        elif command is None:
            command = line.split()[0]
        else:
            frames.append(re.sub(r"^[0-9a-f]+ ", "", line))
    if command is not None:
        yield command, frames[::-1]


def matches(frames, alternative):
    at = 0
    for pattern in alternative:
        at = next((i for i in range(at, len(frames)) if re.search(pattern, frames[i])), None)
        if at is None:
            return False
        at += 1
    return True


def part_of(below):
    """The part of capture a sample belongs to, given its frames from the trigger's entry
    point inwards."""
    for part, alternatives in PARTS:
        if any(matches(below, alternative) for alternative in alternatives):
            return part
    return OTHER


def profile(lines):
    """(backend samples, capture samples, {part: samples})."""
    backend, capture, parts = 0, 0, {}
    for command, frames in samples(lines):
        if command != "postgres" or not any(BACKEND in f for f in frames):
            continue
        backend += 1
        entry = next((i for i, f in enumerate(frames) if ENTRY in f), None)
        if entry is not None:
            capture += 1
            part = part_of(frames[entry:])
            parts[part] = parts.get(part, 0) + 1
    return backend, capture, parts


def main():
    backend, capture, parts = profile(sys.stdin)
    if not capture:
        sys.exit(f"no sample passed through {ENTRY} (of {backend} backend samples)")
    print(f"Capture: {capture} of {backend} backend samples ({100 * capture / backend:.1f} %)\n")
    print("| part of capture | samples | share of capture |")
    print("|---|---|---|")
    for part, count in sorted(parts.items(), key=lambda item: (item[0] == OTHER, -item[1])):
        print(f"| {part} | {count} | {100 * count / capture:.1f} % |")


if __name__ == "__main__":
    main()
