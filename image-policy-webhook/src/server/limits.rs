//! The bounds on what clients can hold: connections (a cap under the file
//! limit, the least recently active evicted first, idle ones closed) and the
//! memory of request bodies in flight (a byte budget, the largest body
//! evicted first).
//!
//! Both are tables behind a mutex that is taken a few times per request (a
//! connection's activity is atomics only); the scans for a victim run only
//! at the cap, over at most [`ServerConfig::max_connections`] entries or the
//! bodies in flight.
//!
//! [`ServerConfig::max_connections`]: super::ServerConfig::max_connections

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// File descriptors kept out of the connection budget: listeners, policy and
/// certificate reads, the runtime's own, logging.
const RESERVED_FDS: u64 = 64;

/// The connection cap when none is configured: the file limit less
/// [`RESERVED_FDS`], at most 1,024, at least 16.
pub(crate) fn default_max_connections() -> usize {
    #[cfg(unix)]
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    #[cfg(not(unix))]
    let soft = 1024;
    usize::try_from(soft.saturating_sub(RESERVED_FDS).clamp(16, 1024)).unwrap_or(1024)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The open connections of one listener.
pub(crate) struct Connections {
    max: usize,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
}

/// One connection's activity, shared by its task, its requests and the table.
#[derive(Debug)]
pub(crate) struct Connection {
    epoch: Instant,
    /// Requests whose answer is not yet produced.
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` of the last request start, body chunk or answer.
    last_active: AtomicU64,
    evicted: AtomicBool,
    evict: Notify,
    /// Answers produced and not yet wholly handed to the connection.
    sending: AtomicUsize,
    /// Milliseconds since `epoch` when an answer last made progress (began,
    /// or had a chunk taken by the connection).
    send_progress: AtomicU64,
    /// Milliseconds since `epoch`, plus one, since when writes to the
    /// socket have not gone through (the client does not read); 0 while they
    /// do.
    write_blocked_since: AtomicU64,
    /// Wakes the connection's task when an answer begins or writes block, so
    /// that it looks at the write timeout.
    send_began: Notify,
}

impl Connection {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records activity (a body chunk arrived).
    pub(crate) fn touch(&self) {
        self.last_active.store(self.now(), Ordering::Relaxed);
    }

    /// A request starts; the guard marks its end.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(Arc::clone(self))
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 && self.sending.load(Ordering::Relaxed) == 0
    }

    /// An answer begins to be sent; the guard records its progress and end.
    pub(crate) fn begin_send(self: &Arc<Self>) -> Sending {
        self.send_progress.store(self.now(), Ordering::Relaxed);
        self.sending.fetch_add(1, Ordering::Relaxed);
        self.send_began.notify_one();
        Sending(Arc::clone(self))
    }

    /// When the connection will have made no progress writing for
    /// `timeout`: an answer that the connection has not taken a chunk of
    /// (HTTP/2 flow control), or a write to the socket that has not gone
    /// through (the end of an answer held in the connection's buffers).
    /// `None` when neither waits.
    pub(crate) fn send_deadline(&self, timeout: Duration) -> Option<Instant> {
        let at = |ms: u64| self.epoch + Duration::from_millis(ms) + timeout;
        let answer = (self.sending.load(Ordering::Relaxed) > 0)
            .then(|| at(self.send_progress.load(Ordering::Relaxed)));
        let blocked = match self.write_blocked_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(at(since - 1)),
        };
        match (answer, blocked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A write to the socket could not go through.
    pub(crate) fn write_blocked(&self) {
        if self.write_blocked_since.load(Ordering::Relaxed) == 0 {
            self.write_blocked_since
                .store(self.now() + 1, Ordering::Relaxed);
            self.send_began.notify_one();
        }
    }

    /// A write to the socket went through.
    pub(crate) fn write_went_through(&self) {
        if self.write_blocked_since.load(Ordering::Relaxed) != 0 {
            self.write_blocked_since.store(0, Ordering::Relaxed);
        }
    }

    /// Resolves when an answer begins to be sent.
    pub(crate) async fn send_began(&self) {
        self.send_began.notified().await;
    }

    /// When the connection will have been idle for `timeout`, if it stays
    /// idle: the next time to look.
    pub(crate) fn idle_deadline(&self, timeout: Duration) -> Instant {
        self.epoch + Duration::from_millis(self.last_active.load(Ordering::Relaxed)) + timeout
    }

    /// No request in flight and nothing received for `timeout`.
    pub(crate) fn idle_for(&self, timeout: Duration) -> bool {
        self.is_idle() && Instant::now() >= self.idle_deadline(timeout)
    }

    /// Resolves once the connection was evicted to make room for a new one.
    pub(crate) async fn evicted(&self) {
        loop {
            let notified = self.evict.notified();
            if self.evicted.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// A request in flight on a connection.
pub(crate) struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An answer being sent on a connection (see [`Connection::begin_send`]).
pub(crate) struct Sending(Arc<Connection>);

impl Sending {
    /// The connection took a chunk of the answer.
    pub(crate) fn progress(&self) {
        self.0.send_progress.store(self.0.now(), Ordering::Relaxed);
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.0.touch();
        self.0.sending.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's place in the table; leaving it drops the place.
pub(crate) struct Admitted {
    table: Arc<Connections>,
    id: u64,
    pub(crate) connection: Arc<Connection>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        lock(&self.table.open).remove(&self.id);
    }
}

impl Connections {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Connections {
            max: max.max(1),
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Connections open now.
    pub(crate) fn len(&self) -> usize {
        lock(&self.open).len()
    }

    /// Takes a just-accepted connection in; at the cap, first evicts the
    /// least recently active idle connection, or, when none is idle, the
    /// least recently active one (a request stalled on its body). Returns
    /// whether one was evicted.
    pub(crate) fn admit(self: &Arc<Self>) -> (Admitted, bool) {
        let connection = Arc::new(Connection {
            epoch: self.epoch,
            in_flight: AtomicUsize::new(0),
            last_active: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
            sending: AtomicUsize::new(0),
            send_progress: AtomicU64::new(0),
            write_blocked_since: AtomicU64::new(0),
            send_began: Notify::new(),
        });
        connection.touch();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut open = lock(&self.open);
        let evicted = open.len() >= self.max && Self::evict_one(&mut open);
        open.insert(id, Arc::clone(&connection));
        drop(open);
        (
            Admitted {
                table: Arc::clone(self),
                id,
                connection,
            },
            evicted,
        )
    }

    /// Evicts one connection to free its file descriptor (the accept loop is
    /// out of them); whether there was one.
    pub(crate) fn evict_for_fd(&self) -> bool {
        Self::evict_one(&mut lock(&self.open))
    }

    fn evict_one(open: &mut HashMap<u64, Arc<Connection>>) -> bool {
        let victim = open
            .iter()
            .min_by_key(|(id, c)| (!c.is_idle(), c.last_active.load(Ordering::Relaxed), **id))
            .map(|(id, _)| *id);
        let Some(connection) = victim.and_then(|id| open.remove(&id)) else {
            return false;
        };
        connection.evicted.store(true, Ordering::Release);
        connection.evict.notify_one();
        true
    }
}

/// The bytes of request bodies in flight, across all connections and streams.
pub(crate) struct BodyBudget {
    limit: usize,
    next_id: AtomicU64,
    state: Mutex<BudgetState>,
}

#[derive(Default)]
struct BudgetState {
    used: usize,
    /// Each body's bytes, its eviction signal, and whether it may be
    /// evicted (a body being read; not an answer being sent).
    bodies: HashMap<u64, (usize, Arc<Evicted>, bool)>,
}

/// Set when a body was evicted to make room for others.
#[derive(Default)]
pub(crate) struct Evicted {
    flag: AtomicBool,
    notify: Notify,
}

impl Evicted {
    /// Resolves once the body was evicted.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.flag.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// The bytes one body holds in the budget; released on drop.
pub(crate) struct BodyClaim {
    budget: Arc<BodyBudget>,
    id: u64,
    pub(crate) evicted: Arc<Evicted>,
    registered: bool,
}

impl BodyBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(BodyBudget {
            limit,
            next_id: AtomicU64::new(0),
            state: Mutex::new(BudgetState::default()),
        })
    }

    /// The byte budget.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held now.
    #[cfg(test)]
    fn used(&self) -> usize {
        lock(&self.state).used
    }

    /// A claim of no bytes yet, for one body.
    pub(crate) fn claim(self: &Arc<Self>) -> BodyClaim {
        BodyClaim {
            budget: Arc::clone(self),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            evicted: Arc::new(Evicted::default()),
            registered: false,
        }
    }
}

impl BodyClaim {
    /// Adds `bytes` to this body's share. When the budget cannot hold them,
    /// the bodies that hold more than this one would, largest first, are
    /// evicted until it can; when that is not enough, this body is refused
    /// (`false`) and holds what it held.
    pub(crate) fn grow(&mut self, bytes: usize) -> bool {
        let mut state = lock(&self.budget.state);
        let state = &mut *state;
        let held = if self.registered {
            state.bodies.get(&self.id).map_or(0, |(held, _, _)| *held)
        } else {
            0
        };
        let wanted = held + bytes;
        if state.used + bytes > self.budget.limit {
            // Only bodies larger than this one will be are candidates, so
            // many small reviews always get through many large stalled ones.
            let mut larger: Vec<(usize, u64)> = state
                .bodies
                .iter()
                .filter(|(id, (size, _, evictable))| {
                    *evictable && **id != self.id && *size > wanted
                })
                .map(|(id, (size, _, _))| (*size, *id))
                .collect();
            let freeable: usize = larger.iter().map(|(size, _)| size).sum();
            if state.used + bytes - freeable.min(state.used) > self.budget.limit {
                return false;
            }
            larger.sort_unstable_by(|a, b| b.cmp(a));
            for (size, id) in larger {
                if state.used + bytes <= self.budget.limit {
                    break;
                }
                if let Some((_, evicted, _)) = state.bodies.remove(&id) {
                    state.used -= size;
                    evicted.flag.store(true, Ordering::Release);
                    evicted.notify.notify_one();
                }
            }
        }
        state.used += bytes;
        state
            .bodies
            .entry(self.id)
            .or_insert_with(|| (0, Arc::clone(&self.evicted), true))
            .0 = wanted;
        self.registered = true;
        true
    }
}

impl BodyClaim {
    /// Turns the claim of a body that was read into the claim of its
    /// answer, held until the answer is sent: `bytes` in all, no longer
    /// evictable (its memory cannot be taken back from a client that reads
    /// slowly, only bounded in time by the write timeout). `false` when the
    /// budget cannot hold it, as [`BodyClaim::grow`].
    pub(crate) fn hold_answer(&mut self, bytes: usize) -> bool {
        {
            let mut state = lock(&self.budget.state);
            let state = &mut *state;
            if let Some(entry) = state.bodies.get_mut(&self.id)
                && bytes <= entry.0
            {
                state.used -= entry.0 - bytes;
                entry.0 = bytes;
                entry.2 = false;
                return true;
            }
        }
        let held = if self.registered {
            lock(&self.budget.state)
                .bodies
                .get(&self.id)
                .map_or(0, |(held, _, _)| *held)
        } else {
            0
        };
        if !self.grow(bytes - held) {
            return false;
        }
        if let Some(entry) = lock(&self.budget.state).bodies.get_mut(&self.id) {
            entry.2 = false;
        }
        true
    }
}

impl Drop for BodyClaim {
    fn drop(&mut self) {
        if self.registered {
            let mut state = lock(&self.budget.state);
            if let Some((held, _, _)) = state.bodies.remove(&self.id) {
                state.used -= held;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_bodies_are_evicted_for_a_small_one() {
        let budget = BodyBudget::new(100);
        let mut big = budget.claim();
        let mut bigger = budget.claim();
        assert!(big.grow(40));
        assert!(bigger.grow(50));
        let mut small = budget.claim();
        assert!(small.grow(20));
        // The larger of the two went; the other stays.
        assert!(bigger.evicted.flag.load(Ordering::Relaxed));
        assert!(!big.evicted.flag.load(Ordering::Relaxed));
        assert_eq!(budget.used(), 60);
        // A body cannot evict ones smaller than itself would be.
        assert!(!big.grow(50));
        assert_eq!(budget.used(), 60);
        drop((big, bigger, small));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn answers_are_held_in_the_budget_and_never_evicted() {
        let budget = BodyBudget::new(100);
        let mut answer = budget.claim();
        assert!(answer.grow(60));
        // The body of 60 bytes becomes an answer of 30, then of 70.
        assert!(answer.hold_answer(30));
        assert_eq!(budget.used(), 30);
        assert!(answer.hold_answer(70));
        assert_eq!(budget.used(), 70);
        // A small body cannot evict it: refused instead.
        let mut small = budget.claim();
        assert!(!small.grow(40));
        assert!(!answer.evicted.flag.load(Ordering::Relaxed));
        assert!(small.grow(30));
        drop(answer);
        assert_eq!(budget.used(), 30);
        // An answer that does not fit is refused.
        let mut big = budget.claim();
        assert!(!big.hold_answer(80));
        assert_eq!(budget.used(), 30);
    }

    #[test]
    fn at_the_cap_the_least_recently_active_idle_connection_goes_first() {
        let table = Connections::new(2);
        let (a, evicted) = table.admit();
        assert!(!evicted);
        let (b, _) = table.admit();
        let busy = a.connection.begin();
        // `a` is older but busy: `b` goes.
        let (c, evicted) = table.admit();
        assert!(evicted);
        assert!(b.connection.evicted.load(Ordering::Relaxed));
        assert!(!a.connection.evicted.load(Ordering::Relaxed));
        assert_eq!(table.len(), 2);
        drop(busy);
        drop((a, b, c));
        assert_eq!(table.len(), 0);
    }
}
