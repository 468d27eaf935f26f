//! Streaming a matrix by blocks of cells on the thread pool: the next block
//! is read while the current one is processed.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use super::Job;
use crate::error::{DataError, Result};
use crate::matrix::{MatrixSource, RowChunk};

/// Reads each next block as a pool task while `f` processes the current one.
/// The read is spawned before `f` starts, so it is the oldest task on the
/// pool and workers take it (and the chunk decompression it splits into)
/// as soon as they are free, between the pieces of `f`'s work; workers that
/// finish early help decompress rather than wait. (A reader thread of its
/// own left workers idle whenever it fell behind: on 2 cores it got a
/// fourth of the CPU beside the ranking and the writers.)
///
/// `first`, if given, is block 0 already read.
pub(super) fn stream_blocks<F>(
    src: &MatrixSource,
    blocks: &[(usize, usize)],
    first: Option<RowChunk>,
    job: &Job,
    mut f: F,
) -> Result<()>
where
    F: FnMut(RowChunk) -> Result<()>,
{
    rayon::in_place_scope(|s| {
        let read = |k: usize| {
            let (tx, rx) = sync_channel::<Result<RowChunk>>(1);
            let (a, b) = blocks[k];
            s.spawn(move |_| {
                let r = src.read_rows(a, b);
                let _ = tx.send(r);
            });
            rx
        };
        let mut next = match first {
            Some(chunk) if !blocks.is_empty() => {
                debug_assert_eq!((chunk.start, chunk.start + chunk.n_rows()), blocks[0]);
                let (tx, rx) = sync_channel(1);
                let _ = tx.send(Ok(chunk));
                Some(rx)
            }
            _ => (!blocks.is_empty()).then(|| read(0)),
        };
        let mut k = 0;
        while let Some(rx) = next.take() {
            // A sender gone without a result means its task never ran.
            let chunk = recv_from_pool(&rx).unwrap_or(Err(DataError::Cancelled));
            k += 1;
            job.check()?;
            let chunk = chunk?;
            if k < blocks.len() {
                next = Some(read(k));
            }
            f(chunk)?;
        }
        Ok(())
    })
}

/// Receives from a channel whose sender is a pool task. On a pool thread a
/// blocking receive could wait for a task only this thread is free to run,
/// so it runs pool work until the message comes.
pub(super) fn recv_from_pool<T>(rx: &Receiver<T>) -> std::result::Result<T, ()> {
    if rayon::current_thread_index().is_none() {
        return rx.recv().map_err(|_| ());
    }
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(()),
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            }
        }
    }
}

/// Sends on a bounded channel whose receiver waits for work spawned on the
/// pool. On a pool thread (`convert` inside `ThreadPool::install`) a blocking
/// send could wait for work that only this thread is free to run, so it runs
/// pool work while the channel is full.
pub(super) fn send_from_pool<T>(tx: &SyncSender<T>, mut msg: T) -> std::result::Result<(), ()> {
    if rayon::current_thread_index().is_none() {
        return tx.send(msg).map_err(|_| ());
    }
    loop {
        match tx.try_send(msg) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(_)) => return Err(()),
            Err(TrySendError::Full(m)) => {
                msg = m;
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
            }
        }
    }
}

/// Splits a block's rows into pieces for the thread pool.
pub(super) fn pieces(n: usize) -> Vec<(usize, usize)> {
    let k = (rayon::current_num_threads() * 4).max(1);
    let step = n.div_ceil(k).max(1);
    (0..n)
        .step_by(step)
        .map(|a| (a, (a + step).min(n)))
        .collect()
}
