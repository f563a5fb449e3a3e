//! Where a session is in each output stream, and what of a chunk is new.
//!
//! envd promises contiguous offsets with no duplicate between replay and
//! live output; the cursor still trims overlaps and reports gaps, so a
//! re-attach can never show a byte twice or skip one silently.

use bytes::Bytes;

use super::types::{OutputStream, TerminalEvent};

/// The next expected offset of one output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) next: u64,
    /// False until the first output or `Lost` when the session asked for
    /// "everything envd still holds" rather than an offset: the first
    /// chunk then sets `next` instead of counting as a gap.
    pub(crate) anchored: bool,
}

impl Cursor {
    /// Expects output from `offset` on.
    pub(crate) fn at(offset: u64) -> Self {
        Self {
            next: offset,
            anchored: true,
        }
    }

    /// Takes the first chunk's offset as the start.
    pub(crate) fn unanchored() -> Self {
        Self {
            next: 0,
            anchored: false,
        }
    }

    /// The offset to re-attach from (`None`: everything envd holds).
    pub(crate) fn resume_from(&self) -> Option<u64> {
        self.anchored.then_some(self.next)
    }

    /// The events to deliver for a chunk at `offset`: nothing if all of it
    /// was delivered before, its new suffix, or a `Lost` for a gap then the
    /// chunk.
    pub(crate) fn admit(
        &mut self,
        stream: OutputStream,
        offset: u64,
        data: &Bytes,
    ) -> Vec<TerminalEvent> {
        if !self.anchored {
            *self = Self::at(offset);
        }
        let end = offset + data.len() as u64;
        let mut events = Vec::new();
        if end <= self.next && !data.is_empty() {
            return events;
        }
        if offset > self.next {
            events.push(TerminalEvent::Lost {
                stream,
                lost_bytes: offset - self.next,
                resume_offset: offset,
            });
            self.next = offset;
        }
        let skip = usize::try_from(self.next - offset).unwrap_or(usize::MAX);
        let data = data.slice(skip.min(data.len())..);
        if !data.is_empty() {
            events.push(TerminalEvent::Output {
                stream,
                offset: self.next,
                data,
            });
        }
        self.next = self.next.max(end);
        events
    }

    /// envd's `Lost`: deliver it unless the cursor is already past it.
    pub(crate) fn lost(
        &mut self,
        stream: OutputStream,
        resume_offset: u64,
    ) -> Option<TerminalEvent> {
        if !self.anchored {
            *self = Self::at(resume_offset);
            return None;
        }
        if resume_offset <= self.next {
            return None;
        }
        let event = TerminalEvent::Lost {
            stream,
            lost_bytes: resume_offset - self.next,
            resume_offset,
        };
        self.next = resume_offset;
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(offset: u64, data: &'static str) -> TerminalEvent {
        TerminalEvent::Output {
            stream: OutputStream::Pty,
            offset,
            data: Bytes::from_static(data.as_bytes()),
        }
    }

    #[test]
    fn overlaps_are_trimmed_and_repeats_dropped() {
        let mut cursor = Cursor::at(0);
        let pty = OutputStream::Pty;
        assert_eq!(
            cursor.admit(pty, 0, &Bytes::from_static("abc".as_bytes())),
            vec![out(0, "abc")]
        );
        assert_eq!(
            cursor.admit(pty, 0, &Bytes::from_static("abc".as_bytes())),
            vec![]
        );
        assert_eq!(
            cursor.admit(pty, 1, &Bytes::from_static("bcde".as_bytes())),
            vec![out(3, "de")]
        );
        assert_eq!(cursor.next, 5);
    }

    #[test]
    fn a_gap_is_reported_as_lost_before_the_chunk() {
        let mut cursor = Cursor::at(5);
        let events = cursor.admit(OutputStream::Pty, 8, &Bytes::from_static("xy".as_bytes()));
        let lost = TerminalEvent::Lost {
            stream: OutputStream::Pty,
            lost_bytes: 3,
            resume_offset: 8,
        };
        assert_eq!(events, vec![lost, out(8, "xy")]);
        assert_eq!(cursor.next, 10);
    }

    #[test]
    fn envd_lost_moves_the_cursor_once() {
        let mut cursor = Cursor::at(2);
        assert!(cursor.lost(OutputStream::Stdout, 10).is_some());
        assert_eq!(cursor.lost(OutputStream::Stdout, 10), None);
        assert_eq!(cursor.next, 10);
    }

    #[test]
    fn an_unanchored_cursor_starts_at_the_first_chunk() {
        let mut cursor = Cursor::unanchored();
        assert_eq!(cursor.resume_from(), None);
        assert_eq!(
            cursor.admit(OutputStream::Pty, 7, &Bytes::from_static("ab".as_bytes())),
            vec![out(7, "ab")]
        );
        assert_eq!(cursor.resume_from(), Some(9));
    }
}
