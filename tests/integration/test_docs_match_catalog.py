"""The documents name only what exists.

Every schema-qualified name in the README, the audit policy and the docs (`users.sessions`,
`projects.projects.name`, `pulse.authenticate(token)`, `pulse.session_lifetime`) must be an
object of a fresh install: a table, view, sequence, index, constraint, type, function,
column, trigger or policy, or one of pulse's settings; a name followed by `(` must be a
function that accepts that many arguments and the argument names written `name => value`
(empty parentheses just name the function; `...` stands for any arguments).
The only other names allowed are files of the repository (`users.sql`, `pulse.control`) and
the few example names listed in NOT_OBJECTS. The reference glossary must list every reference
table, and exactly its built-in codes with their labels.

The checker is a plain function, so a test can show that it finds a stale name.
"""

import os
import pathlib
import re

import pytest

from conftest import SCHEMAS, create_database, drop_database

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", "audit-policy.md", "docs/modeling-notes.md", "docs/reference-glossary.md",
             "docs/decision-log.md", "docs/document-ingest.md", "docs/scaling.md"]

# Names that look schema-qualified but name no database object, each with what it is.
NOT_OBJECTS = {
    "pulse.dump": "the dump file of the README's restore example",
}

# A schema-qualified name: not part of a longer word, path or name before it, and with one or
# two more parts (schema.object or schema.table.column); "(" right after it makes it a call.
NAME = re.compile(r"(?<![\w.$/-])(" + "|".join(SCHEMAS) + r")\.([a-z_][a-z0-9_]*)(?:\.([a-z_][a-z0-9_]*))?(?![\w-])(\()?")


class Catalog:
    """The names a fresh install defines, read once."""

    def __init__(self, conn):
        s = list(SCHEMAS)

        def names(sql):
            return {r[0] for r in conn.execute(sql, (s,))}

        conn.execute("SELECT pulse.current_user_id()")  # loads the library, which defines the settings
        self.objects = {
            "relation": names("""SELECT n.nspname || '.' || c.relname FROM pg_class c
                                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s)"""),
            "constraint": names("""SELECT n.nspname || '.' || k.conname FROM pg_constraint k
                                   JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = ANY(%s)"""),
            "type": names("""SELECT n.nspname || '.' || t.typname FROM pg_type t
                             JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = ANY(%s)"""),
        }
        self.conn = conn
        self.members = {  # schema.table.x
            "column": names("""SELECT n.nspname || '.' || c.relname || '.' || a.attname FROM pg_attribute a
                               JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                              WHERE n.nspname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped"""),
            "constraint": names("""SELECT n.nspname || '.' || c.relname || '.' || k.conname FROM pg_constraint k
                                   JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                                  WHERE n.nspname = ANY(%s)"""),
            "trigger": names("""SELECT n.nspname || '.' || c.relname || '.' || t.tgname FROM pg_trigger t
                                JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                               WHERE n.nspname = ANY(%s) AND NOT t.tgisinternal"""),
            "policy": names("SELECT schemaname || '.' || tablename || '.' || policyname FROM pg_policies WHERE schemaname = ANY(%s)"),
        }
        # Every overload: how many arguments it needs and takes, and its argument names.
        self.functions = {}
        for name, required, total, variadic, arg_names in conn.execute("""
                SELECT n.nspname || '.' || p.proname, p.pronargs - p.pronargdefaults, p.pronargs, p.provariadic <> 0,
                       coalesce((SELECT array_agg(a.name ORDER BY a.position)
                                   FROM unnest(p.proargnames, p.proargmodes) WITH ORDINALITY a (name, mode, position)
                                  WHERE coalesce(a.mode, 'i') IN ('i', 'b', 'v')), p.proargnames, '{}')
                  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%s)""", (s,)):
            self.functions.setdefault(name, []).append((required, total, variadic, set(arg_names) - {""}))
        self.files = set()
        for directory, subdirectories, files in os.walk(ROOT):
            subdirectories[:] = [d for d in subdirectories if d not in (".git", ".venv", "target", "node_modules")]
            self.files.update(files)

    def problem(self, name, schema, first, second, args):
        """None if the name exists, else what is wrong with it."""
        if args is not None:
            if second is not None or name not in self.functions:
                return "no such function"
            return self.call_problem(name, args)
        if name in NOT_OBJECTS or name in self.files:
            return None
        if second is None:
            if name in self.functions or any(name in objects for objects in self.objects.values()):
                return None
            if self.is_setting(name):
                return None
            return "no such object"
        if any(name in members for members in self.members.values()):
            return None
        return f"no column, constraint, trigger or policy {second} of {schema}.{first}"

    def is_setting(self, name):
        """A setting pulse defines, shown in pg_settings or not (pulse.identity is hidden): with
        missing_ok, current_setting() answers NULL only for a name nobody defined."""
        return self.conn.execute("SELECT current_setting(%s, true) IS NOT NULL", (name,)).fetchone()[0]

    def call_problem(self, name, args):
        """Whether some overload accepts the arguments as written. Empty parentheses name the
        function (prose writes `pulse.authenticate()` for "the function"); '...' stands for any
        arguments."""
        if not args.strip() or "..." in args or "…" in args:
            return None
        written = split_arguments(args)
        named = {m.group(1) for a in written if (m := re.match(r"\s*([a-z_][a-z0-9_]*)\s*=>", a))}
        for required, total, variadic, arg_names in self.functions[name]:
            if required <= len(written) and (len(written) <= total or variadic) and named <= arg_names:
                return None
        return f"no overload of {name} takes {len(written)} argument(s)" + (f" named {sorted(named)}" if named else "")


