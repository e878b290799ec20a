//! Unit tests of what the conformance suite cannot see through the traits:
//! `$N` parameters on SQLite, connection settings, URL dispatch, the schema's
//! own constraints on both backends (raw SQL on the pool), that both
//! backends' schemas have the same tables and columns, and that a stored
//! value that does not read back is `Corrupt`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use resist_clock::UnixTime;
use resist_testkit::postgres::TempPostgres;

use crate::prelude::*;
use crate::{
    AnyStore, ChangeProof, NewNode, NewOperator, PostgresStore, Protocol, SQLITE_FILE_NAME,
    SqliteStore, StoreError,
};

/// The whole design (one SQL text for both backends) rests on this: sqlx-sqlite
/// binds `$N` by number, including a number used twice and out of order.
#[tokio::test]
async fn sqlite_binds_numbered_parameters() {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let (joined,): (String,) = sqlx::query_as("SELECT $2 || '-' || $1 || '-' || $1")
        .bind("a")
        .bind("b")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(joined, "b-a-a");
}

#[tokio::test]
async fn sqlite_connection_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("not").join("yet");
    let s = SqliteStore::open_in(&data).await.unwrap();
    assert!(data.join(SQLITE_FILE_NAME).is_file(), "file created");
    let (journal,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    for (pragma, want) in [
        ("synchronous", 2),
        ("foreign_keys", 1),
        ("busy_timeout", 5000),
    ] {
        let (got,): (i64,) = sqlx::query_as(&format!("PRAGMA {pragma}"))
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(got, want, "PRAGMA {pragma} (synchronous 2 = FULL)");
    }
}

#[tokio::test]
async fn sqlite_file_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_in(dir.path()).await.unwrap();
    assert_eq!(s.meta_get_or_insert("k", "v1").await.unwrap(), "v1");
    drop(s);
    // Reopening applies no migration twice and keeps the data.
    let s = SqliteStore::open_in(dir.path()).await.unwrap();
    assert_eq!(s.meta_get_or_insert("k", "v2").await.unwrap(), "v1");
    let url = format!("sqlite:{}", dir.path().join(SQLITE_FILE_NAME).display());
    let s = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(s.meta_get_or_insert("k", "v3").await.unwrap(), "v1");
}

#[tokio::test]
async fn the_data_dir_and_database_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    // Made by the store.
    let fresh = dir.path().join("fresh");
    let s = SqliteStore::open_in(&fresh).await.unwrap();
    s.meta_get_or_insert("k", "v").await.unwrap();
    assert_eq!(mode(&fresh), 0o700, "a new data directory");
    assert_eq!(mode(&fresh.join(SQLITE_FILE_NAME)), 0o600, "a new database");
    let wal = fresh.join(format!("{SQLITE_FILE_NAME}-wal"));
    assert!(wal.exists(), "WAL mode keeps a -wal file");
    assert_eq!(mode(&wal), 0o600, "the WAL holds the same secrets");
    drop(s);
    // Left open by an earlier version (0755 and 0644): narrowed on open.
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = old.join(SQLITE_FILE_NAME);
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = SqliteStore::open_in(&old).await.unwrap();
    s.meta_get_or_insert("k", "v").await.unwrap();
    assert_eq!((mode(&old), mode(&db)), (0o700, 0o600));
}

#[tokio::test]
async fn open_in_reports_an_unusable_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let e = SqliteStore::open_in(&file.join("sub")).await.unwrap_err();
    assert!(matches!(e, StoreError::DataDir { .. }), "{e:?}");
    assert!(e.to_string().contains("a-file"), "{e}");
}

