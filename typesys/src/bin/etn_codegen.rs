//! `etn-codegen INPUT.etn [OUTPUT.rs]`: generates Rust from an ETN file, to OUTPUT or
//! to standard output. Build scripts use `ethos_typesys::codegen::build_script`
//! instead; this command is for looking at what is generated.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (input, output) = match arguments.as_slice() {
        [input] => (input, None),
        [input, output] => (input, Some(output)),
        _ => {
            eprintln!("usage: etn-codegen INPUT.etn [OUTPUT.rs]");
            return ExitCode::from(2);
        }
    };
    let source = match std::fs::read_to_string(input) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("{input}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let generated = match ethos_typesys::codegen::generate_from_source(input, &source) {
        Ok(generated) => generated,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let written = match output {
        Some(path) => std::fs::write(path, generated).map_err(|error| format!("{path}: {error}")),
        None => {
            print!("{generated}");
            Ok(())
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
