//! The nodes of one pool: free capacity, health, generation and the pods each holds.
//!
//! GPUs (or GPU shares under MIG / time slicing) are an extended resource, as the NVIDIA
//! device plugin advertises them: a pod asking for k units fits only on a node with k free.
//! Placement packs pods (the scheduler's `MostAllocated` scoring, the strategy recommended for
//! GPU bin packing) so that whole nodes stay free for large pods; ties go to the lowest node.
//!
//! On a CPU pool the unit is a milli-CPU (a 96-CPU node has 96,000), and a node may also
//! have memory: a pod asking for memory fits only a node with both free. CPU stays the index
//! (the fullest node by CPU that also has the memory is chosen); memory is checked on the
//! candidates.

use super::pod::PodId;
use crate::engine::SimTime;

/// A node of a pool, named with its generation: a node that fails and rejoins is a new
/// generation, so that what was scheduled for the old one is recognised as stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Index of the pool.
    pub pool: u16,
    /// Generation of the node slot (it grows each time the node rejoins).
    pub generation: u16,
    /// Index of the node in its pool.
    pub node: u32,
}

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Working and Ready.
    Up,
    /// Down, but the API does not know yet: it is still Ready there and still schedulable.
    Failed,
    /// Down and marked NotReady by the node lifecycle controller: tainted, not schedulable.
    NotReady,
    /// Removed by the cluster autoscaler.
    Removed,
}

#[derive(Clone, Debug)]
struct Node {
    free: u32,
    /// Free memory, bytes (pools that model memory only).
    mem_free: u64,
    health: Health,
    generation: u16,
    /// When it (re)joined: its heartbeats are at this time plus whole renew intervals.
    joined: SimTime,
    /// Pods bound to it, in binding order.
    pods: Vec<PodId>,
    /// Images on the node and when each is (or will be) there.
    images: Vec<(u32, SimTime)>,
}

/// A set of node indices that finds its lowest member fast: a bitmap with a summary word per
/// 64 words, so insert and remove are O(1) and `first` scans one summary bit per 4,096 nodes.
/// (A BTreeSet did the same in O(log nodes), with a cache miss per level: 2.5x slower per pod
/// at 7,500 nodes than at 75.)
#[derive(Debug, Clone, Default)]
struct NodeSet {
    words: Vec<u64>,
    // Bit w of summary[w / 64] is set when words[w] is not zero.
    summary: Vec<u64>,
    len: u32,
}

