//! [`spsc`]: a lock-free single-producer single-consumer ring of interleaved f32 frames, the
//! hand-off between an audio callback and the worker thread.
//!
//! Samples live in `AtomicU32` cells (the f32's bits) so the ring needs no `unsafe`: a relaxed
//! atomic load or store of a `u32` is a plain `mov` on x86-64 and AArch64. The write and read
//! positions are monotonically increasing counters published with release/acquire ordering, so
//! the consumer sees a sample only after the producer has stored it. Neither side ever blocks,
//! locks or allocates; a full ring refuses samples (the caller counts an overrun), an empty one
//! yields none (an underrun).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// A position counter on its own cache line, so the two sides do not false-share.
#[repr(align(64))]
struct Position(AtomicUsize);

struct Shared {
    cells: Box<[AtomicU32]>,
    /// `cells.len() - 1` (the length is a power of two).
    mask: usize,
    /// Samples per frame: every push and pop moves whole frames.
    channels: usize,
    /// Usable capacity in samples (a whole number of frames, at most `cells.len()`).
    capacity: usize,
    /// Samples ever written (producer-owned) and ever read (consumer-owned).
    write: Position,
    read: Position,
}

/// The writing end; owned by exactly one thread (e.g. the capture callback).
pub struct Producer {
    shared: Arc<Shared>,
    /// Local copy of the write position (only this side changes it).
    write: usize,
}

/// The reading end; owned by exactly one thread (e.g. the playback callback).
pub struct Consumer {
    shared: Arc<Shared>,
    /// Local copy of the read position (only this side changes it).
    read: usize,
}

/// A ring holding at least `frames` frames of `channels` interleaved samples. Allocates now,
/// never afterwards. `channels` and `frames` of 0 are raised to 1.
pub fn spsc(channels: usize, frames: usize) -> (Producer, Consumer) {
    let channels = channels.max(1);
    let capacity = channels * frames.max(1);
    let cells: Box<[AtomicU32]> = (0..capacity.next_power_of_two()).map(|_| AtomicU32::new(0)).collect();
    let mask = cells.len() - 1;
    let shared = Arc::new(Shared {
        cells,
        mask,
        channels,
        capacity,
        write: Position(AtomicUsize::new(0)),
        read: Position(AtomicUsize::new(0)),
    });
    (Producer { shared: shared.clone(), write: 0 }, Consumer { shared, read: 0 })
}

impl Producer {
    /// Samples per frame.
    pub fn channels(&self) -> usize {
        self.shared.channels
    }

    /// Capacity in samples.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Samples that can be pushed now (whole frames).
    pub fn free(&self) -> usize {
        let read = self.shared.read.0.load(Ordering::Acquire);
        let free = self.shared.capacity - self.write.wrapping_sub(read);
        free - free % self.shared.channels
    }

    /// Samples waiting for the consumer.
    pub fn queued(&self) -> usize {
        self.write.wrapping_sub(self.shared.read.0.load(Ordering::Acquire))
    }

    /// Pushes as many whole frames of `src` as fit, converting each sample with `convert`.
    /// Returns the samples pushed; fewer than `src.len()` means the ring was full (an overrun
    /// the caller should count). A trailing partial frame in `src` is never pushed.
    pub fn push_with<T: Copy>(&mut self, src: &[T], convert: impl Fn(T) -> f32) -> usize {
        let whole = src.len() - src.len() % self.shared.channels;
        let n = whole.min(self.free());
        let cells = &self.shared.cells;
        let mask = self.shared.mask;
        for (i, &x) in src[..n].iter().enumerate() {
            cells[self.write.wrapping_add(i) & mask].store(convert(x).to_bits(), Ordering::Relaxed);
        }
        self.write = self.write.wrapping_add(n);
        self.shared.write.0.store(self.write, Ordering::Release);
        n
    }

    /// [`Producer::push_with`] for f32 samples as they are.
    pub fn push(&mut self, src: &[f32]) -> usize {
        self.push_with(src, |x| x)
    }
}

impl Consumer {
    /// Samples per frame.
    pub fn channels(&self) -> usize {
        self.shared.channels
    }

