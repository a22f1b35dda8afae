//! Writing to stdout and stderr without panicking: `println!`/`eprintln!` panic when the
//! other end of a pipe is gone (`hactl state list | head -1`). Here a closed stdout ends
//! the output quietly and the command finishes with its usual exit code; stderr write
//! errors are ignored (there is nowhere left to report them).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Stdout turned out to be a closed pipe. The binary's one process-wide static: stdout is
/// the process's, written from every command through `out!`/`outln!`, so what was learnt
/// about it holds for all of them.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` to stdout. A closed pipe is not an error (nothing more is written);
/// any other write error is (e.g. a full disk under `plan --json > plan.json`).
pub fn stdout(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// True once stdout turned out to be a closed pipe.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Writes `args` to stderr, ignoring errors.
pub fn stderr(args: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// `print!` that does not panic on a closed stdout; evaluates to `anyhow::Result<()>`.
macro_rules! out {
    ($($t:tt)*) => { $crate::output::stdout(format_args!($($t)*)) };
}

/// `println!` that does not panic on a closed stdout; evaluates to `anyhow::Result<()>`.
macro_rules! outln {
    ($($t:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($t)*))) };
}

/// `eprint!` that never panics.
macro_rules! err {
    ($($t:tt)*) => { $crate::output::stderr(format_args!($($t)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($t:tt)*) => { $crate::output::stderr(format_args!("{}\n", format_args!($($t)*))) };
}
