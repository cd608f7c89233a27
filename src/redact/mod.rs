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
//! | `openai_key` | `sk-proj-`/`sk-svcacct-`/`sk-admin-`/`sk-None-` + at least 20 of `[A-Za-z0-9_-]`, or `sk-` + at least 20 letters/digits that mix at least two of lower case, upper case, digits (so `sk-learn` or an all-lower-case slug is not a key) | whole key |
//! | `aws_access_key` | `AKIA`/`ASIA` + exactly 16 of `[A-Z0-9]`, as a whole word | whole key |
//! | `github_token` | `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + at least 36 letters/digits; `github_pat_` + at least 22 of `[A-Za-z0-9_]` | whole token |
//! | `gitlab_token` | `glpat-`/`glptt-`/`gldt-`/`glrt-` + at least 20 of `[A-Za-z0-9_-]` | whole token |
//! | `slack_token` | `xoxa-`/`xoxb-`/`xoxp-`/`xoxr-`/`xoxs-`/`xoxe-`/`xoxe.xoxp-`/`xapp-` + at least 10 of `[A-Za-z0-9-]` that mix two character classes | whole token |
//! | `slack_webhook` | `hooks.slack.com/services/…` (also `/workflows/`, `/triggers/`) with at least 16 path characters | the path after `services/` |
//! | `npm_token` | `npm_` + at least 36 letters/digits that mix two character classes | whole token |
//! | `google_api_key` | `AIza` + 35 of `[A-Za-z0-9_-]` | whole key |
//! | `stripe_key` | `sk_live_`/`sk_test_`/`rk_live_`/`rk_test_` + at least 16 letters/digits (publishable `pk_` keys are not secret); webhook secrets `whsec_` + at least 24 base64 characters | whole key |
//! | `jwt` | `eyJ…` `.` `…` `.` `…` (three base64url segments, header starting `eyJ`; up to two more segments of a JWE are included) | whole token |
//! | `bearer_token` | `Bearer <token>` (`bearer` in any case, so also inside `Authorization: Bearer …`) where the token is at least 8 token68 characters mixing two character classes | the token; `Bearer ` is kept |
//! | `basic_auth` | `Authorization: Basic <base64>` | the credentials; the header is kept |
//! | `auth_token` | `Authorization: Token <x>` and the schemes `Bot`, `ApiKey`, `Key`, `sso-key`, `SSWS` | the credential; header and scheme are kept |
//! | `cookie` | `Cookie: name=…` / `Set-Cookie: name=…` | everything after `Cookie: ` to the end of the line or the closing quote |
//! | `url_password` | `scheme://user:PASSWORD@host` (the user may be empty; the password may hold `/` when no `@` comes before it and the part before the first `/` is not a port) | the password only: `https://bob:[REDACTED:url_password]@example.com/x` |
//! | `password_assignment` | `password=…`, `passwd: …`, `DB_PASSWORD=…`, `MYSQL_PWD=…`, `client_secret=…`, `api_key=…`, `AccountKey=…` (Azure connection strings), `"password": "…"`, `--password …`, and `…token=…` with a random-looking value; `-u user:PASSWORD` / `--user user:PASSWORD` (not when the password is all digits: `-u 1000:1000` is a uid:gid) | the value only |
//!
//! Argument lists are also redacted by position, see [`Redactor::redact_args`].
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
//!   are kept for every key. `pwd` and bare `pass` are not keys (`PWD=/home/x` is a
//!   directory; `MYSQL_PWD` is a key).
//! * An unquoted value stops at whitespace, a quote, `\`, `&`, `,` or `;`; a quoted value
//!   runs to its closing quote (or the end of the line). `mysql -phunter2` (value glued to
//!   a one-letter flag) is not recognised.
//! * In a single string `-p value` is not recognised (mostly a port, a path or a package);
//!   in an argument list it is (see [`Redactor::redact_args`]). `-u name:group` in a single
//!   string is redacted after the `:` whatever the program (fails safe; all digits are kept).
//! * `Cookie: name=…` is only a cookie when it starts with `name=`; a bare
//!   `Authorization: <token>` without a scheme is not recognised unless the token has a
//!   known shape.
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
//! Almost every string is clean. Each built-in rule names literals one of which every
//! match contains (`sk-`, `AKIA`, `://`, `password`, …); one Aho-Corasick pass over the
//! string (ASCII case ignored) finds which rules could match, and only those run (see
//! `prefilter`). A clean string costs that one pass and no allocation, and a new string is
//! built only once a replacement is certain (the cost is in BENCHMARKS.md). The outcome is
//! the one of the plain pass ([`Redactor::plain`]: one [`regex::RegexSet`] over all rules,
//! then the rules it reports): a rule runs only when its regex matched the string as the
//! pass found it, whichever way that is learnt.