    /// Capacity in samples.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Samples ready to pop (whole frames).
    pub fn available(&self) -> usize {
        let write = self.shared.write.0.load(Ordering::Acquire);
        write.wrapping_sub(self.read)
    }

    /// Pops as many whole frames as fit in `dst` and are available, converting each sample with
    /// `convert`. Returns the samples written to the front of `dst`; the rest of `dst` is left
    /// untouched (fewer than `dst.len()` is an underrun the caller may count).
    pub fn pop_with<T>(&mut self, dst: &mut [T], convert: impl Fn(f32) -> T) -> usize {
        let whole = dst.len() - dst.len() % self.shared.channels;
        let n = whole.min(self.available());
        let cells = &self.shared.cells;
        let mask = self.shared.mask;
        for (i, y) in dst[..n].iter_mut().enumerate() {
            *y = convert(f32::from_bits(cells[self.read.wrapping_add(i) & mask].load(Ordering::Relaxed)));
        }
        self.read = self.read.wrapping_add(n);
        self.shared.read.0.store(self.read, Ordering::Release);
        n
    }

    /// [`Consumer::pop_with`] for f32 samples as they are.
    pub fn pop(&mut self, dst: &mut [f32]) -> usize {
        self.pop_with(dst, |x| x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_whole_frames_and_full_ring_refuses() {
        let (mut p, mut c) = spsc(2, 3);
        assert_eq!((p.capacity(), c.capacity(), p.free()), (6, 6, 6));
        assert_eq!(p.push(&[1.0, 2.0, 3.0, 4.0, 5.0]), 4, "a partial frame is never pushed");
        assert_eq!(p.push(&[5.0, 6.0, 7.0, 8.0]), 2, "only one frame still fits");
        assert_eq!((p.free(), p.queued(), c.available()), (0, 6, 6));
        let mut out = [0.0; 5];
        assert_eq!(c.pop(&mut out), 4, "pops whole frames only");
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 0.0]);
        assert_eq!(p.free(), 4);
    }

    #[test]
    fn wraps_around_many_times_in_order() {
        let (mut p, mut c) = spsc(1, 5);
        let mut next_in = 0u32;
        let mut next_out = 0u32;
        let mut out = [0.0f32; 4];
        for round in 0..1000 {
            let want = 1 + round % 4;
            let src: Vec<f32> = (0..want).map(|i| (next_in + i as u32) as f32).collect();
            let pushed = p.push(&src);
            next_in += pushed as u32;
            let popped = c.pop(&mut out[..1 + (round * 7) % 4]);
            for &y in &out[..popped] {
                assert_eq!(y, next_out as f32);
                next_out += 1;
            }
        }
        assert!(next_out > 1000);
    }

    #[test]
    fn converts_on_the_way_in_and_out() {
        let (mut p, mut c) = spsc(1, 4);
        assert_eq!(p.push_with(&[i16::MIN, 0, 16384], |x| f32::from(x) / 32768.0), 3);
        let mut out = [0i32; 3];
        assert_eq!(c.pop_with(&mut out, |x| (x * 2.0) as i32), 3);
        assert_eq!(out, [-2, 0, 1]);
    }

    /// A producer thread and a consumer thread race through a small ring: every sample arrives
    /// once, in order.
    #[test]
    fn threads_see_every_sample_in_order() {
        const N: u32 = 200_000;
        let (mut p, mut c) = spsc(2, 64);
        let producer = std::thread::spawn(move || {
            let mut next = 0u32;
            while next < N {
                let frame = [next as f32, -(next as f32)];
                if p.push(&frame) == 2 {
                    next += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let mut want = 0u32;
        let mut buf = [0.0f32; 40];
        while want < N {
            let n = c.pop(&mut buf);
            for frame in buf[..n].chunks_exact(2) {
                assert_eq!(frame, [want as f32, -(want as f32)]);
                want += 1;
            }
            if n == 0 {
                std::thread::yield_now();
            }
        }
        producer.join().unwrap_or_else(|_| panic!("producer panicked"));
        assert_eq!(c.available(), 0);
    }
}
