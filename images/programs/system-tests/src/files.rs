//! The typed file system from programs: values that persist across boots, the
//! kernel's type and policy checks on every call, power cuts, a full disk and a
//! failing one.
//!
//! The disk's root directory carries the label `files` and the type `Note`
//! (`images/boot/types/files.etn`). The programs and the lines they print:
//!
//! - `fs-write` (alice): makes `notes` (`Note`) and `chunks` (`Chunk`), writes
//!   [`NOTES`] notes and [`CHUNK_SIZES`] chunks, and checks the refusals: an
//!   ill-typed value (`InvalidType`, the file unchanged), a name that is taken, a
//!   directory that is not empty, a removed file that is gone; `getNextName` lists
//!   every note in order and `fileInformation` gives each size, type and label.
//!   Prints `fs-write: wrote 20 notes and 3 chunks`.
//! - `fs-peek` (carol, beside `fs-write`): may look in the root but not in `notes`:
//!   her reads, writes and creates there are refused with `NotAuthorized`. Prints
//!   `fs-peek: every access refused`.
//! - `fs-read` (alice, on the next boot): every note and chunk is as `fs-write`
//!   wrote it; running `fs-read`, alice may not write in `notes` (the policy names
//!   `fs-write`). Prints `fs-read: 20 notes and 3 chunks as written`.
//! - `fs-churn` (alice): first checks every slot of `churn` (see [`verify_slots`]),
//!   printing `fs-churn: verified 8 slots, newest N`, then writes slot after slot
//!   forever, printing `fs-churn: durable N` after each `writeVar` of sequence
//!   number N returned. A power cut may come at any moment.
//! - `fs-verify` (alice): the same check, then ends: `fs-verify: verified 8 slots,
//!   newest N`.
//! - `fs-fill` (alice): writes values of [`FILL_VALUE`] bytes until the disk is
//!   full, checks that every one written is intact, removes one and writes again:
//!   `fs-fill: full after K values, every one intact, a write after a removal
//!   succeeded`.
//! - `fs-faults` (alice, on a disk whose first write and whose first read after
//!   the first flush fail): each failure surfaces as `StorageFailed`, the retry
//!   succeeds and the value is intact: `fs-faults: a failed write and a failed read
//!   each answered StorageFailed; the store is intact`.
//!
//! Exit statuses: 0 every check passed; 1 a check failed (the line says which); 2 a
//! call failed with a status no check expects.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use ethos_abi::Status;
use ethos_compat::{
    Descriptor, create_directory, file_information, get_next_name, open_directory, println,
    read_var_blocking, remove_directory_or_file, write_var_blocking,
};
use ethos_typesys::wire;

use crate::file_types::{Chunk, Note};

/// How many notes `fs-write` writes.
pub const NOTES: usize = 20;
/// The sizes of the chunks `fs-write` writes: a small one, one of several blocks,
/// and a large one (a program's heap is 1 MiB, and holds the value written, its
/// encoding and the value read back).
pub const CHUNK_SIZES: [usize; 3] = [1, 40_000, 200_000];
/// The slots `fs-churn` cycles through.
pub const SLOTS: u64 = 8;
/// The size of each value `fs-fill` writes.
pub const FILL_VALUE: usize = 200_000;

/// Exit statuses.
pub mod status {
    /// A check failed.
    pub const CHECK: i32 = 1;
    /// A call failed with a status no check expects.
    pub const CALL: i32 = 2;
}

/// Why a program stopped: the line it printed and its exit status.
struct Failed(i32);

type Checked<T> = Result<T, Failed>;

fn check(name: &str, what: &str, passed: bool) -> Checked<()> {
    if passed {
        Ok(())
    } else {
        println!("{name}: {what}");
        Err(Failed(status::CHECK))
    }
}

fn call<T>(name: &str, what: &str, answer: Result<T, Status>) -> Checked<T> {
    answer.map_err(|status| {
        println!("{name}: {what} failed: {status:?}");
        Failed(status::CALL)
    })
}

fn refused<T>(name: &str, what: &str, answer: Result<T, Status>, expected: Status) -> Checked<()> {
    match answer {
        Err(status) if status == expected => Ok(()),
        Err(status) => {
            println!("{name}: {what} answered {status:?}, not {expected:?}");
            Err(Failed(status::CHECK))
        }
        Ok(_) => {
            println!("{name}: {what} was allowed");
            Err(Failed(status::CHECK))
        }
    }
}

fn finish(answer: Checked<()>) -> i32 {
    match answer {
        Ok(()) => 0,
        Err(Failed(status)) => status,
    }
}

fn note_text(index: usize) -> String {
    format!(
        "note {index}: {}",
        "written before the reboot ".repeat(index % 5)
    )
}

