//! CPU affinity, for the latency figure that runs everything on one CPU.

use std::io;

/// The CPUs this process may run on.
pub(crate) fn allowed() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// The CPU the one-CPU latency figure runs on: the last one allowed (CPU 0 often
/// takes more of the machine's interrupts).
pub(crate) fn latency_cpu() -> usize {
    allowed().last().copied().unwrap_or(0)
}

/// A set holding only `cpu`.
pub(crate) fn only(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        set
    }
}

/// Restricts the calling thread (or, between fork and exec, the child process)
/// to `set`. Async-signal-safe: one system call.
pub(crate) fn restrict(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
