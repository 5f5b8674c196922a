//! Decoding `retire` results, and collecting results of unknown length.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ethos_abi::arguments::MAXIMUM_FD_SEND;
use ethos_abi::{Call, Status};

use super::fake::{FakeKernel, Logged};
use crate::calls;
use crate::handles::Descriptor;
use crate::results::{
    self, FIRST_VALUE_BUFFER, MALFORMED_RESULT, decode_connection, decode_descriptors,
    decode_import, decode_nothing, retire_as,
};

#[test]
fn a_connection_is_exactly_one_descriptor() {
    assert_eq!(
        decode_connection(&[7, 0, 0, 0]),
        Ok(Descriptor::from_number(7))
    );
    assert_eq!(
        decode_connection(&[1, 2, 0, 0]),
        Ok(Descriptor::from_number(0x201))
    );
    assert_eq!(decode_connection(&[7, 0, 0]), Err(MALFORMED_RESULT));
    assert_eq!(decode_connection(&[7, 0, 0, 0, 0]), Err(MALFORMED_RESULT));
}

#[test]
fn an_import_is_a_descriptor_then_the_user() {
    let mut bytes = vec![9, 0, 0, 0];
    bytes.extend_from_slice(b"bob");
    assert_eq!(
        decode_import(bytes),
        Ok((Descriptor::from_number(9), String::from("bob")))
    );
    assert_eq!(
        decode_import(vec![9, 0, 0, 0]),
        Ok((Descriptor::from_number(9), String::new()))
    );
    assert_eq!(decode_import(vec![9, 0]), Err(MALFORMED_RESULT));
    assert_eq!(decode_import(vec![9, 0, 0, 0, 0xff]), Err(MALFORMED_RESULT));
    let mut long = vec![9, 0, 0, 0];
    long.extend(core::iter::repeat_n(b'a', 256));
    assert_eq!(decode_import(long), Err(MALFORMED_RESULT));
}

#[test]
fn received_descriptors_are_whole_words_within_the_limit() {
    assert_eq!(decode_descriptors(&[]), Ok(Vec::new()));
    assert_eq!(
        decode_descriptors(&[5, 0, 0, 0, 6, 0, 0, 0]),
        Ok(vec![Descriptor::from_number(5), Descriptor::from_number(6)])
    );
    assert_eq!(decode_descriptors(&[5, 0, 0]), Err(MALFORMED_RESULT));
    let too_many = vec![0; 4 * (MAXIMUM_FD_SEND as usize + 1)];
    assert_eq!(decode_descriptors(&too_many), Err(MALFORMED_RESULT));
}

#[test]
fn timers_complete_with_nothing() {
    assert_eq!(decode_nothing(&[]), Ok(()));
    assert_eq!(decode_nothing(&[0]), Err(MALFORMED_RESULT));
}

#[test]
fn long_results_are_collected_in_a_growing_buffer() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let value: Vec<u8> = (0..100_000u32).map(|index| index as u8).collect();
    kernel.offer("big", 10, {
        let value = value.clone();
        move |_| Some(value.clone())
    });
    let connection = crate::blocking::ipc_blocking("big", "", b"ask").unwrap();
    let event = calls::read(connection).unwrap();
    crate::blocking::wait(event).unwrap();
    assert_eq!(retire_as(event, &results::VALUE), Ok(value.clone()));
    let offered: Vec<Option<usize>> = kernel
        .calls(Call::Retire)
        .iter()
        .map(|logged| logged.buffer)
        .collect();
    assert_eq!(
        offered,
        [
            Some(FIRST_VALUE_BUFFER),
            Some(FIRST_VALUE_BUFFER * 8),
            Some(FIRST_VALUE_BUFFER * 64)
        ]
    );
    // The ipc result needed exactly one descriptor's bytes, collected as it was
    // waited for.
    assert_eq!(kernel.calls(Call::BlockAndRetire)[0].buffer, Some(4));
    // Waiting and collecting at once offers the first buffer to `blockAndRetire`,
    // then larger ones to `retire`.
    crate::blocking::write_blocking(connection, b"ask").unwrap();
    let event = calls::read(connection).unwrap();
    let before = kernel.log().len();
    assert_eq!(
        crate::results::block_and_retire_as(event, &results::VALUE),
        Ok(value)
    );
    assert_eq!(buffers_offered(&kernel.log()[before..]), GROWING_OFFERS);
}

