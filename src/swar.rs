//! Byte tests eight bytes at a time in a `u64` ("SIMD within a register"), for the scans of
//! short strings on the ingest path: the JSON writer's escape check and the redactor's
//! hex-string check. Safe code only: words are read with bounds-checked slices.
//!
//! Invariant: a test answers for the bytes of the word exactly as the byte-at-a-time test
//! would (the unit tests compare them on every byte value at every position).

/// 0x01 in every byte.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte.
pub(crate) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The little-endian word of the eight bytes at `at`, if there are eight.
#[inline]
pub(crate) fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..at.checked_add(8)?).and_then(|w| <[u8; 8]>::try_from(w).ok()).map(u64::from_le_bytes)
}

/// The last eight bytes of `bytes` as one word; a shorter slice whole, its missing high bytes
/// `pad`. A short slice is read with two overlapping loads, so a byte may be read twice but
/// none is left out.
#[inline]
pub(crate) fn last_word(bytes: &[u8], pad: u8) -> u64 {
    let pad = ONES * u64::from(pad);
    let n = bytes.len();
    let u16_at = |at: usize| {
        bytes.get(at..at + 2).and_then(|w| <[u8; 2]>::try_from(w).ok()).map_or(0, |w| u64::from(u16::from_le_bytes(w)))
    };
    let u32_at = |at: usize| {
        bytes.get(at..at + 4).and_then(|w| <[u8; 4]>::try_from(w).ok()).map_or(0, |w| u64::from(u32::from_le_bytes(w)))
    };
    match n {
        0 => pad,
        1 => (pad & !0xff) | bytes.first().map_or(0, |&b| u64::from(b)),
        2..=3 => (pad & !0xffff_ffff) | u16_at(0) | (u16_at(n - 2) << 16),
        4..=7 => u32_at(0) | (u32_at(n - 4) << 32),
        _ => word_at(bytes, n - 8).unwrap_or(pad),
    }
}

/// For a word of ASCII bytes (high bits clear), the high bit set in each byte that lies in
/// `lo..=hi` (`lo` ≥ 1). No sum carries into the next byte: a byte ≤ 0x7f plus at most 0x7f
/// stays below 0x100.
#[inline]
pub(crate) fn ascii_in_range(w: u64, lo: u8, hi: u8) -> u64 {
    let at_least_lo = w.wrapping_add(ONES * u64::from(0x80u8.saturating_sub(lo)));
    let above_hi = w.wrapping_add(ONES * u64::from(0x7fu8.saturating_sub(hi)));
    at_least_lo & !above_hi & HIGHS
}

/// Whether every byte of `w` is a hex digit (either case) or `-`.
#[inline]
pub(crate) fn all_hex_or_dash(w: u64) -> bool {
    if w & HIGHS != 0 {
        return false;
    }
    // Setting bit 5 folds `A`–`F` onto `a`–`f`; digits and `-` are tested on the raw bytes
    // (folded, control bytes would pass for them).
    let hex = ascii_in_range(w, b'0', b'9') | ascii_in_range(w | (ONES * 0x20), b'a', b'f');
    hex | ascii_in_range(w, b'-', b'-') == HIGHS
}

/// Whether `b` is a hex digit (either case) or `-`: the byte test [`all_hex_or_dash`] answers
/// for eight at a time.
pub(crate) fn is_hex_or_dash(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b'-'
}

/// Whether `bytes` is at least eight bytes long and made only of hex digits and `-` (the
/// shape of hashes and UUIDs).
pub(crate) fn long_hex_or_dash(bytes: &[u8]) -> bool {
    bytes.len() >= 8
        && bytes.chunks_exact(8).all(|w| word_at(w, 0).is_some_and(all_hex_or_dash))
        && all_hex_or_dash(last_word(bytes, b'0'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_byte_value_at_every_position() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut word = *b"0aF-9f-A";
                word[pos] = b;
                let w = u64::from_le_bytes(word);
                assert_eq!(all_hex_or_dash(w), is_hex_or_dash(b), "byte {b:#x} at {pos}");
                let mut spaces = [b' '; 8];
                spaces[pos] = b;
                let w = u64::from_le_bytes(spaces);
                if b < 0x80 {
                    let expected = u64::from(b.is_ascii_digit()) << (8 * pos + 7);
                    assert_eq!(ascii_in_range(w, b'0', b'9'), expected, "byte {b:#x} at {pos}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn long_hex_or_dash_agrees_with_the_byte_test(bytes in proptest::collection::vec(
            prop_oneof![4 => proptest::sample::select(b"0123456789abcdefABCDEF-".to_vec()), 1 => any::<u8>()], 0..40)) {
            let expected = bytes.len() >= 8 && bytes.iter().all(|&b| is_hex_or_dash(b));
            prop_assert_eq!(long_hex_or_dash(&bytes), expected);
        }

        #[test]
        fn the_last_word_holds_the_last_eight_bytes_and_pads_a_short_slice(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            let w = last_word(&bytes, b' ').to_le_bytes();
            let last = &bytes[bytes.len().saturating_sub(8)..];
            if bytes.len() >= 8 {
                prop_assert_eq!(&w[..], last);
            }
            for b in last {
                prop_assert!(w.contains(b));
            }
            prop_assert!(w.iter().all(|b| last.contains(b) || (bytes.len() < 8 && *b == b' ')));
        }
    }
}
