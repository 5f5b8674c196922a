//! Declares the `fuzzing` configuration, which `cargo fuzz` sets and under which the
//! crate's primitives are replaced by cheap stand-ins (see `src/stand_in.rs`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
}
