//! The max-in-flight filter kube-apiserver uses when API Priority and Fairness is off
//! (`pkg/server/filters/maxinflight.go`, kubernetes/apiserver @ 24a394e5): two pools of
//! slots, read-only (get, list, watch) and mutating, each of its flag's size; a request that
//! finds its pool full is answered 429 at once, with `Retry-After: 1`, unless its user is in
//! `system:masters`, who is served without a slot. A limit of 0 means no limit. Long-running
//! requests (watches) bypass the filter; they are not offered here.

use super::classify::Requester;
use crate::apiserver::plan::Verb;
use crate::engine::SimTime;

/// The `Retry-After` the 429 carries (`retryAfter` = "1", maxinflight.go @ 24a394e5).
pub const RETRY_AFTER: SimTime = SimTime::from_secs(1);

/// The outcome of [`MaxInflight::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Runs in a slot: call [`MaxInflight::done`] with the same verb when it ends.
    Slot,
    /// Runs without a slot (no limit for its kind, or a `system:masters` user at a full
    /// pool): nothing to release.
    Unlimited,
    /// 429 Too Many Requests.
    Rejected,
}

/// The two pools of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaxInflight {
    /// `--max-requests-inflight` (0: no limit).
    pub readonly_limit: u32,
    /// `--max-mutating-requests-inflight` (0: no limit).
    pub mutating_limit: u32,
    readonly: u32,
    mutating: u32,
}

impl MaxInflight {
    /// Empty pools of those sizes.
    pub fn new(readonly_limit: u32, mutating_limit: u32) -> MaxInflight {
        MaxInflight {
            readonly_limit,
            mutating_limit,
            readonly: 0,
            mutating: 0,
        }
    }

    /// A request arrives.
    pub fn admit(&mut self, verb: Verb, who: Requester) -> Admission {
        let (limit, used) = if verb.mutating() {
            (self.mutating_limit, &mut self.mutating)
        } else {
            (self.readonly_limit, &mut self.readonly)
        };
        if limit == 0 {
            Admission::Unlimited
        } else if *used < limit {
            *used += 1;
            Admission::Slot
        } else if who == Requester::Masters {
            Admission::Unlimited
        } else {
            Admission::Rejected
        }
    }

    /// A request that got [`Admission::Slot`] ends.
    pub fn done(&mut self, verb: Verb) {
        let used = if verb.mutating() {
            &mut self.mutating
        } else {
            &mut self.readonly
        };
        *used = used.checked_sub(1).expect("done without a slot");
    }

    /// Read-only slots taken.
    pub fn readonly_in_use(&self) -> u32 {
        self.readonly
    }

    /// Mutating slots taken.
    pub fn mutating_in_use(&self) -> u32 {
        self.mutating
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_fill_and_reject_at_once() {
        let u = Requester::User(1);
        let mut m = MaxInflight::new(2, 1);
        assert_eq!(m.admit(Verb::Get, u), Admission::Slot);
        assert_eq!(m.admit(Verb::List, u), Admission::Slot);
        assert_eq!(m.admit(Verb::Get, u), Admission::Rejected);
        // The mutating pool is separate.
        assert_eq!(m.admit(Verb::Create, u), Admission::Slot);
        assert_eq!(m.admit(Verb::Patch, u), Admission::Rejected);
        // An admin is served past a full pool, without a slot.
        assert_eq!(
            m.admit(Verb::Delete, Requester::Masters),
            Admission::Unlimited
        );
        assert_eq!((m.readonly_in_use(), m.mutating_in_use()), (2, 1));
        m.done(Verb::Get);
        assert_eq!(m.admit(Verb::Get, u), Admission::Slot);
        m.done(Verb::Update);
        assert_eq!(m.admit(Verb::Update, u), Admission::Slot);
    }

    #[test]
    fn zero_means_no_limit() {
        let mut m = MaxInflight::new(0, 1);
        for _ in 0..1000 {
            assert_eq!(
                m.admit(Verb::List, Requester::User(2)),
                Admission::Unlimited
            );
        }
        assert_eq!(m.readonly_in_use(), 0);
    }
}