impl NodeSet {
    fn insert(&mut self, i: u32) {
        let (w, b) = (i as usize / 64, i % 64);
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
            self.summary.resize(w / 64 + 1, 0);
        }
        if self.words[w] & (1 << b) == 0 {
            self.words[w] |= 1 << b;
            self.summary[w / 64] |= 1 << (w % 64);
            self.len += 1;
        }
    }

    fn remove(&mut self, i: u32) {
        let (w, b) = (i as usize / 64, i % 64);
        if let Some(word) = self.words.get_mut(w)
            && *word & (1 << b) != 0
        {
            *word &= !(1 << b);
            if *word == 0 {
                self.summary[w / 64] &= !(1 << (w % 64));
            }
            self.len -= 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn contains(&self, i: u32) -> bool {
        self.words
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Members in `lo..hi`: a popcount per word the range touches.
    fn count_range(&self, lo: u32, hi: u32) -> u32 {
        let hi = hi.min(self.words.len() as u32 * 64);
        let mut n = 0;
        let mut i = lo;
        while i < hi {
            let w = i / 64;
            let end = ((w + 1) * 64).min(hi);
            // Bits i % 64 .. end - w * 64 of word w.
            let width = end - i;
            let mask = if width == 64 {
                u64::MAX
            } else {
                ((1u64 << width) - 1) << (i % 64)
            };
            n += (self.words[w as usize] & mask).count_ones();
            i = end;
        }
        n
    }

    /// The lowest member.
    fn first(&self) -> Option<u32> {
        let (s, bits) = self.summary.iter().enumerate().find(|(_, x)| **x != 0)?;
        let w = s * 64 + bits.trailing_zeros() as usize;
        Some((w * 64) as u32 + self.words[w].trailing_zeros())
    }

    /// The lowest member at or above `i`: the rest of `i`'s word, then the summary from the
    /// next word on (one bit per word, a word per 4,096 members).
    fn next_from(&self, i: u32) -> Option<u32> {
        let w = i as usize / 64;
        let word = *self.words.get(w)? & (u64::MAX << (i % 64));
        if word != 0 {
            return Some((w * 64) as u32 + word.trailing_zeros());
        }
        let w = w + 1;
        let mut s = w / 64;
        let mut bits = *self.summary.get(s)? & (u64::MAX << (w % 64));
        while bits == 0 {
            s += 1;
            bits = *self.summary.get(s)?;
        }
        let w = s * 64 + bits.trailing_zeros() as usize;
        Some((w * 64) as u32 + self.words[w].trailing_zeros())
    }

    /// The highest member at or below `i`.
    fn prev_from(&self, i: u32) -> Option<u32> {
        if self.words.is_empty() {
            return None;
        }
        let i = i.min(self.words.len() as u32 * 64 - 1);
        let w = i as usize / 64;
        let word = self.words[w] & (u64::MAX >> (63 - i % 64));
        if word != 0 {
            return Some((w * 64) as u32 + 63 - word.leading_zeros());
        }
        let w = w.checked_sub(1)?;
        let mut s = w / 64;
        let mut bits = self.summary[s] & (u64::MAX >> (63 - w % 64));
        while bits == 0 {
            s = s.checked_sub(1)?;
            bits = self.summary[s];
        }
        let w = s * 64 + 63 - bits.leading_zeros() as usize;
        Some((w * 64) as u32 + 63 - self.words[w].leading_zeros())
    }

    /// The members in increasing order.
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let mut next = self.next_from(0);
        std::iter::from_fn(move || {
            let i = next?;
            next = i.checked_add(1).and_then(|j| self.next_from(j));
            Some(i)
        })
    }
}

/// The schedulable nodes by free units: a set of nodes per free-unit count.
///
/// With few units per node (GPU shares) every count has its set and a scan over the counts
/// finds the fullest (or emptiest) one that fits. With many (milli-CPUs: 96,000 on a 96-CPU
/// node) only the counts in use have a set, found through a bitmap of those counts, so the
/// search is a few word operations whatever the units per node. (A set per count scanned
/// upward cost 10 to 28 us per pod on 96-CPU nodes and 5 MB per pool; the bitmap on GPU pools
/// cost 50% more per pod than the scan of at most a few dozen counts.)
#[derive(Debug, Clone, Default)]
struct Buckets {
    /// Counts that have a non-empty set (sparse only).
    counts: NodeSet,
    /// For each count, the index of its set in `sets` (`NO_SET`: none); empty when dense
    /// (`sets[f]` is count f's set).
    slot_of: Vec<u32>,
    sets: Vec<NodeSet>,
    /// Indices of `sets` not in use (kept, with their words, for the next count).
    spare: Vec<u32>,
}

const NO_SET: u32 = u32::MAX;

/// Most units per node for a set per count (a scan of them per placement stays short).
const DENSE_MAX_UNITS: u32 = 256;

impl Buckets {
    fn new(units_per_node: u32) -> Buckets {
        if units_per_node <= DENSE_MAX_UNITS {
            Buckets {
                sets: vec![NodeSet::default(); units_per_node as usize + 1],
                ..Default::default()
            }
        } else {
            Buckets {
                slot_of: vec![NO_SET; units_per_node as usize + 1],
                ..Default::default()
            }
        }
    }

    fn dense(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// The nodes with exactly `free` free units, if any.
    fn get(&self, free: u32) -> Option<&NodeSet> {
        let slot = if self.dense() {
            free
        } else {
            self.slot_of[free as usize]
        };
        self.sets.get(slot as usize).filter(|s| !s.is_empty())
    }

    fn insert(&mut self, free: u32, node: u32) {
        if self.dense() {
            self.sets[free as usize].insert(node);
            return;
        }
        let slot = match self.slot_of[free as usize] {
            NO_SET => {
                let s = self.spare.pop().unwrap_or_else(|| {
                    self.sets.push(NodeSet::default());
                    self.sets.len() as u32 - 1
                });
                self.slot_of[free as usize] = s;
                self.counts.insert(free);
                s
            }
            s => s,
        };
        self.sets[slot as usize].insert(node);
    }

    fn remove(&mut self, free: u32, node: u32) {
        if self.dense() {
            self.sets[free as usize].remove(node);
            return;
        }
        let slot = self.slot_of[free as usize];
        if slot == NO_SET {
            return;
        }
        let set = &mut self.sets[slot as usize];
        set.remove(node);
        if set.is_empty() {
            self.slot_of[free as usize] = NO_SET;
            self.counts.remove(free);
            self.spare.push(slot);
        }
    }

    /// The smallest count at or above `units` that has nodes.
    fn fullest_from(&self, units: u32) -> Option<u32> {
        if self.dense() {
            let n = self.sets.len() as u32;
            (units..n).find(|&f| !self.sets[f as usize].is_empty())
        } else {
            self.counts.next_from(units)
        }
    }

    /// The largest count at or below `below` (and at least `units`) that has nodes.
    fn emptiest_upto(&self, below: u32, units: u32) -> Option<u32> {
        if self.dense() {
            let top = below.min(self.sets.len() as u32 - 1);
            (units..=top)
                .rev()
                .find(|&f| !self.sets[f as usize].is_empty())
        } else {
            self.counts.prev_from(below).filter(|&f| f >= units)
        }
    }

    /// The largest count that has nodes, if it is at least `units`.
    fn emptiest_from(&self, units: u32) -> Option<u32> {
        self.emptiest_upto(u32::MAX, units)
    }

    /// The next count above `free` that has nodes.
    fn next_above(&self, free: u32) -> Option<u32> {
        self.fullest_from(free.checked_add(1)?)
    }

    /// The next count below `free` (and at least `units`) that has nodes.
    fn next_below(&self, free: u32, units: u32) -> Option<u32> {
        self.emptiest_upto(free.checked_sub(1)?, units)
    }

    /// Free units of all the nodes in the sets.
    fn free_total(&self) -> u64 {
        let total = |f: u32, s: &NodeSet| u64::from(f) * u64::from(s.len);
        if self.dense() {
            (0u32..).zip(&self.sets).map(|(f, s)| total(f, s)).sum()
        } else {
            self.counts
                .iter()
                .map(|f| total(f, &self.sets[self.slot_of[f as usize] as usize]))
                .sum()
        }
    }
}

/// Where the scheduler puts a pod among the nodes that fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// The fullest node that fits (NodeResourcesFit `MostAllocated`), so that whole nodes
    /// stay free for large pods.
    #[default]
    Pack,
    /// The emptiest node that fits (`LeastAllocated`, the default scheduler's scoring).
    Spread,
    /// A gang of whole nodes on the fewest racks, within the fewest islands; smaller pods
    /// are packed.
    Topology,
}

/// Nodes per rack and per island: consecutive node indices share a rack, consecutive racks
/// an island.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// Nodes per rack.
    pub rack: u32,
    /// Nodes per island (a multiple of `rack`).
    pub island: u32,
}

