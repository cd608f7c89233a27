//! The built-in rules (regex text and the checks on what they match). The table of kinds
//! with their shapes and the judgement calls is in the module docs of `super`.

/// Extra check on a matched secret span; `false` keeps the text.
pub(super) type Accept = fn(&str) -> bool;

/// A built-in rule as written in the source.
pub(super) struct Builtin {
    pub(super) kind: &'static str,
    pub(super) pattern: &'static str,
    pub(super) accept: Option<Accept>,
    /// Literals of which every match contains at least one, ASCII case ignored: a string
    /// holding none of them cannot match (the prefilter of `super::prefilter`).
    pub(super) needles: &'static [&'static str],
}

/// Keys whose value is always a secret (`password_assignment`), without the
/// `token` family, which needs a random-looking value.
macro_rules! secret_keys {
    () => {
        "password|passwd|passphrase|secret|mysql_pwd|(?:api|secret|access|private|client|auth|signing|encryption|account)[_-]?key|apikey|credentials?"
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

/// The literals of `secret_keys!` (each key contains one of them).
const SECRET_KEY_NEEDLES: &[&str] = &["password", "passwd", "passphrase", "secret", "mysql_pwd", "key", "credential"];

/// The built-in rules, in the order they run (specific shapes before generic ones).
pub(super) const BUILTINS: &[Builtin] = &[
    Builtin {
        kind: "private_key",
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\z)",
        accept: None,
        needles: &["-----BEGIN "],
    },
    Builtin {
        kind: "anthropic_key",
        pattern: r"(?-u:\b)sk-ant-[A-Za-z0-9_-]{20,}",
        accept: None,
        needles: &["sk-ant-"],
    },
    Builtin {
        kind: "openai_key",
        pattern: r"(?-u:\b)sk-(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20,}[A-Za-z0-9_-]*)",
        accept: Some(openai_ok),
        needles: &["sk-"],
    },
    Builtin {
        kind: "aws_access_key",
        pattern: r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)",
        accept: None,
        needles: &["AKIA", "ASIA"],
    },
    Builtin {
        kind: "github_token",
        pattern: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
        accept: None,
        needles: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
    },
    Builtin {
        kind: "gitlab_token",
        pattern: r"(?-u:\b)gl(?:pat|ptt|dt|rt)-[A-Za-z0-9_-]{20,}",
        accept: None,
        needles: &["glpat-", "glptt-", "gldt-", "glrt-"],
    },
    Builtin {
        kind: "slack_token",
        pattern: r"(?-u:\b)(?:xox[abprse]|xoxe\.xox[bp]|xapp)-[A-Za-z0-9-]{10,}",
        accept: Some(slack_ok),
        needles: &["xox", "xapp-"],
    },
    Builtin {
        kind: "slack_webhook",
        pattern: r"(?-u:\b)hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_/-]{16,})",
        accept: None,
        needles: &["hooks.slack.com/"],
    },
    Builtin { kind: "npm_token", pattern: r"(?-u:\b)npm_[A-Za-z0-9]{36,}", accept: Some(npm_ok), needles: &["npm_"] },
    Builtin { kind: "google_api_key", pattern: r"(?-u:\b)AIza[A-Za-z0-9_-]{35}", accept: None, needles: &["AIza"] },
    Builtin {
        kind: "stripe_key",
        pattern: r"(?-u:\b)(?:[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9+/]{24,}={0,2})",
        accept: None,
        needles: &["k_live_", "k_test_", "whsec_"],
    },
    Builtin {
        kind: "jwt",
        pattern: r"(?-u:\b)eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+){0,2}",
        accept: None,
        needles: &["eyJ"],
    },
    Builtin {
        kind: "bearer_token",
        pattern: r"(?i-u:\bbearer)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)",
        accept: Some(opaque_token_ok),
        needles: &["bearer"],
    },
    Builtin {
        kind: "basic_auth",
        pattern: r#"(?i-u:\bauthorization)["']?[ \t]*[:=][ \t]*["']?(?i-u:basic)[ \t]+(?P<secret>[A-Za-z0-9+/]{4,}={0,2})"#,
        accept: Some(basic_ok),
        needles: &["authorization"],
    },
    Builtin {
        kind: "auth_token",
        // Other schemes of the Authorization header whose credential is one opaque word
        // (`Token` of GitHub/Django REST, `Bot` of Discord, `SSWS` of Okta, `sso-key` of GoDaddy…).
        pattern: r#"(?i-u:\bauthorization)["']?[ \t]*[:=][ \t]*["']?(?i-u:token|bot|api-?key|key|sso-key|ssws)[ \t]+(?P<secret>[^\s"'\\,;]+)"#,
        accept: Some(value_ok),
        needles: &["authorization"],
    },
    Builtin {
        kind: "cookie",
        // Everything after `Cookie:` / `Set-Cookie:` up to the end of the line or quote, once
        // it starts with `name=` (so prose such as `cookie: none` is kept).
        pattern: r#"(?i-u:\b(?:set-)?cookie)["']?[ \t]*:[ \t]*["']?(?P<secret>[^\s"';=]+=[^\r\n"']*)"#,
        accept: None,
        needles: &["cookie"],
    },
    Builtin {
        kind: "url_password",
        // `[` and `]` cannot occur in a user name (RFC 3986), which keeps a marker such as
        // `https://[REDACTED:github_token]@host` from reading as `user:password@`. A password
        // with `/` is taken only when no `@` comes before that `/` (else the `@` ends it).
        pattern: r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'<>\[\]]*:(?:(?P<secret>[^\s/?#"'<>]+)|(?P<secret_slash>[^\s/?#"'<>@]*/[^\s?#"'<>@]*))@"#,
        accept: Some(url_password_ok),
        needles: &["://"],
    },
    Builtin {
        kind: "password_assignment",
        pattern: assignment!(secret_keys!()),
        accept: Some(value_ok),
        needles: SECRET_KEY_NEEDLES,
    },
    Builtin {
        kind: "password_assignment",
        pattern: assignment!("token"),
        accept: Some(opaque_token_ok),
        needles: &["token"],
    },
    Builtin {
        kind: "password_assignment",
        // `curl -u user:password` / `--user user:password`: only the part after the colon.
        pattern: r#"(?:^|[\s"'])(?:-u|--user)(?:[ \t]+|=)["']?[^\s:"'/@]+:(?P<secret>[^\s"'/@][^\s"']*)"#,
        accept: Some(user_password_ok),
        needles: &["-u"],
    },
];

