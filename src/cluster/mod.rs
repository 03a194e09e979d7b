//! Nodes and the pod scheduler.
//!
//! GPUs (or GPU shares under MIG / time slicing) are an extended resource, as the NVIDIA
//! device plugin advertises them: a pod asking for k units fits only on a node with k free.
//! Placement packs pods (the scheduler's `MostAllocated` scoring, the strategy recommended for
//! GPU bin packing) so that whole nodes stay free for large pods; ties go to the lowest node.

/// Free capacity of the nodes of one pool, bucketed by free units so that placing a pod costs
/// O(units per node), not O(nodes).
#[derive(Debug, Clone)]
pub struct Pool {
    free: Vec<u32>,
    // Nodes removed by the cluster autoscaler keep their index (pods refer to nodes by it).
    removed: Vec<bool>,
    // by_free[f] holds the nodes with exactly f free units, lowest index first.
    by_free: Vec<std::collections::BTreeSet<u32>>,
    units_per_node: u32,
}

impl Pool {
    /// `nodes` empty nodes of `units_per_node` units each.
    pub fn new(nodes: u32, units_per_node: u32) -> Pool {
        let mut by_free = vec![std::collections::BTreeSet::new(); units_per_node as usize + 1];
        by_free[units_per_node as usize] = (0..nodes).collect();
        Pool {
            free: vec![units_per_node; nodes as usize],
            removed: vec![false; nodes as usize],
            by_free,
            units_per_node,
        }
    }

    /// Places a pod needing `units` on the fullest node that still fits it; None when no node
    /// has room (the pod stays Pending).
    pub fn place(&mut self, units: u32) -> Option<u32> {
        if units > self.units_per_node {
            return None;
        }
        let f = (units as usize..self.by_free.len()).find(|&f| !self.by_free[f].is_empty())?;
        let node = *self.by_free[f].iter().next()?;
        self.set_free(node, self.free[node as usize] - units);
        Some(node)
    }

    /// Returns `units` of `node` to the pool.
    pub fn release(&mut self, node: u32, units: u32) {
        let f = (self.free[node as usize] + units).min(self.units_per_node);
        self.set_free(node, f);
    }

    fn set_free(&mut self, node: u32, f: u32) {
        let old = self.free[node as usize];
        self.by_free[old as usize].remove(&node);
        self.by_free[f as usize].insert(node);
        self.free[node as usize] = f;
    }

    /// Units in use.
    pub fn allocated(&self) -> u64 {
        self.free
            .iter()
            .zip(&self.removed)
            .filter(|(_, r)| !**r)
            .map(|(&f, _)| (self.units_per_node - f) as u64)
            .sum()
    }

    /// Units in all.
    pub fn capacity(&self) -> u64 {
        self.nodes() as u64 * self.units_per_node as u64
    }

    /// Nodes in the pool (removed ones not counted).
    pub fn nodes(&self) -> u32 {
        self.removed.iter().filter(|r| !**r).count() as u32
    }

    /// Node indices ever used (removed ones included): the range of node numbers.
    pub fn node_slots(&self) -> u32 {
        self.free.len() as u32
    }

    /// Units per node.
    pub fn units_per_node(&self) -> u32 {
        self.units_per_node
    }

    /// Free units of `node` (0 for a removed node).
    pub fn free_units(&self, node: u32) -> u32 {
        self.free[node as usize]
    }

    /// Whether `node` is in the pool and holds no pod.
    pub fn is_empty_node(&self, node: u32) -> bool {
        !self.removed[node as usize] && self.free[node as usize] == self.units_per_node
    }

    /// Whether `node` was removed.
    pub fn is_removed(&self, node: u32) -> bool {
        self.removed[node as usize]
    }

    /// Adds an empty node (the cluster autoscaler's scale-up); returns its index.
    pub fn add_node(&mut self) -> u32 {
        let node = self.free.len() as u32;
        self.free.push(self.units_per_node);
        self.removed.push(false);
        self.by_free[self.units_per_node as usize].insert(node);
        node
    }

    /// Removes an empty node (the cluster autoscaler's scale-down).
    pub fn remove_node(&mut self, node: u32) {
        debug_assert!(self.is_empty_node(node));
        self.by_free[self.free[node as usize] as usize].remove(&node);
        self.free[node as usize] = 0;
        self.removed[node as usize] = true;
    }

    /// Places a pod needing `units` on `node` (which must have room).
    pub fn place_on(&mut self, node: u32, units: u32) {
        debug_assert!(self.free[node as usize] >= units);
        self.set_free(node, self.free[node as usize] - units);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_refuses_what_does_not_fit() {
        // Two nodes of 4 GPUs: 3 + 2 + 2 GPU pods -> the 2s share a node... the first 2
        // goes to node 0 (3 used, 1 free)? No: it needs 2, so node 1; the second 2 fills node 1.
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
}
