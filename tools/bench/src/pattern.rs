//! The bytes every transfer carries: `yes`'s line repeated, so the process
//! side needs only coreutils and the bench checks every byte without
//! holding a copy.

use bytes::Bytes;

use crate::wire::Result;

/// The word `yes` repeats; with its newline the period is [`LINE`]`.len()`.
pub(crate) const WORD: &str = "abcdefghijklmnopqrstuvwxyz012345678";
const LINE: &[u8] = b"abcdefghijklmnopqrstuvwxyz012345678\n";

/// About 256 KiB of whole lines, the unit uploads are sent in.
fn block() -> Bytes {
    LINE.repeat((256 << 10) / LINE.len()).into()
}

/// The shell pipeline that writes `n` bytes of the pattern to stdout.
pub(crate) fn producer(n: u64) -> String {
    format!("yes {WORD} | head -c {n}")
}

/// The pattern's first `n` bytes as chunks (clones of one block).
pub(crate) fn chunks(n: u64) -> impl Iterator<Item = Bytes> {
    let block = block();
    let size = block.len() as u64;
    (0..n.div_ceil(size)).map(move |i| {
        let len = (n - i * size).min(size);
        // len <= block size, which fits in usize.
        block.slice(..usize::try_from(len).unwrap_or(block.len()))
    })
}

/// Checks a stream against the pattern, chunk by chunk.
#[derive(Debug)]
pub(crate) struct Checker {
    block: Bytes,
    offset: u64,
}

impl Default for Checker {
    fn default() -> Self {
        Self {
            block: block(),
            offset: 0,
        }
    }
}

impl Checker {
    /// Fails at the first byte that differs from the pattern.
    pub(crate) fn check(&mut self, mut chunk: &[u8]) -> Result<()> {
        let period = LINE.len() as u64;
        while !chunk.is_empty() {
            // Both < period or <= block length, so they fit in usize.
            let phase = usize::try_from(self.offset % period)?;
            let take = chunk.len().min(self.block.len() - phase);
            if chunk[..take] != self.block[phase..phase + take] {
                let at = chunk[..take]
                    .iter()
                    .zip(&self.block[phase..])
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                return Err(format!("wrong byte at offset {}", self.offset + at as u64).into());
            }
            self.offset += take as u64;
            chunk = &chunk[take..];
        }
        Ok(())
    }

    /// Bytes checked so far.
    pub(crate) fn count(&self) -> u64 {
        self.offset
    }

    /// Fails unless exactly `n` bytes were checked.
    pub(crate) fn expect_count(&self, n: u64) -> Result<()> {
        if self.offset == n {
            Ok(())
        } else {
            Err(format!("expected {n} bytes, got {}", self.offset).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_the_pattern_and_a_flipped_byte_is_caught() {
        let n = 3 * (256 << 10) + 17;
        let mut checker = Checker::default();
        let mut all = Vec::new();
        for chunk in chunks(n) {
            all.extend_from_slice(&chunk);
        }
        // Odd chunk sizes cross the block boundary at every phase.
        for piece in all.chunks(9973) {
            checker.check(piece).unwrap();
        }
        checker.expect_count(n).unwrap();
        all[300_001] ^= 1;
        let mut checker = Checker::default();
        let err = all
            .chunks(4096)
            .try_for_each(|c| checker.check(c))
            .unwrap_err();
        assert_eq!(err.to_string(), "wrong byte at offset 300001");
    }
}