/// The nodes of one pool, with free capacity bucketed by free units so that placing a pod
/// costs a scan of at most 257 buckets (GPU pools) or a few bitmap words (CPU pools), not
/// O(nodes).
#[derive(Debug, Clone)]
pub struct Pool {
    nodes: Vec<Node>,
    // The schedulable nodes by their free units.
    by_free: Buckets,
    units_per_node: u32,
    /// Memory per node, bytes (None: memory is not modelled and fits everywhere).
    memory_per_node: Option<u64>,
    allocated: u64,
    present: u32,
    up: u32,
}

impl Pool {
    /// `nodes` empty nodes of `units_per_node` units each, joined at time zero.
    pub fn new(nodes: u32, units_per_node: u32) -> Pool {
        let mut by_free = Buckets::new(units_per_node);
        for n in 0..nodes {
            by_free.insert(units_per_node, n);
        }
        Pool {
            nodes: (0..nodes).map(|_| Node::new(units_per_node, 0)).collect(),
            by_free,
            units_per_node,
            memory_per_node: None,
            allocated: 0,
            present: nodes,
            up: nodes,
        }
    }

    /// The same pool with `memory` bytes per node (None: memory not modelled).
    pub fn with_memory(mut self, memory: Option<u64>) -> Pool {
        self.memory_per_node = memory;
        for n in &mut self.nodes {
            n.mem_free = memory.unwrap_or(0);
        }
        self
    }

    /// Places a pod needing `units` on the fullest schedulable node that still fits it; None
    /// when no node has room (the pod stays Pending).
    pub fn place(&mut self, units: u32) -> Option<u32> {
        self.place_needing(units, 0)
    }

    /// Places a pod needing `units` and `memory` bytes on the fullest schedulable node (by
    /// units) that has both free; None when none has.
    pub fn place_needing(&mut self, units: u32, memory: u64) -> Option<u32> {
        let node = self.fit(units, memory, Placement::Pack)?;
        self.take(node, units);
        self.take_memory(node, memory);
        Some(node)
    }

    /// Whether `node` has `memory` bytes free (always, where memory is not modelled).
    pub fn has_memory(&self, node: u32, memory: u64) -> bool {
        self.memory_per_node.is_none() || memory <= self.nodes[node as usize].mem_free
    }

    /// The node `placement` would choose for a pod of `units` and `memory`, without placing:
    /// the lowest node of the fullest (Pack) or emptiest (Spread) free-unit count that fits,
    /// passing over nodes without the memory.
    fn fit(&self, units: u32, memory: u64, placement: Placement) -> Option<u32> {
        if units > self.units_per_node {
            return None;
        }
        let spread = placement == Placement::Spread;
        let mut f = if spread {
            self.by_free.emptiest_from(units)?
        } else {
            self.by_free.fullest_from(units)?
        };
        let set = |f: u32| self.by_free.get(f).expect("a count in use has nodes");
        if memory == 0 || self.memory_per_node.is_none() {
            return set(f).first();
        }
        if memory > self.memory_per_node.unwrap_or(0) {
            return None;
        }
        loop {
            if let Some(n) = set(f).iter().find(|&n| self.has_memory(n, memory)) {
                return Some(n);
            }
            f = if spread {
                self.by_free.next_below(f, units)?
            } else {
                self.by_free.next_above(f)?
            };
        }
    }

