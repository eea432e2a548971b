//! Rate limits and login throttling.
//!
//! General limits: requests per minute per client address (anonymous callers), per customer
//! and per API key, as a GCRA (a token bucket of the minute's allowance that refills evenly).
//! With Redis the bucket is one Lua script on the shared server, so the limit holds across
//! instances; without Redis, or while Redis does not answer, each instance keeps its own
//! (governor). Failed logins are counted per email and per client address in a 15-minute
//! window, in Redis when it answers and in process otherwise.
//!
//! Argon2 hashing is bounded too: at most one hash per core runs at once, and only a few
//! wait (each hash takes 19 MiB, and a burst of anonymous logins must not take gigabytes).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter, clock::DefaultClock};

use crate::auth::Principal;
use crate::infra::redis::SharedRedis;

/// Failed logins allowed per email and per client address within [`FAILURE_WINDOW`].
pub const MAX_LOGIN_FAILURES: u64 = 10;
/// The window failed logins are counted in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Whose allowance a request spends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bucket {
    Address(IpAddr),
    Customer(String),
    ApiKey(String),
    /// Lookups of API keys this instance has not cached, per client network: what a key
    /// guesser spends, apart from the address's own allowance, so that a valid key sent from
    /// a busy address is still looked up and then charged to the key alone.
    KeyLookup(IpAddr),
}

impl Bucket {
    /// The bucket of a caller: staff members are not limited (their accounts are few and
    /// trusted); a caller whose credentials failed spends their address's allowance.
    pub fn of(principal: Option<&Principal>, address: IpAddr) -> Option<Self> {
        match principal {
            None | Some(Principal::Anonymous) => Some(Self::Address(client_network(address))),
            Some(Principal::Customer { id }) => Some(Self::Customer(id.clone())),
            Some(Principal::ApiKey { id, .. }) => Some(Self::ApiKey(id.clone())),
            Some(Principal::Staff { .. }) => None,
        }
    }

    fn index(&self) -> usize {
        match self {
            Self::Address(_) => 0,
            Self::Customer(_) => 1,
            Self::ApiKey(_) => 2,
            Self::KeyLookup(_) => 3,
        }
    }

    fn redis_key(&self) -> String {
        match self {
            Self::Address(ip) => format!("rl:ip:{ip}"),
            Self::Customer(id) => format!("rl:cus:{id}"),
            Self::ApiKey(id) => format!("rl:key:{id}"),
            Self::KeyLookup(ip) => format!("rl:lookup:{ip}"),
        }
    }
}

/// The network a client address stands for: IPv4 addresses as they are, IPv6 addresses by
/// their /64 (one subscriber usually holds a whole /64, so single addresses would be free).
pub fn client_network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(std::net::Ipv6Addr::from(segments))
        }
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// A limiter's verdict, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The allowance per minute.
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the allowance is whole again.
    pub reset: u64,
    /// Refused: retry after this many seconds.
    pub retry_after: Option<u64>,
}

type Keyed = RateLimiter<Bucket, DashMapStateStore<Bucket>, DefaultClock, StateInformationMiddleware>;

/// The GCRA in Redis: one bucket per key, its theoretical arrival time in microseconds.
/// ARGV: microseconds per request, the burst (requests per minute), this request's cost.
/// Returns {allowed, remaining, reset_us, retry_us}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1000)
return {1, math.floor((now - allow_at) / interval), new_tat - now, 0}
";

/// Counts a failed login in a window that starts at the first failure. Returns {count, ttl_ms}.
const COUNT_FAILURE: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
";

/// Takes one back from a count (never below zero; at zero the key goes).
const UNCOUNT: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or 0)
if n <= 1 then redis.call('DEL', KEYS[1]) return 0 end
return redis.call('DECR', KEYS[1])
";

/// The per-minute allowances, each `None` when turned off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allowances {
    pub anonymous: Option<NonZeroU32>,
    pub customer: Option<NonZeroU32>,
    pub api_key: Option<NonZeroU32>,
}

/// Every limiter of one server.
pub struct Limits {
    allowances: [Option<NonZeroU32>; 4],
    memory: [Option<Keyed>; 4],
    failures: moka::sync::Cache<String, (u64, Instant)>,
    redis: Option<Arc<SharedRedis>>,
    prefix: String,
    hashing: Hashing,
}

impl Limits {
    /// Limiters with these allowances, shared through `redis` when there is one.
    pub fn new(allowances: Allowances, redis: Option<Arc<SharedRedis>>, prefix: String) -> Self {
        // Key lookups get the anonymous allowance: whoever guesses keys is anonymous until a
        // guess succeeds.
        let allowances = [allowances.anonymous, allowances.customer, allowances.api_key, allowances.anonymous];
        let memory = allowances.map(|a| a.map(|n| RateLimiter::dashmap(Quota::per_minute(n)).with_middleware()));
        Self {
            allowances,
            memory,
            failures: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(FAILURE_WINDOW).build(),
            redis,
            prefix,
            hashing: Hashing::new(),
        }
    }

