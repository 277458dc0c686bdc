//! The guard in front of the one public write, `POST /v1/intake-submissions`:
//! a per-client rate limit and a body cap tighter than the API's 64 KiB.
//!
//! # The client
//!
//! The client is the address the request came from, as this process knows
//! it and no caller can choose: the TCP peer of the local server
//! (`ConnectInfo<SocketAddr>`), or on Lambda the source IP API Gateway put in
//! the request context ([`ClientIp`], set by the Lambda entry). Headers such
//! as `X-Forwarded-For` are never read: anyone can write them. IPv6 clients
//! are counted per /64, the block one subscriber usually holds, so that
//! walking through one's own addresses does not reset the count. A request
//! whose client is unknown (only the in-process tests send such requests)
//! counts against one shared client.
//!
//! # The limit
//!
//! A client may send a burst of [`IntakeLimit::burst`] submissions, then
//! [`IntakeLimit::per_second`] (GCRA, the `governor` crate). Over it: 429
//! `application/problem+json` with `Retry-After` in whole seconds. The
//! count is per process: on Lambda, per execution environment, so there the
//! API Gateway route throttle of the deploy template is the shared limit and
//! this one is defence in depth.
//!
//! # Memory
//!
//! A client's entry is dropped once its allowance is whole again (at most
//! `burst / per_second` seconds after its last submission, 30 s with the
//! defaults); the map is swept at most every [`SWEEP_EVERY`], on the request
//! path (a Lambda environment runs no background task between invocations).
//! What it holds is therefore bounded by the clients seen in the last
//! `burst / per_second + SWEEP_EVERY` seconds.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{ConnectInfo, MatchedPath, Request},
    http::{Method, header},
};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::DefaultKeyedStateStore,
};

use super::error::ApiError;

/// The guarded route.
pub const INTAKE_PATH: &str = "/v1/intake-submissions";

/// Largest intake body: a form's fields (names and condition of at most 200
/// characters each, an email, a phone) fit in a few KiB even fully escaped.
pub const INTAKE_MAX_BODY_BYTES: usize = 16 * 1024;

/// How often, at most, entries of clients whose allowance is whole again
/// are dropped.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The client address, as the platform in front of the process reported it
/// (API Gateway's `sourceIp`); put in the request's extensions by the Lambda
/// entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// How many submissions one client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeLimit {
    /// Sent at once before the steady rate applies.
    pub burst: NonZeroU32,
    /// The steady rate after the burst, per second.
    pub per_second: NonZeroU32,
}

impl Default for IntakeLimit {
    /// A burst of 30, then one per second.
    fn default() -> Self {
        Self {
            burst: NonZeroU32::new(30).expect("30 is not zero"),
            per_second: NonZeroU32::MIN,
        }
    }
}

type Limiter = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// The per-client counters, shared by every clone of the state.
#[derive(Clone)]
pub struct IntakeLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    limit: IntakeLimit,
    limiter: Limiter,
    clock: DefaultClock,
    last_sweep: Mutex<Instant>,
}

impl IntakeLimiter {
    /// Counters for this limit.
    pub fn new(limit: IntakeLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        Self {
            inner: Arc::new(Inner {
                limit,
                limiter: RateLimiter::keyed(quota),
                clock: DefaultClock::default(),
                last_sweep: Mutex::new(Instant::now()),
            }),
        }
    }

    /// The limit it enforces.
    pub fn limit(&self) -> IntakeLimit {
        self.inner.limit
    }

    /// Counts one submission from `client` (`None`: unknown); `Err` with
    /// the wait before the next one is allowed when over the limit.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let inner = &self.inner;
        let result = inner
            .limiter
            .check_key(&client_key(client))
            .map_err(|not_until| not_until.wait_time_from(inner.clock.now()));
        self.sweep_if_due();
        result
    }

    /// How many clients are remembered now.
    pub fn tracked_clients(&self) -> usize {
        self.inner.limiter.len()
    }

    /// Forgets the clients whose allowance is whole again (they are then no
    /// different from a client never seen).
    pub fn sweep(&self) {
        self.inner.limiter.retain_recent();
        self.inner.limiter.shrink_to_fit();
    }

    fn sweep_if_due(&self) {
        let Ok(mut last) = self.inner.last_sweep.try_lock() else {
            return; // another request is sweeping
        };
        if last.elapsed() >= SWEEP_EVERY {
            *last = Instant::now();
            drop(last);
            self.sweep();
        }
    }
}

