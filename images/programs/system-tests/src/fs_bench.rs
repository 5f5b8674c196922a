//! `fs-bench` (alice): how fast the typed file system writes, makes and reads
//! files, timed by the program (`cargo xtask bench fs`, which sets a Linux guest
//! doing the same on ext4 beside it).
//!
//! In the directory `bench` (label `fs-bench`, type `Chunk`) it times, each call on
//! its own with `getTime`:
//! - [`SAMPLES`] `writeVar`s of a [`SMALL_VALUE`]-byte value, replacing
//!   [`REPLACED_FILES`] files in turn (made beforehand, untimed);
//! - [`SAMPLES`] creates: `writeVar`s of the same size to new names;
//! - [`SAMPLES`] `readVar`s of those new files, in the order they were made;
//! - [`LARGE_SAMPLES`] `writeVar`s of a [`LARGE_VALUE`]-byte value replacing two
//!   files in turn, then as many `readVar`s of them.
//!
//! Sizes are those of the encoded value, what the store keeps and what the Linux
//! guest writes. `writeVar` answers only once the value is durable (the store
//! flushes the device after the value's blocks and again after its superblock), and
//! `readVar` reads the value from the disk each time (the store keeps directories in
//! memory, never values). Each read goes into one buffer made once, of the largest
//! value's size, as a C program reads into its buffer, and is checked after its
//! time is taken. The program prints one line, each figure the median over its
//! samples in nanoseconds:
//! `fs-bench write_small_ns=<n> create_small_ns=<n> read_small_ns=<n>
//! write_large_ns=<n> read_large_ns=<n> small_bytes=<n> large_bytes=<n> samples=<n>
//! large_samples=<n>`. Benchmarks never fail on time.
//!
//! A program's heap is [`ethos_compat::runtime::HEAP_BYTES`] (1 MiB) unless it asks
//! for more; this one holds a large value written and one read back at once, so its
//! entry asks for [`HEAP_BYTES`].
//!
//! Exit statuses: 0 measured; 1 a value read back differed from the one written; 2
//! a call failed; 3 `getTime` failed.

use alloc::format;
use alloc::vec::Vec;

use ethos_abi::Status;
use ethos_compat::{
    Descriptor, block_and_retire_into, create_directory, get_time, open_directory, println,
    read_var, write_var_blocking,
};
use ethos_typesys::wire;

use crate::file_types::Chunk;

/// Timed calls of each small kind.
pub const SAMPLES: usize = 200;
/// Timed writes and reads of the large value.
pub const LARGE_SAMPLES: usize = 8;
/// The small value's encoded size: a page.
pub const SMALL_VALUE: usize = 4096;
/// The large value's encoded size: a MiB.
pub const LARGE_VALUE: usize = 1 << 20;
/// The files the small writes replace in turn.
pub const REPLACED_FILES: usize = 4;
/// The program's heap: a large value written and one read back, with room to spare.
pub const HEAP_BYTES: usize = 4 << 20;

/// What the program prints its figures after (the kernel adds `user <name>: `).
pub const FIGURES_PREFIX: &str = "fs-bench ";

/// The bytes of a `Chunk`'s encoding besides its data: the sequence number and the
/// data's length.
const CHUNK_OVERHEAD: usize = 16;

/// Exit statuses.
pub mod status {
    /// A value read back differed from the one written.
    pub const MISMATCH: i32 = 1;
    /// A call failed.
    pub const CALL: i32 = 2;
    /// `getTime` failed.
    pub const CLOCK: i32 = 3;
}

const NAME: &str = "fs-bench";

fn call<T>(what: &str, answer: Result<T, Status>) -> Result<T, i32> {
    answer.map_err(|status| {
        println!("{NAME}: {what} failed: {status:?}");
        status::CALL
    })
}

fn now() -> Result<u64, i32> {
    get_time().map_err(|status| {
        println!("{NAME}: getTime failed: {status:?}");
        status::CLOCK
    })
}

/// The encoded `Chunk` of `encoded_size` bytes with sequence number `sequence`.
fn value(sequence: u64, encoded_size: usize) -> Vec<u8> {
    let data = (0..encoded_size.saturating_sub(CHUNK_OVERHEAD))
        .map(|index| (sequence as usize ^ index.wrapping_mul(13)) as u8)
        .collect();
    // A `Chunk` always encodes.
    wire::encode(&Chunk { sequence, data }).unwrap_or_default()
}

