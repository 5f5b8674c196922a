//! Puts the initial image the kernel embeds (`ETHOS_INITIAL_IMAGE`) into the build's
//! output directory, with its `devices` entry beside it: the one entry the boot
//! needs, which the kernel then reads without walking (and checksumming) the whole
//! archive. The entry is found with the same tar reader the kernel uses; an image
//! that reader refuses, or one without the entry, leaves the copy empty, and the
//! kernel reads the image itself to say what is wrong.

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
    std::fs::write(output.join("initial-devices"), devices)
        .expect("the output directory is writable");
}
