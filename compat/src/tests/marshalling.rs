//! Every call's arguments against the ABI, register lowering, answer decoding.

extern crate std;

use alloc::collections::BTreeSet;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use ethos_abi::arguments::{MAXIMUM_BLOCK_EVENTS, MAXIMUM_FD_SEND};
use ethos_abi::{Call, DescriptorRights, ProcessId, Status};
use ethos_typesys::TypeHash;

use super::fake::FakeKernel;
use crate::calls::{self, Forked};
use crate::handles::{Descriptor, Event};
use crate::host::{self, Exited};
use crate::kernel::{Argument, Kernel, RawAnswer, registers};

const CONNECTION: Descriptor = Descriptor::from_number(9);

/// Makes every call once, with plausible arguments; the fake checks each one's layout.
fn every_call() {
    let event = Event::from_id(3);
    let _ = calls::advertise("calc");
    let _ = calls::import(CONNECTION);
    let _ = calls::ipc("calc", "", b"first");
    let _ = calls::read(CONNECTION);
    let _ = calls::write(CONNECTION, b"value");
    let _ = calls::peek(CONNECTION);
    let _ = calls::read_var(Descriptor::ROOT_DIRECTORY, "file");
    let _ = calls::write_var(Descriptor::ROOT_DIRECTORY, "file", b"contents");
    let _ = calls::create_directory(
        Descriptor::ROOT_DIRECTORY,
        "directory",
        "label",
        &TypeHash([7; 64]),
    );
    let _ = calls::open_directory(Descriptor::ROOT_DIRECTORY, "directory");
    let _ = calls::get_next_name(Descriptor::ROOT_DIRECTORY, "");
    let _ = calls::file_information(Descriptor::ROOT_DIRECTORY, "file", &mut [0; 32]);
    let _ = calls::remove_directory_or_file(Descriptor::ROOT_DIRECTORY, "file");
    let _ = calls::fd_send(&[CONNECTION], "carol", "desk-worker");
    let _ = calls::fd_receive();
    let _ = calls::close(CONNECTION);
    let _ = calls::copy_fd(CONNECTION, DescriptorRights::READ);
    let _ = calls::fork();
    let _ = calls::exec(Descriptor::ROOT_DIRECTORY, "hello");
    let _ = calls::kill(ProcessId(5));
    let _ = calls::get_pid();
    let _ = calls::get_user();
    let _ = calls::get_time();
    let _ = calls::beep(10);
    let _ = calls::random(8);
    let _ = calls::print("text");
    let _ = calls::block(&[event]);
    let _ = calls::retire(event, &mut [0; 8]);
    let _ = calls::cancel(event);
    let _ = calls::sign(b"value");
    let _ = calls::authenticate(&[1; 32], b"value", &[2; 64]);
    let _ = calls::block_and_retire(event, &mut [0; 8]);
    let _ = calls::sign_file(Descriptor::ROOT_DIRECTORY, "file");
    let _ = calls::write_read(CONNECTION, b"value", &mut [0; 8]);
    let _ = calls::print_unchecked(0x10_0000, 16);
    // SAFETY: the fake kernel answers `NotSupported` for a `getUser` into an unchecked
    // range and writes nothing.
    let _ = unsafe { calls::get_user_unchecked(0x10_0000, 16) };
    calls::exit(-2);
}

#[test]
fn every_call_follows_the_abi_layout() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let unwound = std::panic::catch_unwind(every_call).expect_err("exit ends the program");
    assert_eq!(unwound.downcast_ref::<Exited>(), Some(&Exited(-2)));
    let made: BTreeSet<Call> = kernel.log().iter().map(|logged| logged.call).collect();
    let all: BTreeSet<Call> = Call::ALL.into_iter().collect();
    assert_eq!(made, all, "every call has its function");
}

/// Records the lowered registers of each call and answers a fixed value.
struct Recorder {
    value: u64,
    calls: RefCell<Vec<(Call, [u64; 6])>>,
    writes: &'static [u8],
}