    /// Places a pod needing `units` where `placement` says; None when no node has room.
    pub fn place_with(&mut self, units: u32, placement: Placement) -> Option<u32> {
        let node = self.fit(units, 0, placement)?;
        self.take(node, units);
        Some(node)
    }

    /// Whether a pod of `units` fits some schedulable node now.
    pub fn fits(&self, units: u32) -> bool {
        units <= self.units_per_node && self.by_free.fullest_from(units).is_some()
    }

    /// Schedulable nodes with nothing on them.
    pub fn free_nodes(&self) -> u32 {
        self.by_free.get(self.units_per_node).map_or(0, |s| s.len)
    }

    /// Free units on schedulable nodes.
    pub fn free_units_total(&self) -> u64 {
        self.by_free.free_total()
    }

    /// Places every pod of a gang, all or nothing, where `placement` says (with `topology`,
    /// a gang of several whole nodes goes on the fewest racks and islands). None changes
    /// nothing.
    pub fn place_gang_with(
        &mut self,
        units: &[u32],
        placement: Placement,
        topology: Option<Topology>,
    ) -> Option<Vec<u32>> {
        let whole = units.len() > 1 && units.iter().all(|&u| u == self.units_per_node);
        if whole && (self.free_nodes() as usize) < units.len() {
            return None;
        }
        if let (Placement::Topology, Some(t), true) = (placement, topology, whole) {
            let nodes = self.topology_nodes(units.len() as u32, t)?;
            for &n in &nodes {
                self.take(n, self.units_per_node);
            }
            return Some(nodes);
        }
        let mut placed = Vec::with_capacity(units.len());
        for &u in units {
            match self.place_with(u, placement) {
                Some(n) => placed.push(n),
                None => {
                    for (&n, &u) in placed.iter().zip(units) {
                        self.release(n, u);
                    }
                    return None;
                }
            }
        }
        Some(placed)
    }

    /// `k` free whole nodes on the fewest racks of the fewest islands: one rack if one holds
    /// them (the rack with the fewest free nodes that does, so large free racks stay whole);
    /// else one island if one holds them (the island needing fewest racks, its fullest racks
    /// first); else the islands with the most free nodes first.
    ///
    /// The cost is O(racks + k), not O(free nodes): racks are counted a word of the free
    /// set at a time, and only the chosen racks' nodes are visited. (Collecting the free
    /// nodes and filtering them again per chosen rack cost 97 us for a gang of 8 nodes on
    /// 25,000 nodes, 40% of a 25,000-node run.)
    fn topology_nodes(&self, k: u32, t: Topology) -> Option<Vec<u32>> {
        let free = self.by_free.get(self.units_per_node)?;
        if free.len < k {
            return None;
        }
        let rack = t.rack.max(1);
        let slots = self.node_slots();
        // Free nodes per rack, racks in order (those with none left out).
        let racks: Vec<(u32, u32)> = (0..slots.div_ceil(rack))
            .map(|r| (r, free.count_range(r * rack, (r + 1) * rack)))
            .filter(|&(_, c)| c > 0)
            .collect();
        let take = |chosen: &[u32]| -> Vec<u32> {
            let mut out = Vec::with_capacity(k as usize);
            for &r in chosen {
                for n in (r * rack..((r + 1) * rack).min(slots)).filter(|&n| free.contains(n)) {
                    if out.len() as u32 == k {
                        return out;
                    }
                    out.push(n);
                }
            }
            out
        };
        if let Some(&(r, _)) = racks
            .iter()
            .filter(|(_, c)| *c >= k)
            .min_by_key(|(r, c)| (*c, *r))
        {
            return Some(take(&[r]));
        }
        let racks_per_island = (t.island / rack).max(1);
        // Per island: its racks, fullest first.
        let mut islands: Vec<(u32, Vec<(u32, u32)>)> = Vec::new();
        for &(r, c) in &racks {
            let i = r / racks_per_island;
            match islands.last_mut() {
                Some((li, v)) if *li == i => v.push((r, c)),
                _ => islands.push((i, vec![(r, c)])),
            }
        }
        for (_, v) in &mut islands {
            v.sort_by_key(|&(r, c)| (std::cmp::Reverse(c), r));
        }
        let racks_needed = |v: &[(u32, u32)]| -> Option<usize> {
            let mut sum = 0;
            for (i, &(_, c)) in v.iter().enumerate() {
                sum += c;
                if sum >= k {
                    return Some(i + 1);
                }
            }
            None
        };
        let best = islands
            .iter()
            .filter_map(|(i, v)| {
                let total: u32 = v.iter().map(|x| x.1).sum();
                racks_needed(v).map(|n| (n, total, *i, v))
            })
            .min_by_key(|&(n, total, i, _)| (n, total, i));
        if let Some((n, _, _, v)) = best {
            let chosen: Vec<u32> = v[..n].iter().map(|x| x.0).collect();
            return Some(take(&chosen));
        }
        islands.sort_by_key(|(i, v)| (std::cmp::Reverse(v.iter().map(|x| x.1).sum::<u32>()), *i));
        let chosen: Vec<u32> = islands
            .iter()
            .flat_map(|(_, v)| v.iter().map(|x| x.0))
            .collect();
        Some(take(&chosen))
    }

