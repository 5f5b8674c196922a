//! Typed channels, the RPC transport under generated client stubs, and serving
//! requests through generated dispatch.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use ethos_abi::{Call, Status};
use ethos_typesys::rpc::RpcError;
use ethos_typesys_sample::{
    CounterClient, CounterDescribeReply, CounterIncrementReply, CounterRequest, CounterResetReply,
    CounterServer, Label, Point, Shape, serve_counter, serve_counter_into,
};

use super::fake::{Arrival, FakeKernel};
use crate::typed::{
    Channel, RpcConnection, Served, TypedConnection, TypedError, serve_one, serve_one_into,
};
use crate::{calls, ipc_blocking};

/// A counter as the generated server trait wants it.
#[derive(Default)]
struct Counter {
    count: u64,
}

impl CounterServer for Counter {
    fn increment(&mut self, by: u64) -> CounterIncrementReply {
        self.count += by;
        CounterIncrementReply { count: self.count }
    }

    fn describe(&mut self, _shape: Shape, label: Option<Box<Label>>) -> CounterDescribeReply {
        CounterDescribeReply {
            text: label.map(|label| label.0).unwrap_or_default(),
            area: 0.0,
        }
    }

    fn reset(&mut self) -> CounterResetReply {
        self.count = 0;
        CounterResetReply {}
    }
}

/// Offers `counter` as a service answering through the generated dispatch.
fn offer_counter(kernel: &FakeKernel) {
    let server = Rc::new(RefCell::new(Counter::default()));
    kernel.offer("counter", 1_000, move |request| {
        serve_counter(&mut *server.borrow_mut(), request).ok()
    });
}

/// A client of `counter`, offered on `kernel` (installed) and connected to.
fn counter_client(kernel: &FakeKernel) -> CounterClient<RpcConnection> {
    offer_counter(kernel);
    let connection = ipc_blocking("counter", "", &[]).unwrap();
    CounterClient {
        transport: RpcConnection::new(connection),
    }
}

#[test]
fn generated_client_stubs_call_through_a_connection() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let mut client = counter_client(&kernel);
    assert_eq!(client.increment(2).unwrap().count, 2);
    assert_eq!(client.increment(40).unwrap().count, 42);
    let described = client
        .describe(
            Shape::Nothing(ethos_typesys_sample::Empty {}),
            Some(Box::new(Label("box".to_string()))),
        )
        .unwrap();
    assert_eq!(described.text, "box");
    client.reset().unwrap();
    assert_eq!(client.increment(1).unwrap().count, 1);
    // Each call is one writeRead: its request goes and its reply comes in one call.
    assert_eq!(kernel.calls(Call::WriteRead).len(), 5);
    assert!(kernel.calls(Call::Write).is_empty());
    assert!(kernel.calls(Call::Read).is_empty());
}

#[test]
fn a_refused_call_is_a_transport_error() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let mut client = counter_client(&kernel);
    kernel.force(Call::WriteRead, &[Status::InvalidType]);
    assert!(matches!(
        client.increment(1),
        Err(RpcError::Transport(Status::InvalidType))
    ));
}

/// A reply longer than the vector a client keeps is kept by the kernel, and
/// collected with `retire` into a larger one; a full inbox is waited out.
#[test]
fn a_long_reply_is_collected_after_write_read_keeps_it() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    let mut client = counter_client(&kernel);
    let long = "x".repeat(crate::results::FIRST_VALUE_BUFFER + 10);
    let described = client
        .describe(
            Shape::Nothing(ethos_typesys_sample::Empty {}),
            Some(Box::new(Label(long.clone()))),
        )
        .unwrap();
    assert_eq!(described.text, long);
    let kept = kernel.calls(Call::WriteRead);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].answer, Err(Status::BufferTooSmall));
    assert_eq!(kernel.calls(Call::Retire).len(), 1);
    kernel.force(Call::WriteRead, &[Status::WouldBlock]);
    assert_eq!(client.increment(3).unwrap().count, 3);
    assert_eq!(kernel.calls(Call::WriteRead).len(), 3);
}

