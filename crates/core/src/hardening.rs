//! What the app and the CLI do to themselves so that a secret they used leaves no copy behind
//! (SECURITY 24): no core dump of the process, and freed memory wiped.
//!
//! A [`Secret`](crate::Secret) wipes itself, but the libraries a secret passes through (the
//! keychain's D-Bus messages, an HTTP body, the environment handed to a child process) copy it
//! into buffers they free without wiping. [`WipingAllocator`], the CLI's and the app's global
//! allocator, wipes every block when it is freed or moved, so those copies go when their owners
//! drop them. Tests take a core dump of the CLI (`crates/cli/tests/memory.rs`) and of the app
//! (`tests/e2e/test_memory.py`) after they used a secret and find no copy, while a control string
//! each still holds is there.

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, wiping each block as it is freed or moved by a reallocation.
#[derive(Debug, Default, Clone, Copy)]
pub struct WipingAllocator;

/// Overwrites `len` bytes at `ptr` with zeros in a way the compiler keeps: one `memset` (the
/// app frees large blocks too; a byte-wise volatile loop cost it far more), which the compiler
/// may not drop as a dead store because the block is then handed to `black_box`, as far as the
/// optimiser knows a reader of it.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes.
#[allow(unsafe_code)]
unsafe fn wipe(ptr: *mut u8, len: usize) {
    // SAFETY: the caller guarantees `ptr..ptr + len` is writable.
    unsafe { std::ptr::write_bytes(ptr, 0, len) };
    std::hint::black_box(ptr);
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

// SAFETY: every block comes from `System` with the layout the caller gives, and goes back to it
// with the same layout; wiping writes only within the block being freed.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for WipingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live block of `layout.size()` bytes until it is freed below.
        unsafe {
            wipe(ptr, layout.size());
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A new block, then the old one wiped and freed: `System.realloc` could move the data
        // and free the old block unwiped.
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as for `alloc`.
        let new = unsafe { System.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and do not overlap; the copy stays within both.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

/// Turns off core dumps of this process (`RLIMIT_CORE` 0), so that a crash does not write its
/// memory, secrets and all, to a file. Call first thing in `main`.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn forbid_core_dumps() {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct passed and changes only this process's limit.
    let done = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
    if done != 0 {
        tracing::warn!("could not turn off core dumps of this process");
    }
}

#[cfg(not(unix))]
pub fn forbid_core_dumps() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_and_moved_blocks_are_wiped_and_data_survives_a_move() {
        let a = WipingAllocator;
        let layout = Layout::from_size_align(64, 8).expect("layout");
        #[allow(unsafe_code)]
        // SAFETY: a block of the test's own, used within its size.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 0xAB, 64);
            let q = a.realloc(p, layout, 128);
            assert!(!q.is_null());
            assert!(
                (0..64).all(|i| *q.add(i) == 0xAB),
                "data kept across a move"
            );
            a.dealloc(q, Layout::from_size_align(128, 8).expect("layout"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn core_dumps_are_off_after_the_call() {
        forbid_core_dumps();
        let mut now = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        #[allow(unsafe_code)]
        // SAFETY: getrlimit writes the struct passed.
        let read = unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut now) };
        assert_eq!((read, now.rlim_cur, now.rlim_max), (0, 0, 0));
    }
}
