//! Proves that `migrations/*.sql` (SQLite) and `migrations/postgres/*.sql` build the same schema.
//!
//! The two dialects are written by hand side by side, and nothing else notices when one of them
//! gains a column default, an index or a NOT NULL that the other lacks: the lab's tests run on
//! one engine at a time and pass on both. Here both engines are migrated the way `Lab::open`
//! does it, each schema is read back from the engine's own catalog into one list of facts
//! (`table: item` → value), and every fact that differs fails the test unless [`ALLOWED`] names
//! it with the dialect reason that makes it necessary.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::Connection;

use crate::{Lab, SecretBox};

/// The differences a dialect forces, and nothing else: drift is fixed by a migration, not here.
/// `key` is a fact's `table: item` where `*` matches anything; `None` means the engine has no
/// such fact. Types are compared by their declared names, so `TEXT`/`text`, `BIGINT`/`bigint`
/// and `BOOLEAN`/`boolean` need no entry.
const ALLOWED: &[Allowed] = &[
    Allowed {
        key: "*: column * type",
        sqlite: Some("integer"),
        postgres: Some("bigint"),
        why: "SQLite's INTEGER is 64 bits and `INTEGER PRIMARY KEY` is what makes an id the \
              rowid; PostgreSQL's integer is 32 bits, so ids and counters are bigint there",
    },
    Allowed {
        key: "*: column * type",
        sqlite: Some("blob"),
        postgres: Some("bytea"),
        why: "the two engines' names for a byte string",
    },
    Allowed {
        key: "*: column id default",
        sqlite: Some("rowid"),
        postgres: Some("identity"),
        why: "how each engine numbers new rows: SQLite's rowid alias, PostgreSQL's identity",
    },
    Allowed {
        key: "notice_preferences: column user_id default",
        sqlite: Some("rowid"),
        postgres: Some("none"),
        why: "any SQLite `INTEGER PRIMARY KEY` is the rowid, which would number a row inserted \
              without it; the lab always gives the user's id, and PostgreSQL must not invent one",
    },
    Allowed {
        key: "leadership: column id default",
        sqlite: Some("rowid"),
        postgres: Some("none"),
        why: "the one row of the leadership is always id 1, written by the lab; PostgreSQL need \
              not number it",
    },
    Allowed {
        key: "*: column * null",
        sqlite: Some("nullable (PRIMARY KEY without NOT NULL)"),
        postgres: Some("not null"),
        why: "the same `TEXT PRIMARY KEY`: SQLite keeps its documented legacy quirk of letting a \
              non-integer primary key be NULL, PostgreSQL's primary keys are NOT NULL; the lab \
              binds every such key from a non-optional value",
    },
    Allowed {
        key: "reservations: trigger reservations_no_overlap_*",
        sqlite: Some("present"),
        postgres: None,
        why: "SQLite has no exclusion constraints: triggers refuse overlapping reservations",
    },
    Allowed {
        key: "reservations: exclusion reservations_no_overlap",
        sqlite: None,
        postgres: Some(
            "EXCLUDE USING gist (machine_id WITH =, int8range(start_at, end_at) WITH &&) \
             WHERE ((state = 'active'::text))",
        ),
        why: "PostgreSQL refuses overlapping reservations with an exclusion constraint, which \
              sees concurrent transactions (a trigger there would not)",
    },
    Allowed {
        key: "(database): extension btree_gist",
        sqlite: None,
        postgres: Some("present"),
        why: "lets the exclusion constraint compare machine ids with `=`; SQLite has no extensions",
    },
];

struct Allowed {
    key: &'static str,
    sqlite: Option<&'static str>,
    postgres: Option<&'static str>,
    why: &'static str,
}

/// A schema as facts, `table: item` → value: `users: column email default` → `''`.
#[derive(Default)]
struct Schema(BTreeMap<String, String>);

impl Schema {
    fn put(&mut self, key: String, value: impl Into<String>) {
        let value = value.into();
        // Two facts under one key (two checks on the same columns) must both count.
        let entry = self
            .0
            .entry(key)
            .and_modify(|old| *old += &format!(" + {value}"));
        entry.or_insert(value);
    }
}