fn encode<T: ethos_typesys::serde::Serialize>(value: &T) -> Vec<u8> {
    // Every value here is of a type the generated code encodes: encoding cannot fail.
    wire::encode(value).unwrap_or_default()
}

fn note(index: usize) -> Vec<u8> {
    encode(&Note(note_text(index)))
}

/// The data of the chunk with sequence number `sequence` and `length` bytes: a
/// function of both alone, so a value mixed from two writes is seen.
fn pattern(sequence: u64, length: usize) -> Vec<u8> {
    (0..length)
        .map(|index| {
            (sequence.wrapping_mul(31) as usize ^ index.wrapping_mul(7) ^ (index >> 8)) as u8
        })
        .collect()
}

fn chunk(sequence: u64, length: usize) -> Vec<u8> {
    encode(&Chunk {
        sequence,
        data: pattern(sequence, length),
    })
}

/// The length `fs-churn` gives sequence number `sequence`: 64 bytes to about 24 KiB,
/// so values span one block or several.
fn churn_length(sequence: u64) -> usize {
    64 + (sequence.wrapping_mul(7_919) % 24_000) as usize
}

/// Opens `name` in the root, making it (with `label` and `Chunk` or `Note`) when
/// it is not there yet.
fn directory(program: &str, name: &str, label: &str, chunks: bool) -> Checked<Descriptor> {
    match open_directory(Descriptor::ROOT_DIRECTORY, name) {
        Ok(directory) => Ok(directory),
        Err(Status::NoSuchObject) => {
            let type_hash = if chunks {
                Chunk::TYPE_HASH
            } else {
                Note::TYPE_HASH
            };
            call(
                program,
                &format!("creating {name}"),
                create_directory(Descriptor::ROOT_DIRECTORY, name, label, &type_hash),
            )?;
            call(
                program,
                &format!("opening {name}"),
                open_directory(Descriptor::ROOT_DIRECTORY, name),
            )
        }
        Err(status) => call(program, &format!("opening {name}"), Err(status)),
    }
}

/// `fs-write`.
pub fn write() -> i32 {
    finish(write_checked())
}

fn write_checked() -> Checked<()> {
    const NAME: &str = "fs-write";
    let notes = directory(NAME, "notes", "notes", false)?;
    let chunks = directory(NAME, "chunks", "chunks", true)?;
    for index in 0..NOTES {
        call(
            NAME,
            &format!("writing note-{index:02}"),
            write_var_blocking(notes, &format!("note-{index:02}"), &note(index)),
        )?;
    }
    for (index, size) in CHUNK_SIZES.into_iter().enumerate() {
        call(
            NAME,
            &format!("writing chunk-{index}"),
            write_var_blocking(
                chunks,
                &format!("chunk-{index}"),
                &chunk(index as u64, size),
            ),
        )?;
    }
    // The kernel checks every value against the directory's type.
    refused(
        NAME,
        "a chunk written into notes",
        write_var_blocking(notes, "note-00", &chunk(0, 8)),
        Status::InvalidType,
    )?;
    refused(
        NAME,
        "a note cut short",
        write_var_blocking(notes, "note-01", &note(1)[..5]),
        Status::InvalidType,
    )?;
    let kept = call(NAME, "reading note-00", read_var_blocking(notes, "note-00"))?;
    check(
        NAME,
        "note-00 changed after a refused write",
        kept == note(0),
    )?;
    refused(
        NAME,
        "making notes again",
        create_directory(
            Descriptor::ROOT_DIRECTORY,
            "notes",
            "notes",
            &Note::TYPE_HASH,
        ),
        Status::AlreadyExists,
    )?;
    refused(
        NAME,
        "removing notes, which is not empty",
        remove_directory_or_file(Descriptor::ROOT_DIRECTORY, "notes"),
        Status::DirectoryNotEmpty,
    )?;
    call(
        NAME,
        "writing a note to remove",
        write_var_blocking(notes, "passing", &encode(&Note(String::from("gone soon")))),
    )?;
    call(
        NAME,
        "removing it",
        remove_directory_or_file(notes, "passing"),
    )?;
    refused(
        NAME,
        "reading a removed note",
        read_var_blocking(notes, "passing"),
        Status::NoSuchObject,
    )?;
    // The names come back in order, every one once.
    let mut names = Vec::new();
    let mut after = String::new();
    loop {
        let next = call(NAME, "getNextName", get_next_name(notes, &after))?;
        if next.is_empty() {
            break;
        }
        names.push(next.clone());
        after = next;
    }
    let expected: Vec<String> = (0..NOTES).map(|index| format!("note-{index:02}")).collect();
    check(
        NAME,
        "getNextName did not list the notes in order",
        names == expected,
    )?;
    // fileInformation: size, type and label.
    let mut buffer = [0u8; 512];
    let used = call(
        NAME,
        "fileInformation",
        file_information(chunks, "chunk-2", &mut buffer),
    )?;
    let information = &buffer[..used];
    use ethos_abi::arguments::results::file_information as layout;
    let size = information
        .get(layout::SIZE..layout::SIZE + 8)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_le_bytes);
    check(
        NAME,
        "fileInformation gave the wrong size",
        size == Some(chunk(2, CHUNK_SIZES[2]).len() as u64),
    )?;
    check(
        NAME,
        "fileInformation gave the wrong type or label",
        information.get(layout::TYPE_HASH..layout::LABEL) == Some(&Chunk::TYPE_HASH.0[..])
            && information.get(layout::LABEL..) == Some(&b"chunks"[..]),
    )?;
    println!(
        "{NAME}: wrote {NOTES} notes and {} chunks",
        CHUNK_SIZES.len()
    );
    Ok(())
}

