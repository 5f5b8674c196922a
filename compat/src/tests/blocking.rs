//! The calls that wait, and event sets.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ethos_abi::{Call, Status};

use super::fake::{Arrival, FakeKernel};
use crate::blocking::{
    IPC_RETRY_NANOSECONDS, WRITE_RETRY_NANOSECONDS, fd_receive_blocking, import_blocking,
    ipc_when_advertised, peek_blocking, random_blocking, read_blocking, sleep, write_blocking,
};
use crate::calls;
use crate::event_set::EventSet;
use crate::handles::Event;

fn echo(request: &[u8]) -> Option<Vec<u8>> {
    Some(request.to_vec())
}

#[test]
fn a_read_waits_and_collects_with_one_block_and_retire() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.offer("echo", 5_000, echo);
    let connection = crate::ipc_blocking("echo", "", &[]).unwrap();
    let start = kernel.now();
    write_blocking(connection, b"ping").unwrap();
    assert_eq!(read_blocking(connection).unwrap(), b"ping");
    assert!(
        kernel.now() >= start + 5_000,
        "the reply came after its delay"
    );
    let calls: Vec<Call> = kernel.log().iter().map(|logged| logged.call).collect();
    assert_eq!(
        calls,
        [
            Call::Ipc,
            Call::BlockAndRetire,
            Call::Write,
            Call::Read,
            Call::BlockAndRetire
        ]
    );
    // Nothing was asked before it could be answered.
    assert!(
        kernel
            .log()
            .iter()
            .all(|logged| logged.answer != Err(Status::WouldBlock))
    );
}

#[test]
fn a_peek_leaves_the_value() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.offer("echo", 10, echo);
    let connection = crate::ipc_blocking("echo", "", b"first").unwrap();
    assert_eq!(peek_blocking(connection).unwrap(), b"first");
    assert_eq!(read_blocking(connection).unwrap(), b"first");
}

#[test]
fn a_full_inbox_is_tried_again_after_a_sleep() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.offer("echo", 10, echo);
    let connection = crate::ipc_blocking("echo", "", &[]).unwrap();
    kernel.force(Call::Write, &[Status::WouldBlock, Status::WouldBlock]);
    let start = kernel.now();
    write_blocking(connection, b"value").unwrap();
    assert_eq!(kernel.calls(Call::Write).len(), 3);
    assert_eq!(kernel.calls(Call::Beep).len(), 2);
    assert!(kernel.now() >= start + 2 * WRITE_RETRY_NANOSECONDS);
    // Other failures are answered at once.
    kernel.force(Call::Write, &[Status::InvalidType]);
    assert_eq!(
        write_blocking(connection, b"value"),
        Err(Status::InvalidType)
    );
}

#[test]
fn a_service_is_waited_for_until_it_is_advertised() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let appears = kernel.now() + 3 * IPC_RETRY_NANOSECONDS + 10;
    kernel.offer_at(appears, "calc", 10, echo);
    let connection = ipc_when_advertised("calc", 5_000_000_000).unwrap();
    assert!(kernel.is_open(connection.number()));
    assert!(kernel.now() >= appears);
    assert_eq!(kernel.calls(Call::Ipc).len(), 5);
}

#[test]
fn waiting_for_a_service_gives_up() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let start = kernel.now();
    assert_eq!(
        ipc_when_advertised("absent", 10 * IPC_RETRY_NANOSECONDS),
        Err(Status::NoSuchObject)
    );
    assert!(kernel.now() >= start + 10 * IPC_RETRY_NANOSECONDS);
    assert!(kernel.calls(Call::Ipc).len() <= 12);
}

#[test]
fn a_refusal_is_answered_at_once() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.refuse("calc", Status::NotAuthorized);
    assert_eq!(
        ipc_when_advertised("calc", 5_000_000_000),
        Err(Status::NotAuthorized)
    );
    assert_eq!(kernel.calls(Call::Ipc).len(), 1);
    assert!(kernel.calls(Call::Beep).is_empty());
}

