//! Fan-out of one process's events to its subscribers.
//!
//! Each subscriber has a bounded queue. Publishing waits for room (so a slow
//! reader slows the process instead of losing output), but only up to the
//! stall limit: a subscriber that accepts nothing for that long is cut off
//! and its stream ends with [`Fault::FellBehind`], never silently. A
//! subscriber whose receiver is gone is dropped at once.
//!
//! The end event is stored under the same lock that guards the subscriber
//! list, so a new subscriber either joins before the end is published (and
//! receives it) or sees the stored end: there is no window in between.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::exit::End;
use super::scrollback::{Beyond, Replay, Ring};

/// Output bytes, exactly as one read returned them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// From the stdout pipe.
    Stdout(Bytes),
    /// From the stderr pipe.
    Stderr(Bytes),
    /// From the terminal.
    Pty(Bytes),
}

/// Which stream output came from; each has its own offsets and ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The terminal.
    Pty,
    /// The stdout pipe.
    Stdout,
    /// The stderr pipe.
    Stderr,
}

impl Stream {
    /// Every stream, each with its own ring.
    const ALL: [Self; 3] = [Self::Pty, Self::Stdout, Self::Stderr];

    /// Lower-case name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pty => "pty",
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

impl Output {
    /// The stream and the bytes.
    pub fn parts(&self) -> (Stream, &Bytes) {
        match self {
            Self::Stdout(b) => (Stream::Stdout, b),
            Self::Stderr(b) => (Stream::Stderr, b),
            Self::Pty(b) => (Stream::Pty, b),
        }
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Output, at this byte offset of its stream.
    Data {
        /// The bytes.
        output: Output,
        /// Offset of the first byte in everything the stream produced.
        offset: u64,
    },
    /// The process ended; nothing follows.
    End(End),
}

/// Why a subscription ended without an end event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The subscriber did not accept output for the stall limit.
    #[error("output stream fell behind for {0:?} and was closed")]
    FellBehind(Duration),
    /// The process's event source vanished (envd is shutting down).
    #[error("process event stream closed before the process ended")]
    Closed,
}

/// Queue depth per subscriber, in read chunks (at most 32 KiB each).
const QUEUE_DEPTH: usize = 32;

#[derive(Debug)]
struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Event>,
    fell_behind: Arc<AtomicBool>,
}

/// Bytes of recent output each process keeps for a live upgrade (see
/// [`Bus::record`]); chunk granularity, so up to one chunk more.
pub const REPLAY_TAIL_BYTES: usize = 256 * 1024;

/// One scrollback ring per stream.
#[derive(Debug)]
struct Rings {
    pty: Ring,
    stdout: Ring,
    stderr: Ring,
}

impl Rings {
    fn new(capacity: usize) -> Self {
        Self {
            pty: Ring::new(capacity),
            stdout: Ring::new(capacity),
            stderr: Ring::new(capacity),
        }
    }

    fn get(&self, stream: Stream) -> &Ring {
        match stream {
            Stream::Pty => &self.pty,
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        }
    }

    fn get_mut(&mut self, stream: Stream) -> &mut Ring {
        match stream {
            Stream::Pty => &mut self.pty,
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }
}

/// Where replays start, per stream (`None`: the oldest byte held).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offsets {
    /// The terminal's, or a pipe process's stdout.
    pub output: Option<u64>,
    /// A pipe process's stderr.
    pub stderr: Option<u64>,
}

/// Replays from the rings, taken atomically with a subscription.
#[derive(Debug, Default)]
pub struct Replays {
    /// Per stream that has one: the terminal's, or stdout then stderr.
    pub streams: Vec<(Stream, Replay)>,
}

#[derive(Debug)]
struct State {
    subscribers: Vec<Subscriber>,
    end: Option<End>,
    next_id: u64,
    rings: Rings,
    /// The most recent output read, at most [`REPLAY_TAIL_BYTES`], with offsets.
    tail: VecDeque<(Output, u64)>,
    tail_bytes: usize,
    /// After a live upgrade: until this instant every new subscriber gets
    /// the tail first (which starts as the handed-over tail).
    replay_until: Option<Instant>,
}

/// Where one event goes: each subscriber's id, queue and cut-off flag.
pub(super) type Targets = Vec<(u64, mpsc::Sender<Event>, Arc<AtomicBool>)>;

/// One process's event fan-out.
#[derive(Debug)]
pub(super) struct Bus {
    state: Mutex<State>,
    stall_limit: Duration,
}

