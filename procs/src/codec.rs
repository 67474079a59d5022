//! Message encoding: any `serde` type, as postcard (a compact, stable,
//! well-maintained binary format; varint integers, no field names).
//!
//! Decoding is strict: the bytes must decode as the requested type *and* be
//! used up entirely, so a value of another type sent from the other end is
//! [`Error::Decode`] far more often than with a lenient decoder (postcard
//! carries no type tags, so some mismatches — a `u32` read as a `u64` — can
//! still decode; send an enum when the two ends may disagree).

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

/// Append the encoding of `v` to `buf`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(buf: &mut Vec<u8>, v: &T) -> Result<()> {
    let out = std::mem::take(buf);
    *buf = postcard::to_extend(v, out).map_err(|e| Error::Encode(e.to_string()))?;
    Ok(())
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
}
