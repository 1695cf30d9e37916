//! A counting global allocator for the heap tests: forwards to the system
//! allocator and keeps the bytes and blocks live, the most bytes live since
//! [`reset_peak`], and the allocations and reallocations made. Included by
//! path in the one test binary that measures heap (`tests/memory/main.rs`);
//! including it installs it as that binary's global allocator, so it is not
//! part of `support`.
//!
//! A test measures while it holds [`count_this_thread`]'s guard: one test
//! at a time, and only its thread is counted, so neither the other tests
//! nor the test harness (which reports a finished test and starts the next
//! one on threads of its own) move its figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

struct Counting;

/// Held by the measuring test.
static MEASURING: Mutex<()> = Mutex::new(());

thread_local! {
    /// Whether this thread's allocations are counted.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Counts this thread's allocations until dropped, waiting until no other
/// test measures. Each memory test takes it first and keeps it to the end.
pub fn count_this_thread() -> CountedThread {
    let lock = MEASURING.lock().unwrap_or_else(PoisonError::into_inner);
    COUNTED.set(true);
    CountedThread { _lock: lock }
}

/// The guard of [`count_this_thread`].
pub struct CountedThread {
    _lock: MutexGuard<'static, ()>,
}

impl Drop for CountedThread {
    fn drop(&mut self) {
        COUNTED.set(false);
    }
}

fn counted() -> bool {
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);
static PEAK_BYTES: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn grew(by: isize) {
    let now = LIVE_BYTES.fetch_add(by, Ordering::Relaxed) + by;
    PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            grew(layout.size() as isize);
            LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
            LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            grew(new_size as isize - layout.size() as isize);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated and not yet freed (counted ones).
pub fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Blocks allocated and not yet freed (counted ones).
pub fn live_blocks() -> isize {
    LIVE_BLOCKS.load(Ordering::Relaxed)
}

/// Starts a new peak at what is live now; returns that.
pub fn reset_peak() -> isize {
    let now = live_bytes();
    PEAK_BYTES.store(now, Ordering::Relaxed);
    now
}

/// The most bytes live since the last [`reset_peak`].
pub fn peak_bytes() -> isize {
    PEAK_BYTES.load(Ordering::Relaxed)
}

/// Allocations and reallocations counted since the start.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}