#[tokio::test]
async fn any_store_chooses_by_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let s = AnyStore::open(None, dir.path()).await.unwrap();
    assert_eq!(s.backend(), "sqlite");
    s.ping().await.unwrap();
    assert!(dir.path().join(SQLITE_FILE_NAME).is_file());

    let url = format!("sqlite:{}", dir.path().join("other.db").display());
    let s = AnyStore::open(Some(&url), Path::new("/nonexistent"))
        .await
        .unwrap();
    assert_eq!(s.backend(), "sqlite");
    let s = AnyStore::open(Some("sqlite::memory:"), dir.path())
        .await
        .unwrap();
    s.ping().await.unwrap();

    for (url, scheme) in [
        ("mysql://root:hunter2@db/resist", "mysql"),
        ("MySQL://root:hunter2@db/resist", "MySQL"),
        ("/var/lib/resist/db.sqlite3", ""),
        ("", ""),
        ("user name:hunter2@db", ""),
    ] {
        let e = AnyStore::open(Some(url), dir.path()).await.unwrap_err();
        match &e {
            StoreError::UnsupportedUrl { scheme: got } => assert_eq!(got, scheme, "{url}"),
            other => panic!("{url}: expected UnsupportedUrl, got {other:?}"),
        }
        let message = e.to_string();
        assert!(
            !message.contains("hunter2"),
            "never echo a password: {message}"
        );
        assert!(
            message.contains("sqlite:") && message.contains("postgres://"),
            "{message}"
        );
    }
}

/// Statements that break a schema rule the Rust types cannot express, with
/// what they bind; each must be refused on both backends.
async fn schema_refuses<DB>(pool: &sqlx::Pool<DB>)
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO operators (payout_address, token_hash, created_at, updated_at) \
         VALUES ('bcrt1qok', $1, 0, 0)",
    )
    .bind(vec![1u8; 32])
    .execute(pool)
    .await
    .expect("a valid operator");
    let refused: [(&str, &str, Option<Vec<u8>>); 9] = [
        (
            "short token hash",
            "INSERT INTO operators (payout_address, token_hash, created_at, updated_at) \
             VALUES ('bcrt1qshort', $1, 0, 0)",
            Some(vec![2u8; 31]),
        ),
        (
            "short probe key",
            "INSERT INTO probes (public_key, region, enabled, enrolled_at, updated_at) \
             VALUES ($1, 'free:DE', TRUE, 0, 0)",
            Some(vec![3u8; 31]),
        ),
        (
            "long probe key",
            "INSERT INTO probes (public_key, region, enabled, enrolled_at, updated_at) \
             VALUES ($1, 'free:DE', TRUE, 0, 0)",
            Some(vec![3u8; 33]),
        ),
        (
            "challenge expiring when created",
            "INSERT INTO challenges (nonce, created_at, expires_at) VALUES ('n', 10, 10)",
            None,
        ),
        (
            "unknown protocol",
            "INSERT INTO nodes (operator_id, host, port, protocol, created_at, updated_at) \
             SELECT id, 'h', 1080, 'http', 0, 0 FROM operators",
            None,
        ),
        (
            "port above 65535",
            "INSERT INTO nodes (operator_id, host, port, protocol, created_at, updated_at) \
             SELECT id, 'h', 65536, 'socks5', 0, 0 FROM operators",
            None,
        ),
        (
            "node of no operator",
            "INSERT INTO nodes (operator_id, host, port, protocol, created_at, updated_at) \
             VALUES (424242, 'h', 1080, 'socks5', 0, 0)",
            None,
        ),
        (
            "proof of no operator",
            "INSERT INTO proofs (operator_id, action, address, message, signature, created_at) \
             VALUES (424242, 'a', 'b', 'c', 'd', 0)",
            None,
        ),
        (
            "empty payout address",
            "INSERT INTO operators (payout_address, token_hash, created_at, updated_at) \
             VALUES ('', $1, 0, 0)",
            Some(vec![4u8; 32]),
        ),
    ];
    for (what, sql, blob) in refused {
        let mut q = sqlx::query(sql);
        if let Some(blob) = blob {
            q = q.bind(blob);
        }
        let r = q.execute(pool).await;
        assert!(r.is_err(), "{what} must be refused");
    }
    reports_refuse_out_of_range(pool).await;
}

