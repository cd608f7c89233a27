//! Secret redaction for free-text event fields.
//!
//! This module owns the rules that decide which parts of a string are secrets and the
//! rewrite that replaces them with `[REDACTED:<kind>]` before an event reaches the WAL.
//! The event module walks every free-text field and hands it to
//! [`Redactor::redact_in_place`]; when that returns `true` the caller marks the event as
//! redacted. Nothing else in the crate inspects secret shapes.
//!
//! # Invariant
//!
//! A string that leaves [`Redactor::redact_in_place`] contains none of the built-in secret
//! shapes listed below, other than spans that are already a redaction marker
//! (`[REDACTED:<kind>]`). Replacing one secret can expose another shape (a PEM block's
//! closing `-----` glued to `--password x`), so the rules run again after any pass that
//! replaced something, until a pass replaces nothing (bounded at four passes; the second
//! normally finds nothing). Consequently redaction is idempotent: running the redactor
//! on its own output changes nothing and returns `false`.
//!
//! # Built-in kinds, in the order they run
//!
//! | kind | shape | replaced |
//! |---|---|---|
//! | `private_key` | PEM block `-----BEGIN … PRIVATE KEY-----` … `-----END … PRIVATE KEY-----` (PKCS#8, RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP `… BLOCK`); a BEGIN line without an END runs to the end of the string | whole block |
//! | `anthropic_key` | `sk-ant-` + at least 20 of `[A-Za-z0-9_-]` | whole key |
//! | `openai_key` | `sk-proj-`/`sk-svcacct-`/`sk-admin-` + at least 20 of `[A-Za-z0-9_-]`, or `sk-` + at least 20 letters/digits that mix at least two of lower case, upper case, digits (so `sk-learn` or an all-lower-case slug is not a key) | whole key |
//! | `aws_access_key` | `AKIA`/`ASIA` + exactly 16 of `[A-Z0-9]`, as a whole word | whole key |
//! | `github_token` | `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + at least 36 letters/digits; `github_pat_` + at least 22 of `[A-Za-z0-9_]` | whole token |
//! | `slack_token` | `xoxa-`/`xoxb-`/`xoxp-`/`xoxr-`/`xoxs-` + at least 10 of `[A-Za-z0-9-]` that mix two character classes | whole token |
//! | `google_api_key` | `AIza` + 35 of `[A-Za-z0-9_-]` | whole key |
//! | `stripe_key` | `sk_live_`/`sk_test_`/`rk_live_`/`rk_test_` + at least 16 letters/digits (publishable `pk_` keys are not secret) | whole key |
//! | `jwt` | `eyJ…` `.` `…` `.` `…` (three base64url segments, header starting `eyJ`; up to two more segments of a JWE are included) | whole token |
//! | `bearer_token` | `Bearer <token>` (`bearer` in any case, so also inside `Authorization: Bearer …`) where the token is at least 8 token68 characters mixing two character classes | the token; `Bearer ` is kept |
//! | `basic_auth` | `Authorization: Basic <base64>` | the credentials; the header is kept |
//! | `url_password` | `scheme://user:PASSWORD@host` (the user may be empty) | the password only: `https://bob:[REDACTED:url_password]@example.com/x` |
//! | `password_assignment` | `password=…`, `passwd: …`, `DB_PASSWORD=…`, `client_secret=…`, `api_key=…`, `"password": "…"`, `--password …`, and `…token=…` with a random-looking value | the value only |
//!
//! Where shapes overlap the more specific kind wins because it runs first: `sk-ant-` is an
//! `anthropic_key`, never an `openai_key`; `Authorization: Bearer sk-…` becomes
//! `Bearer [REDACTED:openai_key]` and `Bearer eyJ….….…` becomes `Bearer [REDACTED:jwt]`
//! (the bearer rule only takes tokens no earlier rule recognised);
//! `OPENAI_API_KEY=sk-…` becomes `OPENAI_API_KEY=[REDACTED:openai_key]`.
//!
//! # Judgement calls (deliberately *not* redacted)
//!
//! * Text after the authority of a URL is never treated as credentials:
//!   `https://example.com/a:b@c` is left alone because `a:b@c` is path text.
//! * `password_assignment` needs a key that *ends* in the keyword followed by `=` or `:`
//!   (or a `--flag` followed by a space, or `"--flag", "value"` in an argv array), so
//!   `max_tokens=256`, `token_usage`, `password_file=…`, `reset your password` and
//!   `/etc/passwd:` stay intact. A key right after `/` is path text (`…/password=x` is
//!   kept). Values under
//!   a `…token` key are only redacted when they look random (at least 8 characters mixing
//!   two character classes), so a streamed `"token": "Hello"` or `token: 812` survives.
//!   Obvious placeholders (`null`, `true`, `str`, `$VAR`, `${VAR}`, `<your-key>`, `****`)
//!   are kept for every key. `pwd` and bare `pass` are not keys (`PWD=/home/x` is a directory).
//! * An unquoted value stops at whitespace, a quote, `\`, `&`, `,` or `;`; a quoted value
//!   runs to its closing quote (or the end of the line). `mysql -phunter2` (value glued to
//!   a one-letter flag) is not recognised.
//!
//! # Custom patterns
//!
//! [`CustomPattern`]s from configuration run after the built-ins, in configuration order.
//! The whole match is replaced by `[REDACTED:<kind>]`, unless the regex has a capture
//! group named `secret` (or, so that alternatives can each name one, `secret_<suffix>`):
//! then only the first such group that took part in the match is replaced (the whole
//! match when none did). A kind must be
//! 1 to 64 characters of `[A-Za-z0-9_.-]` so that the marker stays parseable; a regex
//! that does not compile or that matches the empty string is rejected with
//! `HSK-400-INVALID-CONFIG`. Empty secret spans are never replaced.
//!
//! # Cost
//!
//! Almost every string is clean, so every rule is also compiled into one
//! [`regex::RegexSet`]: a clean string costs a single pass of that set and no allocation.
//! Only the rules the set reports are then run individually, and a new string is built
//! only once a replacement is certain. Measured (release, one core): about 1.3 ns per
//! byte of clean text, e.g. 12 ns for `agent`, 55 ns for `cargo test --release --
//! --nocapture`, 200 ns for a 140-byte sentence; a string with two secrets about 2 µs.
//! (A literal prefilter in front of the set was tried: case-insensitive keywords defeat
//! the regex crate's literal search, so it saved little and passed most prose anyway.)