/// The migrations only ever write literals; PostgreSQL reports them with a cast (`''::text`)
/// and SQLite as written (`FALSE`).
fn normalise_default(raw: &str) -> String {
    let mut value = raw.trim();
    if let Some((literal, _cast)) = value.rsplit_once("::") {
        if literal.len() >= 2 && literal.starts_with('\'') && literal.ends_with('\'') {
            value = literal;
        }
    }
    if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false") {
        return value.to_ascii_lowercase();
    }
    value.to_string()
}

fn columns_of(names: &[String]) -> String {
    format!("({})", names.join(", "))
}

/// The lab's tables, as `m` in `sqlite_master` (the pragma table functions take `m.name`).
const LAB_TABLE: &str =
    "m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'";

async fn sqlite_rows(db: &mut SqliteConnection, sql: &str) -> Vec<(String, String, String)> {
    let rows = sqlx::query_as(sql).fetch_all(db).await;
    rows.unwrap_or_else(|e| panic!("read SQLite's schema: {e}\n{sql}"))
}

/// Table, column, declared type, NOT NULL, default, place in the primary key, is the rowid.
type SqliteColumn = (String, String, String, bool, Option<String>, i64, bool);

async fn read_sqlite(url: &str) -> Schema {
    let mut db = SqliteConnection::connect(url).await.expect("reopen SQLite");
    let mut schema = Schema::default();
    // Tables, triggers and views; indexes come from pragma_index_list, which also sees the ones
    // PRIMARY KEY and UNIQUE create.
    let objects = "SELECT tbl_name, type || ' ' || name, coalesce(sql, '') FROM sqlite_master \
        WHERE type <> 'index' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'";
    let mut checks = Vec::new();
    for (table, object, sql) in sqlite_rows(&mut db, objects).await {
        if object.starts_with("table ") {
            schema.0.insert(format!("{table}: table"), "present".into());
            checks.push((table, sql));
        } else {
            schema.put(format!("{table}: {object}"), "present");
        }
    }

    // The one column of an `INTEGER PRIMARY KEY` is the rowid: never NULL, numbered when an
    // insert leaves it out.
    let columns: Vec<SqliteColumn> = sqlx::query_as(&format!(
        r#"SELECT m.name, p.name, lower(p.type), p."notnull", p.dflt_value, p.pk,
                      p.pk = 1 AND lower(p.type) = 'integer'
                      AND (SELECT count(*) FROM pragma_table_info(m.name) k WHERE k.pk > 0) = 1
               FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE {LAB_TABLE}
               ORDER BY p.pk"#
    ))
    .fetch_all(&mut db)
    .await
    .expect("read SQLite's columns");
    let mut keys: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (table, name, ty, not_null, default, pk, rowid) in &columns {
        schema.put(format!("{table}: column {name} type"), ty);
        let null = match (*not_null || *rowid, *pk > 0) {
            (true, _) => "not null",
            (false, true) => "nullable (PRIMARY KEY without NOT NULL)",
            (false, false) => "nullable",
        };
        schema.put(format!("{table}: column {name} null"), null);
        let default = match default {
            _ if *rowid => "rowid".to_string(),
            Some(raw) => normalise_default(raw),
            None => "none".to_string(),
        };
        schema.put(format!("{table}: column {name} default"), default);
        if *pk > 0 {
            keys.entry(table).or_default().push(name.clone());
        }
    }
    for (table, key) in keys {
        schema.put(format!("{table}: primary key"), columns_of(&key));
    }

    let references = format!(
        r#"SELECT m.name, '(' || group_concat(f."from", ', ' ORDER BY f.seq) || ')',
                  f."table" || '(' || group_concat(coalesce(f."to", '?'), ', ' ORDER BY f.seq)
                  || ') ON DELETE ' || f.on_delete
           FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE {LAB_TABLE}
           GROUP BY m.name, f.id"#
    );
    for (table, from, target) in sqlite_rows(&mut db, &references).await {
        schema.put(format!("{table}: foreign key {from}"), target);
    }

    let indexes = format!(
        r#"SELECT m.name, CASE WHEN l."unique" THEN 'unique (' ELSE 'index (' END
                  || (SELECT group_concat(coalesce(i.name, '(expression)'), ', ' ORDER BY i.seqno)
                      FROM pragma_index_info(l.name) i) || ')',
                  CASE WHEN l.partial THEN 'partial' ELSE 'full' END
           FROM sqlite_master m JOIN pragma_index_list(m.name) l
           WHERE {LAB_TABLE} AND l.origin <> 'pk'"#
    );
    for (table, index, extent) in sqlite_rows(&mut db, &indexes).await {
        schema.put(format!("{table}: {index}"), extent);
    }

    for (table, sql) in checks {
        let names: Vec<_> = columns
            .iter()
            .filter(|c| c.0 == table)
            .map(|c| c.1.clone())
            .collect();
        for refers in sqlite_checks(&sql, &names) {
            schema.put(format!("{table}: check {}", columns_of(&refers)), "present");
        }
    }
    schema
}

