//! Offset-addressed scrollback: the most recent bytes of one output stream,
//! each addressed by its offset in everything the stream produced, so a
//! client that reconnects asks for "everything from byte N" and gets exactly
//! that (or learns how much is gone).

use std::collections::VecDeque;

use bytes::Bytes;

/// The last `capacity` bytes of a stream (exactly: the oldest chunk is
/// trimmed, not dropped whole).
#[derive(Debug)]
pub(super) struct Ring {
    capacity: usize,
    /// Offset of the first byte held.
    start: u64,
    /// Bytes produced so far (the offset the next chunk gets).
    end: u64,
    /// Held chunks with their offsets, oldest first, contiguous.
    chunks: VecDeque<(u64, Bytes)>,
}

/// What a replay from an offset yields.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Bytes between the requested offset and the oldest byte held, when
    /// the request reached further back than the ring.
    pub lost: Option<Lost>,
    /// Held chunks from the requested offset on, with their offsets.
    pub chunks: Vec<(u64, Bytes)>,
}

/// A replay that could not start where it was asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    /// How many bytes are gone.
    pub bytes: u64,
    /// Where the replay starts instead.
    pub resume_offset: u64,
}

/// The offset lies beyond what the stream produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Beyond {
    pub(super) produced: u64,
}

impl Ring {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            start: 0,
            end: 0,
            chunks: VecDeque::new(),
        }
    }

    /// Bytes produced so far.
    pub(super) fn produced(&self) -> u64 {
        self.end
    }

    /// Bytes held.
    pub(super) fn held(&self) -> usize {
        usize::try_from(self.end - self.start).unwrap_or(usize::MAX)
    }

    /// Starts an empty ring at `offset` (a live upgrade's successor goes on
    /// where its predecessor was).
    pub(super) fn skip_to(&mut self, offset: u64) {
        debug_assert!(self.chunks.is_empty());
        self.start = offset;
        self.end = offset;
    }

    /// Drops everything held; offsets go on from where they were.
    pub(super) fn clear(&mut self) {
        self.chunks.clear();
        self.start = self.end;
    }

    /// Appends `data` and returns its offset.
    pub(super) fn push(&mut self, data: &Bytes) -> u64 {
        let offset = self.end;
        self.end += data.len() as u64;
        if self.capacity == 0 {
            self.start = self.end;
            return offset;
        }
        self.chunks.push_back((offset, data.clone()));
        while self.end - self.start > self.capacity as u64 {
            let excess = self.end - self.start - self.capacity as u64;
            let Some((first_offset, first)) = self.chunks.front_mut() else {
                break;
            };
            if (first.len() as u64) <= excess {
                self.start += first.len() as u64;
                self.chunks.pop_front();
            } else {
                // `excess < first.len()`, so it fits in usize.
                let cut = usize::try_from(excess).unwrap_or(first.len());
                *first = first.slice(cut..);
                *first_offset += excess;
                self.start += excess;
            }
        }
        offset
    }

    /// Everything held from `from` on (`None`: from the oldest byte held).
    pub(super) fn replay(&self, from: Option<u64>) -> Result<Replay, Beyond> {
        let from = from.unwrap_or(self.start);
        if from > self.end {
            return Err(Beyond { produced: self.end });
        }
        let lost = (from < self.start).then(|| Lost {
            bytes: self.start - from,
            resume_offset: self.start,
        });
        let from = from.max(self.start);
        let chunks = self
            .chunks
            .iter()
            .filter(|(offset, data)| offset + data.len() as u64 > from)
            .map(|(offset, data)| {
                if *offset >= from {
                    (*offset, data.clone())
                } else {
                    let skip = usize::try_from(from - offset).unwrap_or(data.len());
                    (from, data.slice(skip..))
                }
            })
            .collect();
        Ok(Replay { lost, chunks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(replay: &Replay) -> Vec<u8> {
        let mut next = replay.chunks.first().map_or(0, |c| c.0);
        let mut out = Vec::new();
        for (offset, data) in &replay.chunks {
            assert_eq!(*offset, next, "chunks are contiguous");
            next += data.len() as u64;
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn replays_exactly_from_any_offset_and_reports_what_was_lost() {
        let mut ring = Ring::new(10);
        assert_eq!(ring.push(&Bytes::from_static(b"abcd")), 0);
        assert_eq!(ring.push(&Bytes::from_static(b"efgh")), 4);
        assert_eq!(ring.push(&Bytes::from_static(b"ijklmn")), 8);
        assert_eq!(ring.produced(), 14);
        // Holds exactly the last 10 bytes: "efghijklmn".
        let all = ring.replay(None).unwrap();
        assert_eq!(all.lost, None);
        assert_eq!(joined(&all), b"efghijklmn");
        assert_eq!(all.chunks[0].0, 4);
        let mid = ring.replay(Some(6)).unwrap();
        assert_eq!((mid.chunks[0].0, joined(&mid)), (6, b"ghijklmn".to_vec()));
        let old = ring.replay(Some(1)).unwrap();
        assert_eq!(
            old.lost,
            Some(Lost {
                bytes: 3,
                resume_offset: 4
            })
        );
        assert_eq!(joined(&old), b"efghijklmn");
        assert!(ring.replay(Some(14)).unwrap().chunks.is_empty());
        assert_eq!(ring.replay(Some(15)), Err(Beyond { produced: 14 }));
    }

    #[test]
    fn trims_inside_a_chunk_and_a_zero_ring_holds_nothing() {
        let mut ring = Ring::new(3);
        ring.push(&Bytes::from_static(b"hello"));
        let replay = ring.replay(Some(0)).unwrap();
        assert_eq!(
            replay.lost,
            Some(Lost {
                bytes: 2,
                resume_offset: 2
            })
        );
        assert_eq!(joined(&replay), b"llo");
        let mut none = Ring::new(0);
        none.push(&Bytes::from_static(b"abc"));
        let replay = none.replay(Some(0)).unwrap();
        assert_eq!(replay.lost.map(|l| l.bytes), Some(3));
        assert!(replay.chunks.is_empty());
    }
}