use std::fmt;

use regex::{Regex, RegexSet};

/// Prefix of every replacement; a span that is exactly `[REDACTED:<kind>]` is never
/// redacted again.
const MARKER_PREFIX: &str = "[REDACTED:";

/// Upper bound on redaction passes over one string; each pass after the first only
/// runs when the previous one replaced something, and in practice the second finds
/// nothing.
const MAX_PASSES: usize = 4;

/// Longest kind name accepted for a custom pattern.
const MAX_KIND_LEN: usize = 64;

/// One extra pattern from configuration.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
pub struct CustomPattern {
    /// Name used in the replacement `[REDACTED:<kind>]`.
    pub kind: String,
    /// Regex (syntax of the `regex` crate); a group named `secret` limits the replacement.
    pub regex: String,
}

/// A redaction configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RedactConfigError {
    /// The regex of a pattern does not compile or matches the empty string.
    #[error("HSK-400-INVALID-CONFIG: redaction pattern `{kind}` is not a valid regex: {reason}")]
    InvalidPattern {
        /// Kind of the offending pattern.
        kind: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The kind name of a custom pattern cannot appear inside a marker.
    #[error("HSK-400-INVALID-CONFIG: redaction pattern kind `{kind}` is not usable: {reason}")]
    InvalidKind {
        /// The offending kind.
        kind: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Every pattern compiles alone but together they exceed the regex size limits.
    #[error("HSK-400-INVALID-CONFIG: the redaction patterns cannot be combined: {reason}")]
    PatternSet {
        /// Error of the combined pre-check.
        reason: String,
    },
}

/// Extra check on a matched secret span; `false` keeps the text.
type Accept = fn(&str) -> bool;

/// A built-in rule as written in the source.
struct Builtin {
    kind: &'static str,
    pattern: &'static str,
    accept: Option<Accept>,
}

/// Keys whose value is always a secret (`password_assignment`), without the
/// `token` family, which needs a random-looking value.
macro_rules! secret_keys {
    () => {
        "password|passwd|passphrase|secret|(?:api|secret|access|private|client|auth|signing|encryption)[_-]?key|apikey|credentials?"
    };
}

/// `<boundary><key><sep><value>` or `--<flag> <value>` for the keys given as a literal.
macro_rules! assignment {
    ($keys:expr) => {
        concat!(
            // The key starts after a character that cannot be part of a path or
            // identifier, so `/etc/passwd:` is a path, not a key.
            r#"(?:^|[^A-Za-z0-9_./\\-])[A-Za-z0-9_.-]*(?i-u:"#,
            $keys,
            r#")\\?["']?[ \t]*[:=][ \t]*(?:\\?"(?P<secret_dq>[^"\\\r\n]+)|'(?P<secret_sq>[^'\r\n]+)|(?P<secret>[^\s"'\\&,;]+))"#,
            // `--password <value>` on a command line, or `"--password", "<value>"` in an
            // argv array; a value starting with `-` is the next flag.
            r#"|(?:^|[^A-Za-z0-9_-])--[A-Za-z0-9-]*(?i-u:"#,
            $keys,
            r#")(?:[ \t]+(?:"(?P<secret_fdq>[^"\r\n]+)|'(?P<secret_fsq>[^'\r\n]+)|(?P<secret_f>[^\s"'-][^\s"']*))"#,
            r#"|\\?["'][ \t]*,[ \t]*\\?["'](?P<secret_fa>[^"'\\\r\n-][^"'\\\r\n]*))"#,
        )
    };
}

/// The built-in rules, in the order they run (specific shapes before generic ones).
const BUILTINS: &[Builtin] = &[
    Builtin {
        kind: "private_key",
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\z)",
        accept: None,
    },
    Builtin { kind: "anthropic_key", pattern: r"(?-u:\b)sk-ant-[A-Za-z0-9_-]{20,}", accept: None },
    Builtin {
        kind: "openai_key",
        pattern: r"(?-u:\b)sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20,}[A-Za-z0-9_-]*)",
        accept: Some(openai_ok),
    },
    Builtin { kind: "aws_access_key", pattern: r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)", accept: None },
    Builtin {
        kind: "github_token",
        pattern: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
        accept: None,
    },
    Builtin { kind: "slack_token", pattern: r"(?-u:\b)xox[abprs]-[A-Za-z0-9-]{10,}", accept: Some(slack_ok) },
    Builtin { kind: "google_api_key", pattern: r"(?-u:\b)AIza[A-Za-z0-9_-]{35}", accept: None },
    Builtin { kind: "stripe_key", pattern: r"(?-u:\b)[rs]k_(?:live|test)_[A-Za-z0-9]{16,}", accept: None },
    Builtin {
        kind: "jwt",
        pattern: r"(?-u:\b)eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+){0,2}",
        accept: None,
    },
    Builtin {
        kind: "bearer_token",
        pattern: r"(?i-u:\bbearer)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)",
        accept: Some(opaque_token_ok),
    },
    Builtin {
        kind: "basic_auth",
        pattern: r#"(?i-u:\bauthorization)["']?[ \t]*[:=][ \t]*["']?(?i-u:basic)[ \t]+(?P<secret>[A-Za-z0-9+/]{4,}={0,2})"#,
        accept: Some(basic_ok),
    },
    Builtin {
        kind: "url_password",
        // `[` and `]` cannot occur in a user name (RFC 3986), which keeps a marker such as
        // `https://[REDACTED:github_token]@host` from reading as `user:password@`.
        pattern: r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'<>\[\]]*:(?P<secret>[^\s/?#"'<>]+)@"#,
        accept: None,
    },
    Builtin { kind: "password_assignment", pattern: assignment!(secret_keys!()), accept: Some(value_ok) },
    Builtin { kind: "password_assignment", pattern: assignment!("token"), accept: Some(opaque_token_ok) },
];