/// The columns each CHECK of a `CREATE TABLE` refers to: SQLite keeps checks only in the text.
fn sqlite_checks(create_table: &str, columns: &[String]) -> Vec<Vec<String>> {
    let tokens = tokens(create_table);
    let mut checks = Vec::new();
    for (at, token) in tokens.iter().enumerate() {
        if !token.eq_ignore_ascii_case("check") || tokens.get(at + 1).is_none_or(|t| t != "(") {
            continue;
        }
        let (mut depth, mut refers) = (0, BTreeSet::new());
        for token in &tokens[at + 1..] {
            match token.as_str() {
                "(" => depth += 1,
                ")" if depth == 1 => break,
                ")" => depth -= 1,
                word => refers.extend(columns.iter().find(|c| c.eq_ignore_ascii_case(word))),
            }
        }
        checks.push(refers.into_iter().cloned().collect());
    }
    checks
}

/// Words, quoted identifiers and parentheses of a statement. String literals and comments are
/// dropped: `CREATE TABLE` text keeps the migration's comments, parentheses and all.
fn tokens(sql: &str) -> Vec<String> {
    let (mut tokens, mut rest) = (Vec::new(), sql);
    let word = |c: char| c.is_alphanumeric() || c == '_';
    while let Some(c) = rest.chars().next() {
        // Where the part starting at `c` ends: after `close`, searched from `from`.
        let past = |from: usize, close: &str| {
            rest[from..]
                .find(close)
                .map_or(rest.len(), |at| from + at + close.len())
        };
        let end = match c {
            '\'' => past(1, "'"),
            '-' if rest.starts_with("--") => past(2, "\n"),
            '/' if rest.starts_with("/*") => past(2, "*/"),
            '"' => {
                let end = past(1, "\"");
                tokens.push(rest[1..end].trim_end_matches('"').to_string());
                end
            }
            '(' | ')' => {
                tokens.push(c.to_string());
                1
            }
            c if word(c) => {
                let end = rest.find(|c| !word(c)).unwrap_or(rest.len());
                tokens.push(rest[..end].to_string());
                end
            }
            c => c.len_utf8(),
        };
        rest = &rest[end..];
    }
    tokens
}

/// SQL for `(a, b)`: the names of the columns whose numbers `keys` lists in `relation`.
fn pg_names(keys: &str, relation: &str, order: &str) -> String {
    format!(
        "'(' || (SELECT string_agg(coalesce(a.attname::text, '(expression)'), ', ' ORDER BY {order}) \
         FROM unnest({keys}) WITH ORDINALITY k(n, o) \
         LEFT JOIN pg_attribute a ON a.attrelid = {relation} AND a.attnum = k.n) || ')'"
    )
}

/// The lab's relations, as `t` in `pg_class`.
const LAB_RELATION: &str =
    "t.relnamespace = 'public'::regnamespace AND t.relname <> '_sqlx_migrations'";

