//! Which rules could match a string at all, from one pass of a literal search.
//!
//! Every built-in rule names literals (`needles`) of which each of its matches contains at
//! least one. One Aho-Corasick automaton over all of them (ASCII case ignored) tells the
//! rules a string could hold; the others cannot match it and are not run. Short strings
//! with no needle, the usual case, cost one search. Rules without needles (custom
//! patterns) are checked by a [`RegexSet`] of their own.
//!
//! Every built-in needle holds a byte that is neither a hex digit nor `-`, so a string made
//! only of those (a hash, a UUID: much of an event's text) holds no needle and skips the
//! search; a word-at-a-time check costs a fraction of the automaton's byte-at-a-time walk.
//! A prefilter whose needles include one of only such bytes searches every string.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::RegexSet;

use super::Rule;
use crate::swar::{is_hex_or_dash, long_hex_or_dash};

/// Rules are tracked in one bit each.
pub(super) type RuleSet = u128;

/// Most rules a prefilter tracks; a redactor with more runs without one.
pub(super) const MAX_RULES: usize = RuleSet::BITS as usize;

/// The literal search and the set of the rules without literals.
#[derive(Clone, Debug)]
pub(super) struct Prefilter {
    needles: AhoCorasick,
    /// For each needle (by pattern id), the rules it tells of.
    rules_of: Vec<RuleSet>,
    /// The rules without needles, and their indices among all rules.
    unfiltered: Option<(RegexSet, Vec<usize>)>,
    /// No needle is made only of hex digits and `-`, so strings of those skip the search.
    hex_holds_no_needle: bool,
}

