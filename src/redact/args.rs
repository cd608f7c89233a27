//! Secrets given as a separate argument: `["--password", "X"]`, `["-p", "X"]`,
//! `["-u", "user:X"]`. Each item alone looks harmless, so these rules need the argument
//! list whole and decide by position: the value is the item after a secret-bearing flag
//! (or after `=` in `--flag=X`). The rules and their exceptions are listed on
//! [`Redactor::redact_args`](super::Redactor::redact_args).

use super::MARKER_PREFIX;
use super::patterns::{is_all_digits, value_ok};

/// Kind in the marker: the same as for `--password X` found in a single string.
const KIND: &str = "password_assignment";

/// A long flag whose name is, or ends in, one of these words (`-`, `_` or a camel-case
/// capital before it; `_` and `-` are the same) takes a secret value. Words that name a
/// file (`--private-key`, `--client-key`, `--credentials`) are left out: their value is a
/// path, and `--token-file`, `--password-stdin` do not end in a word.
const SECRET_FLAG_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api-key",
    "apikey",
    "access-key",
    "secret-key",
    "account-key",
    "auth-key",
    "signing-key",
    "encryption-key",
    "cookie",
];

/// Programs whose `-p` is never a password (parents for `mkdir`, a package for `cargo`,
/// a plugin for `pytest`, preserve for `cp`/`rsync`/`tar`, a port for `ssh`, a project for
/// `docker-compose`, …). They are recognised as the command or as any bare argument
/// before the flag (`sudo mkdir -p x`).
const P_IS_NOT_A_PASSWORD: &[&str] = &[
    "mkdir",
    "cp",
    "scp",
    "rsync",
    "tar",
    "ls",
    "diff",
    "cargo",
    "git",
    "go",
    "pytest",
    "python",
    "python3",
    "pip",
    "pip3",
    "uv",
    "npm",
    "npx",
    "pnpm",
    "yarn",
    "kubectl",
    "ssh",
    "docker-compose",
    "ps",
    "xargs",
    "read",
];

/// Programs whose `-u`/`--user` is `user:group` (uid:gid), not credentials.
const U_IS_USER_GROUP: &[&str] = &["docker", "podman", "nerdctl"];

/// What the flag at one position means for the item after it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flag {
    /// The whole value is a secret.
    Secret,
    /// `-p`: a password unless it looks like a port or the program uses `-p` otherwise.
    ShortP,
    /// `-u`/`--user`: the part after the first `:` is a password.
    User,
}

/// The program the flags belong to, as far as the rules care.
#[derive(Default, Clone, Copy)]
struct Program {
    p_not_password: bool,
    u_user_group: bool,
}

impl Program {
    /// Updates from a bare (non-flag) item when it names a known program.
    fn see(&mut self, item: &str) {
        let name = item.rsplit('/').next().unwrap_or(item);
        if P_IS_NOT_A_PASSWORD.contains(&name) {
            *self = Program { p_not_password: true, u_user_group: false };
        } else if U_IS_USER_GROUP.contains(&name) {
            *self = Program { p_not_password: false, u_user_group: true };
        }
    }
}

/// See [`Redactor::redact_args`](super::Redactor::redact_args).
pub(super) fn redact_args(program: &str, args: &mut [String]) -> bool {
    let mut prog = Program::default();
    prog.see(program);
    let mut changed = false;
    let mut i = 0;
    while let Some(item) = args.get_mut(i) {
        i += 1;
        let Some((flag, inline_at)) = classify(item) else {
            if !item.starts_with('-') {
                prog.see(item);
            }
            continue;
        };
        if let Some(at) = inline_at {
            let mut value = item.split_off(at);
            if redact_value(flag, prog, &mut value) {
                changed = true;
            }
            item.push_str(&value);
        } else if let Some(next) = args.get_mut(i)
            && redact_value(flag, prog, next)
        {
            changed = true;
            i += 1;
        }
    }
    changed
}

/// The flag `item` is, and the byte offset of its inline value (after `=`), if any.
fn classify(item: &str) -> Option<(Flag, Option<usize>)> {
    let (name, dashes) = match item.strip_prefix("--") {
        Some(rest) => (rest, 2),
        None => (item.strip_prefix('-')?, 1),
    };
    let (name, inline_at) = match name.split_once('=') {
        Some((n, _)) => (n, Some(dashes + n.len() + 1)),
        None => (name, None),
    };
    let flag = match name {
        "p" if dashes == 1 && inline_at.is_none() => Flag::ShortP,
        "u" if dashes == 1 && inline_at.is_none() => Flag::User,
        "user" => Flag::User,
        _ if name.len() > 1 && is_secret_flag_name(name) => Flag::Secret,
        _ => return None,
    };
    Some((flag, inline_at))
}

/// `name` (without dashes) ends in a secret word on a word boundary and is not a
/// `no-…` switch (`--no-password` takes no value).
fn is_secret_flag_name(name: &str) -> bool {
    let lower_starts = |p: &str| name.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    if lower_starts("no-") || lower_starts("no_") {
        return false;
    }
    SECRET_FLAG_WORDS.iter().any(|w| ends_with_word(name, w))
}

fn ends_with_word(name: &str, word: &str) -> bool {
    let (n, w) = (name.as_bytes(), word.as_bytes());
    let Some(start) = n.len().checked_sub(w.len()) else {
        return false;
    };
    let same = n[start..].iter().zip(w).all(|(&a, &b)| norm(a) == norm(b));
    let boundary = start == 0 || matches!(n[start - 1], b'-' | b'_' | b'.') || n[start].is_ascii_uppercase();
    same && boundary
}

/// Case and `_`/`-` folded, so `API_KEY`, `api-key` and `apiKey`'s tail compare equal.
fn norm(b: u8) -> u8 {
    if b == b'_' { b'-' } else { b.to_ascii_lowercase() }
}

/// Replaces the secret part of `value` as `flag` defines it; true when it did.
fn redact_value(flag: Flag, prog: Program, value: &mut String) -> bool {
    // A value starting with `-` is the next flag (`psql --password -h db`).
    if value.starts_with('-') {
        return false;
    }
    let from = match flag {
        Flag::Secret => 0,
        Flag::ShortP if prog.p_not_password || looks_like_port(value) => return false,
        Flag::ShortP => 0,
        Flag::User if prog.u_user_group || value.contains("://") => return false,
        Flag::User => match value.find(':') {
            Some(colon) if !is_all_digits(&value[colon + 1..]) => colon + 1,
            _ => return false,
        },
    };
    let secret = &value[from..];
    if secret.starts_with(MARKER_PREFIX) || !value_ok(secret) {
        return false;
    }
    value.truncate(from);
    value.push_str(MARKER_PREFIX);
    value.push_str(KIND);
    value.push(']');
    true
}

/// `8080`, `8080:80`, `127.0.0.1:8080:80/tcp`, `3.12`: digits and port punctuation only.
fn looks_like_port(value: &str) -> bool {
    let bare = value.strip_suffix("/tcp").or_else(|| value.strip_suffix("/udp")).unwrap_or(value);
    bare.bytes().any(|b| b.is_ascii_digit())
        && bare.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b':' | b'-'))
}