impl Kernel for Recorder {
    fn system_call(&self, call: Call, arguments: &mut [Argument<'_>]) -> RawAnswer {
        let words = registers(arguments).expect("at most six registers");
        for argument in arguments.iter_mut() {
            if let Argument::Buffer(buffer) = argument {
                let length = self.writes.len().min(buffer.len());
                buffer[..length].copy_from_slice(&self.writes[..length]);
            }
        }
        self.calls.borrow_mut().push((call, words));
        RawAnswer::ok(self.value)
    }
}

fn recorder(value: u64, writes: &'static [u8]) -> Rc<Recorder> {
    Rc::new(Recorder {
        value,
        calls: RefCell::new(Vec::new()),
        writes,
    })
}

#[test]
fn registers_hold_addresses_lengths_and_counts() {
    let name = "calc";
    let value = [1u8, 2, 3];
    let numbers = [5u32, 6, 7];
    let ids = [1u64, 2];
    let mut buffer = [0u8; 16];
    let buffer_address = buffer.as_ptr() as u64;
    let words = registers(&mut [
        Argument::Name(name),
        Argument::Value(&value),
        Argument::Buffer(&mut buffer),
    ])
    .unwrap();
    assert_eq!(
        words,
        [
            name.as_ptr() as u64,
            4,
            value.as_ptr() as u64,
            3,
            buffer_address,
            16
        ]
    );
    // Descriptor and event arrays are counted in elements, not bytes.
    let words = registers(&mut [Argument::Descriptors(&numbers), Argument::Events(&ids)]).unwrap();
    assert_eq!(
        words,
        [numbers.as_ptr() as u64, 3, ids.as_ptr() as u64, 2, 0, 0]
    );
    let hash = [9u8; 64];
    let words = registers(&mut [
        Argument::Descriptor(Descriptor::from_number(12)),
        Argument::Rights(DescriptorRights::READ | DescriptorRights::WRITE),
        Argument::TypeHash(&hash),
        Argument::Event(Event::from_id(44)),
        Argument::Time(55),
        Argument::Process(ProcessId(66)),
    ])
    .unwrap();
    assert_eq!(words, [12, 0b11, hash.as_ptr() as u64, 44, 55, 66]);
    // An exit status is the low 32 bits, as the kernel reads it back as an i32.
    let words = registers(&mut [Argument::ExitStatus(-1)]).unwrap();
    assert_eq!(words[0], 0xffff_ffff);
    let words = registers(&mut [Argument::UncheckedValue {
        address: 0x10_0000,
        length: 16,
    }])
    .unwrap();
    assert_eq!(words[..2], [0x10_0000, 16]);
    // An empty name is address-and-zero; the kernel needs no valid address for it.
    let words = registers(&mut [Argument::Name("")]).unwrap();
    assert_eq!(words[1], 0);
}

#[test]
fn more_than_six_registers_are_refused() {
    let result = registers(&mut [
        Argument::Name("a"),
        Argument::Name("b"),
        Argument::Name("c"),
        Argument::Size(1),
    ]);
    assert_eq!(result, Err(Status::InvalidArgument));
}

#[test]
fn answers_decode_status_and_value() {
    assert_eq!(RawAnswer::ok(42).result(), Ok(42));
    assert_eq!(
        RawAnswer::failed(Status::Closed).result(),
        Err(Status::Closed)
    );
    // A code this library does not know comes from a newer kernel.
    assert_eq!(
        RawAnswer {
            status: 999,
            value: 1
        }
        .result(),
        Err(Status::NotSupported)
    );
}

#[test]
fn without_a_kernel_every_call_is_not_supported() {
    assert_eq!(calls::get_pid(), Err(Status::NotSupported));
    assert_eq!(calls::print("nobody hears"), Err(Status::NotSupported));
}

#[test]
fn values_become_typed_results() {
    let kernel = recorder(0, b"");
    let installed = host::install(kernel.clone());
    assert_eq!(calls::fork(), Ok(Forked::Child));
    drop(installed);
    let kernel = recorder(31, b"");
    let _installed = host::install(kernel.clone());
    assert_eq!(
        calls::fork(),
        Ok(Forked::Parent {
            child: ProcessId(31)
        })
    );
    assert_eq!(calls::get_pid(), Ok(ProcessId(31)));
    assert_eq!(calls::get_time(), Ok(31));
    assert_eq!(calls::advertise("calc"), Ok(Descriptor::from_number(31)));
    assert_eq!(calls::read(CONNECTION), Ok(Event::from_id(31)));
    assert_eq!(calls::block(&[Event::from_id(2)]), Ok(Event::from_id(31)));
    // `exec` answering success would be a kernel that came back: an error all the same.
    assert_eq!(
        calls::exec(Descriptor::ROOT_DIRECTORY, "hello"),
        Err(Status::NotSupported)
    );
    let recorded = kernel.calls.borrow();
    let (call, words) = recorded.last().unwrap();
    assert_eq!(*call, Call::Exec);
    assert_eq!(words[0], 1, "the root directory is descriptor 1");
    assert_eq!(words[2], 5);
}

#[test]
fn names_written_by_the_kernel_are_read_back() {
    let kernel = recorder(5, b"alice and more");
    let _installed = host::install(kernel);
    assert_eq!(calls::get_user().as_deref(), Ok("alice"));
    assert_eq!(
        calls::get_next_name(Descriptor::ROOT_DIRECTORY, "").as_deref(),
        Ok("alice")
    );
    let mut buffer = [0; 3];
    // A length past the buffer is a kernel breaking the contract.
    assert_eq!(
        calls::file_information(Descriptor::ROOT_DIRECTORY, "f", &mut buffer),
        Err(crate::results::MALFORMED_RESULT)
    );
}

#[test]
fn results_past_the_contract_are_malformed() {
    let kernel = recorder(1 << 40, b"");
    let _installed = host::install(kernel);
    assert_eq!(
        calls::advertise("calc"),
        Err(crate::results::MALFORMED_RESULT)
    );
    assert_eq!(calls::get_user(), Err(crate::results::MALFORMED_RESULT));
    let kernel = recorder(2, &[0xff, 0xfe]);
    let _installed = host::install(kernel);
    assert_eq!(calls::get_user(), Err(crate::results::MALFORMED_RESULT));
}

#[test]
fn arrays_past_their_limits_never_reach_the_kernel() {
    let kernel = recorder(0, b"");
    let _installed = host::install(kernel.clone());
    let events: Vec<Event> = (1..=MAXIMUM_BLOCK_EVENTS + 1).map(Event::from_id).collect();
    assert_eq!(calls::block(&events), Err(Status::InvalidArgument));
    let descriptors = vec![CONNECTION; MAXIMUM_FD_SEND as usize + 1];
    assert_eq!(
        calls::fd_send(&descriptors, "carol", "desk-worker"),
        Err(Status::InvalidArgument)
    );
    assert!(kernel.calls.borrow().is_empty());
    // At the limits they do.
    let events: Vec<Event> = (1..=MAXIMUM_BLOCK_EVENTS).map(Event::from_id).collect();
    assert_eq!(calls::block(&events), Ok(Event::from_id(0)));
    let descriptors = vec![CONNECTION; MAXIMUM_FD_SEND as usize];
    assert_eq!(calls::fd_send(&descriptors, "carol", "desk-worker"), Ok(()));
    let recorded = kernel.calls.borrow();
    assert_eq!(recorded[0].1[1], MAXIMUM_BLOCK_EVENTS);
    assert_eq!(recorded[1].1[1], MAXIMUM_FD_SEND);
}

#[test]
fn installing_nests_and_restores() {
    let outer = recorder(1, b"");
    let inner = recorder(2, b"");
    let _outer = host::install(outer);
    assert_eq!(calls::get_time(), Ok(1));
    {
        let _inner = host::install(inner);
        assert_eq!(calls::get_time(), Ok(2));
    }
    assert_eq!(calls::get_time(), Ok(1));
}
