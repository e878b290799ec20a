//! Exact `floor(a × b / c)` on `u128`, through a 256-bit intermediate.
//!
//! The rules are written with mathematical integers (a reader recomputes them
//! with Python's big integers); this is how we keep them exact without a
//! big-integer dependency. Every quotient we take fits in `u128` because it is
//! bounded by one of its factors (`b ≤ c`), but the product need not.

/// `floor(a × b / c)`, or `None` when `c == 0` or the quotient does not fit.
pub(crate) fn mul_div_floor(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return None;
    }
    if let Some(product) = a.checked_mul(b) {
        return Some(product / c);
    }
    let (hi, lo) = widening_mul(a, b);
    if hi >= c {
        // The quotient is at least 2^128.
        return None;
    }
    // Long division of hi·2^128 + lo by c, one bit at a time; the running
    // remainder stays below c, and `top` holds the bit shifted out of it.
    let mut rem = hi;
    let mut quotient: u128 = 0;
    for bit in (0..128).rev() {
        let top = rem >> 127;
        rem = (rem << 1) | ((lo >> bit) & 1);
        quotient <<= 1;
        if top == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            quotient |= 1;
        }
    }
    Some(quotient)
}

/// The full 256-bit product as `(high, low)` halves.
pub(crate) fn widening_mul(a: u128, b: u128) -> (u128, u128) {
    const LOW: u128 = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & LOW);
    let (b1, b0) = (b >> 64, b & LOW);
    let ll = a0 * b0;
    let lh = a0 * b1;
    let hl = a1 * b0;
    let hh = a1 * b1;
    // Below 3·2^64: cannot overflow.
    let mid = (ll >> 64) + (lh & LOW) + (hl & LOW);
    let lo = (ll & LOW) | (mid << 64);
    let hi = hh + (lh >> 64) + (hl >> 64) + (mid >> 64);
    (hi, lo)
}

#[cfg(test)]
mod test {
    use proptest::prelude::*;

    use super::*;

    /// Schoolbook product on 32-bit limbs: a second, independent way.
    fn product_limbs(a: u128, b: u128) -> [u32; 8] {
        let limbs = |x: u128| -> [u64; 4] {
            [0, 1, 2, 3].map(|i| u64::from(u32::try_from((x >> (32 * i)) & 0xffff_ffff).unwrap()))
        };
        let (a, b) = (limbs(a), limbs(b));
        let mut out = [0u64; 9];
        for i in 0..4 {
            let mut carry = 0u64;
            for j in 0..4 {
                let t = out[i + j] + a[i] * b[j] + carry;
                out[i + j] = t & 0xffff_ffff;
                carry = t >> 32;
            }
            out[i + 4] += carry;
        }
        let mut result = [0u32; 8];
        for (r, o) in result.iter_mut().zip(out) {
            *r = u32::try_from(o).unwrap();
        }
        result
    }

    fn split(hi: u128, lo: u128) -> [u32; 8] {
        let mut out = [0u32; 8];
        for i in 0..4 {
            out[i] = u32::try_from((lo >> (32 * i)) & 0xffff_ffff).unwrap();
            out[i + 4] = u32::try_from((hi >> (32 * i)) & 0xffff_ffff).unwrap();
        }
        out
    }

    #[test]
    fn edges() {
        assert_eq!(mul_div_floor(5, 7, 0), None);
        assert_eq!(mul_div_floor(0, u128::MAX, 1), Some(0));
        assert_eq!(
            mul_div_floor(u128::MAX, u128::MAX, u128::MAX),
            Some(u128::MAX)
        );
        assert_eq!(
            mul_div_floor(u128::MAX, u128::MAX - 1, u128::MAX),
            Some(u128::MAX - 1)
        );
        // 2^127 × 4 / 2 = 2^128: does not fit.
        assert_eq!(mul_div_floor(1 << 127, 4, 2), None);
        // 2^127 × 4 / 4 = 2^127.
        assert_eq!(mul_div_floor(1 << 127, 4, 4), Some(1 << 127));
        // (2^128 − 1)² / 2^127 = 2^129 − 4 + 2^−127 → does not fit.
        assert_eq!(mul_div_floor(u128::MAX, u128::MAX, 1 << 127), None);
        // 10^30 × 10^30 / 10^31 = 10^29.
        let e30 = 10u128.pow(30);
        assert_eq!(mul_div_floor(e30, e30, e30 * 10), Some(e30 / 10));
        assert_eq!(widening_mul(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
    }

    proptest! {
        #[test]
        fn widening_matches_limbs(a in any::<u128>(), b in any::<u128>()) {
            let (hi, lo) = widening_mul(a, b);
            prop_assert_eq!(split(hi, lo), product_limbs(a, b));
        }

        #[test]
        fn small_operands_match_native(a in any::<u64>(), b in any::<u64>(), c in 1..=u128::MAX) {
            let expected = (u128::from(a) * u128::from(b)) / c;
            prop_assert_eq!(mul_div_floor(a.into(), b.into(), c), Some(expected));
        }

        #[test]
        fn quotient_is_the_floor(a in any::<u128>(), b in any::<u128>(), c in 1..=u128::MAX) {
            let (phi, plo) = widening_mul(a, b);
            match mul_div_floor(a, b, c) {
                Some(q) => {
                    // q·c ≤ a·b < (q+1)·c, compared as 256-bit numbers.
                    let (qhi, qlo) = widening_mul(q, c);
                    prop_assert!((qhi, qlo) <= (phi, plo));
                    let (lo2, carry) = qlo.overflowing_add(c);
                    let hi2 = qhi + u128::from(carry);
                    prop_assert!((hi2, lo2) > (phi, plo));
                }
                // Does not fit: a·b ≥ 2^128·c, i.e. the high half alone ≥ c.
                None => prop_assert!(phi >= c),
            }
        }

        #[test]
        fn quotient_is_the_floor_near_one(a in 1..=u128::MAX, b in any::<u128>(), d in any::<u128>()) {
            // c within a factor of two of a: the quotient is about b, so the
            // wide path runs and usually fits.
            let c = (a - d % a.div_ceil(2)).max(1);
            let (phi, plo) = widening_mul(a, b);
            match mul_div_floor(a, b, c) {
                Some(q) => {
                    let (qhi, qlo) = widening_mul(q, c);
                    prop_assert!((qhi, qlo) <= (phi, plo));
                    let (lo2, carry) = qlo.overflowing_add(c);
                    prop_assert!((qhi + u128::from(carry), lo2) > (phi, plo));
                }
                None => prop_assert!(phi >= c),
            }
        }

        #[test]
        fn b_over_b_is_identity(a in any::<u128>(), b in 1..=u128::MAX) {
            prop_assert_eq!(mul_div_floor(a, b, b), Some(a));
        }
    }
}