/// One compiled rule.
#[derive(Clone)]
struct Rule {
    kind: String,
    replacement: String,
    regex: Regex,
    /// Indices of the groups named `secret` / `secret_*`, ascending; empty: whole match.
    secret_groups: Vec<usize>,
    accept: Option<Accept>,
}

impl Rule {
    fn compile(kind: &str, pattern: &str, accept: Option<Accept>) -> Result<Rule, String> {
        let regex = Regex::new(pattern).map_err(|e| e.to_string())?;
        let secret_groups = regex
            .capture_names()
            .enumerate()
            .filter(|(_, name)| name.is_some_and(|n| n == "secret" || n.starts_with("secret_")))
            .map(|(i, _)| i)
            .collect();
        Ok(Rule { kind: kind.to_owned(), replacement: format!("{MARKER_PREFIX}{kind}]"), regex, secret_groups, accept })
    }

    /// Replaces every accepted match of this rule in `text`; true when anything changed.
    fn apply(&self, text: &mut String) -> bool {
        let mut edit = Edit::default();
        if self.secret_groups.is_empty() {
            for m in self.regex.find_iter(text) {
                self.consider(text, m.start(), m.end(), &mut edit);
            }
        } else {
            for caps in self.regex.captures_iter(text) {
                let span = self.secret_groups.iter().find_map(|&i| caps.get(i)).or_else(|| caps.get(0));
                if let Some(m) = span {
                    self.consider(text, m.start(), m.end(), &mut edit);
                }
            }
        }
        edit.finish(text)
    }