/// One assignment, then report rows each breaking one range or length rule
/// (a valid row would be stored, so each refusal is the rule's doing).
async fn reports_refuse_out_of_range<DB>(pool: &sqlx::Pool<DB>)
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    Vec<u8>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (sql, blob) in [
        (
            "INSERT INTO nodes (operator_id, host, port, protocol, created_at, updated_at) \
             SELECT id, 'h', 1080, 'socks5', 0, 0 FROM operators",
            None,
        ),
        (
            "INSERT INTO probes (public_key, region, enabled, enrolled_at, updated_at) \
             VALUES ($1, 'free:DE', TRUE, 0, 0)",
            Some(vec![5u8; 32]),
        ),
        (
            "INSERT INTO windows (\"window\", planned_at) VALUES (7, 0)",
            None,
        ),
        (
            "INSERT INTO assignments (\"window\", node_id, probe_id) \
             SELECT 7, nodes.id, probes.id FROM nodes, probes",
            None,
        ),
    ] {
        let mut q = sqlx::query(sql);
        if let Some(blob) = blob {
            q = q.bind(blob);
        }
        q.execute(pool).await.expect(sql);
    }
    const COLUMNS: [(&str, &str); 7] = [
        ("outcome", "'relayed'"),
        ("reply_code", "0"),
        ("connect_us", "0"),
        ("handshake_us", "0"),
        ("rtt_us", "0"),
        ("sample_bytes", "0"),
        ("sample_us", "0"),
    ];
    // A report on the assignment with `column` set to `value` (and the
    // report id and signed bytes bound as `$1`).
    let report = |column: &str, value: &str| {
        let values: Vec<&str> = COLUMNS
            .iter()
            .map(|(c, v)| if *c == column { value } else { *v })
            .collect();
        let names: Vec<&str> = COLUMNS.iter().map(|(c, _)| *c).collect();
        format!(
            "INSERT INTO reports (probe_id, report_id, \"window\", node_id, measured_at, \
             received_at, {}, signed) \
             SELECT probe_id, $1, \"window\", node_id, 0, 0, {}, $1 FROM assignments",
            names.join(", "),
            values.join(", ")
        )
    };
    let mut refused: Vec<(String, String, Vec<u8>)> = vec![
        ("15-byte report id".into(), report("", ""), vec![1; 15]),
        ("17-byte report id".into(), report("", ""), vec![1; 17]),
        (
            "unknown outcome".into(),
            report("outcome", "'exploded'"),
            vec![1; 16],
        ),
        (
            "reply code 256".into(),
            report("reply_code", "256"),
            vec![1; 16],
        ),
        (
            "reply code -1".into(),
            report("reply_code", "-1"),
            vec![1; 16],
        ),
    ];
    for (column, _) in &COLUMNS[2..] {
        for value in ["-1", "4294967296"] {
            refused.push((
                format!("{column} {value}"),
                report(column, value),
                vec![1; 16],
            ));
        }
    }
    for (what, sql, blob) in &refused {
        let r = sqlx::query(sql).bind(blob.clone()).execute(pool).await;
        assert!(r.is_err(), "{what} must be refused");
    }
    // The limits themselves are fine.
    let mut accepted = vec![report("", "")];
    accepted.push(report("reply_code", "255"));
    for (column, _) in &COLUMNS[2..] {
        accepted.push(report(column, "4294967295"));
    }
    for sql in &accepted {
        sqlx::query(sql)
            .bind(vec![1u8; 16])
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        sqlx::query("DELETE FROM reports")
            .execute(pool)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn sqlite_schema_refuses_invalid_rows() {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    schema_refuses(s.pool()).await;
    // STRICT tables and the 0/1 check: no text where a number belongs, no
    // third truth value.
    for sql in [
        "INSERT INTO challenges (nonce, created_at, expires_at) VALUES ('n', 'soon', 20)",
        "INSERT INTO probes (public_key, region, enabled, enrolled_at, updated_at) \
         VALUES (zeroblob(32), 'free:DE', 2, 0, 0)",
        "INSERT INTO probes (public_key, region, enabled, enrolled_at, updated_at) \
         VALUES ('0123456789abcdef0123456789abcdef', 'free:DE', 1, 0, 0)",
    ] {
        assert!(sqlx::query(sql).execute(s.pool()).await.is_err(), "{sql}");
    }
}

/// The epoch rules hold in the schema itself, whatever writes to it: raw SQL
/// that would pay an epoch twice (state backwards, report rewritten, epoch or
/// batch deleted, an extra batch, a second signature) is refused. `blob(b, n)`
/// spells `n` bytes `b` as a literal of the backend.
async fn epochs_guarded<DB>(pool: &sqlx::Pool<DB>, blob: fn(u8, usize) -> String)
where
    DB: sqlx::Database,
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    let ok = |sql: String| async move {
        sqlx::query(&sql)
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    };
    let refused = |sql: String| async move {
        assert!(
            sqlx::query(&sql).execute(pool).await.is_err(),
            "the schema must refuse: {sql}"
        );
    };
    let batch = |index: u8| {
        format!(
            "INSERT INTO payout_batches (epoch, batch, psbt, txid, payees, amount_sat, fee_sat) \
             VALUES (1, {index}, {}, {}, 1, 1, 1)",
            blob(b'p', 1),
            blob(index, 32)
        )
    };
    let epoch = |columns: &str, values: &str| {
        format!(
            "INSERT INTO epochs (epoch, {columns} first_window, last_window, budget_sat, report, \
             state, closed_at) VALUES ({values}, 1, '{{}}', 'closed', 5)"
        )
    };
    ok(epoch("", "1, 0, 9")).await;
    // No batch before the export, none in a closed epoch.
    refused(batch(0)).await;
    // Skipping a state, or a state without its timestamps.
    refused(
        "UPDATE epochs SET state = 'signed', batches = 1, exported_at = 2, signed_at = 2".into(),
    )
    .await;
    refused("UPDATE epochs SET state = 'psbt_exported'".into()).await;
    ok("UPDATE epochs SET state = 'psbt_exported', batches = 1, exported_at = 2".into()).await;
    ok(batch(0)).await;
    // Beyond the recorded count.
    refused(batch(1)).await;
    refused("UPDATE epochs SET batches = 2".into()).await;
    // Backwards, rewritten, deleted.
    refused("UPDATE epochs SET state = 'closed', batches = NULL, exported_at = NULL".into()).await;
    refused("UPDATE epochs SET report = 'paid more'".into()).await;
    refused("UPDATE epochs SET budget_sat = 2000".into()).await;
    refused(format!(
        "UPDATE payout_batches SET psbt = {}",
        blob(b'q', 1)
    ))
    .await;
    refused("DELETE FROM payout_batches".into()).await;
    refused("DELETE FROM epochs".into()).await;
    // Signed only when every batch is; a batch is signed once.
    refused("UPDATE epochs SET state = 'signed', signed_at = 3".into()).await;
    ok(format!(
        "UPDATE payout_batches SET signed_tx = {}, signed_at = 3",
        blob(b't', 1)
    ))
    .await;
    refused(format!(
        "UPDATE payout_batches SET signed_tx = {}",
        blob(b'u', 1)
    ))
    .await;
    ok("UPDATE epochs SET state = 'signed', signed_at = 3".into()).await;
    refused("UPDATE epochs SET state = 'broadcast', broadcast_at = 4".into()).await;
    ok("UPDATE payout_batches SET broadcast_at = 4".into()).await;
    ok("UPDATE epochs SET state = 'broadcast', broadcast_at = 4".into()).await;
    refused("UPDATE epochs SET state = 'signed', broadcast_at = NULL".into()).await;
    // The next epoch continues the chain, or is refused.
    refused(epoch("prev_epoch, prev_last_window,", "2, 1, 8, 9, 20")).await;
    refused(epoch("", "2, 10, 20")).await;
    ok(epoch("prev_epoch, prev_last_window,", "2, 1, 9, 10, 20")).await;
}

