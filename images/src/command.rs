//! Running external programs, each echoed before it runs.

use std::process::{Command, Output};

use ethos_tests::qemu::shell_quote;

use crate::XtaskError;

/// The command as a shell line.
pub fn display(command: &Command) -> String {
    std::iter::once(command.get_program().to_string_lossy().into_owned())
        .chain(
            command
                .get_args()
                .map(|argument| shell_quote(&argument.to_string_lossy())),
        )
        .collect::<Vec<_>>()
        .join(" ")
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
