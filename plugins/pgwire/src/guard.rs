//! State shared by all connections: the cancel keys handed out in
//! BackendKeyData, and the authentication back-off per client address and
//! per user name.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aiondb_sdk::capability::CancelFlag;
use rand::Rng;

/// Live sessions by the (process id, secret) pair their client got.
#[derive(Default)]
pub(crate) struct CancelRegistry {
    inner: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    next_pid: i32,
    sessions: HashMap<i32, (i32, CancelFlag)>,
}

impl CancelRegistry {
    /// Registers a session's flag; returns its (process id, secret).
    pub fn register(&self, flag: CancelFlag) -> (i32, i32) {
        let mut secret = [0u8; 4];
        rand::rng().fill_bytes(&mut secret);
        let secret = i32::from_ne_bytes(secret);
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Positive ids, as clients expect from a process id; never one in use.
        let pid = loop {
            g.next_pid = if g.next_pid <= 0 || g.next_pid == i32::MAX {
                1
            } else {
                g.next_pid + 1
            };
            if !g.sessions.contains_key(&g.next_pid) {
                break g.next_pid;
            }
        };
        g.sessions.insert(pid, (secret, flag));
        (pid, secret)
    }

    pub fn unregister(&self, pid: i32) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sessions
            .remove(&pid);
    }

    /// Sets the flag of the session with this pair; a wrong pair does
    /// nothing (and the canceller is told nothing either way).
    pub fn cancel(&self, pid: i32, secret: i32) -> bool {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match g.sessions.get(&pid) {
            Some((s, flag)) if *s == secret => {
                flag.set();
                true
            }
            _ => false,
        }
    }
}

/// Entries kept at most per map; past it, expired ones are dropped and, if
/// that is not enough, the map starts over (an attacker spraying names or
/// addresses then only gets the base delay, never unbounded memory).
const MAX_TRACKED: usize = 10_000;
/// Failures older than this are forgotten.
const QUIET: Duration = Duration::from_secs(300);
/// The delay never grows beyond this (or the base delay, if larger).
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Delays failed authentications, doubling with each failure from the
/// same address or for the same user name.
pub(crate) struct Backoff {
    base: Duration,
    inner: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    by_ip: HashMap<IpAddr, (u32, Instant)>,
    by_user: HashMap<String, (u32, Instant)>,
}

fn bump<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, (u32, Instant)>,
    key: K,
    now: Instant,
) -> u32 {
    if map.len() >= MAX_TRACKED {
        map.retain(|_, (_, at)| now.duration_since(*at) < QUIET);
        if map.len() >= MAX_TRACKED {
            map.clear();
        }
    }
    let e = map.entry(key).or_insert((0, now));
    if now.duration_since(e.1) >= QUIET {
        e.0 = 0;
    }
    e.0 = e.0.saturating_add(1);
    e.1 = now;
    e.0
}

impl Backoff {
    pub fn new(base: Duration) -> Backoff {
        Backoff {
            base,
            inner: Mutex::new(Failures::default()),
        }
    }

    /// Records a failure; returns how long to wait before answering it.
    pub fn failure(&self, ip: IpAddr, user: &str) -> Duration {
        let now = Instant::now();
        let n = {
            let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let by_ip = bump(&mut g.by_ip, ip, now);
            let by_user = bump(&mut g.by_user, user.to_string(), now);
            by_ip.max(by_user)
        };
        self.delay(n)
    }

    /// The delay after the `n`th failure in a row (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(16);
        self.base
            .saturating_mul(factor)
            .min(MAX_DELAY.max(self.base))
    }

    /// A successful login clears the address's and the user's record.
    pub fn success(&self, ip: IpAddr, user: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.by_ip.remove(&ip);
        g.by_user.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_the_cap_and_success_resets() {
        let b = Backoff::new(Duration::from_millis(100));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(b.failure(ip, "a"), Duration::from_millis(100));
        assert_eq!(b.failure(ip, "b"), Duration::from_millis(200));
        // Another address, same user name: the user's count applies.
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(b.failure(other, "b"), Duration::from_millis(200));
        assert_eq!(b.failure(other, "b"), Duration::from_millis(400));
        assert_eq!(b.delay(40), MAX_DELAY);
        b.success(ip, "b");
        assert_eq!(b.failure(ip, "c"), Duration::from_millis(100));
    }

    #[test]
    fn cancel_needs_the_right_secret() {
        let r = CancelRegistry::default();
        let flag = CancelFlag::new();
        let (pid, secret) = r.register(flag.clone());
        assert!(!r.cancel(pid, secret.wrapping_add(1)));
        assert!(!flag.is_set());
        assert!(r.cancel(pid, secret));
        assert!(flag.is_set());
        r.unregister(pid);
        assert!(!r.cancel(pid, secret));
    }
}