#[tokio::test]
async fn sqlite_schema_guards_epochs() {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    epochs_guarded(s.pool(), |byte, n| format!("X'{}'", hex_of(byte, n))).await;
}

#[tokio::test]
async fn postgres_schema_and_sharing() {
    let Some(pg) = TempPostgres::shared() else {
        return;
    };

    let s = PostgresStore::connect(&pg.fresh_database().await)
        .await
        .unwrap();
    schema_refuses(s.pool()).await;
    epochs_guarded(
        PostgresStore::connect(&pg.fresh_database().await)
            .await
            .unwrap()
            .pool(),
        |byte, n| format!("'\\x{}'::bytea", hex_of(byte, n)),
    )
    .await;
    let (joined,): (String,) = sqlx::query_as("SELECT $2 || '-' || $1 || '-' || $1")
        .bind("a")
        .bind("b")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(joined, "b-a-a");
    assert!(format!("{s:?}").starts_with("PostgresStore"));

    // Two coordinators start on one new database at once: the migrations run
    // once (sqlx's advisory lock), and both stores work on the same rows.
    let url = pg.fresh_database().await;
    let (a, b) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    let (x, y) = tokio::join!(
        a.meta_get_or_insert("network", "regtest"),
        b.meta_get_or_insert("network", "signet")
    );
    assert_eq!(x.unwrap(), y.unwrap(), "both coordinators agree");

    // A challenge created through one is consumed through the other, once.
    a.create_challenge("shared", UnixTime(100), UnixTime(200))
        .await
        .unwrap();
    let request = |address: &str, token: u8, port: u16| {
        (
            NewOperator {
                payout_address: crate::CheckedAddress::new(address),
                token_hash: [token; 32],
            },
            vec![NewNode {
                host: "198.51.100.1".into(),
                port,
                protocol: Protocol::Socks5,
                username: None,
                password: None,
            }],
            ChangeProof {
                nonce: "shared".into(),
                action: "register".into(),
                message: "m".into(),
                signatures: vec![],
            },
        )
    };
    let (o1, n1, p1) = request("bcrt1qa", 1, 1080);
    let (o2, n2, p2) = request("bcrt1qb", 2, 1081);
    let (r1, r2) = tokio::join!(
        a.register_operator(&o1, &n1, &p1, UnixTime(150)),
        b.register_operator(&o2, &n2, &p2, UnixTime(150))
    );
    assert_eq!(
        usize::from(r1.is_ok()) + usize::from(r2.is_ok()),
        1,
        "{r1:?} {r2:?}"
    );
    let loser = if r1.is_ok() { r2 } else { r1 };
    assert!(
        matches!(loser, Err(StoreError::ChallengeInvalid)),
        "{loser:?}"
    );
    assert_eq!(a.operators().await.unwrap(), b.operators().await.unwrap());
}

