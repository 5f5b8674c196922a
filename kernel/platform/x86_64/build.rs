//! Puts the initial image the kernel embeds (`ETHOS_INITIAL_IMAGE`) into the build's
//! output directory, with its `devices` entry beside it: the one entry the boot
//! needs, which the kernel then reads without walking (and checksumming) the whole
//! archive. The entry is found with the same tar reader the kernel uses; an image
//! that reader refuses, or one without the entry, leaves the copy empty, and the
//! kernel reads the image itself to say what is wrong.
//!
//! The entry is also decoded here, with the kernel's own checks
//! (`devices_backend_choice`), into `initial-backends.rs`: the choice as a list of
//! (class, backend), which the boot applies without decoding the record (a heap,
//! `bincode` and `serde`: some 6,000 instructions). A record the reader refuses
//! gives no list, and the kernel decodes the record at boot to say why.

#[path = "../../embed.rs"]
mod embed;

use tar_no_std::TarArchiveRef;

fn main() {
    embed::embed("ETHOS_INITIAL_IMAGE", "initial.tar");
    let output = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let image = std::fs::read(output.join("initial.tar")).expect("embed wrote the image");
    let devices = TarArchiveRef::new(&image)
        .ok()
        .and_then(|archive| {
            archive
                .entries()
                .find(|entry| entry.filename().as_str() == Ok("devices"))
                .map(|entry| entry.data().to_vec())
        })
        .unwrap_or_default();
    let choice = if devices.is_empty() {
        None
    } else {
        ethos_core::initial_image::devices_backend_choice(&devices).ok()
    };
    let decoded = match choice {
        Some(choice) => {
            let pairs: Vec<String> = choice
                .iter()
                .map(|(class, backend)| format!("(DeviceClass::{class:?}, Backend::{backend:?})"))
                .collect();
            format!("Some(&[{}])\n", pairs.join(", "))
        }
        None => "None\n".to_string(),
    };
    std::fs::write(output.join("initial-backends.rs"), decoded)
        .expect("the output directory is writable");
    std::fs::write(output.join("initial-devices"), devices)
        .expect("the output directory is writable");
}
