//! `Range: bytes=…` parsing (RFC 7233), with Go `ServeContent`'s rules:
//! ranges past the end are dropped, an end past the end is clamped, and a
//! header whose every range misses the content is unsatisfiable.

/// One satisfiable range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRange {
    /// First byte.
    pub(crate) start: u64,
    /// Number of bytes (never zero).
    pub(crate) length: u64,
}

impl ByteRange {
    /// `bytes first-last/size` for `Content-Range`.
    pub(crate) fn content_range(&self, size: u64) -> String {
        format!(
            "bytes {}-{}/{}",
            self.start,
            self.start + self.length - 1,
            size
        )
    }
}

/// Why a `Range` header cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeError {
    /// Not `bytes=` or a malformed range.
    Invalid,
    /// Every range starts past the end (or is an empty suffix).
    NoOverlap,
}

fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

/// Parses `header` for content of `size` bytes.
pub(crate) fn parse(header: &str, size: u64) -> Result<Vec<ByteRange>, RangeError> {
    let specs = header.strip_prefix("bytes=").ok_or(RangeError::Invalid)?;
    let mut ranges = Vec::new();
    let mut no_overlap = false;
    for spec in specs.split(',').map(trim).filter(|s| !s.is_empty()) {
        let (start, end) = spec.split_once('-').ok_or(RangeError::Invalid)?;
        let (start, end) = (trim(start), trim(end));
        let number = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| s.parse::<u64>().ok())
                .flatten()
                .ok_or(RangeError::Invalid)
        };
        if start.is_empty() {
            // Suffix: the last `end` bytes.
            let suffix = number(end)?.min(size);
            if suffix == 0 {
                no_overlap = true;
                continue;
            }
            ranges.push(ByteRange {
                start: size - suffix,
                length: suffix,
            });
            continue;
        }
        let first = number(start)?;
        let last = if end.is_empty() {
            None
        } else {
            let last = number(end)?;
            if last < first {
                return Err(RangeError::Invalid);
            }
            Some(last)
        };
        if first >= size {
            no_overlap = true;
            continue;
        }
        let last = last.map_or(size - 1, |l| l.min(size - 1));
        ranges.push(ByteRange {
            start: first,
            length: last - first + 1,
        });
    }
    if ranges.is_empty() && no_overlap {
        return Err(RangeError::NoOverlap);
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, length: u64) -> ByteRange {
        ByteRange { start, length }
    }

    #[test]
    fn single_and_multi() {
        assert_eq!(parse("bytes=0-4", 10), Ok(vec![r(0, 5)]));
        assert_eq!(parse("bytes=5-", 10), Ok(vec![r(5, 5)]));
        assert_eq!(parse("bytes=-3", 10), Ok(vec![r(7, 3)]));
        assert_eq!(parse("bytes=-30", 10), Ok(vec![r(0, 10)]));
        assert_eq!(parse("bytes=8-100", 10), Ok(vec![r(8, 2)]));
        assert_eq!(parse("bytes= 0-1 , 4-5", 10), Ok(vec![r(0, 2), r(4, 2)]));
        assert_eq!(r(2, 3).content_range(10), "bytes 2-4/10");
    }

    #[test]
    fn unsatisfiable_and_invalid() {
        assert_eq!(parse("bytes=10-", 10), Err(RangeError::NoOverlap));
        assert_eq!(parse("bytes=0-", 0), Err(RangeError::NoOverlap));
        assert_eq!(parse("bytes=-0", 10), Err(RangeError::NoOverlap));
        assert_eq!(parse("bytes=20-30, 0-0", 10), Ok(vec![r(0, 1)]));
        assert_eq!(parse("items=0-1", 10), Err(RangeError::Invalid));
        assert_eq!(parse("bytes=5-2", 10), Err(RangeError::Invalid));
        assert_eq!(parse("bytes=abc", 10), Err(RangeError::Invalid));
        assert_eq!(parse("bytes=--1", 10), Err(RangeError::Invalid));
        assert_eq!(parse("bytes=", 10), Ok(vec![]));
    }
}