#[test]
fn a_failed_completion_is_the_error_and_the_event_is_gone() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.allow_advertise("calc");
    let listening = calls::advertise("calc").unwrap();
    kernel.arrive_at(
        2_000,
        super::fake::Arrival {
            service: String::from("calc"),
            user: String::from("bob"),
            messages: Vec::new(),
            hang_up: Some(500),
        },
    );
    let (connection, user) = crate::blocking::import_blocking(listening).unwrap();
    assert_eq!(user, "bob");
    let event = calls::read(connection).unwrap();
    crate::blocking::wait(event).unwrap();
    assert_eq!(retire_as(event, &results::VALUE), Err(Status::Closed));
    assert_eq!(kernel.event_count(), 0);
    // After the hang-up, a read fails at once.
    assert_eq!(calls::read(connection), Err(Status::Closed));
}

#[test]
fn retiring_a_pending_event_says_it_would_block() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let event = calls::beep(kernel.now() + 1_000).unwrap();
    assert_eq!(retire_as(event, &results::NOTHING), Err(Status::WouldBlock));
    assert_eq!(calls::cancel(event), Ok(()));
    assert_eq!(calls::cancel(event), Err(Status::NoSuchObject));
}

#[test]
fn a_kept_vector_collects_values_short_and_long() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let long: Vec<u8> = (0..100_000u32).map(|index| index as u8).collect();
    kernel.offer("echo", 10, |request: &[u8]| Some(request.to_vec()));
    let connection = crate::blocking::ipc_blocking("echo", "", b"first").unwrap();
    let mut kept = Vec::new();
    crate::blocking::read_blocking_into(connection, &mut kept).unwrap();
    assert_eq!(kept, b"first");
    assert_eq!(kept.capacity(), FIRST_VALUE_BUFFER);
    // A long value grows the vector as `block_and_retire_as` grows its buffers.
    crate::blocking::write_blocking(connection, &long).unwrap();
    let before = kernel.log().len();
    crate::blocking::read_blocking_into(connection, &mut kept).unwrap();
    assert_eq!(kept, long);
    assert_eq!(buffers_offered(&kernel.log()[before..]), GROWING_OFFERS);
    // Grown past the first buffer, it lets its memory go; a short value then needs
    // only the first buffer again.
    results::release_if_grown(&mut kept);
    assert_eq!(kept.capacity(), 0);
    crate::blocking::write_blocking(connection, b"short").unwrap();
    crate::blocking::read_blocking_into(connection, &mut kept).unwrap();
    assert_eq!(kept, b"short");
    assert_eq!(kept.capacity(), FIRST_VALUE_BUFFER);
    // A failed read leaves the vector empty.
    crate::calls::close(connection).unwrap();
    assert!(crate::blocking::read_blocking_into(connection, &mut kept).is_err());
    assert!(kept.is_empty());
}

/// The buffers a value too long for the first is offered in: the first, then 8 and
/// 64 times as large.
const GROWING_OFFERS: [(Call, Option<usize>); 3] = [
    (Call::BlockAndRetire, Some(FIRST_VALUE_BUFFER)),
    (Call::Retire, Some(FIRST_VALUE_BUFFER * 8)),
    (Call::Retire, Some(FIRST_VALUE_BUFFER * 64)),
];

/// The calls of `log` that collect a result, with the buffer each offered.
fn buffers_offered(log: &[Logged]) -> Vec<(Call, Option<usize>)> {
    log.iter()
        .filter(|logged| logged.call != Call::Read)
        .map(|logged| (logged.call, logged.buffer))
        .collect()
}