/// Random keys mix character classes; words, slugs and numbers do not. Counts lower
/// case, upper case after the first character (so `Authentication` is one class) and
/// digits; two or more look random.
pub(super) fn looks_random(s: &str) -> bool {
    let lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let upper = s.bytes().skip(1).any(|b| b.is_ascii_uppercase());
    let digit = s.bytes().any(|b| b.is_ascii_digit());
    usize::from(lower) + usize::from(upper) + usize::from(digit) >= 2
}

/// Project/service keys are recognised by their prefix; a plain `sk-` body must look
/// random so `sk-` followed by a long lower-case word is kept.
fn openai_ok(s: &str) -> bool {
    let body = s.strip_prefix("sk-").unwrap_or(s);
    ["proj-", "svcacct-", "admin-", "None-"].iter().any(|p| body.starts_with(p)) || looks_random(body)
}

fn slack_ok(s: &str) -> bool {
    looks_random(s.get(5..).unwrap_or(s))
}

/// `npm_` and 36 characters that mix classes (so an `npm_config_…` name is not one).
fn npm_ok(s: &str) -> bool {
    looks_random(s.get(4..).unwrap_or(s))
}

/// Opaque tokens (after `Bearer`, under a `…token` key): long enough and random-looking.
pub(super) fn opaque_token_ok(s: &str) -> bool {
    s.len() >= 8 && looks_random(s) && value_ok(s)
}

fn basic_ok(s: &str) -> bool {
    looks_random(s)
}

/// A password with `/` after `host:` is a port and a path when the part before the `/`
/// is all digits (`https://example.com:8080/users/@alice`).
fn url_password_ok(s: &str) -> bool {
    match s.split_once('/') {
        Some((before, _)) => !before.is_empty() && !is_all_digits(before),
        None => true,
    }
}

/// `-u 1000:1000` is a uid:gid (container tools), not credentials.
fn user_password_ok(s: &str) -> bool {
    !is_all_digits(s) && value_ok(s)
}

pub(super) fn is_all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Keeps values that are obviously not a secret but a placeholder or a reference.
pub(super) fn value_ok(s: &str) -> bool {
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
