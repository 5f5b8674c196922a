//! Running external programs, each echoed before it runs.

use std::process::{Command, Output};

use ethos_tests::qemu::shell_quote;

use crate::XtaskError;

/// The command as a shell line, starting with `cd DIRECTORY &&` when it runs
/// somewhere other than here (where it runs can change what it does: cargo reads
/// `.cargo/config.toml` from there).
pub fn display(command: &Command) -> String {
    let here = std::env::current_dir().ok();
    let directory = command
        .get_current_dir()
        .filter(|directory| here.as_deref() != Some(*directory))
        .map(|directory| format!("cd {} && ", shell_quote(&directory.to_string_lossy())));
    let line = std::iter::once(command.get_program().to_string_lossy().into_owned())
        .chain(
            command
                .get_args()
                .map(|argument| shell_quote(&argument.to_string_lossy())),
        )
        .collect::<Vec<_>>()
        .join(" ");
    directory.unwrap_or_default() + &line
}

/// Prints `$ command` to standard error.
pub fn echo(command: &Command) {
    eprintln!("$ {}", display(command));
}

/// Echoes and runs `command`, inheriting standard streams; fails unless it succeeds.
pub fn run(command: &mut Command) -> Result<(), XtaskError> {
    echo(command);
    let status = command.status().map_err(|error| XtaskError::Spawn {
        program: command.get_program().to_string_lossy().into_owned(),
        error,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(XtaskError::Failed {
            command: display(command),
            status,
        })
    }
}

/// Echoes and runs `command`, capturing its output; fails unless it succeeds.
pub fn output(command: &mut Command) -> Result<Output, XtaskError> {
    echo(command);
    let output = command.output().map_err(|error| XtaskError::Spawn {
        program: command.get_program().to_string_lossy().into_owned(),
        error,
    })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(XtaskError::Failed {
            command: display(command),
            status: output.status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_run_elsewhere_shows_where() {
        let mut command = Command::new("cargo");
        command.args(["build", "-p", "two words"]);
        assert_eq!(display(&command), "cargo build -p 'two words'");
        command.current_dir("/elsewhere");
        assert_eq!(
            display(&command),
            "cd /elsewhere && cargo build -p 'two words'"
        );
    }
}
