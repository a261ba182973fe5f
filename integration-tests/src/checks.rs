//! Small validators used by assertions.

/// Whether `s` is an RFC 3339 date-time (`2024-01-02T03:04:05[.frac](Z|+hh:mm|-hh:mm)`).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(digits(0..4) && at(4, b'-') && digits(5..7) && at(7, b'-') && digits(8..10)) {
        return false;
    }
    if !(matches!(b.get(10), Some(b'T' | b't'))
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':'))
    {
        return false;
    }
    if !digits(17..19) {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            digits(i + 1..i + 3) && at(i + 3, b':') && digits(i + 4..i + 6) && i + 6 == b.len()
        }
        _ => false,
    }
}

/// Whether `text` contains `word` as a whole word (split on non-alphanumerics), ignoring case.
pub fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case(word))
}

/// The fds an `ls -l /proc/self/fd` inside a container listed (sorted), without ls's own
/// handle on the directory it lists.
pub fn listed_fds(out: &str) -> Vec<String> {
    let mut fds: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?;
            let own = target.starts_with("/proc/") && target.ends_with("/fd");
            (!own).then(|| fd.to_string())
        })
        .collect();
    fds.sort();
    fds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert!(is_rfc3339("2024-05-06T07:08:09.123456789Z"));
        assert!(is_rfc3339("2024-05-06T07:08:09+02:00"));
        assert!(!is_rfc3339("2024-05-06 07:08:09"));
        assert!(!is_rfc3339("2024-05-06T07:08:09."));
    }

    #[test]
    fn words() {
        assert!(has_word("invalid id format: a/b", "id"));
        assert!(!has_word("invalid", "id"));
    }
}