use std::fmt;

use regex::{Regex, RegexSet};

use crate::error::Code;

use self::patterns::{Accept, BUILTINS};
use self::prefilter::Prefilter;

mod args;
mod patterns;
mod prefilter;

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
    #[error("{}: redaction pattern `{kind}` is not a valid regex: {reason}", Code::InvalidConfig)]
    InvalidPattern {
        /// Kind of the offending pattern.
        kind: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The kind name of a custom pattern cannot appear inside a marker.
    #[error("{}: redaction pattern kind `{kind}` is not usable: {reason}", Code::InvalidConfig)]
    InvalidKind {
        /// The offending kind.
        kind: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Every pattern compiles alone but together they exceed the regex size limits.
    #[error("{}: the redaction patterns cannot be combined: {reason}", Code::InvalidConfig)]
    PatternSet {
        /// Error of the combined pre-check.
        reason: String,
    },
}

impl RedactConfigError {
    /// The stable code of this error.
    pub fn code(&self) -> Code {
        Code::InvalidConfig
    }
}

/// One compiled rule.
#[derive(Clone)]
struct Rule {
    kind: String,
    replacement: String,
    regex: Regex,
    /// Indices of the groups named `secret` / `secret_*`, ascending; empty: whole match.
    secret_groups: Vec<usize>,
    accept: Option<Accept>,
    /// Literals one of which each match contains (built-in rules); empty: unknown.
    needles: &'static [&'static str],
}

impl Rule {
    fn compile(kind: &str, pattern: &str, accept: Option<Accept>) -> Result<Rule, String> {
        Rule::with_needles(kind, pattern, accept, &[])
    }

