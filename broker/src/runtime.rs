//! The runtime facade: the one place the broker spawns tasks, sleeps, sets timeouts and reads
//! monotonic time.
//!
//! Everything here is tokio's, whose clock and scheduler the turmoil simulator controls, so the
//! core's timers replay from a seed. Wall-clock time is not here: it comes through
//! [`crate::clock::Clock`]. `broker/clippy.toml` forbids the underlying calls (and `std::time`,
//! `std::thread`, `thread_rng`) everywhere else in the crate; a use outside this module needs an
//! `#[allow(clippy::disallowed_methods)]` with its reason. Like tokio's own `loom` module, the
//! facade is where a different runtime would be swapped in.

// The facade is the one module allowed to call the runtime directly.
#![allow(clippy::disallowed_methods)]

use std::future::{Future, IntoFuture};
use std::time::Duration;

pub use tokio::task::JoinHandle;
pub use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep, Timeout};

thread_local! {
    /// Set by the simulator on its thread: tasks go on the host's `LocalSet`.
    static LOCAL_TASKS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// While the returned guard lives, [`spawn`] on this thread runs tasks on the current
/// `LocalSet` (`tokio::task::spawn_local`), as the simulator needs: a crashed host's tasks are
/// then dropped in spawn order, where tokio's own scheduler drops them in an order that
/// depends on a process-global task counter, so a second run of a seed would diverge.
pub fn use_local_tasks() -> LocalTasks {
    LOCAL_TASKS.with(|l| l.set(true));
    LocalTasks(())
}

/// Ends [`use_local_tasks`] when dropped.
pub struct LocalTasks(());

impl Drop for LocalTasks {
    fn drop(&mut self) {
        LOCAL_TASKS.with(|l| l.set(false));
    }
}

/// Runs `future` as a new task on the current runtime (`tokio::spawn`), or on the current
/// `LocalSet` under [`use_local_tasks`].
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if LOCAL_TASKS.with(|l| l.get()) {
        tokio::task::spawn_local(future)
    } else {
        tokio::spawn(future)
    }
}

/// Now, on the runtime's monotonic clock (simulated time under turmoil).
pub fn now() -> Instant {
    Instant::now()
}

/// Time since `earlier` on the runtime's clock (zero if `earlier` is later).
pub fn elapsed(earlier: Instant) -> Duration {
    Instant::now().saturating_duration_since(earlier)
}

/// Completes `duration` from now.
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    tokio::time::sleep(duration)
}

/// Completes at `deadline`.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    tokio::time::sleep_until(deadline)
}

/// `future`'s output, or an error once `duration` passes first.
#[track_caller]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    tokio::time::timeout(duration, future)
}

/// Ticks every `period`, the first tick at once (`tokio::time::interval`).
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    tokio::time::interval(period)
}
