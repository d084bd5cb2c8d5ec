//! Exit codes and the one typed error that carries them.
//!
//! Everything else is `anyhow`. A failure that must end the process with a specific code is a
//! `Failure` somewhere in the error's chain (as the error itself or as context); `code_of`
//! walks the chain to find it. A broken pipe on the output is not a failure: the reader left.

use std::fmt;
use std::io;

/// The documented exit codes (`--help` and the README print this table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Success,
    Other,
    Usage,
    Auth,
    Forbidden,
    GaveUp,
    Output,
    Interrupted,
}

impl Code {
    pub fn as_i32(self) -> i32 {
        match self {
            Code::Success => 0,
            Code::Other => 1,
            Code::Usage => 2,
            Code::Auth => 3,
            Code::Forbidden => 4,
            Code::GaveUp => 5,
            Code::Output => 6,
            Code::Interrupted => 130,
        }
    }
}

/// An error that ends the run with `code`.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub fn failure(code: Code, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        code,
        message: message.into(),
    })
}

/// A usage or configuration error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    failure(Code::Usage, message)
}

/// Context that marks an error as a usage or configuration error (exit 2).
pub fn usage_context(message: impl Into<String>) -> Failure {
    Failure {
        code: Code::Usage,
        message: message.into(),
    }
}

/// Context that marks an error as an output failure (exit 6).
pub fn output(message: impl Into<String>) -> Failure {
    Failure {
        code: Code::Output,
        message: message.into(),
    }
}

/// Whether the error is the reader of our output going away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The exit code for an error: the outermost `Failure` in its chain, else 1.
pub fn code_of(err: &anyhow::Error) -> Code {
    if is_broken_pipe(err) {
        return Code::Success;
    }
    // `downcast_ref` on the anyhow error sees context values too; the chain walk finds a
    // `Failure` that became the source of another error.
    err.downcast_ref::<Failure>()
        .or_else(|| {
            err.chain()
                .find_map(|cause| cause.downcast_ref::<Failure>())
        })
        .map_or(Code::Other, |f| f.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_are_the_documented_numbers() {
        let all = [
            (Code::Success, 0),
            (Code::Other, 1),
            (Code::Usage, 2),
            (Code::Auth, 3),
            (Code::Forbidden, 4),
            (Code::GaveUp, 5),
            (Code::Output, 6),
            (Code::Interrupted, 130),
        ];
        for (code, n) in all {
            assert_eq!(code.as_i32(), n);
        }
    }

    #[test]
    fn code_is_found_through_context() {
        let e = usage("bad flag");
        assert_eq!(code_of(&e), Code::Usage);
        let e: anyhow::Error = Err::<(), _>(io::Error::other("disk full"))
            .context(output("cannot write out.csv"))
            .unwrap_err();
        assert_eq!(code_of(&e), Code::Output);
        let e = failure(Code::Auth, "refused").context("while exporting");
        assert_eq!(code_of(&e), Code::Auth);
        let e: anyhow::Error = Err::<(), _>(io::Error::from(io::ErrorKind::NotFound))
            .context(usage_context("cannot read --ca-file x"))
            .unwrap_err();
        assert_eq!(code_of(&e), Code::Usage);
        assert_eq!(code_of(&anyhow::anyhow!("plain")), Code::Other);
    }

    #[test]
    fn broken_pipe_is_a_quiet_success() {
        let e: anyhow::Error = Err::<(), _>(io::Error::from(io::ErrorKind::BrokenPipe))
            .context(output("cannot write to stdout"))
            .unwrap_err();
        assert!(is_broken_pipe(&e));
        assert_eq!(code_of(&e), Code::Success);
    }
}