async fn read_postgres(url: &str) -> Schema {
    let mut db = PgConnection::connect(url).await.expect("reopen PostgreSQL");
    let mut schema = Schema::default();
    let columns: Vec<(String, String, String, bool, Option<String>, bool)> = sqlx::query_as(
        "SELECT c.table_name::text, column_name::text, data_type::text, is_nullable = 'YES', \
                column_default::text, is_identity = 'YES' \
         FROM information_schema.columns c JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .expect("read PostgreSQL's columns");
    for (table, name, ty, nullable, default, identity) in columns {
        schema.0.insert(format!("{table}: table"), "present".into()); // once, not per column
        schema.put(format!("{table}: column {name} type"), ty);
        let null = if nullable { "nullable" } else { "not null" };
        schema.put(format!("{table}: column {name} null"), null);
        let default = match default {
            _ if identity => "identity".to_string(),
            Some(raw) => normalise_default(&raw),
            None => "none".to_string(),
        };
        schema.put(format!("{table}: column {name} default"), default);
    }

    // Unique constraints are read with the indexes behind them, and an exclusion constraint's
    // index is part of that constraint's fact. plpgsql is in every database (from template1).
    let (columns, parents, checked) = (
        pg_names("c.conkey", "c.conrelid", "k.o"),
        pg_names("c.confkey", "c.confrelid", "k.o"),
        pg_names("c.conkey", "c.conrelid", "a.attname"),
    );
    let queries = [
        format!(
            "SELECT t.relname || ': ' || CASE c.contype WHEN 'p' THEN 'primary key' \
                 WHEN 'f' THEN 'foreign key ' || {columns} WHEN 'c' THEN 'check ' || {checked} \
                 ELSE 'exclusion ' || c.conname END, \
               CASE c.contype WHEN 'p' THEN {columns} WHEN 'c' THEN 'present' \
                 WHEN 'f' THEN c.confrelid::regclass::text || {parents} || ' ON DELETE ' || \
                   CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' \
                   WHEN 'd' THEN 'SET DEFAULT' WHEN 'r' THEN 'RESTRICT' ELSE 'NO ACTION' END \
                 ELSE pg_get_constraintdef(c.oid) END \
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
             WHERE {LAB_RELATION} AND c.contype IN ('p', 'f', 'c', 'x')"
        ),
        format!(
            "SELECT t.relname || ': ' || CASE WHEN x.indisunique THEN 'unique ' ELSE 'index ' END \
                 || {}, CASE WHEN x.indpred IS NULL THEN 'full' ELSE 'partial' END \
             FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid \
             WHERE {LAB_RELATION} AND NOT x.indisprimary AND NOT x.indisexclusion",
            pg_names("x.indkey::int2[]", "x.indrelid", "k.o")
        ),
        format!(
            "SELECT t.relname || ': trigger ' || g.tgname, 'present' FROM pg_trigger g \
             JOIN pg_class t ON t.oid = g.tgrelid WHERE {LAB_RELATION} AND NOT g.tgisinternal \
             UNION ALL SELECT t.relname || ': view ' || t.relname, 'present' FROM pg_class t \
             WHERE {LAB_RELATION} AND t.relkind = 'v' \
             UNION ALL SELECT '(database): extension ' || extname, 'present' FROM pg_extension \
             WHERE extname <> 'plpgsql'"
        ),
    ];
    for query in &queries {
        let facts: Vec<(String, String)> = sqlx::query_as(query)
            .fetch_all(&mut db)
            .await
            .unwrap_or_else(|e| panic!("read PostgreSQL's schema: {e}\n{query}"));
        for (key, value) in facts {
            schema.put(key, value);
        }
    }
    schema
}

struct Difference {
    key: String,
    sqlite: Option<String>,
    postgres: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said = |value: &Option<String>| value.clone().unwrap_or_else(|| "nothing".into());
        let (key, sqlite, postgres) = (&self.key, said(&self.sqlite), said(&self.postgres));
        write!(f, "{key}: sqlite says {sqlite}, postgres says {postgres}")
    }
}

fn compare(sqlite: &Schema, postgres: &Schema) -> Vec<Difference> {
    let keys: BTreeSet<&String> = sqlite.0.keys().chain(postgres.0.keys()).collect();
    let (sqlite, postgres) = (&sqlite.0, &postgres.0);
    keys.into_iter()
        .filter(|key| sqlite.get(*key) != postgres.get(*key))
        .map(|key| Difference {
            key: key.clone(),
            sqlite: sqlite.get(key).cloned(),
            postgres: postgres.get(key).cloned(),
        })
        .collect()
}

fn allows(allowed: &Allowed, difference: &Difference) -> bool {
    glob(allowed.key, &difference.key)
        && allowed.sqlite == difference.sqlite.as_deref()
        && allowed.postgres == difference.postgres.as_deref()
}

