//! The recognizer against the generated `bincode` decoder on the same bytes, both
//! measured in this run, over a mix of sample messages: small structs, strings, nested
//! tuples, 4 KiB and 1 MiB values. Run with `cargo bench -p ethos-typesys`.
//! Prints per message the time per value of `validate`, of `recognize` on a type
//! looked up once, and of the decoder, their ratio, and the recognizer's throughput in
//! GB/s (10^9 bytes per second), except for values whose check reads only lengths
//! (`TypeGraph::is_length_only`), whose time does not grow with their size: for
//! those it says so. It measures; it never fails on time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ethos_typesys::recognizer::{Direction, recognize};
use ethos_typesys::wire::{self, Array};
use ethos_typesys::{TypeHash, validate};
use ethos_typesys_sample::*;
use serde::de::DeserializeOwned;

/// How long each message is measured, its three checks taking turns.
const MESSAGE_TIME: Duration = Duration::from_millis(400);
/// The length of one timed batch of calls: short enough that most batches run without
/// the scheduler giving the core to other work, long enough that reading the clock
/// costs nothing measurable.
const BATCH_TIME: Duration = Duration::from_micros(25);

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

/// How many calls of `run` take about [`BATCH_TIME`] (at least one), once `run` is
/// warm: its first calls may fault in pages or detect processor features, and a batch
/// sized on them would be too short for the clock.
fn batch_size(run: &mut impl FnMut() -> bool) -> u64 {
    let warm_up = Instant::now();
    while warm_up.elapsed() < 10 * BATCH_TIME {
        assert!(run(), "benchmark message rejected");
    }
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            assert!(run(), "benchmark message rejected");
        }
        if start.elapsed() >= BATCH_TIME {
            return batch;
        }
        batch *= 2;
    }
}

/// Seconds per call of one batch of `batch` calls of `run`.
fn time_batch(run: &mut impl FnMut() -> bool, batch: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        assert!(run(), "benchmark message rejected");
    }
    start.elapsed().as_secs_f64() / batch as f64
}

/// Seconds per call of `validate`, `resolved` and `decoder`: they take turns, one batch
/// each, for [`MESSAGE_TIME`], and each keeps its fastest batch. On a machine shared
/// with other work, a batch the scheduler interrupts is slow and is not kept; taking
/// turns exposes the three to the same conditions, so their ratios hold. Each is its
/// own type, so no call goes through a pointer.
fn times_per_call(
    mut validate: impl FnMut() -> bool,
    mut resolved: impl FnMut() -> bool,
    mut decoder: impl FnMut() -> bool,
) -> [f64; 3] {
    let batches = [
        batch_size(&mut validate),
        batch_size(&mut resolved),
        batch_size(&mut decoder),
    ];
    let mut best = [f64::INFINITY; 3];
    let start = Instant::now();
    while start.elapsed() < MESSAGE_TIME {
        best[0] = best[0].min(time_batch(&mut validate, batches[0]));
        best[1] = best[1].min(time_batch(&mut resolved, batches[1]));
        best[2] = best[2].min(time_batch(&mut decoder, batches[2]));
    }
    best
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
        "{:<38} {:>8} {:>10} {:>10} {:>10} {:>8}  validate throughput",
        "message", "bytes", "validate", "resolved", "decoder", "ratio"
    );
    let mut total_bytes = 0f64;
    let mut total_recognizer = 0f64;
    let mut total_resolved = 0f64;
    let mut total_decoder = 0f64;
    let mut log_ratios = 0f64;
    let mut checked_bytes = 0f64;
    let mut checked_time = 0f64;
    let mut smallest_ratio = f64::INFINITY;
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
        // The kernel looks a directory's or connection's type up once, then checks
        // every message against the node it found.
        let node = graph.find(&message.hash).expect("sample type in graph");
        let hash = message.hash;
        let [recognizer, resolved, decoder] = times_per_call(
            || validate(black_box(&graph), black_box(&hash), black_box(bytes)).is_ok(),
            || {
                recognize(
                    black_box(&graph),
                    black_box(node),
                    Direction::Request,
                    black_box(bytes),
                )
                .is_ok()
            },
            || (message.decode)(black_box(bytes)),
        );
        let length = bytes.len() as f64;
        // A check that reads only lengths takes the same time for any size: its
        // throughput would say nothing.
        let throughput = if graph.is_length_only(node) {
            format!("no check needed: length only, {:.1} ns", recognizer * 1e9)
        } else {
            checked_bytes += length;
            checked_time += recognizer;
            format!("{:.2} GB/s", length / recognizer / 1e9)
        };
        println!(
            "{:<38} {:>8} {:>7.1} ns {:>7.1} ns {:>7.1} ns {:>7.1}×  {}",
            message.name,
            bytes.len(),
            recognizer * 1e9,
            resolved * 1e9,
            decoder * 1e9,
            decoder / recognizer,
            throughput
        );
        total_bytes += length;
        total_recognizer += recognizer;
        total_resolved += resolved;
        total_decoder += decoder;
        log_ratios += (decoder / recognizer).ln();
        smallest_ratio = smallest_ratio.min(decoder / recognizer);
    }
    let checked_throughput = if checked_time > 0.0 {
        format!(
            "{:.2} GB/s over the checked messages",
            checked_bytes / checked_time / 1e9
        )
    } else {
        "no check needed: length only".to_string()
    };
    println!(
        "{:<38} {:>8} {:>7.1} µs {:>7.1} µs {:>7.1} µs {:>7.1}×  {}",
        "mix (each message once)",
        total_bytes as u64,
        total_recognizer * 1e6,
        total_resolved * 1e6,
        total_decoder * 1e6,
        total_decoder / total_recognizer,
        checked_throughput,
    );
    println!(
        "per-message ratios (decoder / validate): smallest {:.1}×, geometric mean {:.1}×",
        smallest_ratio,
        (log_ratios / messages.len() as f64).exp()
    );
    println!(
        "times per value, the fastest of many short batches; ratio = decoder time / validate time on the same bytes; \"resolved\" skips the hash lookup"
    );
}