#[test]
fn an_import_brings_the_connection_and_the_user() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.allow_advertise("calc");
    let listening = calls::advertise("calc").unwrap();
    kernel.arrive_at(
        50_000,
        Arrival {
            service: String::from("calc"),
            user: String::from("bob"),
            messages: vec![(10, b"request".to_vec())],
            hang_up: None,
        },
    );
    let (connection, user) = import_blocking(listening).unwrap();
    assert_eq!(user, "bob");
    assert_ne!(connection, listening);
    assert_eq!(read_blocking(connection).unwrap(), b"request");
    write_blocking(connection, b"reply").unwrap();
    assert_eq!(kernel.written(connection.number()), [b"reply".to_vec()]);
}

#[test]
fn received_descriptors_and_random_bytes() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.send_batch_at(7_000, 2);
    let received = fd_receive_blocking().unwrap();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|fd| kernel.is_open(fd.number())));
    assert_eq!(random_blocking(4).unwrap(), [0, 1, 2, 3]);
}

#[test]
fn sleeping_moves_the_clock_at_least_that_far() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let start = kernel.now();
    sleep(20_000_000).unwrap();
    assert!(kernel.now() >= start + 20_000_000);
    assert_eq!(kernel.event_count(), 0, "the timer was collected");
}

#[test]
fn a_kernel_that_does_not_park_is_asked_again() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.force(
        Call::BlockAndRetire,
        &[Status::WouldBlock, Status::WouldBlock],
    );
    sleep(1_000).unwrap();
    assert_eq!(kernel.calls(Call::BlockAndRetire).len(), 3);
}

#[test]
fn an_event_set_answers_the_first_completion_with_its_tag() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let now = kernel.now();
    let mut set = EventSet::new();
    let late = calls::beep(now + 300).unwrap();
    let early = calls::beep(now + 100).unwrap();
    set.insert(late, "late");
    set.insert(early, "early");
    assert_eq!(set.wait(), Ok((early, "early")));
    assert_eq!(set.len(), 1);
    assert_eq!(set.wait(), Ok((late, "late")));
    assert!(set.is_empty());
    assert_eq!(set.wait(), Err(Status::InvalidArgument));
    // Waiting took one block each; the events are still the caller's to retire.
    assert_eq!(kernel.calls(Call::Block).len(), 2);
    assert_eq!(kernel.event_count(), 2);
}

#[test]
fn an_event_set_larger_than_a_block_is_refused_and_can_be_cancelled() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let mut set = EventSet::new();
    for index in 0..65u64 {
        set.insert(calls::beep(kernel.now() + 1_000 + index).unwrap(), index);
    }
    assert_eq!(set.wait(), Err(Status::LimitReached));
    assert_eq!(set.remove(Event::from_id(1)), Some(0));
    assert_eq!(set.cancel_all(), Ok(()));
    assert_eq!(kernel.event_count(), 1);
    assert!(set.is_empty());
}

#[test]
fn println_is_one_print_without_a_newline() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    crate::println!("calc-client: {} replies correct", 110);
    crate::println!("plain");
    assert_eq!(
        kernel.printed(),
        ["calc-client: 110 replies correct", "plain"]
    );
}

#[test]
fn descriptors_are_sent_by_number_to_a_virtual_process() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.offer("echo", 10, echo);
    let connection = crate::ipc_blocking("echo", "", &[]).unwrap();
    calls::fd_send(&[connection], "carol", "desk-worker").unwrap();
    assert_eq!(
        kernel.sent(),
        [(
            vec![connection.number()],
            String::from("carol"),
            String::from("desk-worker")
        )]
    );
    calls::close(connection).unwrap();
    assert_eq!(
        calls::fd_send(&[connection], "carol", "desk-worker"),
        Err(Status::NoSuchObject)
    );
}
