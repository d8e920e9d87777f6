//! The communication of the sharded LM head
//! ([`LinearCrossEntropyLoss::forward_backward_sharded`](crate::LinearCrossEntropyLoss::forward_backward_sharded)):
//! a small [`Collective`] trait (two operations), with an implementation for
//! one process ([`Local`]), one for threads of one process standing in for
//! processes ([`ThreadGroup`], for tests and single-machine runs), and, with
//! the `mpi` feature, one on MPI (`Mpi`, the `mpi` crate over Open MPI or
//! MPICH).
//!
//! # Examples
//! ```
//! use losslab::collective::{Collective, ThreadGroup};
//! let members = ThreadGroup::new(3);
//! let gathered: Vec<Vec<f64>> = std::thread::scope(|s| {
//!     let handles: Vec<_> = members
//!         .iter()
//!         .map(|m| s.spawn(move || {
//!             let mut all = vec![0.0; 3 * 2];
//!             m.all_gather(&[m.rank() as f64, 10.0], &mut all).unwrap();
//!             all
//!         }))
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).collect()
//! });
//! assert!(gathered.iter().all(|g| g == &[0.0, 10.0, 1.0, 10.0, 2.0, 10.0]));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};

/// A buffer reduced in place by [`Collective::all_reduce_sum`].
#[derive(Debug)]
pub enum ReduceBuf<'a> {
    /// `f32` elements.
    F32(&'a mut [f32]),
    /// `f64` elements.
    F64(&'a mut [f64]),
}

impl ReduceBuf<'_> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            ReduceBuf::F32(b) => b.len(),
            ReduceBuf::F64(b) => b.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of the buffer.
    pub fn bytes(&self) -> usize {
        match self {
            ReduceBuf::F32(b) => 4 * b.len(),
            ReduceBuf::F64(b) => 8 * b.len(),
        }
    }
}

/// The collective operations a group of processes (ranks `0..size`) performs
/// together. Every rank calls the same operations in the same order with
/// buffers of the same length; an implementation returns an error (never
/// hangs on one) where it can tell that a rank did not.
pub trait Collective {
    /// This process's rank, in `0..size()`.
    fn rank(&self) -> usize;
    /// The number of processes.
    fn size(&self) -> usize;
    /// Every rank's `send` (one length on all ranks), concatenated in rank order
    /// into `recv` (`size() × send.len()` elements).
    ///
    /// # Errors
    /// A message saying what failed (a length mismatch, the transport's error).
    fn all_gather(&self, send: &[f64], recv: &mut [f64]) -> Result<(), String>;
    /// The element-wise sum over the ranks of `buf` (one length on all ranks), in place.
    ///
    /// # Errors
    /// As [`all_gather`](Collective::all_gather).
    fn all_reduce_sum(&self, buf: ReduceBuf<'_>) -> Result<(), String>;
    /// The bytes this process has sent so far (for reports).
    fn bytes_sent(&self) -> u64 {
        0
    }
}

/// One process alone: rank 0 of 1; every operation is a copy or nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

impl Collective for Local {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather(&self, send: &[f64], recv: &mut [f64]) -> Result<(), String> {
        if recv.len() != send.len() {
            return Err(format!("all_gather: {} elements to receive for {} sent by one rank", recv.len(), send.len()));
        }
        recv.copy_from_slice(send);
        Ok(())
    }
    fn all_reduce_sum(&self, _buf: ReduceBuf<'_>) -> Result<(), String> {
        Ok(())
    }
}

/// The shared state of a [`ThreadGroup`].
#[derive(Debug)]
struct Shared {
    size: usize,
    barrier: Barrier,
    slots: Mutex<Vec<Vec<f64>>>,
}

/// A group of `size` threads of this process standing in for processes: each
/// thread holds one member ([`ThreadGroup::new`]) and calls the operations
/// with it, as an MPI rank would. Sums are taken in rank order, in `f64`:
/// the results are the same bits on every member and from run to run.
#[derive(Debug)]
pub struct ThreadGroup {
    rank: usize,
    shared: Arc<Shared>,
    sent: AtomicU64,
}

impl ThreadGroup {
    /// The `size` members of a new group, rank 0 first (at least one).
    pub fn new(size: usize) -> Vec<ThreadGroup> {
        let size = size.max(1);
        let shared = Arc::new(Shared { size, barrier: Barrier::new(size), slots: Mutex::new(vec![vec![]; size]) });
        (0..size).map(|rank| ThreadGroup { rank, shared: Arc::clone(&shared), sent: AtomicU64::new(0) }).collect()
    }

