//! Recognizer throughput against the generated `bincode` decoder on the same bytes,
//! both measured in this run, over a mix of sample messages: small structs, strings,
//! nested tuples, 4 KiB and 1 MiB values. Run with `cargo bench -p ethos-typesys`.
//! Prints GB/s (10^9 bytes per second) per message and for the whole mix, and the
//! ratio recognizer / decoder. It measures; it never fails on time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ethos_typesys::recognizer::{Direction, recognize};
use ethos_typesys::wire::{self, Array};
use ethos_typesys::{TypeHash, validate};
use ethos_typesys_sample::*;
use serde::de::DeserializeOwned;

const MINIMUM_TIME: Duration = Duration::from_millis(300);

struct Message {
    name: &'static str,
    hash: TypeHash,
    bytes: Vec<u8>,
    decode: fn(&[u8]) -> bool,
}

fn decodes<T: DeserializeOwned>(bytes: &[u8]) -> bool {
    black_box(wire::decode::<T>(bytes)).is_ok()
}

fn message<T: serde::Serialize + DeserializeOwned + ethos_typesys::EtnType>(
    name: &'static str,
    value: &T,
) -> Message {
    Message {
        name,
        hash: T::TYPE_HASH,
        bytes: wire::encode(value).expect("sample values encode"),
        decode: decodes::<T>,
    }
}

/// Seconds per call of `run`, over at least [`MINIMUM_TIME`]. Calls run in batches
/// of at least a millisecond, so reading the clock costs nothing measurable.
fn time_per_call(mut run: impl FnMut() -> bool) -> f64 {
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            assert!(run(), "benchmark message rejected");
        }
        if start.elapsed() >= Duration::from_millis(1) {
            break;
        }
        batch *= 2;
    }
    let mut iterations = 0u64;
    let start = Instant::now();
    while start.elapsed() < MINIMUM_TIME {
        for _ in 0..batch {
            assert!(run(), "benchmark message rejected");
        }
        iterations += batch;
    }
    start.elapsed().as_secs_f64() / iterations as f64
}

fn text(length: usize) -> String {
    let pattern = "Ethos types every byte — ηθος ";
    pattern.chars().cycle().take(length).collect()
}

fn tree(depth: u32) -> Tree {
    Tree {
        label: text(12),
        children: if depth == 0 {
            Vec::new()
        } else {
            (0..4).map(|_| tree(depth - 1)).collect()
        },
    }
}

fn main() {
    let graph = type_graph().expect("sample graph is valid");
    let everything = Everything {
        a: -1,
        b: 2,
        c: -3,
        d: 4,
        e: 5,
        f: 6,
        g: 7,
        h: 8,
        i: 1.5,
        j: -2.5,
        k: true,
        l: text(16),
    };
    let polygon = Polygon {
        points: (0..8).map(|x| Point { x, y: -x }).collect(),
        closed: true,
    };
    let matrix = Matrix {
        rows: (0..16)
            .map(|row| (0..16).map(|x| Point { x, y: row }).collect())
            .collect(),
        corners: Array([Some(Box::new(Point { x: 0, y: 0 })), None]),
    };
    let messages = vec![
        message("small struct: Point", &Point { x: 3, y: -4 }),
        message("small struct: Everything", &everything),
        message("small struct: Polygon", &polygon),
        message("string: Label, 64 characters", &Label(text(64))),
        message(
            "strings: Names, 100 × 24 characters",
            &Names((0..100).map(|_| text(24)).collect()),
        ),
        message("nested tuples: Matrix 16 × 16", &matrix),
        message("nested tuples: Tree, 341 nodes", &tree(4)),
        message(
            "4 KiB value: Blob",
            &Blob {
                identifier: 1,
                data: (0..4096).map(|byte| byte as u8).collect(),
            },
        ),
        message(
            "1 MiB value: Blob",
            &Blob {
                identifier: 2,
                data: (0..1 << 20).map(|byte| (byte * 7) as u8).collect(),
            },
        ),
        message("1 MiB value: Label", &Label(text(1 << 19))),
        message("1 MiB value: Words", &Words((0..1 << 18).collect())),
    ];

    println!(
        "{:<38} {:>8} {:>13} {:>13} {:>12} {:>8}",
        "message", "bytes", "validate", "resolved", "decoder", "ratio"
    );
    let mut total_bytes = 0f64;
    let mut total_recognizer = 0f64;
    let mut total_resolved = 0f64;
    let mut total_decoder = 0f64;
    let mut log_ratios = 0f64;
    // `cargo bench -p ethos-typesys -- WORD` measures only messages whose name has WORD.
    let filter = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with('-'));
    let messages: Vec<Message> = messages
        .into_iter()
        .filter(|message| {
            filter
                .as_ref()
                .is_none_or(|word| message.name.contains(word.as_str()))
        })
        .collect();
    for message in &messages {
        let bytes = message.bytes.as_slice();
        let recognizer = time_per_call(|| {
            validate(
                black_box(&graph),
                black_box(&message.hash),
                black_box(bytes),
            )
            .is_ok()
        });
        // The kernel looks a directory's or connection's type up once, then checks
        // every message against the node it found.
        let node = graph.find(&message.hash).expect("sample type in graph");
        let resolved = time_per_call(|| {
            recognize(
                black_box(&graph),
                black_box(node),
                Direction::Request,
                black_box(bytes),
            )
            .is_ok()
        });
        let decoder = time_per_call(|| (message.decode)(black_box(bytes)));
        let length = bytes.len() as f64;
        println!(
            "{:<38} {:>8} {:>8.2} GB/s {:>8.2} GB/s {:>7.2} GB/s {:>7.1}×",
            message.name,
            bytes.len(),
            length / recognizer / 1e9,
            length / resolved / 1e9,
            length / decoder / 1e9,
            decoder / recognizer
        );
        total_bytes += length;
        total_recognizer += recognizer;
        total_resolved += resolved;
        total_decoder += decoder;
        log_ratios += (decoder / recognizer).ln();
    }
    println!(
        "{:<38} {:>8} {:>8.2} GB/s {:>8.2} GB/s {:>7.2} GB/s {:>7.1}×",
        "mix (each message once)",
        total_bytes as u64,
        total_bytes / total_recognizer / 1e9,
        total_bytes / total_resolved / 1e9,
        total_bytes / total_decoder / 1e9,
        total_decoder / total_recognizer
    );
    println!(
        "geometric mean of the per-message ratios (validate / decoder): {:.1}×",
        (log_ratios / messages.len() as f64).exp()
    );
    println!(
        "ratio = decoder time / validate time on the same bytes; \"resolved\" skips the hash lookup"
    );
}
