//! Fuzz bytes as numbers and choices, and a deterministic byte stream.

/// A cursor over fuzz bytes. Reads past the end give zeros, so any byte
/// string decodes to something.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        let byte = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        byte
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// A number in `0..n` (`n` > 0) from one byte.
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.u8()) % n.max(1)
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// True with probability about `percent` / 100.
    pub fn chance(&mut self, percent: u8) -> bool {
        self.below(100) < usize::from(percent)
    }

    /// Up to `len` of the next bytes (fewer when the data runs out).
    pub fn take(&mut self, len: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(len).min(self.data.len());
        self.pos = self.pos.saturating_add(len);
        &self.data[start..end]
    }

    /// Every byte not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        &self.data[start..]
    }
}

/// Bytes of a deterministic pseudo-random stream (xorshift64) from `seed`;
/// seed 0 gives zeros (an untouched map).
pub fn fill_bytes(seed: u8, len: usize) -> Vec<u8> {
    if seed == 0 {
        return vec![0; len];
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_give_zeros() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), 0x0201);
        assert_eq!(r.u16(), 3);
        assert!(r.is_empty());
        assert_eq!(r.u32(), 0);
        assert_eq!(r.take(4), &[] as &[u8]);
    }

    #[test]
    fn fill_is_deterministic_and_zero_for_seed_zero() {
        assert_eq!(fill_bytes(0, 4), vec![0; 4]);
        assert_eq!(fill_bytes(7, 16), fill_bytes(7, 16));
        assert_ne!(fill_bytes(7, 16), fill_bytes(8, 16));
    }
}
