//! The program's `memcmp` against the slices' own ordering, at every length and
//! position of a difference around its 32-byte steps.

use core::cmp::Ordering;

use crate::compare::compare;

fn sign(value: i32) -> Ordering {
    value.cmp(&0)
}

#[test]
fn equal_bytes_compare_equal_at_every_length() {
    let bytes: std::vec::Vec<u8> = (0..200u8).collect();
    for length in 0..bytes.len() {
        let copy = bytes[..length].to_vec();
        assert_eq!(compare(&bytes[..length], &copy), 0, "length {length}");
    }
}

#[test]
fn the_first_differing_byte_decides_as_unsigned() {
    for length in 1..100 {
        let left: std::vec::Vec<u8> = (0..length).map(|index| index as u8).collect();
        for position in 0..length {
            for (mine, theirs) in [(0x01, 0xff), (0xff, 0x01), (0x80, 0x7f)] {
                let mut left = left.clone();
                let mut right = left.clone();
                left[position] = mine;
                right[position] = theirs;
                // A later difference the other way must not count.
                if position + 1 < length {
                    left[length - 1] = 0;
                    right[length - 1] = 0xff;
                }
                let answer = compare(&left, &right);
                assert_eq!(
                    sign(answer),
                    left.cmp(&right),
                    "length {length}, position {position}"
                );
                assert_eq!(answer, i32::from(mine) - i32::from(theirs));
            }
        }
    }
}

#[test]
fn only_the_shorter_length_is_compared() {
    assert_eq!(compare(b"abc", b"abcdef"), 0);
    assert_eq!(compare(&[7; 40], &[7; 33]), 0);
    assert!(compare(b"abd", b"abcdef") > 0);
}
