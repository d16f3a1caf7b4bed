//! [`Plain`]: Rust types that map entries can be read as and written from.

/// A fixed-size value stored as its little-endian bytes, as eBPF programs
/// on a little-endian machine store it: the integer types and byte arrays.
pub trait Plain: Sized {
    /// Size in bytes.
    const SIZE: usize;
    /// Reads the value from exactly `SIZE` bytes (`None` for another length).
    fn from_bytes(bytes: &[u8]) -> Option<Self>;
    /// Writes the value's `SIZE` bytes.
    fn to_bytes(&self) -> Vec<u8>;
}

macro_rules! plain_int {
    ($($t:ty),*) => {$(
        impl Plain for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn from_bytes(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(<$t>::from_le_bytes)
            }
            fn to_bytes(&self) -> Vec<u8> {
                self.to_le_bytes().to_vec()
            }
        }
    )*};
}

plain_int!(u8, u16, u32, u64, i8, i16, i32, i64);

impl<const N: usize> Plain for [u8; N] {
    const SIZE: usize = N;
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok()
    }
    fn to_bytes(&self) -> Vec<u8> {
        self.to_vec()
    }
}