    /// Whether any general limit is on.
    pub fn any(&self) -> bool {
        self.allowances.iter().any(Option::is_some)
    }

    /// The bound on concurrent password hashing.
    pub fn hashing(&self) -> &Hashing {
        &self.hashing
    }

    /// Spends `cost` requests of `bucket`'s allowance. `None` when no limit applies.
    pub async fn check(&self, bucket: &Bucket, cost: u32) -> Option<Decision> {
        let limit = self.allowances[bucket.index()]?;
        let cost = cost.clamp(1, limit.get());
        if let Some(decision) = self.check_redis(bucket, limit, cost).await {
            return Some(decision);
        }
        let limiter = self.memory[bucket.index()].as_ref()?;
        let n = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        let interval_ms = 60_000 / u64::from(limit.get()).max(1);
        Some(match limiter.check_key_n(bucket, n) {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    limit: limit.get(),
                    remaining,
                    reset: (u64::from(limit.get() - remaining.min(limit.get())) * interval_ms).div_ceil(1000),
                    retry_after: None,
                }
            }
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(&DefaultClock::default()));
                let retry = wait.as_millis().div_ceil(1000).max(1) as u64;
                Decision { limit: limit.get(), remaining: 0, reset: retry, retry_after: Some(retry) }
            }
            // The cost is clamped to the burst, so this cannot happen; refuse for a minute.
            Err(_) => Decision { limit: limit.get(), remaining: 0, reset: 60, retry_after: Some(60) },
        })
    }

    async fn check_redis(&self, bucket: &Bucket, limit: NonZeroU32, cost: u32) -> Option<Decision> {
        let redis = self.redis.as_ref()?;
        let mut connection = redis.connection()?;
        let interval_us = (60_000_000 / u64::from(limit.get())).max(1);
        let answer: Vec<i64> = redis
            .call(
                "rate limit",
                redis::cmd("EVAL")
                    .arg(GCRA)
                    .arg(1)
                    .arg(format!("{}{}", self.prefix, bucket.redis_key()))
                    .arg(interval_us)
                    .arg(limit.get())
                    .arg(cost)
                    .query_async(&mut connection),
            )
            .await?;
        let [allowed, remaining, reset_us, retry_us] = answer[..] else { return None };
        let seconds = |us: i64| (us.max(0) as u64).div_ceil(1_000_000);
        Some(Decision {
            limit: limit.get(),
            remaining: remaining.clamp(0, i64::from(limit.get())) as u32,
            reset: seconds(reset_us),
            retry_after: (allowed == 0).then(|| seconds(retry_us).max(1)),
        })
    }

    /// Counts a sign-in attempt against each of `keys` before its password is checked, so
    /// attempts in flight at once cannot pass the limit together: `Err(seconds)` (nothing
    /// counted) when one of them already has [`MAX_LOGIN_FAILURES`] within the window. A
    /// success then takes its count back ([`Limits::login_succeeded`]); a failure keeps it.
    pub async fn login_attempt(&self, keys: &[String]) -> Result<(), u64> {
        let mut counted: Vec<&String> = Vec::new();
        for key in keys {
            let (count, remaining) = self.count_failure(key).await;
            counted.push(key);
            if count > MAX_LOGIN_FAILURES {
                for key in counted {
                    self.uncount(key).await;
                }
                return Err(remaining.as_secs().max(1));
            }
        }
        Ok(())
    }

    /// Takes back the attempt counted for `keys` and forgets `forget`'s failures (the email
    /// that just signed in).
    pub async fn login_succeeded(&self, keys: &[String], forget: &str) {
        for key in keys {
            if key == forget {
                self.forget(key).await;
            } else {
                self.uncount(key).await;
            }
        }
    }

    /// Adds one to a key's count in its window (which starts at its first failure): the new
    /// count and how long the window still runs. Redis when it answers, this instance otherwise.
    async fn count_failure(&self, key: &str) -> (u64, Duration) {
        if let Some(redis) = &self.redis
            && let Some(mut connection) = redis.connection()
        {
            let counted: Option<Vec<i64>> = redis
                .call(
                    "login throttle",
                    redis::cmd("EVAL")
                        .arg(COUNT_FAILURE)
                        .arg(1)
                        .arg(format!("{}lf:{key}", self.prefix))
                        .arg(FAILURE_WINDOW.as_millis() as u64)
                        .query_async(&mut connection),
                )
                .await;
            if let Some(&[count, ttl_ms]) = counted.as_deref() {
                return (count.max(0) as u64, Duration::from_millis(ttl_ms.max(0) as u64));
            }
        }
        let now = Instant::now();
        let entry = self.failures.entry(key.to_owned()).and_upsert_with(|entry| match entry {
            Some(entry) if now.duration_since(entry.value().1) < FAILURE_WINDOW => {
                let (count, since) = *entry.value();
                (count + 1, since)
            }
            // None yet, or the window is over: this attempt starts a new one.
            _ => (1, now),
        });
        let (count, since) = entry.into_value();
        (count, FAILURE_WINDOW.saturating_sub(since.elapsed()))
    }

    async fn uncount(&self, key: &str) {
        if let Some(redis) = &self.redis
            && let Some(mut connection) = redis.connection()
        {
            let done: Option<i64> = redis
                .call(
                    "login throttle",
                    redis::cmd("EVAL")
                        .arg(UNCOUNT)
                        .arg(1)
                        .arg(format!("{}lf:{key}", self.prefix))
                        .query_async(&mut connection),
                )
                .await;
            if done.is_some() {
                return;
            }
        }
        self.failures.entry(key.to_owned()).and_compute_with(|entry| match entry {
            Some(entry) if entry.value().0 > 1 => {
                let (count, since) = *entry.value();
                moka::ops::compute::Op::Put((count - 1, since))
            }
            Some(_) => moka::ops::compute::Op::Remove,
            None => moka::ops::compute::Op::Nop,
        });
    }

    async fn forget(&self, key: &str) {
        self.failures.invalidate(key);
        if let Some(redis) = &self.redis
            && let Some(mut connection) = redis.connection()
        {
            let _: Option<i64> = redis
                .call(
                    "login throttle",
                    redis::cmd("DEL").arg(format!("{}lf:{key}", self.prefix)).query_async(&mut connection),
                )
                .await;
        }
    }

    /// Forgets in-process buckets that are full again (run every minute or so).
    pub fn housekeeping(&self) {
        for limiter in self.memory.iter().flatten() {
            limiter.retain_recent();
        }
    }
}