def split_arguments(args):
    """The arguments of a call, split at top-level commas (quotes and parentheses respected)."""
    parts, depth, quote, current = [], 0, None, ""
    for ch in args:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return [] if parts == [""] or [p.strip() for p in parts] == [""] else parts


def call_arguments(text, start):
    """The text between the parenthesis at text[start - 1] and its match, or None if unclosed."""
    depth, quote = 1, None
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start:i]
    return None


def stale_names(text, catalog):
    """[(line, name, problem)] for every schema-qualified name of text that the catalog lacks."""
    found = []
    for m in NAME.finditer(text):
        schema, first, second, call = m.groups()
        name = ".".join(p for p in (schema, first, second) if p)
        args = call_arguments(text, m.end()) if call else None
        if call and args is None:
            problem = "unclosed call"
        else:
            problem = catalog.problem(name, schema, first, second, args)
        if problem:
            found.append((text.count("\n", 0, m.start()) + 1, name, problem))
    return found


@pytest.fixture(scope="module")
def install():
    """A fresh install: what the documents describe."""
    db = create_database()
    yield db
    drop_database(db)


@pytest.fixture(scope="module")
def catalog(install):
    with install.connect(autocommit=True) as conn:
        yield Catalog(conn)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_name_in_the_document_exists(catalog, document):
    text = (ROOT / document).read_text()
    assert NAME.search(text), f"{document} names nothing: is the pattern still right?"
    assert [f"{document}:{line}: {name}: {problem}" for line, name, problem in stale_names(text, catalog)] == []


def test_the_checker_finds_stale_names(catalog):
    """A renamed table, column, function, setting and argument, planted into real text."""
    text = (ROOT / "README.md").read_text()
    assert "`audit.ddl_log`" in text and "`pulse.session_idle_timeout`" in text
    planted = (text.replace("`audit.ddl_log`", "`audit.ddl_journal`", 1)
                   .replace("`pulse.session_idle_timeout`", "`pulse.session_idle_time`", 1)
               + "\nSee `users.users.e_mail`, `users.close_session(id)`, `audit.verify(1)`,"
                 " `audit.project_diff(7, 1)`, `audit.project_as_of(project => 7, at => now())`, `pulse.nothing()`"
                 " and `projects.projects(`.\n")
    assert {(name, problem) for _, name, problem in stale_names(planted, catalog)} == {
        ("audit.ddl_journal", "no such object"),
        ("pulse.session_idle_time", "no such object"),
        ("users.users.e_mail", "no column, constraint, trigger or policy e_mail of users.users"),
        ("users.close_session", "no such function"),
        ("pulse.nothing", "no such function"),
        ("audit.verify", "no overload of audit.verify takes 1 argument(s)"),
        ("audit.project_diff", "no overload of audit.project_diff takes 2 argument(s)"),
        ("audit.project_as_of", "no overload of audit.project_as_of takes 2 argument(s) named ['at', 'project']"),
        ("projects.projects", "unclosed call"),
    }
    # And the text as it is passes, which is what makes the planted names the only finds.
    assert stale_names(text, catalog) == []


