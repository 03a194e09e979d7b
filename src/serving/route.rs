//! The least-outstanding choice in O(log N): a minimum tree over a service's ready list.
//!
//! The rule is a scan: from the position after the last choice, in the order replicas became
//! Ready and around, the first replica with the fewest outstanding requests (so ties go
//! round-robin). A tree of minima over the ready list's positions gives the same replica
//! without the scan: the fewest is the root, and the first position at or after the start
//! holding it is one descent (or, past the end, a second descent from position 0).

/// Minimum tree over positions `0..len` of a ready list; each leaf holds that replica's
/// outstanding requests.
///
/// `power_of_two` keeps only the leaves up to date ([`LoadTree::leaves_only`]): it compares
/// two of them, and a dense array of counts is a few cache lines where two replicas' records
/// at 10,000 replicas are two likely misses.
#[derive(Debug, Clone, Default)]
pub struct LoadTree {
    /// Leaves: a power of two, at least `len`.
    width: usize,
    len: usize,
    /// Inner nodes are stale (only the leaves are read).
    leaves_only: bool,
    /// `node[1]` is the root; `node[width + i]` is position `i`. Unused leaves hold
    /// `u32::MAX`, so they are never the minimum while a real position exists.
    node: Vec<u32>,
}

impl LoadTree {
    /// A tree whose inner minima are not kept ([`LoadTree::leaf`] only; `pick` is wrong).
    pub fn leaves_only() -> LoadTree {
        LoadTree {
            leaves_only: true,
            ..LoadTree::default()
        }
    }

    /// The load at position `i` (which must be below `len`).
    #[inline]
    pub fn leaf(&self, i: usize) -> u32 {
        self.node[self.width + i]
    }

    /// Positions in the tree.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Rebuilds the tree over `loads`, position by position.
    pub fn rebuild(&mut self, loads: impl ExactSizeIterator<Item = u32>) {
        self.len = loads.len();
        self.width = self.len.next_power_of_two().max(1);
        self.node.clear();
        self.node.resize(2 * self.width, u32::MAX);
        for (i, v) in loads.enumerate() {
            self.node[self.width + i] = v;
        }
        for k in (1..self.width).rev() {
            self.node[k] = self.node[2 * k].min(self.node[2 * k + 1]);
        }
    }

    /// Appends a position holding `load`. Returns false when the tree is full (rebuild it
    /// with the new position instead).
    pub fn push(&mut self, load: u32) -> bool {
        if self.len == self.width {
            return false;
        }
        self.len += 1;
        self.set(self.len - 1, load);
        true
    }

    /// Position `i` now holds `load`.
    #[inline]
    pub fn set(&mut self, i: usize, load: u32) {
        let mut k = self.width + i;
        if self.node[k] == load {
            return;
        }
        self.node[k] = load;
        if self.leaves_only {
            return;
        }
        while k > 1 {
            k /= 2;
            let m = self.node[2 * k].min(self.node[2 * k + 1]);
            if self.node[k] == m {
                break;
            }
            self.node[k] = m;
        }
    }

    /// The first position in `from..len` holding at most `bound`.
    fn first_at_most(&self, from: usize, bound: u32) -> Option<usize> {
        if from >= self.len {
            return None;
        }
        let mut k = self.width + from;
        if self.node[k] <= bound {
            return Some(from);
        }
        // Everything after `from` is the right siblings of the left children on the way up,
        // left to right: the first of them that holds the bound holds the answer.
        loop {
            if k == 1 {
                return None;
            }
            if k & 1 == 0 && self.node[k + 1] <= bound {
                k += 1;
                break;
            }
            k /= 2;
        }
        while k < self.width {
            k = if self.node[2 * k] <= bound {
                2 * k
            } else {
                2 * k + 1
            };
        }
        let i = k - self.width;
        (i < self.len).then_some(i)
    }

    /// The position the least-outstanding scan starting at `start` chooses: the first, from
    /// `start` around the list, holding the fewest. `None` when empty.
    pub fn pick(&self, start: usize) -> Option<usize> {
        debug_assert!(!self.leaves_only, "a leaves-only tree has no minima");
        if self.len == 0 {
            return None;
        }
        let fewest = self.node[1];
        self.first_at_most(start, fewest)
            .or_else(|| self.first_at_most(0, fewest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scan this replaces, as it was written in `Serving::route`.
    fn scan(loads: &[u32], start: usize) -> usize {
        let n = loads.len();
        let mut best = start;
        for k in 1..n {
            let i = (start + k) % n;
            if loads[i] < loads[best] {
                best = i;
            }
        }
        best
    }

    #[test]
    fn ties_go_round_robin_from_the_start() {
        let mut t = LoadTree::default();
        t.rebuild([2, 1, 3, 1, 1].into_iter());
        assert_eq!(t.pick(0), Some(1));
        assert_eq!(t.pick(2), Some(3));
        assert_eq!(t.pick(4), Some(4));
        t.set(4, 5);
        assert_eq!(t.pick(4), Some(1));
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn push_fills_the_tree_then_asks_for_a_rebuild() {
        let mut t = LoadTree::default();
        t.rebuild([4, 4, 4].into_iter());
        assert!(t.push(0));
        assert_eq!(t.pick(0), Some(3));
        assert!(!t.push(0), "four leaves, four positions");
        let mut empty = LoadTree::default();
        empty.rebuild(std::iter::empty());
        assert_eq!(empty.pick(0), None);
        assert!(empty.push(7), "an empty tree has one leaf");
        assert_eq!(empty.pick(0), Some(0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// A leaves-only tree (power-of-two routing) holds every position's last load, through
        /// pushes and rebuilds, as a plain array would.
        #[test]
        fn a_leaves_only_tree_holds_each_positions_load(
            loads in prop::collection::vec(0u32..6, 0..40),
            ops in prop::collection::vec((any::<prop::sample::Index>(), 0u32..6, any::<bool>()), 0..60),
        ) {
            let mut loads = loads;
            let mut t = LoadTree::leaves_only();
            t.rebuild(loads.iter().copied());
            for (at, v, push) in ops {
                if push || loads.is_empty() {
                    loads.push(v);
                    if !t.push(v) {
                        t.rebuild(loads.iter().copied());
                    }
                } else {
                    let i = at.index(loads.len());
                    loads[i] = v;
                    t.set(i, v);
                }
                prop_assert_eq!(t.len(), loads.len());
                for (i, &l) in loads.iter().enumerate() {
                    prop_assert_eq!(t.leaf(i), l);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// On random states and random updates, the tree chooses what the scan chooses.
        #[test]
        fn the_tree_chooses_what_the_scan_chooses(
            loads in prop::collection::vec(0u32..6, 1..70),
            updates in prop::collection::vec((any::<prop::sample::Index>(), 0u32..6), 0..40),
            starts in prop::collection::vec(any::<prop::sample::Index>(), 1..10),
        ) {
            let mut loads = loads;
            let mut t = LoadTree::default();
            t.rebuild(loads.iter().copied());
            for (at, v) in updates {
                let i = at.index(loads.len());
                loads[i] = v;
                t.set(i, v);
                for s in &starts {
                    let start = s.index(loads.len());
                    prop_assert_eq!(t.pick(start), Some(scan(&loads, start)));
                }
            }
            for s in &starts {
                let start = s.index(loads.len());
                prop_assert_eq!(t.pick(start), Some(scan(&loads, start)));
            }
        }
    }
}