/// The bound on concurrent Argon2 work: one hash per core at a time, a short queue behind.
pub struct Hashing {
    permits: Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
}

/// Why a hash did not run.
#[derive(Debug)]
pub enum HashingRefused {
    /// Too many are queued: the caller should retry shortly.
    Busy,
    /// The hashing task failed (a panic in the hasher).
    Failed,
}

impl Hashing {
    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(cores)),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_waiting: cores * 16,
        }
    }

    /// Runs `work` (a hash or a verification) on the blocking pool once a permit is free.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashingRefused> {
        use std::sync::atomic::Ordering;
        /// Counts a waiter for as long as it waits, even if its request is dropped meanwhile.
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let waiting = Waiting(&self.waiting);
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            return Err(HashingRefused::Busy);
        }
        let permit = Arc::clone(&self.permits).acquire_owned().await;
        drop(waiting);
        let permit = permit.map_err(|_| HashingRefused::Failed)?;
        // The permit goes with the work: a request dropped while its hash runs (a client gone,
        // a timeout) frees the slot only when the hash is done, never before.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| HashingRefused::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_there_are_cores() {
        let hashing = Arc::new(Hashing::new());
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..cores * 4 {
            let (hashing, running, most) = (Arc::clone(&hashing), Arc::clone(&running), Arc::clone(&most));
            tasks.push(tokio::spawn(async move {
                hashing
                    .run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                    .is_ok()
            }));
        }
        for task in tasks {
            assert!(task.await.unwrap_or(false), "a hash was refused with a short queue");
        }
        assert!(
            most.load(Ordering::SeqCst) <= cores,
            "{} hashes ran at once on {cores} cores",
            most.load(Ordering::SeqCst)
        );
        assert!(most.load(Ordering::SeqCst) >= 1);
    }

    #[tokio::test]
    async fn past_the_queue_a_hash_is_refused_at_once() {
        let hashing =
            Hashing { permits: Arc::new(tokio::sync::Semaphore::new(0)), waiting: AtomicUsize::new(0), max_waiting: 0 };
        assert!(matches!(hashing.run(|| ()).await, Err(HashingRefused::Busy)));
    }

    #[tokio::test]
    async fn the_in_process_limiter_refuses_past_the_allowance_and_says_when_to_retry() {
        let allowances = Allowances { anonymous: NonZeroU32::new(3), customer: None, api_key: None };
        let limits = Limits::new(allowances, None, String::new());
        let caller = Bucket::Address(IpAddr::from([192, 0, 2, 1]));
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let decision = limits.check(&caller, 1).await;
            assert!(decision.is_some_and(|d| d.retry_after.is_none()), "{decision:?}");
            remaining.push(decision.map(|d| d.remaining));
        }
        assert_eq!(remaining, [Some(2), Some(1), Some(0)]);
        let refused = limits.check(&caller, 1).await;
        assert!(refused.is_some_and(|d| d.retry_after.is_some_and(|s| (1..=20).contains(&s))), "{refused:?}");
        // Customers are not limited here: no decision at all.
        assert_eq!(limits.check(&Bucket::Customer("cus_1".into()), 1).await, None);
    }
}
