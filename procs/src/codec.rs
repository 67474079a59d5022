//! Message encoding: any `serde` type, as postcard (a compact, stable,
//! well-maintained binary format; varint integers, no field names).
//!
//! Decoding is strict: the bytes must decode as the requested type *and* be
//! used up entirely, so a value of another type sent from the other end is
//! [`Error::Decode`] far more often than with a lenient decoder (postcard
//! carries no type tags, so some mismatches — a `u32` read as a `u64` — can
//! still decode; send an enum when the two ends may disagree).
//!
//! # Unsafe code
//!
//! One block, in the output sink: short byte runs are copied into the
//! spare capacity of the output vector after `reserve`, and the length is
//! raised only over bytes just written.

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

/// A postcard output that appends to a borrowed `Vec` (postcard's own
/// `to_extend` goes through `Extend` one byte at a time and moves the vector
/// in and out: several times slower for small values).
struct VecSink<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for VecSink<'_> {
    type Output = ();

    #[inline(always)]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    #[inline(always)]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        let n = data.len();
        if n > 16 {
            self.0.extend_from_slice(data);
            return Ok(());
        }
        // Short runs (varints, small strings) are most of what postcard
        // writes: copy them with two fixed-size, overlapping moves instead of
        // a call to `memcpy` for a variable length.
        let v = &mut *self.0;
        v.reserve(16);
        let len = v.len();
        // SAFETY: `reserve(16)` leaves at least 16 ≥ n writable bytes past
        // `len`; every copy below reads inside `data` (offsets < n) and
        // writes inside those n bytes; together they cover all n bytes, so
        // the new length covers initialised bytes only.
        unsafe {
            let dst = v.as_mut_ptr().add(len);
            let src = data.as_ptr();
            if n >= 8 {
                std::ptr::copy_nonoverlapping(src, dst, 8);
                std::ptr::copy_nonoverlapping(src.add(n - 8), dst.add(n - 8), 8);
            } else if n >= 4 {
                std::ptr::copy_nonoverlapping(src, dst, 4);
                std::ptr::copy_nonoverlapping(src.add(n - 4), dst.add(n - 4), 4);
            } else if n > 0 {
                *dst = *src;
                *dst.add(n / 2) = *src.add(n / 2);
                *dst.add(n - 1) = *src.add(n - 1);
            }
            v.set_len(len + n);
        }
        Ok(())
    }

    #[inline(always)]
    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Append the encoding of `v` to `buf`. On error `buf` may hold part of the
/// value after its old end.
#[inline]
pub(crate) fn encode_into<T: Serialize + ?Sized>(buf: &mut Vec<u8>, v: &T) -> Result<()> {
    postcard::serialize_with_flavor(v, VecSink(buf)).map_err(|e| Error::Encode(e.to_string()))
}

/// Encodes many values into one buffer with one postcard serializer (no
/// per-value set-up).
pub(crate) struct Encoder<'a>(postcard::Serializer<VecSink<'a>>);

impl<'a> Encoder<'a> {
    /// Append to `buf`.
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        Self(postcard::Serializer {
            output: VecSink(buf),
        })
    }

    /// Append `v`. On error the buffer may hold part of it.
    #[inline]
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<()> {
        v.serialize(&mut self.0)
            .map_err(|e| Error::Encode(e.to_string()))
    }

    /// The buffer written to.
    #[inline]
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        self.0.output.0
    }
}

/// Decodes values one after the other from a byte string.
pub(crate) struct Decoder<'a>(postcard::Deserializer<'a, postcard::de_flavors::Slice<'a>>);

impl<'a> Decoder<'a> {
    /// Read from `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self(postcard::Deserializer::from_bytes(bytes))
    }

    /// The next value. After an error the position is unknown: stop.
    #[inline]
    pub(crate) fn next<T: DeserializeOwned>(&mut self) -> Result<T> {
        T::deserialize(&mut self.0).map_err(|e| Error::Decode(e.to_string()))
    }
}

/// Decode exactly one `T` from `bytes`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (v, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::Decode(format!(
            "{} trailing bytes after the value",
            rest.len()
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decode() {
        let mut b = Vec::new();
        encode_into(&mut b, &(1u8, 2u8)).unwrap();
        assert_eq!(decode::<(u8, u8)>(&b).unwrap(), (1, 2));
        assert!(matches!(decode::<u8>(&b), Err(Error::Decode(_))));
        assert!(matches!(decode::<String>(&[0xff]), Err(Error::Decode(_))));
    }

    #[test]
    fn sink_matches_postcard_for_every_short_length() {
        let mut b = vec![9u8];
        for n in 0..40usize {
            let s: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let v = (n as u64 * 0x0101_0101_0101, s, u128::MAX >> n);
            b.truncate(1);
            encode_into(&mut b, &v).unwrap();
            assert_eq!(b[0], 9);
            assert_eq!(&b[1..], postcard::to_allocvec(&v).unwrap().as_slice());
            assert_eq!(decode::<(u64, String, u128)>(&b[1..]).unwrap(), v);
        }
    }
}
