//! Kernel memory held on a process's behalf is charged to it and released when the
//! thing is consumed, cancelled, or the process ends; a request past its limit is
//! refused with `limit-reached` and changes nothing.

use alloc::vec;
use alloc::vec::Vec;

use ethos_abi::arguments::EVENT_KERNEL_BYTES;
use ethos_abi::{DescriptorNumber, ProcessId, Status};

use super::super::events::{Instant, Outcome};
use super::{model_with_limit, program, say, service, user, value};
use crate::process_model::ProcessModel;
use crate::process_model::memory_limit::{HEAP_SHARE, LoweredLimit};

const LIMIT: usize = 64 * 1024;

/// alice serving `echo`, bob connected with no first value, both ends accepted.
fn pair(
    limit: usize,
) -> (
    ProcessModel,
    ProcessId,
    ProcessId,
    DescriptorNumber,
    DescriptorNumber,
) {
    let mut model = model_with_limit(limit);
    let server = model
        .create_process(&user("alice"), &program("server"))
        .unwrap();
    let client = model
        .create_process(&user("bob"), &program("client"))
        .unwrap();
    let listening = model.advertise(server, &service("echo")).unwrap();
    let import = model.import(server, listening).unwrap();
    let connect = model.ipc(client, &service("echo"), "", Vec::new()).unwrap();
    let Ok(Outcome::Connected(client_end)) = model.retire(client, connect) else {
        panic!("ipc did not connect");
    };
    let Ok(Outcome::Imported { descriptor, .. }) = model.retire(server, import) else {
        panic!("import did not complete");
    };
    (model, server, client, descriptor, client_end)
}

fn held(model: &ProcessModel, process: ProcessId) -> usize {
    model.kernel_memory_held(process).unwrap()
}

#[test]
fn a_queued_value_is_charged_to_its_writer_until_read() {
    let (mut model, server, client, server_end, client_end) = pair(LIMIT);
    assert_eq!((held(&model, client), held(&model, server)), (0, 0));
    let request = say("hello");
    model.write(client, client_end, request.clone()).unwrap();
    assert_eq!(
        held(&model, client),
        request.len(),
        "the writer holds it while queued"
    );
    let read = model.read(server, server_end).unwrap();
    assert_eq!(
        held(&model, client),
        0,
        "consumed: the writer's charge is released"
    );
    assert_eq!(
        held(&model, server),
        EVENT_KERNEL_BYTES + request.len(),
        "the reader holds it until it retires the outcome"
    );
    assert_eq!(value(&mut model, server, read), request);
    assert_eq!(held(&model, server), 0);
}

#[test]
fn a_peeked_copy_is_charged_to_the_peeker_and_leaves_the_writers_charge() {
    let (mut model, server, client, server_end, client_end) = pair(LIMIT);
    let request = say("look");
    model.write(client, client_end, request.clone()).unwrap();
    let peek = model.peek(server, server_end).unwrap();
    assert_eq!(held(&model, server), EVENT_KERNEL_BYTES + request.len());
    assert_eq!(held(&model, client), request.len(), "still queued");
    model.cancel(server, peek).unwrap();
    assert_eq!(held(&model, server), 0, "cancel releases the copy");
}

#[test]
fn cancel_releases_a_pending_event_and_a_timer() {
    let (mut model, server, _, server_end, _) = pair(LIMIT);
    let read = model.read(server, server_end).unwrap();
    let beep = model.beep(server, Instant(1_000_000), Instant(0)).unwrap();
    assert_eq!(held(&model, server), 2 * EVENT_KERNEL_BYTES);
    model.cancel(server, read).unwrap();
    model.cancel(server, beep).unwrap();
    assert_eq!(held(&model, server), 0);
}