    /// Places a pod needing `units` and `memory` on `node` (which must have room).
    pub fn place_on(&mut self, node: u32, units: u32, memory: u64) {
        debug_assert!(self.nodes[node as usize].free >= units);
        debug_assert!(self.has_memory(node, memory));
        self.take(node, units);
        self.take_memory(node, memory);
    }

    fn take_memory(&mut self, node: u32, memory: u64) {
        if self.memory_per_node.is_some() {
            let n = &mut self.nodes[node as usize];
            n.mem_free = n.mem_free.saturating_sub(memory);
        }
    }

    /// Returns `memory` bytes of `node` to the pool.
    pub fn release_memory(&mut self, node: u32, memory: u64) {
        if let Some(m) = self.memory_per_node {
            let n = &mut self.nodes[node as usize];
            n.mem_free = (n.mem_free + memory).min(m);
        }
    }

    /// Free memory of `node`, bytes (0 where memory is not modelled).
    pub fn free_memory(&self, node: u32) -> u64 {
        self.nodes[node as usize].mem_free
    }

    fn take(&mut self, node: u32, units: u32) {
        let f = self.nodes[node as usize].free - units;
        self.set_free(node, f);
        self.allocated += u64::from(units);
    }

    /// Returns `units` of `node` to the pool.
    pub fn release(&mut self, node: u32, units: u32) {
        let n = &self.nodes[node as usize];
        let f = (n.free + units).min(self.units_per_node);
        self.allocated -= u64::from(f - n.free);
        self.set_free(node, f);
    }

    fn schedulable(h: Health) -> bool {
        matches!(h, Health::Up | Health::Failed)
    }

    fn set_free(&mut self, node: u32, f: u32) {
        let n = &mut self.nodes[node as usize];
        if Self::schedulable(n.health) {
            self.by_free.remove(n.free, node);
            self.by_free.insert(f, node);
        }
        n.free = f;
    }

    /// Units in use on nodes still in the pool.
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// Units in all.
    pub fn capacity(&self) -> u64 {
        self.nodes() as u64 * self.units_per_node as u64
    }

    /// Nodes in the pool, working or not (removed ones not counted).
    pub fn nodes(&self) -> u32 {
        self.present
    }

    /// Nodes working (up, not failed).
    pub fn nodes_up(&self) -> u32 {
        self.up
    }

    /// Node indices ever used (removed ones included): the range of node numbers.
    pub fn node_slots(&self) -> u32 {
        self.nodes.len() as u32
    }

    /// Units per node.
    pub fn units_per_node(&self) -> u32 {
        self.units_per_node
    }

    /// Free units of `node`.
    pub fn free_units(&self, node: u32) -> u32 {
        self.nodes[node as usize].free
    }

    /// Whether `node` is in the pool and holds no pod.
    pub fn is_empty_node(&self, node: u32) -> bool {
        let n = &self.nodes[node as usize];
        n.health != Health::Removed
            && n.free == self.units_per_node
            && self.memory_per_node.is_none_or(|m| n.mem_free == m)
    }

    /// Whether `node` was removed.
    pub fn is_removed(&self, node: u32) -> bool {
        self.nodes[node as usize].health == Health::Removed
    }

    /// The health of `node`.
    pub fn health(&self, node: u32) -> Health {
        self.nodes[node as usize].health
    }

    /// The current generation of `node`.
    pub fn generation(&self, node: u32) -> u16 {
        self.nodes[node as usize].generation
    }

    /// When `node` last joined.
    pub fn joined(&self, node: u32) -> SimTime {
        self.nodes[node as usize].joined
    }

    /// Adds an empty node joined at `now` (the cluster autoscaler's scale-up); returns its
    /// index.
    pub fn add_node(&mut self, now: SimTime) -> u32 {
        let node = self.nodes.len() as u32;
        let mut n = Node::new(self.units_per_node, self.memory_per_node.unwrap_or(0));
        n.joined = now;
        self.nodes.push(n);
        self.by_free.insert(self.units_per_node, node);
        self.present += 1;
        self.up += 1;
        node
    }

