//! Puts the `hello` program the user-mode tests run (`ETHOS_PROGRAM_HELLO`) into the
//! build's output directory.

#[path = "../embed.rs"]
mod embed;

fn main() {
    embed::embed("ETHOS_PROGRAM_HELLO", "hello.elf");
}
