//! Every DuckDB database this process opens (the catalog's, and the ones that read Parquet
//! files without it), opened here so each gets the same cap on DuckDB's memory.
//!
//! DuckDB's `memory_limit` bounds what its buffer manager holds (hash tables, sorts, cached
//! Parquet pages, the catalog's index); without it DuckDB takes up to 80 % of the machine's
//! memory, which is the process's budget, not its own. [`DEFAULT_MEMORY_LIMIT`] is what the
//! command line uses unless `--memory-limit` / `FLIGHTREC_MEMORY_LIMIT` says otherwise; a
//! query that needs more than the limit fails with DuckDB's out-of-memory error instead of
//! growing the process.

use std::sync::atomic::{AtomicU64, Ordering};

use duckdb::Connection;

use super::error::{StoreError, db};

/// DuckDB's share of memory unless configured: compaction needs some of it for the staged
/// index rows (one per trace and per job of a transaction) and their inserts, queries of a
/// page a few MB plus cached Parquet pages.
pub const DEFAULT_MEMORY_LIMIT: &str = "256MiB";

/// The smallest limit accepted: below it DuckDB cannot hold one Parquet row group per thread.
const MIN_BYTES: u64 = 16 << 20;

/// The limit in bytes for databases opened from now on (0: the default).
static LIMIT_BYTES: AtomicU64 = AtomicU64::new(0);

/// Sets DuckDB's memory limit, in bytes, for the databases opened from now on.
pub fn set_memory_limit(bytes: u64) {
    LIMIT_BYTES.store(bytes.max(MIN_BYTES), Ordering::Relaxed);
}

/// The limit in bytes databases are opened with.
pub fn memory_limit() -> u64 {
    match LIMIT_BYTES.load(Ordering::Relaxed) {
        0 => parse_memory_limit(DEFAULT_MEMORY_LIMIT).unwrap_or(256 << 20),
        bytes => bytes,
    }
}

/// An in-memory DuckDB database with the memory limit set.
pub fn open_in_memory() -> Result<Connection, StoreError> {
    let conn = Connection::open_in_memory().map_err(db("open DuckDB"))?;
    // A number this function formats: nothing of the caller's is spliced into the statement.
    let kib = memory_limit() / 1024;
    conn.execute_batch(&format!("SET memory_limit = '{kib}KiB'")).map_err(db("set DuckDB's memory limit"))?;
    Ok(conn)
}

/// Parses a size such as `256MiB`, `1GB` or `512000KB` (an integer and a unit of KB, MB, GB
/// or KiB, MiB, GiB, any case) into bytes, at least 16 MiB.
pub fn parse_memory_limit(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let unit_bytes: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(format!("`{text}`: give a number and a unit (KB, MB, GB, KiB, MiB, GiB), e.g. 256MiB")),
    };
    let bytes = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_bytes))
        .ok_or_else(|| format!("`{text}`: not a size in range"))?;
    if bytes < MIN_BYTES {
        return Err(format!("`{text}`: DuckDB needs at least 16MiB"));
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_both_unit_systems_and_nonsense_is_refused() {
        assert_eq!(parse_memory_limit("256MiB"), Ok(256 << 20));
        assert_eq!(parse_memory_limit("1gb"), Ok(1_000_000_000));
        assert_eq!(parse_memory_limit(" 300 MB "), Ok(300_000_000));
        for bad in ["", "256", "MiB", "-1GiB", "1.5GiB", "1MiB", "99999999999999999GiB", "2 TiB; DROP"] {
            assert!(parse_memory_limit(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn databases_are_opened_with_the_limit() {
        let conn = open_in_memory().unwrap();
        let setting: String = conn.query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0)).unwrap();
        assert_eq!(setting, "256.0 MiB", "the default");
    }

    #[test]
    fn an_index_that_outgrows_the_limit_is_a_memory_limit_error_that_says_what_to_raise() {
        let conn = open_in_memory().unwrap();
        // The catalog's case: an in-memory ART index over random 16-byte keys.
        conn.execute_batch("SET memory_limit = '16MiB'; CREATE TABLE t (k UUID PRIMARY KEY)").unwrap();
        let err = conn
            .execute_batch("INSERT INTO t SELECT gen_random_uuid() FROM range(1000000)")
            .map_err(db("index the traces"))
            .unwrap_err();
        assert_eq!(err.code(), crate::error::Code::MemoryLimit, "{err}");
        let text = err.to_string();
        assert!(text.starts_with("HSK-503-MEMORY-LIMIT: index the traces: "), "{text}");
        assert!(
            text.contains("--memory-limit") && text.contains("16.0 MiB used"),
            "the limit and what to raise: {text}"
        );
        let other = conn.execute_batch("SELECT * FROM no_such_table").map_err(db("read")).unwrap_err();
        assert_eq!(other.code(), crate::error::Code::Db, "other failures stay HSK-500-DB");
    }
}
