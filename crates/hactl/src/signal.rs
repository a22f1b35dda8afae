//! Ctrl-C (SIGINT) and SIGTERM: one listener for the whole process and one token,
//! [`Interrupt`], created once in `main` and handed to what a signal acts on.
//!
//! What a signal does depends on the phase the run is in ([`Mode`]):
//! - outside an apply, it releases the lock this process holds (if any) and exits 130;
//! - during an apply or destroy, the first one starts nothing new and lets in-flight
//!   actions finish and be journaled; a second one releases the lock and exits 130;
//! - in `drift --watch`, it stops the loop between runs (a run in progress finishes).
//!
//! The listener is started on first need ([`Interrupt::listen`]), before the first lock
//! is taken: from then on SIGINT and SIGTERM no longer kill the process by default, so an
//! interrupted run never leaves its lock behind (an S3 lock is never taken over
//! automatically). Before that, in commands that take no session lock (`validate`,
//! `output`, `state`, ...), a signal kills the process as by default.
//!
//! No process-wide static: the listener task owns a clone of the token, which holds all a
//! signal needs (the phase, the cancel flag, the wake-up of a watch loop and the held lock).

use crate::exit::ExitStatus;
use hactl_engine::CancelFlag;
use hactl_state::LockRelease;
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::Duration;

/// What the next Ctrl-C (SIGINT) or SIGTERM does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Release the lock this process holds (if any) and exit 130.
    Quit,
    /// Applying: the first signal sets the cancel flag (nothing new starts, in-flight
    /// actions finish and state is saved); a second one releases the lock and exits 130.
    Cancel,
    /// `drift --watch`: a signal asks the loop to stop between runs.
    Watch,
}

/// The run's cancellation token: cloned wherever a signal must be seen (all clones are
/// one token).
#[derive(Clone)]
pub struct Interrupt(Arc<Shared>);

struct Shared {
    /// Set by the first signal during an apply (the engine's cancel flag) or a watch.
    cancel: CancelFlag,
    /// Wakes a watch loop sleeping between runs.
    wake: tokio::sync::Notify,
    mode: Mutex<Mode>,
    /// The lock this process holds, released before a forced quit.
    held: Mutex<Option<LockRelease>>,
    /// The listener is started once.
    listener: Once,
}

/// A lock whose holder panicked is still usable: the data is a plain value.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Interrupt {
    pub fn new() -> Interrupt {
        Interrupt(Arc::new(Shared {
            cancel: CancelFlag::default(),
            wake: tokio::sync::Notify::new(),
            mode: Mutex::new(Mode::Quit),
            held: Mutex::new(None),
            listener: Once::new(),
        }))
    }

    /// Starts the process's one signal listener, the first time only (on the current
    /// Tokio runtime).
    pub fn listen(&self) {
        self.0.listener.call_once(|| {
            tokio::spawn(self.clone().listener());
        });
    }

    /// Sets what the next signal does.
    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.0.mode) = mode;
    }

    /// The cancel flag for the engine's apply (set by the first signal in [`Mode::Cancel`]).
    pub fn cancel_flag(&self) -> CancelFlag {
        self.0.cancel.clone()
    }

    /// Records the lock this process holds (`None` once it is released).
    pub fn hold(&self, held: Option<LockRelease>) {
        *lock(&self.0.held) = held;
    }

    /// A signal asked a watch loop to stop.
    pub fn stop_requested(&self) -> bool {
        self.0.cancel.is_cancelled()
    }

    /// Waits until a signal asks a watch loop to stop (a signal that came while nobody
    /// waited is not lost).
    pub async fn stopped(&self) {
        self.0.wake.notified().await;
    }

    async fn listener(self) {
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            #[cfg(unix)]
            let got = match term.as_mut() {
                Some(t) => {
                    tokio::select! { r = tokio::signal::ctrl_c() => r.is_ok(), _ = t.recv() => true }
                }
                None => tokio::signal::ctrl_c().await.is_ok(),
            };
            #[cfg(not(unix))]
            let got = tokio::signal::ctrl_c().await.is_ok();
            if !got {
                return;
            }
            if self.on_signal() {
                self.quit().await;
            }
        }
    }

    /// Acts on one signal; true when the process must quit now.
    fn on_signal(&self) -> bool {
        let mode = lock(&self.0.mode);
        match *mode {
            Mode::Watch => {
                self.0.cancel.cancel();
                self.0.wake.notify_one();
                false
            }
            Mode::Cancel if !self.0.cancel.is_cancelled() => {
                self.0.cancel.cancel();
                false
            }
            Mode::Cancel => {
                errln!("interrupted again: quitting now");
                true
            }
            Mode::Quit => {
                errln!("interrupted");
                true
            }
        }
    }

    /// Releases the held lock (journaled state is safe; the lock goes first) and exits 130.
    async fn quit(&self) {
        let held = lock(&self.0.held).take();
        if let Some(held) = held {
            let _ = tokio::time::timeout(Duration::from_secs(10), held.release()).await;
        }
        // The one exit outside `main`: the run's futures are still going, and a plain
        // return from here would not stop them.
        std::process::exit(i32::from(ExitStatus::Interrupted.code()));
    }
}

#[cfg(test)]
mod tests {
    use super::{Interrupt, Mode};

    #[test]
    fn a_signal_cancels_an_apply_and_stops_a_watch_without_quitting() {
        let apply = Interrupt::new();
        apply.set_mode(Mode::Cancel);
        let flag = apply.cancel_flag();
        assert!(!apply.on_signal(), "the first signal of an apply only cancels");
        assert!(flag.is_cancelled());

        let watch = Interrupt::new();
        watch.set_mode(Mode::Watch);
        assert!(!watch.stop_requested());
        assert!(!watch.on_signal());
        assert!(!watch.on_signal(), "a watch never quits on a signal");
        assert!(watch.stop_requested());
    }
}