impl Prefilter {
    /// A prefilter for `rules` (with the needles of each, empty for custom rules), or None
    /// when there are too many rules or the searches do not build (then every string goes
    /// through the plain pass).
    pub(super) fn new(rules: &[Rule]) -> Option<Prefilter> {
        if rules.len() > MAX_RULES {
            return None;
        }
        let mut needles: Vec<&'static str> = Vec::new();
        let mut unfiltered = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.needles.is_empty() {
                unfiltered.push(i);
            }
            needles.extend(rule.needles.iter().copied());
        }
        // The rules of a needle are those of every needle inside it: the leftmost-longest
        // search reports one needle per start position, so one found inside it (`sk-` in
        // `sk-ant-`) is counted with it; needles starting later are found by the next search.
        let rules_of = needles
            .iter()
            .map(|n| {
                let n = n.to_ascii_lowercase();
                rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.needles.iter().any(|m| n.contains(&m.to_ascii_lowercase())))
                    .fold(0, |set: RuleSet, (i, _)| set | (RuleSet::from(1u8) << i))
            })
            .collect();
        let hex_holds_no_needle = needles.iter().all(|n| !n.bytes().all(is_hex_or_dash));
        let needles = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&needles)
            .ok()?;
        let unfiltered = if unfiltered.is_empty() {
            None
        } else {
            let set = RegexSet::new(unfiltered.iter().filter_map(|&i| rules.get(i)).map(|r| r.regex.as_str())).ok()?;
            Some((set, unfiltered))
        };
        Some(Prefilter { needles, rules_of, unfiltered, hex_holds_no_needle })
    }

    /// The rules that could match `text` (a superset of those that do), one bit per rule.
    pub(super) fn candidates(&self, text: &str) -> RuleSet {
        let mut set: RuleSet = 0;
        if !(self.hex_holds_no_needle && long_hex_or_dash(text.as_bytes())) {
            let mut from = 0;
            while let Some(m) = self.needles.find(aho_corasick::Input::new(text).range(from..)) {
                set |= self.rules_of.get(m.pattern().as_usize()).copied().unwrap_or(0);
                from = m.start() + 1;
            }
        }
        if let Some((regexes, rules)) = &self.unfiltered
            && regexes.is_match(text)
        {
            for hit in regexes.matches(text).iter() {
                if let Some(&rule) = rules.get(hit) {
                    set |= RuleSet::from(1u8) << rule;
                }
            }
        }
        set
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use proptest::prelude::*;

    use super::super::{CustomPattern, Redactor};

    /// Pieces that are, hold or border secrets of every built-in kind, glued in any order so
    /// that shapes overlap, hide and expose each other.
    const PIECES: &[&str] = &[
        "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv",
        "sk-proj-AbCdEfGhIjKlMnOpQrStUv12",
        "sk-AbCdEfGhIjKlMnOp1234",
        "sk-learnsomethingaboutlongwords",
        "AKIAABCDEFGHIJKLMNOP",
        "ASIA1234567890ABCDEF",
        "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "github_pat_11ABCDEFG0123456789abcdefghij",
        "glpat-AbCdEfGhIjKlMnOpQrSt",
        "xoxb-1234567890-AbCdEf",
        "xoxe.xoxp-1-AbCdEf123456",
        "hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
        "npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "AIzaSyA-AbCdEfGhIjKlMnOpQrStUvWxYz01234",
        "sk_live_AbCdEfGhIjKlMnOp12",
        "whsec_AbCdEfGhIjKlMnOpQrStUvWx",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.c2lnbmF0dXJl",
        "Bearer AbCdEf123456",
        "bearer abcdefgh",
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "authorization=\"Token abc123\"",
        "Authorization: Bot MTIzNDU2",
        "Cookie: sid=abc123; theme=dark",
        "set-cookie: x=1",
        "https://bob:hunter2@example.com/x",
        "postgres://:p4ss/w0rd@db:5432",
        "https://example.com:8080/users/@alice",
        "password=hunter2",
        "DB_PASSWORD: 'Tr0ub4dor&3'",
        "\"client_secret\": \"abc\"",
        "--password s3cret",
        "\"--api-key\", \"abc\"",
        "api_key=$API_KEY",
        "token=Abc12345xyz",
        "max_tokens=256",
        " -u alice:Pa55word",
        "--user=bob:x1",
        "-u 1000:1000",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk",
        "[REDACTED:jwt]",
        "[REDACTED:",
        "/etc/passwd:",
        "cargo test --release -- --nocapture",
        "PASSWORD",
        "Key",
        "TOKEN",
        "agent",
        " ",
        "\n",
        "\"",
        "'",
        "=",
        ":",
        "/",
        "@",
        "-",
        "_",
        "-----",
        "9f2c4e0b7d1a3c5e",
        "DEADBEEF-0042",
        "a1b2c3d4-",
    ];

    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => proptest::sample::select(PIECES).prop_map(str::to_owned),
            1 => "[ -~]{0,12}",
        ];
        proptest::collection::vec(piece, 1..10).prop_map(|pieces| pieces.concat())
    }

    fn has_prefilter(r: &Redactor) -> bool {
        r.precheck.as_ref().is_some_and(|p| p.prefilter.is_some())
    }

    fn both(r: &Redactor, input: &str) -> ((String, bool), (String, bool)) {
        let (mut fast, mut slow) = (input.to_owned(), input.to_owned());
        let fast_changed = r.redact_in_place(&mut fast);
        let slow_changed = r.clone().plain().redact_in_place(&mut slow);
        ((fast, fast_changed), (slow, slow_changed))
    }

    #[test]
    fn every_builtin_rule_has_needles_and_the_redactor_a_prefilter() {
        let r = Redactor::builtin();
        assert!(has_prefilter(&r));
        assert!(!has_prefilter(&r.clone().plain()));
        for rule in &r.rules {
            assert!(!rule.needles.is_empty(), "{} has no needles", rule.kind);
        }
    }

    #[test]
    fn a_string_without_needles_has_no_candidates() {
        let r = Redactor::builtin();
        let prefilter = r.precheck.as_ref().and_then(|p| p.prefilter.as_ref()).unwrap();
        assert_eq!(prefilter.candidates("cargo test --release"), 0);
        assert_ne!(prefilter.candidates("x PassWord=y"), 0);
    }

    #[test]
    fn hex_strings_skip_the_needle_search_but_not_the_custom_patterns() {
        let r = Redactor::builtin();
        let prefilter = r.precheck.as_ref().and_then(|p| p.prefilter.as_ref()).unwrap();
        assert!(prefilter.hex_holds_no_needle, "every built-in needle holds a byte outside hex and -");
        let hash = "9f2c4e0b7d1a3c5e8f6b2d4a1c3e5f7a9b0d2c4e6f8a1b3c5d7e9f0a2b4c6d8e";
        assert_eq!(prefilter.candidates(hash), 0);
        // One byte outside the hex set and the search runs again.
        assert_ne!(prefilter.candidates(&format!("{hash}-uX")), 0);
        let custom = [CustomPattern { kind: "hex_key".into(), regex: r"deadbeef[0-9a-f]{8}".into() }];
        let r = Redactor::new(&custom).unwrap();
        assert!(has_prefilter(&r));
        let mut text = "0a-deadbeef01234567-ff".to_owned();
        assert!(r.redact_in_place(&mut text));
        assert_eq!(text, "0a-[REDACTED:hex_key]-ff");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn prefiltered_redaction_equals_the_plain_pass(input in text()) {
            let (fast, slow) = both(&Redactor::builtin(), &input);
            prop_assert_eq!(fast, slow, "input: {:?}", input);
        }

        #[test]
        fn with_custom_patterns_too(input in text()) {
            let custom = [
                CustomPattern { kind: "ticket".into(), regex: r"TICKET-[0-9]{2,}".into() },
                CustomPattern { kind: "word".into(), regex: r"(?i)agent(?P<secret>[a-z]*)".into() },
            ];
            let r = Redactor::new(&custom).unwrap();
            assert!(has_prefilter(&r));
            let (fast, slow) = both(&r, &format!("{input} TICKET-42"));
            prop_assert_eq!(fast, slow, "input: {:?}", input);
        }
    }
}
