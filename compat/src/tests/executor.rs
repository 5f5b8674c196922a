//! The executor: futures wait in `block`, on exactly the events they need.

extern crate std;

use alloc::vec::Vec;

use ethos_abi::arguments::MAXIMUM_BLOCK_EVENTS;
use ethos_abi::{Call, Status};

use super::fake::FakeKernel;
use crate::calls;
use crate::future::{self, Either, block_on, join, join_all, select};

const MILLISECOND: u64 = 1_000_000;

#[test]
fn a_read_future_waits_in_block() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.offer("echo", 3 * MILLISECOND, |request| Some(request.to_vec()));
    let reply = block_on(async {
        let connection = future::ipc("echo", "", b"hello").await?;
        future::read(connection).await
    });
    assert_eq!(reply.as_deref(), Ok(&b"hello"[..]));
    let calls: Vec<Call> = kernel.log().iter().map(|logged| logged.call).collect();
    assert_eq!(
        calls,
        [
            Call::Ipc,
            Call::Block,
            Call::Retire,
            Call::Read,
            Call::Block,
            Call::Retire
        ]
    );
}

#[test]
fn join_waits_for_both_in_one_block_each() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let start = kernel.now();
    let (long, short) = block_on(join(
        future::sleep(30 * MILLISECOND),
        future::sleep(10 * MILLISECOND),
    ));
    assert_eq!((long, short), (Ok(()), Ok(())));
    assert!(kernel.now() >= start + 30 * MILLISECOND);
    let blocks = kernel.calls(Call::Block);
    assert_eq!(blocks.len(), 2, "one block per completion, no polling");
    assert_eq!(blocks[0].events.len(), 2, "both timers in one set");
    assert_eq!(blocks[1].events.len(), 1);
    assert_eq!(kernel.event_count(), 0);
}

#[test]
fn select_drops_the_loser_and_cancels_its_event() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let start = kernel.now();
    let winner = block_on(select(
        future::sleep(5 * MILLISECOND),
        future::sleep(10_000 * MILLISECOND),
    ));
    assert_eq!(winner, Either::Left(Ok(())));
    assert!(kernel.now() < start + 10 * MILLISECOND);
    let cancels = kernel.calls(Call::Cancel);
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].answer, Ok(0));
    assert_eq!(kernel.event_count(), 0, "nothing is left behind");
}

#[test]
fn the_second_future_can_win() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let winner = block_on(select(
        future::sleep(9 * MILLISECOND),
        future::sleep(MILLISECOND),
    ));
    assert_eq!(winner, Either::Right(Ok(())));
}

#[test]
fn more_events_than_one_block_takes_are_all_seen() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.offer("quiet", 0, |_| None);
    let count = 100;
    let connections: Vec<_> = (0..count)
        .map(|_| crate::ipc_blocking("quiet", "", &[]).unwrap())
        .collect();
    // Messages arrive in the opposite order, the last connection's first.
    let now = kernel.now();
    for (index, connection) in connections.iter().enumerate() {
        let at = now + ((count - index) as u64) * 10 * MILLISECOND;
        kernel.deliver_at(at, connection.number(), alloc::vec![index as u8]);
    }
    let values = block_on(join_all(connections.iter().map(|c| future::read(*c))));
    for (index, value) in values.into_iter().enumerate() {
        assert_eq!(value, Ok(alloc::vec![index as u8]));
    }
    let blocks = kernel.calls(Call::Block);
    assert!(
        blocks
            .iter()
            .all(|block| block.events.len() as u64 <= MAXIMUM_BLOCK_EVENTS)
    );
    assert!(
        blocks
            .iter()
            .any(|block| block.events.len() as u64 == MAXIMUM_BLOCK_EVENTS),
        "a window with its timer was used"
    );
    assert_eq!(kernel.event_count(), 0, "window timers are collected");
}

#[test]
fn a_dropped_future_cancels_its_event() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.offer("quiet", 0, |_| None);
    let connection = crate::ipc_blocking("quiet", "", &[]).unwrap();
    let outcome = block_on(select(future::read(connection), future::sleep(MILLISECOND)));
    assert!(matches!(outcome, Either::Right(Ok(()))));
    assert_eq!(kernel.calls(Call::Cancel).len(), 1);
    assert_eq!(kernel.event_count(), 0);
    // A read made now still works: nothing of the dropped one remains.
    kernel.deliver_at(kernel.now() + 10, connection.number(), alloc::vec![1]);
    assert_eq!(block_on(future::read(connection)), Ok(alloc::vec![1]));
}

#[test]
fn a_failing_block_fails_the_futures_it_waited_for() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.force(Call::Block, &[Status::InvalidArgument]);
    let (first, second) = block_on(join(
        future::sleep(MILLISECOND),
        future::sleep(2 * MILLISECOND),
    ));
    assert_eq!(first, Err(Status::InvalidArgument));
    assert_eq!(second, Err(Status::InvalidArgument));
    assert_eq!(kernel.event_count(), 0, "failed events are cancelled");
}

#[test]
fn a_call_that_fails_at_once_fails_its_future_without_blocking() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let outcome = block_on(future::ipc("absent", "", &[]));
    assert_eq!(outcome, Err(Status::NoSuchObject));
    assert!(kernel.calls(Call::Block).is_empty());
}

#[test]
fn a_future_waiting_on_nothing_is_a_bug_reported_as_a_panic() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let outcome = std::panic::catch_unwind(|| block_on(core::future::pending::<()>()));
    assert!(outcome.is_err());
}

#[test]
fn a_completion_is_only_collected_once() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let event = calls::beep(kernel.now() + 10).unwrap();
    let mut completion = future::Completion::new(event, &crate::results::NOTHING);
    assert_eq!(block_on(&mut completion), Ok(()));
    assert_eq!(completion.event(), None);
    assert_eq!(block_on(&mut completion), Err(Status::NoSuchObject));
    assert_eq!(kernel.calls(Call::Retire).len(), 1);
}

#[test]
fn nested_executors_leave_each_others_events_alone() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let (outer, inner) = block_on(join(future::sleep(5 * MILLISECOND), async {
        block_on(future::sleep(10 * MILLISECOND))
    }));
    assert_eq!((outer, inner), (Ok(()), Ok(())));
    assert_eq!(kernel.event_count(), 0);
}