fn hex_of(byte: u8, n: usize) -> String {
    format!("{byte:02x}").repeat(n)
}

/// A probe whose stored region label does not parse (the schema only wants
/// it non-empty) is reported as corrupt by every read, never skipped.
#[tokio::test]
async fn a_region_that_does_not_parse_is_corrupt() {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    sqlx::query(
        "INSERT INTO probes (public_key, region, enabled, enrolled_at, updated_at) \
         VALUES ($1, 'nowhere', 1, 0, 0)",
    )
    .bind(vec![7u8; 32])
    .execute(s.pool())
    .await
    .unwrap();
    for got in [
        s.probes().await.map(|_| ()),
        s.probe_by_key(&[7; 32]).await.map(|_| ()),
    ] {
        match got {
            Err(StoreError::Corrupt(why)) => assert!(why.contains("nowhere"), "{why}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}

/// Every table and its columns (name → type family) after all migrations.
type Schema = BTreeMap<String, BTreeMap<String, &'static str>>;

/// The family a column type belongs to, so SQLite's and PostgreSQL's names
/// for the same storage compare equal (SQLite keeps booleans as INTEGER).
fn type_family(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "smallint" | "boolean" => "integer",
        "text" | "character varying" => "text",
        "blob" | "bytea" => "bytes",
        _ => "other",
    }
}

async fn sqlite_schema(s: &SqliteStore) -> Schema {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%'",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    let mut schema = Schema::new();
    for table in tables {
        let columns: Vec<(String, String)> =
            sqlx::query_as("SELECT name, type FROM pragma_table_info($1)")
                .bind(&table)
                .fetch_all(s.pool())
                .await
                .unwrap();
        schema.insert(
            table,
            columns
                .into_iter()
                .map(|(name, ty)| (name, type_family(&ty)))
                .collect(),
        );
    }
    schema
}

async fn postgres_schema(s: &PostgresStore) -> Schema {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx\\_%'",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (table, column, ty) in columns {
        schema
            .entry(table)
            .or_default()
            .insert(column, type_family(&ty));
    }
    schema
}

/// Every difference between two schemas, in words.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut found = Vec::new();
    for table in sqlite.keys().chain(postgres.keys()) {
        let (Some(lite), Some(pg)) = (sqlite.get(table), postgres.get(table)) else {
            let only = if sqlite.contains_key(table) {
                "SQLite"
            } else {
                "PostgreSQL"
            };
            found.push(format!("table {table} only on {only}"));
            continue;
        };
        for column in lite.keys().chain(pg.keys()) {
            match (lite.get(column), pg.get(column)) {
                (Some(a), Some(b)) if a != b => found.push(format!(
                    "{table}.{column}: {a} on SQLite, {b} on PostgreSQL"
                )),
                (Some(_), None) => found.push(format!("{table}.{column} only on SQLite")),
                (None, Some(_)) => found.push(format!("{table}.{column} only on PostgreSQL")),
                _ => {}
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The two migration sets describe one schema: the same tables, the same
/// columns per table, of the same type family.
#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let Some(pg) = TempPostgres::shared() else {
        return;
    };
    let lite = sqlite_schema(&SqliteStore::connect("sqlite::memory:").await.unwrap()).await;
    let postgres = postgres_schema(
        &PostgresStore::connect(&pg.fresh_database().await)
            .await
            .unwrap(),
    )
    .await;
    assert!(
        lite.contains_key("operators") && lite.len() >= 10,
        "{lite:?}"
    );
    let found = differences(&lite, &postgres);
    assert!(
        found.is_empty(),
        "the schemas differ:\n{}",
        found.join("\n")
    );
    let columns = |s: &Schema| s.values().map(BTreeMap::len).sum::<usize>();
    assert_eq!(columns(&lite), columns(&postgres));
}

#[test]
fn schema_differences_are_named() {
    let schema = |tables: &[(&str, &[(&str, &'static str)])]| -> Schema {
        tables
            .iter()
            .map(|(t, cs)| {
                (
                    (*t).to_owned(),
                    cs.iter().map(|(c, ty)| ((*c).to_owned(), *ty)).collect(),
                )
            })
            .collect()
    };
    let lite = schema(&[("a", &[("x", "integer"), ("y", "text")]), ("b", &[])]);
    let pg = schema(&[("a", &[("x", "bytes"), ("z", "text")]), ("c", &[])]);
    assert_eq!(
        differences(&lite, &pg),
        [
            "a.x: integer on SQLite, bytes on PostgreSQL",
            "a.y only on SQLite",
            "a.z only on PostgreSQL",
            "table b only on SQLite",
            "table c only on PostgreSQL",
        ]
    );
}