    fn consider(&self, text: &str, start: usize, end: usize, edit: &mut Edit) {
        let secret = &text[start..end];
        if secret.is_empty() || is_marker(secret) || self.accept.is_some_and(|ok| !ok(secret)) {
            return;
        }
        let out = edit.out.get_or_insert_with(|| String::with_capacity(text.len()));
        out.push_str(&text[edit.copied..start]);
        out.push_str(&self.replacement);
        edit.copied = end;
    }
}

/// A rewrite in progress: nothing is allocated until the first replacement.
#[derive(Default)]
struct Edit {
    out: Option<String>,
    /// Bytes of the input already copied to (or replaced in) `out`.
    copied: usize,
}

impl Edit {
    fn finish(self, text: &mut String) -> bool {
        match self.out {
            Some(mut out) => {
                out.push_str(&text[self.copied..]);
                *text = out;
                true
            }
            None => false,
        }
    }
}

/// Replaces secrets in strings; see the module docs for the rules.
///
/// Cheap to clone (the compiled regexes are reference-counted) and `Send + Sync`.
#[derive(Clone)]
pub struct Redactor {
    rules: Vec<Rule>,
    /// All rule regexes, index for index; `None` only in the fallback of
    /// [`Redactor::builtin`], where every rule then runs on every string.
    precheck: Option<RegexSet>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").field("kinds", &self.kinds()).field("precheck", &self.precheck.is_some()).finish()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::builtin()
    }
}

impl Redactor {
    /// The built-in rules followed by `custom`, in order.
    pub fn new(custom: &[CustomPattern]) -> Result<Redactor, RedactConfigError> {
        let mut rules = Vec::with_capacity(BUILTINS.len() + custom.len());
        for b in BUILTINS {
            let rule = Rule::compile(b.kind, b.pattern, b.accept)
                .map_err(|reason| RedactConfigError::InvalidPattern { kind: b.kind.to_owned(), reason })?;
            rules.push(rule);
        }
        for c in custom {
            check_kind(&c.kind)?;
            let invalid = |reason: String| RedactConfigError::InvalidPattern { kind: c.kind.clone(), reason };
            let rule = Rule::compile(&c.kind, &c.regex, None).map_err(invalid)?;
            if rule.regex.is_match("") {
                return Err(invalid("it matches the empty string, so it would redact everywhere".to_owned()));
            }
            rules.push(rule);
        }
        let precheck = RegexSet::new(rules.iter().map(|r| r.regex.as_str()))
            .map_err(|e| RedactConfigError::PatternSet { reason: e.to_string() })?;
        Ok(Redactor { rules, precheck: Some(precheck) })
    }

    /// The built-in rules only. Never fails: the literals are proven to compile by the
    /// unit tests; should one ever not, it is logged and skipped, and should the combined
    /// pre-check not build, every rule runs on every string (slower, still correct).
    pub fn builtin() -> Redactor {
        let mut rules = Vec::with_capacity(BUILTINS.len());
        for b in BUILTINS {
            match Rule::compile(b.kind, b.pattern, b.accept) {
                Ok(rule) => rules.push(rule),
                Err(reason) => tracing::error!(
                    kind = b.kind,
                    %reason,
                    "built-in redaction pattern does not compile; this kind is NOT redacted"
                ),
            }
        }
        let precheck = match RegexSet::new(rules.iter().map(|r| r.regex.as_str())) {
            Ok(set) => Some(set),
            Err(e) => {
                tracing::error!(error = %e, "redaction pre-check does not build; running every rule");
                None
            }
        };
        Redactor { rules, precheck }
    }

