//! Puts the initial image the kernel embeds (`ETHOS_INITIAL_IMAGE`) into the build's
//! output directory.

#[path = "../../embed.rs"]
mod embed;

fn main() {
    embed::embed("ETHOS_INITIAL_IMAGE", "initial.tar");
}
