//! Shuffle sharding: a flow's hash deals it a hand of queues, as `pkg/util/shufflesharding`
//! (kubernetes/apiserver @ 24a394e5) does, and the documented chance that a flow's whole
//! hand is taken by heavy flows.

/// The most bits of hash a deal may use (`MaxHashBits`, `shufflesharding.go` @ 24a394e5).
pub const MAX_HASH_BITS: u32 = 60;
/// The largest deck upstream accepts, 2^26 (same file).
pub const MAX_DECK: u32 = 1 << 26;
/// The largest hand a valid dealer can have: a hand of 16 needs a deck of 16 or more, and
/// ceil(log2(16) x 16) = 64 bits exceed [`MAX_HASH_BITS`].
pub const MAX_HAND: usize = 15;

/// The bits a deal of `hand` cards from `deck` consumes: ceil(log2(deck) x hand).
pub fn required_entropy_bits(deck: u32, hand: u32) -> u32 {
    (f64::from(deck).log2() * f64::from(hand)).ceil() as u32
}

/// Why a deck and hand cannot be dealt, in upstream's terms; None when they can.
pub fn dealer_problem(deck: u32, hand: u32) -> Option<String> {
    if deck == 0 || hand == 0 {
        Some(format!("deck {deck} or hand {hand} is not positive"))
    } else if hand > deck {
        Some(format!("hand {hand} is larger than deck {deck}"))
    } else if deck > MAX_DECK {
        Some(format!("deck {deck} is larger than {MAX_DECK}"))
    } else if required_entropy_bits(deck, hand) > MAX_HASH_BITS {
        Some(format!(
            "deck {deck} and hand {hand} need {} bits of hash, more than {MAX_HASH_BITS}",
            required_entropy_bits(deck, hand)
        ))
    } else {
        None
    }
}

/// A dealt hand: distinct card (queue) indices in deal order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hand {
    cards: [u32; MAX_HAND],
    len: u8,
}

impl Hand {
    /// The cards, in the order dealt.
    pub fn as_slice(&self) -> &[u32] {
        &self.cards[..usize::from(self.len)]
    }
}

/// A hand of at most 8 cards from a deck of at most 256, a byte per card in deal order: what
/// a caller keeps for a flow that comes back often (a kubelet's lease renewals), so that its
/// requests skip the deal's divisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedHand(u64);

impl PackedHand {
    /// `hand` packed, or None when it has more than 8 cards or a card above 255.
    pub fn pack(hand: &Hand) -> Option<PackedHand> {
        let cards = hand.as_slice();
        if cards.len() > 8 || cards.iter().any(|&c| c > 255) {
            return None;
        }
        Some(PackedHand(
            cards
                .iter()
                .enumerate()
                .fold(0, |p, (i, &c)| p | u64::from(c) << (8 * i)),
        ))
    }

    /// Card `i`.
    #[inline]
    pub fn card(self, i: usize) -> u32 {
        u32::from((self.0 >> (8 * i)) as u8)
    }

    /// The first `len` cards as a [`Hand`].
    pub fn unpack(self, len: u32) -> Hand {
        let mut out = Hand {
            cards: [0; MAX_HAND],
            len: len as u8,
        };
        for (i, c) in out.cards.iter_mut().enumerate().take(len as usize) {
            *c = self.card(i);
        }
        out
    }
}

/// Deals `hand` distinct cards out of `deck` from `hash`, as upstream's Dealer: the hash is
/// read as a mixed-radix number (digits modulo deck, deck - 1, ...), and the i-th digit,
/// shifted past the cards already taken, names the i-th card. Panics on a deck and hand
/// [`dealer_problem`] refuses (validated configuration never has one).
pub fn deal(hash: u64, deck: u32, hand: u32) -> Hand {
    assert!(
        dealer_problem(deck, hand).is_none(),
        "invalid shuffle-sharding deck {deck} / hand {hand}"
    );
    deal_checked(hash, deck, hand)
}

/// [`deal`] for a deck and hand already checked (the queue set checks them once).
pub(crate) fn deal_checked(hash: u64, deck: u32, hand: u32) -> Hand {
    debug_assert!(dealer_problem(deck, hand).is_none());
    let n = hand as usize;
    let mut digits = [0u64; MAX_HAND];
    let mut rest = hash;
    for (i, d) in digits.iter_mut().enumerate().take(n) {
        let radix = u64::from(deck) - i as u64;
        *d = rest % radix;
        rest /= radix;
    }
    let mut out = Hand {
        cards: [0; MAX_HAND],
        len: hand as u8,
    };
    for i in 0..n {
        // Walk the earlier digits from the latest back, bumping past each one this card
        // reaches: this is upstream's order, which keeps the cards distinct.
        let mut card = digits[i];
        for j in (1..=i).rev() {
            if card >= digits[j - 1] {
                card += 1;
            }
        }
        out.cards[i] = card as u32;
    }
    out
}

