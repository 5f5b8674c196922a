//! The one error type of the build tooling, with a message for every case.

use std::fmt;
use std::path::PathBuf;

/// Why an xtask step failed.
#[derive(Debug)]
pub enum XtaskError {
    /// An external program could not be started.
    Spawn {
        program: String,
        error: std::io::Error,
    },
    /// An external program ran and failed.
    Failed {
        command: String,
        status: std::process::ExitStatus,
    },
    /// A tool is missing and could not be installed here.
    MissingTool { tool: String, install: String },
    /// Something the build needs from outside the project is missing or wrong (a
    /// rump kernel build, say); the text says what and where.
    Prerequisite(String),
    /// The command was asked something it cannot do (a filter that selects nothing).
    Usage(String),
    /// Reading or writing a file failed.
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A built image does not have the structure its platform needs.
    BadImage { path: PathBuf, problem: String },
    /// A description file (such as `images/boot/image.toml`) is wrong, at this line
    /// and column when that is known.
    Description {
        path: PathBuf,
        location: Option<(usize, usize)>,
        problem: String,
    },
}

impl fmt::Display for XtaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XtaskError::Spawn { program, error } => write!(f, "cannot run `{program}`: {error}"),
            XtaskError::Failed { command, status } => write!(f, "`{command}` failed ({status})"),
            XtaskError::MissingTool { tool, install } => {
                write!(f, "`{tool}` is missing; install it with: {install}")
            }
            XtaskError::Prerequisite(problem) | XtaskError::Usage(problem) => f.write_str(problem),
            XtaskError::File { path, error } => write!(f, "{}: {error}", path.display()),
            XtaskError::BadImage { path, problem } => write!(f, "{}: {problem}", path.display()),
            XtaskError::Description {
                path,
                location: Some((line, column)),
                problem,
            } => write!(f, "{}:{line}:{column}: {problem}", path.display()),
            XtaskError::Description {
                path,
                location: None,
                problem,
            } => write!(f, "{}: {problem}", path.display()),
        }
    }
}

impl std::error::Error for XtaskError {}

/// Attaches a path to an I/O error.
pub trait FileContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, XtaskError>;
}

impl<T> FileContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, XtaskError> {
        self.map_err(|error| XtaskError::File {
            path: path.into(),
            error,
        })
    }
}