def test_the_pattern_skips_what_is_not_a_name():
    text = ("tests/integration/test_audit.py, src/history/capture.rs, my_pulse.x, $users.y, s3.amazonaws.com, "
            "`pulse_core::chain`, audit-policy.md, users.*, pulse.*_reference, sql/pulse--A--B.sql, users.users")
    assert [m.group(0) for m in NAME.finditer(text)] == ["users.users"]


# ---------------------------------------------------------------------------------------
# The glossary lists every reference table, and exactly its built-in codes.

GLOSSARY_SECTION = re.compile(r"^## `pulse\.([a-z_]+)`: .*$", re.M)


def glossary_tables(text):
    """{table: [(code, label)]} from the first Markdown table of each section about a table."""
    sections = list(GLOSSARY_SECTION.finditer(text))
    listed = {}
    for i, section in enumerate(sections):
        body = text[section.end():sections[i + 1].start() if i + 1 < len(sections) else len(text)]
        lines = [line for line in body.splitlines() if line.startswith("|")]
        entries = []
        if lines:
            header = [c.strip() for c in lines[0].strip("|").split("|")]
            assert header[0] == "code", f"{section.group(1)}: the first column of its table must be the code"
            for line in lines[2:]:
                cells = [c.strip() for c in line.strip("|").split("|")]
                assert re.fullmatch(r"`[^`]+`", cells[0]), line
                entries.append((cells[0].strip("`"), cells[header.index("label")] if "label" in header else None))
        listed[section.group(1)] = entries
    return listed


def glossary_problems(text, builtin):
    """What the glossary text gets wrong about the built-in rows {table: [(code, label)]}."""
    listed = glossary_tables(text)
    problems = [f"no section for pulse.{t}" for t in sorted(builtin.keys() - listed.keys())]
    problems += [f"section for pulse.{t}, which is not a reference table" for t in sorted(listed.keys() - builtin.keys())]
    for table in sorted(builtin.keys() & listed.keys()):
        codes, documented = dict(builtin[table]), dict(listed[table])
        problems += [f"{table}: built-in code {c} is missing" for c in sorted(codes.keys() - documented.keys())]
        problems += [f"{table}: {c} is not a built-in code" for c in sorted(documented.keys() - codes.keys())]
        problems += [f"{table}: {c} is labelled {codes[c]!r}, not {documented[c]!r}"
                     for c in sorted(codes.keys() & documented.keys())
                     if documented[c] is not None and documented[c] != codes[c]]
    return problems


@pytest.fixture(scope="module")
def builtin(install):
    """{reference table: [(code, label)] of its built-in rows}; the reference tables are the
    ones pulse.reference_guard() guards."""
    with install.connect() as conn:
        tables = [r[0] for r in conn.execute("""
            SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             WHERE t.tgfoid = 'pulse.reference_guard()'::regprocedure ORDER BY 1""")]
        return {t: sorted(conn.execute(f"SELECT code, label FROM pulse.{t} WHERE is_builtin").fetchall())
                for t in tables}


def test_glossary_lists_every_reference_table_and_exactly_its_builtin_codes(builtin):
    assert len(builtin) == 10 and sum(len(rows) for rows in builtin.values()) > 50
    assert glossary_problems((ROOT / "docs" / "reference-glossary.md").read_text(), builtin) == []


def test_the_glossary_check_finds_a_renamed_code_and_label(builtin):
    text = (ROOT / "docs" / "reference-glossary.md").read_text()
    planted = (text.replace("| `legacy` | Legacy |", "| `old` | Legacy |", 1)
                   .replace("| `high` | High |", "| `high` | Urgent |", 1)
                   .replace("## `pulse.storage_reference`", "## `pulse.store_reference`", 1))
    assert glossary_problems(planted, builtin) == [
        "no section for pulse.storage_reference",
        "section for pulse.store_reference, which is not a reference table",
        "priority_reference: high is labelled 'High', not 'Urgent'",
        "tag_reference: built-in code legacy is missing",
        "tag_reference: old is not a built-in code",
    ]