fn drift(differences: &[Difference]) -> Vec<&Difference> {
    let allowed = |d: &&Difference| ALLOWED.iter().any(|a| allows(a, d));
    differences.iter().filter(|d| !allowed(d)).collect()
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => text.strip_prefix(head).is_some_and(|tail| {
            let mut starts = tail.char_indices().map(|(at, _)| at).chain([tail.len()]);
            starts.any(|at| glob(rest, &tail[at..]))
        }),
    }
}

/// The server to compare against, or `None` (after saying so) when there is none.
fn postgres_server() -> Option<String> {
    match std::env::var("BAAS_TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => Some(server),
        _ if std::env::var("BAAS_TEST_STRICT").as_deref() == Ok("1") => {
            panic!(
                "the schema drift test needs PostgreSQL: BAAS_TEST_POSTGRES (./dev test sets it)"
            )
        }
        _ => {
            println!("schema_drift: compared nothing: BAAS_TEST_POSTGRES is not set");
            None
        }
    }
}

/// Migrates a fresh database through `Lab::open`, so what is compared is what production gets.
async fn migrate(url: &str, images: std::path::PathBuf) -> Lab {
    let secrets = SecretBox::new([1; 32]);
    Lab::open(url, secrets, images).await.expect("migrate")
}

#[tokio::test]
async fn both_dialects_migrate_to_the_same_schema() {
    let Some(server) = postgres_server() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("lab.db").display());
    let lab = migrate(&sqlite_url, dir.path().join("sqlite-images")).await;
    let sqlite = read_sqlite(&sqlite_url).await;
    lab.pool().close().await;
    let postgres_url = crate::testing::fresh_postgres_database(&server).await;
    let lab = migrate(&postgres_url, dir.path().join("postgres-images")).await;
    let postgres = read_postgres(&postgres_url).await;
    lab.pool().close().await;
    let database = postgres_url
        .split('?')
        .next()
        .and_then(|u| u.rsplit('/').next());
    let mut admin = PgConnection::connect(&server).await.expect("reconnect");
    let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", database.unwrap());
    sqlx::query(&drop)
        .execute(&mut admin)
        .await
        .expect("drop the test database");

    for table in ["machines", "users", "boot_jobs", "reservations"] {
        let key = format!("{table}: table");
        let read = sqlite.0.contains_key(&key) && postgres.0.contains_key(&key);
        assert!(read, "{table} was not read from both engines");
    }
    let differences = compare(&sqlite, &postgres);
    let mut report: Vec<String> = drift(&differences)
        .iter()
        .map(|d| format!("drift: {d}"))
        .collect();
    // An allowance nothing needs any more would hide the next difference it happens to match.
    for stale in ALLOWED
        .iter()
        .filter(|a| !differences.iter().any(|d| allows(a, d)))
    {
        report.push(format!("stale allowance: {} ({})", stale.key, stale.why));
    }
    assert!(
        report.is_empty(),
        "the SQLite and PostgreSQL schemas differ:\n  {}",
        report.join("\n  ")
    );
    println!(
        "schema_drift: {} facts on SQLite, {} on PostgreSQL, {} differences, all allowed",
        sqlite.0.len(),
        postgres.0.len(),
        differences.len()
    );
}

/// The comparison is not vacuous: a nullability and an index missing on one side are reported.
#[test]
fn a_missing_not_null_and_a_missing_index_are_drift() {
    let schema =
        |facts: &[(&str, &str)]| Schema(facts.iter().map(|&(k, v)| (k.into(), v.into())).collect());
    let sqlite = schema(&[
        ("machines: table", "present"),
        ("machines: column id type", "integer"),
        ("machines: column name null", "not null"),
        ("machines: index (name)", "full"),
    ]);
    let postgres = schema(&[
        ("machines: table", "present"),
        ("machines: column id type", "bigint"),
        ("machines: column name null", "nullable"),
    ]);
    let differences = compare(&sqlite, &postgres);
    let drift: Vec<String> = drift(&differences).iter().map(|d| d.to_string()).collect();
    let expected = [
        "machines: column name null: sqlite says not null, postgres says nullable",
        "machines: index (name): sqlite says full, postgres says nothing",
    ];
    assert_eq!(
        drift, expected,
        "the integer/bigint id is allowed, the other two are not"
    );
}