/// A live view of a process's events from the moment of subscription.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Event>,
    fell_behind: Arc<AtomicBool>,
    stall_limit: Duration,
    done: bool,
    /// Handed-over output delivered before anything live.
    replay: VecDeque<(Output, u64)>,
}

impl Subscription {
    /// The next event; `None` after the end event.
    pub async fn next(&mut self) -> Option<Result<Event, Fault>> {
        if self.done {
            return None;
        }
        if let Some((output, offset)) = self.replay.pop_front() {
            return Some(Ok(Event::Data { output, offset }));
        }
        match self.rx.recv().await {
            Some(event) => {
                self.done = matches!(event, Event::End(_));
                Some(Ok(event))
            }
            None => {
                self.done = true;
                Some(Err(if self.fell_behind.load(Ordering::Acquire) {
                    Fault::FellBehind(self.stall_limit)
                } else {
                    Fault::Closed
                }))
            }
        }
    }
}

impl Bus {
    /// A bus whose rings hold `scrollback` bytes per stream.
    pub(super) fn new(stall_limit: Duration, scrollback: usize) -> Self {
        Self {
            state: Mutex::new(State {
                subscribers: Vec::new(),
                end: None,
                next_id: 0,
                rings: Rings::new(scrollback),
                tail: VecDeque::new(),
                tail_bytes: 0,
                replay_until: None,
            }),
            stall_limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Subscribes to everything published from now on, or returns the
    /// stored end event if the process already ended.
    pub(super) fn subscribe(&self) -> Result<Subscription, End> {
        let mut state = self.lock();
        let replay = match state.replay_until {
            Some(until) if Instant::now() < until => state.tail.clone(),
            _ => VecDeque::new(),
        };
        Self::join(&mut state, replay, self.stall_limit)
    }

    /// Replays `streams` from `from` and subscribes to what follows, with
    /// no byte in both and none in neither (one lock with [`Bus::record`]).
    /// For an ended process, the replay and the stored end.
    pub(super) fn subscribe_from(
        &self,
        streams: &[Stream],
        from: Offsets,
    ) -> Result<(Replays, Result<Subscription, End>), (Stream, Beyond)> {
        let mut state = self.lock();
        let mut replays = Vec::with_capacity(streams.len());
        for &stream in streams {
            let offset = match stream {
                Stream::Stderr => from.stderr,
                Stream::Pty | Stream::Stdout => from.output,
            };
            let replay = state
                .rings
                .get(stream)
                .replay(offset)
                .map_err(|beyond| (stream, beyond))?;
            replays.push((stream, replay));
        }
        let live = Self::join(&mut state, VecDeque::new(), self.stall_limit);
        Ok((Replays { streams: replays }, live))
    }

    /// Bytes the rings hold.
    pub(super) fn scrollback_bytes(&self) -> usize {
        let state = self.lock();
        Stream::ALL
            .into_iter()
            .map(|s| state.rings.get(s).held())
            .sum()
    }

    /// Empties the rings (offsets go on; a replay reports the loss).
    pub(super) fn drop_scrollback(&self) {
        let mut state = self.lock();
        for stream in Stream::ALL {
            state.rings.get_mut(stream).clear();
        }
    }

    /// Bytes `stream` produced so far.
    pub(super) fn produced(&self, stream: Stream) -> u64 {
        self.lock().rings.get(stream).produced()
    }

    fn join(
        state: &mut State,
        replay: VecDeque<(Output, u64)>,
        stall_limit: Duration,
    ) -> Result<Subscription, End> {
        if let Some(end) = &state.end {
            return Err(end.clone());
        }
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let fell_behind = Arc::new(AtomicBool::new(false));
        let id = state.next_id;
        state.next_id += 1;
        state.subscribers.push(Subscriber {
            id,
            tx,
            fell_behind: fell_behind.clone(),
        });
        Ok(Subscription {
            rx,
            fell_behind,
            stall_limit,
            done: false,
            replay,
        })
    }

    /// Remembers `output` in the replay tail and returns who it goes to.
    /// Called for every chunk as it is read, so the tail a live upgrade
    /// hands over holds everything read up to the moment the readers
    /// stopped; under one lock with the subscriber list, so a subscriber
    /// that gets the tail never gets the same chunk live.
    pub(super) fn record(&self, output: &Output) -> (Targets, u64) {
        let mut state = self.lock();
        let offset = Self::remember(&mut state, output);
        let targets = state
            .subscribers
            .iter()
            .map(|s| (s.id, s.tx.clone(), s.fell_behind.clone()))
            .collect();
        (targets, offset)
    }

    /// Appends `output` to its ring and the upgrade tail; its offset.
    fn remember(state: &mut State, output: &Output) -> u64 {
        let (stream, data) = output.parts();
        let offset = state.rings.get_mut(stream).push(data);
        state.tail_bytes += data.len();
        state.tail.push_back((output.clone(), offset));
        while state.tail_bytes > REPLAY_TAIL_BYTES && state.tail.len() > 1 {
            if let Some((old, _)) = state.tail.pop_front() {
                state.tail_bytes -= old.parts().1.len();
            }
        }
        offset
    }

    /// The replay tail, oldest first (for a live upgrade).
    pub(super) fn tail(&self) -> Vec<Output> {
        self.lock().tail.iter().map(|(o, _)| o.clone()).collect()
    }

    /// Stores `end` with no subscriber to tell (an ended process handed
    /// over by a live upgrade).
    pub(super) fn store_end(&self, end: End) {
        self.lock().end = Some(end);
    }

    /// The stored end, if the process ended.
    pub(super) fn end(&self) -> Option<End> {
        self.lock().end.clone()
    }

    /// A bus for a handed-over process: `replay` goes first to every
    /// subscriber that joins before `until`.
    pub(super) fn resumed(
        stall_limit: Duration,
        scrollback: usize,
        replay: &[Output],
        produced: super::handover::Produced,
        until: Instant,
    ) -> Self {
        let bus = Self::new(stall_limit, scrollback);
        {
            let mut state = bus.lock();
            // The tail is the last bytes produced: its offsets end there.
            for (stream, total) in [
                (Stream::Pty, produced.pty),
                (Stream::Stdout, produced.stdout),
                (Stream::Stderr, produced.stderr),
            ] {
                let in_tail: u64 = replay
                    .iter()
                    .map(Output::parts)
                    .filter(|(s, _)| *s == stream)
                    .map(|(_, b)| b.len() as u64)
                    .sum();
                state
                    .rings
                    .get_mut(stream)
                    .skip_to(total.saturating_sub(in_tail));
            }
            for output in replay {
                Self::remember(&mut state, output);
            }
            state.replay_until = Some(until);
        }
        bus
    }

    /// Delivers output to every current subscriber.
    #[cfg(test)]
    pub(super) async fn publish(&self, output: Output) {
        let (targets, offset) = self.record(&output);
        self.deliver(targets, Event::Data { output, offset }).await;
    }

    /// Stores the end event and delivers it to every current subscriber;
    /// later subscribers get the stored copy.
    pub(super) async fn finish(&self, end: End) {
        let targets: Vec<_> = {
            let mut state = self.lock();
            state.end = Some(end.clone());
            // The rings stay: an ended process is still replayed while retained.
            state.tail.clear();
            state.tail_bytes = 0;
            state.replay_until = None;
            std::mem::take(&mut state.subscribers)
                .into_iter()
                .map(|s| (s.id, s.tx, s.fell_behind))
                .collect()
        };
        self.deliver(targets, Event::End(end)).await;
    }

    pub(super) async fn deliver(&self, targets: Targets, event: Event) {
        for (id, tx, fell_behind) in targets {
            let sent = match tx.try_send(event.clone()) {
                Ok(()) => continue,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
                Err(mpsc::error::TrySendError::Full(event)) => {
                    match tokio::time::timeout(self.stall_limit, tx.send(event)).await {
                        Ok(result) => result.is_ok(),
                        Err(_elapsed) => {
                            fell_behind.store(true, Ordering::Release);
                            tracing::warn!(limit = ?self.stall_limit, "cutting off a stalled output subscriber");
                            false
                        }
                    }
                }
            };
            if !sent {
                self.lock().subscribers.retain(|s| s.id != id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end() -> End {
        End {
            exit_code: 0,
            exited: true,
            status: "exit status 0".into(),
            error: None,
        }
    }

    #[tokio::test]
    async fn subscriber_sees_data_then_end_and_late_subscriber_sees_stored_end() {
        let bus = Bus::new(Duration::from_secs(1), 1 << 20);
        let mut sub = bus.subscribe().unwrap();
        bus.publish(Output::Stdout(Bytes::from_static(b"hi\n")))
            .await;
        bus.finish(end()).await;
        assert_eq!(
            sub.next().await,
            Some(Ok(Event::Data {
                output: Output::Stdout(Bytes::from_static(b"hi\n")),
                offset: 0
            }))
        );
        assert_eq!(sub.next().await, Some(Ok(Event::End(end()))));
        assert_eq!(sub.next().await, None);
        assert_eq!(bus.subscribe().unwrap_err(), end());
    }

    #[tokio::test]
    async fn after_resume_a_subscriber_gets_the_tail_then_live_without_gap_or_repeat() {
        let out = |s: &'static str| Output::Stdout(Bytes::from_static(s.as_bytes()));
        let until = Instant::now() + Duration::from_secs(3600);
        let bus = Bus::resumed(
            Duration::from_secs(1),
            1 << 20,
            &[out("a")],
            Default::default(),
            until,
        );
        // Read after the resume, before anyone connected.
        bus.publish(out("b")).await;
        let mut sub = bus.subscribe().unwrap();
        bus.publish(out("c")).await;
        for (offset, expected) in ["a", "b", "c"].into_iter().enumerate() {
            let offset = offset as u64;
            assert_eq!(
                sub.next().await,
                Some(Ok(Event::Data {
                    output: out(expected),
                    offset
                }))
            );
        }
        assert_eq!(bus.tail(), vec![out("a"), out("b"), out("c")]);
        // A fresh bus never replays.
        let fresh = Bus::new(Duration::from_secs(1), 1 << 20);
        fresh.publish(out("x")).await;
        let mut sub = fresh.subscribe().unwrap();
        fresh.finish(end()).await;
        assert_eq!(sub.next().await, Some(Ok(Event::End(end()))));
    }

    #[tokio::test]
    async fn subscribe_from_replays_then_goes_live_without_gap_or_repeat_and_outlives_the_end() {
        let pty = |s: &'static str| Output::Pty(Bytes::from_static(s.as_bytes()));
        let bus = Bus::new(Duration::from_secs(1), 4);
        bus.publish(pty("abc")).await;
        bus.publish(pty("def")).await;
        let from = Offsets {
            output: Some(1),
            stderr: None,
        };
        let (replays, live) = bus.subscribe_from(&[Stream::Pty], from).unwrap();
        let (stream, replay) = &replays.streams[0];
        assert_eq!(*stream, Stream::Pty);
        // The ring holds "cdef" (offsets 2..6): byte 1 is lost.
        assert_eq!(
            replay.lost.map(|l| (l.bytes, l.resume_offset)),
            Some((1, 2))
        );
        assert_eq!(
            replay.chunks,
            vec![
                (2, Bytes::from_static(b"c")),
                (3, Bytes::from_static(b"def"))
            ]
        );
        let mut live = live.unwrap();
        bus.publish(pty("g")).await;
        bus.finish(end()).await;
        assert_eq!(
            live.next().await,
            Some(Ok(Event::Data {
                output: pty("g"),
                offset: 6
            }))
        );
        assert_eq!(live.next().await, Some(Ok(Event::End(end()))));
        // After the end: the ring is still there, with the stored end.
        let (replays, live) = bus
            .subscribe_from(&[Stream::Pty], Offsets::default())
            .unwrap();
        assert_eq!(replays.streams[0].1.chunks.len(), 2);
        assert_eq!(live.unwrap_err(), end());
        assert_eq!(bus.produced(Stream::Pty), 7);
        let beyond = Offsets {
            output: Some(8),
            stderr: None,
        };
        assert!(bus.subscribe_from(&[Stream::Pty], beyond).is_err());
    }

    #[tokio::test]
    async fn dropped_subscriber_never_blocks_publishing() {
        let bus = Bus::new(Duration::from_secs(3600), 1 << 20);
        drop(bus.subscribe().unwrap());
        for _ in 0..(QUEUE_DEPTH * 4) {
            bus.publish(Output::Stdout(Bytes::from_static(b"x"))).await;
        }
        assert!(bus.lock().subscribers.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn stalled_subscriber_is_cut_off_with_an_error_not_silently() {
        let bus = Bus::new(Duration::from_secs(5), 1 << 20);
        let mut stalled = bus.subscribe().unwrap();
        for _ in 0..=QUEUE_DEPTH {
            bus.publish(Output::Stdout(Bytes::from_static(b"x"))).await;
        }
        let mut got = 0;
        let fault = loop {
            match stalled.next().await {
                Some(Ok(_)) => got += 1,
                Some(Err(f)) => break f,
                None => panic!("ended without a fault"),
            }
        };
        assert_eq!(got, QUEUE_DEPTH);
        assert_eq!(fault, Fault::FellBehind(Duration::from_secs(5)));
    }
}