/// The median time of `samples` calls of `operation` (given the sample's index).
fn median_of(
    samples: usize,
    mut operation: impl FnMut(usize) -> Result<(), i32>,
) -> Result<u64, i32> {
    let mut times = Vec::with_capacity(samples);
    for index in 0..samples {
        let start = now()?;
        operation(index)?;
        times.push(now()?.saturating_sub(start));
    }
    times.sort_unstable();
    times.get(samples / 2).copied().ok_or(status::CLOCK)
}

/// `readVar` of `name` into `buffer` (emptied first, its capacity kept).
fn read_into(directory: Descriptor, name: &str, buffer: &mut Vec<u8>) -> Result<(), Status> {
    buffer.clear();
    let event = read_var(directory, name)?;
    loop {
        match block_and_retire_into(event, buffer) {
            Ok(_) => return Ok(()),
            Err(Status::WouldBlock) => core::hint::spin_loop(),
            Err(status) => return Err(status),
        }
    }
}

/// The benchmark's directory, made on first use.
fn bench_directory() -> Result<Descriptor, i32> {
    match open_directory(Descriptor::ROOT_DIRECTORY, "bench") {
        Ok(directory) => Ok(directory),
        Err(Status::NoSuchObject) => {
            call(
                "creating bench",
                create_directory(
                    Descriptor::ROOT_DIRECTORY,
                    "bench",
                    "fs-bench",
                    &Chunk::TYPE_HASH,
                ),
            )?;
            call(
                "opening bench",
                open_directory(Descriptor::ROOT_DIRECTORY, "bench"),
            )
        }
        Err(status) => call("opening bench", Err(status)),
    }
}

/// `fs-bench`.
pub fn bench() -> i32 {
    match measure() {
        Ok(()) => 0,
        Err(status) => status,
    }
}

fn measure() -> Result<(), i32> {
    let directory = bench_directory()?;
    let small = value(1, SMALL_VALUE);
    let large = value(2, LARGE_VALUE);
    if small.len() != SMALL_VALUE || large.len() != LARGE_VALUE {
        println!(
            "{NAME}: the values encode to {} and {} bytes, not {SMALL_VALUE} and {LARGE_VALUE}",
            small.len(),
            large.len()
        );
        return Err(status::MISMATCH);
    }
    for index in 0..REPLACED_FILES {
        call(
            "writing a file to replace",
            write_var_blocking(directory, &format!("replaced-{index}"), &small),
        )?;
    }
    let replaced_names: Vec<_> = (0..REPLACED_FILES)
        .map(|index| format!("replaced-{index}"))
        .collect();
    let created_names: Vec<_> = (0..SAMPLES)
        .map(|index| format!("created-{index:04}"))
        .collect();
    let write_small = median_of(SAMPLES, |index| {
        call(
            "replacing a small file",
            write_var_blocking(directory, &replaced_names[index % REPLACED_FILES], &small),
        )
    })?;
    let create_small = median_of(SAMPLES, |index| {
        call(
            "making a small file",
            write_var_blocking(directory, &created_names[index], &small),
        )
    })?;
    let mut buffer = Vec::with_capacity(LARGE_VALUE);
    let mut differed = false;
    let read_small = median_of(SAMPLES, |index| {
        call(
            "reading a small file",
            read_into(directory, &created_names[index], &mut buffer),
        )?;
        differed |= buffer != small;
        Ok(())
    })?;
    let large_names = ["large-0", "large-1"];
    let write_large = median_of(LARGE_SAMPLES, |index| {
        call(
            "replacing a large file",
            write_var_blocking(directory, large_names[index % 2], &large),
        )
    })?;
    let read_large = median_of(LARGE_SAMPLES, |index| {
        call(
            "reading a large file",
            read_into(directory, large_names[index % 2], &mut buffer),
        )?;
        differed |= buffer != large;
        Ok(())
    })?;
    if differed {
        println!("{NAME}: a value read back differed from the one written");
        return Err(status::MISMATCH);
    }
    println!(
        "{FIGURES_PREFIX}write_small_ns={write_small} create_small_ns={create_small} \
         read_small_ns={read_small} write_large_ns={write_large} read_large_ns={read_large} \
         small_bytes={SMALL_VALUE} large_bytes={LARGE_VALUE} samples={SAMPLES} \
         large_samples={LARGE_SAMPLES}"
    );
    Ok(())
}
