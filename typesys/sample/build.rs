//! Generates the Rust types of `../tests/sample.etn` into `OUT_DIR`.

fn main() {
    if let Err(error) =
        ethos_typesys::codegen::build_script::compile("../tests/sample.etn", "sample.rs")
    {
        eprintln!("{error}");
        std::process::exit(1);
    }
}
