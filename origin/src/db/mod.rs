//! Storage: one `sqlx::Any` pool over SQLite (default, one file) or PostgreSQL, versioned
//! migrations per backend, and the transaction helper every multi-statement write goes through.
//!
//! All SQL is static text with `$n` placeholders (both SQLite and PostgreSQL accept them);
//! values are always bound, never formatted in.

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Transaction};

pub type Tx = Transaction<'static, sqlx::Any>;

/// Is this a unique-constraint violation (same on SQLite and PostgreSQL)?
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum DbError {
    UnsupportedUrl,
    Connect(sqlx::Error),
    Migrate(sqlx::migrate::MigrateError),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::UnsupportedUrl => f.write_str("database url is neither sqlite: nor postgres:"),
            DbError::Connect(e) => write!(f, "cannot connect to the database: {e}"),
            DbError::Migrate(e) => write!(f, "migrations failed: {e}"),
        }
    }
}
impl std::error::Error for DbError {}

/// The advisory locks the origin takes (one number each, so they never collide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum LockKey {
    /// Creating, activating and retiring signing keys.
    SigningKeys = 0x6564_6765_6b65_7973, // "edgekeys"
}

/// What the database's migration history says next to the migrations this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Versions this binary carries that the database has not applied: the process must not
    /// serve until `edge-auth-origin migrate` (or a start with `MIGRATE_ON_START=true`) ran.
    pub pending: Vec<i64>,
    /// Versions applied that this binary does not know: a newer release migrated the database
    /// during a rolling upgrade. Migrations are additive, so an older process keeps serving.
    pub newer: Vec<i64>,
}

impl Db {
    /// Connects and runs the pending migrations for the URL's backend.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        let db = Db::open(url, None).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Connects without migrating. `pool_size` bounds the connections this process opens
    /// (default 4 on SQLite, 16 on PostgreSQL).
    pub async fn open(url: &str, pool_size: Option<u32>) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl);
        };
        let opts: AnyConnectOptions = url.parse().map_err(DbError::Connect)?;
        let pool = match backend {
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(pool_size.unwrap_or(4))
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await
                .map_err(DbError::Connect)?,
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(pool_size.unwrap_or(16))
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // A transaction left open holds back the revocation feed (see
                        // domain::revocations::FeedCursor): never for longer than this.
                        conn.execute("SET idle_in_transaction_session_timeout = '30s'")
                            .await?;
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await
                .map_err(DbError::Connect)?,
        };
        Ok(Db { pool, backend })
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies the pending migrations. Several processes starting at once are safe: sqlx holds
    /// a database lock (an advisory lock on PostgreSQL) while it migrates. Migrations a newer
    /// release applied are left alone rather than refused (they are additive), so a process of
    /// the previous release can still start — and migrate — during a rolling upgrade or a
    /// roll-back, with `MIGRATE_ON_START` either way.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let mut m = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        m.set_ignore_missing(true);
        m.run(&self.pool).await.map_err(DbError::Migrate)
    }

    /// Compares the applied migrations with the ones this binary carries. An error means the
    /// database could not be asked at all.
    pub async fn migration_state(&self) -> Result<MigrationState, sqlx::Error> {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await?;
        // Missing history table: nothing applied yet.
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await
                .unwrap_or_default();
        let known: Vec<i64> = self.migrator().iter().map(|m| m.version).collect();
        Ok(MigrationState {
            pending: known
                .iter()
                .copied()
                .filter(|v| !applied.contains(v))
                .collect(),
            newer: applied
                .iter()
                .copied()
                .filter(|v| !known.contains(v))
                .collect(),
        })
    }

    /// Serialises the writers of one kind of state across processes until `tx` ends: a
    /// PostgreSQL advisory transaction lock on `key`. On SQLite every write transaction already
    /// holds the database's write lock (`BEGIN IMMEDIATE`), so there is nothing to add.
    pub async fn lock(
        &self,
        tx: &mut sqlx::AnyConnection,
        key: LockKey,
    ) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key as i64)
                .execute(tx)
                .await?;
        }
        Ok(())
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so two writers queue on the busy timeout instead of
    /// failing on a read→write lock upgrade.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }
}