/// Card `i` of the hand [`deal_checked`] deals (i below `hand`), without dealing the
/// cards after it. The digits are the hash divided by the product of the radixes before
/// each, taken modulo its radix: independent divisions rather than a chain, and the
/// product of all the radixes fits 60 bits for a valid dealer.
pub(crate) fn card_checked(hash: u64, deck: u32, hand: u32, i: usize) -> u32 {
    debug_assert!(dealer_problem(deck, hand).is_none() && i < hand as usize);
    let mut digits = [0u64; MAX_HAND];
    let mut below = 1u64;
    for (k, d) in digits.iter_mut().enumerate().take(i + 1) {
        let radix = u64::from(deck) - k as u64;
        *d = hash / below % radix;
        below *= radix;
    }
    let mut card = digits[i];
    for j in (1..=i).rev() {
        if card >= digits[j - 1] {
            card += 1;
        }
    }
    card as u32
}

/// ln(n!) for n = 0..=max.
fn ln_factorials(max: u32) -> Vec<f64> {
    let mut t = Vec::with_capacity(max as usize + 1);
    let mut acc = 0.0;
    t.push(0.0);
    for i in 1..=max {
        acc += f64::from(i).ln();
        t.push(acc);
    }
    t
}

/// The probability that a given flow (a "mouse") finds every queue of its hand also in the
/// hand of one of `elephants` other flows, each hand dealt uniformly at random from
/// `queues` queues: when the elephants keep their queues full, the mouse has no queue of
/// its own. This is what the table "Example Shuffle Sharding Configurations" of the
/// Kubernetes documentation's API Priority and Fairness page gives (e.g. hand 8 of 64
/// queues, 4 elephants: 0.0004886697053040446).
///
/// Computed exactly as a chain on the size u of the elephants' union: each elephant adds
/// a new queues with probability C(u, hand - a) C(queues - u, a) / C(queues, hand), and a
/// union of u queues holds the mouse's hand with probability C(u, hand) / C(queues, hand).
pub fn collision_probability(queues: u32, hand: u32, elephants: u32) -> f64 {
    if hand == 0 || hand > queues {
        return 0.0;
    }
    let lf = ln_factorials(queues);
    let ln_choose = |n: u32, k: u32| lf[n as usize] - lf[k as usize] - lf[(n - k) as usize];
    let all = ln_choose(queues, hand);
    let n = queues as usize;
    let mut p = vec![0.0; n + 1];
    p[0] = 1.0;
    for _ in 0..elephants {
        let mut next = vec![0.0; n + 1];
        for (u, &pu) in p.iter().enumerate() {
            if pu == 0.0 {
                continue;
            }
            let u32u = u as u32;
            for a in 0..=hand {
                if hand - a > u32u || a > queues - u32u {
                    continue;
                }
                let t = (ln_choose(u32u, hand - a) + ln_choose(queues - u32u, a) - all).exp();
                next[u + a as usize] += pu * t;
            }
        }
        p = next;
    }
    p.iter()
        .enumerate()
        .filter(|&(u, _)| u as u32 >= hand)
        .map(|(u, &pu)| pu * (ln_choose(u as u32, hand) - all).exp())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deals_match_hand_computation() {
        // deck 8, hand 3, hash 123: digits 123 % 8 = 3 (rest 15), 15 % 7 = 1 (rest 2),
        // 2 % 6 = 2. Cards: 3; 1 (1 < 3); 2 -> 3 (>= 1) -> 4 (>= 3). Hand [3, 1, 4].
        assert_eq!(deal(123, 8, 3).as_slice(), &[3, 1, 4]);
        // Hash 0: every digit 0, so each card bumps past all before it: 0, 1, 2, 3.
        assert_eq!(deal(0, 64, 4).as_slice(), &[0, 1, 2, 3]);
        // deck 16, hand 4, hash 1000: 1000 % 16 = 8 (62), 62 % 15 = 2 (4), 4 % 14 = 4 (0),
        // 0 % 13 = 0. Cards: 8; 2; 4 -> 5 (>= 2), 5 < 8 -> 5; 0 -> (0 >= 4? no) (0 >= 2? no)
        // (0 >= 8? no) -> 0. Hand [8, 2, 5, 0].
        assert_eq!(deal(1000, 16, 4).as_slice(), &[8, 2, 5, 0]);
    }

    #[test]
    fn a_packed_hand_gives_back_the_deal() {
        let mut h: u64 = 0x2545_F491_4F6C_DD1D;
        for (deck, hand) in [(64, 6), (128, 6), (16, 4), (256, 7), (128, 8), (8, 1)] {
            for _ in 0..500 {
                h = h
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let dealt = deal(h, deck, hand);
                let p = PackedHand::pack(&dealt).expect("fits a byte per card");
                assert_eq!(p.unpack(hand), dealt);
                for (i, &c) in dealt.as_slice().iter().enumerate() {
                    assert_eq!(p.card(i), c);
                }
            }
        }
        // A deck above 256 or a hand above 8 does not pack.
        assert_eq!(PackedHand::pack(&deal(u64::MAX, 1 << 20, 2)), None);
        assert_eq!(PackedHand::pack(&deal(7, 64, 9)), None);
    }

    #[test]
    fn hands_are_distinct_and_in_range() {
        let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            h = h
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let hand = deal(h, 64, 6);
            let s = hand.as_slice();
            assert_eq!(s.len(), 6);
            for (i, a) in s.iter().enumerate() {
                assert!(*a < 64);
                assert!(s[i + 1..].iter().all(|b| b != a));
            }
        }
    }

    #[test]
    fn one_card_is_the_card_of_the_whole_deal() {
        let mut h: u64 = 0x2545_F491_4F6C_DD1D;
        // Every default level's deck and hand, and the largest valid hands.
        for (deck, hand) in [(64, 6), (128, 6), (16, 4), (8, 3), (16, 15), (1 << 20, 3)] {
            for _ in 0..500 {
                h = h
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let all = deal(h, deck, hand);
                for (i, &c) in all.as_slice().iter().enumerate() {
                    assert_eq!(card_checked(h, deck, hand, i), c, "{h} {deck} {hand} {i}");
                }
            }
            assert_eq!(
                card_checked(u64::MAX, deck, hand, hand as usize - 1),
                deal(u64::MAX, deck, hand).as_slice()[hand as usize - 1]
            );
        }
    }

    #[test]
    fn dealer_limits() {
        assert!(dealer_problem(128, 6).is_none());
        assert!(dealer_problem(16, 15).is_none());
        assert!(dealer_problem(4, 5).is_some());
        assert!(dealer_problem(0, 1).is_some());
        // 1024 queues, hand 7: 10 x 7 = 70 bits.
        assert!(dealer_problem(1024, 7).is_some());
        assert_eq!(required_entropy_bits(64, 6), 36);
    }

    #[test]
    fn collision_probability_matches_the_documented_table() {
        // (hand, queues, [1, 4, 16 elephants]) from the documentation's table.
        let table: [(u32, u32, [f64; 3]); 8] = [
            (
                12,
                32,
                [
                    4.428838398950118e-09,
                    0.11431348830099144,
                    0.9935089607656024,
                ],
            ),
            (
                10,
                32,
                [
                    1.550093439632541e-08,
                    0.0626479840223545,
                    0.9753101519027554,
                ],
            ),
            (
                10,
                64,
                [
                    6.601827268370426e-12,
                    0.00045571320990370776,
                    0.49999929150089345,
                ],
            ),
            (
                9,
                64,
                [
                    3.6310049976037345e-11,
                    0.00045501212304112273,
                    0.4282314876454858,
                ],
            ),
            (
                8,
                64,
                [
                    2.25929199850899e-10,
                    0.0004886697053040446,
                    0.35935114681123076,
                ],
            ),
            (
                8,
                128,
                [
                    6.994461389026097e-13,
                    3.4055790161620863e-06,
                    0.02746173137155063,
                ],
            ),
            (
                7,
                128,
                [
                    1.0579122850901972e-11,
                    6.960839379258192e-06,
                    0.02406157386340147,
                ],
            ),
            (
                7,
                256,
                [
                    7.597695465552631e-14,
                    6.728547142019406e-08,
                    0.0006709661542533682,
                ],
            ),
        ];
        for (hand, queues, want) in table {
            for (e, w) in [1, 4, 16].into_iter().zip(want) {
                let got = collision_probability(queues, hand, e);
                assert!(
                    ((got - w) / w).abs() < 1e-9,
                    "hand {hand} queues {queues} elephants {e}: {got} vs {w}"
                );
            }
        }
        // One elephant collides only with the identical hand: 1 / C(16, 4) = 1 / 1820.
        assert!((collision_probability(16, 4, 1) - 1.0 / 1820.0).abs() < 1e-15);
        assert_eq!(collision_probability(16, 4, 0), 0.0);
    }
}