    fn with_needles(
        kind: &str,
        pattern: &str,
        accept: Option<Accept>,
        needles: &'static [&'static str],
    ) -> Result<Rule, String> {
        let regex = Regex::new(pattern).map_err(|e| e.to_string())?;
        let secret_groups = regex
            .capture_names()
            .enumerate()
            .filter(|(_, name)| name.is_some_and(|n| n == "secret" || n.starts_with("secret_")))
            .map(|(i, _)| i)
            .collect();
        let replacement = format!("{MARKER_PREFIX}{kind}]");
        Ok(Rule { kind: kind.to_owned(), replacement, regex, secret_groups, accept, needles })
    }

    /// Replaces every accepted match of this rule in `text`; true when anything changed.
    fn apply(&self, text: &mut String) -> bool {
        self.apply_keeping(text).is_some()
    }

    /// As [`Rule::apply`], returning the text as it was when anything changed.
    fn apply_keeping(&self, text: &mut String) -> Option<String> {
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
    /// Puts the rewrite in place; returns the text it replaced, if it did.
    fn finish(self, text: &mut String) -> Option<String> {
        let mut out = self.out?;
        out.push_str(&text[self.copied..]);
        Some(std::mem::replace(text, out))
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
    precheck: Option<Precheck>,
}

/// What decides which rules run on a string.
#[derive(Clone)]
struct Precheck {
    /// All rule regexes, index for index.
    set: RegexSet,
    /// Which rules could match a string; `None`: the set decides (the plain pass).
    prefilter: Option<Prefilter>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("kinds", &self.kinds())
            .field("precheck", &self.precheck.is_some())
            .field("prefilter", &self.precheck.as_ref().is_some_and(|p| p.prefilter.is_some()))
            .finish()
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
            let rule = Rule::with_needles(b.kind, b.pattern, b.accept, b.needles)
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
        let prefilter = Prefilter::new(&rules);
        Ok(Redactor { rules, precheck: Some(Precheck { set: precheck, prefilter }) })
    }

    /// The built-in rules only. Never fails: the literals are proven to compile by the
    /// unit tests; should one ever not, it is logged and skipped, and should the combined
    /// pre-check not build, every rule runs on every string (slower, still correct).
    pub fn builtin() -> Redactor {
        let mut rules = Vec::with_capacity(BUILTINS.len());
        for b in BUILTINS {
            match Rule::with_needles(b.kind, b.pattern, b.accept, b.needles) {
                Ok(rule) => rules.push(rule),
                Err(reason) => tracing::error!(
                    kind = b.kind,
                    %reason,
                    "built-in redaction pattern does not compile; this kind is NOT redacted"
                ),
            }
        }
        let precheck = match RegexSet::new(rules.iter().map(|r| r.regex.as_str())) {
            Ok(set) => Some(Precheck { set, prefilter: Prefilter::new(&rules) }),
            Err(e) => {
                tracing::error!(error = %e, "redaction pre-check does not build; running every rule");
                None
            }
        };
        Redactor { rules, precheck }
    }

    /// The same redactor without the literal prefilter: every string goes through the set
    /// of all rules. Same output, slower; the reference the prefilter is tested and
    /// benchmarked against.
    #[must_use]
    pub fn plain(mut self) -> Redactor {
        if let Some(precheck) = &mut self.precheck {
            precheck.prefilter = None;
        }
        self
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
        match &self.precheck {
            Some(Precheck { prefilter: Some(prefilter), .. }) => self.pass_prefiltered(prefilter, text),
            _ => self.pass_plain(text),
        }
    }

    /// [`Redactor::pass_plain`] with only the rules the prefilter lets through. As there,
    /// a rule runs when its regex matched the text as the pass found it: until a rule
    /// changes the text that is the text itself (a rule that finds nothing changes
    /// nothing), afterwards the copy kept of it.
    fn pass_prefiltered(&self, prefilter: &Prefilter, text: &mut String) -> bool {
        let mut candidates = prefilter.candidates(text);
        let mut found: Option<String> = None;
        while candidates != 0 {
            let i = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let Some(rule) = self.rules.get(i) else { break };
            match &found {
                None => found = rule.apply_keeping(text),
                Some(before) if rule.regex.is_match(before) => {
                    rule.apply(text);
                }
                Some(_) => {}
            }
        }
        found.is_some()
    }

    /// Every rule the set of all rules reports for the text, in order.
    fn pass_plain(&self, text: &mut String) -> bool {
        let Some(Precheck { set, .. }) = &self.precheck else {
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

    /// Redacts the secrets of an argument list that only its positions reveal; `program`
    /// is the command the arguments are given to. Run it after
    /// [`Redactor::redact_in_place`] has run over each item, so that a value with a
    /// specific shape keeps its specific kind. Returns true when anything was replaced.
    ///
    /// The item after a flag (or the text after `=` in `--flag=value`) is replaced by
    /// `[REDACTED:password_assignment]` when the flag is:
    ///
    /// * a long flag (`--name`, or `-name` of more than one letter) whose name is or ends in
    ///   `password`, `passwd`, `passphrase`, `secret`, `token`, `api-key`, `apikey`,
    ///   `access-key`, `secret-key`, `account-key`, `auth-key`, `signing-key`,
    ///   `encryption-key` or `cookie` (`_` and `-` alike, any case; the word starts the
    ///   name or follows `-`, `_`, `.` or a camel-case capital: `--githubToken` is one,
    ///   `--bypass` is not). Not `--no-…` switches, nor names ending in another word:
    ///   `--token-file path`, `--password-stdin`, `--private-key path` keep their value.
    /// * `-p`: a password for `mysql`-style tools, `docker login`, `sshpass`, `mongo`…,
    ///   but a port, package, plugin or switch for many others. The value is redacted
    ///   unless it looks like a port (only digits and `.:-`, optionally `/tcp`/`/udp`:
    ///   `8080`, `8080:80`, `3.12`, so a password made of digits and `.:-` alone is kept)
    ///   or the program is one whose `-p` is never a password (`mkdir`, `cp`, `scp`,
    ///   `rsync`, `tar`, `ls`, `diff`, `cargo`, `git`, `go`, `pytest`, `python`, `pip`,
    ///   `uv`, `npm`, `npx`, `pnpm`, `yarn`, `kubectl`, `ssh`, `docker-compose`, `ps`,
    ///   `xargs`, `read`): the command itself or any bare argument before the flag, so
    ///   `sudo mkdir -p dir` keeps `dir`. Unlisted tools fail safe: their `-p` value is
    ///   redacted.
    /// * `-u` / `--user`: only the part after the first `:` (`user:[REDACTED:…]`); kept
    ///   when there is no `:`, when it is all digits (`-u 1000:1000`), when the value is a
    ///   URL, or for container tools (`docker`, `podman`, `nerdctl`), whose `-u` is
    ///   `user:group`.
    ///
    /// Values starting with `-` (the next flag), markers and placeholders (`$VAR`,
    /// `<your-token>`, `****`) are kept. Values glued to a one-letter flag (`-pSECRET`)
    /// are not recognised: `-pthread`, `-pedantic` look the same.
    pub fn redact_args(&self, program: &str, args: &mut [String]) -> bool {
        args::redact_args(program, args)
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

#[cfg(test)]
mod tests;
