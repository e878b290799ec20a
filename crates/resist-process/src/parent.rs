//! Children that die with their supervisor, even when the supervisor is
//! killed with SIGKILL and runs no code at all.
//!
//! The supervisor starts each child with [`PARENT_ENV`] set to its own PID
//! ([`die_with_me`]). The first thing `resist` does ([`die_with_parent`]) is,
//! when that variable is set, ask Linux to send it SIGTERM when its parent
//! dies (`prctl(PR_SET_PDEATHSIG)`, through rustix's safe wrapper), then check
//! that the parent is still the one named, in case it died before the request
//! was made. SIGTERM runs each role's normal graceful stop. This needs no
//! `unsafe` (no `pre_exec` hook between fork and exec), at the price of one
//! environment variable read by every `resist` command.
//!
//! Linux sends the parent-death signal when the *thread* that forked the
//! child ends, not the process: a supervisor must fork from a thread that
//! lives as long as it does (`resist up` runs on a current-thread runtime, so
//! every child is forked from the main thread).

use std::process::Command;

/// Names the PID of the supervisor a child must not outlive.
pub const PARENT_ENV: &str = "RESIST_UP_PARENT_PID";

/// Marks `command`'s child as one that must not outlive this process.
pub fn die_with_me(command: &mut Command) {
    command.env(PARENT_ENV, std::process::id().to_string());
}

/// If this process was started by [`die_with_me`], arranges to receive
/// SIGTERM when that parent dies, and exits at once if it already has.
/// Called first thing in `main`; does nothing for any other caller.
pub fn die_with_parent() {
    let Some(expected) = std::env::var_os(PARENT_ENV) else {
        return;
    };
    let Some(expected) = expected.to_str().and_then(|s| s.parse::<u32>().ok()) else {
        return;
    };
    #[cfg(target_os = "linux")]
    {
        if let Err(e) =
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
        {
            eprintln!("warning: cannot ask to be stopped with `resist up` (prctl: {e})");
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // No parent-death signal: look every half second instead.
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(500));
                if std::os::unix::process::parent_id() != expected {
                    eprintln!("resist up (pid {expected}) is gone: stopping");
                    std::process::exit(1);
                }
            }
        });
    }
    if std::os::unix::process::parent_id() != expected {
        eprintln!("resist up (pid {expected}) is gone: not starting");
        std::process::exit(1);
    }
}
