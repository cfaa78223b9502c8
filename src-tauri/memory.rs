//! The app process's memory at rest, in glibc's allocator.
//!
//! - A large buffer that was freed (a page asset, a list of ten thousand keys on its way to the
//!   page) stays in its thread's arena for the next one, and glibc's threshold for giving such
//!   buffers their own mapping rises to the largest one freed so far. After start-up that left
//!   about 19 MB of freed memory resident in one arena for as long as the app ran (the app
//!   process at 124 MB PSS before, 101 MB after). A fixed threshold sends every buffer over it to
//!   its own mapping, which goes back to the system when it is freed.
//! - Each thread that allocates gets an arena of its own, up to eight per core; the app's twenty
//!   or so threads (the async runtime, SQLite, D-Bus, GTK) are mostly idle, and each arena keeps
//!   some freed memory. Two arenas are plenty for a window.

/// Buffers at least this large get their own mapping (glibc's starting value, kept fixed).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const OWN_MAPPING_FROM: libc::c_int = 128 * 1024;

/// At most this many arenas.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Sets glibc's allocator up for a long-running window; call first thing, before threads start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn fit_the_allocator_to_a_window() {
    for (name, parameter, value) in [
        ("M_MMAP_THRESHOLD", libc::M_MMAP_THRESHOLD, OWN_MAPPING_FROM),
        ("M_ARENA_MAX", libc::M_ARENA_MAX, ARENAS),
    ] {
        // SAFETY: mallopt only changes allocator parameters; it takes the allocator's lock itself.
        let done = unsafe { libc::mallopt(parameter, value) };
        if done != 1 {
            tracing::warn!(parameter = name, "could not set an allocator parameter");
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn fit_the_allocator_to_a_window() {}