#[test]
fn a_reply_of_another_type_is_a_wire_error() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.offer("liar", 10, |_| Some(alloc::vec![0xff; 3]));
    let connection = ipc_blocking("liar", "", &[]).unwrap();
    let mut client = CounterClient {
        transport: RpcConnection::new(connection),
    };
    assert!(matches!(client.increment(1), Err(RpcError::Wire(_))));
}

#[test]
fn typed_connections_carry_values_both_ways() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.offer("mirror", 10, |request| {
        let point: Point = crate::typed::decode(request).ok()?;
        crate::typed::encode(&Point {
            x: point.y,
            y: point.x,
        })
        .ok()
    });
    let channel: TypedConnection<Point> = Channel::new(ipc_blocking("mirror", "", &[]).unwrap());
    channel.send(&Point { x: 1, y: -2 }).unwrap();
    assert_eq!(channel.receive().unwrap(), Point { x: -2, y: 1 });
    channel.try_send(&Point { x: 3, y: 4 }).unwrap();
    let received = crate::future::block_on(channel.receive_async()).unwrap();
    assert_eq!(received, Point { x: 4, y: 3 });
    let descriptor = channel.descriptor();
    channel.close().unwrap();
    assert!(!kernel.is_open(descriptor.number()));
}

#[test]
fn bytes_of_another_type_are_malformed_not_a_panic() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.offer("noise", 10, |_| Some(alloc::vec![1, 2, 3]));
    let channel: TypedConnection<Point> = Channel::new(ipc_blocking("noise", "", &[]).unwrap());
    channel.send(&Point { x: 0, y: 0 }).unwrap();
    let error = channel.receive().unwrap_err();
    assert!(matches!(error, TypedError::Malformed(_)));
    assert!(error.to_string().starts_with("malformed value"));
    assert_eq!(
        TypedError::from(Status::Closed).to_string(),
        "the kernel refused: the peer closed the connection"
    );
}

#[test]
fn a_server_answers_requests_through_generated_dispatch() {
    let kernel = FakeKernel::new();
    let _installed = kernel.install();
    kernel.allow_advertise("counter");
    let request = |by| {
        crate::typed::encode(&CounterRequest::Increment(
            ethos_typesys_sample::CounterIncrement { by },
        ))
        .unwrap()
    };
    kernel.arrive_at(
        10_000,
        Arrival {
            service: String::from("counter"),
            user: String::from("bob"),
            messages: alloc::vec![(10, request(5)), (20, alloc::vec![9, 9]), (30, request(6))],
            hang_up: Some(40),
        },
    );
    let listening = calls::advertise("counter").unwrap();
    let (connection, user) = crate::import_blocking(listening).unwrap();
    assert_eq!(user, "bob");
    let mut counter = Counter::default();
    let mut answered = 0;
    let mut malformed = 0;
    // Requests are answered in turn with a new reply vector and with a kept one.
    let mut kept = Vec::new();
    loop {
        let served = |bytes: &[u8], kept: &mut Vec<u8>, counter: &mut Counter| {
            if (answered + malformed) % 2 == 0 {
                serve_one(connection, counter, serve_counter, bytes)
            } else {
                serve_one_into(connection, counter, serve_counter_into, bytes, kept)
            }
        };
        match crate::read_blocking(connection) {
            Ok(bytes) => match served(&bytes, &mut kept, &mut counter) {
                Ok(Served::Answered) => answered += 1,
                Ok(Served::Malformed(_)) => malformed += 1,
                Err(status) => panic!("serving failed: {status}"),
            },
            Err(Status::Closed) => break,
            Err(status) => panic!("reading failed: {status}"),
        }
    }
    assert_eq!((answered, malformed), (2, 1));
    let replies: Vec<CounterIncrementReply> = kernel
        .written(connection.number())
        .iter()
        .map(|bytes| match crate::typed::decode(bytes).unwrap() {
            ethos_typesys_sample::CounterReply::Increment(reply) => reply,
            other => panic!("unexpected reply {other:?}"),
        })
        .collect();
    assert_eq!(
        replies,
        [
            CounterIncrementReply { count: 5 },
            CounterIncrementReply { count: 11 }
        ]
    );
}