    /// Removes an empty node (the cluster autoscaler's scale-down).
    pub fn remove_node(&mut self, node: u32) {
        debug_assert!(self.is_empty_node(node));
        let n = &mut self.nodes[node as usize];
        if Self::schedulable(n.health) {
            self.by_free.remove(n.free, node);
        }
        if n.health == Health::Up {
            self.up -= 1;
        }
        n.health = Health::Removed;
        n.free = 0;
        n.mem_free = 0;
        n.images.clear();
        self.present -= 1;
    }

    /// `node` stops working; the API still sees it Ready (and schedulable).
    pub fn fail(&mut self, node: u32) {
        let n = &mut self.nodes[node as usize];
        debug_assert_eq!(n.health, Health::Up);
        n.health = Health::Failed;
        self.up -= 1;
    }

    /// A failed `node` is marked NotReady and tainted: the scheduler no longer uses it.
    pub fn mark_not_ready(&mut self, node: u32) {
        let n = &mut self.nodes[node as usize];
        debug_assert_eq!(n.health, Health::Failed);
        self.by_free.remove(n.free, node);
        n.health = Health::NotReady;
    }

    /// A repaired `node` rejoins at `now`, empty and as a new generation. Its pods must have
    /// been released.
    pub fn rejoin(&mut self, node: u32, now: SimTime) {
        let upn = self.units_per_node;
        let n = &mut self.nodes[node as usize];
        debug_assert!(matches!(n.health, Health::Failed | Health::NotReady));
        debug_assert!(n.pods.is_empty() && n.free == upn);
        debug_assert!(self.memory_per_node.is_none_or(|m| n.mem_free == m));
        if n.health == Health::Failed {
            self.by_free.remove(n.free, node);
        }
        n.health = Health::Up;
        n.generation = n.generation.wrapping_add(1);
        n.joined = now;
        n.images.clear();
        self.by_free.insert(upn, node);
        self.up += 1;
    }

    /// The id of `node` now.
    pub fn id(&self, pool: u16, node: u32) -> NodeId {
        NodeId {
            pool,
            generation: self.generation(node),
            node,
        }
    }

    /// Whether `id` names the node as it is now (same generation, not removed).
    pub fn is_current(&self, id: NodeId) -> bool {
        self.nodes
            .get(id.node as usize)
            .is_some_and(|n| n.generation == id.generation && n.health != Health::Removed)
    }

    /// Records that `pod` is bound to `node`.
    pub fn add_pod(&mut self, node: u32, pod: PodId) {
        self.nodes[node as usize].pods.push(pod);
    }

    /// Forgets that `pod` is bound to `node`.
    pub fn remove_pod(&mut self, node: u32, pod: PodId) {
        let pods = &mut self.nodes[node as usize].pods;
        if let Some(i) = pods.iter().position(|p| *p == pod) {
            pods.remove(i);
        }
    }

    /// Pods bound to `node`, in binding order.
    pub fn pods(&self, node: u32) -> &[PodId] {
        &self.nodes[node as usize].pods
    }

    /// When `image` is on `node`: the kubelet pulls an image once per node, and later pods
    /// there wait for that pull. A node without it starts pulling at `now` for `pull`.
    pub fn image_ready(&mut self, node: u32, image: u32, now: SimTime, pull: SimTime) -> SimTime {
        let images = &mut self.nodes[node as usize].images;
        match images.iter().find(|(i, _)| *i == image) {
            Some(&(_, at)) => at,
            None => {
                images.push((image, now + pull));
                now + pull
            }
        }
    }
}

