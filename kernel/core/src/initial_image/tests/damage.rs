//! Damaged images, each with the exact error the reader gives.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use ethos_typesys::wire;
use serde::Serialize;

use super::{header_offsets, labelled, process, sample, user, written};
use crate::initial_image::*;

/// The image's entries, as (path, data), in archive order.
fn unpacked(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            (path, data)
        })
        .collect()
}

/// An archive of exactly these entries, each of this type.
fn packed(entries: &[(String, Vec<u8>)], entry_type: tar::EntryType) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_path(path).unwrap();
        header.set_size(data.len() as u64);
        header.set_entry_type(entry_type);
        header.set_cksum();
        builder.append(&header, data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The sample with the entry at `path` replaced by `data` (or removed for `None`).
fn replaced(path: &str, data: Option<Vec<u8>>) -> Vec<u8> {
    let entries: Vec<_> = unpacked(&written(&sample()))
        .into_iter()
        .filter_map(|(entry, old)| match entry == path {
            true => data.clone().map(|data| (entry, data)),
            false => Some((entry, old)),
        })
        .collect();
    packed(&entries, tar::EntryType::Regular)
}

fn encoded<T: Serialize>(value: &T) -> Vec<u8> {
    wire::encode(value).unwrap()
}

/// The sample with one change to its contents.
fn changed(change: impl FnOnce(&mut ImageContents<'static>)) -> Vec<u8> {
    let mut contents = sample();
    change(&mut contents);
    written(&contents)
}

/// Recomputes the checksum of the header block at `offset`: the sum of its bytes
/// with the checksum field read as spaces, in six octal digits, NUL, space.
pub(super) fn rechecksum(bytes: &mut [u8], offset: usize) {
    let header = &mut bytes[offset..offset + 512];
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|&byte| u32::from(byte)).sum();
    let field = std::format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(field.as_bytes());
}

fn refusal(bytes: &[u8]) -> String {
    match read(bytes) {
        Ok(image) => panic!("a damaged image was accepted: {image:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn the_boot_reads_a_damaged_choice_as_the_whole_reader_does() {
    let bytes = changed(|contents| contents.devices.backends[1].backend = String::from("bsd"));
    assert_eq!(
        read_backend_choice(&bytes).unwrap_err().to_string(),
        refusal(&bytes)
    );
    assert_eq!(
        read_backend_choice(&replaced("devices", None))
            .unwrap_err()
            .to_string(),
        "the image has no `devices` entry"
    );
    assert!(read_backend_choice(&[]).is_err());
}

#[test]
fn damaged_archives_are_refused() {
    let good = written(&sample());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "no bytes",
            Vec::new(),
            "not a whole ustar archive: archive contains no data",
        ),
        (
            "cut inside a block",
            good[..good.len() - 100].to_vec(),
            "not a whole ustar archive: archive length is not a multiple of 512 bytes",
        ),
        (
            "cut inside an entry",
            {
                let big = b"\x7fELF"
                    .iter()
                    .copied()
                    .chain(core::iter::repeat_n(0, 2000));
                let big: &'static [u8] = Vec::leak(big.collect());
                let bytes = changed(|contents| contents.programs[0].1 = big);
                // users/alice and users/bob take two blocks each; programs/hello is next.
                assert_eq!(header_offsets(&bytes)[2], 4 * 512);
                bytes[..6 * 512].to_vec()
            },
            "not a whole ustar archive: payload described by header at block 4 extends \
            beyond the archive",
        ),
        (
            "cut before its end blocks",
            good[..good.len() - 1024].to_vec(),
            "not a whole ustar archive: archive does not end with two zero blocks",
        ),
        (
            "a damaged header",
            {
                let mut bytes = good.clone();
                bytes[0] ^= 1;
                bytes
            },
            "not a whole ustar archive: header at block 0 has an invalid checksum",
        ),
        (
            "a directory",
            packed(
                &[(String::from("programs/"), Vec::new())],
                tar::EntryType::Directory,
            ),
            "entry `programs/` has ustar type '5'; only regular files may be in the image",
        ),
        (
            "a path that is not UTF-8",
            {
                let mut bytes = good.clone();
                bytes[0] = 0xff;
                rechecksum(&mut bytes, 0);
                bytes
            },
            "the path of entry number 0 is not UTF-8",
        ),
        (
            "an unknown entry",
            packed(
                &[(String::from("etc/passwd"), Vec::new())],
                tar::EntryType::Regular,
            ),
            "entry `etc/passwd` is none of programs/NAME, types/NAME.etn, users/NAME, \
             init/NAME, keys/NAME, labels, policy, services, devices, limits, storage, host, hosts",
        ),
        (
            "a type file without .etn",
            packed(
                &[(String::from("types/boot"), Vec::new())],
                tar::EntryType::Regular,
            ),
            "entry `types/boot` is none of programs/NAME, types/NAME.etn, users/NAME, \
             init/NAME, keys/NAME, labels, policy, services, devices, limits, storage, host, hosts",
        ),
        (
            "no policy",
            replaced("policy", None),
            "the image has no `policy` entry",
        ),
        (
            "no services",
            replaced("services", None),
            "the image has no `services` entry",
        ),
        (
            "no labels",
            replaced("labels", None),
            "the image has no `labels` entry",
        ),
        (
            "no devices",
            replaced("devices", None),
            "the image has no `devices` entry",
        ),
    ];
    for (about, bytes, expected) in cases {
        assert_eq!(refusal(&bytes), expected, "{about}");
    }
}

#[test]
fn damaged_contents_are_refused() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a user twice",
            changed(|contents| contents.users.push((String::from("bob"), user(3, &[])))),
            "entry `users/bob` appears twice",
        ),
        (
            "a record that does not decode",
            replaced("policy", Some(vec![1, 2, 3])),
            "entry `policy`: cannot decode value: UnexpectedEnd { additional: 5 }",
        ),
        (
            "a record with bytes after it",
            replaced(
                "users/bob",
                Some({
                    let mut bytes = encoded(&user(2, &[]));
                    bytes.push(0);
                    bytes
                }),
            ),
            "entry `users/bob`: value ends after 40 of 41 bytes",
        ),
        (
            "a user name with a control character",
            changed(|contents| contents.users[1].0 = String::from("bo\tb")),
            "entry `users/bo\tb`: user name \"bo\\tb\": name holds '/' or a control character",
        ),
        (
            "an empty group name",
            changed(|contents| contents.users[0].1.groups.push(String::new())),
            "entry `users/alice`: group name \"\": name is empty",
        ),
        (
            "a program that is not ELF",
            changed(|contents| contents.programs[0].1 = b"#!/bin/sh"),
            "entry `programs/hello` is not an ELF executable",
        ),
        (
            "ETN that is not UTF-8",
            changed(|contents| contents.type_files[0].1 = b"Name \xff"),
            "entry `types/boot.etn` is not UTF-8 text (valid up to byte 5)",
        ),
        (
            "ETN that does not parse",
            changed(|contents| contents.type_files[0].1 = b"Message string\nEcho strung"),
            "types/boot.etn:2:6: unknown type `strung`",
        ),
        (
            "a type declared in two files",
            changed(|contents| {
                contents
                    .type_files
                    .push((String::from("more.etn"), b"Message []byte"))
            }),
            "type `Message` is declared in both `types/boot.etn` and `types/more.etn`",
        ),
        (
            "a service of an undeclared type",
            changed(|contents| contents.services.services[0].type_name = String::from("Ping")),
            "entry `services`: service `echo` has type `Ping`, which no ETN file declares",
        ),
        (
            "a service twice",
            changed(|contents| {
                let again = contents.services.services[0].clone();
                contents.services.services.push(again);
            }),
            "entry `services`: service `echo` is declared twice",
        ),
        (
            "a grant to an unknown user",
            changed(|contents| {
                contents.policy.grants[0].principal = PrincipalRecord::User(String::from("eve"))
            }),
            "entry `policy` names user `eve`, who has no `users/` entry",
        ),
        (
            "a grant to a group without members",
            changed(|contents| {
                contents.policy.grants[1].principal = PrincipalRecord::Group(String::from("wheel"))
            }),
            "entry `policy` names group `wheel`, to which no user belongs",
        ),
        (
            "a grant for an unknown program",
            changed(|contents| {
                contents.policy.grants[0].program =
                    ProgramMatchRecord::Program(String::from("chat"))
            }),
            "entry `policy` names program `chat`, which has no `programs/` entry",
        ),
        (
            "a grant of an unknown right",
            changed(|contents| contents.policy.grants[1].rights.push(String::from("root"))),
            "entry `policy`: a grant on label `echo` names right \"root\"; the rights are \
             advertise, import, ipc, fd-receive, read, write, create, remove",
        ),
        (
            "a grant of nothing",
            changed(|contents| contents.policy.grants[1].rights.clear()),
            "entry `policy`: a grant on label `echo` grants no right",
        ),
        (
            "a label for a program the image lacks",
            changed(|contents| contents.labels.labels.push(labelled("chat", "programs"))),
            "entry `labels` labels `programs/chat`, which is not a program of the image",
        ),
        (
            "a label for something that is not a program",
            changed(|contents| {
                contents.labels.labels.push(LabelRecord {
                    path: String::from("policy"),
                    label: String::from("secret"),
                })
            }),
            "entry `labels` labels `policy`, which is not a program of the image",
        ),
        (
            "a program labelled twice",
            changed(|contents| contents.labels.labels.push(labelled("echo", "other"))),
            "entry `labels` labels `programs/echo` twice",
        ),
        (
            "a program without a label",
            changed(|contents| {
                contents.labels.labels.pop();
            }),
            "entry `labels` gives no label for `programs/echo`",
        ),
        (
            "an init set for an unknown user",
            changed(|contents| {
                contents.init_sets[0]
                    .1
                    .processes
                    .push(process("eve", "hello"))
            }),
            "entry `init/default` names user `eve`, who has no `users/` entry",
        ),
        (
            "an init set with an unknown program",
            changed(|contents| {
                contents.init_sets[0]
                    .1
                    .processes
                    .push(process("bob", "chat"))
            }),
            "entry `init/default` names program `chat`, which has no `programs/` entry",
        ),
        (
            "a device class that does not exist",
            changed(|contents| {
                contents.devices.backends[0].class = String::from("nic");
            }),
            "entry `devices` names device class \"nic\"; the classes are network, datagram, \
             block, entropy, console",
        ),
        (
            "a backend that does not exist",
            changed(|contents| {
                contents.devices.backends[1].backend = String::from("netbsd");
            }),
            "entry `devices` chooses backend \"netbsd\" for `datagram`; the backends are \
             native, rump",
        ),
        (
            "a store backend that does not exist",
            changed(|contents| {
                contents.storage = Some(StorageRecord {
                    backend: String::from("zfs"),
                });
            }),
            "entry `storage` chooses backend \"zfs\"; the backends are native, rump",
        ),
        (
            "a class chosen twice",
            changed(|contents| {
                let again = contents.devices.backends[0].clone();
                contents.devices.backends.push(again);
            }),
            "entry `devices` chooses a backend for `network` twice",
        ),
    ];
    for (about, bytes, expected) in cases {
        assert_eq!(refusal(&bytes), expected, "{about}");
    }
}