    /// Replaces every secret in `text` in place; returns true when anything was replaced.
    /// A clean string is neither reallocated nor modified.
    pub fn redact_in_place(&self, text: &mut String) -> bool {
        // A replacement can expose a shape that its neighbour hid (a PEM block ending in
        // `-----` glued to `--password x`), so passes repeat until one changes nothing.
        // A clean string costs one pre-check; a string with secrets usually two passes.
        let mut changed = false;
        for _ in 0..MAX_PASSES {
            if !self.pass(text) {
                return changed;
            }
            changed = true;
        }
        changed
    }

    /// One pass of every rule, in order; true when anything was replaced.
    fn pass(&self, text: &mut String) -> bool {
        let Some(set) = &self.precheck else {
            return self.rules.iter().fold(false, |changed, rule| rule.apply(text) | changed);
        };
        // `is_match` may stop at the first hit and uses the fastest engine; `matches`
        // (all patterns, whole input) is only paid for strings that hold something.
        if !set.is_match(text) {
            return false;
        }
        let hits = set.matches(text);
        let mut changed = false;
        for rule in hits.iter().filter_map(|i| self.rules.get(i)) {
            changed |= rule.apply(text);
        }
        changed
    }

    /// The kinds this redactor knows, in the order their rules run, without duplicates.
    pub fn kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            if !kinds.contains(&rule.kind.as_str()) {
                kinds.push(&rule.kind);
            }
        }
        kinds
    }
}

/// A custom kind must fit inside `[REDACTED:<kind>]` without breaking the marker.
fn check_kind(kind: &str) -> Result<(), RedactConfigError> {
    let reason = if kind.is_empty() {
        "it is empty"
    } else if kind.len() > MAX_KIND_LEN {
        "it is longer than 64 characters"
    } else if !kind.bytes().all(is_kind_byte) {
        "only ASCII letters, digits, `_`, `.` and `-` are allowed"
    } else {
        return Ok(());
    };
    Err(RedactConfigError::InvalidKind { kind: kind.to_owned(), reason: reason.to_owned() })
}

fn is_kind_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// `s` is exactly one `[REDACTED:<kind>]` marker.
fn is_marker(s: &str) -> bool {
    s.strip_prefix(MARKER_PREFIX)
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|kind| !kind.is_empty() && kind.bytes().all(is_kind_byte))
}

/// Random keys mix character classes; words, slugs and numbers do not. Counts lower
/// case, upper case after the first character (so `Authentication` is one class) and
/// digits; two or more look random.
fn looks_random(s: &str) -> bool {
    let lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let upper = s.bytes().skip(1).any(|b| b.is_ascii_uppercase());
    let digit = s.bytes().any(|b| b.is_ascii_digit());
    usize::from(lower) + usize::from(upper) + usize::from(digit) >= 2
}

/// Project/service keys are recognised by their prefix; a plain `sk-` body must look
/// random so `sk-` followed by a long lower-case word is kept.
fn openai_ok(s: &str) -> bool {
    let body = s.strip_prefix("sk-").unwrap_or(s);
    ["proj-", "svcacct-", "admin-"].iter().any(|p| body.starts_with(p)) || looks_random(body)
}

fn slack_ok(s: &str) -> bool {
    looks_random(s.get(5..).unwrap_or(s))
}

/// Opaque tokens (after `Bearer`, under a `…token` key): long enough and random-looking.
fn opaque_token_ok(s: &str) -> bool {
    s.len() >= 8 && looks_random(s) && value_ok(s)
}

fn basic_ok(s: &str) -> bool {
    looks_random(s)
}

/// Keeps values that are obviously not a secret but a placeholder or a reference.
fn value_ok(s: &str) -> bool {
    // Literals and the type names of code such as `def f(password: str)`.
    const WORDS: [&str; 8] = ["null", "none", "nil", "true", "false", "undefined", "str", "string"];
    if WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) || s.bytes().all(|b| b == b'*') {
        return false;
    }
    if s.starts_with('<') && s.ends_with('>') {
        return false;
    }
    // `$VAR` / `${VAR}`: a shell or template reference, not the secret itself.
    if let Some(rest) = s.strip_prefix('$') {
        let var = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')).unwrap_or(rest);
        if !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