#[test]
fn closing_the_reading_end_gives_queued_values_back_to_their_writer() {
    let (mut model, server, client, server_end, client_end) = pair(LIMIT);
    model.write(client, client_end, say("one")).unwrap();
    model.write(client, client_end, say("two")).unwrap();
    assert_eq!(held(&model, client), 2 * say("one").len());
    model.close(server, server_end).unwrap();
    assert_eq!(held(&model, client), 0);
}

#[test]
fn ending_a_process_releases_everything_it_held() {
    let (mut model, server, client, server_end, client_end) = pair(LIMIT);
    model.write(client, client_end, say("left")).unwrap();
    let _read = model.read(server, server_end).unwrap();
    let _pending = model.read(server, server_end).unwrap();
    let _beep = model.beep(server, Instant(1_000_000), Instant(0)).unwrap();
    assert!(held(&model, server) > 0);
    model.end_process(server).unwrap();
    assert_eq!(model.kernel_memory_held(server), Err(Status::NoSuchObject));
    // The client's end saw its peer go; what it queued went with the peer's end.
    assert_eq!(held(&model, client), 0);
}

#[test]
fn the_limit_refuses_a_writer_whose_peer_does_not_read() {
    let value = say(&"x".repeat(1000));
    let (mut model, _, client, _, client_end) = pair(4 * value.len());
    let mut written = 0;
    loop {
        match model.write(client, client_end, value.clone()) {
            Ok(()) => written += 1,
            Err(status) => {
                assert_eq!(status, Status::LimitReached);
                break;
            }
        }
        assert!(written <= 4, "the limit never refused");
    }
    assert_eq!(written, 4);
    assert_eq!(
        held(&model, client),
        4 * value.len(),
        "a refusal changes nothing"
    );
}

#[test]
fn the_limit_refuses_events_and_values_past_it() {
    let (mut model, server, _, _, _) = pair(3 * EVENT_KERNEL_BYTES + 100);
    let beeps: alloc::vec::Vec<_> = (0..3)
        .map(|index| {
            model
                .beep(server, Instant(1_000 + index), Instant(0))
                .unwrap()
        })
        .collect();
    assert_eq!(
        model.beep(server, Instant(9_999), Instant(0)),
        Err(Status::LimitReached)
    );
    assert_eq!(
        model.completed_value(server, vec![0; 200]),
        Err(Status::LimitReached)
    );
    model.cancel(server, beeps[0]).unwrap();
    assert!(model.completed_value(server, vec![0; 100]).is_ok());
}

#[test]
fn descriptors_in_flight_are_charged_to_their_sender_until_received() {
    let (mut model, _, client, _, client_end) = pair(LIMIT);
    model
        .fd_send(client, &[client_end], &user("carol"), &program("relay"))
        .unwrap();
    assert_eq!(
        held(&model, client),
        ethos_abi::arguments::DESCRIPTOR_IN_FLIGHT_BYTES
    );
    let relay = model
        .create_process(&user("carol"), &program("relay"))
        .unwrap();
    let receive = model.fd_receive(relay).unwrap();
    assert_eq!(
        held(&model, client),
        0,
        "received: the sender's charge is released"
    );
    assert!(matches!(
        model.retire(relay, receive),
        Ok(Outcome::Descriptors(numbers)) if numbers.len() == 1
    ));
}

#[test]
fn a_service_refuses_values_over_its_maximum() {
    let (mut model, _, client, _, client_end) = pair(1 << 20);
    let largest = say(&"x".repeat(super::ECHO_MAXIMUM_VALUE - say("").len()));
    assert_eq!(largest.len(), super::ECHO_MAXIMUM_VALUE);
    model.write(client, client_end, largest).unwrap();
    let over = say(&"x".repeat(super::ECHO_MAXIMUM_VALUE + 1 - say("").len()));
    assert_eq!(
        model.write(client, client_end, over.clone()),
        Err(Status::InvalidArgument)
    );
    let other = model
        .create_process(&user("bob"), &program("client"))
        .unwrap();
    assert_eq!(
        model.ipc(other, &service("echo"), "", over),
        Err(Status::InvalidArgument)
    );
}

