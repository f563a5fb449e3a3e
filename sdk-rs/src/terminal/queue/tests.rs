use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// What the fake envd saw: every Send as (seq, ops).
type Log = Arc<Mutex<Vec<(u64, Vec<TerminalOp>)>>>;

/// A queue whose Send takes `delay` and answers with `answer(seq, attempt)`
/// (attempt counts calls with that seq, from 1); `last_applied` answers 41.
fn fake(
    delay: Duration,
    answer: impl Fn(u64, usize) -> Result<u64> + Send + Sync + 'static,
    retry: RetryPolicy,
) -> (TerminalInput, Log) {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let answer = Arc::new(answer);
    let send: SendBatch = Box::new(move |seq, ops| {
        let sink = Arc::clone(&sink);
        let answer = Arc::clone(&answer);
        Box::pin(async move {
            let attempt = {
                let mut log = sink.lock().unwrap();
                log.push((seq, ops));
                log.iter().filter(|(s, _)| *s == seq).count()
            };
            tokio::time::sleep(delay).await;
            answer(seq, attempt)
        })
    });
    let last_applied: LastApplied = Box::new(|| Box::pin(async { Ok(41) }));
    (TerminalInput::spawn(send, last_applied, 1, retry), log)
}

fn input(text: &str) -> TerminalOp {
    TerminalOp::Input(Bytes::copy_from_slice(text.as_bytes()))
}

#[tokio::test]
async fn ops_queued_during_a_flight_go_as_one_batch_with_inputs_merged_in_place() {
    let (terminal, log) = fake(
        Duration::from_millis(50),
        |seq, _| Ok(seq),
        RetryPolicy::new(),
    );
    let first = terminal.write("a");
    tokio::time::sleep(Duration::from_millis(10)).await; // batch 1 is in flight
    let rest = [
        terminal.write("b"),
        terminal.write("c"),
        terminal.resize(100, 30),
        terminal.write("d"),
        terminal.write("e"),
        terminal.signal(TerminalSignal::Int),
        terminal.write("f"),
    ];
    first.await.unwrap();
    for applied in rest {
        applied.await.unwrap();
    }
    let resize = TerminalOp::Resize {
        cols: 100,
        rows: 30,
    };
    let int = TerminalOp::Signal(TerminalSignal::Int);
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            (1, vec![input("a")]),
            (2, vec![input("bc"), resize, input("de"), int, input("f")]),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_retries_the_same_batch_under_the_same_seq() {
    let (terminal, log) = fake(
        Duration::from_millis(5),
        |seq, attempt| match (seq, attempt) {
            (1, 1 | 2) => Err(Error::new(Code::Unavailable, "connection reset")),
            _ => Ok(seq),
        },
        RetryPolicy::new(),
    );
    let a = terminal.write("a");
    tokio::time::sleep(Duration::from_millis(1)).await;
    let b = terminal.write("b"); // queued while batch 1 retries: not merged into it
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            (1, vec![input("a")]),
            (1, vec![input("a")]),
            (1, vec![input("a")]),
            (2, vec![input("b")]),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn giving_up_reports_the_error_and_the_next_batch_resyncs_its_seq() {
    let policy = RetryPolicy::new().give_up_after(Duration::from_secs(1));
    let (terminal, log) = fake(
        Duration::from_millis(5),
        |seq, _| match seq {
            1 => Err(Error::new(Code::Unavailable, "envd unreachable")),
            _ => Ok(seq),
        },
        policy,
    );
    let error = terminal.write("a").await.unwrap_err();
    assert_eq!(error.code(), Code::Unavailable);
    terminal.write("b").await.unwrap();
    let log = log.lock().unwrap();
    assert!(log.len() > 3, "retried: {log:?}");
    assert!(log[..log.len() - 1].iter().all(|(seq, _)| *seq == 1));
    // envd said 41 was the last applied batch.
    assert_eq!(log.last().unwrap(), &(42, vec![input("b")]));
}

#[tokio::test]
async fn an_invalid_batch_fails_its_ops_and_does_not_use_up_its_seq() {
    let (terminal, log) = fake(
        Duration::from_millis(1),
        |_, attempt| match attempt {
            1 => Err(Error::new(Code::InvalidArgument, "size 0x0")),
            _ => Ok(1),
        },
        RetryPolicy::new(),
    );
    let bad = terminal.resize(0, 0).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    terminal.write("x").await.unwrap();
    let seqs: Vec<u64> = log.lock().unwrap().iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, vec![1, 1]);
}

#[tokio::test]
async fn a_final_error_fails_the_batch_without_retrying() {
    let (terminal, log) = fake(
        Duration::from_millis(1),
        |_, _| Err(Error::new(Code::NotFound, "terminal exited")),
        RetryPolicy::new(),
    );
    let error = terminal.signal(TerminalSignal::Term).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[test]
fn batches_stop_at_the_input_limit_but_always_take_one_op() {
    let mut queued: VecDeque<Queued> = VecDeque::new();
    let big = Bytes::from(vec![b'x'; MAX_BATCH_INPUT - 1]);
    for data in [big.clone(), Bytes::from_static(b"yy"), big] {
        let (done, _) = oneshot::channel();
        queued.push_back(Queued {
            op: TerminalOp::Input(data),
            done,
        });
    }
    let (ops, waiters) = take_batch(&mut queued);
    assert_eq!((ops.len(), waiters.len()), (1, 1));
    let (ops, waiters) = take_batch(&mut queued);
    assert_eq!(waiters.len(), 1, "2 + (limit - 1) bytes exceed the limit");
    assert_eq!(ops, vec![TerminalOp::Input(Bytes::from_static(b"yy"))]);
    let (_, waiters) = take_batch(&mut queued);
    assert_eq!(waiters.len(), 1);
    assert!(queued.is_empty());
}