    /// Every member's `send`, in rank order (between two barriers).
    fn exchange(&self, send: Vec<f64>) -> Result<Vec<Vec<f64>>, String> {
        let n = send.len();
        self.sent.fetch_add(8 * n as u64, Ordering::Relaxed);
        self.shared.slots.lock().map_err(|_| "a member panicked".to_string())?[self.rank] = send;
        self.shared.barrier.wait();
        let all = self.shared.slots.lock().map_err(|_| "a member panicked".to_string())?.clone();
        self.shared.barrier.wait();
        if let Some((r, s)) = all.iter().enumerate().find(|(_, s)| s.len() != n) {
            return Err(format!("rank {} sent {} elements, rank {r} sent {}", self.rank, n, s.len()));
        }
        Ok(all)
    }
}

impl Collective for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.size
    }
    fn all_gather(&self, send: &[f64], recv: &mut [f64]) -> Result<(), String> {
        if recv.len() != self.size() * send.len() {
            return Err(format!("all_gather: {} elements to receive for {} sent by each of {} ranks", recv.len(), send.len(), self.size()));
        }
        let all = self.exchange(send.to_vec())?;
        for (chunk, s) in recv.chunks_mut(send.len().max(1)).zip(&all) {
            chunk.copy_from_slice(s);
        }
        Ok(())
    }
    fn all_reduce_sum(&self, buf: ReduceBuf<'_>) -> Result<(), String> {
        match buf {
            ReduceBuf::F32(b) => {
                let all = self.exchange(b.iter().map(|&v| f64::from(v)).collect())?;
                for (k, v) in b.iter_mut().enumerate() {
                    *v = all.iter().map(|s| s[k]).sum::<f64>() as f32;
                }
            }
            ReduceBuf::F64(b) => {
                let all = self.exchange(b.to_vec())?;
                for (k, v) in b.iter_mut().enumerate() {
                    *v = all.iter().map(|s| s[k]).sum();
                }
            }
        }
        Ok(())
    }
    fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// MPI: the ranks of a communicator (`mpi::topology::SimpleCommunicator`,
/// usually `universe.world()`), through `MPI_Allgather` and `MPI_Allreduce`
/// with `MPI_SUM` (for a given number of processes, the same algorithm and so
/// the same bits from run to run).
#[cfg(feature = "mpi")]
pub struct Mpi {
    comm: mpi::topology::SimpleCommunicator,
    sent: AtomicU64,
}

#[cfg(feature = "mpi")]
impl Mpi {
    /// Wraps a communicator.
    pub fn new(comm: mpi::topology::SimpleCommunicator) -> Mpi {
        Mpi { comm, sent: AtomicU64::new(0) }
    }

    /// The communicator.
    pub fn communicator(&self) -> &mpi::topology::SimpleCommunicator {
        &self.comm
    }
}

#[cfg(feature = "mpi")]
impl Collective for Mpi {
    fn rank(&self) -> usize {
        use mpi::topology::Communicator;
        self.comm.rank() as usize
    }
    fn size(&self) -> usize {
        use mpi::topology::Communicator;
        self.comm.size() as usize
    }
    fn all_gather(&self, send: &[f64], recv: &mut [f64]) -> Result<(), String> {
        use mpi::collective::CommunicatorCollectives;
        if recv.len() != self.size() * send.len() {
            return Err(format!("all_gather: {} elements to receive for {} sent by each of {} ranks", recv.len(), send.len(), self.size()));
        }
        self.sent.fetch_add(8 * send.len() as u64, Ordering::Relaxed);
        self.comm.all_gather_into(send, recv);
        Ok(())
    }
    fn all_reduce_sum(&self, buf: ReduceBuf<'_>) -> Result<(), String> {
        use mpi::collective::{CommunicatorCollectives, SystemOperation};
        self.sent.fetch_add(buf.bytes() as u64, Ordering::Relaxed);
        match buf {
            ReduceBuf::F32(b) => {
                let send = b.to_vec();
                self.comm.all_reduce_into(&send[..], b, SystemOperation::sum());
            }
            ReduceBuf::F64(b) => {
                let send = b.to_vec();
                self.comm.all_reduce_into(&send[..], b, SystemOperation::sum());
            }
        }
        Ok(())
    }
    fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}
