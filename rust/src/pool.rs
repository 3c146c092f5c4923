//! The one bounded, ordered parallel pipeline of the core.
//!
//! A producer (the thread reading a file, or the one walking Python objects) submits jobs in
//! order; they run on the rayon pool, at most a few at a time, so that memory stays bounded
//! whatever the size of the input. Results come back in submission order. Of several failed
//! jobs, the error of the earliest one wins — whichever finished first — and a job that
//! would come after a known failure is skipped. A panic in a job becomes an
//! [`ErrorKind::Internal`] error (a panic must not unwind out of a rayon job: that aborts).
//!
//! The blocking calls ([`Pool::make_room`], [`Pool::finish`]) take `&mut self` or `self` and
//! the pool is `Send`, so a binding can make them with its interpreter lock released.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use crate::error::{Error, ErrorKind, Result};

type Outcome<T> = (usize, Result<T>);

/// Run `f`, turning a panic into an internal error (a bug, with the panic's message).
pub fn no_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| Err(Error::from_panic(&*panic)))
}

/// Jobs in order, results in order; see the module documentation.
pub struct Pool<T> {
    tx: mpsc::Sender<Outcome<T>>,
    rx: mpsc::Receiver<Outcome<T>>,
    limit: usize,
    in_flight: usize,
    results: Vec<Option<T>>,
    /// The earliest failure received so far: (position, error).
    error: Option<(usize, Error)>,
    /// The earliest failed position any job has reported (`usize::MAX`: none), shared with
    /// the jobs so that later ones skip their work.
    failed_at: Arc<AtomicUsize>,
}

impl<T: Send + 'static> Default for Pool<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static> Pool<T> {
    /// A pool keeping two jobs per worker thread (plus one) in flight.
    pub fn new() -> Self {
        Self::with_limit(rayon::current_num_threads().max(1) * 2 + 1)
    }

    pub fn with_limit(limit: usize) -> Self {
        let (tx, rx) = mpsc::channel();
        Pool {
            tx,
            rx,
            limit: limit.max(1),
            in_flight: 0,
            results: Vec::new(),
            error: None,
            failed_at: Arc::new(AtomicUsize::new(usize::MAX)),
        }
    }

    /// Jobs submitted so far.
    pub fn submitted(&self) -> usize {
        self.results.len()
    }

    /// Can a job be submitted without waiting?
    pub fn has_room(&self) -> bool {
        self.in_flight < self.limit
    }

    /// Has a job failed (among those that reported back)?
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    fn receive(&mut self, (position, result): Outcome<T>) {
        self.in_flight -= 1;
        match result {
            Ok(value) => self.results[position] = Some(value),
            Err(e) => {
                if !matches!(&self.error, Some((p, _)) if *p <= position) {
                    self.error = Some((position, e));
                }
            }
        }
    }

    /// Wait until a job can be submitted.
    pub fn make_room(&mut self) {
        while !self.has_room() {
            match self.rx.recv() {
                Ok(outcome) => self.receive(outcome),
                Err(_) => break, // unreachable: `self` holds a sender
            }
        }
    }

    /// Submit the next job (waiting for room first).
    pub fn submit(&mut self, job: impl FnOnce() -> Result<T> + Send + 'static) {
        self.make_room();
        let position = self.results.len();
        self.results.push(None);
        self.in_flight += 1;
        let tx = self.tx.clone();
        let failed_at = Arc::clone(&self.failed_at);
        spawn(move || {
            let result = if failed_at.load(Ordering::Relaxed) < position {
                Err(Error::new(
                    ErrorKind::Internal,
                    "skipped after an earlier failure",
                ))
            } else {
                no_panic(job)
            };
            if result.is_err() {
                failed_at.fetch_min(position, Ordering::Relaxed);
            }
            let _ = tx.send((position, result));
        });
    }

    /// Wait for every job; their results in submission order, or the error of the earliest
    /// job that failed.
    pub fn finish(mut self) -> Result<Vec<T>> {
        while self.in_flight > 0 {
            match self.rx.recv() {
                Ok(outcome) => self.receive(outcome),
                Err(_) => break,
            }
        }
        if let Some((_, e)) = self.error {
            return Err(e);
        }
        self.results
            .into_iter()
            .map(|r| r.ok_or_else(|| Error::new(ErrorKind::Internal, "a job's result was lost")))
            .collect()
    }
}

/// On wasm32 (no threads) a job runs on the calling thread as it is submitted: its result is
/// in the channel before anyone waits for it.
#[cfg(target_arch = "wasm32")]
fn spawn(job: impl FnOnce() + Send + 'static) {
    job()
}
#[cfg(not(target_arch = "wasm32"))]
use rayon::spawn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order() {
        let mut pool = Pool::with_limit(3);
        for i in 0..100u64 {
            pool.submit(move || {
                std::thread::sleep(std::time::Duration::from_micros((100 - i) * 10));
                Ok(i)
            });
        }
        assert_eq!(pool.finish().unwrap(), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn the_earliest_failure_wins() {
        let mut pool = Pool::with_limit(4);
        for i in 0..50usize {
            pool.submit(move || {
                if i == 30 {
                    return Err(Error::new(ErrorKind::InvalidExample, "thirty"));
                }
                if i == 7 {
                    // Fails after the later job did.
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    return Err(Error::new(ErrorKind::InvalidExample, "seven"));
                }
                Ok(i)
            });
        }
        assert_eq!(pool.finish().unwrap_err().message, "seven");
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {})); // keep the test output quiet
        let mut pool = Pool::new();
        pool.submit(|| -> Result<usize> { panic!("index {} out of range", 7) });
        let e = pool.finish().unwrap_err();
        std::panic::set_hook(hook);
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(e.message.starts_with("bug in phoenix-upsert's native core"));
        assert!(e.message.ends_with("index 7 out of range"), "{e}");
    }
}