impl Node {
    fn new(units: u32, memory: u64) -> Node {
        Node {
            free: units,
            mem_free: memory,
            health: Health::Up,
            generation: 0,
            joined: SimTime::ZERO,
            pods: Vec::new(),
            images: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_refuses_what_does_not_fit() {
        // Two nodes of 4 GPUs. 3 goes to node 0 (1 free left); 2 does not fit there, so
        // node 1; the next 2 fills node 1; 1 fills node 0; then nothing fits.
        let mut p = Pool::new(2, 4);
        assert_eq!(p.place(3), Some(0));
        assert_eq!(p.place(2), Some(1));
        assert_eq!(p.place(2), Some(1));
        assert_eq!(p.place(1), Some(0));
        assert_eq!(p.place(1), None);
        assert_eq!(p.allocated(), 8);
        p.release(1, 2);
        assert_eq!(p.place(2), Some(1));
    }

    #[test]
    fn a_pod_larger_than_a_node_never_fits() {
        let mut p = Pool::new(10, 8);
        assert_eq!(p.place(9), None);
        // 2-GPU pods on nodes with 1 free GPU each do not fit, whatever the total free.
        let mut q = Pool::new(3, 1);
        assert_eq!(q.place(2), None);
    }

    #[test]
    fn a_gang_is_placed_whole_or_not_at_all() {
        // Three nodes of 8; one node half used. A gang of three whole nodes does not fit:
        // nothing changes. A gang of two whole nodes and a half fits exactly.
        let mut p = Pool::new(3, 8);
        assert_eq!(p.place(4), Some(0));
        assert_eq!(p.place_gang_with(&[8, 8, 8], Placement::Pack, None), None);
        assert_eq!(p.allocated(), 4);
        assert_eq!(
            (0..3).map(|n| p.free_units(n)).collect::<Vec<_>>(),
            [4, 8, 8]
        );
        assert_eq!(
            p.place_gang_with(&[8, 8, 4], Placement::Pack, None),
            Some(vec![1, 2, 0])
        );
        assert_eq!(p.allocated(), 24);
    }

    #[test]
    fn a_failed_node_stays_schedulable_until_not_ready_and_rejoins_empty() {
        let mut p = Pool::new(2, 8);
        assert_eq!(p.place(8), Some(0));
        p.fail(0);
        assert_eq!((p.nodes(), p.nodes_up()), (2, 1));
        // Its pod's units stay allocated until released.
        assert_eq!(p.allocated(), 8);
        p.release(0, 8);
        // Failed but not yet NotReady: the scheduler still places there.
        assert_eq!(p.place(4), Some(0));
        p.mark_not_ready(0);
        assert_eq!(p.place(8), Some(1));
        assert_eq!(p.place(1), None);
        p.release(0, 4);
        let old = p.id(0, 0);
        p.rejoin(0, SimTime::from_secs(60));
        assert!(!p.is_current(old));
        assert_eq!(p.joined(0), SimTime::from_secs(60));
        assert_eq!(p.place(8), Some(0));
        assert_eq!(p.nodes_up(), 2);
    }

    #[test]
    fn a_node_set_finds_its_lowest_member() {
        let mut s = NodeSet::default();
        assert_eq!(s.first(), None);
        for i in [9000, 70, 4100, 64, 5] {
            s.insert(i);
        }
        s.insert(5);
        assert_eq!(s.len, 5);
        let mut order = Vec::new();
        while let Some(i) = s.first() {
            order.push(i);
            s.remove(i);
        }
        assert_eq!(order, [5, 64, 70, 4100, 9000]);
        assert!(s.is_empty());
        s.remove(3);
        assert!(s.is_empty());
    }

    #[test]
    fn a_node_set_counts_its_members_in_a_range() {
        let mut s = NodeSet::default();
        let members = [0, 1, 31, 32, 63, 64, 65, 127, 128, 200, 4095, 4096, 9000];
        for i in members {
            s.insert(i);
        }
        for (lo, hi) in [
            (0, 0),
            (0, 1),
            (0, 32),
            (32, 64),
            (0, 64),
            (63, 66),
            (1, 129),
        ]
        .into_iter()
        .chain([
            (100, 5000),
            (0, 20_000),
            (4096, 4097),
            (9000, 9001),
            (9001, 99_999),
        ]) {
            let naive = members.iter().filter(|&&i| (lo..hi).contains(&i)).count() as u32;
            assert_eq!(s.count_range(lo, hi), naive, "{lo}..{hi}");
        }
        assert!(s.contains(4096) && !s.contains(4097) && !s.contains(1 << 20));
    }

    #[test]
    fn a_node_set_finds_the_next_and_previous_member() {
        let members = [0u32, 1, 63, 64, 127, 300, 4095, 4096, 4160, 70_000];
        let mut s = NodeSet::default();
        assert_eq!((s.next_from(0), s.prev_from(u32::MAX)), (None, None));
        for i in members {
            s.insert(i);
        }
        for q in (0..4200).chain([8000, 69_999, 70_000, 70_001, 200_000, u32::MAX]) {
            let next = members.iter().copied().find(|&m| m >= q);
            let prev = members.iter().copied().rev().find(|&m| m <= q);
            assert_eq!(s.next_from(q), next, "next from {q}");
            assert_eq!(s.prev_from(q), prev, "previous from {q}");
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), members);
        s.remove(0);
        s.remove(70_000);
        assert_eq!(s.prev_from(u32::MAX), Some(4160));
        assert_eq!(s.next_from(0), Some(1));
    }

    #[test]
    fn a_cpu_pool_packs_by_milli_cpu() {
        // 32-CPU nodes, 3-CPU pods: ten fill 30,000 of node 0's 32,000 milli-CPUs; the 11th
        // goes to node 1; a 2-CPU pod then fits the 2,000 left on node 0.
        let mut p = Pool::new(3, 32 * 1000);
        for _ in 0..10 {
            assert_eq!(p.place(3000), Some(0));
        }
        assert_eq!(p.place(3000), Some(1));
        assert_eq!(p.place(2000), Some(0));
        assert_eq!(p.free_units(0), 0);
        assert_eq!(p.place(2001), Some(1));
        assert_eq!(p.free_units_total(), 32_000 - 5001 + 32_000);
        // Memory binds: 3-CPU pods of 8 GiB on nodes of 64 GiB, eight a node, not ten.
        let gib = 1u64 << 30;
        let mut p = Pool::new(2, 32 * 1000).with_memory(Some(64 * gib));
        for _ in 0..8 {
            assert_eq!(p.place_needing(3000, 8 * gib), Some(0));
        }
        assert_eq!(p.place_needing(3000, 8 * gib), Some(1));
        // Node 0 has the CPU (8,000 free) but no memory: a pod of 1 GiB goes to node 1; one
        // without memory still packs node 0.
        assert_eq!(p.place_needing(1000, gib), Some(1));
        assert_eq!(p.place_needing(1000, 0), Some(0));
        assert_eq!(p.place_needing(1000, 65 * gib), None);
        assert!(!p.is_empty_node(1));
        p.release(1, 4000);
        assert!(!p.is_empty_node(1), "it still holds memory");
        p.release_memory(1, 9 * gib);
        assert!(p.is_empty_node(1));
        assert_eq!(p.free_memory(0), 0);
    }

    /// The node the scheduler must choose, found by looking at every node: the fullest
    /// (Pack) or emptiest (Spread) that fits units and memory, the lowest on a tie.
    fn naive_fit(p: &Pool, units: u32, memory: u64, spread: bool) -> Option<u32> {
        (0..p.node_slots())
            .filter(|&n| matches!(p.health(n), Health::Up | Health::Failed))
            .filter(|&n| p.free_units(n) >= units && p.has_memory(n, memory))
            .min_by_key(|&n| {
                let f = i64::from(p.free_units(n));
                (if spread { -f } else { f }, n)
            })
    }

    #[test]
    fn placement_is_the_fullest_fitting_node_as_a_scan_of_every_node_finds_it() {
        let gib = 1u64 << 30;
        for (units, memory) in [(8, None), (32_000, None), (96_000, Some(256 * gib))] {
            let mut p = Pool::new(40, units).with_memory(memory);
            let mut held: Vec<(u32, u32, u64)> = Vec::new();
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut draw = |m: u64| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % m
            };
            let mut placed = 0;
            for step in 0..20_000 {
                let r = draw(100);
                if r < 55 || held.is_empty() {
                    let u = 1 + (draw(u64::from(units) / 4) as u32);
                    let m = if memory.is_some() { draw(40) * gib } else { 0 };
                    let spread = draw(4) == 0;
                    let want = naive_fit(&p, u, m, spread);
                    let placement = if spread {
                        Placement::Spread
                    } else {
                        Placement::Pack
                    };
                    let got = p.fit(u, m, placement);
                    assert_eq!(got, want, "step {step}: {u} units, {m} bytes");
                    if let Some(n) = got {
                        p.place_on(n, u, m);
                        held.push((n, u, m));
                        placed += 1;
                    }
                } else if r < 97 {
                    let (n, u, m) = held.swap_remove(draw(held.len() as u64) as usize);
                    p.release(n, u);
                    p.release_memory(n, m);
                } else {
                    let n = draw(u64::from(p.node_slots())) as u32;
                    match p.health(n) {
                        Health::Up => p.fail(n),
                        Health::Failed => p.mark_not_ready(n),
                        _ => {
                            for &(_, u, m) in held.iter().filter(|h| h.0 == n) {
                                p.release(n, u);
                                p.release_memory(n, m);
                            }
                            held.retain(|h| h.0 != n);
                            p.rejoin(n, SimTime::ZERO);
                        }
                    }
                }
                let naive_total: u64 = (0..p.node_slots())
                    .filter(|&n| matches!(p.health(n), Health::Up | Health::Failed))
                    .map(|n| u64::from(p.free_units(n)))
                    .sum();
                assert_eq!(p.free_units_total(), naive_total);
            }
            assert!(placed > 5000, "{placed}");
        }
    }

    #[test]
    fn an_image_is_pulled_once_per_node() {
        let mut p = Pool::new(1, 8);
        let s = SimTime::from_secs;
        assert_eq!(p.image_ready(0, 7, s(0), s(60)), s(60));
        assert_eq!(p.image_ready(0, 7, s(10), s(60)), s(60));
        assert_eq!(p.image_ready(0, 8, s(10), s(60)), s(70));
    }
}
