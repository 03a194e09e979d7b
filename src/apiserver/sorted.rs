//! A min-priority queue for items that mostly come in order.

/// Items in ascending order: one that comes in order (most do: etcd's writes and APF's
/// releases are mostly due in the order they are made) goes to the back, any other is
/// inserted in place; the least leaves first. The same order as a binary heap's, for a
/// push and a pop of a few instructions.
#[derive(Debug, Clone)]
pub struct SortedDeque<T> {
    /// The items from `head` on, in order; those before it left.
    items: Vec<T>,
    head: usize,
}

impl<T> Default for SortedDeque<T> {
    fn default() -> Self {
        SortedDeque {
            items: Vec::new(),
            head: 0,
        }
    }
}

impl<T: Ord + Copy> SortedDeque<T> {
    /// Adds `x`.
    #[inline]
    pub fn push(&mut self, x: T) {
        if self.items.len() == self.head || self.items.last().is_some_and(|b| *b <= x) {
            self.items.push(x);
        } else {
            let p = self.head + self.items[self.head..].partition_point(|y| *y <= x);
            self.items.insert(p, x);
        }
    }

    /// The least item.
    #[inline]
    pub fn peek(&self) -> Option<&T> {
        self.items.get(self.head)
    }

    /// Takes the least item out.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let x = *self.items.get(self.head)?;
        self.head += 1;
        if self.head == self.items.len() {
            // Empty again (most times): start over at the front.
            self.items.clear();
            self.head = 0;
        } else if self.head >= 64 && 2 * self.head >= self.items.len() {
            // Long busy: drop what left.
            self.items.drain(..self.head);
            self.head = 0;
        }
        Some(x)
    }

    /// Items held.
    pub fn len(&self) -> usize {
        self.items.len() - self.head
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items, least first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items[self.head..].iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn pops_as_a_binary_heap_does() {
        // Mostly in order, sometimes not, with duplicates, pops interleaved.
        let mut x = 5u64;
        let mut ours = SortedDeque::default();
        let mut heap = BinaryHeap::new();
        for i in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let item = match x >> 61 {
                0 => (i / 2, (x >> 40) % 3),
                1 => (i.saturating_sub((x >> 30) % 50), 1),
                _ => (i + (x >> 50) % 4, (x >> 20) % 2),
            };
            ours.push(item);
            heap.push(Reverse(item));
            if (x >> 10).is_multiple_of(3) {
                assert_eq!(ours.pop(), heap.pop().map(|r| r.0));
            }
            assert_eq!(ours.peek().copied(), heap.peek().map(|r| r.0));
            assert_eq!(ours.len(), heap.len());
        }
        while let Some(r) = heap.pop() {
            assert_eq!(ours.pop(), Some(r.0));
        }
        assert!(ours.is_empty());
    }
}
