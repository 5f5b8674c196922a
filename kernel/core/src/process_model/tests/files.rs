//! The typed file system's calls: each against its descriptor right, its label
//! right and its type check, on an in-memory store, and the register path of the
//! calls that write into a buffer.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ethos_abi::arguments::reserved::ROOT_DIRECTORY;
use ethos_abi::arguments::results::file_information;
use ethos_abi::{Call, DescriptorNumber, DescriptorRights, LabelRights, ProcessId, Status};
use ethos_fs::memory::MemoryStore;
use ethos_fs::{DirectoryRecord, Store};

use super::super::events::Outcome;
use super::super::identity::{GroupName, Label, Program, ProgramId, PublicKey, User};
use super::super::policy::{Grant, HostMatch, Policy, Principal, ProgramMatch};
use super::calls::{BASE, FakeEnvironment, status_of};
use super::{program, user};
use crate::process_model::{Configuration, ProcessModel};

const SCHEMA: &str = "
Note string
Point struct { X int32; Y int32 }
";

fn identity(name: &str) -> ProgramId {
    ProgramId::of_executable(name.as_bytes())
}

/// A `Note` value.
fn note(text: &str) -> Vec<u8> {
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

fn hash(name: &str) -> [u8; 64] {
    let schema = ethos_typesys::etn::parse("files.etn", SCHEMA).unwrap();
    let node = schema.graph.find_by_name(name).unwrap();
    schema.graph.hash(node).unwrap().0
}

/// The scene:
/// - the root carries label `root` and type `Note`; staff (alice, bob) may read
///   and create there from any program;
/// - alice running `editor` may read, replace, create and remove under `home`;
///   running any other program she may only read there; bob may read there;
/// - carol is in no group and holds nothing.
fn model_with(store: MemoryStore) -> ProcessModel {
    model_granting(store, Vec::new())
}

/// [`model_with`], with `extra` grants beside the scene's.
fn model_granting(store: MemoryStore, extra: Vec<Grant>) -> ProcessModel {
    let schema = ethos_typesys::etn::parse("files.etn", SCHEMA).unwrap();
    let staff = GroupName::new("staff").unwrap();
    let person = |name: &str, key: u8, groups: Vec<GroupName>| User {
        name: user(name),
        public_key: PublicKey([key; 32]),
        groups,
    };
    let grant = |label: &str, principal: Principal, program: ProgramMatch, rights| Grant {
        label: Label::new(label).unwrap(),
        principal,
        program,
        rights,
        host: HostMatch::Local,
    };
    let mut model = ProcessModel::new(Configuration {
        users: vec![
            person("alice", 1, vec![staff.clone()]),
            person("bob", 2, vec![staff.clone()]),
            person("carol", 3, vec![]),
        ],
        programs: ["editor", "viewer"]
            .into_iter()
            .map(|name| Program {
                name: program(name),
                identity: identity(name),
                label: Label::new("programs").unwrap(),
            })
            .collect(),
        policy: Policy::new(
            vec![
                grant(
                    "root",
                    Principal::Group(staff),
                    ProgramMatch::Any,
                    LabelRights::READ | LabelRights::CREATE,
                ),
                grant(
                    "home",
                    Principal::User(user("alice")),
                    ProgramMatch::Program(identity("editor")),
                    LabelRights::READ
                        | LabelRights::WRITE
                        | LabelRights::CREATE
                        | LabelRights::REMOVE,
                ),
                grant(
                    "home",
                    Principal::User(user("alice")),
                    ProgramMatch::Any,
                    LabelRights::READ,
                ),
                grant(
                    "home",
                    Principal::User(user("bob")),
                    ProgramMatch::Any,
                    LabelRights::READ,
                ),
            ]
            .into_iter()
            .chain(extra)
            .collect(),
        ),
        types: schema.graph.clone(),
        services: vec![],
        kernel_memory_per_process: ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY,
    })
    .unwrap();
    model.attach_store(Box::new(store));
    model
}

fn root_record() -> DirectoryRecord {
    DirectoryRecord {
        label: String::from("root"),
        type_hash: hash("Note"),
    }
}

fn model() -> ProcessModel {
    model_with(MemoryStore::new(root_record()))
}

const ROOT: u32 = ROOT_DIRECTORY;

fn root() -> DescriptorNumber {
    DescriptorNumber::new(u64::from(ROOT)).unwrap()
}

/// The value a completed event holds.
fn value(model: &mut ProcessModel, process: ProcessId, event: ethos_abi::EventId) -> Vec<u8> {
    match model.retire(process, event) {
        Ok(Outcome::Value(bytes)) => bytes,
        other => panic!("expected a value, got {other:?}"),
    }
}

/// alice's editor, with `home` (a `Point` directory) made and opened.
struct Scene {
    model: ProcessModel,
    editor: ProcessId,
    home: DescriptorNumber,
}

fn scene() -> Scene {
    let mut model = model();
    let editor = model
        .create_process(&user("alice"), &program("editor"))
        .unwrap();
    model
        .create_directory(editor, root(), "home", "home", &hash("Point"), 10)
        .unwrap();
    let home = model.open_directory(editor, root(), "home").unwrap();
    Scene {
        model,
        editor,
        home,
    }
}

fn point(x: i32, y: i32) -> Vec<u8> {
    let mut bytes = x.to_le_bytes().to_vec();
    bytes.extend_from_slice(&y.to_le_bytes());
    bytes
}

#[test]
fn a_value_written_reads_back_and_every_process_starts_at_the_root() {
    let Scene {
        mut model,
        editor,
        home,
    } = scene();
    let written = model
        .write_var(editor, home, "origin", &point(0, 0), 20)
        .unwrap();
    assert_eq!(value(&mut model, editor, written), Vec::<u8>::new());
    let reader = model
        .create_process(&user("bob"), &program("viewer"))
        .unwrap();
    assert_eq!(model.descriptor_count(reader), Ok(1), "the root descriptor");
    let bobs_home = model.open_directory(reader, root(), "home").unwrap();
    let read = model.read_var(reader, bobs_home, "origin").unwrap();
    assert_eq!(value(&mut model, reader, read), point(0, 0));
    // A fork keeps the root; a replaced value reads as the new one.
    let child = model.fork_process(editor).unwrap();
    let home_again = model.open_directory(child, root(), "home").unwrap();
    model
        .write_var(child, home_again, "origin", &point(3, 4), 30)
        .unwrap();
    let read = model.read_var(reader, bobs_home, "origin").unwrap();
    assert_eq!(value(&mut model, reader, read), point(3, 4));
}

/// Every call, once allowed and once refused for each check it makes.
#[test]
fn every_file_call_is_checked_against_its_rights_and_its_type() {
    let Scene {
        mut model,
        editor,
        home,
    } = scene();
    model
        .write_var(editor, home, "kept", &point(1, 2), 20)
        .unwrap();
    let viewer = model
        .create_process(&user("alice"), &program("viewer"))
        .unwrap();
    let viewer_home = model.open_directory(viewer, root(), "home").unwrap();
    let bob = model
        .create_process(&user("bob"), &program("editor"))
        .unwrap();
    let bob_home = model.open_directory(bob, root(), "home").unwrap();
    let carol = model
        .create_process(&user("carol"), &program("editor"))
        .unwrap();
    let read_only_home = model
        .copy_descriptor(editor, home, DescriptorRights::READ)
        .unwrap();
    let no_read_home = model
        .copy_descriptor(editor, home, DescriptorRights::WRITE)
        .unwrap();
    let unknown = [0x11; 64];
    let not_a_directory = DescriptorNumber::new(900).unwrap();

    type Row = (&'static str, Result<(), Status>);
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |what: &'static str, result: Result<(), Status>| rows.push((what, result));

    // readVar: descriptor READ, label READ.
    row(
        "read: editor",
        model.read_var(editor, home, "kept").map(drop),
    );
    row(
        "read: bob may read home",
        model.read_var(bob, bob_home, "kept").map(drop),
    );
    row(
        "read: missing",
        model.read_var(editor, home, "missing").map(drop),
    );
    row(
        "read: descriptor without read",
        model.read_var(editor, no_read_home, "kept").map(drop),
    );
    row(
        "read: no descriptor",
        model.read_var(editor, not_a_directory, "kept").map(drop),
    );
    row("read: carol has no grant on root", {
        model
            .write_var(editor, root(), "motd", &note("hi"), 21)
            .unwrap();
        model.read_var(carol, root(), "motd").map(drop)
    });
    row(
        "read: bad name",
        model.read_var(editor, home, "a/b").map(drop),
    );
    row("read: dot", model.read_var(editor, home, "..").map(drop));

    // writeVar: descriptor WRITE; label WRITE to replace, CREATE to make; the type.
    row(
        "write: replace",
        model
            .write_var(editor, home, "kept", &point(5, 6), 22)
            .map(drop),
    );
    row(
        "write: ill-typed",
        model
            .write_var(editor, home, "kept", &note("no"), 23)
            .map(drop),
    );
    row(
        "write: one byte short",
        model
            .write_var(editor, home, "kept", &point(5, 6)[..7], 23)
            .map(drop),
    );
    row(
        "write: viewer may only read home",
        model
            .write_var(viewer, viewer_home, "kept", &point(0, 0), 24)
            .map(drop),
    );
    row(
        "write: bob may not create in home",
        model
            .write_var(bob, bob_home, "new", &point(0, 0), 24)
            .map(drop),
    );
    row(
        "write: bob may create in root",
        model
            .write_var(bob, root(), "bobs", &note("mine"), 24)
            .map(drop),
    );
    row(
        "write: bob may not replace in root (no write right)",
        model
            .write_var(bob, root(), "bobs", &note("again"), 24)
            .map(drop),
    );
    row(
        "write: descriptor without write",
        model
            .write_var(editor, read_only_home, "kept", &point(0, 0), 24)
            .map(drop),
    );
    row(
        "write: a directory's name",
        model
            .write_var(editor, root(), "home", &note("x"), 24)
            .map(drop),
    );

    // createDirectory: descriptor WRITE, label CREATE, a known type, a valid label.
    row(
        "create: editor in home",
        model
            .create_directory(editor, home, "sub", "home", &hash("Note"), 25)
            .map(drop),
    );
    row(
        "create: taken",
        model
            .create_directory(editor, home, "sub", "home", &hash("Note"), 25)
            .map(drop),
    );
    row(
        "create: unknown type",
        model
            .create_directory(editor, home, "other", "home", &unknown, 25)
            .map(drop),
    );
    row(
        "create: bad label",
        model
            .create_directory(editor, home, "other", "a/b", &hash("Note"), 25)
            .map(drop),
    );
    row(
        "create: viewer",
        model
            .create_directory(viewer, viewer_home, "other", "home", &hash("Note"), 25)
            .map(drop),
    );
    row(
        "create: carol in root",
        model
            .create_directory(carol, root(), "carols", "home", &hash("Note"), 25)
            .map(drop),
    );

    // openDirectory: descriptor READ, label READ, a directory.
    row(
        "open: a file",
        model.open_directory(editor, home, "kept").map(drop),
    );
    row(
        "open: carol",
        model.open_directory(carol, root(), "home").map(drop),
    );

    // getNextName and fileInformation: descriptor READ, label READ.
    row("next: carol", model.next_name(carol, root(), "").map(drop));
    row(
        "information: carol",
        model.file_information(carol, root(), "home").map(drop),
    );
    row(
        "information: missing",
        model.file_information(editor, home, "missing").map(drop),
    );

    // removeDirectoryOrFile: descriptor WRITE, label REMOVE, an empty directory.
    row(
        "remove: viewer",
        model.remove_directory_or_file(viewer, viewer_home, "kept"),
    );
    row(
        "remove: bob in root (no remove right)",
        model.remove_directory_or_file(bob, root(), "bobs"),
    );
    model
        .write_var(editor, home, "inner", &point(0, 0), 26)
        .unwrap();
    let sub = model.open_directory(editor, home, "sub").unwrap();
    model
        .write_var(editor, sub, "memo", &note("x"), 26)
        .unwrap();
    row(
        "remove: not empty",
        model.remove_directory_or_file(editor, home, "sub"),
    );
    row(
        "remove: file",
        model.remove_directory_or_file(editor, sub, "memo"),
    );
    row(
        "remove: now empty",
        model.remove_directory_or_file(editor, home, "sub"),
    );
    row(
        "read: through a removed directory",
        model.read_var(editor, sub, "memo").map(drop),
    );

    let expected: &[(&str, Result<(), Status>)] = &[
        ("read: editor", Ok(())),
        ("read: bob may read home", Ok(())),
        ("read: missing", Err(Status::NoSuchObject)),
        ("read: descriptor without read", Err(Status::NotAuthorized)),
        ("read: no descriptor", Err(Status::NoSuchObject)),
        (
            "read: carol has no grant on root",
            Err(Status::NotAuthorized),
        ),
        ("read: bad name", Err(Status::InvalidArgument)),
        ("read: dot", Err(Status::InvalidArgument)),
        ("write: replace", Ok(())),
        ("write: ill-typed", Err(Status::InvalidType)),
        ("write: one byte short", Err(Status::InvalidType)),
        (
            "write: viewer may only read home",
            Err(Status::NotAuthorized),
        ),
        (
            "write: bob may not create in home",
            Err(Status::NotAuthorized),
        ),
        ("write: bob may create in root", Ok(())),
        (
            "write: bob may not replace in root (no write right)",
            Err(Status::NotAuthorized),
        ),
        (
            "write: descriptor without write",
            Err(Status::NotAuthorized),
        ),
        ("write: a directory's name", Err(Status::WrongObject)),
        ("create: editor in home", Ok(())),
        ("create: taken", Err(Status::AlreadyExists)),
        ("create: unknown type", Err(Status::InvalidType)),
        ("create: bad label", Err(Status::InvalidArgument)),
        ("create: viewer", Err(Status::NotAuthorized)),
        ("create: carol in root", Err(Status::NotAuthorized)),
        ("open: a file", Err(Status::WrongObject)),
        ("open: carol", Err(Status::NotAuthorized)),
        ("next: carol", Err(Status::NotAuthorized)),
        ("information: carol", Err(Status::NotAuthorized)),
        ("information: missing", Err(Status::NoSuchObject)),
        ("remove: viewer", Err(Status::NotAuthorized)),
        (
            "remove: bob in root (no remove right)",
            Err(Status::NotAuthorized),
        ),
        ("remove: not empty", Err(Status::DirectoryNotEmpty)),
        ("remove: file", Ok(())),
        ("remove: now empty", Ok(())),
        (
            "read: through a removed directory",
            Err(Status::NoSuchObject),
        ),
    ];
    assert_eq!(rows.len(), expected.len());
    for ((what, got), (expected_what, expected)) in rows.iter().zip(expected) {
        assert_eq!(what, expected_what);
        assert_eq!(got, expected, "{what}");
    }
    // Nothing a refused call touched changed.
    let read = model.read_var(editor, home, "kept").unwrap();
    assert_eq!(value(&mut model, editor, read), point(5, 6));
    let read = model.read_var(bob, root(), "bobs").unwrap();
    assert_eq!(value(&mut model, bob, read), note("mine"));
    assert_eq!(
        model.read_var(editor, home, "new").map(drop),
        Err(Status::NoSuchObject)
    );
}

#[test]
fn names_come_in_order_and_information_is_laid_out_as_the_abi_says() {
    let Scene {
        mut model,
        editor,
        home,
    } = scene();
    for (name, x) in [("b", 2), ("a", 1), ("c", 3)] {
        model
            .write_var(editor, home, name, &point(x, x), 40)
            .unwrap();
    }
    let mut environment = FakeEnvironment::new();
    let buffer = BASE + 0x1000;
    let home_word = u64::from(home.get());
    let mut names = Vec::new();
    let mut after = String::new();
    loop {
        let (address, length) = environment.place(0, after.as_bytes());
        let (status, length_out) = status_of(
            &mut model,
            &mut environment,
            editor,
            Call::GetNextName,
            [home_word, address, length, buffer, 255, 0],
        );
        assert_eq!(status, Status::Ok);
        if length_out == 0 {
            break;
        }
        let start = 0x1000;
        after = String::from_utf8(environment.memory[start..start + length_out as usize].to_vec())
            .unwrap();
        names.push(after.clone());
    }
    assert_eq!(names, ["a", "b", "c"]);

    let (address, length) = environment.place(0, b"b");
    let (status, length_out) = status_of(
        &mut model,
        &mut environment,
        editor,
        Call::FileInformation,
        [home_word, address, length, buffer, 512, 0],
    );
    assert_eq!(status, Status::Ok);
    let bytes = &environment.memory[0x1000..0x1000 + length_out as usize];
    assert_eq!(bytes[0], file_information::FILE);
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(word(file_information::SIZE), 8);
    assert_eq!(word(file_information::MODIFIED), 40);
    assert_eq!(
        &bytes[file_information::TYPE_HASH..file_information::LABEL],
        &hash("Point")[..]
    );
    assert_eq!(&bytes[file_information::LABEL..], b"home");
    // A buffer too small for it is refused, and nothing is written.
    let (status, _) = status_of(
        &mut model,
        &mut environment,
        editor,
        Call::FileInformation,
        [home_word, address, length, buffer, 50, 0],
    );
    assert_eq!(status, Status::BufferTooSmall);
}

#[test]
fn a_full_store_refuses_with_nothing_lost_and_a_stored_ill_typed_value_never_reaches_a_program() {
    let mut store = MemoryStore::new(root_record()).with_capacity(64);
    // What another system wrote to the disk: not a `Note`.
    store
        .write_file(
            ethos_fs::DirectoryId::ROOT,
            &ethos_fs::Name::new("foreign").unwrap(),
            b"\xff\xff",
            0,
        )
        .unwrap();
    let mut model = model_with(store);
    let alice = model
        .create_process(&user("alice"), &program("editor"))
        .unwrap();
    assert_eq!(
        model.read_var(alice, root(), "foreign").map(drop),
        Err(Status::StorageFailed)
    );
    model
        .write_var(alice, root(), "first", &note(&"x".repeat(40)), 1)
        .unwrap();
    assert_eq!(
        model
            .write_var(alice, root(), "second", &note(&"y".repeat(40)), 2)
            .map(drop),
        Err(Status::StorageFull)
    );
    let read = model.read_var(alice, root(), "first").unwrap();
    assert_eq!(value(&mut model, alice, read), note(&"x".repeat(40)));
    assert_eq!(
        model.read_var(alice, root(), "second").map(drop),
        Err(Status::NoSuchObject)
    );
}

#[test]
fn without_a_store_every_file_call_is_not_supported_and_exec_names_the_root_by_number() {
    let mut model = super::model();
    let alice = model
        .create_process(&user("alice"), &program("server"))
        .unwrap();
    assert_eq!(model.descriptor_count(alice), Ok(0));
    assert_eq!(
        model.read_var(alice, root(), "x").map(drop),
        Err(Status::NotSupported)
    );
    assert_eq!(model.exec(alice, root(), &program("client")), Ok(()));
}

#[test]
fn exec_takes_programs_through_the_root_descriptor_only() {
    let Scene {
        mut model,
        editor,
        home,
    } = scene();
    assert_eq!(
        model.exec(editor, home, &program("viewer")),
        Err(Status::NoSuchObject)
    );
    let copy = model
        .copy_descriptor(editor, root(), DescriptorRights::READ)
        .unwrap();
    assert_eq!(model.exec(editor, copy, &program("viewer")), Ok(()));
    model.close(editor, root()).unwrap();
    assert_eq!(
        model.exec(editor, root(), &program("editor")),
        Err(Status::NoSuchObject)
    );
}

/// `/boot`'s labels are the kernel's even where a policy (not one the image's
/// reader lets through) grants everything on them.
#[test]
fn boots_labels_are_the_kernels_whatever_the_policy_says() {
    use crate::initial_image::boot_disk::{BOOT, BOOT_LABEL, KEYS_LABEL};
    let mut store = MemoryStore::new(root_record());
    let name = |text: &str| ethos_fs::Name::new(text).unwrap();
    let record = |label: &str| DirectoryRecord {
        label: String::from(label),
        type_hash: hash("Note"),
    };
    let root_id = ethos_fs::DirectoryId::ROOT;
    // `/boot` of a type only the kernel knows: a value read there is recognized.
    let boot_types = crate::initial_image::boot_disk::boot_types().unwrap();
    let etn_source = boot_types.find_by_name("EtnSource").unwrap();
    let boot_record = DirectoryRecord {
        label: String::from(BOOT_LABEL),
        type_hash: boot_types.hash(etn_source).unwrap().0,
    };
    assert_ne!(boot_record.type_hash, hash("Note"));
    let boot = store
        .create_directory(root_id, &name(BOOT), &boot_record, 1)
        .unwrap();
    store
        .write_file(boot, &name("policy"), &note("p"), 1)
        .unwrap();
    let keys = store
        .create_directory(boot, &name("keys"), &record(KEYS_LABEL), 1)
        .unwrap();
    store
        .write_file(keys, &name("alice"), &note("k"), 1)
        .unwrap();
    let everything =
        LabelRights::READ | LabelRights::WRITE | LabelRights::CREATE | LabelRights::REMOVE;
    let grants = [BOOT_LABEL, KEYS_LABEL, "root"]
        .into_iter()
        .map(|label| Grant {
            label: Label::new(label).unwrap(),
            principal: Principal::User(user("alice")),
            program: ProgramMatch::Any,
            rights: everything,
            host: HostMatch::Local,
        })
        .collect();
    let mut model = model_granting(store, grants);
    let alice = model
        .create_process(&user("alice"), &program("editor"))
        .unwrap();
    // Under `boot`: reading as the policy says, never a change.
    let boot = model.open_directory(alice, root(), BOOT).unwrap();
    let read = model.read_var(alice, boot, "policy").unwrap();
    assert_eq!(value(&mut model, alice, read), note("p"));
    assert_eq!(
        model.write_var(alice, boot, "policy", &note("mine"), 2),
        Err(Status::NotAuthorized)
    );
    assert_eq!(
        model.write_var(alice, boot, "new", &note("mine"), 2),
        Err(Status::NotAuthorized)
    );
    assert_eq!(
        model.remove_directory_or_file(alice, boot, "policy"),
        Err(Status::NotAuthorized)
    );
    assert_eq!(
        model.create_directory(alice, boot, "more", "root", &hash("Note"), 2),
        Err(Status::NotAuthorized)
    );
    // Under `boot-keys`: nothing at all (opening it is reading `/boot`).
    let keys = model.open_directory(alice, boot, "keys").unwrap();
    assert_eq!(
        model.read_var(alice, keys, "alice"),
        Err(Status::NotAuthorized)
    );
    assert_eq!(model.next_name(alice, keys, ""), Err(Status::NotAuthorized));
    assert_eq!(
        model.file_information(alice, keys, "alice"),
        Err(Status::NotAuthorized)
    );
    assert_eq!(
        model.write_var(alice, keys, "alice", &note("mine"), 2),
        Err(Status::NotAuthorized)
    );
    // No program makes `/boot`'s labels or its name, where it has every right.
    for label in [BOOT_LABEL, KEYS_LABEL] {
        assert_eq!(
            model.create_directory(alice, root(), "mine", label, &hash("Note"), 2),
            Err(Status::NotAuthorized)
        );
    }
    assert_eq!(
        model.remove_directory_or_file(alice, root(), BOOT),
        Err(Status::NotAuthorized)
    );
    let mut model = model_granting(MemoryStore::new(root_record()), Vec::new());
    let alice = model
        .create_process(&user("alice"), &program("editor"))
        .unwrap();
    assert_eq!(
        model.create_directory(alice, root(), BOOT, "home", &hash("Note"), 2),
        Err(Status::NotAuthorized)
    );
    assert_eq!(
        model.write_var(alice, root(), BOOT, &note("x"), 2),
        Err(Status::NotAuthorized)
    );
    model
        .create_directory(alice, root(), "booty", "home", &hash("Note"), 2)
        .unwrap();
}

#[test]
fn sign_file_signs_the_stored_value_under_read_s_checks() {
    let Scene {
        mut model,
        editor,
        home,
    } = scene();
    // alice's key is held here; bob's is not.
    let mut keys = crate::hosts::UserKeys::default();
    let secret = ethos_crypto::SecretKey::from_bytes([1; 32]);
    let public = super::super::identity::PublicKey(secret.public_key().0);
    assert!(keys.insert(user("alice"), &public, secret));
    model.install_user_keys(keys);
    model
        .write_var(editor, home, "signed", &point(7, 8), 50)
        .unwrap();
    let random = [9u8; 64];
    let event = model.sign_file(editor, home, "signed", &random).unwrap();
    let (signature, public_key) = super::signing::completed_signature(&mut model, editor, event);
    assert_eq!(public_key, public.0);
    // It is the signature `authenticate` accepts for the value `readVar` gives,
    // and for nothing else.
    let read = model.read_var(editor, home, "signed").unwrap();
    let stored = value(&mut model, editor, read);
    assert_eq!(
        model.authenticate(editor, &public_key, &stored, &signature),
        Ok(())
    );
    assert_eq!(
        model.authenticate(editor, &public_key, &point(7, 9), &signature),
        Err(Status::InvalidAuthentication)
    );
    // readVar's checks: the descriptor's read right, a file that is there; and a
    // user whose key is not held is refused.
    let no_read = model
        .copy_descriptor(editor, home, DescriptorRights::WRITE)
        .unwrap();
    assert_eq!(
        model
            .sign_file(editor, no_read, "signed", &random)
            .map(drop),
        Err(Status::NotAuthorized)
    );
    assert_eq!(
        model.sign_file(editor, home, "missing", &random).map(drop),
        Err(Status::NoSuchObject)
    );
    let bob = model
        .create_process(&user("bob"), &program("viewer"))
        .unwrap();
    let bobs_home = model.open_directory(bob, root(), "home").unwrap();
    assert_eq!(
        model.sign_file(bob, bobs_home, "signed", &random).map(drop),
        Err(Status::NotAuthorized)
    );
}