#[test]
fn a_written_value_is_queued_as_it_was_copied_in() {
    // The reader gets the very buffer the writer's call read in: the kernel holds a
    // value once, however large, whether it waited in the inbox or went straight to
    // a waiting read.
    let (mut model, server, client, server_end, client_end) = pair(LIMIT);
    let queued = say("queued");
    let address = queued.as_ptr();
    model.write(client, client_end, queued).unwrap();
    let read = model.read(server, server_end).unwrap();
    let given = value(&mut model, server, read);
    assert_eq!(given.as_ptr(), address);
    let waiting = model.read(server, server_end).unwrap();
    let handed = say("handed");
    let address = handed.as_ptr();
    model.write(client, client_end, handed).unwrap();
    let given = value(&mut model, server, waiting);
    assert_eq!(given.as_ptr(), address);
    // A waiting peek gets a copy, and the read after it the value itself.
    let peek = model.peek(server, server_end).unwrap();
    let peeked = say("peeked");
    let address = peeked.as_ptr();
    model.write(client, client_end, peeked).unwrap();
    let given = value(&mut model, server, peek);
    assert_ne!(given.as_ptr(), address);
    let read = model.read(server, server_end).unwrap();
    let given = value(&mut model, server, read);
    assert_eq!(given.as_ptr(), address);
}

#[test]
fn an_ipc_first_value_is_queued_as_it_was_copied_in() {
    let mut model = model_with_limit(LIMIT);
    let server = model
        .create_process(&user("alice"), &program("server"))
        .unwrap();
    let client = model
        .create_process(&user("bob"), &program("client"))
        .unwrap();
    let listening = model.advertise(server, &service("echo")).unwrap();
    let first = say("first");
    let (address, length) = (first.as_ptr(), first.len());
    let connect = model.ipc(client, &service("echo"), "", first).unwrap();
    assert!(matches!(
        model.retire(client, connect),
        Ok(Outcome::Connected(_))
    ));
    assert_eq!(
        held(&model, client),
        length,
        "queued, charged to the client"
    );
    let import = model.import(server, listening).unwrap();
    let Ok(Outcome::Imported { descriptor, .. }) = model.retire(server, import) else {
        panic!("import did not complete");
    };
    let read = model.read(server, descriptor).unwrap();
    let given = value(&mut model, server, read);
    assert_eq!(given.as_ptr(), address);
    assert_eq!(held(&model, client), 0);
}

#[test]
fn a_limit_fitted_to_the_heap_refuses_past_a_quarter_of_it() {
    let heap = 4 * LIMIT;
    let mut model = super::model();
    assert_eq!(
        model.fit_kernel_memory_limit(heap),
        Some(LoweredLimit {
            configured: ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY,
            effective: heap / HEAP_SHARE,
            heap,
        })
    );
    assert_eq!(model.kernel_memory_limit(), LIMIT);
    // Fitted again, or to a larger heap, the limit stays: it is never raised.
    assert_eq!(model.fit_kernel_memory_limit(heap), None);
    assert_eq!(model.fit_kernel_memory_limit(usize::MAX), None);
    assert_eq!(model.kernel_memory_limit(), LIMIT);
    let process = model
        .create_process(&user("alice"), &program("server"))
        .unwrap();
    assert_eq!(
        model.completed_value(process, vec![0; LIMIT]),
        Err(Status::LimitReached)
    );
    assert!(
        model
            .completed_value(process, vec![0; LIMIT - EVENT_KERNEL_BYTES])
            .is_ok()
    );
}

#[test]
fn a_limit_within_the_heaps_share_is_kept() {
    let mut model = model_with_limit(LIMIT);
    assert_eq!(model.fit_kernel_memory_limit(64 << 20), None);
    assert_eq!(model.kernel_memory_limit(), LIMIT);
}