/// `fs-peek`.
pub fn peek() -> i32 {
    finish(peek_checked())
}

fn peek_checked() -> Checked<()> {
    const NAME: &str = "fs-peek";
    // `fs-write` makes `notes`; carol waits for it (up to 20 s).
    let deadline = ethos_compat::get_time().unwrap_or(0) + 20_000_000_000;
    let notes = loop {
        match open_directory(Descriptor::ROOT_DIRECTORY, "notes") {
            Ok(notes) => break notes,
            Err(Status::NoSuchObject)
                if ethos_compat::get_time().unwrap_or(u64::MAX) < deadline =>
            {
                let _ = ethos_compat::sleep(10_000_000);
            }
            Err(status) => return call(NAME, "opening notes", Err(status)),
        }
    };
    refused(
        NAME,
        "reading a note",
        read_var_blocking(notes, "note-00"),
        Status::NotAuthorized,
    )?;
    refused(
        NAME,
        "writing a note",
        write_var_blocking(notes, "carol", &note(0)),
        Status::NotAuthorized,
    )?;
    refused(
        NAME,
        "listing notes",
        get_next_name(notes, ""),
        Status::NotAuthorized,
    )?;
    refused(
        NAME,
        "making a directory in the root",
        create_directory(
            Descriptor::ROOT_DIRECTORY,
            "carols",
            "notes",
            &Note::TYPE_HASH,
        ),
        Status::NotAuthorized,
    )?;
    refused(
        NAME,
        "removing notes",
        remove_directory_or_file(Descriptor::ROOT_DIRECTORY, "notes"),
        Status::NotAuthorized,
    )?;
    println!("{NAME}: every access refused");
    Ok(())
}

/// `fs-read`.
pub fn read() -> i32 {
    finish(read_checked())
}

fn read_checked() -> Checked<()> {
    const NAME: &str = "fs-read";
    let notes = call(
        NAME,
        "opening notes",
        open_directory(Descriptor::ROOT_DIRECTORY, "notes"),
    )?;
    let chunks = call(
        NAME,
        "opening chunks",
        open_directory(Descriptor::ROOT_DIRECTORY, "chunks"),
    )?;
    for index in 0..NOTES {
        let name = format!("note-{index:02}");
        let value = call(
            NAME,
            &format!("reading {name}"),
            read_var_blocking(notes, &name),
        )?;
        check(
            NAME,
            &format!("{name} is not as written"),
            value == note(index),
        )?;
    }
    for (index, size) in CHUNK_SIZES.into_iter().enumerate() {
        let name = format!("chunk-{index}");
        let value = call(
            NAME,
            &format!("reading {name}"),
            read_var_blocking(chunks, &name),
        )?;
        check(
            NAME,
            &format!("{name} is not as written"),
            value == chunk(index as u64, size),
        )?;
    }
    refused(
        NAME,
        "writing a note from fs-read",
        write_var_blocking(notes, "note-00", &note(3)),
        Status::NotAuthorized,
    )?;
    println!(
        "{NAME}: {NOTES} notes and {} chunks as written",
        CHUNK_SIZES.len()
    );
    Ok(())
}