impl Default for IntakeLimiter {
    fn default() -> Self {
        Self::new(IntakeLimit::default())
    }
}

/// The key a client is counted under: IPv4 as is, IPv6 by its /64, an
/// IPv4-mapped IPv6 address as the IPv4 one, unknown clients together.
fn client_key(client: Option<IpAddr>) -> IpAddr {
    match client.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        Some(v4) => v4,
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The request's client address: API Gateway's source IP on Lambda, else
/// the TCP peer; never a header.
pub fn client_ip(request: &Request) -> Option<IpAddr> {
    client_ip_in(request.extensions())
}

/// [`client_ip`], from a request's extensions.
pub fn client_ip_in(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions.get::<ClientIp>().map(|c| c.0).or_else(|| {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    })
}

/// The guard, for the middleware that every write passes
/// (`http::writes`): the intake submission comes back, its body capped, or
/// its refusal (429, 413); any other request comes back untouched.
pub fn admit(limiter: &IntakeLimiter, request: Request) -> Result<Request, ApiError> {
    let guarded = request.method() == Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|path| path.as_str() == INTAKE_PATH);
    if !guarded {
        return Ok(request);
    }
    if let Err(wait) = limiter.check(client_ip(&request)) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(ApiError::TooManyRequests(seconds.max(1)));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > INTAKE_MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    // A body without a (truthful) length is cut off while it is read; the
    // JSON extractor answers 413.
    Ok(request.map(|body| Body::new(http_body_util::Limited::new(body, INTAKE_MAX_BODY_BYTES))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_about_a_second() {
        let limiter = IntakeLimiter::new(IntakeLimit {
            burst: NonZeroU32::new(3).unwrap(),
            per_second: NonZeroU32::new(1).unwrap(),
        });
        for _ in 0..3 {
            assert_eq!(limiter.check(ip("203.0.113.7")), Ok(()));
        }
        let wait = limiter.check(ip("203.0.113.7")).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        // Another client has its own allowance.
        assert_eq!(limiter.check(ip("203.0.113.8")), Ok(()));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_block() {
        let limiter = IntakeLimiter::new(IntakeLimit {
            burst: NonZeroU32::new(1).unwrap(),
            per_second: NonZeroU32::new(1).unwrap(),
        });
        assert_eq!(limiter.check(ip("2001:db8:1:2::1")), Ok(()));
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9")).is_err());
        assert_eq!(limiter.check(ip("2001:db8:1:3::1")), Ok(()));
        assert_eq!(limiter.check(ip("::ffff:198.51.100.1")), Ok(()));
        assert!(limiter.check(ip("198.51.100.1")).is_err());
    }

    #[test]
    fn clients_whose_allowance_is_whole_again_are_forgotten() {
        // 50 per second with a burst of 1: an entry is stale 20 ms after
        // its last submission.
        let limiter = IntakeLimiter::new(IntakeLimit {
            burst: NonZeroU32::new(1).unwrap(),
            per_second: NonZeroU32::new(50).unwrap(),
        });
        for n in 0..200u32 {
            // 203.0.113.0/24 (documentation addresses): only keys here.
            let client = IpAddr::from(std::net::Ipv4Addr::from(0xcb00_7100 + n));
            limiter.check(Some(client)).unwrap();
        }
        assert_eq!(limiter.tracked_clients(), 200);
        std::thread::sleep(Duration::from_millis(100));
        // The next check sweeps by itself once SWEEP_EVERY has passed.
        limiter.check(ip("203.0.113.250")).unwrap();
        assert_eq!(limiter.tracked_clients(), 201, "not due yet");
        let mut last = limiter.inner.last_sweep.lock().unwrap();
        *last = Instant::now().checked_sub(SWEEP_EVERY).unwrap();
        drop(last);
        std::thread::sleep(Duration::from_millis(100));
        limiter.check(ip("203.0.113.251")).unwrap();
        assert_eq!(limiter.tracked_clients(), 1, "only the client just counted");
    }
}
