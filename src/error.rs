//! The stable error codes of flightrec: one [`Code`] per code string, `HSK-<status>-<NAME>`,
//! whose number is the HTTP status the error is sent with. Every error type's `code()` returns
//! one, and every message starts with it (`HSK-500-IO: ...`), so the strings live only in the
//! table below. Which HTTP status object a code becomes is the server's business
//! (`server::error`); here the status is only the number in the code.

use std::fmt;

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// A stable error code. The strings never change once published (clients match on them).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code string, e.g. `HSK-400-INVALID-EVENT`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    /// An event that does not follow FR-EVT.md.
    InvalidEvent = "HSK-400-INVALID-EVENT",
    /// A malformed query parameter.
    InvalidQuery = "HSK-400-INVALID-QUERY",
    /// A request body that is not JSON.
    InvalidJson = "HSK-400-INVALID-JSON",
    /// A request body that could not be read.
    Body = "HSK-400-BODY",
    /// A request the HTTP layer refused before any handler (e.g. a bad query string).
    BadRequest = "HSK-400-BAD-REQUEST",
    /// An OTLP export request that does not decode (protobuf or OTLP/JSON).
    InvalidOtlp = "HSK-400-INVALID-OTLP",
    /// A `Content-Encoding: gzip` body that does not expand.
    InvalidGzip = "HSK-400-INVALID-GZIP",
    /// A configuration that cannot be used (redaction patterns).
    InvalidConfig = "HSK-400-INVALID-CONFIG",
    /// A statement `flightrec sql` does not run.
    SqlRefused = "HSK-400-SQL-REFUSED",
    /// Listening beyond loopback without a bearer token.
    TokenRequired = "HSK-400-TOKEN-REQUIRED",
    /// A TLS certificate or key file that cannot be used.
    TlsFile = "HSK-400-TLS-FILE",
    /// A `--ship-to` URL or `--host-id` that cannot be used.
    ShipConfig = "HSK-400-SHIP-CONFIG",
    /// A missing or wrong bearer token.
    Unauthorized = "HSK-401-UNAUTHORIZED",
    /// A Host header the server does not answer to.
    HostNotAllowed = "HSK-403-HOST-NOT-ALLOWED",
    /// A request made by another site's page.
    CrossOrigin = "HSK-403-CROSS-ORIGIN",
    /// Nothing was ever recorded under the id, or no such route.
    NotFound = "HSK-404-NOT-FOUND",
    /// A method the route does not take.
    MethodNotAllowed = "HSK-405-METHOD-NOT-ALLOWED",
    /// A request slower than the server's `--request-timeout`.
    Timeout = "HSK-408-TIMEOUT",
    /// The data directory's lock is held by another process.
    Locked = "HSK-409-LOCKED",
    /// One event over the size limit.
    EventTooLarge = "HSK-413-EVENT-TOO-LARGE",
    /// More events in one request than the limit.
    BatchTooLarge = "HSK-413-BATCH-TOO-LARGE",
    /// A gzip body that expands past the route's limit.
    DecompressedTooLarge = "HSK-413-DECOMPRESSED-TOO-LARGE",
    /// A request body over the route's limit.
    BodyTooLarge = "HSK-413-BODY-TOO-LARGE",
    /// A `Content-Type` the route does not take.
    UnsupportedMediaType = "HSK-415-UNSUPPORTED-MEDIA-TYPE",
    /// A `Content-Encoding` other than gzip or identity.
    UnsupportedEncoding = "HSK-415-UNSUPPORTED-ENCODING",
    /// A request the HTTP layer could not process (well-formed but unusable).
    UnprocessableEntity = "HSK-422-UNPROCESSABLE-ENTITY",
    /// The async ingest queue is full; the event was dropped.
    QueueFull = "HSK-429-QUEUE-FULL",
    /// The remote recorder's buffer of unacknowledged events is full.
    BufferFull = "HSK-429-BUFFER-FULL",
    /// An I/O error.
    Io = "HSK-500-IO",
    /// A DuckDB error.
    Db = "HSK-500-DB",
    /// Building the Arrow columns of a segment failed.
    Arrow = "HSK-500-ARROW",
    /// Encoding the `GET /metrics` exposition failed.
    Metrics = "HSK-500-METRICS",
    /// Writing a Parquet file failed.
    Parquet = "HSK-500-PARQUET",
    /// The catalog was written by a newer flightrec.
    CatalogVersion = "HSK-500-CATALOG-VERSION",
    /// WAL bytes that do not decode.
    WalCorrupt = "HSK-500-WAL-CORRUPT",
    /// An earlier WAL write or fsync failed; nothing more is accepted until reopening.
    WalPoisoned = "HSK-500-WAL-POISONED",
    /// An error of the HTTP layer with no more specific code.
    InternalServerError = "HSK-500-INTERNAL-SERVER-ERROR",
    /// The server's answer is not what its API promises (the remote recorder, the CLI's --url).
    BadAnswer = "HSK-502-BAD-ANSWER",
    /// The object store refused an upload or delete, or could not be reached.
    ShipFailed = "HSK-502-SHIP-FAILED",
    /// The WAL writer has shut down.
    Closed = "HSK-503-CLOSED",
    /// The recorder is shutting down.
    ShuttingDown = "HSK-503-SHUTTING-DOWN",
    /// The server serves as many requests as it takes at once.
    Overloaded = "HSK-503-OVERLOADED",
    /// No answer from the server (the remote recorder, the CLI's --url).
    Unreachable = "HSK-503-UNREACHABLE",
    /// DuckDB needed more memory than `--memory-limit` gives it.
    MemoryLimit = "HSK-503-MEMORY-LIMIT",
    /// The device is full.
    DiskFull = "HSK-507-DISK-FULL",
}

impl Code {
    /// The HTTP status the error is sent with: the number in the code.
    pub const fn status(self) -> u16 {
        let b = self.as_str().as_bytes();
        (b[4] - b'0') as u16 * 100 + (b[5] - b'0') as u16 * 10 + (b[6] - b'0') as u16
    }
}

impl Code {
    /// The code of a code string (e.g. a server's answer), if this version knows it.
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with a code string (tests and clients hold the strings).
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One of the code strings (the OpenAPI document's schema of an error's `code`).
impl utoipa::PartialSchema for Code {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Code::ALL.iter().map(|c| c.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for Code {}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_hsk_status_name_unique_and_its_status_is_its_number() {
        let mut seen = std::collections::HashSet::new();
        for &code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            let (prefix, rest) = s.split_at(4);
            assert_eq!(prefix, "HSK-");
            let (number, name) = rest.split_at(3);
            assert_eq!(number.parse::<u16>().ok(), Some(code.status()), "{s}");
            assert!((400..600).contains(&code.status()), "{s}");
            assert!(name.starts_with('-') && name[1..].bytes().all(|b| b.is_ascii_uppercase() || b == b'-'), "{s}");
        }
        assert_eq!(Code::QueueFull.status(), 429);
        assert_eq!(Code::DiskFull.to_string(), "HSK-507-DISK-FULL");
        assert_eq!(Code::parse("HSK-429-BUFFER-FULL"), Some(Code::BufferFull));
        assert_eq!(Code::parse("HSK-499-NOT-A-CODE"), None);
    }
}