/// Checks every slot of `churn`: each holds a whole `Chunk` whose sequence number
/// belongs to the slot and whose data is that number's; answers the newest number
/// (`None` when no slot was ever written).
fn verify_slots(program: &str, churn: Descriptor) -> Checked<Option<u64>> {
    let mut newest = None;
    for slot in 0..SLOTS {
        let name = format!("slot-{slot}");
        let bytes = match read_var_blocking(churn, &name) {
            Ok(bytes) => bytes,
            Err(Status::NoSuchObject) => continue,
            Err(status) => return call(program, &format!("reading {name}"), Err(status)),
        };
        let value: Chunk = match wire::decode(&bytes) {
            Ok(value) => value,
            Err(_) => {
                println!("{program}: {name} is not a Chunk");
                return Err(Failed(status::CHECK));
            }
        };
        check(
            program,
            &format!("{name} holds sequence {}", value.sequence),
            value.sequence % SLOTS == slot,
        )?;
        check(
            program,
            &format!("{name} (sequence {}) is a mix", value.sequence),
            value.data == pattern(value.sequence, churn_length(value.sequence)),
        )?;
        newest = newest.max(Some(value.sequence));
    }
    match newest {
        Some(newest) => println!("{program}: verified {SLOTS} slots, newest {newest}"),
        None => println!("{program}: verified {SLOTS} slots, newest none"),
    }
    Ok(newest)
}

/// `fs-churn`.
pub fn churn() -> i32 {
    finish(churn_checked())
}

fn churn_checked() -> Checked<()> {
    const NAME: &str = "fs-churn";
    let churn = directory(NAME, "churn", "churn", true)?;
    let newest = verify_slots(NAME, churn)?;
    let mut sequence = newest.map_or(0, |newest| newest + 1);
    loop {
        let name = format!("slot-{}", sequence % SLOTS);
        call(
            NAME,
            &format!("writing {name}"),
            write_var_blocking(churn, &name, &chunk(sequence, churn_length(sequence))),
        )?;
        println!("{NAME}: durable {sequence}");
        sequence += 1;
    }
}

/// `fs-verify`.
pub fn verify() -> i32 {
    finish(verify_checked())
}

fn verify_checked() -> Checked<()> {
    const NAME: &str = "fs-verify";
    let churn = call(
        NAME,
        "opening churn",
        open_directory(Descriptor::ROOT_DIRECTORY, "churn"),
    )?;
    verify_slots(NAME, churn).map(drop)
}

/// `fs-fill`.
pub fn fill() -> i32 {
    finish(fill_checked())
}

fn fill_checked() -> Checked<()> {
    const NAME: &str = "fs-fill";
    let fill = directory(NAME, "fill", "fill", true)?;
    let mut written = 0u64;
    loop {
        let answer = write_var_blocking(
            fill,
            &format!("value-{written}"),
            &chunk(written, FILL_VALUE),
        );
        match answer {
            Ok(()) => written += 1,
            Err(Status::StorageFull) => break,
            Err(status) => return call(NAME, &format!("writing value-{written}"), Err(status)),
        }
        check(NAME, "the disk never filled", written < 10_000)?;
    }
    check(NAME, "not even one value fitted", written > 0)?;
    refused(
        NAME,
        "reading the value the full disk refused",
        read_var_blocking(fill, &format!("value-{written}")),
        Status::NoSuchObject,
    )?;
    for index in 0..written {
        let name = format!("value-{index}");
        let value = call(
            NAME,
            &format!("reading {name}"),
            read_var_blocking(fill, &name),
        )?;
        check(
            NAME,
            &format!("{name} is not as written"),
            value == chunk(index, FILL_VALUE),
        )?;
    }
    call(
        NAME,
        "removing value-0",
        remove_directory_or_file(fill, "value-0"),
    )?;
    call(
        NAME,
        "writing after the removal",
        write_var_blocking(fill, "again", &chunk(0, FILL_VALUE)),
    )?;
    println!(
        "{NAME}: full after {written} values, every one intact, a write after a removal succeeded"
    );
    Ok(())
}

/// `fs-faults`.
pub fn faults() -> i32 {
    finish(faults_checked())
}

fn faults_checked() -> Checked<()> {
    const NAME: &str = "fs-faults";
    let value = encode(&Note(String::from("written through a failing disk")));
    // The disk fails the first write it is given.
    refused(
        NAME,
        "the first write",
        write_var_blocking(Descriptor::ROOT_DIRECTORY, "faulty", &value),
        Status::StorageFailed,
    )?;
    refused(
        NAME,
        "reading what the failed write would have made",
        read_var_blocking(Descriptor::ROOT_DIRECTORY, "faulty"),
        Status::NoSuchObject,
    )?;
    call(
        NAME,
        "writing again",
        write_var_blocking(Descriptor::ROOT_DIRECTORY, "faulty", &value),
    )?;
    // And the first read after its first flush.
    refused(
        NAME,
        "the first read after a flush",
        read_var_blocking(Descriptor::ROOT_DIRECTORY, "faulty"),
        Status::StorageFailed,
    )?;
    let read = call(
        NAME,
        "reading again",
        read_var_blocking(Descriptor::ROOT_DIRECTORY, "faulty"),
    )?;
    check(NAME, "the value is not as written", read == value)?;
    println!(
        "{NAME}: a failed write and a failed read each answered StorageFailed; the store is intact"
    );
    Ok(())
}
